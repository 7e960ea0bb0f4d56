"""What the bot remembers between runs: files under state/, written atomically.

Only update ids live here, never message text, names or chat ids: the
repository (and so this folder) may be public.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StateError

log = logging.getLogger(__name__)

OFFSET_FILE = "offset.json"
PROFILE_FILE = "bot.json"
USAGE_FILE = "usage.json"  # daily counts (memory.DailyUsage)
PICTURES_FILE = "pictures.json"  # pictures drawn per chat today (memory.DailyUsage)
TROUBLE_FILE = "trouble.json"  # when a passing trouble began, while it lasts
CADENCE_FILE = "cadence.json"  # how far apart GitHub really started the scheduled runs (botjob.cadence)
STATS_FILE = "stats.json"  # the owner's /stats: counts per day, no chat ids (botjob.stats)
MEMORY_DIR = "memory"  # encrypted chat memory (memory.ChatMemory)
PERSONAS_DIR = "personas"  # each chat's own system prompt, encrypted (personas.ChatPersonas)
CHOSEN_MODELS_FILE = "models.json"  # the model each chat picked with /model, under keyed names (model_choice.ChosenModels)


@dataclass(frozen=True)
class Checkpoint:
    """``offset`` is the next update_id to fetch; ``finished`` are ids above it already done;
    ``partly_sent`` are unfinished ids whose reply went out in part only (a run stopped between parts)."""

    offset: int = 0
    finished: frozenset[int] = field(default_factory=frozenset)
    partly_sent: frozenset[int] = field(default_factory=frozenset)

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
        partly_sent = frozenset(i for i in self.partly_sent if i >= offset and i != update_id)
        return Checkpoint(offset, frozenset(i for i in finished if i >= offset), partly_sent)

    def sent_in_part(self, update_ids: Collection[int]) -> Checkpoint:
        """Record that the reply to these updates went out in part: a later run must not send it again whole."""
        return Checkpoint(self.offset, self.finished, self.partly_sent | frozenset(update_ids))


def ids_restarted(offset_sent: int, ids: Collection[int]) -> bool:
    """Whether a page shows that Telegram's update ids started again: it never returns an id below
    the offset it was sent unless its queue restarted (a week without updates, or state/ from
    another bot; it then ignores an offset "in the future" and serves its queue from the head)."""
    return bool(offset_sent) and any(i < offset_sent for i in ids)


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


@dataclass(frozen=True)
class Trouble:
    """A passing trouble that kept runs from answering anyone: since when (Unix time), and how many runs."""

    since: float
    runs: int = 1


@dataclass(frozen=True)
class Cadence:
    """How far apart the workflow's scheduled runs really came: the typical (median) and the worst
    gap in seconds, over how many runs, measured when (Unix time). No run ids, no names."""

    typical: float
    worst: float
    runs: int
    measured_at: float


class StateStore:
    """Reads and writes ``state/offset.json``."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    @property
    def offset_path(self) -> Path:
        return self.directory / OFFSET_FILE

    def load(self, *, set_aside: bool = True) -> Checkpoint:
        """The stored checkpoint; a missing or damaged file starts from Telegram's own queue.

        Starting from offset 0 loses nothing: Telegram still holds every
        update that no earlier call confirmed. A damaged file is kept aside
        as ``offset.json.bad-<time>`` (unless ``set_aside`` is False: a look
        that changes nothing); one that cannot be read at all (a folder, no
        permission) needs the owner.
        """
        path = self.offset_path
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return Checkpoint()
        except (OSError, UnicodeDecodeError) as error:
            if not isinstance(error, UnicodeDecodeError):
                raise StateError(
                    f"{path} cannot be read ({type(error).__name__})",
                    hint=f"delete it, or make it a readable file (Telegram keeps what waits for 24 h): rm -r {path}",
                ) from None
            text = ""
        try:
            document = json.loads(text)
            offset = document["offset"]
            finished = document.get("finished", [])
            partly_sent = document.get("partly_sent", [])
            if not _is_id(offset) or offset < 0 or not all(
                isinstance(ids, list) and all(map(_is_id, ids)) for ids in (finished, partly_sent)
            ):
                raise ValueError("offset must be a non-negative integer, finished and partly_sent lists of integers")
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if set_aside:
                self._set_aside(path, error)
            return Checkpoint()
        return Checkpoint(offset, frozenset(i for i in finished if i >= offset), frozenset(i for i in partly_sent if i >= offset))

    def _set_aside(self, path: Path, error: Exception) -> None:
        backup = _unused_name(path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%dT%H%M%S')}"))
        try:
            shutil.copyfile(path, backup)
        except OSError as failure:
            raise StateError(
                f"{path} is damaged ({type(error).__name__}) and no copy could be kept beside it ({type(failure).__name__})",
                hint=f"make {self.directory} writable, or delete {path} (Telegram keeps what waits for 24 h)",
            ) from None
        log.warning(
            "state file %s was unreadable (%s); kept a copy as %s and starting from Telegram's queue",
            path, type(error).__name__, backup.name,
        )

    def check_writable(self) -> None:
        """Fail before anything is answered when nothing could be recorded: every answer would repeat."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.directory):
                pass
        except OSError as error:
            raise StateError(
                f"{self.directory} cannot be written ({type(error).__name__}): nothing answered could be recorded",
                hint=f"make {self.directory} a writable folder, or pass --state-dir with one",
            ) from None

    def save(self, checkpoint: Checkpoint) -> None:
        document: dict[str, object] = {"offset": checkpoint.offset}
        if checkpoint.finished:
            document["finished"] = sorted(checkpoint.finished)
        if checkpoint.partly_sent:
            document["partly_sent"] = sorted(checkpoint.partly_sent)
        write_json_atomically(self.offset_path, document)

    def load_profile(self) -> BotProfile | None:
        try:
            document = json.loads((self.directory / PROFILE_FILE).read_text(encoding="utf-8"))
            return BotProfile(int(document["id"]), str(document["username"]), str(document.get("commands", "")))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # fetched again with getMe: nothing is lost

    def save_profile(self, profile: BotProfile) -> None:
        write_json_atomically(self.directory / PROFILE_FILE, {"id": profile.id, "username": profile.username, "commands": profile.commands})

    def load_trouble(self, *, now: float | None = None) -> Trouble | None:
        """The passing trouble earlier runs met, if any. A damaged record starts the count again (the
        worst is a late alert): one whose start is no finite time at or before ``now`` (JSON reads NaN
        and 1e400 as numbers), or whose count of runs is no whole number from 1."""
        try:
            document = json.loads((self.directory / TROUBLE_FILE).read_text(encoding="utf-8"))
            since, runs = float(document["since"]), int(document["runs"])
        except (OSError, ValueError, KeyError, TypeError, OverflowError):
            return None
        if not (math.isfinite(since) and 0 <= since <= (math.inf if now is None else now)) or runs < 1:
            log.warning("%s is damaged: the count of failed runs starts again", TROUBLE_FILE)
            return None
        return Trouble(since, runs)

    def save_trouble(self, trouble: Trouble | None) -> None:
        path = self.directory / TROUBLE_FILE
        if trouble is None:
            if path.exists():
                try:
                    path.unlink()
                except OSError as error:
                    raise _unwritable(path, error) from None
            return
        write_json_atomically(path, {"since": int(trouble.since), "runs": trouble.runs})  # floored: never later than it was


    def load_cadence(self) -> Cadence | None:
        """The measured cadence, or None when there is none yet (or the file is damaged: the next
        measuring step writes it again)."""
        try:
            document = json.loads((self.directory / CADENCE_FILE).read_text(encoding="utf-8"))
            cadence = Cadence(
                float(document["typical_gap"]), float(document["worst_gap"]), int(document["runs"]),
                float(document["measured_at"]),
            )
        except (OSError, ValueError, KeyError, TypeError, OverflowError):
            return None
        figures = (cadence.typical, cadence.worst, cadence.measured_at)
        if not all(math.isfinite(f) and f >= 0 for f in figures) or cadence.typical > cadence.worst or cadence.runs < 2:
            return None
        return cadence

    def save_cadence(self, cadence: Cadence) -> None:
        write_json_atomically(self.directory / CADENCE_FILE, {
            "typical_gap": round(cadence.typical), "worst_gap": round(cadence.worst), "runs": cadence.runs,
            "measured_at": int(cadence.measured_at),
        })


def write_json_atomically(path: Path, document: object) -> None:
    write_atomically(path, (json.dumps(document) + "\n").encode("utf-8"))


def write_atomically(path: Path, content: bytes) -> None:
    """Temp file + fsync + rename: a crash leaves either the old file or the new one, never half of one."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=".tmp")
    except OSError as error:
        raise _unwritable(path, error) from None
    try:
        with os.fdopen(fd, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        Path(temp_name).unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise _unwritable(path, error) from None
        raise


def _unwritable(path: Path, error: OSError) -> StateError:
    return StateError(
        f"{path} could not be written ({type(error).__name__}): the bot cannot keep what it must remember",
        hint=f"make {path.parent} writable and leave room on the disk, then run again",
    )
