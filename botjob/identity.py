"""Who the bot is (its id and @username) and its command menu, kept in state/bot.json so a run rarely asks."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from . import conversation
from .conversation import BotIdentity
from .errors import BotjobError
from .state import BotProfile, StateStore

log = logging.getLogger(__name__)

COMMANDS = [
    {"command": "start", "description": "What this bot does"},
    {"command": "help", "description": "How to use it"},
    {"command": "reset", "description": "Forget our conversation"},  # offered only when the bot remembers
    {"command": "persona", "description": "How I answer here: /persona who I should be"},  # only when it keeps personas
    {"command": "model", "description": "Which model answers here: /model name or number"},  # only with llm.choices
    {"command": "image", "description": "Draw a picture: /image what to draw"},  # only when it draws
]

def bot_commands(remembers: bool, draws: bool = False, *, personas: bool = False, models: bool = False) -> list[dict[str, str]]:
    """The command menu: /reset only for a bot with memory, which has something to forget; /image
    only for a bot that draws; /persona only where personas can be kept (chat.personas and
    BOTJOB_STATE_KEY): without the key it could only say that it is not available; /model only
    where the owner offers models to pick from (llm.choices)."""
    offered = {"reset": remembers, "image": draws, "persona": personas, "model": models}
    return [c for c in COMMANDS if offered.get(c["command"], True)]


def menu_in_words(commands: list[dict[str, str]]) -> str:
    """The menu as /help lists it: "/start - what this bot does", one a line."""
    return "\n".join(f"/{c['command']} - {c['description'][0].lower()}{c['description'][1:]}" for c in commands)


class Bot(Protocol):
    bot_id: int | None

    def get_me(self) -> dict[str, Any]: ...
    def set_my_commands(self, commands: list[dict[str, str]]) -> object: ...


class Identity:
    """The bot's identity for deciding who a message is for, and its menu registered once (best effort).

    ``retrying`` and ``beside`` are the run's: how a call is retried, and how
    one is made beside the answering; ``lock`` guards the saved profile.
    """

    def __init__(
        self,
        bot: Bot,
        store: StateStore,
        commands: list[dict[str, str]],
        *,
        retrying: Callable[[str, Callable[[], Any]], Any],
        beside: Callable[[Callable[[], None]], Future[None]],
        lock: threading.Lock,
    ) -> None:
        self.bot = bot
        self.store = store
        self.commands = commands
        self.retrying = retrying
        self.beside = beside
        self.lock = lock
        self._profile: BotProfile | None = None
        self._registering = False  # the menu is being registered (or was tried) in this run

    def new_run(self) -> None:
        """A menu that could not be registered is tried again, once a run."""
        self._registering = False

    def of(self, updates: list[object], *, dry_run: bool) -> BotIdentity:
        """Who the bot is, from state/ or one getMe when a message may name it by its @username.

        Private chats need neither: the bot's id is in its token.
        """
        profile = self._profile or self.store.load_profile()
        if profile is None or profile.id != self.bot.bot_id:
            profile = BotProfile(self.bot.bot_id or 0, "")
        if not profile.username and any(map(_names_anyone, updates)):
            me = self.retrying("getMe", self.bot.get_me)
            profile = BotProfile(int(me["id"]), str(me.get("username") or ""), profile.commands)
        if profile != self._profile and not dry_run:
            self.store.save_profile(profile)
        self._profile = profile
        if profile.commands != _digest(self.commands) and not dry_run and not self._registering:
            self._registering = True
            self.beside(self._register)
        return BotIdentity(profile.id, profile.username)

    def _register(self) -> None:
        """The menu, remembered in state/ once registered; a nicety, so a failure only waits for the next run."""
        try:
            self.bot.set_my_commands(self.commands)
        except BotjobError as error:
            log.info("commands not registered (%s)", error)
            return
        with self.lock:
            assert self._profile is not None
            self._profile = BotProfile(self._profile.id, self._profile.username, _digest(self.commands))
            self.store.save_profile(self._profile)


def _digest(commands: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(commands, sort_keys=True).encode()).hexdigest()[:16]


def _names_anyone(update: object) -> bool:
    """Whether deciding about this update may need the bot's @username: a group message, or an @ anywhere."""
    incoming = conversation.parse_update(update)
    return incoming is not None and (incoming.chat_type in conversation.GROUP_TYPES or "@" in (incoming.text or ""))
