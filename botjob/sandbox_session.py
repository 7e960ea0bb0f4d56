"""`python -m botjob sandbox`: the stand-ins for Telegram and a model, served for a person to try
`run`, `peek` and `check` against from another terminal. Each line typed here goes to the bot as a
user's message, and the bot's answers show here as a run sends them.

Standard library only, besides botjob.sandbox and botjob.errors: it works before the requirements are installed.
"""

from __future__ import annotations

import io
import math
import os
import shlex
import shutil
import signal
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

from .errors import ConfigError
from .sandbox import ModelSandbox, TelegramSandbox
from .sandbox.media import png_image, speech_audio

FOLDER = ".botjob-sandbox"  # in the folder it starts in: the settings and state/ that the pasted commands name
FIRST_USER = "Alice"
FIRST_CHAT = 1001
SANDBOX_STATE_KEY = "sandbox-key-for-trying-persona-and-memory"  # the same every session: pasted lines keep working
WORDS_PER_SECOND = 2.5  # how long a /voice note lasts when the person gives no length
LOOK_EVERY = 0.1  # seconds between looks for the bot's new answers: soon enough for a person reading
LINGER = 300  # the run that keeps answering: within run.time_budget's default of 480 s

COMMANDS = [
    "  /voice <words> [seconds]   a voice note that says the words",
    "  /photo [caption]           a photo",
    "  /reply <text>              a reply to the bot's last answer",
    "  /as <name>                 write as someone else (a chat of their own)",
    "  /quit or Ctrl-D            stop the sandbox",
    "Any other line, /start and /image included, goes to the bot as it is.",
]


def run_sandbox(stdin: TextIO | None, say: Callable[[str], None], *, telegram_port: int, model_port: int) -> int:
    """Serve until /quit, the end of the input, Ctrl-C or SIGTERM; with nothing to read from, until a signal."""
    typing = _can_read(stdin)
    try:
        with (
            _sigterm_as_interrupt(),
            _serving(TelegramSandbox(), telegram_port, "--telegram-port") as telegram,
            _serving(ModelSandbox(), model_port, "--model-port") as model,
            _session_folder(Path(FOLDER), model.url) as folder,
        ):
            session = Session(telegram, say)
            for line in instructions(telegram, model, folder, typing=typing):
                say(line)
            watcher = threading.Thread(target=session.watch, name="sandbox-answers", daemon=True)
            watcher.start()
            try:
                if typing:
                    for line in iter(stdin.readline, ""):  # type: ignore[union-attr]
                        if not session.handle(line):
                            break
                else:
                    threading.Event().wait()  # until a signal interrupts it
            finally:
                session.stop()
                watcher.join()
                session.show_answers()  # any that came after the last look
    except KeyboardInterrupt:
        pass
    say(f"Sandbox stopped; {FOLDER} removed.")
    return 0


def instructions(telegram: TelegramSandbox, model: ModelSandbox, folder: Path, *, typing: bool) -> list[str]:
    """What to paste in the other terminal, and what can be typed here."""
    state = shlex.quote(str(folder / "state"))
    lines = [
        f"Stand-in Telegram at {telegram.url} (the bot @{telegram.bot_username}), stand-in model at {model.url}.",
        "In another terminal, in this folder, paste:",
        "",
        f"export TELEGRAM_API_URL={telegram.url}",
        f"export TELEGRAM_BOT_TOKEN={telegram.token}",
        f"export BOTJOB_LLM_URL={model.url}",
        "# botjob's default settings, with voice notes, photos and /image served by the stand-in model",
        "# (leave this line out to try your own botjob.yaml):",
        f"export BOTJOB_CONFIG={shlex.quote(str(folder / 'botjob.yaml'))}",
        "# A key for what the bot keeps encrypted (/persona, memory): a sandbox's own, not a secret.",
        f"export BOTJOB_STATE_KEY={SANDBOX_STATE_KEY}",
        "# HF_TOKEN is not needed: nothing here asks for one.",
        "",
        "Then try:",
        f"python -m botjob run --state-dir {state}  # answer what waits, once",
        f"python -m botjob run --state-dir {state} --linger {LINGER}  # keep answering for {LINGER // 60} minutes",
        f"python -m botjob peek --state-dir {state}  # is anything waiting?",
        "python -m botjob check  # the set-up doctor",
        "",
    ]
    if not typing:
        return [*lines, "Nothing to type in here (no terminal): serving until Ctrl-C or SIGTERM."]
    return [*lines, f"Type a message and press Enter: it goes to the bot from {FIRST_USER}. Also:", *COMMANDS]


