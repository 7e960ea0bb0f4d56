"""What the bot remembers about each chat: recent turns (encrypted) and today's question count.

Everything here ends up in state/, which is committed to a repository that may
be public: chats are named only by keyed hashes, a different one in each file
(and each day, for the counts), and chat text only ever hits the disk as a
Fernet token of padded size.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from botjob.errors import ConfigError, StateError
from botjob.state import write_atomically, write_json_atomically

log = logging.getLogger(__name__)

STATE_KEY_ENV = "BOTJOB_STATE_KEY"
STATE_KEY_HINT = (
    'create a key with: python -c "import secrets; print(secrets.token_urlsafe(32))", '
    f"store it as the repository secret {STATE_KEY_ENV} (Settings > Secrets and variables > Actions) "
    f"and give it to the run step as env {STATE_KEY_ENV}; keep a copy: without it the memory cannot be read"
)

# A passphrase is stretched with PBKDF2-HMAC-SHA256 (OWASP 2023 iteration count), so that guessing a weak
# one against the public files costs ~0.3 s per guess. The salt is fixed because the key must come out the
# same on every run and nothing but the passphrase survives between runs; it only separates botjob's keys
# from other uses of the same passphrase. Changing any of these makes every stored memory unreadable.
KDF_SALT = b"botjob/state-key/v1"
KDF_ITERATIONS = 600_000
_FERNET_LABEL = b"botjob fernet key v1"
_NAMES_LABEL = b"botjob chat names v1"

CHAT_KEY_LENGTH = 32
MEMORY_SUFFIX = ".bin"
MEMORY_NAMES = "memory"  # the purpose memory file names are keyed for; the daily counts use their file's name
_FORMAT_VERSION = 2  # 2: named by keyed_name(..., MEMORY_NAMES, ...) and padded; 1: named by chat_key, unpadded
COUNTS_VERSION = 2  # the daily counts' names: 2 per file and per day; 1 (no "v") chat_key, the same every day

# Memory plaintext is padded with spaces (JSON allows them after the document) to the next bucket
# before encryption, so a file's size tells only the bucket, not the conversation's length. The first
# bucket holds one or two exchanges at the default llm.max_tokens (512 tokens, about 2 KB an answer),
# so new chats all look alike; doubling after it says no more than the power of two, at most twice
# the bytes (each memory write is a new blob in the repository's history: finer steps would leak
# more, coarser ones would grow the history more for little gain).
MEMORY_FIRST_BUCKET = 4096


def chat_key(secret: str, chat_id: int) -> str:
    """HMAC-SHA256(secret, str(chat_id)), first 32 hex digits: the one name every file gave a chat
    before names were keyed per file and per day; kept to find memory written under it.

    Keyed, because chat ids are small integers: a plain hash would be reversed by
    hashing every id.
    """
    digest = hmac.new(secret.encode("utf-8"), str(chat_id).encode("ascii"), hashlib.sha256)
    return digest.hexdigest()[:CHAT_KEY_LENGTH]


def keyed_name(secret: str, purpose: str, chat_id: int, day: date | None = None) -> str:
    """The name of a chat in one file (``purpose``), and for daily counts on one ``day``: 32 hex digits.

    Each purpose gets its own key, HMAC(secret, label), and the day is part of
    what is keyed: names in usage.json, pictures.json and memory/ never match
    each other, nor the same chat's on another day, so a public history cannot
    join them by name. Memory names carry no day: they must be found again.
    """
    purpose_key = hmac.new(secret.encode("utf-8"), f"botjob chat names v2/{purpose}".encode("utf-8"), hashlib.sha256).digest()
    subject = str(chat_id) if day is None else f"{day.isoformat()}/{chat_id}"
    return hmac.new(purpose_key, subject.encode("ascii"), hashlib.sha256).hexdigest()[:CHAT_KEY_LENGTH]


def padded(plaintext: bytes) -> bytes:
    """``plaintext`` followed by spaces up to the next bucket: MEMORY_FIRST_BUCKET, then doubling."""
    bucket = MEMORY_FIRST_BUCKET
    while bucket < len(plaintext):
        bucket *= 2
    return plaintext + b" " * (bucket - len(plaintext))


@dataclass(frozen=True)
class StateKeys:
    """The two keys derived from BOTJOB_STATE_KEY: one encrypts, one names chats."""

    fernet_key: bytes
    name_secret: str

    def __repr__(self) -> str:  # keys never reach a log line or a traceback by accident
        return "StateKeys(<hidden>)"


def _as_fernet_key(state_key: str) -> bytes | None:
    """The 32 raw bytes when ``state_key`` already is a Fernet key (urlsafe base64, 44 characters)."""
    if len(state_key) != 44:
        return None
    try:
        raw = base64.b64decode(state_key.encode("ascii"), altchars=b"-_", validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def derive_state_keys(state_key: str) -> StateKeys:
    """Turn BOTJOB_STATE_KEY into a Fernet key and a secret for chat names.

    A ready Fernet key (``Fernet.generate_key()``) is used as it is, so the files
    can also be opened with stock Fernet tools; anything else is a passphrase,
    stretched with PBKDF2 (``KDF_SALT``, ``KDF_ITERATIONS``) and split with
    HKDF-Expand. The name secret is derived too, never the raw key, so the
    public file names give no cheap way to test guesses of a weak passphrase.
    """
    state_key = state_key.strip()  # a secret pasted with a trailing newline is the same secret
    if not state_key:
        raise ConfigError(f"{STATE_KEY_ENV} is empty: chat memory needs a key to encrypt it", hint=STATE_KEY_HINT)
    return _derive(state_key)


@functools.lru_cache(maxsize=4)  # the KDF is slow on purpose; a run derives the same keys once
def _derive(state_key: str) -> StateKeys:
    raw = _as_fernet_key(state_key)
    if raw is not None:
        fernet_key = state_key.encode("ascii")
        names = hmac.new(raw, _NAMES_LABEL, hashlib.sha256).digest()
    else:
        master = hashlib.pbkdf2_hmac("sha256", state_key.encode("utf-8"), KDF_SALT, KDF_ITERATIONS)
        fernet_key = base64.urlsafe_b64encode(_expand(master, _FERNET_LABEL))
        names = _expand(master, _NAMES_LABEL)
    return StateKeys(fernet_key=fernet_key, name_secret=names.hex())


def _expand(master: bytes, label: bytes) -> bytes:
    return HKDFExpand(algorithm=hashes.SHA256(), length=32, info=label).derive(master)


def name_secret(state_key: str) -> str:
    """The secret to give ``DailyUsage``, derived as ``ChatMemory``'s is (raises ConfigError when empty)."""
    return derive_state_keys(state_key).name_secret


