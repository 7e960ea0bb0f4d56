"""The owner's /stats: what the bot did on each UTC day of the last 30, in counts, kept in state/stats.json.

state/ may be public, so only counts are kept: questions answered, pictures drawn, apologies, replies
that could not be delivered, runs stopped, answers by a fallback model, model calls by model name, and
how many chats got an answer. Those chats are told apart within the current day only, by names keyed
for this file and this day (memory.keyed_name), which no other file and no other day shares; once the
day is over they are reduced to their number. Nothing links a chat across days, so over 7 and 30 days
the figure is the busiest day's, never a number of distinct chats.

Standard library only at import: save-state merges and checks this file on a bare python3.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

from .cadence import in_words as cadence_in_words
from .conversation import Action, Work
from .errors import Failure, StateError
from .run_report import ModelsUsed, RunReport
from .state import Cadence, write_json_atomically

log = logging.getLogger(__name__)

DAYS = 30  # days kept, today included
WEEK = 7
STATS_NAMES = "stats"  # the purpose chat names are keyed for (memory.keyed_name)
FORMAT_VERSION = 1
# The counters of a day, in the order /stats shows them. questions: messages the model answered (a burst
# of three counts three); pictures: pictures delivered; fallbacks: answers by a model other than the first
# of its list; apologies: messages that got a sorry instead of an answer; undelivered: replies (or sorries)
# Telegram would not take for their chat; passing_trouble and needs_owner: runs stopped by each.
COUNTERS = ("questions", "pictures", "fallbacks", "apologies", "undelivered", "passing_trouble", "needs_owner")
_NAME = re.compile(r"[0-9a-f]{32}")  # memory.keyed_name
_MOST_MODELS = 100  # model names a day may hold (the owner's lists are far shorter)
_LONGEST_MODEL_NAME = 500


def _utc_today() -> date:
    return datetime.now(timezone.utc).date()


@dataclass
class Day:
    """One UTC day's counts. ``names``: the chats answered that day, keyed for it, while it is the
    latest day kept; ``chats``: their number once reduced."""

    counts: dict[str, int] = field(default_factory=dict)
    models: dict[str, int] = field(default_factory=dict)  # model name (as run reports name it) -> calls it answered
    chats: int = 0
    names: set[str] = field(default_factory=set)

    @property
    def chat_count(self) -> int:
        return max(self.chats, len(self.names))

    def add(self, other: Day) -> None:
        for counter, number in other.counts.items():
            self.counts[counter] = self.counts.get(counter, 0) + number
        for model, calls in other.models.items():
            self.models[model] = self.models.get(model, 0) + calls
        self.chats += other.chats
        self.names |= other.names

    def __bool__(self) -> bool:  # whether there is anything to keep: an empty day is never written
        return any(self.counts.values()) or any(self.models.values()) or bool(self.chats or self.names)


def of_run(report: RunReport, models: Iterable[ModelsUsed]) -> Day:
    """What only a run's report knows: its failures, whether it was stopped, its model calls."""
    day = Day()
    error = report.error
    apologies = report.apologies
    counts = {
        "apologies": apologies,
        "undelivered": max(0, report.failed - apologies),  # every other failed message: its reply was refused
        "passing_trouble": int(error is not None and error.kind is Failure.TRANSIENT),
        "needs_owner": int(error is not None and error.kind is not Failure.TRANSIENT),
    }
    for used in models:
        for model in used.models:
            counts["fallbacks"] = counts.get("fallbacks", 0) + model.instead  # answers an earlier model could not give
            if model.answered:
                day.models[model.name] = day.models.get(model.name, 0) + model.answered
    day.counts = {counter: number for counter, number in counts.items() if number}
    return day


# ---------------------------------------------------------------------------- the file


def parse(document: object) -> dict[date, Day]:
    """The days a stats.json holds; ValueError naming the first thing that is not what the bot writes."""
    if not isinstance(document, dict) or set(document) != {"v", "days"}:
        raise ValueError('not {"v": ..., "days": {...}}')
    if document["v"] != FORMAT_VERSION or isinstance(document["v"], bool):
        raise ValueError(f"version {document['v']!r}, not {FORMAT_VERSION}")
    entries = document["days"]
    if not isinstance(entries, dict) or len(entries) > DAYS:
        raise ValueError(f"days is not a mapping of at most {DAYS} days")
    days: dict[date, Day] = {}
    for key, entry in entries.items():
        try:
            day = date.fromisoformat(key)
        except (TypeError, ValueError):
            raise ValueError(f"{str(key)[:20]!r} is not a date") from None
        if day.isoformat() != key:
            raise ValueError(f"{key!r} is not a date written YYYY-MM-DD")
        days[day] = _parse_day(key, entry)
    if any(day.names for when, day in days.items() if when != max(days)):
        raise ValueError("chat names on a day that is over (they are reduced to a count)")
    return days


