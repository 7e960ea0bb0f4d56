"""`python -m botjob demo`: the real run code path against local stand-ins. No tokens, no network.

Two people write to the bot, the batch job runs, one more message arrives,
the job runs again; a transcript shows who asked what and what came back.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .requirements import REQUIREMENTS
from .sandbox import ModelSandbox, TelegramSandbox
from .sandbox.media import png_image, speech_audio
from .state import StateStore

ALICE, BOB, CAROL, DAVE, ERIN = 1001, 1002, 1003, 1004, 1005
CAT_NAMES = "Three ideas: **Miso**, **Pixel** or `Sir Purrcival`."
NAMES = {ALICE: "Alice", BOB: "Bob", CAROL: "Carol", DAVE: "Dave", ERIN: "Erin"}

Main = Callable[[Sequence[str], Mapping[str, str]], int]  # the command line: arguments and environment in, exit code out


def run_demo(say: Callable[[str], None], main: Main) -> int:
    """Tell the story with ``say``; each run goes through ``main`` (cli.main), as the owner's runs do."""
    for module in REQUIREMENTS:  # before the story starts, not halfway through
        importlib.import_module(module)
    asked: dict[tuple[int, int], str] = {}  # (chat, message_id) -> question, to show what each reply answers
    with TelegramSandbox() as telegram, ModelSandbox(latency=0.05) as model, tempfile.TemporaryDirectory() as folder:
        state_dir = str(Path(folder) / "state")
        settings = Path(folder) / "botjob.yaml"  # the defaults, with voice notes and photos heard and seen by the stand-in
        # No stay after answering (run.stay: auto stays in a public repository's Actions): the story is two batches.
        settings.write_text(f"run:\n  stay: 0\nmedia:\n  speech_model: {model.url}/speech\n  vision_model: {model.url}/v1\n",
                            encoding="utf-8")
        # The owner's own tokens and endpoints stay out of it: only the stand-ins are reachable.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "BOTJOB_", "HF_TOKEN"))}
        env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_URL=telegram.url, BOTJOB_LLM_URL=model.url)
        say(f"Local Telegram stand-in at {telegram.url}, model stand-in at {model.url}; state in a temporary folder.")
        say("The model stand-in answers “Echo: <what it was asked>”, so each reply shows what it answers;")
        say("asked for cat names, it answers in Markdown, as chat models write.\n")

        # One answer in Markdown, as chat models write: it reaches Telegram as formatting, not asterisks.
        model.reply_with(lambda messages: CAT_NAMES if "cat" in str(messages[-1].get("content")) else None)
        say("While the bot sleeps, people write to it:")
        _user_says(telegram, say, asked, ALICE, "What is the capital of France?")
        _user_says(telegram, say, asked, BOB, "Can you suggest a name for my cat?")
        _user_says(telegram, say, asked, ALICE, "And how many people live there?")

        first = _run(main, telegram, env, state_dir, say, asked, "First scheduled run")
        if first:
            return first
        say("  (Alice's two messages came in one burst: one model call, one reply, threaded to her last message.)")

        say("\nBetween runs, Bob replies to the bot's answer, Carol finds the bot, Dave talks and Erin shows a photo:")
        to_bob = telegram.sent(BOB)[-1]["message_id"]
        _user_says(telegram, say, asked, BOB, "Thanks! And one for a dog?", reply_to=to_bob)
        _user_says(telegram, say, asked, CAROL, "/start")
        _sends(telegram, say, asked, DAVE, "a voice note, 3 s", "What's the weather like in Lima?",
               lambda: telegram.user_sends_voice(speech_audio("What's the weather like in Lima?"), 3, chat_id=DAVE, first_name="Dave"))
        _sends(telegram, say, asked, ERIN, "a photo", "What is in this picture?",
               lambda: telegram.user_sends_photo(png_image(64, 48), "What is in this picture?", chat_id=ERIN, first_name="Erin"))

        second = _run(main, telegram, env, state_dir, say, asked, "Second scheduled run")
        if second:
            return second
        say("\nEvery message was answered once, threaded to it. With real tokens: python -m botjob run")
    return 0


