"""Takes the state files the answer job handed on into state/, for ``save-state --from``. Standard library only.

The answer job ran code from PyPI beside people's messages, so what it hands on is data from an
untrusted source: only the files the bot writes are taken, each a regular file of its own shape
and within its size; anything else stops the save before a single file is changed, in one line.
A file the bot writes that is no longer handed on was deleted by the run (a /reset, a trouble
that ended) and is deleted here too; files save-state does not know are never touched.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from botjob import model_choice, stats
from botjob.errors import BotjobError, Failure
from botjob.state import (
    CADENCE_FILE, CHOSEN_MODELS_FILE, MEMORY_DIR, OFFSET_FILE, PERSONAS_DIR, PICTURES_FILE, PROFILE_FILE, STATS_FILE,
    TROUBLE_FILE, USAGE_FILE,
    write_atomically,
)

log = logging.getLogger(__name__)

JSON_FILES = frozenset({OFFSET_FILE, PROFILE_FILE, USAGE_FILE, PICTURES_FILE, TROUBLE_FILE, CADENCE_FILE})
# Written by save-state itself (heartbeat.json) or by people (README.md): what the answer job holds of them is not taken.
NOT_THE_RUNS = frozenset({"heartbeat.json", "README.md"})
SET_ASIDE = re.compile(r"offset\.json\.bad-\d{8}T\d{6}(-\d+)?")  # state.StateStore._set_aside's copies of a damaged offset
MEMORY_FILE = re.compile(r"[0-9a-f]{32}\.bin")  # memory.keyed_name / chat_key (32 hex digits) + MEMORY_SUFFIX
PERSONA_FILE = re.compile(r"[0-9a-f]{32}\.bin")  # memory.keyed_name(..., "persona", chat) + personas.PERSONA_SUFFIX
ENCRYPTED_DIRS = (MEMORY_DIR, PERSONAS_DIR)  # folders of Fernet tokens, one file per chat
TEMP_FILE = re.compile(r"\..+\.tmp")  # state.write_atomically's temp files, left by a run that was stopped mid-write

# Far above what a bot on a schedule writes (a day's counts for ~40,000 chats; a hundred long turns of
# memory), far below what would burden the repository's history.
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_MEMORY_BYTES = 16 * 1024 * 1024
MAX_PERSONA_BYTES = 64 * 1024  # a persona of 1,000 characters pads to 4 KiB (8 KiB if it is all escapes)
MAX_TOTAL_BYTES = 256 * 1024 * 1024

_FERNET_OVERHEAD = 1 + 8 + 16 + 32  # version, time, IV, HMAC around the AES blocks


class RefusedState(BotjobError):
    """The state handed on holds something the bot never writes: nothing was saved."""

    kind = Failure.BOT_WIDE


@dataclass(frozen=True)
class Handover:
    """What taking the handed-on state changed in state/."""

    written: tuple[str, ...]  # paths inside state/, new or changed
    deleted: tuple[str, ...]


def take_state(source: Path, state: Path) -> Handover:
    """Make the bot's files in ``state`` what ``source`` holds, after checking every one of them."""
    if source.resolve() == state.resolve() or state.resolve() in source.resolve().parents:
        raise RefusedState(
            f"{source} is inside {state}: the state handed on must arrive beside the checkout's, not in it",
            hint="download the answer job's artifact into a folder of its own (e.g. under $RUNNER_TEMP)",
        )
    _check_destination(state)
    files = _read_handed_on(source, state)
    written, deleted = [], []
    for name in sorted(_known_files(state) - files.keys()):
        (state / name).unlink()
        deleted.append(name)
    for name, content in sorted(files.items()):
        target = state / name
        if _current(target) == content:
            continue
        write_atomically(target, content)  # a new file renamed over the old: a link in its place is replaced, never followed
        written.append(name)
    log.info("took the answer job's state: %d file(s) written, %d deleted", len(written), len(deleted))
    return Handover(tuple(written), tuple(deleted))


def _read_handed_on(source: Path, state: Path) -> dict[str, bytes]:
    """Every file to take, by its path inside state/, checked; RefusedState at the first that is not the bot's.

    A file the bot does not write is let through only when the checkout already holds the very same
    bytes at the same place (the owner's own notes in state/ travel with every run): nothing to take.
    """
    if not _is_real_folder(source):
        raise RefusedState(
            f"{source} is not a folder holding the answer job's state/: nothing was saved",
            hint="give save-state --from the folder the answer job's artifact was downloaded into",
        )
    files: dict[str, bytes] = {}
    total = 0
    for name, entry in _entries(source):
        mode = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(mode.st_mode):
            raise _refused(f"holds {_shown(name)} as a link, and the bot writes none", source)
        if TEMP_FILE.fullmatch(name.rsplit("/", 1)[-1]) or name in NOT_THE_RUNS:
            continue  # half a write (the run's last whole file is handed on too), or not the run's to change
        kind = _kind_of(name)
        if kind is None:
            if not _same_as_checkouts(Path(entry.path), mode, state / name):
                raise _refused(f"holds {_shown(name)}, which the bot never writes", source)
            continue
        if not stat.S_ISREG(mode.st_mode):
            raise _refused(f"holds {_shown(name)} as a folder or device, where the bot writes a file", source)
        bound = {"memory": MAX_MEMORY_BYTES, "persona": MAX_PERSONA_BYTES}.get(kind, MAX_JSON_BYTES)
        if mode.st_size > bound:
            raise _refused(f"holds {_shown(name)} of {mode.st_size:,} bytes, more than the {bound:,} the bot ever writes", source)
        content = _read_no_follow(Path(entry.path))
        problem = _shape_problem(kind, content) if content != _current(state / name) else None  # unchanged: nothing to take
        if problem:
            raise _refused(f"holds {_shown(name)}, which is not what the bot writes there ({problem})", source)
        files[name] = content
        total += len(content)
        if total > MAX_TOTAL_BYTES:
            raise _refused(f"holds more than {MAX_TOTAL_BYTES // 2**20} MiB in all", source)
    return files


