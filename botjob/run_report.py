"""What one run did, for the log line and the job summary: counts, ids and timings only (it may end up in a public log)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import BotjobError, Failure


@dataclass
class RunReport:
    offset_before: int
    offset_after: int = 0
    fetched: int = 0  # updates taken in from Telegram
    answered: int = 0  # updates that got their reply (a burst of three counts three)
    skipped: int = 0  # finished without a reply: not for the bot, or nothing to say
    failed: int = 0  # got an apology, or the chat could not receive the reply
    would_answer: int = 0  # dry run: updates that would get a reply
    model_calls: int = 0
    model_seconds: list[float] = field(default_factory=list)
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