def _sends(
    telegram: TelegramSandbox,
    say: Callable[[str], None],
    asked: dict[tuple[int, int], str],
    chat_id: int,
    what: str,
    words: str,
    send: Callable[[], int],
) -> None:
    """Someone sends a voice note or a photo (``what``) that says or shows ``words``."""
    _said(telegram, say, asked, chat_id, send(), f"({what}) {words}", f" ({what}): {words}")


def _user_says(
    telegram: TelegramSandbox,
    say: Callable[[str], None],
    asked: dict[tuple[int, int], str],
    chat_id: int,
    text: str,
    reply_to: int | None = None,
) -> None:
    update_id = telegram.user_says(text, chat_id=chat_id, first_name=NAMES[chat_id], reply_to_message_id=reply_to)
    _said(telegram, say, asked, chat_id, update_id, text, f"{' (replying to the bot)' if reply_to else ''}: {text}")


def _said(
    telegram: TelegramSandbox, say: Callable[[str], None], asked: dict[tuple[int, int], str],
    chat_id: int, update_id: int, question: str, line: str,
) -> None:
    """Remember what a message asks (to show what each reply answers), and tell the story."""
    message = next(u["message"] for u in telegram.pending() if u["update_id"] == update_id)
    asked[(chat_id, message["message_id"])] = question
    say(f"  {NAMES[chat_id]}{line}")


def _run(
    main: Main,
    telegram: TelegramSandbox,
    env: dict[str, str],
    state_dir: str,
    say: Callable[[str], None],
    asked: dict[tuple[int, int], str],
    title: str,
) -> int:
    store = StateStore(Path(state_dir))
    already_sent = len(telegram.sent())
    say(f"\n{title}: python -m botjob run — stored offset before: {store.load().offset}")
    output = io.StringIO()
    with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
        exit_code = main(["run", "--state-dir", state_dir, "--config", str(Path(state_dir).parent / "botjob.yaml")], env)
    say("  What the owner sees in the job's log (counts and ids, never what people wrote):")
    for line in _in_update_order(output.getvalue().splitlines()):
        say(f"    | {line}")
    say("  What people see in Telegram:")
    order = list(asked)  # chats are answered in parallel: show the replies in the order the questions came
    replies = sorted(telegram.sent()[already_sent:], key=lambda m: _position(order, (m["chat_id"], m["reply_to_message_id"])))
    for sent in replies:
        question = asked.get((sent["chat_id"], sent["reply_to_message_id"]), "?")
        answer = sent["text"].replace("\n\n", " / ")
        say(f"    bot -> {NAMES.get(sent['chat_id'], sent['chat_id'])}, replying to “{question}”: {answer}")
        if sent.get("entities"):
            shown = ", ".join(f"{kind} “{words}”" for kind, words in _formatting(sent))
            say(f"      (shown with formatting: {shown}; no asterisks or backticks on screen)")
    say(f"  exit code {exit_code}; stored offset after: {store.load().offset}")
    return exit_code


def _formatting(message: dict) -> list[tuple[str, str]]:
    units = message["text"].encode("utf-16-le")
    return [(e["type"], units[2 * e["offset"]: 2 * (e["offset"] + e["length"])].decode("utf-16-le")) for e in message["entities"]]


def _in_update_order(lines: list[str]) -> list[str]:
    """The per-update log lines, which parallel chats write in any order, sorted by update id."""
    per_update = sorted((line for line in lines if _UPDATE_LINE.match(line)), key=lambda line: int(_UPDATE_LINE.match(line)[1]))
    return [per_update.pop(0) if _UPDATE_LINE.match(line) else line for line in lines]


_UPDATE_LINE = re.compile(r"INFO botjob\.\w+: update (\d+)")


def _position(order: list[tuple[int, int]], question: tuple[int, int]) -> int:
    return order.index(question) if question in order else len(order)

