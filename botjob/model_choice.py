"""Each chat's /model: which of the owner's llm.choices answers it, kept in state/models.json under keyed names.

What a chat picked is one of the owner's own settings (a model's name from botjob.yaml, as public as the
repository), never the chat's words: it is kept as plain JSON, not encrypted, so /model needs no
BOTJOB_STATE_KEY. The chat is named by a keyed hash for this file's purpose alone (memory.keyed_name,
keyed with BOTJOB_STATE_KEY, else the bot token, as the daily counts are): no other file in state/ names
it the same way, so the file tells only how many unnamed chats picked which model, and when each last
changed, which the commits show anyway. The name key is derived once some chat has picked a model: a bot
whose chats never did pays nothing for it. Standard library only when imported: save-state merges and
checks the file (merge, shape_problem) on a bare python3.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .state import write_json_atomically


log = logging.getLogger(__name__)

DEFAULT_WORDS = ("default", "reset")  # /model default (or reset): back to the owner's model


class ReplySettings(Protocol):
    """The owner's texts for /model (config.ReplySettings has them)."""

    model_list: str
    model_set: str
    model_reset: str
    model_unknown: str
    model_withdrawn: str

MODEL_NAMES = "model"  # the purpose the chats' names in models.json are keyed for (memory.keyed_name)
FORMAT_VERSION = 1
MAX_NAME = 500  # characters of a model's name in models.json: far above any model id, far below a message
_KEYED_NAME = re.compile(r"[0-9a-f]{32}")  # memory.keyed_name
_QUOTES = "\"'`“”‘’«»"
_PLACEHOLDER = re.compile(r"\{(current|choices|default|model)\}")


