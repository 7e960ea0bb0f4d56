"""The set-up doctor against the sandbox: each misconfiguration is caught with a specific fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botjob.cli import main

REPO = Path(__file__).resolve().parent.parent
HF_SECRET = "hf_FakeHuggingFaceTokenForTests0123456789"


@pytest.fixture
def owner_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fork's top folder: the shipped settings and workflow."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(REPO / ".github" / "workflows" / "bot.yml", tmp_path / ".github" / "workflows" / "bot.yml")
    shutil.copy(REPO / "botjob.yaml", tmp_path / "botjob.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def check_env(env: dict[str, str]) -> dict[str, str]:
    return {**env, "HF_TOKEN": HF_SECRET}


def check(capsys: pytest.CaptureFixture[str], env: dict[str, str], *args: str) -> tuple[int, str]:
    code = main(["check", *args], env=env)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_good_setup_passes(owner_repo, check_env, capsys, telegram) -> None:
    code, out = check(capsys, check_env)
    assert code == 0 and "All set." in out
    assert f"@{telegram.bot_username}" in out
    assert "model: endpoint" in out and "answered" in out
    assert "FAIL" not in out


def test_missing_secrets_are_named_with_where_to_get_them(owner_repo, capsys) -> None:
    code, out = check(capsys, {})
    assert code == 1
    assert "FAIL  TELEGRAM_BOT_TOKEN: is not set" in out and "@BotFather" in out
    assert "FAIL  HF_TOKEN: is not set" in out and "Inference Providers" in out


def test_a_refused_telegram_token(owner_repo, check_env, capsys, telegram) -> None:
    telegram.fail("getMe", 401)
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  telegram" in out and "@BotFather" in out


def test_a_webhook_is_found_and_fix_deletes_it_keeping_the_messages(owner_repo, check_env, capsys, telegram) -> None:
    telegram.set_webhook("https://hooks.example.com/secret-path-123")
    telegram.user_says("waiting message", chat_id=1)

    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  webhook" in out and "--fix" in out
    assert "hooks.example.com" in out and "secret-path-123" not in out

    code, out = check(capsys, check_env, "--fix")
    assert code == 0 and "deleted the webhook" in out
    assert telegram.webhook_url == "" and len(telegram.pending()) == 1


@pytest.mark.parametrize(("status", "words"), [(401, "token"), (402, "credits"), (404, "llm.model")])
def test_a_model_that_cannot_answer(owner_repo, check_env, capsys, model, status, words) -> None:
    model.fail(status, times=3)
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  model" in out and words in out


def test_a_base_model_endpoint_is_tried_with_text_generation(owner_repo, check_env, capsys, model) -> None:
    (owner_repo / "botjob.yaml").write_text("llm:\n  task: text-generation\n")
    code, out = check(capsys, check_env)
    assert code == 0 and "ok    model" in out
    assert [r["path"] for r in model.requests] == ["/"]  # TGI's generate route, not chat completions


def test_a_loading_model_is_a_warning_not_a_failure(owner_repo, check_env, capsys, model) -> None:
    model.fail(503, times=3)
    code, out = check(capsys, check_env)
    assert code == 0 and "warn  model" in out and "try again" in out
    assert "All set." not in out and "could not be finished" in out


def test_telegram_being_away_is_a_warning_not_a_failure(owner_repo, check_env, capsys, telegram) -> None:
    telegram.fail("getMe", 502)
    code, out = check(capsys, check_env)
    assert code == 0 and "warn  telegram" in out and "try again" in out


def test_a_bad_settings_file(owner_repo, check_env, capsys) -> None:
    (owner_repo / "botjob.yaml").write_text("run:\n  time_budget: soon\n")
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  settings" in out and "run.time_budget" in out


@pytest.mark.parametrize(
    ("cron", "words"),
    [("*/2 * * * *", "at most every 5 minutes"), ("61 * * * *", "not valid"), ("*/10 * * *", "5 fields")],
)
def test_a_bad_cron_line(owner_repo, check_env, capsys, cron, words) -> None:
    workflow = owner_repo / ".github" / "workflows" / "bot.yml"
    workflow.write_text(workflow.read_text().replace('"3-59/10 * * * *"', f'"{cron}"'))
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  schedule" in out and words in out


def test_in_actions_problems_become_error_annotations(owner_repo, capsys) -> None:
    code, out = check(capsys, {"GITHUB_ACTIONS": "true"})
    assert code == 1 and "::error::TELEGRAM_BOT_TOKEN: is not set" in out


def test_check_never_prints_a_token(owner_repo, check_env, capsys, telegram, model) -> None:
    telegram.fail("getMe", 401, description=f"Unauthorized {telegram.token}")
    model.fail(401, times=3)
    _, out = check(capsys, check_env)
    assert telegram.token not in out and HF_SECRET not in out