def sandbox_settings(model_url: str) -> str:
    return (
        "# Written by `python -m botjob sandbox`, and removed when it stops: botjob's defaults,\n"
        "# with voice notes, photos and /image served by the stand-in model, two models to pick\n"
        "# with /model (names the stand-in serves), and the first user an owner who may ask /stats.\n"
        "llm:\n"
        "  choices: [sandbox/echo, sandbox/parrot]\n"
        "access:\n"
        f"  owners: [{FIRST_CHAT}]\n"
        "media:\n"
        f"  speech_model: {model_url}/speech\n"
        f"  vision_model: {model_url}/v1\n"
        "  images: true\n"
        f"  image_model: {model_url}/draw\n"
    )


class Session:
    """The people typing, and what each of their messages said, to show what each answer answers."""

    def __init__(self, telegram: TelegramSandbox, say: Callable[[str], None]) -> None:
        self.telegram = telegram
        self.user = FIRST_USER
        self._say = say
        self._chats = {FIRST_USER: FIRST_CHAT}
        self._asked: dict[tuple[int, int], str] = {}  # (chat, message id) -> what it said
        self._shown = 0  # answers shown so far
        self._lock = threading.Lock()  # the reader and the watcher both print and both read _asked
        self._stopping = threading.Event()

    def handle(self, line: str) -> bool:
        """Act on one typed line; False when it asks to stop."""
        text = line.strip()
        command, _, rest = text.partition(" ")
        if command == "/quit":
            return False
        sandbox_commands = {"/as": self._write_as, "/voice": self._voice, "/photo": self._photo, "/reply": self._reply}
        if command in sandbox_commands:
            sandbox_commands[command](rest.strip())
        elif text:
            self._sent(self.telegram.user_says(text, **self._sender()), text)
        return True

    def watch(self) -> None:
        while not self._stopping.wait(LOOK_EVERY):
            self.show_answers()

    def stop(self) -> None:
        self._stopping.set()

    def show_answers(self) -> None:
        sent = self.telegram.sent()
        with self._lock:
            for message in sent[self._shown:]:
                self._say(self._answer_line(message))
            self._shown = max(self._shown, len(sent))

    def _sender(self) -> dict[str, Any]:
        return {"chat_id": self._chats[self.user], "first_name": self.user}

    def _write_as(self, name: str) -> None:
        if not name:
            self._tell(f"usage: /as <name>   (now writing as {self.user})")
            return
        with self._lock:  # the watcher reads the names
            self._chats.setdefault(name, FIRST_CHAT + len(self._chats))
            self.user = name
            self._say(f"Now writing as {name}.")

    def _voice(self, rest: str) -> None:
        words, seconds = _words_and_seconds(rest)
        if not words:
            self._tell("usage: /voice <words> [seconds]")
            return
        update_id = self.telegram.user_sends_voice(speech_audio(words, seconds), math.ceil(seconds), **self._sender())
        self._sent(update_id, f"(a voice note, {seconds:g} s) {words}")

    def _photo(self, caption: str) -> None:
        update_id = self.telegram.user_sends_photo(png_image(64, 48), caption or None, **self._sender())
        self._sent(update_id, f"(a photo) {caption}" if caption else "(a photo)")

    def _reply(self, text: str) -> None:
        if not text:
            self._tell("usage: /reply <text>")
            return
        answers = self.telegram.sent(self._chats[self.user])
        if not answers:
            self._tell(f"The bot has not answered {self.user} yet: nothing to reply to.")
            return
        update_id = self.telegram.user_says(text, reply_to_message_id=answers[-1]["message_id"], **self._sender())
        self._sent(update_id, text)

    def _sent(self, update_id: int, said: str) -> None:
        """Remember what the new message said (to show what each answer answers), and say that it went."""
        chat_id = self._chats[self.user]
        # A lingering run may have answered it already and had Telegram forget it: then the answer
        # names the message by its id instead.
        message = next((u["message"] for u in self.telegram.pending() if u["update_id"] == update_id), None)
        line = f"{self.user} -> bot"
        if message is not None and message.get("reply_to_message"):
            line += f", replying to “{_gist(message['reply_to_message'])}”"
        with self._lock:
            if message is not None:
                self._asked[(chat_id, message["message_id"])] = said
            self._say(f"{line}: {said}")

    def _tell(self, line: str) -> None:
        with self._lock:
            self._say(line)

    def _answer_line(self, message: dict[str, Any]) -> str:
        chat_id, target = message["chat_id"], message.get("reply_to_message_id")
        names = {chat: name for name, chat in self._chats.items()}
        line = f"bot -> {names.get(chat_id, chat_id)}"
        if target is not None:
            question = self._asked.get((chat_id, target))
            line += f", replying to “{question}”" if question is not None else f", replying to message {target}"
        if message.get("text") is not None:
            body = message["text"]
        else:
            picture = f"(a picture, {message.get('photo', {}).get('bytes', '?')} bytes)"
            body = f"{picture} {message['caption']}" if message.get("caption") else picture
        first, *more = f"{line}: {body}".split("\n")
        return "\n".join([first, *(f"    {rest}" if rest else "" for rest in more)])


