"""Groups that became supergroups: where each chat lives now, with its memory, persona, model and daily count moved along."""

from __future__ import annotations

import logging
import threading
from typing import Protocol

log = logging.getLogger(__name__)


class Movable(Protocol):
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...


class Savable(Movable, Protocol):
    def save(self) -> None: ...


class MovedChats:
    """Old chat id -> new, for the replies; ``counting`` is the lock the daily count is kept under."""

    def __init__(
        self, memory: Movable | None, usage: Savable | None, counting: threading.Lock, *, personas: Movable | None = None,
        models: Movable | None = None,
    ) -> None:
        self.memory = memory
        self.usage = usage
        self.personas = personas
        self.models = models  # the model the chat picked (/model)
        self.counting = counting
        self._moved: dict[int, int] = {}
        self._moving = threading.Lock()  # one move at a time, each whole before it is recorded

    def where(self, chat_id: int) -> int:
        """Where a chat lives now: a group that became a supergroup has a new id."""
        return self._moved.get(chat_id, chat_id)

    def moved(self, old_chat_id: int, new_chat_id: int) -> None:
        """Replies, memory, the persona, the model picked and today's count follow a group that became a supergroup.

        Both chats' workers may hear of the move at once (each gets a service message): the second
        waits until the first has moved everything, and the move is recorded only then, so the
        supergroup's questions never meet a memory still on its way.
        """
        with self._moving:
            if self._moved.get(old_chat_id) == new_chat_id:
                return
            if self.memory is not None:
                self.memory.move(old_chat_id, new_chat_id)
            if self.personas is not None:
                self.personas.move(old_chat_id, new_chat_id)
            if self.models is not None:
                self.models.move(old_chat_id, new_chat_id)
            with self.counting:
                if self.usage is not None:
                    self.usage.move(old_chat_id, new_chat_id)
                    self.usage.save()
                self._moved[old_chat_id] = new_chat_id
        log.info("a group became a supergroup: its replies, memory, persona, model and daily count follow it")