def _entries(folder: Path, prefix: str = "") -> list[tuple[str, os.DirEntry[str]]]:
    """Every file, link and odd thing under ``folder``, by its path inside it; folders are walked, never followed."""
    found = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.is_dir(follow_symlinks=False):
            found += _entries(Path(entry.path), f"{prefix}{entry.name}/")
        else:
            found.append((prefix + entry.name, entry))
    return found


def _same_as_checkouts(path: Path, mode: os.stat_result, theirs: Path) -> bool:
    """Whether ``path`` is a regular file with the same bytes as the checkout's regular file ``theirs``."""
    try:
        their_mode = theirs.lstat()
    except OSError:
        return False
    if not (stat.S_ISREG(mode.st_mode) and stat.S_ISREG(their_mode.st_mode)) or mode.st_size != their_mode.st_size:
        return False
    return _read_no_follow(path) == _read_no_follow(theirs)


def _kind_of(name: str) -> str | None:
    if name in JSON_FILES:
        return "json"
    if name == STATS_FILE:
        return "stats"  # the owner's counts: checked to the last field (stats.parse), as they may be public
    if name == CHOSEN_MODELS_FILE:
        return "models"  # each chat's /model pick: keyed names, model names and times only (model_choice.shape_problem)
    if SET_ASIDE.fullmatch(name):
        return "set-aside"  # a copy of a damaged offset.json: damaged is its shape
    folder, _, leaf = name.rpartition("/")
    if folder == MEMORY_DIR and MEMORY_FILE.fullmatch(leaf):
        return "memory"
    if folder == PERSONAS_DIR and PERSONA_FILE.fullmatch(leaf):
        return "persona"
    return None


def _shape_problem(kind: str, content: bytes) -> str | None:
    if kind == "json":
        try:
            document = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested past what json can read
            return "not JSON"
        return None if isinstance(document, dict) else "not a JSON object"
    if kind == "stats":
        try:
            document = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return "not JSON"
        return stats.shape_problem(document)
    if kind == "models":
        try:
            document = json.loads(content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return "not JSON"
        return model_choice.shape_problem(document)
    if kind in ("memory", "persona"):
        return None if _is_fernet_token(content.strip()) else "not a Fernet token"
    return None


def _is_fernet_token(token: bytes) -> bool:
    """The shape of a Fernet token (the key is not here to open it): urlsafe base64 of version 0x80,
    a time, an IV, whole AES blocks and an HMAC."""
    try:
        raw = base64.b64decode(token, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return False
    blocks = len(raw) - _FERNET_OVERHEAD
    return bool(raw) and raw[0] == 0x80 and blocks >= 16 and blocks % 16 == 0


def _check_destination(state: Path) -> None:
    """The checkout's own state/ (and memory/ and personas/ in it) must be folders, not links that lead elsewhere."""
    for folder in (state, *(state / name for name in ENCRYPTED_DIRS)):
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise RefusedState(
                f"{folder} in the checkout is a link or a file, not a folder: nothing was saved",
                hint=f"make {folder} a plain folder in the repository (git rm it, commit, push), then run again",
            )


def _known_files(state: Path) -> set[str]:
    """The bot's own files in the checkout's state/, by their path inside it."""
    known: set[str] = set()
    for folder, prefix in ((state, ""), *((state / name, f"{name}/") for name in ENCRYPTED_DIRS)):
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        known.update(prefix + e.name for e in entries if _kind_of(prefix + e.name) and not e.is_dir(follow_symlinks=False))
    return known


def _current(path: Path) -> bytes | None:
    try:
        return _read_no_follow(path)
    except OSError:
        return None


def _read_no_follow(path: Path) -> bytes:
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(descriptor, "rb") as file:
        return file.read()


def _is_real_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _shown(name: str) -> str:
    """A name from an untrusted source, as it may appear in a public log: printable, short, quoted."""
    shown = name.encode("ascii", "backslashreplace").decode("ascii")
    shown = "".join(c if c.isprintable() else "?" for c in shown)
    return repr(shown if len(shown) <= 80 else shown[:77] + "...")


def _refused(what: str, source: Path) -> RefusedState:
    return RefusedState(
        f"the answer job's state/ ({source}) {what}: nothing was saved",
        hint="the answer job ran code that should not be there (look at what it installed), or this botjob "
        "writes a file its save-state does not know yet (update both together); answers since the last save may repeat",
    )
