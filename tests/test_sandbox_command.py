"""`python -m botjob sandbox` as a newcomer uses it: start it in one terminal, paste what it prints
into another, run the bot there, and read the answers where the messages were typed."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from botjob.cli import main

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")
BASE_ENV = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HF_HUB_DISABLE_TELEMETRY": "1"}
ANY_FREE_PORT = ["--telegram-port", "0", "--model-port", "0"]  # other sandboxes may be running on this machine


class Terminal:
    """The sandbox in a subprocess, its output read line by line as the person reads it."""

    def __init__(self, cwd: Path, command: list[str], *, stdin: int, python: tuple[str, ...]) -> None:
        self.process = subprocess.Popen(
            [*python, "-m", "botjob", *command], cwd=cwd, env=BASE_ENV, text=True,
            stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self.shown: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:  # type: ignore[union-attr]
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def wait_for(self, text: str, timeout: float = 30) -> str:
        """The first line from here on that holds ``text`` (the timeout only bounds a failure)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"{text!r} not shown; shown:\n" + "\n".join(self.shown)) from None
            if line is None:
                raise AssertionError(f"ended before showing {text!r}; shown:\n" + "\n".join(self.shown))
            self.shown.append(line)
            if text in line:
                return line

    def type(self, line: str) -> None:
        self.process.stdin.write(line + "\n")  # type: ignore[union-attr]
        self.process.stdin.flush()  # type: ignore[union-attr]

    def exports(self) -> dict[str, str]:
        """The environment the person pastes into the other terminal."""
        pasted = [shlex.split(line)[1] for line in self.shown if line.startswith("export ")]
        return dict(assignment.split("=", 1) for assignment in pasted)

    def printed(self, command: str) -> list[str]:
        """The first printed line that starts with ``command``, as the other terminal's shell splits it."""
        line = next(line for line in self.shown if line.startswith(command))
        return shlex.split(line, comments=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def terminals(tmp_path: Path):
    started: list[Terminal] = []

    def start(*args: str, stdin: int = subprocess.PIPE, python: tuple[str, ...] = (sys.executable,)) -> Terminal:
        terminal = Terminal(tmp_path, ["sandbox", *args, *ANY_FREE_PORT], stdin=stdin, python=python)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.stop()


def other_terminal(command: list[str], pasted: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """A command typed in the second terminal, after pasting; `python` is this interpreter."""
    assert command[:3] == ["python", "-m", "botjob"], command
    return subprocess.run(
        [sys.executable, *command[1:]], cwd=cwd, env={**BASE_ENV, **pasted}, capture_output=True, text=True, timeout=60
    )


def readme_block(heading: str) -> list[str]:
    (block,) = re.findall(rf"```sh\n# {heading}[^\n]*\n(.*?)```", README, re.DOTALL)
    return block.splitlines()


def test_the_readme_walk_through_answers_what_was_typed_and_ctrl_d_ends_it(terminals, tmp_path: Path) -> None:
    (started,) = readme_block("terminal 1")
    sandbox = terminals(*shlex.split(started)[4:])
    sandbox.wait_for("Type a message")
    *pasted_in_readme, run_in_readme = readme_block("terminal 2")
    # The README shows a clone in /home/me/botjob; the sandbox prints the folder it was started in.
    run = shlex.split(run_in_readme.replace("/home/me/botjob", str(tmp_path)))
    pasted = sandbox.exports()
    assert [line.split("=")[0] for line in pasted_in_readme] == [f"export {name}" for name in pasted]
    assert "HF_TOKEN is not needed" in "\n".join(sandbox.shown)

    sandbox.type("hello")
    sandbox.wait_for("Alice -> bot: hello")
    done = other_terminal(run, pasted, tmp_path)

    assert done.returncode == 0, done.stderr
    assert "answered 1" in done.stdout
    assert sandbox.wait_for("bot -> ") == "bot -> Alice, replying to “hello”: Echo: hello"
    assert run == sandbox.printed("python -m botjob run --state-dir")  # the README's line is the printed one
    (shown_in_readme,) = re.findall(r"Type `hello` in terminal 1.*?```\n(.*?)```", README, re.DOTALL)
    assert set(shown_in_readme.splitlines()) <= set(sandbox.shown)
    sandbox.process.stdin.close()  # Ctrl-D
    assert sandbox.process.wait(timeout=30) == 0
    sandbox.wait_for("Sandbox stopped")
    assert not (tmp_path / ".botjob-sandbox").exists()


def test_voice_notes_photos_replies_and_other_people_are_answered_after_a_killed_sandbox(terminals, tmp_path: Path) -> None:
    # A sandbox killed earlier left its state behind: its offset must not hide the new session's messages.
    leftover = tmp_path / ".botjob-sandbox" / "state"
    leftover.mkdir(parents=True)
    (leftover / "offset.json").write_text(json.dumps({"offset": 500000004}))
    sandbox = terminals()
    sandbox.wait_for("Type a message")
    pasted = sandbox.exports()
    run = sandbox.printed("python -m botjob run --state-dir")

    sandbox.type("/voice what time is it in Lima 4")
    sandbox.wait_for("Alice -> bot: (a voice note, 4 s) what time is it in Lima")
    sandbox.type("/as Bob")
    sandbox.type("/photo a red square")
    sandbox.wait_for("Bob -> bot: (a photo) a red square")
    sandbox.type("/as Carol")
    sandbox.type("/start")
    sandbox.wait_for("Carol -> bot: /start")
    peeked = other_terminal(sandbox.printed("python -m botjob peek"), pasted, tmp_path)
    assert peeked.returncode == 0 and "3 updates waiting" in peeked.stdout, peeked.stderr
    assert other_terminal(run, pasted, tmp_path).returncode == 0
    answers = sorted(sandbox.wait_for("bot -> ") for _ in range(3))  # chats are answered in parallel

    assert answers[0] == "bot -> Alice, replying to “(a voice note, 4 s) what time is it in Lima”: Echo: what time is it in Lima"
    assert answers[1] == "bot -> Bob, replying to “(a photo) a red square”: Echo: a red square [seen: 1 image, 157 bytes]"
    assert answers[2].startswith("bot -> Carol, replying to “/start”: Hi! I answer with a language model.")
    sandbox.type("/as Alice")
    sandbox.type("/reply and in Oslo?")
    sandbox.wait_for("Alice -> bot, replying to “Echo: what time is it in Lima”: and in Oslo?")
    assert other_terminal(run, pasted, tmp_path).returncode == 0
    assert sandbox.wait_for("bot -> ") == "bot -> Alice, replying to “and in Oslo?”: Echo: and in Oslo?"
    sandbox.type("/quit")
    assert sandbox.process.wait(timeout=30) == 0


def test_without_a_terminal_or_the_requirements_it_serves_check_until_sigterm(terminals, tmp_path: Path) -> None:
    sandbox = terminals(stdin=subprocess.DEVNULL, python=(sys.executable, "-S"))  # -S: no site-packages, as on a fresh machine
    sandbox.wait_for("serving until Ctrl-C or SIGTERM")

    checked = other_terminal(sandbox.printed("python -m botjob check"), sandbox.exports(), tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All set." in checked.stdout
    for verified in ("telegram: the token belongs to @botjob_sandbox_bot", "webhook: none set", "model: endpoint 127.0.0.1 answered",
                     "voice notes: endpoint 127.0.0.1 took a tiny audio file", "photos: endpoint 127.0.0.1 answered"):
        assert f"ok    {verified}" in checked.stdout
    assert sandbox.process.poll() is None  # stdin closed did not end it
    sandbox.process.send_signal(signal.SIGTERM)
    assert sandbox.process.wait(timeout=30) == 0
    sandbox.wait_for("Sandbox stopped")
    assert not (tmp_path / ".botjob-sandbox").exists()


def test_a_port_in_use_is_named_with_the_option_that_changes_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "botjob", "sandbox", "--telegram-port", "0", "--model-port", port],
            cwd=tmp_path, env=BASE_ENV, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60,
        )
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert f"cannot listen on port {port}" in line and "--model-port" in line


class CtrlC(io.StringIO):
    """A terminal where the person types one line, then presses Ctrl-C."""

    def readline(self, *args: object) -> str:
        line = super().readline()
        if not line:
            raise KeyboardInterrupt
        return line


def test_ctrl_c_ends_it_cleanly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", CtrlC("hello\n"))

    assert main(["sandbox", *ANY_FREE_PORT], env={}) == 0

    shown = capsys.readouterr().out
    assert "Alice -> bot: hello" in shown and shown.endswith("Sandbox stopped; .botjob-sandbox removed.\n")
    assert not (tmp_path / ".botjob-sandbox").exists()
