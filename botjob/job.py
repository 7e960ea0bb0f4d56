"""One batch: fetch what people sent, answer it, record every finished update; stay a while if people are talking.

This module holds the order of things and the delivery rules of DESIGN.md:
chats are answered in parallel, each chat in order, and while replies go out
the next updates are fetched from the lowest unfinished one when more may
wait, so the model stays busy and a chat's messages from several pages still
make one question. What came in and when to fetch again: intake.py; a chat's
turn in a worker: turns.py; how long to listen on: listening.py; sending and
recording: delivery.py; answering one piece of work: answering.py.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from . import conversation
from .answering import Answerer, Choices, Helpers, MediaModels, Memory, Model, Personas, Usage
from .chat_rules import chat_rules
from .config import Config
from .conversation import Action, BotIdentity, ChatRules, Work
from .delivery import Delivery, Ledger
from .errors import BotjobError, Failure
from .fallback import Fallback
from .identity import Identity, bot_commands
from .intake import PAGE_SIZE, Intake
from .lasting_trouble import follow_trouble
from .listening import Listening
from .moved_chats import MovedChats
from .pacing import Pacer
from .retrying import retry
from .run_report import RunReport
from .state import StateStore
from .stats import StatsBook
from .telegram import TelegramClient
from .turns import Turns

log = logging.getLogger(__name__)

T = TypeVar("T")


class BatchJob:
    """Answers everything waiting for one bot, once: chats in parallel, each chat in order."""

    def __init__(
        self,
        bot: TelegramClient,
        model: Model,
        store: StateStore,
        config: Config,
        *,
        memory: Memory | None = None,
        usage: Usage | None = None,
        media: MediaModels = MediaModels(),
        pictures_usage: Usage | None = None,
        personas: Personas | None = None,
        stats: StatsBook | None = None,
        choices: Choices | None = None,
        schedule: Callable[[], str] = lambda: "every few minutes",
        stay: float = 0.0,
        show_text: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        pacer: Pacer | None = None,
    ) -> None:
        self.bot, self.model, self.store, self.config = bot, model, store, config
        self.memory, self.usage, self.media, self.pictures_usage = memory, usage, media, pictures_usage
        self.personas = personas  # None: /persona is off, or there is no BOTJOB_STATE_KEY to keep personas with
        self.stats = stats  # None: no access.owners, so no /stats and no state/stats.json
        self.choices = choices  # /model: None without llm.choices (or in a dry run, which asks no model)
        self._schedule = schedule  # read only when a greeting needs it
        self.stay = stay  # run.stay in seconds, "auto" already decided (wiring.stay_seconds)
        self.show_text = show_text  # local debugging only; never set inside GitHub Actions
        self.clock, self.sleep, self.wall_clock = clock, sleep, wall_clock
        self.pacer = pacer or Pacer()
        self._deadline = 0.0
        self._counting = threading.Lock()  # report counters and the daily usage, shared by the workers
        self._moves = MovedChats(memory, usage, self._counting, personas=personas, models=choices)
        self._me = Identity(bot, store, bot_commands(memory is not None, media.pictures is not None, personas=personas is not None,
                                                     models=bool(config.llm.choices)),
                            retrying=self._retrying, beside=self._beside, lock=self._counting)
        self._identity = BotIdentity(0)
        self._listening = Listening(0.0, 0.0)
        self._stopping = threading.Event()
        self._helpers: ThreadPoolExecutor | None = None

    def run_once(self, *, dry_run: bool = False, max_updates: int | None = None, linger: float = 0) -> RunReport:
        """Drain the queue; stop early on a time budget, a cap or a failure the next run must see.

        Then keep long-polling and answering new messages until ``linger``
        seconds after the start, or ``run.stay`` seconds after the last answer,
        whichever ends later (within the time budget).
        """
        if not dry_run:
            self.store.check_writable()
        checkpoint = self.store.load()
        report = RunReport(offset_before=checkpoint.offset, offset_after=checkpoint.offset, dry_run=dry_run)
        cap = max_updates if max_updates is not None else self.config.run.max_updates
        started = self.clock()
        self._deadline = started + self.config.run.time_budget
        self._listening = Listening(started, self._deadline, linger=linger, stay=self.stay)
        self._stopping.clear()
        self._me.new_run()
        for models in self._model_lists():
            models.new_run()  # a model set aside by the last run is asked again
        ledger = Ledger(self.store, checkpoint, report)
        try:
            if dry_run:
                self._look(ledger, report, cap)
            else:
                self._answer(ledger, report, cap)
        except BotjobError as error:
            report.error = error
            report.stopped = "transient failure, the next run retries" if error.kind is Failure.TRANSIENT else "needs the owner"
        report.models = [used for models in self._model_lists() if (used := models.used()) is not None]
        if not dry_run:
            self._listening.tell(report, self.clock())
            follow_trouble(self.store, report, now=self.wall_clock(), alert_after=self.config.run.alert_after)
            if self.stats is not None:
                self.stats.record(report)  # after follow_trouble: a trouble that lasted stopped the run for the owner
        return report

    def _look(self, ledger: Ledger, report: RunReport, cap: int) -> None:
        """A dry run: what the first page would get, with nothing sent or stored.

        Fetching a second page would confirm the first one to Telegram: a dry run looks at one only.
        """
        intake = Intake(self.bot, ledger, report, retrying=self._retrying, clock=self.clock)
        updates = intake.fetch(limit=min(PAGE_SIZE, cap) if cap > 0 else PAGE_SIZE, poll=0, save=False)
        if not updates:
            return
        for work in conversation.plan(updates, self._me.of(updates, dry_run=True), self.rules):
            outcome = "skipped" if work.action is Action.SKIP else "would_answer"
            setattr(report, outcome, getattr(report, outcome) + len(work.update_ids))
            log.info("update %s %s", work.ids, "finished without a reply" if outcome == "skipped" else "would be answered")
        report.stopped = "dry run: looked at the first page only"

    def _answer(self, ledger: Ledger, report: RunReport, cap: int) -> None:
        """Answer everything waiting, chats in parallel, fetching again when more may wait; then listen on
        for as long as ``self._listening`` says."""
        turns = Turns(report, ledger, self.config, clock=self.clock, deadline=self._deadline, counting=self._counting,
                      stopping=self._stopping, listening=self._listening, moves=self._moves, stats=self.stats)
        delivery = Delivery(
            self.bot, self.pacer, ledger, retries=self.config.run.retries, time_left=self._time_left,
            sleep=self.sleep, moved=self._moves.where, on_moved=self._moves.moved,
        )
        helpers = Helpers(
            retrying=self._retrying, beside=self._beside, chat_of=self._moves.where, count=turns.count,
            counting=self._counting, clock=self.clock, wall_clock=self.wall_clock, show_text=self.show_text,
            time_left=self._time_left,
        )
        turns.answerer = Answerer(
            self.bot, self.model, self.config, delivery, helpers,
            media=self.media, memory=self.memory, usage=self.usage, pictures_usage=self.pictures_usage,
            personas=self.personas, choices=self.choices,
            stats=self._stats_in_words if self.stats is not None else None,
        )
        intake = Intake(self.bot, ledger, report, retrying=self._retrying, clock=self.clock)
        running: dict[Future[None], int] = {}
        workers = self.config.run.concurrency
        with ThreadPoolExecutor(workers, thread_name_prefix="chat") as pool, self._helper_threads(workers):
            while True:
                stop = turns.reasons or self._stopping.is_set()
                idle = not running and not intake.pending
                capped = cap > 0 and report.fetched >= cap  # what is in hand is still answered
                if capped and idle:
                    report.stopped = f"reached the cap of {cap} updates"
                    return
                now = self.clock()
                if not stop and not capped and (idle or intake.worth_fetching(free=workers - len(running), now=now)):
                    if now >= self._deadline:
                        turns.reasons.append("time budget used up")
                        continue
                    # Listen only once a page came back short: after a full one, more waits already.
                    poll = self._listening.poll(now, answered=report.answered) if idle and not intake.last.full else 0
                    if idle and not poll and intake.nothing_new():
                        report.stopped = self._listening.why_done()
                        return
                    limit = PAGE_SIZE if cap <= 0 else min(PAGE_SIZE, cap - report.fetched)
                    self._take(intake.fetch(limit=limit, poll=poll, save=True), intake, turns)
                    continue
                for chat in intake.ready():
                    if len(running) >= workers or turns.reasons or self._stopping.is_set():
                        break
                    running[pool.submit(turns.serve, self._plan_chat(intake.take(chat), ledger))] = chat
                if not running:
                    if turns.reasons or self._stopping.is_set() or (intake.pending and not intake.ready()):
                        break
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    intake.free(running.pop(future))
                    future.result()  # a crash in a worker surfaces here
        if turns.failures:
            # The owner's problem first: it needs a fix, a passing one only a later run.
            raise min(turns.failures, key=lambda error: error.kind is not Failure.BOT_WIDE)
        if turns.reasons:
            report.stopped = turns.reasons[0]

    def _take(self, updates: list[Any], intake: Intake, turns: Turns) -> None:
        """New updates: those that concern no chat are finished now, the others wait for their chat's turn."""
        if not updates:
            return
        if self._identity.id == 0:  # the first updates of the run: get the model client ready meanwhile
            prepare = getattr(self.model, "prepare", None)
            if prepare is not None:
                self._beside(prepare)
        self._identity = self._me.of(updates, dry_run=False)
        for update in updates:
            chat_id = conversation.chat_of(update)
            if chat_id is None:
                for work in conversation.plan([update], self._identity, self.rules):
                    turns.skip(work)
            else:
                intake.add(chat_id, update)

    def _plan_chat(self, updates: list[Any], ledger: Ledger) -> list[Work]:
        """One chat's waiting updates as works, planned now so that a burst spread over pages is one question.

        Updates whose reply was cut short by an earlier run get a note saying so, not the reply again.
        """
        cut = [u for u in updates if conversation.update_id_of(u) in ledger.checkpoint.partly_sent]
        rest = [u for u in updates if u not in cut]
        works = [conversation.say_to(cut, self.config.reply.cut_short)] if cut else []
        return works + conversation.plan(rest, self._identity, self.rules)

    @functools.cached_property
    def rules(self) -> ChatRules:
        return chat_rules(self.config, self._schedule(), self.media, remembers=self.memory is not None,
                          keeps_personas=self.personas is not None, counts=self.stats is not None)

    def _stats_in_words(self, report: RunReport) -> str:
        """An owner's /stats: the days kept, with this run's counts so far (its models' too)."""
        assert self.stats is not None
        return self.stats.reply(report, [used for models in self._model_lists() if (used := models.used()) is not None])

    def _model_lists(self) -> list[Fallback]:
        """The lists of models this job asks (chat, hearing, reading images, drawing); a dry run's has none."""
        media = self.media
        return [models for models in (self.model, media.speech, media.vision, media.pictures) if isinstance(models, Fallback)]

    # ------------------------------------------------------------------ beside the work: "typing…", the menu, the model client

    def _helper_threads(self, count: int) -> ThreadPoolExecutor:
        """Threads for calls made beside the answering, never in its way; shut down with the run."""
        self._helpers = ThreadPoolExecutor(count, thread_name_prefix="helper")
        return self._helpers

    def _beside(self, call: Callable[[], None]) -> Future[None]:
        assert self._helpers is not None, "only while answering"
        return self._helpers.submit(call)

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation``, retrying passing trouble with backoff inside the time budget."""
        return retry(operation, what=what, retries=self.config.run.retries, time_left=self._time_left, sleep=self.sleep)

    def _time_left(self) -> float:
        return self._deadline - self.clock()

