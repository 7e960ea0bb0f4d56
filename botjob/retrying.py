"""Whether a failed call is tried again, and after how long: DESIGN.md's rules for passing trouble.

Telegram's 429 is a pause, waited out however often it comes; another passing
trouble is retried ``retries`` times with exponential backoff and jitter, or
after the ``Retry-After`` the server asked for; nothing waits past the run's
time budget. The caller sleeps where it likes: outside any lock.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from .errors import BotjobError, Failure, TelegramError


@dataclass(frozen=True)
class Pause:
    seconds: float
    counts: bool  # whether this pause uses up one of the retries (a 429 does not)


def pause_before_retry(error: BotjobError, *, attempts: int, retries: int, time_left: float) -> Pause:
    """How long to wait before trying again after ``error``; raises ``error`` when it must not be retried.

    ``attempts`` is how many retries were used already.
    """
    flood = isinstance(error, TelegramError) and error.error_code == 429
    if error.kind is not Failure.TRANSIENT or (attempts >= retries and not flood):
        raise error
    seconds = error.retry_after if error.retry_after is not None else backoff(attempts)
    if seconds >= time_left:
        raise error  # waiting would pass the time budget: the next run tries again
    return Pause(seconds, counts=not flood)


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: 0.5–1 s, 1–2 s, 2–4 s ... capped at 30 s."""
    return random.uniform(0.5, 1.0) * min(30.0, 2.0**attempt)
