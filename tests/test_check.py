"""The set-up doctor against the sandbox: each misconfiguration is caught with a specific fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from botjob.cli import main

REPO = Path(__file__).resolve().parent.parent
HF_SECRET = "hf_FakeHuggingFaceTokenForTests0123456789"


@pytest.fixture
def owner_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model) -> Path:
    """A fork's top folder: the shipped settings and workflow, the media models on the stand-in by URL
    (a hub model would be looked up on huggingface.co, which tests never reach)."""
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(REPO / ".github" / "workflows" / "bot.yml", tmp_path / ".github" / "workflows" / "bot.yml")
    shipped = (REPO / "botjob.yaml").read_text()
    (tmp_path / "botjob.yaml").write_text(with_media_urls(shipped, model))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def with_media_urls(settings: str, model) -> str:
    if "media:" not in settings:
        settings += "\nmedia:\n  speech_model: openai/whisper-large-v3\n  vision_model: zai-org/GLM-4.6V-Flash\n"
    return settings.replace("speech_model: openai/whisper-large-v3", f"speech_model: {model.url}/speech").replace(
        "vision_model: zai-org/GLM-4.6V-Flash", f"vision_model: {model.url}/v1")


def write_settings(owner_repo: Path, model, text: str) -> None:
    (owner_repo / "botjob.yaml").write_text(with_media_urls(text, model))


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
    write_settings(owner_repo, model, "llm:\n  task: text-generation\n")
    code, out = check(capsys, check_env)
    assert code == 0 and "ok    model" in out
    assert model.requests[0]["path"] == "/"  # TGI's generate route, not chat completions


@pytest.mark.parametrize("away", ["the model is loading", "Telegram answers 502"])
def test_a_service_that_is_away_leaves_the_set_up_unverified_never_all_set(
        owner_repo, check_env, capsys, model, telegram, away) -> None:
    if away == "the model is loading":
        model.fail(503, times=3)
    else:
        telegram.fail("getMe", 502)
    code, out = check(capsys, check_env)
    topic = "model" if away == "the model is loading" else "telegram"
    assert code == 1 and f"??    {topic}:" in out and "FAIL" not in out
    assert f"The set-up could not be verified: {topic}" in out and "did not answer" in out
    assert "All set." not in out and "No problem" not in out


@pytest.mark.parametrize(("variable", "value"), [("BOTJOB_LLM_URL", "127.0.0.1:8080"), ("TELEGRAM_API_URL", "api.telegram.org")])
def test_an_address_without_its_scheme_is_a_problem_not_a_passing_trouble(owner_repo, check_env, capsys, variable, value) -> None:
    code, out = check(capsys, {**check_env, variable: value})
    assert code == 1 and f"FAIL  {variable}: is not an http:// or https:// address" in out
    assert "1 problem found." in out


def test_memory_without_a_state_key_or_with_a_short_one_is_what_run_would_refuse(owner_repo, check_env, capsys, model) -> None:
    write_settings(owner_repo, model, "chat:\n  memory_turns: 3\n")
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  BOTJOB_STATE_KEY: is not set, and chat.memory_turns is on" in out
    code, out = check(capsys, {**check_env, "BOTJOB_STATE_KEY": "hunter2"})
    assert code == 1 and "FAIL  BOTJOB_STATE_KEY: is too short" in out
    code, out = check(capsys, {**check_env, "BOTJOB_STATE_KEY": "a-long-enough-random-string-0123456789"})
    assert code == 0 and "ok    BOTJOB_STATE_KEY: is set" in out


def test_an_hf_token_with_a_line_break_inside_is_what_run_would_refuse(owner_repo, check_env, capsys, model) -> None:
    split = "hf_FakeHuggingFace\nTokenForTests0123456789"
    code, out = check(capsys, {**check_env, "HF_TOKEN": split})
    assert code == 1 and "FAIL  HF_TOKEN: holds spaces, a line break or characters a token never has" in out
    assert "1 problem found." in out and model.requests == []  # the model and media are not tried with it, nor blamed
    assert all(half not in out for half in split.split("\n"))


def test_a_look_alike_settings_file_is_what_run_would_refuse(owner_repo, check_env, capsys) -> None:
    (owner_repo / "botjob.yaml").rename(owner_repo / "botjob.yml")
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  settings: there is no botjob.yaml, but there is botjob.yml" in out


def test_a_time_budget_the_answer_step_would_cut_short(owner_repo, check_env, capsys, model) -> None:
    write_settings(owner_repo, model, "run:\n  time_budget: 600\n")  # the Answer step stops at 10 minutes
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  time budget: run.time_budget is 600 s" in out and "below 600" in out


def test_every_cron_line_is_checked_and_described(owner_repo, check_env, capsys) -> None:
    workflow = owner_repo / ".github" / "workflows" / "bot.yml"
    workflow.write_text(workflow.read_text().replace(
        '    - cron: "3-59/10 * * * *"', '    - cron: "3-59/10 8-20 * * *"\n    - cron: "*/2 21-23 * * *"'))
    code, out = check(capsys, check_env)
    assert code == 1 and "FAIL  schedule" in out and "*/2 21-23" in out
    workflow.write_text(workflow.read_text().replace('"*/2 21-23 * * *"', '"0 22 * * *"'))
    code, out = check(capsys, check_env)
    assert code == 0 and '"3-59/10 8-20 * * *": ' in out and '"0 22 * * *": ' in out


def test_a_bad_settings_file(owner_repo, check_env, capsys, model) -> None:
    write_settings(owner_repo, model, "run:\n  time_budget: soon\n")
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


def test_each_media_model_that_is_on_is_tried_cheaply(owner_repo, check_env, capsys, model) -> None:
    code, out = check(capsys, check_env)
    assert code == 0
    assert "ok    voice notes: endpoint 127.0.0.1 took a tiny audio file" in out
    assert "ok    photos: endpoint 127.0.0.1 answered" in out
    assert [r["path"] for r in model.requests].count("/draw") == 0  # pictures are off, and never tried anyway


def test_media_models_that_need_hf_token_are_said_to_be_off_without_it(owner_repo, env, capsys, model) -> None:
    shipped = (REPO / "botjob.yaml").read_text()
    (owner_repo / "botjob.yaml").write_text(shipped)  # hub models, and no HF_TOKEN (the chat model is BOTJOB_LLM_URL)
    code, out = check(capsys, env)
    assert "warn  voice notes: off: media.speech_model is a Hugging Face model and HF_TOKEN is not set" in out
    assert "set media.voice: false" in out and "warn  photos: off" in out


def test_a_speech_model_that_is_not_served_is_a_problem(owner_repo, check_env, capsys, model) -> None:
    from botjob.sandbox.model_server import unsupported_model

    def then_the_speech_model_is_not_served(messages):  # the chat model's check comes first
        model.fail(400, body=unsupported_model("openai/whisper-large-v3"))
        return "OK"

    model.reply_with(then_the_speech_model_is_not_served)
    code, out = check(capsys, check_env)
    assert code == 1 and "media.speech_model" in out
