"""Crash safety of `python -m botjob run`: repeated SIGKILLs lose nothing and repeat at most one reply each.

The job runs as a real subprocess against the sandboxes, as the workflow runs
it, and is killed at random moments (seeded) while it answers a backlog from
many chats. Only the CLI, the sandboxes and the files under state/ are looked
at, so the test holds however the job schedules its work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest

from botjob.sandbox import ModelSandbox, TelegramSandbox
from conftest import FAKE_TOKEN

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED = 20240607
KILLS = 8
FIRST_CHAT = 7_000


@dataclass(frozen=True)
class Question:
    update_id: int
    chat_id: int
    message_id: int
    text: str


@pytest.fixture
def telegram():
    with TelegramSandbox(token=FAKE_TOKEN) as server:
        server.delay("sendMessage", 0.05)  # sending takes a moment, as it does for real
        yield server


@pytest.fixture
def model():
    with ModelSandbox(latency=0.05) as server:
        yield server


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # One reply per question, so each question's reply can be told apart from a repeat.
    (tmp_path / "botjob.yaml").write_text("chat:\n  merge_bursts: false\n", encoding="utf-8")
    return tmp_path


class Runs:
    """Starts `python -m botjob run` the way the workflow does, in its own working directory."""

    def __init__(self, workdir: Path, telegram: TelegramSandbox, model: ModelSandbox) -> None:
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.url,
            "BOTJOB_LLM_URL": model.url,
            "PYTHONPATH": str(REPO_ROOT),
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
        for name in ("HF_TOKEN", "BOTJOB_CONFIG", "BOTJOB_STATE_KEY", "GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY"):
            self.env.pop(name, None)
        self.count = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.count += 1
        log = self.workdir / f"run-{self.count}.log"
        return subprocess.Popen(
            [sys.executable, "-m", "botjob", "run", "--state-dir", str(self.state_dir)],
            cwd=self.workdir,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return (self.workdir / f"run-{self.count}.log").read_text(encoding="utf-8", errors="replace")

    def complete(self, timeout: float = 30) -> None:
        process = self.start()
        try:
            code = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        assert code == 0, f"run {self.count} exited {code}:\n{self.log()}"


def read_checkpoint(state_dir: Path) -> dict | None:
    """state/offset.json as the next run would read it; fails the test if it is not valid JSON."""
    path = state_dir / "offset.json"
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError:
        pytest.fail(f"state/offset.json is not valid JSON after a kill (not written atomically?): {text!r}")
    assert isinstance(document, dict) and type(document.get("offset")) is int and document["offset"] >= 0, document
    finished = document.get("finished", [])
    assert isinstance(finished, list) and all(type(i) is int and i >= document["offset"] for i in finished), document
    return document


def ask(telegram: TelegramSandbox, chat_id: int, text: str) -> Question:
    update_id = telegram.user_says(text, chat_id=chat_id)
    update = next(u for u in telegram.pending() if u["update_id"] == update_id)
    return Question(update_id, chat_id, update["message"]["message_id"], text)


def wait_until_answering(model: ModelSandbox, requests_before: int, process: subprocess.Popen[bytes]) -> None:
    """Until the run asks the model its first question: start-up takes a while, and varies by machine."""
    deadline = time.monotonic() + 15
    while len(model.requests) == requests_before and process.poll() is None:
        assert time.monotonic() < deadline, "the run asked the model nothing within 15 s"
        time.sleep(0.01)


def wait_until_sent(telegram: TelegramSandbox, count: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while len(telegram.sent()) < count and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)


def test_repeated_sigkills_lose_nothing_and_repeat_at_most_one_reply_per_kill(telegram, model, workdir) -> None:
    rng = random.Random(SEED)
    runs = Runs(workdir, telegram, model)
    questions = [
        ask(telegram, FIRST_CHAT + n % 10, f"question {n}: what is {n} times {n % 10 + 2}?") for n in range(30)
    ]

    kills = interrupted_mid_batch = 0
    last_offset = 0
    for round_number in range(KILLS):
        sent_before, requests_before = len(telegram.sent()), len(model.requests)
        process = runs.start()
        wait_until_answering(model, requests_before, process)
        # Kill while replies go out: once a few have left (or, now and then, before the first one does).
        wait_until_sent(telegram, sent_before + rng.randint(0, 3), process)
        time.sleep(rng.uniform(0.0, 0.05))
        killed = process.poll() is None
        if killed:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()

        checkpoint = read_checkpoint(runs.state_dir)
        offset = checkpoint["offset"] if checkpoint else 0
        assert offset >= last_offset, f"the stored offset went back from {last_offset} to {offset}"
        last_offset = offset
        if killed and len(telegram.sent()) > sent_before and offset <= max(q.update_id for q in questions):
            interrupted_mid_batch += 1
        if rng.random() < 0.6:  # people keep writing between runs
            for _ in range(rng.randint(1, 4)):
                n = len(questions)
                questions.append(ask(telegram, FIRST_CHAT + rng.randrange(14), f"later question {n} (round {round_number})"))

    assert interrupted_mid_batch >= KILLS // 2, f"only {interrupted_mid_batch} kills landed while replies were going out"

    runs.complete()

    sent = telegram.sent()
    replies = Counter((m["chat_id"], m["reply_to_message_id"]) for m in sent)
    for question in questions:
        threaded = [m for m in sent if (m["chat_id"], m["reply_to_message_id"]) == (question.chat_id, question.message_id)]
        assert threaded, f"update {question.update_id} in chat {question.chat_id} got no reply"
        assert {m["text"] for m in threaded} == {f"Echo: {question.text}"}
    asked = {(q.chat_id, q.message_id) for q in questions}
    assert set(replies) <= asked, "a reply was threaded to something nobody asked"
    duplicates = sum(count - 1 for count in replies.values())
    assert duplicates <= kills, f"{duplicates} repeated replies after {kills} kills: {replies.most_common(5)}"

    checkpoint = read_checkpoint(runs.state_dir)
    assert checkpoint is not None and checkpoint["offset"] > max(q.update_id for q in questions)
    assert not checkpoint.get("finished")

    sent_so_far = len(sent)
    runs.complete()
    assert len(telegram.sent()) == sent_so_far, "a run with nothing new sent something"
    assert telegram.pending() == []