def _parse_day(key: str, entry: object) -> Day:
    if not isinstance(entry, dict) or not set(entry) <= {*COUNTERS, "models", "chats", "chat_names"}:
        raise ValueError(f"{key} holds something other than counts")
    numbers = {name: entry[name] for name in (*COUNTERS, "chats") if name in entry}
    if not all(_is_count(number) for number in numbers.values()):
        raise ValueError(f"{key} holds a count that is not a whole number from 0")
    models = entry.get("models", {})
    if not isinstance(models, dict) or len(models) > _MOST_MODELS or not all(
        isinstance(name, str) and 0 < len(name) <= _LONGEST_MODEL_NAME and _is_count(calls) for name, calls in models.items()
    ):
        raise ValueError(f"{key} holds model calls that are not model names with counts")
    names = entry.get("chat_names", [])
    if not isinstance(names, list) or not all(isinstance(name, str) and _NAME.fullmatch(name) for name in names):
        raise ValueError(f"{key} holds chat names that are not keyed names")
    if len(set(names)) != len(names):
        raise ValueError(f"{key} holds a chat name twice")
    counts = {name: number for name, number in numbers.items() if name != "chats"}
    return Day(counts, dict(models), numbers.get("chats", 0), set(names))


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def shape_problem(document: object) -> str | None:
    """What is wrong with a stats.json handed on, or None (for save-state --from)."""
    try:
        parse(document)
    except ValueError as error:
        return str(error)
    return None


def document_of(days: dict[date, Day], today: date) -> dict[str, object]:
    """The file's content: the days of the last DAYS up to ``today``, names kept for ``today`` alone."""
    first = today - timedelta(days=DAYS - 1)
    entries: dict[str, object] = {}
    for when in sorted(days, reverse=True):
        day = days[when]
        if not first <= when <= today or not day:
            continue
        entry: dict[str, object] = {counter: day.counts[counter] for counter in COUNTERS if day.counts.get(counter)}
        if day.models:
            entry["models"] = dict(sorted(day.models.items()))
        if when == today and day.names:
            entry["chat_names"] = sorted(day.names)
            if day.chats > len(day.names):
                entry["chats"] = day.chats
        elif day.chat_count:
            entry["chats"] = day.chat_count  # the day is over: its names are reduced to their number
        entries[when.isoformat()] = entry
    return {"v": FORMAT_VERSION, "days": entries}


def merge(theirs: object, ours: object) -> dict[str, object]:
    """Two versions written by racing runs: per day and counter the larger (a race may undercount, never
    count twice), today's names together; ValueError when a side is not a stats file."""
    sides = parse(theirs), parse(ours)
    merged: dict[date, Day] = {}
    for when in set(sides[0]) | set(sides[1]):
        one, other = (side.get(when, Day()) for side in sides)
        merged[when] = Day(
            {c: max(one.counts.get(c, 0), other.counts.get(c, 0)) for c in COUNTERS if c in one.counts or c in other.counts},
            {m: max(one.models.get(m, 0), other.models.get(m, 0)) for m in {*one.models, *other.models}},
            max(one.chats, other.chats),
            one.names | other.names,
        )
    return document_of(merged, max(merged)) if merged else {"v": FORMAT_VERSION, "days": {}}


# ---------------------------------------------------------------------------- the run's book


