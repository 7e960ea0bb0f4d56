"""One batch: fetch what people sent, answer it, record every finished update.

This module holds the order of things and the delivery rules of DESIGN.md:
chats are answered in parallel, each chat in order, and while replies go out
the next updates are fetched from the lowest unfinished one, so the model
stays busy and a chat's messages from several pages still make one question.
Sending and recording live in delivery.py; Telegram, the model and the state
files in their own modules, reaching this one as objects passed in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import conversation
from .answering import Answerer, Helpers, MediaModels, Memory, Model, Usage, model_calls
from .config import Config
from .conversation import Action, BotIdentity, ChatRules, Work
from .delivery import Delivery, Ledger
from .errors import BotjobError, Failure, LastingTrouble
from .pacing import Pacer
from .retrying import retry
from .state import BotProfile, StateStore, Trouble, ids_restarted
from .telegram import TelegramClient

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # getUpdates' maximum
COMMANDS = [
    {"command": "start", "description": "What this bot does"},
    {"command": "help", "description": "How to use it"},
    {"command": "reset", "description": "Forget our conversation"},  # offered only when the bot remembers
    {"command": "image", "description": "Draw a picture: /image what to draw"},  # only when it draws
]

T = TypeVar("T")


def bot_commands(remembers: bool, draws: bool = False) -> list[dict[str, str]]:
    """The command menu: /reset only for a bot with memory, which has something to forget; /image
    only for a bot that draws."""
    offered = {"reset": remembers, "image": draws}
    return [c for c in COMMANDS if offered.get(c["command"], True)]


def _digest(commands: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(commands, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class RunReport:
    """What one run did, in counts, ids and timings only (it may end up in a public log)."""

    offset_before: int
    offset_after: int = 0
    fetched: int = 0  # updates taken in from Telegram
    answered: int = 0  # updates that got their reply (a burst of three counts three)
    skipped: int = 0  # finished without a reply: not for the bot, or nothing to say
    failed: int = 0  # got an apology, or the chat could not receive the reply
    would_answer: int = 0  # dry run: updates that would get a reply
    model_calls: int = 0
    model_seconds: list[float] = field(default_factory=list)
    stopped: str = "nothing left to answer"
    ids_restarted: bool = False  # Telegram's update ids started again below the stored offset
    error: BotjobError | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None or self.error.kind is Failure.TRANSIENT


class _Chats:
    """Updates waiting to be worked on, per chat in the order chats appeared; a chat being served is busy."""

    def __init__(self) -> None:
        self.pending: dict[int, list[Any]] = {}
        self.busy: set[int] = set()

    def add(self, chat_id: int, update: Any) -> None:
        self.pending.setdefault(chat_id, []).append(update)

    def ready(self) -> list[int]:
        return [chat for chat in self.pending if chat not in self.busy]

    def take(self, chat_id: int) -> list[Any]:
        self.busy.add(chat_id)
        return self.pending.pop(chat_id)

    def free(self, chat_id: int) -> None:
        self.busy.discard(chat_id)


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
        schedule: Callable[[], str] = lambda: "every few minutes",
        show_text: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        pacer: Pacer | None = None,
    ) -> None:
        self.bot = bot
        self.model = model
        self.store = store
        self.config = config
        self.memory = memory
        self.usage = usage
        self.media = media
        self.pictures_usage = pictures_usage
        self._schedule = schedule  # read only when a greeting needs it
        self.show_text = show_text  # local debugging only; never set inside GitHub Actions
        self.clock = clock
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.pacer = pacer or Pacer()
        self._deadline = 0.0
        self._profile: BotProfile | None = None
        self._counting = threading.Lock()  # report counters and the daily usage, shared by the workers
        self._moved: dict[int, int] = {}  # groups that became supergroups: old chat id -> new
        self._moving = threading.Lock()  # one move at a time, each whole before it is recorded
        self._stopping = threading.Event()
        self._helpers: ThreadPoolExecutor | None = None
        self._answerer: Answerer | None = None
        self._identity = BotIdentity(0)
        self._registering = False  # the command menu is being registered by a helper

    def run_once(self, *, dry_run: bool = False, max_updates: int | None = None, linger: float = 0) -> RunReport:
        """Drain the queue; stop early on a time budget, a cap or a failure the next run must see.

        With ``linger``, keep long-polling and answering new messages until
        that many seconds after the start (within the time budget).
        """
        if not dry_run:
            self.store.check_writable()
        checkpoint = self.store.load()
        report = RunReport(offset_before=checkpoint.offset, offset_after=checkpoint.offset, dry_run=dry_run)
        cap = max_updates if max_updates is not None else self.config.run.max_updates
        started = self.clock()
        self._deadline = started + self.config.run.time_budget
        self._stopping.clear()
        self._registering = False
        ledger = Ledger(self.store, checkpoint, report)
        try:
            if dry_run:
                self._look(ledger, report, cap)
            else:
                self._answer(ledger, report, cap, linger_until=min(started + linger, self._deadline))
        except BotjobError as error:
            report.error = error
            report.stopped = "transient failure, the next run retries" if error.kind is Failure.TRANSIENT else "needs the owner"
        if not dry_run:
            self._follow_trouble(report)
        return report

    def _follow_trouble(self, report: RunReport) -> None:
        """A passing trouble exits 0, so one bad minute alarms nobody; one that keeps every run from
        answering anyone for ``run.alert_after`` fails the run, so that GitHub e-mails the owner."""
        error = report.error
        if error is not None and error.kind is not Failure.TRANSIENT:
            return  # the run fails already
        if error is None or report.answered + report.failed + report.skipped:
            self.store.save_trouble(None)  # a run that got through ends it (a damaged record too)
            return
        now = self.wall_clock()
        earlier = self.store.load_trouble(now=now)
        trouble = Trouble(earlier.since, earlier.runs + 1) if earlier else Trouble(now)
        self.store.save_trouble(trouble)
        lasted = now - trouble.since
        if lasted >= self.config.run.alert_after:
            report.error = LastingTrouble(error, lasted, trouble.runs)
            report.stopped = "a passing trouble lasted too long: needs the owner"

    # ------------------------------------------------------------------ fetching

    def _fetch(self, ledger: Ledger, report: RunReport, *, limit: int, poll: int, save: bool) -> tuple[list[Any], bool]:
        """The next updates from the lowest unfinished one, taken into the ledger: only those not seen yet;
        and whether the page was full (more may wait)."""
        offset = ledger.checkpoint.offset
        updates = self._retrying(
            "getUpdates",
            lambda: self.bot.get_updates(offset, limit=limit, timeout=poll, allowed_updates=conversation.ALLOWED_UPDATES),
        )
        page = {i: u for u in updates or [] if (i := conversation.update_id_of(u)) is not None}
        full = len(updates or []) >= limit
        if not page:
            return [], full
        if ids_restarted(offset, page):
            if ledger.waiting:  # cannot be a restart while updates of this sequence are in hand
                page = {i: u for i, u in page.items() if i >= offset}
            else:
                log.warning(
                    "Telegram's update ids restarted below the stored offset %d (a quiet week, or state/ from "
                    "another bot): the stored offset is stale, continuing from update %d", offset, min(page),
                )
                report.ids_restarted = True
                ledger.restart(min(page), save=save)
        if not page:
            return [], full
        new = ledger.take_in(list(page)) if save else [i for i in sorted(page) if not ledger.checkpoint.is_finished(i)]
        report.fetched += len(new)
        return [page[i] for i in new], full

    def _look(self, ledger: Ledger, report: RunReport, cap: int) -> None:
        """A dry run: what the first page would get, with nothing sent or stored.

        Fetching a second page would confirm the first one to Telegram: a dry run looks at one only.
        """
        updates, _ = self._fetch(ledger, report, limit=min(PAGE_SIZE, cap) if cap > 0 else PAGE_SIZE, poll=0, save=False)
        if not updates:
            return
        for work in conversation.plan(updates, self._bot_identity(updates, dry_run=True), self.rules):
            outcome = "skipped" if work.action is Action.SKIP else "would_answer"
            setattr(report, outcome, getattr(report, outcome) + len(work.update_ids))
            log.info("update %s %s", work.ids, "finished without a reply" if outcome == "skipped" else "would be answered")
        report.stopped = "dry run: looked at the first page only"

    # ------------------------------------------------------------------ answering

    def _answer(self, ledger: Ledger, report: RunReport, cap: int, linger_until: float) -> None:
        """Answer everything waiting, chats in parallel; fetch again as soon as the offset moves on."""
        delivery = Delivery(
            self.bot, self.pacer, ledger,
            retries=self.config.run.retries, time_left=self._time_left,
            sleep=self.sleep, moved=self._chat_of, on_moved=self._chat_moved,
        )
        helpers = Helpers(
            retrying=self._retrying, beside=self._beside, chat_of=self._chat_of, count=self._count,
            counting=self._counting, clock=self.clock, wall_clock=self.wall_clock, show_text=self.show_text,
        )
        self._answerer = Answerer(
            self.bot, self.model, self.config, delivery, helpers,
            media=self.media, memory=self.memory, usage=self.usage, pictures_usage=self.pictures_usage,
        )
        chats = _Chats()
        running: dict[Future[None], int] = {}
        reasons: list[str] = []
        failures: list[BotjobError] = []
        workers = self.config.run.concurrency
        fetched_from: int | None = None
        more_waiting = False  # the last page was full: Telegram probably holds more
        with ThreadPoolExecutor(workers, thread_name_prefix="chat") as pool, self._helper_threads(workers):
            while True:
                stop = reasons or self._stopping.is_set()
                idle = not running and not chats.pending
                offset = ledger.checkpoint.offset
                # Fetch when nothing is in hand; and, once the offset moved on since the last fetch (the real
                # server throttles a repeated offset), when more may wait or a worker would idle: a chat's
                # messages on the next page then join its question before the chat's turn comes.
                starving = len(chats.ready()) < workers - len(running)
                capped = cap > 0 and report.fetched >= cap  # what is in hand is still answered
                if capped and idle:
                    report.stopped = f"reached the cap of {cap} updates"
                    return
                if not stop and not capped and (idle or (offset != fetched_from and (more_waiting or starving))):
                    if self.clock() >= self._deadline:
                        reasons.append("time budget used up")
                        continue
                    lingering = idle and self.clock() < linger_until
                    poll = int(min(25, linger_until - self.clock())) if lingering else 0
                    limit = PAGE_SIZE if cap <= 0 else min(PAGE_SIZE, cap - report.fetched)
                    updates, more_waiting = self._fetch(ledger, report, limit=limit, poll=max(0, poll), save=True)
                    fetched_from = offset
                    self._take(updates, ledger, report, chats)
                    if idle and not updates and not chats.pending:
                        if poll >= 1:
                            continue  # lingering: wait on Telegram for new messages instead of ending the run
                        return
                for chat in chats.ready():
                    if len(running) >= workers or reasons or self._stopping.is_set():
                        break
                    works = self._plan_chat(chats.take(chat), ledger)
                    running[pool.submit(self._serve, works, ledger, report, reasons, failures)] = chat
                if not running:
                    if reasons or self._stopping.is_set() or (chats.pending and not chats.ready()):
                        break
                    continue
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    chats.free(running.pop(future))
                    future.result()  # a crash in a worker surfaces here
        if failures:
            # The owner's problem first: it needs a fix, a passing one only a later run.
            raise min(failures, key=lambda error: error.kind is not Failure.BOT_WIDE)
        if reasons:
            report.stopped = reasons[0]

    def _take(self, updates: list[Any], ledger: Ledger, report: RunReport, chats: _Chats) -> None:
        """New updates: those that concern no chat are finished now, the others wait for their chat's turn."""
        if not updates:
            return
        if self._identity.id == 0:  # the first updates of the run: get the model client ready meanwhile
            prepare = getattr(self.model, "prepare", None)
            if prepare is not None:
                self._beside(prepare)
        self._identity = self._bot_identity(updates, dry_run=False)
        for update in updates:
            chat_id = conversation.chat_of(update)
            if chat_id is None:
                for work in conversation.plan([update], self._identity, self.rules):
                    self._skip(work, ledger, report)
            else:
                chats.add(chat_id, update)

    def _plan_chat(self, updates: list[Any], ledger: Ledger) -> list[Work]:
        """One chat's waiting updates as works, planned now so that a burst spread over pages is one question.

        Updates whose reply was cut short by an earlier run get a note saying so, not the reply again.
        """
        cut = [u for u in updates if conversation.update_id_of(u) in ledger.checkpoint.partly_sent]
        rest = [u for u in updates if u not in cut]
        works = [conversation.say_to(cut, self.config.reply.cut_short)] if cut else []
        return works + conversation.plan(rest, self._identity, self.rules)

    def _serve(self, works: list[Work], ledger: Ledger, report: RunReport, reasons: list[str], failures: list[BotjobError]) -> None:
        """One chat's works, in order, in a worker thread."""
        for work in works:
            if work.action is Action.SKIP:
                self._skip(work, ledger, report)
                continue
            reason = self._why_stop(work, report)
            if reason:
                reasons.append(reason)
                return
            try:
                assert self._answerer is not None
                self._count(report, self._answerer.answer(work, ledger, report), work)
            except BotjobError as error:
                failures.append(error)
                self._stopping.set()  # the other chats stop after what they are doing
                return
            except BaseException:  # a crash: stop the others, let it surface
                self._stopping.set()
                raise

    def _why_stop(self, work: Work, report: RunReport) -> str:
        if self._stopping.is_set():
            return "stopped by a failure"
        if self.clock() >= self._deadline:
            return "time budget used up"
        cap, needed = self.config.run.max_model_calls, model_calls(work)
        if needed:
            with self._counting:
                if cap and report.model_calls + needed > cap:
                    return f"reached the cap of {cap} model calls"
                report.model_calls += needed  # reserved now, so parallel workers never pass the cap
        return ""

    @functools.cached_property
    def rules(self) -> ChatRules:
        menu = "\n".join(f"/{c['command']} - {c['description'][0].lower()}{c['description'][1:]}" for c in bot_commands(self.memory is not None, self.media.pictures is not None))
        return _rules(self.config, self._schedule(), menu, self.media)

    def _count(self, report: RunReport, outcome: str, work: Work) -> None:
        with self._counting:
            setattr(report, outcome, getattr(report, outcome) + len(work.update_ids))
        log.info("update %s %s", work.ids, outcome)

    def _skip(self, work: Work, ledger: Ledger, report: RunReport) -> None:
        if work.moved:
            self._chat_moved(*work.moved)
        ledger.finish(work)
        with self._counting:
            report.skipped += len(work.update_ids)
        log.info("update %s finished without a reply (%s)", work.ids, work.reason)

    # ------------------------------------------------------------------ beside the work: "typing…", the menu, the model client

    def _helper_threads(self, count: int) -> ThreadPoolExecutor:
        """Threads for calls made beside the answering, never in its way; shut down with the run."""
        self._helpers = ThreadPoolExecutor(count, thread_name_prefix="helper")
        return self._helpers

    def _beside(self, call: Callable[[], None]) -> Future[None]:
        assert self._helpers is not None, "only while answering"
        return self._helpers.submit(call)

    # ------------------------------------------------------------------ chats and the bot itself

    def _chat_of(self, chat_id: int) -> int:
        """Where a chat lives now: a group that became a supergroup has a new id."""
        return self._moved.get(chat_id, chat_id)

    def _chat_moved(self, old_chat_id: int, new_chat_id: int) -> None:
        """Replies, memory and today's count follow a group that became a supergroup.

        Both chats' workers may hear of the move at once (each gets a service message): the second
        waits until the first has moved everything, and the move is recorded only then, so the
        supergroup's questions never meet a memory still on its way.
        """
        with self._moving:
            if self._moved.get(old_chat_id) == new_chat_id:
                return
            if self.memory is not None:
                self.memory.move(old_chat_id, new_chat_id)
            with self._counting:
                if self.usage is not None:
                    self.usage.move(old_chat_id, new_chat_id)
                    self.usage.save()
                self._moved[old_chat_id] = new_chat_id
        log.info("a group became a supergroup: its replies, memory and daily count follow it")

    def _bot_identity(self, updates: list[object], dry_run: bool) -> BotIdentity:
        """Who the bot is, from state/ or one getMe when a message may name it by its @username.

        Also registers the command menu once (best effort). Private chats need
        neither call: the bot's id is in its token.
        """
        profile = self._profile or self.store.load_profile()
        if profile is None or profile.id != self.bot.bot_id:
            profile = BotProfile(self.bot.bot_id or 0, "")
        if not profile.username and any(map(_names_anyone, updates)):
            me = self._retrying("getMe", self.bot.get_me)
            profile = BotProfile(int(me["id"]), str(me.get("username") or ""), profile.commands)
        if profile != self._profile and not dry_run:
            self.store.save_profile(profile)
        self._profile = profile
        commands = bot_commands(self.memory is not None, self.media.pictures is not None)
        if profile.commands != _digest(commands) and not dry_run and not self._registering:
            self._registering = True
            self._beside(lambda: self._register(commands))
        return BotIdentity(profile.id, profile.username)

    def _register(self, commands: list[dict[str, str]]) -> None:
        """The command menu, registered once (remembered in state/); a nicety, so tried again next run on failure."""
        try:
            self.bot.set_my_commands(commands)
        except BotjobError as error:
            log.info("commands not registered (%s)", error)
            return
        with self._counting:
            assert self._profile is not None
            self._profile = BotProfile(self._profile.id, self._profile.username, _digest(commands))
            self.store.save_profile(self._profile)

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation``, retrying passing trouble with backoff inside the time budget."""
        return retry(operation, what=what, retries=self.config.run.retries, time_left=self._time_left, sleep=self.sleep)

    def _time_left(self) -> float:
        return self._deadline - self.clock()


def _names_anyone(update: object) -> bool:
    """Whether deciding about this update may need the bot's @username: a group message, or an @ anywhere."""
    incoming = conversation.parse_update(update)
    return incoming is not None and (incoming.chat_type in conversation.GROUP_TYPES or "@" in (incoming.text or ""))


def _rules(config: Config, schedule: str, commands: str, media: MediaModels) -> ChatRules:
    from .media import AUDIO_TYPES

    return ChatRules(
        groups=config.chat.groups,
        merge_bursts=config.chat.merge_bursts,
        reply_context=config.chat.reply_context,
        allow=config.access.allow,
        greeting=config.reply.greeting,
        help=config.reply.help,
        reset=config.reply.reset,
        non_text=config.reply.non_text,
        refusal=config.access.refusal,
        schedule=schedule,
        commands=commands,
        voice=media.speech is not None,  # a bot that cannot hear says so (reply.voice_off)
        photos=media.vision is not None,
        images=config.media.images,
        max_voice_seconds=config.media.max_voice_seconds,
        hears=frozenset(AUDIO_TYPES),  # what Hugging Face's speech server decodes; no video
        voice_too_long=config.reply.voice_too_long,
        voice_off=config.reply.voice_off,
        photos_off=config.reply.photos_off,
        video_note_unheard=config.reply.video_note_unheard,
        audio_unheard=config.reply.audio_unheard,
        file_too_big=config.reply.file_too_big,
        image_usage=config.reply.image_usage,
        images_off=config.reply.images_off,
    )

