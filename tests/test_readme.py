"""What the README tells owners to run works as written: the cron line, the systemd units, the demo and schedule output."""

from __future__ import annotations

import configparser
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from botjob.sandbox import ModelSandbox, TelegramSandbox
from botjob.schedule import describe, parse_schedule, read_crons

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, re.DOTALL)


@pytest.fixture
def checkout(tmp_path: Path, telegram: TelegramSandbox, model: ModelSandbox) -> Path:
    """The owner's clone as the README describes it: botjob/, .venv/bin/python and botjob.env."""
    home = tmp_path / "botjob"
    (home / ".venv" / "bin").mkdir(parents=True)
    python = home / ".venv" / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    (home / "botjob").symlink_to(REPO / "botjob")
    (home / "botjob.env").write_text(
        f"TELEGRAM_BOT_TOKEN={telegram.token}\nTELEGRAM_API_URL={telegram.url}\nBOTJOB_LLM_URL={model.url}\n"
        "HF_HUB_DISABLE_TELEMETRY=1\n"
    )
    return home


def test_the_crontab_line_answers_what_waits(checkout: Path, telegram: TelegramSandbox) -> None:
    (line,) = [text.strip() for text in blocks("crontab")]
    schedule, command = line.split(None, 5)[:5], line.split(None, 5)[5]
    assert len(schedule) == 5 and "/home/me/botjob" in command
    telegram.user_says("hello from cron", chat_id=1)

    done = subprocess.run(
        ["/bin/sh", "-c", command.replace("/home/me/botjob", str(checkout))],
        env={"PATH": os.environ["PATH"], "HOME": str(checkout.parent)},  # cron's bare environment
        capture_output=True, text=True, timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert [m["text"] for m in telegram.sent()] == ["Echo: hello from cron"]
    assert "answered 1" in (checkout / "botjob.log").read_text()
    assert (checkout / "state" / "offset.json").exists()


def test_the_systemd_service_answers_what_waits(checkout: Path, telegram: TelegramSandbox) -> None:
    units = {text.splitlines()[0].lstrip("# ").strip(): text for text in blocks("ini")}
    service = configparser.ConfigParser(interpolation=None, strict=False)
    service.read_string(units["botjob.service"])
    timer = configparser.ConfigParser(interpolation=None, strict=False)
    timer.read_string(units["botjob.timer"])
    assert service["Service"]["Type"] == "oneshot" and timer["Timer"]["OnCalendar"] == "*:0/10"
    home = str(checkout.parent)
    work_dir = service["Service"]["WorkingDirectory"].replace("%h", home)
    env_file = Path(service["Service"]["EnvironmentFile"].replace("%h", home))
    environment = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if line)
    telegram.user_says("hello from systemd", chat_id=1)

    done = subprocess.run(
        shlex.split(service["Service"]["ExecStart"].replace("%h", home)),
        cwd=work_dir, env={"PATH": "/usr/bin:/bin", **environment}, capture_output=True, text=True, timeout=60,
    )

    assert done.returncode == 0, done.stderr
    assert [m["text"] for m in telegram.sent()] == ["Echo: hello from systemd"]


def test_the_demo_prints_what_the_readme_shows() -> None:
    (shown,) = re.findall(r"What `demo` prints.*?```\n(.*?)```", README, re.DOTALL)
    done = subprocess.run(
        [sys.executable, "-m", "botjob", "demo"], cwd=REPO,  # the greeting reads the workflow's schedule from here
        env={"PATH": os.environ["PATH"], "HF_HUB_DISABLE_TELEMETRY": "1"}, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr

    def timings_aside(text: str) -> str:
        return re.sub(r"model \d+(\.\d+)? s per reply", "model N s per reply", text)

    # The demo first says where its stand-ins listen (ports change); the README starts after that.
    assert timings_aside(shown) in timings_aside(done.stdout)


def test_the_schedule_command_says_what_the_readme_shows() -> None:
    (shown,) = re.findall(r"```\n\$ python -m botjob schedule\n(.*?)```", README, re.DOTALL)
    printed = describe(parse_schedule(read_crons(REPO / ".github" / "workflows" / "bot.yml")))
    # The next runs depend on the day; every other line is printed as the README shows it.
    worded = [line for line in shown.splitlines() if line and not re.match(r"  (\w{3} \d\d \w{3} |\.\.\.$)", line)]
    assert worded and all(line in printed.splitlines() for line in worded)
