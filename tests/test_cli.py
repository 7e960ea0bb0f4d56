"""The commands as an owner runs them: output, exit codes, and never a token on screen."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from botjob.cli import main
from botjob.sandbox import ModelSandbox, TelegramSandbox
from conftest import FAKE_TOKEN

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
    result = run_cli("run", env={"TELEGRAM_BOT_TOKEN": FAKE_TOKEN}, cwd=tmp_path)
    assert result.returncode == 2 and "HF_TOKEN is not set" in result.stderr
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
    assert "bot -> Dave, replying to “(a voice note, 3 s) What's the weather like in Lima?”: Echo: What's the weather like in Lima?" in out
    assert "bot -> Erin, replying to “(a photo) What is in this picture?”: Echo: What is in this picture? [seen: 1 image" in out
    assert out.count("bot -> ") == 6  # a burst of two answered once, then one reply per message
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


def test_the_run_says_how_long_it_stayed_for_follow_ups_and_why_it_stopped(telegram, model, env, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    (tmp_path / "botjob.yaml").write_text("run:\n  stay: 2\n", encoding="utf-8")
    telegram.user_says("my secret diary entry", chat_id=424242)

    def follow_up() -> None:  # written once the first answer is there: the run is staying by then
        while not telegram.sent():
            threading.Event().wait(0.02)
        telegram.user_says("one more secret", chat_id=424242)

    threading.Thread(target=follow_up, daemon=True).start()
    actions_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}

    result = run_cli("run", "--state-dir", "s", env=actions_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert len(telegram.sent()) == 2
    line = next(line for line in result.stdout.splitlines() if line.startswith("stayed "))
    assert line.endswith("s after answering what was waiting, 1 more answered meanwhile (run.stay 2 s)")
    assert "stopped: nothing new for 2 s after the last answer" in result.stdout
    markdown = summary.read_text()
    assert "| stayed | " in markdown and "| stopped | nothing new for 2 s after the last answer |" in markdown
    public = markdown + result.stdout + result.stderr
    for private in ("secret", "424242", "Echo"):
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


# ---------------------------------------------------------------------------- owner mistakes: one line, its fix, no traceback


def one_error_line(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """The owner sees exactly one error line, no traceback, and no secret in any form."""
    everything = result.stdout + result.stderr
    assert "Traceback" not in everything and "a bug in botjob" not in everything
    for secret in secrets:
        for form in {secret, secret.strip(), secret.strip().split(":")[-1]}:
            assert form not in everything
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert " — " in errors[0]  # the fix follows the problem on the same line
    return errors[0]


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_settings_file_that_is_not_utf8(env, tmp_path: Path, command: str) -> None:
    (tmp_path / "botjob.yaml").write_bytes("llm:\n  system_prompt: Tu es un caf\xe9\n".encode("latin-1"))
    result = run_cli(command, env=env, cwd=tmp_path)
    if command == "run":
        assert result.returncode == 2 and "not UTF-8 text (line 2)" in one_error_line(result, env["TELEGRAM_BOT_TOKEN"])
    else:
        assert result.returncode == 1 and "FAIL  settings: botjob.yaml is not UTF-8 text (line 2)" in result.stdout


def test_a_state_folder_that_cannot_be_written_stops_before_anything_is_answered(telegram, env, tmp_path: Path) -> None:
    telegram.user_says("hello", chat_id=1)
    (tmp_path / "not-a-folder").write_text("")  # a file where the folder should be: unwritable, even for root
    result = run_cli("run", "--state-dir", "not-a-folder/state", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "cannot be written" in one_error_line(result, env["TELEGRAM_BOT_TOKEN"])
    assert telegram.sent() == [] and len(telegram.pending()) == 1


@pytest.mark.parametrize("command", ["run", "peek"])
def test_an_offset_file_that_cannot_be_read_at_all(telegram, env, tmp_path: Path, command: str) -> None:
    (tmp_path / "state" / "offset.json").mkdir(parents=True)
    result = run_cli(command, env=env, cwd=tmp_path)
    assert result.returncode == 1
    line = one_error_line(result, env["TELEGRAM_BOT_TOKEN"])
    assert "state/offset.json cannot be read (IsADirectoryError)" in line and "rm -r state/offset.json" in line


def test_a_damaged_offset_file_is_set_aside_once_by_the_run_not_by_peek(telegram, env, tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "offset.json").write_text("{not json")
    telegram.user_says("hello", chat_id=1)
    assert run_cli("peek", env=env, cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["offset.json"]
    assert run_cli("run", env=env, cwd=tmp_path).returncode == 0
    assert len([p for p in (tmp_path / "state").iterdir() if ".bad-" in p.name]) == 1


def test_a_timeout_too_big_for_the_clock(env, tmp_path: Path) -> None:
    (tmp_path / "botjob.yaml").write_text("llm:\n  timeout: 99999999999999999999\n")
    result = run_cli("run", env=env, cwd=tmp_path)
    assert result.returncode == 2 and "'llm.timeout' must be between 1 and 3600" in one_error_line(result)


@pytest.mark.parametrize(("command", "variable", "value"), [
    (command, variable, value)
    for variable, value in [
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("TELEGRAM_API_URL", "http://"),
        ("TELEGRAM_API_URL", "https://api.telegram.org/bot"),  # botjob adds /bot<token>/ itself
        ("BOTJOB_LLM_URL", "127.0.0.1:8080"),
        ("TELEGRAM_BOT_TOKEN", "123456789:AAF with a space"),
    ]
    for command in ("peek", "run")
    if not (command == "peek" and variable == "BOTJOB_LLM_URL")  # peek does not read the model's address
])
def test_settings_that_cannot_work_are_settings_errors_not_passing_trouble(env, tmp_path: Path, variable, value, command) -> None:
    result = run_cli(command, env={**env, variable: value}, cwd=tmp_path)
    assert result.returncode == 2
    assert variable in one_error_line(result, env["TELEGRAM_BOT_TOKEN"])


@pytest.mark.parametrize("where", ["on a computer", "in GitHub Actions"])
def test_a_missing_secret_is_explained_for_where_the_bot_runs(tmp_path: Path, where) -> None:
    actions = {"GITHUB_ACTIONS": "true"} if where == "in GitHub Actions" else {}
    (tmp_path / "botjob.yaml").write_text("chat:\n  memory_turns: 2\n")
    no_token = one_error_line(run_cli("run", env=actions, cwd=tmp_path))
    no_key = one_error_line(run_cli("run", env={**actions, "TELEGRAM_BOT_TOKEN": FAKE_TOKEN, "HF_TOKEN": "hf_" + "x" * 34}, cwd=tmp_path))
    for line, name in ((no_token, "TELEGRAM_BOT_TOKEN"), (no_key, "BOTJOB_STATE_KEY")):
        if where == "on a computer":
            assert f"export {name}=" in line
        else:
            assert f"repository secret {name}" in line and "export" not in line


def test_peek_at_a_port_that_does_not_speak_http_is_a_passing_trouble_in_one_line(env, tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def hang_up() -> None:
            connection, _ = server.accept()
            connection.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
            connection.close()

        threading.Thread(target=hang_up, daemon=True).start()
        result = run_cli("peek", env={**env, "TELEGRAM_API_URL": f"http://127.0.0.1:{port}"}, cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "warning: Telegram getUpdates failed: no answer from Telegram" in result.stderr


def test_a_secret_pasted_with_a_line_break_is_trimmed_with_one_warning_and_never_shown(telegram, env, tmp_path: Path) -> None:
    padded = {**env, "TELEGRAM_BOT_TOKEN": env["TELEGRAM_BOT_TOKEN"] + "\n", "TELEGRAM_API_URL": "api.telegram.org"}
    result = run_cli("peek", env=padded, cwd=tmp_path)
    assert result.returncode == 2
    one_error_line(result, padded["TELEGRAM_BOT_TOKEN"])
    assert result.stderr.count("warning: TELEGRAM_BOT_TOKEN has spaces or a line break around it") == 1

    telegram.user_says("hello", chat_id=1)
    result = run_cli("run", "-v", env={**env, "TELEGRAM_BOT_TOKEN": f"  {env['TELEGRAM_BOT_TOKEN']}\n"}, cwd=tmp_path)
    assert result.returncode == 0 and "answered 1" in result.stdout
    assert env["TELEGRAM_BOT_TOKEN"] not in result.stdout + result.stderr
    assert env["TELEGRAM_BOT_TOKEN"].split(":")[1] not in result.stdout + result.stderr


@pytest.mark.parametrize("command", ["run", "check", "schedule", "demo"])
def test_before_the_requirements_are_installed_each_command_says_to_install_them(tmp_path: Path, command: str) -> None:
    bare = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "TELEGRAM_BOT_TOKEN": "1:x"}
    result = subprocess.run(  # -S: no site-packages, as on a fresh machine
        [sys.executable, "-S", "-m", "botjob", command], env=bare, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "pip install -r requirements.txt" in one_error_line(result)
    assert result.stdout == ""  # the demo does not start its story


def test_a_dry_run_needs_no_hf_token(telegram, tmp_path: Path) -> None:
    telegram.user_says("hello", chat_id=1)
    result = run_cli("run", "--dry-run", env={"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 would be answered" in result.stdout and "update 500000001 would be answered" in result.stderr


def test_a_bad_number_on_the_command_line_says_what_was_expected(tmp_path: Path) -> None:
    result = run_cli("run", "--max-updates", "ten", env={}, cwd=tmp_path)
    assert result.returncode == 2 and "expected a whole number, not 'ten'" in result.stderr
    assert "_non_negative" not in result.stderr


def test_in_actions_without_secrets_a_scheduled_run_ends_green_with_one_notice(tmp_path: Path) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    actions_env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    result = run_cli("peek", env=actions_env, cwd=tmp_path)
    assert result.returncode == 0
    notices = [line for line in result.stdout.splitlines() if line.startswith("::")]
    assert notices == ["::warning::add the secrets TELEGRAM_BOT_TOKEN and HF_TOKEN: Settings → Secrets and variables → Actions"]
    assert output.read_text() == "waiting=false\n" and "TELEGRAM_BOT_TOKEN" in summary.read_text()


# ---------------------------------------------------------------------------- secrets, however they were given


URL_KEY = "sk-url-key-0123456789abcdef"
URL_PASSWORD = "url-password-0123456789"


class KeyedModelSandbox(ModelSandbox):
    """The model stand-in behind an address with a key: it answers whatever the query and the
    credentials, and remembers them, so a test can see the key arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[tuple[str, str, str]] = []  # (path, query, Authorization)

    def handle(self, request):  # type: ignore[no-untyped-def]
        self.received.append((request.path, request.query, request.headers.get("Authorization", "")))
        return super().handle(request)


