"""The commands as an owner runs them: output, exit codes, and never a token on screen."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from botjob.cli import main
from botjob.sandbox import ModelSandbox, TelegramSandbox

REPO = Path(__file__).resolve().parent.parent
HF_SECRET = "hf_FakeHuggingFaceTokenForTests0123456789"


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "botjob", *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_run_answers_and_prints_a_summary(telegram: TelegramSandbox, env, tmp_path: Path) -> None:
    telegram.user_says("hello", chat_id=1001)
    result = run_cli("run", "--state-dir", str(tmp_path / "state"), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "answered 1" in result.stdout
    assert (tmp_path / "state" / "offset.json").exists()


@pytest.mark.parametrize("verbose", [False, True])
def test_no_token_is_ever_printed(telegram: TelegramSandbox, model: ModelSandbox, tmp_path: Path, verbose: bool) -> None:
    """Success, a Telegram error, an unreachable Telegram and a model failure: the tokens never show."""
    flags = ["-v"] if verbose else []
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "BOTJOB_LLM_URL": model.url,
        "HF_TOKEN": HF_SECRET,
    }
    (tmp_path / "botjob.yaml").write_text("run:\n  retries: 0\n")  # the unreachable case fails fast
    outputs = []
    telegram.user_says("hello", chat_id=1001)
    outputs.append(run_cli("run", *flags, "--state-dir", "s", env=env, cwd=tmp_path))
    telegram.user_says("again", chat_id=1001)
    model.fail(401, times=10)
    outputs.append(run_cli("run", *flags, "--state-dir", "s", env=env, cwd=tmp_path))
    telegram.fail("getUpdates", 401, times=10)
    outputs.append(run_cli("run", *flags, "--state-dir", "s", env=env, cwd=tmp_path))
    outputs.append(run_cli("run", *flags, "--state-dir", "s", env={**env, "TELEGRAM_API_URL": f"http://127.0.0.1:{unused_port()}"}, cwd=tmp_path))

    assert [o.returncode for o in outputs] == [0, 1, 1, 0]
    assert "error: Telegram getUpdates failed 401" in outputs[2].stderr and "@BotFather" in outputs[2].stderr
    assert "warning: Telegram getUpdates failed: no answer from Telegram" in outputs[3].stderr
    everything = "".join(o.stdout + o.stderr for o in outputs)
    assert "127.0.0.1" in everything or not verbose  # the debug log really did show request lines
    assert telegram.token not in everything
    assert telegram.token.split(":")[1] not in everything
    assert HF_SECRET not in everything


def test_missing_bot_token_says_where_to_get_one(tmp_path: Path) -> None:
    result = run_cli("run", env={}, cwd=tmp_path)
    assert result.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in result.stderr and "@BotFather" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_hf_token_for_a_hosted_model_is_explained(tmp_path: Path) -> None:
    result = run_cli("run", env={"TELEGRAM_BOT_TOKEN": "1:x"}, cwd=tmp_path)
    assert result.returncode == 2 and "HF_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_settings_file_names_the_key_and_the_file(env, tmp_path: Path) -> None:
    (tmp_path / "botjob.yaml").write_text("llm:\n  modle: gpt2\n")
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "botjob.yaml" in result.stderr and "llm.modle" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_named_settings_file_that_does_not_exist_is_an_error(env, tmp_path: Path) -> None:
    assert main(["run", "--config", str(tmp_path / "nope.yaml")], env=env) == 2


def test_an_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("fly", env={}, cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_the_demo_needs_no_tokens_and_shows_a_threaded_transcript(tmp_path: Path) -> None:
    result = run_cli("demo", env={}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "Alice: What is the capital of France?" in out
    assert "bot -> Alice, replying to “And how many people live there?”: Echo: What is the capital of France?" in out
    assert "bot -> Bob, replying to “Thanks! And one for a dog?”" in out
    assert "bot -> Carol, replying to “/start”: Hi!" in out
    assert out.count("bot -> ") == 4  # a burst of two answered once, then one reply per message
    assert "stored offset before: 0" in out


def test_in_actions_the_run_writes_a_summary_without_what_people_wrote(telegram, model, env, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    telegram.user_says("my secret diary entry", chat_id=424242, first_name="Zelda")
    telegram.user_says("group chatter", chat_id=-434343, chat_type="group", first_name="Ygritte")
    actions_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    result = run_cli("run", "--state-dir", "s", env=actions_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    markdown = summary.read_text()
    assert "| answered | 1 |" in markdown and "| skipped (no reply needed) | 1 |" in markdown
    assert "model latency" in markdown and "→" in markdown
    public = markdown + result.stdout + result.stderr
    for private in ("secret diary", "Zelda", "Ygritte", "424242", "434343", "Echo"):
        assert private not in public


def test_in_actions_a_failure_the_owner_must_fix_is_an_error_annotation(telegram, model, env, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    telegram.user_says("hello", chat_id=1)
    model.fail(402, times=10)
    actions_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    result = run_cli("run", "--state-dir", "s", env=actions_env, cwd=tmp_path)

    assert result.returncode == 1
    annotation = next(line for line in result.stdout.splitlines() if line.startswith("::error::"))
    assert "credits" in annotation and "BOTJOB_LLM_URL" in annotation
    assert "❌" in summary.read_text() and "needs the owner" in summary.read_text()


def test_an_unexpected_error_shows_a_traceback_without_the_token(env, monkeypatch, capsys) -> None:
    import botjob.cli

    def broken(args, env):
        raise RuntimeError(f"something odd near {env['TELEGRAM_BOT_TOKEN']}")

    monkeypatch.setattr(botjob.cli, "command_run", broken)
    code = main(["run"], env=env)
    err = capsys.readouterr().err
    assert code == 1
    assert "Traceback" in err and "RuntimeError: something odd near ***" in err and "a bug in botjob" in err
    assert env["TELEGRAM_BOT_TOKEN"] not in err


@pytest.mark.parametrize(
    ("fault", "exit_code", "owner_sees", "user_sees"),
    [
        (503, 0, "warning: model answered HTTP 503", None),  # passing: the next run retries, no reply yet
        (402, 1, "error: model answered HTTP 402: no inference credits left", None),  # the owner must act
        (422, 0, "failed 1", "Sorry, I couldn't answer that one."),  # only this question: an apology
    ],
)
def test_each_failure_class_as_the_owner_and_the_user_see_it(
    telegram, model, env, tmp_path: Path, fault: int, exit_code: int, owner_sees: str, user_sees: str | None
) -> None:
    (tmp_path / "botjob.yaml").write_text("run:\n  retries: 0\n")
    telegram.user_says("hello", chat_id=1)
    model.fail(fault, times=2)  # the model-name lookup, then the question

    result = run_cli("run", "--state-dir", "s", env=env, cwd=tmp_path)

    assert result.returncode == exit_code
    assert owner_sees in result.stdout + result.stderr
    assert [m["text"][: len(user_sees or "")] for m in telegram.sent()] == ([user_sees] if user_sees else [])
    assert (len(telegram.pending()) == 1) is (user_sees is None)  # unanswered questions stay with Telegram
