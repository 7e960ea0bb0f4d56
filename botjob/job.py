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
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol, TypeVar

from . import conversation
from .config import Config
from .conversation import Action, BotIdentity, ChatRules, Work
from .errors import BotjobError, Failure
from .state import BotProfile, Checkpoint, StateStore
from .telegram import TelegramClient

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # getUpdates' maximum
COMMANDS = [
    {"command": "start", "description": "What this bot does"},
    {"command": "help", "description": "How to use it"},
    {"command": "reset", "description": "Forget our conversation"},
]
COMMANDS_DIGEST = hashlib.sha256(json.dumps(COMMANDS, sort_keys=True).encode()).hexdigest()[:16]

T = TypeVar("T")


class Model(Protocol):
    def reply(self, messages: list[dict[str, str]]) -> str: ...


class Memory(Protocol):
    def load(self, chat_id: int) -> list[dict[str, str]]: ...
    def remember(self, chat_id: int, user_text: str, assistant_text: str) -> None: ...
    def forget(self, chat_id: int) -> bool: ...


class Usage(Protocol):
    def check(self, chat_id: int) -> str: ...  # "ok", "last-warning" or "silent"
    def mark_told(self, chat_id: int) -> None: ...
    def count(self, chat_id: int) -> None: ...
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
        memory: Memory | None = None,
        usage: Usage | None = None,
        schedule: Callable[[], str] = lambda: "every few minutes",
        show_text: bool = False,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
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
        self._deadline = 0.0
        self._profile: BotProfile | None = None

    def run_once(self, *, dry_run: bool = False, max_updates: int | None = None) -> RunReport:
        """Drain the queue; stop early on a time budget, a cap or a failure the next run must see."""
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
            todo = [page[i] for i in waiting]
            works = conversation.plan(todo, self._bot_identity(todo, dry_run), self.rules) if todo else []
            for work in works:
                if self.clock() >= self._deadline:
                    report.stopped = "time budget used up"
                    return
                calls_cap = self.config.run.max_model_calls
                if work.action is Action.ASK and calls_cap and report.model_calls >= calls_cap:
                    report.stopped = f"reached the cap of {calls_cap} model calls"
                    return
                report.fetched += len(work.update_ids)
                self._do(work, report, dry_run)
                if not dry_run:
                    waiting = [i for i in waiting if i not in work.update_ids]
                    for update_id in work.update_ids:
                        checkpoint = checkpoint.finish(update_id, still_waiting=waiting, fetched_up_to=fetched_up_to)
                    checkpoint = self._checkpoint(checkpoint, report)
            if dry_run:
                # Fetching the next page would confirm this one to Telegram: a dry run looks at one page only.
                report.stopped = "dry run: looked at the first page only"
                return

    @functools.cached_property
    def rules(self) -> ChatRules:
        return _rules(self.config, self._schedule())

    def _checkpoint(self, checkpoint: Checkpoint, report: RunReport) -> Checkpoint:
        self.store.save(checkpoint)
        report.offset_after = checkpoint.offset
        return checkpoint

    def _do(self, work: Work, report: RunReport, dry_run: bool) -> None:
        ids = ", ".join(map(str, work.update_ids))
        count = len(work.update_ids)
        if work.action is Action.SKIP:
            report.skipped += count
            log.info("update %s finished without a reply (%s)", ids, work.reason)
            return
        if dry_run:
            report.would_answer += count
            return
        if work.action is Action.RESET and self.memory is not None:
            self.memory.forget(work.chat_id)
        if work.action is Action.ASK:
            outcome = self._ask(work, report)
        else:
            outcome = "answered" if self._send(work, work.text) else "failed"
        setattr(report, outcome, getattr(report, outcome) + count)
        log.info("update %s %s", ids, outcome)

    def _ask(self, work: Work, report: RunReport) -> str:
        """Answer a question with the model; the report field the outcome counts in."""
        allowance = self.usage.check(work.chat_id) if self.usage else "ok"
        if allowance != "ok":
            if allowance == "last-warning" and self._send(work, self.config.access.daily_limit_reply):
                self.usage.mark_told(work.chat_id)  # type: ignore[union-attr]
                self.usage.save()  # type: ignore[union-attr]
            return "skipped"
        self._typing(work.chat_id)
        history = self.memory.load(work.chat_id) if self.memory else []
        messages = conversation.build_prompt(self.config.llm.system_prompt, work.turns, history)
        if self.show_text:
            log.debug("prompt for update %s: %r", work.update_ids, messages)
        started = self.clock()
        report.model_calls += 1
        try:
            raw = self._retrying("model", lambda: self.model.reply(messages))
        except BotjobError as error:
            if error.kind is not Failure.MESSAGE:
                raise  # bot-wide or lasting transient: the question stays unconfirmed for the next run
            log.warning("update %s: the model rejected the question (%s); apologising", work.update_ids, error)
            self._send(work, self.config.reply.apology)
            return "failed"
        report.model_seconds.append(self.clock() - started)
        text = conversation.clean_model_text(raw) or self.config.reply.empty
        if not self._send(work, text):
            return "failed"
        if self.memory is not None:
            self.memory.remember(work.chat_id, work.question, text)
        if self.usage is not None:
            self.usage.count(work.chat_id)
            self.usage.save()
        return "answered"

    def _typing(self, chat_id: int) -> None:
        """Shows "typing…" while the model thinks; purely cosmetic, so any failure is ignored."""
        try:
            self.bot.send_chat_action(chat_id)
        except BotjobError as error:
            log.debug("typing indicator not shown (%s)", error)

    def _send(self, work: Work, text: str) -> bool:
        """Send a reply in as many parts as it takes; False when this chat cannot receive it."""
        parse_mode = self.config.chat.parse_mode or None
        for part in conversation.split_for_telegram(text):
            try:
                self._send_part(work, part, parse_mode)
            except BotjobError as error:
                if error.kind is not Failure.MESSAGE:
                    raise
                log.warning("update %s: reply not delivered (%s)", work.update_ids, error)
                return False
        return True

    def _send_part(self, work: Work, part: str, parse_mode: str | None) -> None:
        def send(mode: str | None) -> object:
            return self._retrying(
                "sendMessage",
                lambda: self.bot.send_message(work.chat_id, part, reply_to_message_id=work.reply_to, parse_mode=mode),
            )

        try:
            send(parse_mode)
        except BotjobError as error:
            # Model markup that Telegram's parser rejects: the words matter more than the formatting.
            if parse_mode is None or "can't parse entities" not in str(error):
                raise
            log.info("update %s: formatting rejected, sent as plain text", work.update_ids)
            send(None)

    def _bot_identity(self, updates: list[object], dry_run: bool) -> BotIdentity:
        """Who the bot is, from state/ or one getMe when a group message needs its @username.

        Also registers the command menu once (best effort). Private chats need
        neither call: the bot's id is in its token.
        """
        profile = self._profile or self.store.load_profile()
        if profile is None or profile.id != self.bot.bot_id:
            profile = BotProfile(self.bot.bot_id or 0, "")
        if not profile.username and any(_in_group(u) for u in updates):
            me = self._retrying("getMe", self.bot.get_me)
            profile = BotProfile(int(me["id"]), str(me.get("username") or ""), profile.commands)
        if profile.commands != COMMANDS_DIGEST and not dry_run:
            try:
                self.bot.set_my_commands(COMMANDS)
                profile = BotProfile(profile.id, profile.username, COMMANDS_DIGEST)
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
                if error.kind is not Failure.TRANSIENT or attempt >= self.config.run.retries:
                    raise
                delay = error.retry_after if error.retry_after is not None else _backoff(attempt)
                if self.clock() + delay >= self._deadline:
                    raise
                attempt += 1
                log.warning("%s: %s; retry %d in %.1f s", what, error, attempt, delay)
                self.sleep(delay)


def _in_group(update: object) -> bool:
    incoming = conversation.parse_update(update)
    return incoming is not None and incoming.chat_type in conversation.GROUP_TYPES


def _rules(config: Config, schedule: str) -> ChatRules:
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
    )


def _backoff(attempt: int) -> float:
    """Exponential backoff with jitter: 0.5–1 s, 1–2 s, 2–4 s ... capped at 30 s."""
    return random.uniform(0.5, 1.0) * min(30.0, 2.0**attempt)