@pytest.mark.parametrize("given_as", ["BOTJOB_LLM_URL", "llm.base_url"])
def test_a_key_in_the_models_address_still_answers_and_never_shows_even_in_the_debug_log(
    telegram, tmp_path: Path, monkeypatch, capsys, given_as: str
) -> None:
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "GITHUB_STEP_SUMMARY": str(summary)}
    telegram.user_says("hello", chat_id=1)
    with KeyedModelSandbox() as model:
        keyed = f"http://botjob:{URL_PASSWORD}@{model.url.removeprefix('http://')}/v1?api_key={URL_KEY}"
        if given_as == "BOTJOB_LLM_URL":
            env["BOTJOB_LLM_URL"] = keyed
        else:
            (tmp_path / "botjob.yaml").write_text(f"llm:\n  base_url: {keyed}\n")

        code = main(["run", "-v", "--state-dir", "s"], env=env)

    printed = capsys.readouterr()
    assert code == 0 and [m["text"] for m in telegram.sent()] == ["Echo: hello"]
    basic = "Basic " + base64.b64encode(f"botjob:{URL_PASSWORD}".encode()).decode()
    assert model.received == [("/v1/models", f"api_key={URL_KEY}", basic),
                              ("/v1/chat/completions", f"api_key={URL_KEY}", basic)]
    assert '"GET /v1/models?api_key=*** HTTP/1.1" 200' in printed.err  # urllib3's debug line, starred
    assert "/v1/chat/completions?api_key=***" in printed.err  # httpx2's
    shown = printed.out + printed.err + summary.read_text()
    for secret in (URL_KEY, URL_PASSWORD, keyed):
        assert secret not in shown


