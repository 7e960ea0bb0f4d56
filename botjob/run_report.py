"""What one run did, for the log line and the job summary: counts, ids and timings only (it may end up in a public log)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BotjobError, Failure


@dataclass(frozen=True)
class ModelTally:
    """One model of a list in one run: the calls it answered, and why it was set aside ("" = it was not)."""

    name: str  # the owner's setting, as fallback.py names it: a hub id, or a server's address without its key
    answered: int = 0
    set_aside: str = ""
    fix: str = ""  # how the owner fixes what set it aside
    instead: int = 0  # of ``answered``, the answers it gave as a fallback: an earlier model of that chat's order could not


@dataclass(frozen=True)
class ModelsUsed:
    """Which model of a list (llm.model and llm.fallback, or a media model list) answered how many calls."""

    purpose: str  # "chat", "speech recognition", "reading images", "pictures"
    models: tuple[ModelTally, ...]

    @property
    def fell_back(self) -> bool:
        """A model answered in place of one asked before it (the owner's first, or a chat's /model
        choice): the owner hears who and why. (When none answered, the run's error says why, model by model.)"""
        return any(model.instead for model in self.models)


@dataclass
class RunReport:
    offset_before: int
    offset_after: int = 0
    fetched: int = 0  # updates taken in from Telegram
    answered: int = 0  # updates that got their reply (a burst of three counts three)
    skipped: int = 0  # finished without a reply: not for the bot, or nothing to say
    failed: int = 0  # got an apology, or the chat could not receive the reply
    apologies: int = 0  # of ``failed``: got a sorry instead of an answer (the rest: their reply was refused)
    would_answer: int = 0  # dry run: updates that would get a reply
    model_calls: int = 0
    model_seconds: list[float] = field(default_factory=list)
    models: list[ModelsUsed] = field(default_factory=list)  # each model list that was asked: who answered, who was set aside
    stay: float = 0.0  # run.stay in force: seconds it keeps listening after its last answer (0 = off)
    stayed: float = 0.0  # seconds it kept listening once it had answered what was waiting (run.stay, --linger)
    answered_while_staying: int = 0  # of ``answered``, the updates that came in meanwhile
    stopped: str = "nothing left to answer"
    ids_restarted: bool = False  # Telegram's update ids started again below the stored offset
    error: BotjobError | None = None
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None or self.error.kind is Failure.TRANSIENT
