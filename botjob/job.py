"""One batch: fetch what people sent, answer it, checkpoint after every finished update.

This module holds the order of things and the delivery rules of DESIGN.md;
the details of Telegram, the model and the state files live in their own
modules and reach this one as objects passed in.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, TypeVar

from . import conversation
from .config import Config
from .errors import BotjobError, Failure
from .state import Checkpoint, StateStore
from .telegram import TelegramClient

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # getUpdates' maximum
EMPTY_REPLY = "…"  # sent when the model's whole answer was reasoning or blank

T = TypeVar("T")


class Model(Protocol):
    def reply(self, messages: list[dict[str, str]]) -> str: ...


@dataclass
class RunReport:
    """What one run did, in counts, ids and timings only (it may end up in a public log)."""

    offset_before: int
    offset_after: int = 0
    fetched: int = 0
    answered: int = 0
    skipped: int = 0
    failed: int = 0
    would_answer: int = 0
    model_seconds: list[float] = field(default_factory=list)
    stopped: str = "nothing left to answer"
    error: BotjobError | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None or self.error.kind is Failure.TRANSIENT


class BatchJob:
    """Answers everything waiting for one bot, once."""

    def __init__(
        self,
        bot: TelegramClient,
        model: Model,
        store: StateStore,
        config: Config,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.bot = bot
        self.model = model
        self.store = store
        self.config = config
        self.clock = clock
        self.sleep = sleep
        self._deadline = 0.0

    def run_once(self, *, dry_run: bool = False, max_updates: int | None = None) -> RunReport:
        """Drain the queue; stop early on a time budget, an update cap or a failure the next run must see."""
        checkpoint = self.store.load()
        report = RunReport(offset_before=checkpoint.offset, offset_after=checkpoint.offset, dry_run=dry_run)
        cap = max_updates if max_updates is not None else self.config.run.max_updates
        self._deadline = self.clock() + self.config.run.time_budget
        try:
            self._drain(checkpoint, report, cap, dry_run)
        except BotjobError as error:
            report.error = error
            report.stopped = "transient failure, the next run retries" if error.kind is Failure.TRANSIENT else "needs the owner"
        return report

    def _drain(self, checkpoint: Checkpoint, report: RunReport, cap: int, dry_run: bool) -> None:
        while True:
            limit = PAGE_SIZE if cap <= 0 else min(PAGE_SIZE, cap - report.fetched)
            if limit <= 0:
                report.stopped = f"reached the cap of {cap} updates"
                return
            if self.clock() >= self._deadline:
                report.stopped = "time budget used up"
                return
            updates = self._retrying(
                "getUpdates",
                lambda: self.bot.get_updates(
                    checkpoint.offset, limit=limit, timeout=0, allowed_updates=conversation.ALLOWED_UPDATES
                ),
            )
            page = {i: u for u in updates or [] if (i := conversation.update_id_of(u)) is not None}
            if not page:
                return
            fetched_up_to = max(page)
            waiting = sorted(i for i in page if not checkpoint.is_finished(i))
            if not waiting and not dry_run:  # a page answered in an earlier run: just move past it
                checkpoint = self._checkpoint(checkpoint.finish(fetched_up_to, still_waiting=(), fetched_up_to=fetched_up_to), report)
            while waiting:
                if self.clock() >= self._deadline:
                    report.stopped = "time budget used up"
                    return
                update_id = waiting.pop(0)
                report.fetched += 1
                self._handle(page[update_id], report, dry_run)
                if not dry_run:
                    checkpoint = self._checkpoint(checkpoint.finish(update_id, still_waiting=waiting, fetched_up_to=fetched_up_to), report)
            if dry_run:
                # Fetching the next page would confirm this one to Telegram: a dry run looks at one page only.
                report.stopped = "dry run: looked at the first page only"
                return

    def _checkpoint(self, checkpoint: Checkpoint, report: RunReport) -> Checkpoint:
        self.store.save(checkpoint)
        report.offset_after = checkpoint.offset
        return checkpoint

    def _handle(self, update: dict[str, Any], report: RunReport, dry_run: bool) -> None:
        incoming = conversation.parse_update(update)
        if incoming is None or not conversation.wants_answer(incoming):
            report.skipped += 1
            log.info("update %s finished without a reply", conversation.update_id_of(update))
            return
        if dry_run:
            report.would_answer += 1
            return
        messages = conversation.build_prompt(self.config.llm.system_prompt, incoming)
        started = self.clock()
        try:
            text = self._retrying("model", lambda: self.model.reply(messages))
        except BotjobError as error:
            if error.kind is not Failure.MESSAGE:
                raise  # bot-wide or lasting transient: the question stays unconfirmed for the next run
            log.warning("update %d: the model rejected the question (%s); apologising", incoming.update_id, error)
            report.failed += 1
            self._send(incoming, self.config.reply.apology)
            return
        report.model_seconds.append(self.clock() - started)
        text = conversation.clean_model_text(text) or EMPTY_REPLY
        if self._send(incoming, text):
            report.answered += 1
            log.info("update %d answered", incoming.update_id)
        else:
            report.failed += 1

    def _send(self, incoming: conversation.Incoming, text: str) -> bool:
        """Send a reply in as many parts as it takes; False when this chat cannot receive it."""
        for part in conversation.split_for_telegram(text):
            try:
                self._retrying(
                    "sendMessage",
                    lambda: self.bot.send_message(incoming.chat_id, part, reply_to_message_id=incoming.message_id),
                )
            except BotjobError as error:
                if error.kind is not Failure.MESSAGE:
                    raise
                log.warning("update %d: reply not delivered (%s)", incoming.update_id, error)
                return False
        return True

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation``, retrying transient failures with backoff inside the time budget."""
        attempt = 0
        while True:
            try:
                return operation()
            except BotjobError as error:
                if error.kind is not Failure.TRANSIENT or attempt >= self.config.run.retries:
                    raise
                delay = error.retry_after if error.retry_after is not None else _backoff(attempt)
                if self.clock() + delay >= self._deadline:
                    raise
                attempt += 1
                log.warning("%s: %s; retry %d in %.1f s", what, error, attempt, delay)
                self.sleep(delay)


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter: 0–1 s, 0–2 s, 0–4 s ... capped at 30 s."""
    return random.uniform(0.5, 1.0) * min(30.0, 2.0**attempt)
