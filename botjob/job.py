"""One batch: fetch what people sent, answer it, checkpoint after every finished update.

This module holds the order of things and the delivery rules of DESIGN.md;
the details of Telegram, the model and the state files live in their own
modules and reach this one as objects passed in.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Protocol, TypeVar

from . import conversation, formatting
from .config import Config
from .conversation import Action, BotIdentity, ChatRules, Work
from .errors import BotjobError, Failure, LastingTrouble, TelegramError
from .state import BotProfile, Checkpoint, StateStore, Trouble
from .telegram import TelegramClient

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # getUpdates' maximum
COMMANDS = [
    {"command": "start", "description": "What this bot does"},
    {"command": "help", "description": "How to use it"},
    {"command": "reset", "description": "Forget our conversation"},  # offered only when the bot remembers
]


def bot_commands(remembers: bool) -> list[dict[str, str]]:
    """The command menu: /reset only for a bot with memory, which has something to forget."""
    return [c for c in COMMANDS if remembers or c["command"] != "reset"]


def _digest(commands: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(commands, sort_keys=True).encode()).hexdigest()[:16]

T = TypeVar("T")


class Model(Protocol):
    def reply(self, messages: list[dict[str, str]]) -> str: ...


class Memory(Protocol):
    def load(self, chat_id: int) -> list[dict[str, str]]: ...
    def remember(self, chat_id: int, user_text: str, assistant_text: str) -> None: ...
    def forget(self, chat_id: int) -> bool: ...
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...


class Usage(Protocol):
    def check(self, chat_id: int) -> str: ...  # "ok", "last-warning" or "silent"
    def mark_told(self, chat_id: int) -> None: ...
    def count(self, chat_id: int) -> None: ...
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...
    def save(self) -> None: ...


@dataclass
class RunReport:
    """What one run did, in counts, ids and timings only (it may end up in a public log)."""

    offset_before: int
    offset_after: int = 0
    fetched: int = 0
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


class _Ledger:
    """The checkpoint of the page being worked on. Finishing an update and saving it is one step.

    Its lock is held from the first part of a reply going out until the
    reply's updates are saved, so a crash can catch at most one reply sent
    but not recorded, however many chats are in flight.
    """

    def __init__(self, store: StateStore, checkpoint: Checkpoint, report: RunReport) -> None:
        self.store = store
        self.checkpoint = checkpoint
        self.report = report
        self.lock = threading.RLock()
        self.waiting: list[int] = []
        self.fetched_up_to = 0

    def restart(self, first_id: int, *, save: bool) -> None:
        """Telegram's update ids started again below the stored offset: forget the old sequence."""
        with self.lock:
            if save:
                self._save(Checkpoint(first_id))
            else:
                self.checkpoint = Checkpoint(first_id)

    def open_page(self, ids: list[int]) -> list[int]:
        """The ids of a fetched page not finished yet (a page finished in an earlier run is passed over)."""
        with self.lock:
            self.fetched_up_to = max(ids)
            self.waiting = sorted(i for i in ids if not self.checkpoint.is_finished(i))
            if not self.waiting:
                self._save(self.checkpoint.finish(self.fetched_up_to, still_waiting=(), fetched_up_to=self.fetched_up_to))
            return list(self.waiting)

    def finish(self, work: Work) -> None:
        with self.lock:
            waiting = [i for i in self.waiting if i not in work.update_ids]
            checkpoint = self.checkpoint
            for update_id in work.update_ids:
                checkpoint = checkpoint.finish(update_id, still_waiting=waiting, fetched_up_to=self.fetched_up_to)
            self._save(checkpoint)
            self.waiting = waiting  # only once saved: a failed save must not let the offset pass this work

    def _save(self, checkpoint: Checkpoint) -> None:
        self.store.save(checkpoint)
        self.checkpoint = checkpoint
        self.report.offset_after = checkpoint.offset


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
        schedule: Callable[[], str] = lambda: "every few minutes",
        show_text: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot = bot
        self.model = model
        self.store = store
        self.config = config
        self.memory = memory
        self.usage = usage
        self._schedule = schedule  # read only when a greeting needs it
        self.show_text = show_text  # local debugging only; never set inside GitHub Actions
        self.clock = clock
        self.sleep = sleep
        self.wall_clock = wall_clock
        self._deadline = 0.0
        self._profile: BotProfile | None = None
        self._counting = threading.Lock()  # report counters and the daily usage, shared by the workers
        self._moved: dict[int, int] = {}  # groups that became supergroups: old chat id -> new
        self._stopping = threading.Event()

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
        ledger = _Ledger(self.store, checkpoint, report)
        try:
            self._drain(ledger, report, cap, dry_run, linger_until=min(started + linger, self._deadline))
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
        earlier = self.store.load_trouble()
        if error is None or report.answered + report.failed + report.skipped:
            if earlier is not None:
                self.store.save_trouble(None)  # a run that got through ends it
            return
        now = self.wall_clock()
        trouble = Trouble(earlier.since, earlier.runs + 1) if earlier else Trouble(now)
        self.store.save_trouble(trouble)
        lasted = now - trouble.since
        if lasted >= self.config.run.alert_after:
            report.error = LastingTrouble(error, lasted, trouble.runs)
            report.stopped = "a passing trouble lasted too long: needs the owner"

    def _drain(self, ledger: _Ledger, report: RunReport, cap: int, dry_run: bool, linger_until: float) -> None:
        while True:
            limit = PAGE_SIZE if cap <= 0 else min(PAGE_SIZE, cap - report.fetched)
            if limit <= 0:
                report.stopped = f"reached the cap of {cap} updates"
                return
            if self.clock() >= self._deadline:
                report.stopped = "time budget used up"
                return
            # Lingering: wait on Telegram for new messages instead of ending the run.
            poll = int(min(25, linger_until - self.clock())) if not dry_run else 0
            offset = ledger.checkpoint.offset
            updates = self._retrying(
                "getUpdates",
                lambda: self.bot.get_updates(offset, limit=limit, timeout=max(0, poll), allowed_updates=conversation.ALLOWED_UPDATES),
            )
            page = {i: u for u in updates or [] if (i := conversation.update_id_of(u)) is not None}
            if not page:
                if poll >= 1:
                    continue
                return
            if offset and min(page) < offset:
                # Telegram never returns an id below the offset it was sent unless its queue restarted
                # (ids are chosen anew after a week without updates; it then ignores an offset "in the future").
                log.warning(
                    "Telegram's update ids restarted below the stored offset %d (a quiet week, or state/ from "
                    "another bot): the stored offset is stale, continuing from update %d", offset, min(page),
                )
                report.ids_restarted = True
                ledger.restart(min(page), save=not dry_run)
            if dry_run:
                todo = [page[i] for i in sorted(page) if not ledger.checkpoint.is_finished(i)]
            else:
                todo = [page[i] for i in ledger.open_page(list(page))]
            if todo:
                works = conversation.plan(todo, self._bot_identity(todo, dry_run), self.rules)
                stopped = self._work_through(works, ledger, report, dry_run)
                if stopped:
                    report.stopped = stopped
                    return
            if dry_run:
                # Fetching the next page would confirm this one to Telegram: a dry run looks at one page only.
                report.stopped = "dry run: looked at the first page only"
                return

    def _work_through(self, works: list[Work], ledger: _Ledger, report: RunReport, dry_run: bool) -> str:
        """Do a page's work, chats in parallel; why it stopped early, or "" when all was done."""
        chats: dict[int, list[Work]] = {}
        for work in works:
            if work.action is Action.SKIP:
                self._skip(work, ledger, report, dry_run)
            else:
                chats.setdefault(work.chat_id, []).append(work)
        reasons: list[str] = []
        failures: list[BotjobError] = []

        def serve(queue: list[Work]) -> None:
            for work in queue:
                reason = self._why_stop(work, report)
                if reason:
                    reasons.append(reason)
                    return
                try:
                    self._do(work, ledger, report, dry_run)
                except BotjobError as error:
                    failures.append(error)
                    self._stopping.set()
                    return
                except BaseException:  # a crash: stop the others, let it surface
                    self._stopping.set()
                    raise

        workers = max(1, min(self.config.run.concurrency, len(chats)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chat") as pool:
            for future in [pool.submit(serve, queue) for queue in chats.values()]:
                future.result()
        if failures:
            # The owner's problem first: it needs a fix, a passing one only a later run.
            raise min(failures, key=lambda error: error.kind is not Failure.BOT_WIDE)
        return reasons[0] if reasons else ""

    def _why_stop(self, work: Work, report: RunReport) -> str:
        if self._stopping.is_set():
            return "stopped by a failure"
        if self.clock() >= self._deadline:
            return "time budget used up"
        cap = self.config.run.max_model_calls
        if work.action is Action.ASK:
            with self._counting:
                if cap and report.model_calls >= cap:
                    return f"reached the cap of {cap} model calls"
                report.model_calls += 1  # reserved now, so parallel workers never pass the cap
        return ""

    @functools.cached_property
    def rules(self) -> ChatRules:
        menu = "\n".join(f"/{c['command']} - {c['description'][0].lower()}{c['description'][1:]}" for c in bot_commands(self.memory is not None))
        return _rules(self.config, self._schedule(), menu)

    def _count(self, report: RunReport, outcome: str, work: Work) -> None:
        with self._counting:
            setattr(report, outcome, getattr(report, outcome) + len(work.update_ids))
        log.info("update %s %s", work.ids, _OUTCOME_WORDS.get(outcome, outcome))

    def _skip(self, work: Work, ledger: _Ledger, report: RunReport, dry_run: bool) -> None:
        report.fetched += len(work.update_ids)
        if work.moved and not dry_run:
            self._chat_moved(*work.moved)
        if not dry_run:
            ledger.finish(work)
        with self._counting:
            report.skipped += len(work.update_ids)
        log.info("update %s finished without a reply (%s)", work.ids, work.reason)

    def _do(self, work: Work, ledger: _Ledger, report: RunReport, dry_run: bool) -> None:
        with self._counting:
            report.fetched += len(work.update_ids)
        if dry_run:
            self._count(report, "would_answer", work)
            return
        if work.action is Action.ASK:
            outcome = self._ask(work, ledger, report)
        else:
            if work.action is Action.RESET and self.memory is not None:
                self.memory.forget(self._chat_of(work.chat_id))
            outcome = "answered" if self._deliver(work, work.text, ledger) else "failed"
        self._count(report, outcome, work)

    def _ask(self, work: Work, ledger: _Ledger, report: RunReport) -> str:
        """Answer a question with the model; the report field its outcome counts in."""
        with self._counting:
            allowance = self.usage.check(self._chat_of(work.chat_id)) if self.usage else "ok"
        if allowance != "ok":
            with self._counting:
                report.model_calls -= 1  # reserved in _why_stop, not used
            told = allowance == "last-warning" and self._deliver(work, self.config.access.daily_limit_reply, ledger)
            if allowance == "silent":
                ledger.finish(work)
            if told:
                with self._counting:
                    self.usage.mark_told(self._chat_of(work.chat_id))  # type: ignore[union-attr]
                    self.usage.save()  # type: ignore[union-attr]
            return "skipped"
        self._typing(self._chat_of(work.chat_id))
        history = self.memory.load(self._chat_of(work.chat_id)) if self.memory else []
        messages = conversation.build_prompt(self.config.llm.system_prompt, work.turns, history)
        if self.show_text:
            log.debug("prompt for update %s: %r", work.ids, messages)
        started = self.clock()
        try:
            raw = self._retrying("model", lambda: self.model.reply(messages))
        except BotjobError as error:
            return self._unanswerable(work, error, ledger, report)
        with self._counting:
            report.model_seconds.append(self.clock() - started)
        text = conversation.clean_model_text(raw) or self.config.reply.empty
        if not self._deliver(work, text, ledger, formatted=True):
            return "failed"
        if self.memory is not None:
            self.memory.remember(self._chat_of(work.chat_id), work.question, text)
        if self.usage is not None:
            with self._counting:
                self.usage.count(self._chat_of(work.chat_id))
                self.usage.save()
        return "answered"

    def _unanswerable(self, work: Work, error: BotjobError, ledger: _Ledger, report: RunReport) -> str:
        """The model gave no answer. Only a rejected question, or one about to expire, is finished here."""
        too_old = work.sent_at and self.wall_clock() - work.sent_at > self.config.run.max_age * 3600
        if error.kind is Failure.MESSAGE:
            log.warning("update %s: the model rejected the question (%s); apologising", work.ids, error)
            self._deliver(work, self.config.reply.apology, ledger)
            return "failed"
        if too_old:
            # Telegram drops it at 24 h: a short sorry beats silence, even when the bot is down.
            log.warning("update %s: still unanswerable near Telegram's 24 h limit (%s); saying sorry", work.ids, error)
            self._deliver(work, self.config.reply.too_late, ledger)
            if error.kind is Failure.TRANSIENT:
                return "failed"
            self._count(report, "failed", work)  # finished with a sorry, though the run stops for the owner
        raise error  # bot-wide or lasting: the question stays unconfirmed for the next run

    def _typing(self, chat_id: int) -> None:
        """Shows "typing…" while the model thinks; purely cosmetic, so any failure is ignored."""
        try:
            self.bot.send_chat_action(chat_id)
        except BotjobError as error:
            log.debug("typing indicator not shown (%s)", error)

    def _deliver(self, work: Work, text: str, ledger: _Ledger, *, formatted: bool = False) -> bool:
        """Send a reply in as many parts as it takes and record the work finished, as one step.

        Only the model's answers are read as Markdown (``chat.format``); the
        fixed texts go as they are. False when this chat cannot receive it
        (blocked the bot, deleted): finished all the same.
        """
        message = formatting.plain(text)
        if formatted and self.config.chat.format == "markdown":
            converted = formatting.from_markdown(text)
            message = converted if converted.text.strip() else message  # never an empty reply for an odd answer
        with ledger.lock:
            delivered = self._send(work, message)
            ledger.finish(work)
        return delivered

    def _send(self, work: Work, message: formatting.Formatted) -> bool:
        for part in formatting.split(message):
            try:
                self._send_part(work, part)
            except BotjobError as error:
                if error.kind is not Failure.MESSAGE:
                    raise
                log.warning("update %s: reply not delivered (%s)", work.ids, error)
                return False
        return True

    def _send_part(self, work: Work, part: formatting.Formatted) -> None:
        def send(entities: tuple[dict[str, object], ...]) -> object:
            chat_id = self._chat_of(work.chat_id)
            # In a supergroup that was a group the question has another message id: no thread.
            reply_to = work.reply_to if chat_id == work.chat_id else None
            return self._retrying(
                "sendMessage",
                lambda: self.bot.send_message(chat_id, part.text, reply_to_message_id=reply_to, entities=list(entities) or None),
            )

        try:
            try:
                send(part.entities)
            except TelegramError as error:
                if error.migrate_to_chat_id is None or work.chat_id in self._moved:
                    raise
                self._chat_moved(work.chat_id, error.migrate_to_chat_id)
                send(part.entities)
        except TelegramError as error:
            # Formatting Telegram refuses: the words matter more than the formatting.
            if not part.entities or error.error_code != 400 or "entit" not in error.description.lower():
                raise
            log.info("update %s: formatting refused (%s), sent as plain text", work.ids, error.description)
            send(())

    def _chat_of(self, chat_id: int) -> int:
        """Where a chat lives now: a group that became a supergroup has a new id."""
        return self._moved.get(chat_id, chat_id)

    def _chat_moved(self, old_chat_id: int, new_chat_id: int) -> None:
        """Replies, memory and today's count follow a group that became a supergroup."""
        with self._counting:
            if self._moved.get(old_chat_id) == new_chat_id:
                return
            self._moved[old_chat_id] = new_chat_id
            if self.usage is not None:
                self.usage.move(old_chat_id, new_chat_id)
                self.usage.save()
        if self.memory is not None:
            self.memory.move(old_chat_id, new_chat_id)
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
        commands = bot_commands(self.memory is not None)
        if profile.commands != _digest(commands) and not dry_run:
            try:
                self.bot.set_my_commands(commands)
                profile = BotProfile(profile.id, profile.username, _digest(commands))
            except BotjobError as error:  # the menu is a nicety: try again next run
                log.info("commands not registered (%s)", error)
        if profile != self._profile and not dry_run:
            self.store.save_profile(profile)
        self._profile = profile
        return BotIdentity(profile.id, profile.username)

    def _retrying(self, what: str, operation: Callable[[], T]) -> T:
        """Run ``operation``, retrying transient failures with backoff inside the time budget."""
        attempt = 0
        while True:
            try:
                return operation()
            except BotjobError as error:
                # Telegram's flood control is a pause, never a failure: wait as long as it says.
                flood = isinstance(error, TelegramError) and error.error_code == 429
                if error.kind is not Failure.TRANSIENT or (attempt >= self.config.run.retries and not flood):
                    raise
                delay = error.retry_after if error.retry_after is not None else _backoff(attempt)
                if self.clock() + delay >= self._deadline:
                    raise
                attempt += 0 if flood else 1
                log.warning("%s: %s; %s in %.1f s", what, error, "waiting" if flood else f"retry {attempt}", delay)
                self.sleep(delay)


_OUTCOME_WORDS = {"would_answer": "would be answered"}


def _names_anyone(update: object) -> bool:
    """Whether deciding about this update may need the bot's @username: a group message, or an @ anywhere."""
    incoming = conversation.parse_update(update)
    return incoming is not None and (incoming.chat_type in conversation.GROUP_TYPES or "@" in (incoming.text or ""))


def _rules(config: Config, schedule: str, commands: str) -> ChatRules:
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
    )


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: 0.5–1 s, 1–2 s, 2–4 s ... capped at 30 s."""
    return random.uniform(0.5, 1.0) * min(30.0, 2.0**attempt)
