"""Whether a failed call is tried again, and after how long: DESIGN.md's rules for passing trouble.

Telegram's 429 is a pause, waited out however often it comes; another passing
trouble is retried ``retries`` times with exponential backoff and jitter, or
after the ``Retry-After`` the server asked for; nothing waits past the run's
time budget. The caller sleeps where it likes: outside any lock.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from .errors import BotjobError, Failure, TelegramError

log = logging.getLogger(__name__)

T = TypeVar("T")


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


def retry(
    operation: Callable[[], T], *, what: str, retries: int, time_left: Callable[[], float], sleep: Callable[[float], None]
) -> T:
    """Run ``operation``, retrying passing trouble as ``pause_before_retry`` says; the pauses are slept
    here, so ``operation`` must hold no lock when it raises."""
    retries_used = 0
    while True:
        try:
            return operation()
        except BotjobError as error:
            pause, failure = pause_before_retry(error, attempts=retries_used, retries=retries, time_left=time_left()), error
        retries_used += pause.counts
        log.warning("%s: %s; %s in %.1f s", what, failure, f"retry {retries_used}" if pause.counts else "waiting", pause.seconds)
        sleep(pause.seconds)


def backoff(attempt: int) -> float:
    """Exponential backoff with jitter: 0.5–1 s, 1–2 s, 2–4 s ... capped at 30 s."""
    return random.uniform(0.5, 1.0) * min(30.0, 2.0**attempt)