class StatsBook:
    """state/stats.json for one job: read once, counted as the runs go (under the job's counting lock),
    written at the end of a run that counted something.

    ``secret``: BOTJOB_STATE_KEY, else the bot token; the names' secret is derived from it (as for
    usage.json) once a chat is first named. ``cadence`` reads state/cadence.json.
    """

    def __init__(self, path: Path, secret: str, *, today: Callable[[], date] = _utc_today,
                 cadence: Callable[[], Cadence | None] = lambda: None) -> None:
        self.path = Path(path)
        self._secret = secret
        self._name_secret = ""
        self._today = today
        self._cadence = cadence
        self._days = self._load()
        self._changed = False

    def __repr__(self) -> str:  # the secret never reaches a log line or a traceback by accident
        return f"StatsBook({self.path})"

    def answered(self, work: Work, chat_id: int) -> None:
        """A question or a picture got its answer: counted today, and its chat among today's."""
        if work.action is Action.ASK:
            counter, number = "questions", len(work.update_ids)
        elif work.action is Action.DRAW:
            counter, number = "pictures", 1
        else:
            return  # commands and fixed texts are no questions
        today = self._today()
        day = self._days.setdefault(today, Day())
        day.counts[counter] = day.counts.get(counter, 0) + number
        day.names.add(self._name(chat_id, today))
        self._changed = True

    def record(self, report: RunReport) -> None:
        """The end of a run: what its report counted, then one atomic write if anything was counted."""
        run = of_run(report, report.models)
        if run:
            self._days.setdefault(self._today(), Day()).add(run)
            self._changed = True
        if not self._changed:
            return  # an idle run changes nothing in state/, so it adds no commit
        try:
            write_json_atomically(self.path, document_of(self._days, self._today()))
        except StateError as error:  # counts are a nicety: the answers are recorded already
            log.warning("%s not written (%s); this run's counts are left out", self.path.name, error)
            return
        self._changed = False

    def reply(self, report: RunReport, models: Iterable[ModelsUsed]) -> str:
        """/stats: the days kept, this run's counts so far included (call under the counting lock)."""
        today = self._today()
        days = {when: _copy(day) for when, day in self._days.items()}
        days.setdefault(today, Day()).add(of_run(report, models))
        return in_words(days, today, self._cadence())

    def _name(self, chat_id: int, day: date) -> str:
        from .memory import keyed_name, name_secret  # cryptography: not for save-state's bare python3

        if not self._name_secret:
            self._name_secret = name_secret(self._secret)
        return keyed_name(self._name_secret, STATS_NAMES, chat_id, day)

    def _load(self) -> dict[date, Day]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as error:
            log.warning("%s cannot be read (%s); counting afresh", self.path.name, type(error).__name__)
            return {}
        try:
            return parse(json.loads(text))
        except (ValueError, RecursionError) as error:
            log.warning("%s is not what the bot writes (%s); counting afresh", self.path.name, error)
            return {}


def _copy(day: Day) -> Day:
    return Day(dict(day.counts), dict(day.models), day.chats, set(day.names))


# ---------------------------------------------------------------------------- the reply


_LABELS = {
    "questions": "Questions answered",
    "pictures": "Pictures drawn",
    "fallbacks": "Answers by a fallback",
    "apologies": "Apologies",
    "undelivered": "Replies not delivered",
    "passing_trouble": "Runs stopped, passing trouble",
    "needs_owner": "Runs stopped for you to fix",
}


def in_words(days: dict[date, Day], today: date, cadence: Cadence | None) -> str:
    """The /stats reply: plain text, a line per count, short enough for a phone. No names, no ids, no words."""

    def window(length: int) -> list[Day]:
        return [day for when, day in days.items() if today - timedelta(days=length - 1) <= when <= today]

    spans = (window(1), window(WEEK), window(DAYS))
    lines = ["Bot stats, per UTC day: today · 7 days · 30 days", ""]
    for counter in COUNTERS:
        figures = (sum(day.counts.get(counter, 0) for day in span) for span in spans)
        lines.append(f"{_LABELS[counter]}: {' · '.join(map(str, figures))}")
        if counter == "pictures":
            busiest = (max((day.chat_count for day in span), default=0) for span in spans)
            lines.append(f"Chats answered: {' · '.join(map(str, busiest))}")
    calls: dict[str, int] = {}
    for day in spans[2]:
        for model, number in day.models.items():
            calls[model] = calls.get(model, 0) + number
    lines += ["", "Model calls, 30 days:" if calls else "Model calls, 30 days: none"]
    lines += [f"{model}: {number}" for model, number in sorted(calls.items(), key=lambda item: (-item[1], item[0]))]
    lines += ["", f"Scheduled runs: {cadence_in_words(cadence)}" if cadence else "Scheduled runs: not measured yet"]
    lines += ["", "Chats are told apart within a day only: over 7 and 30 days, the busiest day's number."]
    return "\n".join(lines)
