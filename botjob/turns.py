"""A chat's turn, in a worker thread: its works in order, each checked against the stops and caps, answered, counted."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from .answering import Answerer, model_calls
from .config import Config
from .conversation import Action, Work
from .delivery import Ledger
from .errors import BotjobError
from .listening import Listening
from .moved_chats import MovedChats
from .run_report import RunReport
from .stats import StatsBook

log = logging.getLogger(__name__)


class Turns:
    """Serves chats' turns for one run; ``reasons`` to stop and ``failures`` are what the loop reads afterwards.

    ``answerer`` is set once made (it counts through ``count``).
    """

    def __init__(
        self,
        report: RunReport,
        ledger: Ledger,
        config: Config,
        *,
        clock: Callable[[], float],
        deadline: float,
        counting: threading.Lock,
        stopping: threading.Event,
        listening: Listening,
        moves: MovedChats,
        stats: StatsBook | None = None,
    ) -> None:
        self.report = report
        self.ledger = ledger
        self.config = config
        self.clock = clock
        self.deadline = deadline
        self.counting = counting
        self.stopping = stopping
        self.listening = listening
        self.moves = moves
        self.stats = stats  # the owner's counts (access.owners), kept as the run goes
        self.answerer: Answerer | None = None
        self.reasons: list[str] = []
        self.failures: list[BotjobError] = []

    def serve(self, works: list[Work]) -> None:
        """One chat's works, in order."""
        for work in works:
            if work.action is Action.SKIP:
                self.skip(work)
                continue
            reason = self._why_stop(work)
            if reason:
                self.reasons.append(reason)
                return
            try:
                assert self.answerer is not None
                self.count(self.report, self.answerer.answer(work, self.ledger, self.report), work)
            except BotjobError as error:
                self.failures.append(error)
                self.stopping.set()  # the other chats stop after what they are doing
                return
            except BaseException:  # a crash: stop the others, let it surface
                self.stopping.set()
                raise

    def skip(self, work: Work) -> None:
        if work.moved:
            self.moves.moved(*work.moved)
        self.ledger.finish(work)
        with self.counting:
            self.report.skipped += len(work.update_ids)
        log.info("update %s finished without a reply (%s)", work.ids, work.reason)

    def count(self, report: RunReport, outcome: str, work: Work) -> None:
        with self.counting:
            setattr(report, outcome, getattr(report, outcome) + len(work.update_ids))
            # Someone is there, reading: stay for what they write next. A greeting counts (the first
            # question tends to follow it); the refusal to someone not allowed does not.
            if outcome == "answered" and not (work.action is Action.SAY and work.text == self.config.access.refusal):
                self.listening.answered(self.clock())
            if outcome == "answered" and self.stats is not None:
                self.stats.answered(work, self.moves.where(work.chat_id))
        log.info("update %s %s", work.ids, outcome)

    def _why_stop(self, work: Work) -> str:
        if self.stopping.is_set():
            return "stopped by a failure"
        if self.clock() >= self.deadline:
            return "time budget used up"
        cap, needed = self.config.run.max_model_calls, model_calls(work)
        if needed:
            with self.counting:
                if cap and self.report.model_calls + needed > cap:
                    return f"reached the cap of {cap} model calls"
                self.report.model_calls += needed  # reserved now, so parallel workers never pass the cap
        return ""
