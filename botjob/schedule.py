"""The workflow's cron lines in words: next runs, how long people wait, what it costs in Actions minutes.

Cron parsing and wording come from cronsim (no dependencies, the parser
behind healthchecks.io); GitHub's own rules (UTC, every 5 minutes at most,
whole started minutes billed) are applied here.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml
from cronsim import CronSim, CronSimError

from .errors import ConfigError

DEFAULT_WORKFLOW = ".github/workflows/bot.yml"
GITHUB_MINIMUM = timedelta(minutes=5)
MONTH = timedelta(days=30)
FREE_PRIVATE_MINUTES = 2000  # GitHub Free's monthly Actions minutes for private repositories


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
    if not crons or not all(isinstance(c, str) for c in crons):
        raise ConfigError(f"{path} has no schedule", hint='add "on: schedule: - cron: ..." (see the comments in bot.yml)')
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
            hint='for example "*/10 * * * *" runs every 10 minutes',
        )
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
    """How often the bot reads messages, for its greeting: "every 10 minutes", "about every 2 hours"."""
    about = "" if schedule.shortest_gap == schedule.longest_gap else "about "
    average = 2 * schedule.average_wait if about else schedule.shortest_gap
    return f"{about}every {_minutes(average)}".replace("every 1 minute", "every minute")


def describe(schedule: Schedule, *, local_zone: timezone | None = None) -> str:
    lines = []
    for cron, words in zip(schedule.crons, schedule.descriptions):
        lines.append(f'"{cron}": {words[0].lower() + words[1:]} (UTC)')
    lines.append("")
    lines.append("Next runs (GitHub often starts them a few minutes late):")
    for run in schedule.next_runs:
        local = run.astimezone(local_zone)
        lines.append(f"  {run:%a %d %b %H:%M} UTC   {local:%H:%M %Z} local")
    lines.append("")
    lines.append(
        f"People wait about {_minutes(schedule.average_wait)} on average for the next run, "
        f"at most {_minutes(schedule.longest_gap)}, plus GitHub's start delay and the time the run takes."
    )
    minutes = schedule.runs_per_month  # each run is billed at least one whole started minute
    lines.append(
        f"Actions minutes: {schedule.runs_per_month} runs a month. Free in a public repository; in a private one "
        f"at least {minutes} minutes a month (GitHub Free includes {FREE_PRIVATE_MINUTES})."
    )
    if minutes > FREE_PRIVATE_MINUTES:
        every = MONTH / FREE_PRIVATE_MINUTES
        lines.append(f"  To stay within {FREE_PRIVATE_MINUTES} in a private repository, run at most every {_minutes(every)}.")
    if schedule.too_fast:
        lines.append(f"Warning: runs {_minutes(schedule.shortest_gap)} apart; GitHub runs a schedule at most every 5 minutes.")
    return "\n".join(lines)


def _minutes(span: timedelta) -> str:
    minutes = span.total_seconds() / 60
    if minutes >= 120:
        return f"{minutes / 60:.1f} hours".replace(".0 ", " ")
    return f"{minutes:.0f} minute{'s' if round(minutes) != 1 else ''}"
