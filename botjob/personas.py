"""Each chat's own persona (/persona): the system prompt it chose, kept encrypted in state/personas/.

A persona is the chat's own words, so it is kept as memory is (memory.py): a
Fernet token of padded plaintext under the key derived from BOTJOB_STATE_KEY,
in a file named by a keyed hash of a purpose of its own, so no other file in
state/ names the chat the same way. The keys are derived only once a persona
is needed: a bot whose chats never set one pays nothing for them.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ReplySettings
from .conversation import split_for_telegram
from .errors import StateError
from .state import write_atomically

log = logging.getLogger(__name__)

PERSONA_NAMES = "persona"  # the purpose persona file names are keyed for (memory.keyed_name)
PERSONA_SUFFIX = ".bin"
_FORMAT_VERSION = 1
RESET = "reset"  # /persona reset: back to llm.system_prompt

# A persona goes with every question of its chat, so it is capped. 1,000 characters is a character
# sheet's worth (who to be, what to know, how to talk): about 250 tokens of English, half the default
# answer (llm.max_tokens 512), up to about 1,000 tokens in Chinese or Japanese; small beside a small
# model's context, which memory and the question need too. Cut there, any persona of text pads to
# memory's first bucket (4 KiB): every persona file is the same size.
PERSONA_LIMIT = 1000


def capped(words: str) -> tuple[str, bool]:
    """The persona as kept: at most PERSONA_LIMIT characters (UTF-16 code units, never more characters),
    cut after a paragraph, sentence or word; and whether it was cut."""
    parts = split_for_telegram(words, PERSONA_LIMIT)
    return (parts[0] if parts else ""), len(parts) > 1


def persona_reply(personas: ChatPersonas, chat_id: int, words: str, reply: ReplySettings, default: str) -> str:
    """/persona's answer, once it did what it asks: "" shows the persona, "reset" forgets it, anything
    else becomes it. ``default`` is llm.system_prompt, shown while the chat has no persona."""
    if not words:
        persona = personas.get(chat_id)
        if persona is None:
            return reply.persona_default.replace("{persona}", default.strip() or "(none)")
        return reply.persona_shown.replace("{persona}", persona)
    if words.lower() == RESET:
        personas.forget(chat_id)
        return reply.persona_reset
    persona, cut = capped(words)
    personas.set(chat_id, persona)
    note = reply.persona_too_long.replace("{limit}", f"{PERSONA_LIMIT:,}") if cut else ""
    return "\n\n".join(text for text in (reply.persona_set, note) if text.strip())


class ChatPersonas:
    """Each chat's persona, one file per chat: ``<directory>/<keyed_name(..., PERSONA_NAMES, chat)>.bin``.

    A file that cannot be used (BOTJOB_STATE_KEY changed, damage, another chat's file) counts as no
    persona, with a warning, and is left alone until the chat sets or resets its persona.
    """

    def __init__(self, directory: Path, state_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = Path(directory)
        self._state_key = state_key
        self._clock = clock  # the Fernet token's time, which save-state's merge keeps the newer by
        self._keys_lock = threading.Lock()
        self._keys: tuple[Any, str] | None = None  # (Fernet, name secret), once a persona is needed

    def __repr__(self) -> str:  # the state key never reaches a log line or a traceback by accident
        return f"ChatPersonas({self.directory})"

    def get(self, chat_id: int) -> str | None:
        """The chat's persona; None when it has none (llm.system_prompt applies)."""
        if not self._in_use():
            return None
        fernet, name = self._fernet(), self._name(chat_id)
        path = self._path(name)
        try:
            token = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:  # a folder in its place, no permission
            log.warning("persona file %s cannot be read (%s); that chat gets llm.system_prompt", path.name, type(error).__name__)
            return None
        from cryptography.fernet import InvalidToken

        try:
            document = json.loads(fernet.decrypt(token))
            if document.get("chat") != name:
                raise ValueError("the file belongs to another chat")
            persona = document["persona"]
            if not isinstance(persona, str):
                raise TypeError("the persona is not text")
        except InvalidToken:
            log.warning("persona file %s cannot be decrypted (BOTJOB_STATE_KEY changed, or the file is damaged); "
                        "that chat gets llm.system_prompt", path.name)
            return None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            log.warning("persona file %s is not a persona (%s); that chat gets llm.system_prompt", path.name, type(error).__name__)
            return None
        return persona

    def set(self, chat_id: int, persona: str) -> None:
        """Keep ``persona`` as the chat's (atomic write, padded, encrypted)."""
        from .memory import padded

        name = self._name(chat_id)
        path = self._path(name)
        if path.is_dir():
            raise StateError(f"{path} is a folder, not a chat's persona file", hint=f"remove it (rm -r {path}), then run again")
        document = {"v": _FORMAT_VERSION, "chat": name, "persona": persona}  # "chat": a file moved to another chat is ignored
        plaintext = padded(json.dumps(document, ensure_ascii=False).encode("utf-8"))
        write_atomically(path, self._fernet().encrypt_at_time(plaintext, int(self._clock())))

    def forget(self, chat_id: int) -> bool:
        """Delete the chat's persona (/persona reset); True if there was one."""
        path = self._path(self._name(chat_id))
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as error:  # a folder in its place, or state/personas a file
            raise StateError(f"{path} cannot be deleted ({type(error).__name__})",
                             hint=f"remove it (rm -r {path}), then run again") from None
        return True

    def move(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup with a new id: its persona follows, unless the supergroup already set one."""
        persona = self.get(old_chat_id)
        if persona is None:
            return
        if self.get(new_chat_id) is None:
            self.set(new_chat_id, persona)
        self.forget(old_chat_id)

    def path(self, chat_id: int) -> Path:
        return self._path(self._name(chat_id))

    def _path(self, name: str) -> Path:
        return self.directory / f"{name}{PERSONA_SUFFIX}"

    def _in_use(self) -> bool:
        """Whether any chat may have a persona: while none has, a question costs no key and no file read."""
        if self._keys is not None:
            return True
        try:
            with os.scandir(self.directory) as entries:
                return any(entry.name.endswith(PERSONA_SUFFIX) for entry in entries)
        except OSError:  # no folder yet (or a file in its way, which setting a persona names)
            return False

    def _name(self, chat_id: int) -> str:
        from .memory import keyed_name

        return keyed_name(self._derived()[1], PERSONA_NAMES, chat_id)

    def _fernet(self) -> Any:
        return self._derived()[0]

    def _derived(self) -> tuple[Any, str]:
        with self._keys_lock:
            if self._keys is None:
                from cryptography.fernet import Fernet  # imported, and the keys derived, once a persona is needed

                from .memory import derive_state_keys

                keys = derive_state_keys(self._state_key)
                self._keys = (Fernet(keys.fernet_key), keys.name_secret)
            return self._keys
