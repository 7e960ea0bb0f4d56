"""Answering one piece of work: a fixed text, a question for the model (heard or seen first), a picture.

What each chat's worker does with each Work, once job.py gave it its turn:
the daily limits, "typing…", voice notes downloaded and heard, pictures
seen, the model's answer formatted and delivered, memory and counts kept.
Files and their words stay in memory; log lines carry update ids only.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass
from typing import Any, Protocol

from . import conversation, formatting
from .config import Config
from .conversation import DOWNLOAD_LIMIT, Action, Media, Work
from .delivery import Delivery, Ledger
from .errors import BotjobError, Failure, TelegramError
from .fallback import Retrying, unlimited

log = logging.getLogger(__name__)

TYPING_WAIT = 2.0  # seconds a reply waits, at most, for its "typing…" to reach Telegram first
CAPTION_LIMIT = 1024  # a photo's caption: characters for Telegram, UTF-16 code units (never fewer) here


# The models of each purpose, asked in the owner's order (fallback.py): each retried with ``retrying``
# before the next is asked, and no next one once ``time_left`` is gone.
class Model(Protocol):
    # ``first``: a model the chat picked (/model), asked before the owner's; only given when there is one.
    def reply(self, messages: list[dict[str, Any]], *, retrying: Retrying, time_left: Callable[[], float], first: Any = None) -> str: ...


class Speech(Protocol):
    def transcribe(self, audio: bytes, *, mime_type: str, seconds: int, retrying: Retrying,
                   time_left: Callable[[], float]) -> str: ...


class Pictures(Protocol):
    def draw(self, prompt: str, *, retrying: Retrying, time_left: Callable[[], float]) -> bytes: ...


class Memory(Protocol):
    def load(self, chat_id: int) -> list[dict[str, str]]: ...
    def remember(self, chat_id: int, user_text: str, assistant_text: str) -> None: ...
    def forget(self, chat_id: int) -> bool: ...
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...


class Personas(Protocol):
    def get(self, chat_id: int) -> str | None: ...
    def set(self, chat_id: int, persona: str) -> None: ...
    def forget(self, chat_id: int) -> bool: ...
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...


class Choices(Protocol):  # /model (model_choice.ModelChoices)
    def first_for(self, chat_id: int) -> Any: ...
    def changes(self, words: str) -> bool: ...
    def reply(self, chat_id: int, words: str, texts: Any) -> str: ...
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...


class Usage(Protocol):
    def check(self, chat_id: int) -> str: ...  # "ok", "last-warning" or "silent"
    def mark_told(self, chat_id: int) -> None: ...
    def count(self, chat_id: int) -> None: ...
    def move(self, old_chat_id: int, new_chat_id: int) -> None: ...
    def save(self) -> None: ...


@dataclass(frozen=True)
class MediaModels:
    """The models for voice notes, photos and pictures; None where the feature is off."""

    speech: Speech | None = None
    vision: Model | None = None
    pictures: Pictures | None = None


@dataclass
class Helpers:
    """What the batch gives the answering: how it retries, runs calls beside the work, counts, finds chats."""

    retrying: Callable[[str, Callable[[], Any]], Any]
    beside: Callable[[Callable[[], None]], Future[None]]
    chat_of: Callable[[int], int]
    count: Callable[[Any, str, Work], None]
    counting: threading.Lock
    clock: Callable[[], float]
    wall_clock: Callable[[], float]
    show_text: bool = False
    time_left: Callable[[], float] = unlimited  # seconds of the run's time budget left


class Answerer:
    """Does one Work of a chat, whose turn it is; returns the report field its outcome counts in."""

    def __init__(
        self,
        bot: Any,
        model: Model,
        config: Config,
        delivery: Delivery,
        helpers: Helpers,
        *,
        media: MediaModels,
        memory: Memory | None,
        usage: Usage | None,
        pictures_usage: Usage | None,
        personas: Personas | None = None,
        stats: Callable[[Any], str] | None = None,
        choices: Choices | None = None,
    ) -> None:
        self.bot = bot
        self.model = model
        self.config = config
        self.delivery = delivery
        self.helpers = helpers
        self.media = media
        self.memory = memory
        self.usage = usage
        self.pictures_usage = pictures_usage
        self.personas = personas
        self.stats = stats  # an owner's /stats: the run's report in, the counts in words out
        self.choices = choices  # /model: None without llm.choices

    def answer(self, work: Work, ledger: Ledger, report: Any) -> str:
        if work.action is Action.ASK:
            return self._ask(work, ledger, report)
        if work.action is Action.DRAW:
            return self._draw(work, ledger, report)
        if work.action is Action.PERSONA:
            return self._persona(work, report)
        if work.action is Action.MODEL:
            return self._model(work, report)
        if work.action is Action.STATS:
            return self._stats(work, report)
        if work.action is Action.RESET and self.memory is not None:
            self.memory.forget(self._chat(work))
        return "answered" if self._deliver(work, work.text) else "failed"

    # ------------------------------------------------------------------ questions

    def _ask(self, work: Work, ledger: Ledger, report: Any) -> str:
        """Answer a question with the model, having heard its voice notes or seen its picture."""
        if not self._allowed(work, ledger, report, self.usage, self.config.access.daily_limit_reply):
            return "skipped"
        typing = self._show(work, "typing")  # beside the model calls, not before them
        transcripts: dict[str, str] = {}
        picture: tuple[bytes, str] | None = None
        started = self.helpers.clock()
        try:
            for media in work.media:
                if media.kind == "voice":
                    transcripts[media.file_id] = self._hear(media)
                else:
                    picture = (self._download(media), media.mime_type)
            work = conversation.heard(work, transcripts) if transcripts else work
            if not conversation.visible(work.question):  # a voice note with no words in it
                raise _NothingHeard()
            history = self.memory.load(self._chat(work)) if self.memory else []
            messages: list[dict[str, Any]] = conversation.build_prompt(self._system_prompt(work), work.turns, history)
            model, chosen = self.model, None
            if picture is not None:
                messages, model = conversation.with_image(messages, *picture), self.media.vision or self.model
            elif self.choices is not None:
                chosen = self.choices.first_for(self._chat(work))  # the chat's /model, before the owner's models
            if self.helpers.show_text:
                log.debug("prompt for update %s: %r", work.ids, [m["content"] if isinstance(m["content"], str) else "(parts)" for m in messages])
            asking = {"first": chosen} if chosen is not None else {}
            raw = model.reply(messages, retrying=self.helpers.retrying, time_left=self.helpers.time_left, **asking)
        except _NothingHeard:
            return self._sorry(work, self.config.reply.apology, report)
        except BotjobError as error:
            return self._unanswerable(work, error, report)
        with self.helpers.counting:
            report.model_seconds.append(self.helpers.clock() - started)
        text = conversation.clean_model_text(raw) or self.config.reply.empty
        wait([typing], timeout=TYPING_WAIT)  # "typing…" first, then the answer
        heard = " ".join(transcripts[m.file_id] for m in work.media if m.file_id in transcripts)
        if not self._deliver(work, text, formatted=True, heard=heard if self.config.media.show_transcript else ""):
            return "failed"
        if self.memory is not None:
            self.memory.remember(self._chat(work), work.question, text)  # the words and captions, never an image
        self._counted(work, self.usage)
        return "answered"

    def _hear(self, media: Media) -> str:
        speech = self.media.speech
        if speech is None:  # voice notes are off: conversation sends these elsewhere
            raise BotjobError("voice notes are off", kind=Failure.MESSAGE)
        audio = self._download(media)
        return speech.transcribe(audio, mime_type=media.mime_type, seconds=media.seconds,
                                 retrying=self.helpers.retrying, time_left=self.helpers.time_left)

    def _download(self, media: Media) -> bytes:
        """A file's bytes, in memory only: getFile, then the file link (each retried like any call)."""
        found = self.helpers.retrying("getFile", lambda: self.bot.get_file(media.file_id))
        path = str(found.get("file_path") or "")
        if not path:
            raise TelegramError("getFile", 400, "Bad Request: the file has no download path")
        return self.helpers.retrying("download", lambda: self.bot.download(path, max_bytes=DOWNLOAD_LIMIT))

    # ------------------------------------------------------------------ pictures

    def _draw(self, work: Work, ledger: Ledger, report: Any) -> str:
        pictures = self.media.pictures
        if pictures is None:  # pictures are on, but their model needs HF_TOKEN, which is not set (`check` says so)
            with self.helpers.counting:
                report.model_calls -= model_calls(work)
            return "answered" if self._deliver(work, self.config.reply.images_off) else "failed"
        if not self._allowed(work, ledger, report, self.usage, self.config.access.daily_limit_reply):
            return "skipped"
        if not self._allowed(work, ledger, report, self.pictures_usage, self.config.reply.images_limit):
            return "skipped"
        uploading = self._show(work, "upload_photo")
        started = self.helpers.clock()
        try:
            png = pictures.draw(work.question, retrying=self.helpers.retrying, time_left=self.helpers.time_left)
        except BotjobError as error:
            if error.kind is Failure.MESSAGE and getattr(error, "status", None) == 200:
                self._counted(work, self.pictures_usage)  # drawn and paid for, though no picture came of it
            return self._unanswerable(work, error, report)
        with self.helpers.counting:
            report.model_seconds.append(self.helpers.clock() - started)
        wait([uploading], timeout=TYPING_WAIT)
        if not self.delivery.deliver_photo(work, png, _caption(work.question)):
            return "failed"
        self._counted(work, self.usage)
        self._counted(work, self.pictures_usage)
        return "answered"

    # ------------------------------------------------------------------ personas

    def _system_prompt(self, work: Work) -> str:
        """The chat's own persona (/persona), else the owner's llm.system_prompt."""
        persona = self.personas.get(self._chat(work)) if self.personas is not None else None
        return self.config.llm.system_prompt if persona is None else persona

    def _persona(self, work: Work, report: Any) -> str:
        """/persona: shows the chat's persona to anyone; sets or resets it for whoever may (in a group, its administrators)."""
        from .personas import persona_reply

        request, chat = work.persona, self._chat(work)
        assert request is not None and self.personas is not None, "planned only for a bot that keeps personas"
        if request.changes:
            refused = self._unpermitted(work, request.may_change, report, self.config.reply.persona_admins_only,
                                        self.config.reply.persona_unchecked)
            if refused is not None:
                return refused
        text = persona_reply(self.personas, chat, request.words, self.config.reply, self.config.llm.system_prompt)
        log.info("update %s: the chat's persona %s", work.ids, "shown" if not request.changes else "changed")
        return "answered" if self._deliver(work, text) else "failed"

    # ------------------------------------------------------------------ the owner's counts

    def _stats(self, work: Work, report: Any) -> str:
        """/stats from an owner (conversation decided who): counts only, this run's so far included."""
        assert self.stats is not None, "planned only for a job that keeps state/stats.json"
        with self.helpers.counting:
            text = self.stats(report)
        log.info("update %s: the owner's stats shown", work.ids)
        return "answered" if self._deliver(work, text) else "failed"

    # ------------------------------------------------------------------ the chat's model

    def _model(self, work: Work, report: Any) -> str:
        """/model: lists the owner's choices to anyone; switches the chat's model for whoever may (in a group, its administrators)."""
        request, chat = work.choice, self._chat(work)
        assert request is not None and self.choices is not None, "planned only for a bot with llm.choices"
        switches = self.choices.changes(request.words)
        if switches:
            refused = self._unpermitted(work, request.may_change, report, self.config.reply.model_admins_only,
                                        self.config.reply.model_unchecked)
            if refused is not None:
                return refused
        text = self.choices.reply(chat, request.words, self.config.reply)
        log.info("update %s: the chat's model %s", work.ids, "switched" if switches else "shown")
        return "answered" if self._deliver(work, text) else "failed"

    def _unpermitted(self, work: Work, may_change: bool | None, report: Any, admins_only: str, unchecked: str) -> str | None:
        """None when the sender may change the chat's persona or model (``may_change``, else Telegram says it
        is an administrator); otherwise the outcome of telling them why not, or of a check that must wait."""
        try:
            allowed = may_change if may_change is not None else self._administrator(self._chat(work), work.asker)
        except BotjobError as error:
            if error.kind is not Failure.MESSAGE:
                return self._unanswerable(work, error, report)
            log.info("update %s: whether the sender is an administrator could not be checked (%s); nothing changed", work.ids, error)
            return "answered" if self._deliver(work, unchecked) else "failed"
        if not allowed:
            return "answered" if self._deliver(work, admins_only) else "failed"
        return None

    def _administrator(self, chat_id: int, user_id: int | None) -> bool:
        """Whether Telegram says this group member is its creator or one of its administrators."""
        member = self.helpers.retrying("getChatMember", lambda: self.bot.get_chat_member(chat_id, user_id))
        return isinstance(member, dict) and member.get("status") in ("creator", "administrator")

    # ------------------------------------------------------------------ limits, failures, sending

    def _allowed(self, work: Work, ledger: Ledger, report: Any, usage: Usage | None, notice: str) -> bool:
        """Under today's limit; else the notice once (then silence), and the model calls reserved for it given back."""
        with self.helpers.counting:
            allowance = usage.check(self._chat(work)) if usage else "ok"
        if allowance == "ok":
            return True
        with self.helpers.counting:
            report.model_calls -= model_calls(work)  # reserved when the work started, not used
        told = allowance == "last-warning" and self._deliver(work, notice)
        if allowance == "silent":
            ledger.finish(work)
        if told:
            with self.helpers.counting:
                usage.mark_told(self._chat(work))  # type: ignore[union-attr]
                usage.save()  # type: ignore[union-attr]
        return False

    def _counted(self, work: Work, usage: Usage | None) -> None:
        if usage is not None:
            with self.helpers.counting:
                usage.count(self._chat(work))
                usage.save()

    def _unanswerable(self, work: Work, error: BotjobError, report: Any) -> str:
        """No answer came. Only a rejected question (or file), or one about to expire, is finished here."""
        too_old = work.sent_at and self.helpers.wall_clock() - work.sent_at > self.config.run.max_age * 3600
        if error.kind is Failure.MESSAGE:
            too_big = isinstance(error, TelegramError) and "too big" in error.description.lower()
            log.warning("update %s: the question or its file was refused (%s); apologising", work.ids, error)
            return self._sorry(work, self.config.reply.file_too_big if too_big else self.config.reply.apology, report)
        if too_old:
            # Telegram drops it at 24 h: a short sorry beats silence, even when the bot is down.
            log.warning("update %s: still unanswerable near Telegram's 24 h limit (%s); saying sorry", work.ids, error)
            self._sorry(work, self.config.reply.too_late, report)
            if error.kind is Failure.TRANSIENT:
                return "failed"
            self.helpers.count(report, "failed", work)  # finished with a sorry, though the run stops for the owner
        raise error  # bot-wide or lasting: the question stays unconfirmed for the next run

    def _sorry(self, work: Work, text: str, report: Any) -> str:
        """A sorry instead of an answer: "failed" either way, and one of the run's apologies once delivered."""
        if self._deliver(work, text):
            with self.helpers.counting:
                report.apologies += len(work.update_ids)
        return "failed"

    def _deliver(self, work: Work, text: str, *, formatted: bool = False, heard: str = "") -> bool:
        """Send a reply and record the work finished; False when this chat cannot receive it (finished all the same).

        Only the model's answers are read as Markdown (``chat.format``); the
        fixed texts go as they are. ``heard``: what a voice note said, shown above the answer.
        """
        message = formatting.plain(text)
        if formatted and self.config.chat.format == "markdown":
            converted = formatting.from_markdown(text)
            message = converted if converted.text.strip() else message  # never an empty reply for an odd answer
        if heard:
            message = formatting.joined(formatting.plain(f"🎤 {heard}\n\n"), message)
        return self.delivery.deliver(work, message)

    def _show(self, work: Work, action: str) -> Future[None]:
        """Shows "typing…" (or "sending a photo…") while the model works; cosmetic, so any failure is ignored."""
        chat_id = self._chat(work)

        def show() -> None:
            try:
                self.bot.send_chat_action(chat_id, action)
            except BotjobError as error:
                log.debug("chat action not shown (%s)", error)

        return self.helpers.beside(show)

    def _chat(self, work: Work) -> int:
        return self.helpers.chat_of(work.chat_id)


class _NothingHeard(Exception):
    """A voice note with no words in it."""


def model_calls(work: Work) -> int:
    """The model calls a work needs: one to answer or draw, and one more to hear each voice note."""
    if work.action is Action.DRAW:
        return 1
    if work.action is Action.ASK:
        return 1 + sum(media.kind == "voice" for media in work.media)
    return 0


def _caption(prompt: str) -> str:
    """What was asked for, under the picture: at most Telegram's caption length. Plain text: were it
    ever formatted, a caption's entities are capped at 100 as a message's are (formatting.split)."""
    parts = conversation.split_for_telegram(prompt, CAPTION_LIMIT - 1)
    return parts[0] + ("…" if len(parts) > 1 else "") if parts else ""
