"""How far apart GitHub really starts the scheduled runs: the typical gap and the worst, when a new
figure is worth keeping, and when it is worth a warning. Pure; standard library only.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from .state import Cadence

WINDOW = timedelta(days=1)  # "lately": the runs of the last day (at most the API's page of them)
MIN_RUNS = 4  # three gaps at least, or the median is a guess
MOVED = 0.25  # a figure is kept anew when the typical or the worst gap moved by more than this share
LONG_GAP_TIMES = 6  # a worst gap this many times what the cron lines ask for is worth a warning...
LONG_GAP = 3600.0  # ...once it is an hour or more
NEAR_TELEGRAM_LIMIT = 12 * 3600.0  # Telegram deletes what waits 24 h; half of that is a warning whatever the cron says
WHAT_HELPS = 'the README\'s "How long people wait" says what helps (a stay while people talk, another cron line, your own machine)'


def recent(times: Sequence[datetime], now: datetime) -> list[datetime]:
    """The runs of the last ``WINDOW``, oldest first."""
    return sorted(t for t in times if now - WINDOW <= t <= now)


def measure(times: Sequence[datetime], now: datetime) -> Cadence | None:
    """The typical (median) and worst gap between the runs of the last day; None with fewer than
    ``MIN_RUNS`` of them."""
    runs = recent(times, now)
    if len(runs) < MIN_RUNS:
        return None
    gaps = [(later - earlier).total_seconds() for earlier, later in zip(runs, runs[1:])]
    return Cadence(typical=statistics.median(gaps), worst=max(gaps), runs=len(runs), measured_at=now.timestamp())


def moved(kept: Cadence | None, new: Cadence) -> bool:
    """Whether ``new`` is worth writing over ``kept``: state/ is committed whenever it changes, so a
    figure that wobbles from run to run must not change it (the count of runs and the time alone never do)."""
    if kept is None:
        return True
    return any(abs(now - before) > MOVED * before for before, now in ((kept.typical, new.typical), (kept.worst, new.worst)))


def alarm(cadence: Cadence, asked: Callable[[], float | None]) -> str | None:
    """A warning for the owner when the worst recent gap is long: near Telegram's 24 h limit, or many
    times what the cron lines ask for (``asked``: their longest gap in seconds, None when unknown;
    worked out only when the worst gap is long enough for it to matter)."""
    worst = duration(cadence.worst)
    if cadence.worst >= NEAR_TELEGRAM_LIMIT:
        return (f"GitHub left {worst} between two scheduled runs lately: a message waits that long, and Telegram "
                "deletes what waits 24 hours — start a run by hand (Actions → bot → Run workflow) when the schedule "
                f"stalls; {WHAT_HELPS}")
    if cadence.worst >= LONG_GAP:
        longest = asked()
        if longest and cadence.worst >= LONG_GAP_TIMES * longest:
            return (f"GitHub left {worst} between two scheduled runs lately, {cadence.worst / longest:.0f} times the "
                    f"{duration(longest)} the schedule asks for, and a message waits that long — {WHAT_HELPS}")
    return None


def in_words(cadence: Cadence) -> str:
    """ "17 min apart typically, 3 h 5 min at worst (the last 60 scheduled runs)"."""
    return (f"{duration(cadence.typical)} apart typically, {duration(cadence.worst)} at worst "
            f"(the last {cadence.runs} scheduled runs)")


def duration(seconds: float) -> str:
    """ "40 s", "17 min", "3 h", "3 h 5 min"."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
