"""The idle check the workflow runs first, on a bare python3: is anything waiting?"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from botjob.errors import Failure
from botjob.peek import peek
from botjob.sandbox import TelegramSandbox

REPO = Path(__file__).resolve().parent.parent


def peek_env(telegram: TelegramSandbox) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}


def test_nothing_waiting_on_a_quiet_bot(telegram, tmp_path) -> None:
    assert peek(peek_env(telegram), tmp_path).waiting is False


def test_a_new_message_is_waiting(telegram, tmp_path) -> None:
    telegram.user_says("hello", chat_id=1)
    telegram.user_says("again", chat_id=1)
    result = peek(peek_env(telegram), tmp_path)
    assert result.waiting and result.count == 2


def test_peeking_consumes_nothing(telegram, tmp_path) -> None:
    telegram.user_says("hello", chat_id=1)
    peek(peek_env(telegram), tmp_path)
    peek(peek_env(telegram), tmp_path)
    assert len(telegram.pending()) == 1


def test_updates_already_answered_do_not_count(telegram, tmp_path) -> None:
    first = telegram.user_says("answered last run", chat_id=1)
    (tmp_path / "offset.json").write_text(json.dumps({"offset": first, "finished": [first]}))
    assert peek(peek_env(telegram), tmp_path).waiting is False
    telegram.user_says("new", chat_id=1)
    assert peek(peek_env(telegram), tmp_path).count == 1


def test_a_webhook_is_a_problem_for_the_owner_with_a_fix(telegram, tmp_path) -> None:
    telegram.set_webhook()
    result = peek(peek_env(telegram), tmp_path)
    assert not result.waiting
    assert result.error is not None and result.error.kind is Failure.BOT_WIDE
    assert "check --fix" in result.error.explain()


def test_a_refused_token_is_a_problem_for_the_owner(telegram, tmp_path) -> None:
    env = {**peek_env(telegram), "TELEGRAM_BOT_TOKEN": "123:wrong-token-for-this-bot"}
    result = peek(env, tmp_path)
    assert result.error is not None and result.error.kind is Failure.BOT_WIDE and "@BotFather" in result.error.explain()
    assert "wrong-token" not in result.error.explain()


def test_an_outage_lets_the_run_decide(telegram, tmp_path) -> None:
    telegram.fail("getUpdates", 502)
    result = peek(peek_env(telegram), tmp_path)
    assert result.waiting and result.error is not None and result.error.kind is Failure.TRANSIENT


def run_bare(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """python -S: no site-packages at all, like the runner's python3 before anything is installed."""
    return subprocess.run(
        [sys.executable, "-S", "-m", "botjob", *args],
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(REPO), **env},
        cwd=cwd, capture_output=True, text=True, timeout=30,
    )


def test_peek_runs_on_the_standard_library_alone_and_sets_the_step_output(telegram, tmp_path) -> None:
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {**peek_env(telegram), "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}

    quiet = run_bare("peek", env=env, cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert output.read_text() == "waiting=false\n"
    assert "Nothing waiting" in summary.read_text()

    telegram.user_says("hello", chat_id=1)
    busy = run_bare("peek", env=env, cwd=tmp_path)
    assert busy.returncode == 0 and "1 update waiting" in busy.stdout
    assert output.read_text().splitlines()[-1] == "waiting=true"


def test_peek_on_a_webhook_fails_the_step_with_an_annotation(telegram, tmp_path) -> None:
    telegram.set_webhook()
    env = {**peek_env(telegram), "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out")}
    result = run_bare("peek", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("::error::Telegram getUpdates failed 409")
    assert telegram.token not in result.stdout + result.stderr


def test_peek_without_a_token_says_where_to_put_it(tmp_path) -> None:
    result = run_bare("peek", env={}, cwd=tmp_path)  # on a computer: an export
    assert result.returncode == 2 and "export TELEGRAM_BOT_TOKEN=" in result.stderr
