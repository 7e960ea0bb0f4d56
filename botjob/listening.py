"""How long a run with nothing left to answer keeps long-polling for new messages, and why it stops.

Two reasons to listen on, and the later end wins: ``--linger`` (until that
many seconds after the start) and ``run.stay`` (until that many seconds
after the last answer, so a follow-up written a moment after an answer is
answered within seconds). Never past the time budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .run_report import RunReport

MAX_POLL = 25  # seconds of one long poll: well inside telegram.timeout's allowance for it
LATE_ENOUGH = 0.1  # seconds of listening left that are not worth another whole-second poll


@dataclass
class Listening:
    started: float
    deadline: float  # the time budget's end
    linger: float = 0.0
    stay: float = 0.0
    last_answer: float | None = None  # when someone was last answered (run.stay counts from there)
    since: float | None = None  # when the run began to listen, having answered what was waiting
    answered_before: int = 0  # report.answered then

    def answered(self, now: float) -> None:
        self.last_answer = now

    def poll(self, now: float, *, answered: int) -> int:
        """Whole seconds to long-poll for new messages now, with nothing in hand; 0: stop listening.

        Telegram takes whole seconds: the last poll rounds up, so a run listens its full linger or
        stay (ending less than a second after it), but rounds down at the time budget, never past.
        """
        left, budget = self._end() - now, self.deadline - now
        if left < LATE_ENOUGH or budget < 1:
            return 0
        if self.since is None:
            self.since, self.answered_before = now, answered
        return min(MAX_POLL, math.ceil(left), int(budget))

    def why_done(self) -> str:
        """Why a run with nothing in hand ends now."""
        if self._end() > self.deadline:
            return "time budget used up"
        staying = self.stay and self.last_answer is not None
        if staying and self.last_answer + self.stay >= self.started + self.linger:  # type: ignore[operator]
            return f"nothing new for {self.stay:g} s after the last answer"
        if self.linger:
            return f"listened for --linger {self.linger:g} s"
        if self.stay:
            return "nothing left to answer; nobody was answered, so no stay"
        return "nothing left to answer"

    def tell(self, report: RunReport, now: float) -> None:
        """The stay in the report: its setting, how long the run listened, and what it answered meanwhile."""
        report.stay = self.stay
        if self.since is not None:
            report.stayed = max(0.0, now - self.since)
            report.answered_while_staying = report.answered - self.answered_before

    def _end(self) -> float:
        lingering = self.started + self.linger
        if self.stay and self.last_answer is not None:
            return max(lingering, self.last_answer + self.stay)
        return lingering