def _gist(message: dict[str, Any], length: int = 60) -> str:
    """The start of a message's text, to say which one a reply quotes."""
    words = " ".join(str(message.get("text") or message.get("caption") or "(a picture)").split())
    return words if len(words) <= length else words[: length - 1] + "…"


def _words_and_seconds(rest: str) -> tuple[str, float]:
    """`/voice what time is it 4` says "what time is it" for 4 seconds; without a number, as long as it takes to say."""
    words = rest.split()
    if len(words) > 1:
        try:
            seconds = float(words[-1])
        except ValueError:
            pass
        else:
            if math.isfinite(seconds) and seconds > 0:
                return " ".join(words[:-1]), seconds
    return " ".join(words), float(max(1, math.ceil(len(words) / WORDS_PER_SECOND)))


def _can_read(stdin: TextIO | None) -> bool:
    """Whether lines can come in: not when stdin is closed or /dev/null (a service manager, a script's
    background job), nor from a terminal that another job holds (reading would stop this process)."""
    if stdin is None:
        return False
    try:
        fd = stdin.fileno()
    except io.UnsupportedOperation:
        return True  # lines given in-process, not a file
    except (OSError, ValueError):
        return False  # closed
    try:
        if os.isatty(fd):
            return os.tcgetpgrp(fd) == os.getpgrp()
        return not stat.S_ISCHR(os.fstat(fd).st_mode)
    except (OSError, AttributeError):  # AttributeError: no job control (Windows)
        return True


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill`, a service manager) ends the session as Ctrl-C does: cleanly, with exit code 0."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


Server = TypeVar("Server", TelegramSandbox, ModelSandbox)


@contextmanager
def _serving(server: Server, port: int, option: str) -> Iterator[Server]:
    try:
        server.start(port)
    except OSError as error:
        raise ConfigError(
            f"the sandbox cannot listen on port {port} of 127.0.0.1 ({error.strerror or error})",
            hint=f"stop what uses it (a sandbox started earlier?), or pick another port with {option} (0: any free one)",
        ) from None
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def _session_folder(folder: Path, model_url: str) -> Iterator[Path]:
    """The settings and state/ of this session. A state/ left by a session that was killed goes first:
    the stand-in numbers its updates from the start again, and the old offset would hide them."""
    folder = folder.resolve()
    try:
        shutil.rmtree(folder / "state", ignore_errors=True)
        (folder / "state").mkdir(parents=True)
        (folder / "botjob.yaml").write_text(sandbox_settings(model_url), encoding="utf-8")
    except OSError as error:
        raise ConfigError(
            f"the sandbox cannot write its settings and state in {folder} ({error.strerror or error})",
            hint="start it in a folder you can write to, e.g. your clone of botjob",
        ) from None
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