class ChosenModels:
    """The model each chat picked: ``{"v": 1, "chats": {<keyed name>: {"model": <name>, "at": <Unix time>}}}``.

    A chat that went back to the default keeps its entry with an empty model, so that save-state's merge
    (the newer "at" wins, chat by chat) never brings an older pick back. A file that cannot be read counts
    as no picks, with a warning, and is replaced at the next change.
    """

    def __init__(self, path: Path, secret: str, *, clock: Callable[[], float] = time.time) -> None:
        self.path = Path(path)
        self._secret = secret  # BOTJOB_STATE_KEY, else the bot token: the name key is derived from it
        self._clock = clock
        self._lock = threading.Lock()  # the chats' workers share the file
        self._chats: dict[str, dict[str, Any]] | None = None  # read at first use
        self._name_secret: str | None = None

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback by accident
        return f"ChosenModels({self.path})"

    def get(self, chat_id: int) -> str | None:
        """The name of the model the chat picked; None when it picked none (the owner's model answers)."""
        with self._lock:
            if not self._any_pick():
                return None
            return self._loaded().get(self._name(chat_id), {}).get("model") or None

    def set(self, chat_id: int, model: str) -> None:
        with self._lock:
            self._put(self._name(chat_id), model)

    def forget(self, chat_id: int) -> bool:
        """Back to the owner's model; True if the chat had picked another."""
        with self._lock:
            if not self._any_pick():
                return False
            name = self._name(chat_id)
            if not self._loaded().get(name, {}).get("model"):
                return False
            self._put(name, "")
            return True

    def move(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup with a new id: its pick follows, unless the supergroup already made one."""
        with self._lock:
            if not self._any_pick():
                return
            old, new = self._name(old_chat_id), self._name(new_chat_id)
            picked = self._loaded().get(old, {}).get("model")
            if not picked:
                return
            if not self._loaded().get(new, {}).get("model"):
                self._put(new, picked)
            self._put(old, "")

    def _put(self, name: str, model: str) -> None:
        chats = self._loaded()
        chats[name] = {"model": model, "at": int(self._clock())}
        write_json_atomically(self.path, {"v": FORMAT_VERSION, "chats": dict(sorted(chats.items()))})

    def _any_pick(self) -> bool:
        return any(entry["model"] for entry in self._loaded().values())

    def _loaded(self) -> dict[str, dict[str, Any]]:
        if self._chats is None:
            self._chats = self._read()
        return self._chats

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            log.warning("%s is unreadable (%s); every chat gets llm.model until one picks again", self.path.name, type(error).__name__)
            return {}
        chats = document.get("chats") if isinstance(document, dict) and document.get("v") == FORMAT_VERSION else None
        if not isinstance(chats, dict):
            log.warning("%s is not what /model keeps; every chat gets llm.model until one picks again", self.path.name)
            return {}
        return {str(name): {"model": entry["model"], "at": entry["at"]} for name, entry in chats.items()
                if isinstance(entry, dict) and isinstance(entry.get("model"), str) and _is_time(entry.get("at"))}

    def _name(self, chat_id: int) -> str:
        from .memory import keyed_name, name_secret  # cryptography: imported once a chat picks a model

        if self._name_secret is None:
            self._name_secret = name_secret(self._secret)
        return keyed_name(self._name_secret, MODEL_NAMES, chat_id)


@dataclass(frozen=True)
class Offered:
    """One model of llm.choices: what /model calls it, and the model asked first for the chats that pick it."""

    label: str
    model: Any


class ModelChoices:
    """/model for one bot: the owner's choices in their order, the owner's own model, and each chat's pick.

    ``default`` names the owner's first model (llm.model, or what BOTJOB_LLM_URL is asked for) and
    ``default_model`` is that model: a chat that picks it is back to the owner's order.
    """

    def __init__(self, offered: Sequence[Offered], chosen: ChosenModels, *, default: str, default_model: Any) -> None:
        self.offered = tuple(offered)
        self.chosen = chosen
        self.default_model = default_model
        usual = next((choice for choice in self.offered if choice.model is default_model), None)
        self.default = usual.label if usual is not None else default

    def first_for(self, chat_id: int) -> Any:
        """The model the chat picked, asked before the owner's order; None for the owner's order alone (no
        pick, the owner's own model, or a model no longer offered)."""
        picked = self._offered(self.chosen.get(chat_id))
        return picked.model if picked is not None and picked.model is not self.default_model else None

    def changes(self, words: str) -> bool:
        """Whether ``/model <words>`` switches the chat's model: anyone may list them, or name one not offered."""
        words = _bare(words)
        return bool(words) and (words.casefold() in DEFAULT_WORDS or self._find(words) is not None)

    def reply(self, chat_id: int, words: str, texts: ReplySettings) -> str:
        """/model's answer, once it did what it asks: "" lists the choices, "default" goes back to the owner's
        model, a name or number switches to it; anything else changes nothing and lists the choices."""
        words = _bare(words)
        picked_name = self.chosen.get(chat_id)
        picked = self._offered(picked_name)
        withdrawn = ""
        if picked_name is not None and picked is None:  # the owner took it off llm.choices
            self.chosen.forget(chat_id)
            withdrawn = self._fill(texts.model_withdrawn, model=picked_name)
        wanted = self._find(words) if words else None
        if words.casefold() in DEFAULT_WORDS or (wanted is not None and wanted.model is self.default_model):
            self.chosen.forget(chat_id)
            return self._fill(texts.model_reset)
        if wanted is not None:
            self.chosen.set(chat_id, wanted.label)
            return self._fill(texts.model_set, model=wanted.label)
        unknown = texts.model_unknown if words else ""
        return "\n\n".join(text for text in (unknown, withdrawn, self._listed(picked, texts)) if text.strip())

    def move(self, old_chat_id: int, new_chat_id: int) -> None:
        self.chosen.move(old_chat_id, new_chat_id)

    def _listed(self, picked: Offered | None, texts: ReplySettings) -> str:
        """The choices, numbered, the owner's marked "(default)" and the one answering here "← now"."""
        current = picked or next((choice for choice in self.offered if choice.model is self.default_model), None)
        lines = [f"{number}. {choice.label}{' (default)' if choice.model is self.default_model else ''}"
                 f"{' ← now' if choice is current else ''}" for number, choice in enumerate(self.offered, 1)]
        return self._fill(texts.model_list, current=picked.label if picked else self.default, choices="\n".join(lines))

    def _find(self, words: str) -> Offered | None:
        """The choice ``words`` names: its number, its name (any case), or the part of a Hub id after the
        owner's name when only one choice has it (/model llama-3.1-8b-instruct)."""
        if words.isascii() and words.isdigit():
            number = int(words)
            return self.offered[number - 1] if 1 <= number <= len(self.offered) else None
        named = self._offered(words)
        if named is not None:
            return named
        short = [choice for choice in self.offered if choice.label.casefold().rpartition("/")[2] == words.casefold()]
        return short[0] if len(short) == 1 else None

    def _offered(self, name: str | None) -> Offered | None:
        if not name:
            return None
        return next((choice for choice in self.offered if choice.label.casefold() == name.casefold()), None)

    def _fill(self, template: str, **values: str) -> str:
        # One pass, not str.replace in turn: a model's name never has its own braces filled.
        values = {"default": self.default, **values}
        return _PLACEHOLDER.sub(lambda found: values.get(found.group(1), found.group(0)), template)


def _bare(words: str) -> str:
    """What /model was given, without the quotes people put around a name."""
    return words.strip().strip(_QUOTES).strip()


def _is_time(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def merge(theirs: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Two versions of models.json as one (save-state): each chat's newer entry, ours on a tie. A chat gone
    back to the default keeps its entry (an empty model), so an older pick never comes back."""
    if shape_problem(theirs) or shape_problem(ours):
        raise ValueError("not what /model keeps")
    chats = dict(theirs["chats"])
    for name, entry in ours["chats"].items():
        if name not in chats or entry["at"] >= chats[name]["at"]:
            chats[name] = entry
    return {"v": FORMAT_VERSION, "chats": dict(sorted(chats.items()))}


def shape_problem(document: object) -> str | None:
    """What makes ``document`` other than models.json as the bot writes it (None: nothing). The file may be
    public: nothing but keyed names, model names of a sane length and times may be in it."""
    if not isinstance(document, dict) or set(document) != {"v", "chats"} or document["v"] != FORMAT_VERSION:
        return f'not {{"v": {FORMAT_VERSION}, "chats": ...}}'
    chats = document["chats"]
    if not isinstance(chats, dict):
        return "chats is not a mapping"
    for name, entry in chats.items():
        if not _KEYED_NAME.fullmatch(name):
            return "a chat is not named by a keyed hash"
        if not isinstance(entry, dict) or set(entry) != {"model", "at"} or not _is_time(entry["at"]):
            return 'an entry is not {"model": ..., "at": ...}'
        if not isinstance(entry["model"], str) or len(entry["model"]) > MAX_NAME or not (entry["model"].isprintable()):
            return "a model name is not a model's name"
    return None
