"""Updates on their way in: pages fetched from the lowest unfinished update into the ledger, and, per chat,
what waits for the chat's turn; with the rule for when another page is worth fetching while work is in hand."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import conversation
from .delivery import Ledger
from .run_report import RunReport
from .state import ids_restarted

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # getUpdates' maximum
REFRESH = 1.0  # seconds after a short page before new messages are worth a look while work is in hand


class Intake:
    """The run's updates, fetched and waiting: per chat in the order the chats appeared; a chat being served is busy."""

    def __init__(
        self, bot: Any, ledger: Ledger, report: RunReport, *,
        retrying: Callable[[str, Callable[[], Any]], Any], clock: Callable[[], float],
    ) -> None:
        self.bot = bot
        self.ledger = ledger
        self.report = report
        self.retrying = retrying
        self.clock = clock
        self.pending: dict[int, list[Any]] = {}
        self.busy: set[int] = set()
        self.last = LastFetch()

    def fetch(self, *, limit: int, poll: int, save: bool) -> list[Any]:
        """The next updates from the lowest unfinished one, taken into the ledger: only those not seen yet.

        With ``save`` False (a dry run) nothing is recorded.
        """
        offset = self.ledger.checkpoint.offset
        updates = self.retrying(
            "getUpdates",
            lambda: self.bot.get_updates(offset, limit=limit, timeout=poll, allowed_updates=conversation.ALLOWED_UPDATES),
        ) or []
        page = {i: u for u in updates if (i := conversation.update_id_of(u)) is not None}
        if page and ids_restarted(offset, page):
            if self.ledger.waiting:  # cannot be a restart while updates of this sequence are in hand
                page = {i: u for i, u in page.items() if i >= offset}
            else:
                log.warning(
                    "Telegram's update ids restarted below the stored offset %d (a quiet week, or state/ from "
                    "another bot): the stored offset is stale, continuing from update %d", offset, min(page),
                )
                self.report.ids_restarted = True
                self.ledger.restart(min(page), save=save)
        if not save:
            new = [i for i in sorted(page) if not self.ledger.checkpoint.is_finished(i)]
        else:
            new = self.ledger.take_in(list(page)) if page else []
        self.report.fetched += len(new)
        self.last = LastFetch(offset, self.clock(), full=len(updates) >= limit, new=len(new))
        return [page[i] for i in new]

    def worth_fetching(self, *, free: int, now: float) -> bool:
        """Whether to fetch again with work in hand and ``free`` workers (see LastFetch.worth_again)."""
        ready = self.ready()
        going_on = any(map(self._may_go_on, ready[:free]))  # of the chats about to be taken
        return self.last.worth_again(self.ledger.checkpoint.offset, len(ready), free, now, going_on=going_on)

    def _may_go_on(self, chat_id: int) -> bool:
        """Whether a chat's messages may go on past the last page: spaced as they are so far, the next
        would come after it. A chat with one message tells nothing."""
        ids = [i for u in self.pending[chat_id] if (i := conversation.update_id_of(u)) is not None]
        if len(ids) < 2:
            return False
        return max(ids) + (max(ids) - min(ids)) / (len(ids) - 1) > self.ledger.fetched_up_to

    def nothing_new(self) -> bool:
        """The last fetch, from where the run stands now, brought nothing."""
        return self.last.offset == self.ledger.checkpoint.offset and not self.last.new

    def add(self, chat_id: int, update: Any) -> None:
        self.pending.setdefault(chat_id, []).append(update)

    def ready(self) -> list[int]:
        return [chat for chat in self.pending if chat not in self.busy]

    def take(self, chat_id: int) -> list[Any]:
        self.busy.add(chat_id)
        return self.pending.pop(chat_id)

    def free(self, chat_id: int) -> None:
        self.busy.discard(chat_id)


@dataclass(frozen=True)
class LastFetch:
    """The run's last getUpdates: from which offset, when it ended, whether its page was full, how many new updates."""

    offset: int | None = None
    at: float = 0.0
    full: bool = False
    new: int = 0

    def worth_again(self, offset: int, ready: int, free: int, now: float, *, going_on: bool = False) -> bool:
        """Whether to fetch again with work in hand (``ready`` chats waiting for a turn, ``free`` workers;
        ``going_on``: a chat about to be taken may have more messages on the next page).

        After a full page, more waits: fetch before a chat that may go on is taken, and before the last
        chats in hand are, so that their messages on the next page still join their questions, and the
        freed workers get new chats; not after every finished update, which would re-read the page
        once per reply. After a short page, only when a worker would idle and new messages may have
        come in since. Never again from the same offset: the real server throttles that.
        """
        if offset == self.offset:
            return False
        if self.full:
            return ready <= free or going_on
        return ready < free and now - self.at >= REFRESH
