"""What the bot remembers between runs: files under state/, written atomically.

Only update ids live here, never message text, names or chat ids: the
repository (and so this folder) may be public.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

OFFSET_FILE = "offset.json"
PROFILE_FILE = "bot.json"
USAGE_FILE = "usage.json"  # daily counts (memory.DailyUsage)
MEMORY_DIR = "memory"  # encrypted chat memory (memory.ChatMemory)


@dataclass(frozen=True)
class Checkpoint:
    """``offset`` is the next update_id to fetch; ``finished`` are ids above it already done."""

    offset: int = 0
    finished: frozenset[int] = field(default_factory=frozenset)

    def is_finished(self, update_id: int) -> bool:
        return update_id < self.offset or update_id in self.finished

    def finish(self, update_id: int, *, still_waiting: Collection[int], fetched_up_to: int) -> Checkpoint:
        """Record one finished update of a fetched page.

        ``still_waiting`` are the page's updates not finished yet and
        ``fetched_up_to`` the page's highest id. Telegram hands out every
        update from the offset up, in order, so an id below the first one
        still waiting that was not fetched does not exist: the offset moves
        to the first update still waiting, or past the page when none is.
        """
        finished = self.finished | {update_id}
        waiting = [i for i in still_waiting if i not in finished]
        offset = max(self.offset, min(waiting) if waiting else fetched_up_to + 1)
        return Checkpoint(offset, frozenset(i for i in finished if i >= offset))


def _unused_name(path: Path) -> Path:
    candidate, number = path, 1
    while candidate.exists():
        candidate, number = path.with_name(f"{path.name}-{number}"), number + 1
    return candidate


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class BotProfile:
    """The bot's own public identity, cached so a run needs no getMe; and which command list it registered."""

    id: int
    username: str
    commands: str = ""  # a digest of the command list last registered with setMyCommands


class StateStore:
    """Reads and writes ``state/offset.json``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @property
    def offset_path(self) -> Path:
        return self.directory / OFFSET_FILE

    def load(self) -> Checkpoint:
        """The stored checkpoint; a missing or unreadable file starts from Telegram's own queue.

        Starting from offset 0 loses nothing: Telegram still holds every
        update that no earlier call confirmed.
        """
        path = self.offset_path
        if not path.exists():
            return Checkpoint()
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            offset = document["offset"]
            finished = document.get("finished", [])
            if not _is_id(offset) or offset < 0 or not isinstance(finished, list) or not all(map(_is_id, finished)):
                raise ValueError("offset must be a non-negative integer, finished a list of integers")
        except (OSError, ValueError, KeyError, TypeError) as error:
            backup = _unused_name(path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}"))
            shutil.copyfile(path, backup)
            log.warning(
                "state file %s was unreadable (%s); kept a copy as %s and starting from Telegram's queue",
                path, type(error).__name__, backup.name,
            )
            return Checkpoint()
        return Checkpoint(offset, frozenset(i for i in finished if i >= offset))

    def save(self, checkpoint: Checkpoint) -> None:
        document: dict[str, object] = {"offset": checkpoint.offset}
        if checkpoint.finished:
            document["finished"] = sorted(checkpoint.finished)
        write_json_atomically(self.offset_path, document)

    def load_profile(self) -> BotProfile | None:
        try:
            document = json.loads((self.directory / PROFILE_FILE).read_text(encoding="utf-8"))
            return BotProfile(int(document["id"]), str(document["username"]), str(document.get("commands", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # fetched again with getMe: nothing is lost

    def save_profile(self, profile: BotProfile) -> None:
        write_json_atomically(self.directory / PROFILE_FILE, {"id": profile.id, "username": profile.username, "commands": profile.commands})


def write_json_atomically(path: Path, document: object) -> None:
    write_atomically(path, (json.dumps(document) + "\n").encode("utf-8"))


def write_atomically(path: Path, content: bytes) -> None:
    """Temp file + fsync + rename: a crash leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