class ChatMemory:
    """Last N turns per chat, encrypted with Fernet under a key derived from BOTJOB_STATE_KEY.

    One file per chat, ``<directory>/<keyed_name(..., MEMORY_NAMES, chat)>.bin``,
    holding a Fernet token of padded plaintext. A turn is one question and its
    answer. Changing BOTJOB_STATE_KEY changes the file names too, so the old
    files are simply no longer found (delete state/memory to tidy up); a file
    that is found but cannot be read is treated as empty and left alone until
    ``remember`` overwrites it. Memory written under the older name (``chat_key``,
    before names were keyed per file) is read when the new name is missing, and
    moved to the new name at once.
    """

    def __init__(self, directory: Path, state_key: str, turns: int, *, clock: Callable[[], float] = time.time) -> None:
        if turns < 0:
            raise ConfigError(f"chat.memory_turns must be 0 or more, not {turns}")
        keys = derive_state_keys(state_key)
        self.directory = Path(directory)
        self.turns = turns
        self._fernet = Fernet(keys.fernet_key)
        self._name_secret = keys.name_secret
        self._clock = clock  # the Fernet token's time, which save-state's merge keeps the newer by

    def path(self, chat_id: int) -> Path:
        return self.directory / f"{self._name(chat_id)}{MEMORY_SUFFIX}"

    def _name(self, chat_id: int) -> str:
        return keyed_name(self._name_secret, MEMORY_NAMES, chat_id)

    def _old_path(self, chat_id: int) -> Path:
        """Where this chat's memory was kept before names were keyed per file (the daily counts' name then)."""
        return self.directory / f"{chat_key(self._name_secret, chat_id)}{MEMORY_SUFFIX}"

    def check_usable(self) -> None:
        """Fail before anything is answered when memory could not be kept: a run would answer, then stop
        at the first memory it writes, and the next run would answer the same question again."""
        if not self.turns:
            return
        if self.directory.exists() and not self.directory.is_dir():
            raise _in_the_way(self.directory, "is a file, not the folder that chat memory is kept in")
        try:
            entries = list(self.directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return  # made with the first memory; or state/ itself is in the way, which the run's own check names
        except OSError as error:
            raise StateError(
                f"{self.directory} cannot be read ({type(error).__name__}): chat memory cannot be kept",
                hint=f"make {self.directory} a readable folder, or remove it (rm -r {self.directory}): every chat starts afresh",
            ) from None
        for entry in sorted(entries):
            if entry.suffix == MEMORY_SUFFIX and entry.is_dir():
                raise _in_the_way(entry, "is a folder, not a chat's memory file")

    def load(self, chat_id: int) -> list[dict[str, str]]:
        """The chat's last turns as OpenAI-style messages, oldest first; [] when there are none."""
        if self.turns == 0:
            return []
        messages: list[dict[str, str]] = []
        for question, answer in self._pairs(chat_id)[-self.turns :]:  # memory_turns may have been lowered
            messages.append({"role": "user", "content": question})
            messages.append({"role": "assistant", "content": answer})
        return messages

    def remember(self, chat_id: int, user_text: str, assistant_text: str) -> None:
        """Add one question and its answer, keep the last ``turns`` of them (atomic write)."""
        if self.turns == 0:
            return
        self._write(chat_id, [*self._pairs(chat_id), (user_text, assistant_text)])

    def move(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup with a new id: its memory follows it."""
        pairs = self._pairs(old_chat_id) if self.turns else []
        if not pairs:
            return
        self._write(new_chat_id, pairs + self._pairs(new_chat_id))
        self.forget(old_chat_id)

    def _write(self, chat_id: int, pairs: list[tuple[str, str]]) -> None:
        path = self.path(chat_id)
        if path.parent.exists() and not path.parent.is_dir():
            raise _in_the_way(path.parent, "is a file, not the folder that chat memory is kept in")
        if path.is_dir():
            raise _in_the_way(path, "is a folder, not a chat's memory file")
        document = {
            "v": _FORMAT_VERSION,
            "chat": self._name(chat_id),  # checked on load: a file moved to another chat is ignored
            "turns": [{"user": q, "assistant": a} for q, a in pairs[-self.turns :]],
        }
        plaintext = padded(json.dumps(document, ensure_ascii=False).encode("utf-8"))
        write_atomically(path, self._fernet.encrypt_at_time(plaintext, int(self._clock())))
        self._old_path(chat_id).unlink(missing_ok=True)  # moved, or replaced by a new conversation

    def forget(self, chat_id: int) -> bool:
        """Delete the chat's memory (/reset), under the older name too; True if there was one."""
        forgotten = False
        for path in (self.path(chat_id), self._old_path(chat_id)):
            try:
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as error:  # a folder in its place, or state/memory a file
                blocker = path if path.parent.is_dir() else path.parent
                raise _in_the_way(blocker, f"cannot be deleted ({type(error).__name__})") from None
            forgotten = True
        return forgotten

    def _pairs(self, chat_id: int) -> list[tuple[str, str]]:
        pairs = self._read(self.path(chat_id), self._name(chat_id))
        if pairs is not None:
            return pairs
        old = self._read(self._old_path(chat_id), chat_key(self._name_secret, chat_id))
        if not old:
            return []
        self._write(chat_id, old)  # found under the older name: moved to the new one, padded
        log.info("moved a chat's memory to its new file name")
        return old[-self.turns :]

    def _read(self, path: Path, name: str) -> list[tuple[str, str]] | None:
        """The turns in ``path``; None when there is no file, [] (with a warning) when it cannot be used."""
        try:
            token = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:  # a folder in its place (check_usable stops a run before that), no permission
            log.warning("memory file %s cannot be read (%s); starting that chat afresh", path.name, type(error).__name__)
            return []
        try:
            document = json.loads(self._fernet.decrypt(token))
            if document.get("chat") != name:
                raise ValueError("the file belongs to another chat")
            pairs = [(turn["user"], turn["assistant"]) for turn in document["turns"]]
            if not all(isinstance(q, str) and isinstance(a, str) for q, a in pairs):
                raise ValueError("a turn is not text")
        except InvalidToken:
            log.warning(
                "memory file %s cannot be decrypted (%s changed, or the file is damaged); starting that chat afresh",
                path.name, STATE_KEY_ENV,
            )
            return []
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("memory file %s is not valid memory (%s); starting that chat afresh", path.name, type(error).__name__)
            return []
        return pairs


def _in_the_way(path: Path, what: str) -> StateError:
    """Something the bot never makes sits where memory goes: only the owner can say it may go."""
    remove = f"rm -r {path}" if path.is_dir() else f"rm {path}"
    return StateError(f"{path} {what}", hint=f"remove it ({remove}), then run again")


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass
class _Tally:
    count: int = 0
    told: bool = False


class DailyUsage:
    """Questions per chat per UTC day, for access.daily_limit. Stored as state/usage.json with keyed-hash names only.

    The job asks ``check`` before calling the model: "ok" means answer it and
    ``count`` it; "last-warning" means send the daily-limit notice once, then
    ``mark_told``; "silent" means the chat was already told today, say nothing.
    ``save`` after the batch (or after each answer, it is cheap). ``secret``
    should be ``name_secret(BOTJOB_STATE_KEY)``, so the names reveal nothing
    about the key. A chat's name is keyed with the file's own name and the day
    (``keyed_name``): no other file, and no other day, names it the same way.
    """

    def __init__(
        self,
        path: Path,
        secret: str,
        limit: int,
        today: Callable[[], date] = _utc_today,
    ) -> None:
        if limit < 0:
            raise ConfigError(f"access.daily_limit must be 0 (no limit) or more, not {limit}")
        if limit and not secret:
            raise ConfigError("access.daily_limit needs a secret to name chats in state/usage.json", hint=STATE_KEY_HINT)
        self.path = Path(path)
        self.limit = limit
        self._secret = secret
        self._today = today
        self._day = today()
        self._chats: dict[str, _Tally] = {}
        self._changed = False
        if limit:
            self._load()

    def check(self, chat_id: int) -> str:
        """"ok" (under the limit), "last-warning" (over it, not told yet today) or "silent" (already told)."""
        if not self.limit:
            return "ok"
        tally = self._tally(chat_id, create=False)
        if tally.count < self.limit:
            return "ok"
        return "silent" if tally.told else "last-warning"

    def count(self, chat_id: int) -> None:
        """One more answered question today."""
        if self.limit:
            self._tally(chat_id).count += 1
            self._changed = True

    def move(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup with a new id: today's count follows it."""
        if not self.limit:
            return
        self._roll_over()
        old = self._chats.pop(self._key(old_chat_id), None)
        if old is not None:
            new = self._tally(new_chat_id)
            new.count += old.count
            new.told = new.told or old.told
            self._changed = True

    def mark_told(self, chat_id: int) -> None:
        """The chat got today's "that's all for today" notice: stay silent until tomorrow."""
        if self.limit:
            self._tally(chat_id).told = True
            self._changed = True

    def save(self) -> None:
        """Atomic write of today's counts; nothing is written when there is no limit or nothing changed."""
        if not self.limit:
            return
        self._roll_over()
        if not self._changed:
            return
        document = {
            "v": COUNTS_VERSION,
            "day": self._day.isoformat(),
            "chats": {key: {"count": t.count, "told": t.told} for key, t in sorted(self._chats.items())},
        }
        write_json_atomically(self.path, document)
        self._changed = False

    def _tally(self, chat_id: int, *, create: bool = True) -> _Tally:
        self._roll_over()
        key = self._key(chat_id)
        if key in self._chats:
            return self._chats[key]
        tally = _Tally()
        if create:
            self._chats[key] = tally
        return tally

    def _key(self, chat_id: int) -> str:
        return keyed_name(self._secret, self.path.name, chat_id, self._day)

    def _roll_over(self) -> None:
        today = self._today()
        if today != self._day:  # a run that crosses midnight UTC starts the new day's counts
            self._day, self._chats, self._changed = today, {}, True

    def _load(self) -> None:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as error:
            log.warning("%s is unreadable (%s); counting today's questions from zero", self.path.name, type(error).__name__)
            return
        if not isinstance(document, dict) or document.get("day") != self._day.isoformat():
            self._changed = True  # yesterday's counts: the file is rewritten for today on save
            return
        if document.get("v") != COUNTS_VERSION:
            # Names from before they were keyed per file and per day: today's counts start again once
            # (at most one more day's allowance per chat, on the upgrade day), and the old names go.
            self._changed = True
            return
        chats = document.get("chats")
        for key, entry in chats.items() if isinstance(chats, dict) else ():
            if not isinstance(entry, dict):
                continue
            count, told = entry.get("count", 0), entry.get("told", False)
            if isinstance(count, int) and not isinstance(count, bool) and count >= 0 and isinstance(told, bool):
                self._chats[str(key)] = _Tally(count, told)
