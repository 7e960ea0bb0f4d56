"""What the README tells owners to run works as written: the cron line and the systemd units."""

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
