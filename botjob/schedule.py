"""The workflow's cron lines in words: next runs, how long people wait, what it costs in Actions minutes.

Cron parsing and wording come from cronsim (no dependencies, the parser
behind healthchecks.io); GitHub's own rules (UTC, every 5 minutes at most,
whole started minutes billed) are applied here.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from cronsim import CronSim, CronSimError

from .cadence import alarm, measure, recent
from .cadence import in_words as cadence_in_words
from .conversation import measured_wait
from .errors import ConfigError
from .github import HOW_TO_MEASURE

DEFAULT_WORKFLOW = ".github/workflows/bot.yml"
GITHUB_MINIMUM = timedelta(minutes=5)
MONTH = timedelta(days=30)
FREE_PRIVATE_MINUTES = 2000  # GitHub Free's monthly Actions minutes for private repositories
DAY = 24 * 60  # minutes
WEEK_START = datetime(2024, 1, 1, tzinfo=timezone.utc)  # a Monday; a weekly schedule runs alike every week
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
EXAMPLE = '"*/10 * * * *"'
# GitHub documents POSIX cron: numbers, the names JAN-DEC and SUN-SAT, and * , - / only. cronsim also
# knows Quartz's L (last), W (nearest weekday), # (nth weekday) and ? (any), which GitHub does not.
NAMES = re.compile(r"JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC|SUN|MON|TUE|WED|THU|FRI|SAT")
NOT_GITHUBS = "LW#?"


@dataclass(frozen=True)
class Schedule:
    crons: list[str]
    descriptions: list[str]
    next_runs: list[datetime]
    shortest_gap: timedelta
    average_wait: timedelta  # how long a message waits for the next run, on average
    longest_gap: timedelta
    runs_per_month: int

    @property
    def too_fast(self) -> bool:
        return self.shortest_gap < GITHUB_MINIMUM


def read_crons(workflow: str | Path = DEFAULT_WORKFLOW) -> list[str]:
    """The ``on.schedule`` cron lines of a workflow file."""
    path = Path(workflow)
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"workflow file {path} not found", hint="run this from the repository's top folder, or pass --workflow") from None
    except yaml.YAMLError:
        raise ConfigError(f"{path}: not valid YAML", hint="fix the workflow file's syntax (indentation, quotes)") from None
    # YAML 1.1 reads a bare `on:` key as the boolean True.
    triggers = document.get("on", document.get(True)) if isinstance(document, dict) else None
    schedule = triggers.get("schedule") if isinstance(triggers, dict) else None
    crons = [entry.get("cron") for entry in schedule or [] if isinstance(entry, dict)]
    if not crons:
        raise ConfigError(f"{path} has no schedule", hint='add "on: schedule: - cron: ..." (see the comments in bot.yml)')
    for cron in crons:
        if not isinstance(cron, str):  # `cron: 5` unquoted is a number to YAML; `cron:` alone is nothing
            shown = "(empty)" if cron is None else yaml.safe_dump(cron, default_flow_style=True).removesuffix("\n...\n").strip()
            raise ConfigError(f"cron: {shown} is not a cron line", hint=f"write five fields in quotes, e.g. {EXAMPLE}")
    return crons


def parse_schedule(crons: list[str], now: datetime | None = None, count: int = 5) -> Schedule:
    now = now or datetime.now(timezone.utc)
    for cron in crons:
        _check(cron)
    descriptions = [CronSim(cron, now).explain() for cron in crons]
    runs = list(itertools.takewhile(lambda run: run <= now + MONTH, _merged(crons, now)))
    if len(runs) < 2:
        runs = list(itertools.islice(_merged(crons, now), 2))  # rarer than monthly: look further ahead
    gaps = [later - earlier for earlier, later in zip(runs, runs[1:])]
    total = sum(gaps, timedelta())
    # A message arriving at a random moment waits half its gap; long gaps catch more messages.
    seconds = [gap.total_seconds() for gap in gaps]
    average_wait = timedelta(seconds=round(sum(s * s for s in seconds) / (2 * sum(seconds)))) if total else timedelta()
    return Schedule(
        crons=crons,
        descriptions=descriptions,
        next_runs=runs[:count],
        shortest_gap=min(gaps),
        average_wait=average_wait,
        longest_gap=max(gaps),
        runs_per_month=sum(1 for run in runs if run <= now + MONTH),
    )


def _check(cron: str) -> None:
    if len(cron.split()) != 5:
        raise ConfigError(
            f'cron line "{cron}" must have 5 fields: minute hour day-of-month month day-of-week',
            hint=f"for example {EXAMPLE} runs every 10 minutes",
        )
    unknown = [sign for sign in NOT_GITHUBS if sign in NAMES.sub("", cron.upper())]
    if unknown:
        hint = "write * for any value" if unknown == ["?"] else "use numbers, ranges, lists and steps"
        raise ConfigError(f'cron line "{cron}" uses {unknown[0]}, which GitHub\'s cron does not know', hint=hint)
    try:
        CronSim(cron, datetime.now(timezone.utc))
    except CronSimError as error:
        raise ConfigError(f'cron line "{cron}" is not valid: {error}', hint="fix the cron line in the workflow file") from None


def _merged(crons: list[str], now: datetime) -> Iterator[datetime]:
    """The runs of all cron lines in time order; a minute listed twice runs once."""
    previous = None
    for run in heapq.merge(*(CronSim(cron, now) for cron in crons)):
        if run != previous:
            yield run
        previous = run


def in_words(schedule: Schedule) -> str:
    """How often the bot reads messages, for its greeting ("I read new messages ...").

    Worked out from one week of merged runs: the weekdays with runs, the times of day (a window and the
    gap between runs, or the few times themselves), e.g. "on weekdays from 09:00 to 17:45 UTC, every
    15 minutes". Lines that do not repeat every week (a day of the month, some months) and merged
    lines too tangled to say at once are described one by one, joined with "; ".
    """
    crons = schedule.crons
    if crons and all(_weekly(cron) for cron in crons):
        words = _week_in_words(crons)
        if words:
            return words
    parts: list[str] = []
    for cron, description in zip(crons, schedule.descriptions):
        if _weekly(cron):
            words = _week_in_words([cron]) or _week_in_words([cron], approximate=True) or ""
        else:
            words = f"{description[0].lower()}{description[1:]} (UTC)"
        if words and words not in parts:
            parts.append(words)
    return "; ".join(parts) or "every few minutes"


def _weekly(cron: str) -> bool:
    """Whether the line runs alike every week: any day of the month, any month, no "second Monday"."""
    fields = cron.split()
    return len(fields) == 5 and fields[2] == "*" and fields[3] == "*" and not any(c in fields[4].upper() for c in "#L")


def _week_in_words(crons: list[str], *, approximate: bool = False) -> str | None:
    """One week of runs in words; None when it cannot be said exactly (unless approximate)."""
    end = WEEK_START + timedelta(days=7)
    days: dict[int, list[int]] = {}  # weekday (Monday 0) -> the minutes of the day it runs at
    for run in itertools.takewhile(lambda run: run < end, _merged(crons, WEEK_START - timedelta(seconds=1))):
        days.setdefault(run.weekday(), []).append(run.hour * 60 + run.minute)
    groups: dict[tuple[int, ...], list[int]] = {}  # the same times of day -> on these weekdays
    for weekday, times in sorted(days.items()):
        groups.setdefault(tuple(times), []).append(weekday)
    if not groups or (len(groups) > 3 and not approximate):
        return None
    # A window may run past midnight only when every day of the week is alike.
    cyclic = len(groups) == 1 and len(days) == 7
    phrases = []
    for times, weekdays in groups.items():
        if len(weekdays) == 1 and len(times) == 1:
            phrases.append(f"once a week, on {WEEKDAYS[weekdays[0]]}s at {_clock(times[0])} UTC")
            continue
        words = _day_in_words(list(times), cyclic=cyclic, approximate=approximate)
        if words is None:
            return None
        before, after = _days_in_words(weekdays)
        if before:
            words = f"{before}{' ' if words.startswith('from ') else ', '}{words}"
        phrases.append(words + after)
    return "; ".join(phrases)


def _day_in_words(times: list[int], *, cyclic: bool, approximate: bool) -> str | None:
    """The runs of one day (minutes after midnight, sorted) in words, without the weekdays."""
    count = len(times)
    # gaps[i] follows times[i]; the last one runs past midnight to the first run of the (next) day.
    gaps = [later - earlier for earlier, later in zip(times, times[1:])] + [times[0] + DAY - times[-1]]
    if count <= 4:
        return f"{_how_often(count, 'a day')}, at {_clock_list(times)} UTC"
    if len(set(gaps)) == 1:
        return _every(gaps[0])
    if count <= 6:
        return f"{_how_often(count, 'a day')}, at {_clock_list(times)} UTC"
    windows = _windows(times, gaps, cyclic=cyclic)
    if windows is None:  # one stretch around the clock
        cadence = _cadence(times, whole_day=True)
        if cadence:
            return cadence
        return _about(DAY / count) if approximate else None
    spans = [window for window in windows if len(window) > 1]
    singles = [window[0] for window in windows if len(window) == 1]
    cadences = {_cadence(window) for window in spans}
    if spans and len(spans) <= 3 and len(cadences) == 1 and None not in cadences:
        cadence = cadences.pop()
        words = f"{_spans(spans)} UTC, {cadence}"
        if not singles:
            return words
        regular = _regular(singles, spans[0]) if len(spans) == 1 else None
        if regular:
            return f"{words}, and {regular} at other times"
        if len(singles) <= 3:
            return f"{words}, and at {_clock_list(singles)} UTC"
    if not approximate:
        return None
    if spans and len(spans) <= 3 and not singles:
        runs = sum(len(window) for window in spans)
        return f"{_spans(spans)} UTC, {_about(sum(w[-1] - w[0] for w in spans) / (runs - len(spans)))}"
    return f"{count} times a day, between {_clock(times[0])} and {_clock(times[-1])} UTC"


def _windows(times: list[int], gaps: list[int], *, cyclic: bool) -> list[list[int]] | None:
    """The day's runs cut at the long pauses (minutes may pass 24 * 60 past midnight); None: no pause."""
    common = min(gaps, key=lambda gap: (-gaps.count(gap), gap))
    pauses = [gap > max(60, 1.5 * common) for gap in gaps]
    if not any(pauses):
        return None
    if not cyclic:
        pauses[-1] = True  # the next day may not run: stop at midnight
    windows = []
    starts = [(i + 1) % len(times) for i, pause in enumerate(pauses) if pause]
    for start in starts:
        window = [times[start]]
        i = start
        while not pauses[i]:
            i = (i + 1) % len(times)
            window.append(times[i] + (DAY if times[i] < window[0] else 0))
        windows.append(window)
    return sorted(windows)