def test_huggingface_hubs_own_debug_lines_are_starred_too(telegram, tmp_path: Path) -> None:
    """HF_HUB_VERBOSITY=debug: huggingface_hub prints each request's whole address, through a stderr
    handler it gives its own logger when imported."""
    telegram.user_says("hello", chat_id=1)
    with KeyedModelSandbox() as model:
        keyed = f"http://botjob:{URL_PASSWORD}@{model.url.removeprefix('http://')}/v1?api_key={URL_KEY}"
        env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": keyed,
               "HF_HUB_VERBOSITY": "debug"}
        result = run_cli("run", "-v", "--state-dir", "s", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "/v1/chat/completions?api_key=*** (authenticated: True)" in result.stderr  # its line, starred
    for secret in (URL_KEY, URL_PASSWORD):
        assert secret not in result.stdout + result.stderr


SPLIT_HF_TOKEN = "hf_FakeHuggingFace\nTokenForTests0123456789"


def test_an_hf_token_split_by_a_line_break_stops_the_run_at_once_naming_it(telegram, model, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    actions_env = {**env, "HF_TOKEN": SPLIT_HF_TOKEN, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    telegram.user_says("hello", chat_id=1)

    code = main(["run", "-v", "--state-dir", "s"], env=actions_env)

    printed = capsys.readouterr()
    assert code == 2
    (error,) = [line for line in printed.err.splitlines() if line.startswith("error:")]
    assert error.startswith("error: HF_TOKEN holds spaces, a line break or characters a token never has — copy the token again")
    assert printed.out.startswith("::error::HF_TOKEN holds spaces")
    assert model.requests == [] and telegram.sent() == [] and len(telegram.pending()) == 1  # waits for the fixed token
    shown = printed.out + printed.err + (summary.read_text() if summary.exists() else "")
    for half in SPLIT_HF_TOKEN.split("\n"):
        assert half not in shown


def test_a_token_pasted_into_a_setting_is_starred_in_the_log_the_annotation_and_the_summary(
    telegram, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    summary = tmp_path / "summary.md"
    (tmp_path / "botjob.yaml").write_text(f"llm:\n  provider: {HF_SECRET}\nmedia:\n  voice: false\n  photos: false\n")
    env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "HF_TOKEN": HF_SECRET,
           "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    telegram.user_says("hello", chat_id=1)

    code = main(["run", "-v", "--state-dir", "s"], env=env)

    printed = capsys.readouterr()
    assert code == 2
    annotation = next(line for line in printed.out.splitlines() if line.startswith("::error::"))
    for output in (annotation, printed.err, summary.read_text()):
        assert "Provider '***' not supported" in output
    assert HF_SECRET not in printed.out + printed.err + summary.read_text()


@pytest.mark.parametrize(("variable", "value"), [
    ("HF_TOKEN", "e"),  # once starred every "e" in the log
    ("HF_TOKEN", "hf_cut_short"),
    ("TELEGRAM_BOT_TOKEN", "1:e"),
])
@pytest.mark.parametrize("command", ["run", "check"])
def test_a_secret_too_short_to_be_real_is_refused_in_one_line_and_garbles_nothing(
    env, tmp_path: Path, monkeypatch, capsys, command: str, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([command], env={**env, "HF_TOKEN": HF_SECRET, variable: value})
    printed = capsys.readouterr()
    shown = printed.out + printed.err
    if command == "run":
        assert code == 2
        (error,) = [line for line in printed.err.splitlines() if line.startswith("error:")]
        assert error.startswith(f"error: {variable} is too short to be a")
    else:
        assert code == 1
        assert f"FAIL  {variable}: is too short to be a" in printed.out
    assert "***" not in shown and "Traceback" not in shown


def test_peek_and_save_state_run_from_the_checkout_with_no_installed_package(telegram, tmp_path: Path) -> None:
    """As the workflow runs them (python3 -S): no site-packages, no PYTHONPATH, botjob found in the checkout."""
    checkout = tmp_path / "checkout"
    (checkout / "state").mkdir(parents=True)
    (checkout / "botjob").symlink_to(REPO / "botjob")
    (checkout / "state" / "offset.json").write_text('{"offset": 0}\n')
    git = ["git", "-c", "user.name=Owner", "-c", "user.email=owner@example.com"]
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=checkout, check=True)
    subprocess.run([*git, "add", "state"], cwd=checkout, check=True)
    subprocess.run([*git, "commit", "-qm", "first"], cwd=checkout, check=True)
    bare = {"PATH": os.environ["PATH"], "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}

    def run_bare(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-S", "-m", "botjob", *args], cwd=checkout, env=bare,
                              capture_output=True, text=True, timeout=60)

    telegram.user_says("hello", chat_id=1)
    peeked = run_bare("peek")
    assert peeked.returncode == 0, peeked.stderr
    assert peeked.stdout == "1 update waiting\n"

    (checkout / "state" / "offset.json").write_text('{"offset": 500000002}\n')  # as the run leaves it
    saved = run_bare("save-state", "--no-push")
    assert saved.returncode == 0, saved.stderr
    assert saved.stdout.startswith("state: offset 0 -> 500000002")
    log = subprocess.run(["git", "log", "--format=%s"], cwd=checkout, capture_output=True, text=True).stdout
    assert log.splitlines()[0].startswith("state: offset 0 -> 500000002")
