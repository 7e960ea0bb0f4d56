"""Shared fixtures: the sandbox stand-ins over real HTTP, and jobs wired to them."""

from __future__ import annotations

import json
import logging
import os
import threading

os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"  # before huggingface_hub is imported anywhere

from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from botjob.config import Config, RunSettings
from botjob.job import BatchJob
from botjob.pacing import Pacer
from botjob.sandbox import ModelSandbox, TelegramSandbox
from botjob.wiring import build_job

FAKE_TOKEN = "123456789:AAFakeTokenForTests-never-real-0123456"  # the bot's id is 123456789


def stored_offset(state_dir: Path) -> int:
    """The offset the next run starts from, as state/offset.json holds it."""
    return json.loads((state_dir / "offset.json").read_text())["offset"]


def message_id_of(telegram: TelegramSandbox, update_id: int) -> int:
    """The message id of a queued update (ask before the run confirms it)."""
    update = next(u for u in telegram.pending() if u["update_id"] == update_id)
    return next(v for v in update.values() if isinstance(v, dict))["message_id"]


@pytest.fixture(autouse=True)
def logging_as_it_was():
    """`cli.main` run in-process installs its own log handler (on the test's captured stderr): undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def telegram() -> Iterator[TelegramSandbox]:
    with TelegramSandbox(token=FAKE_TOKEN) as server:
        yield server


@pytest.fixture
def model() -> Iterator[ModelSandbox]:
    with ModelSandbox() as server:
        yield server


@pytest.fixture
def env(telegram: TelegramSandbox, model: ModelSandbox) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url}


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


class FakeClock:
    """Time that moves only when the job sleeps, so retry tests take no real time.

    The chats' workers sleep at once: each sleep moves the time on under a lock, so it never
    goes back, and a send after a sleep always comes at or after the time it waited for.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_job(env: dict[str, str], state_dir: Path, clock: FakeClock):
    """A job wired exactly as `python -m botjob run` wires it, against the sandboxes."""

    def make(config: Config | None = None, **run_settings: object) -> BatchJob:
        config = config or Config(run=RunSettings(**run_settings))  # type: ignore[arg-type]
        job = build_job(config, env, state_dir)
        job.clock, job.sleep = clock, clock.sleep
        job.pacer = Pacer(clock, clock.sleep)  # pacing waits on the fake clock too
        return job

    return make


class Calendar:
    """Today's UTC date, as the daily counts and the owner's stats see it; move it with `.today += timedelta(days=1)`."""

    def __init__(self) -> None:
        self.today = date(2030, 3, 14)


@pytest.fixture
def calendar(monkeypatch) -> Calendar:
    from botjob import memory, stats

    calendar = Calendar()

    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz=None):  # noon UTC of the calendar's day
            return datetime.combine(calendar.today, datetime.min.time().replace(hour=12), tzinfo=timezone.utc)

    monkeypatch.setattr(memory, "datetime", FrozenDatetime)
    monkeypatch.setattr(stats, "datetime", FrozenDatetime)
    return calendar