def _cadence(window: list[int], *, whole_day: bool = False) -> str | None:
    """How often within a window: "every 10 minutes", "twice an hour, at :00 and :05"; None: irregular."""
    gaps = {later - earlier for earlier, later in zip(window, window[1:])}
    if whole_day:
        gaps.add(window[0] + DAY - window[-1])
    if len(gaps) == 1:
        return _every(gaps.pop())
    hours: dict[int, list[int]] = {}
    for minute in window:
        hours.setdefault(minute // 60, []).append(minute % 60)
    first, last = min(hours), max(hours)
    minutes = hours[first]
    if (whole_day and len(hours) != 24) or len(hours) != last - first + 1 or any(m != minutes for m in hours.values()):
        return None
    if len(minutes) <= 4:
        return f"{_how_often(len(minutes), 'an hour')}, at {_list([f':{m:02d}' for m in minutes])}"
    return _about(60 / len(minutes))


def _regular(singles: list[int], window: list[int]) -> str | None:
    """ "every 3 hours" when the lone runs outside the one window come that regularly, the window included."""
    end = window[-1]
    order = sorted(singles, key=lambda minute: (minute - end) % DAY)
    steps = [(later - earlier) % DAY for earlier, later in zip(order, order[1:])]
    if len(set(steps)) != 1:
        return None
    step = steps[0]
    if (order[0] - end) % DAY > step or (window[0] - order[-1]) % DAY > step:
        return None
    return _every(step)


def _spans(windows: list[list[int]]) -> str:
    return _list([f"from {_clock(window[0])} to {_clock(window[-1])}" for window in windows])


def _days_in_words(weekdays: list[int]) -> tuple[str, str]:
    """Which days, said before the times ("on weekdays") or after them (", except on Sundays")."""
    days = set(weekdays)
    if len(days) == 7:
        return "", ""
    if days == {0, 1, 2, 3, 4}:
        return "on weekdays", ""
    if days == {5, 6}:
        return "at weekends", ""
    if len(days) == 6:
        (missing,) = set(range(7)) - days
        return "", f", except on {WEEKDAYS[missing]}s"
    for first in days if len(days) >= 3 else ():  # 3 or more days in a row, maybe over the weekend: "Friday to Monday"
        if (first - 1) % 7 not in days and all((first + i) % 7 in days for i in range(len(days))):
            return f"{WEEKDAYS[first]} to {WEEKDAYS[(first + len(days) - 1) % 7]}", ""
    return "on " + _list([f"{WEEKDAYS[day]}s" for day in sorted(days)]), ""


def _every(minutes: int) -> str:
    """ "every minute", "every 10 minutes", "every hour", "every 3 hours", "every 2.5 hours"."""
    if minutes == 1:
        return "every minute"
    if minutes == 60:
        return "every hour"
    if minutes % 60 == 0:
        return f"every {minutes // 60} hours"
    if minutes > 120 and minutes % 30 == 0:
        return f"every {minutes / 60:.1f} hours"
    return f"every {minutes} minutes"


def _about(minutes: float) -> str:
    """An average gap, rounded to the minute, or to the half hour past an hour: "about every 7 minutes"."""
    return "about " + _every(round(minutes) if minutes < 60 else 30 * round(minutes / 30))


def _how_often(count: int, per: str) -> str:
    """ "once a day", "twice an hour", "3 times a day"."""
    times = "once" if count == 1 else "twice" if count == 2 else f"{count} times"
    return f"{times} {per}"


def _clock(minute: int) -> str:
    return f"{minute // 60 % 24:02d}:{minute % 60:02d}"


def _clock_list(minutes: list[int]) -> str:
    return _list([_clock(minute) for minute in minutes])


def _list(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def describe(schedule: Schedule, *, local_zone: timezone | None = None, measured: Sequence[str] = ()) -> str:
    """The cron lines in words, the next runs, the wait they ask for and, beside it, ``measured``
    (``measured_lines``: what GitHub really did, or how to find out), then the cost."""
    lines = []
    for cron, words in zip(schedule.crons, schedule.descriptions):
        lines.append(f'"{cron}": {words[0].lower() + words[1:]} (UTC)')
    lines.append("")
    lines.append("Next runs asked of GitHub (it may start them late, or skip some):")
    for run in schedule.next_runs:
        local = run.astimezone(local_zone)
        lines.append(f"  {run:%a %d %b %H:%M} UTC   {local:%H:%M %Z} local")
    lines.append("")
    lines += _waits(schedule)
    lines += measured
    minutes = schedule.runs_per_month  # each run is billed at least one whole started minute
    lines.append(
        f"Actions minutes: {schedule.runs_per_month} runs a month as set. Free in a public repository; in a private one "
        f"at least a minute each, {minutes} minutes a month if every run starts (GitHub Free includes {FREE_PRIVATE_MINUTES})."
    )
    if minutes > FREE_PRIVATE_MINUTES:
        every = MONTH / FREE_PRIVATE_MINUTES
        lines.append(f"  To stay within {FREE_PRIVATE_MINUTES} in a private repository, run at most every {_minutes(every)}.")
    if schedule.too_fast:
        lines.append(f"Warning: runs {_minutes(schedule.shortest_gap)} apart; GitHub runs a schedule at most every 5 minutes.")
    return "\n".join(lines)


def _waits(schedule: Schedule) -> list[str]:
    """How long a message waits: what the cron lines ask for, then what GitHub makes of it."""
    return [
        f"If every run started on time, a message would wait about {_minutes(schedule.average_wait)} on average "
        f"for the next run and {_minutes(schedule.longest_gap)} at the longest, plus the time the run takes.",
        # github/docs, schedule-delay.md: "If the load is sufficiently high enough, some queued jobs may be dropped."
        "GitHub does not promise that: when it is busy (most of all at the top of the hour) scheduled runs "
        "start late and some are dropped, so a message can wait much longer.",
    ]


def measured_lines(runs: Sequence[datetime] | None, schedule: Schedule, now: datetime | None = None) -> list[str]:
    """How far apart GitHub really started the scheduled runs of the last day (``runs``: when each
    came), in the words the summary and the greeting use; None: not asked, so how to ask."""
    if runs is None:
        return ["To see how far apart GitHub really starts them, give this command the repository and a token that "
                "may read its Actions, then run it again:", f"  {HOW_TO_MEASURE}"]
    now = now or datetime.now(timezone.utc)
    cadence = measure(runs, now)
    if cadence is None:
        count = len(recent(runs, now))
        if not count:
            last = f" (the last one came {max(runs):%a %d %b %H:%M} UTC)" if runs else ""
            return [f"No scheduled run in the last day{last}: a new workflow's first runs can take hours, and GitHub "
                    "turns the schedule of a public repository off after 60 days without activity (Actions → bot → "
                    "Enable workflow)."]
        return [f"Only {count} scheduled run{'s' if count != 1 else ''} in the last day: too few to tell how far apart "
                "GitHub really starts them."]
    lines = [f"Measured: {cadence_in_words(cadence)}.",
             f'The greeting and /help say: "{measured_wait(cadence.typical, cadence.worst)}"']
    warning = alarm(cadence, lambda: schedule.longest_gap.total_seconds())
    if warning:
        lines.append(f"Warning: {warning}")
    return lines


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes >= 120:
        return f"{minutes / 60:.1f} hours".replace(".0 ", " ")
    return f"{minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"
