"""Baseline for bench/backlog.py: the tutorial's bot written with python-telegram-bot today
(concurrent updates, long polling), draining the same backlog from the same stand-ins.

    python bench/ptb_bot.py    # in a venv with -r requirements.txt -r bench/requirements.txt
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # read when huggingface_hub is imported
os.environ.setdefault("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as a timedelta, without a deprecation warning

from huggingface_hub import AsyncInferenceClient  # noqa: E402
from telegram import Update  # noqa: E402
from telegram.constants import ChatAction  # noqa: E402
from telegram.error import RetryAfter  # noqa: E402
from telegram.ext import Application, ContextTypes, MessageHandler, filters  # noqa: E402

CHATS, PER_CHAT, LATENCY = 40, 3, 0.5  # as in bench/backlog.py


def ptb_drain(telegram_url: str, token: str, model_url: str, *, expected: int,
              concurrency: int = 8, timeout: float = 120) -> dict:
    """Answer the waiting backlog with a PTB bot; stop once `expected` replies were sent."""
    return asyncio.run(_drain(telegram_url, token, model_url, expected, concurrency, timeout))


async def _drain(telegram_url: str, token: str, model_url: str, expected: int,
                 concurrency: int, timeout: float) -> dict:
    model = AsyncInferenceClient(base_url=model_url, timeout=60)
    counts = {"replies": 0, "errors": 0}
    done = asyncio.Event()
    finished_at = None

    async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        nonlocal finished_at
        message = update.message
        await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
        completion = await model.chat_completion([{"role": "user", "content": message.text}], max_tokens=512)
        text = completion.choices[0].message.content
        try:
            await message.reply_text(text, do_quote=True)  # PTB quotes only in groups by default
        except RetryAfter as exc:
            await asyncio.sleep(exc.retry_after.total_seconds())
            await message.reply_text(text, do_quote=True)
        counts["replies"] += 1
        if counts["replies"] == expected:
            finished_at = time.perf_counter()
            done.set()

    async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        counts["errors"] += 1
        print(f"handler error: {context.error!r}", file=sys.stderr)

    app = (
        Application.builder().token(token)
        .base_url(f"{telegram_url}/bot")  # PTB appends the token: {url}/bot{token}/{method}
        .base_file_url(f"{telegram_url}/file/bot")
        .concurrent_updates(concurrency)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, answer))
    app.add_error_handler(on_error)

    started = time.perf_counter()
    async with model:
        await app.initialize()
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        try:
            await asyncio.wait_for(done.wait(), timeout)
        except TimeoutError:
            finished_at = time.perf_counter()  # gave up: report the time waited, with fewer replies
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    return {"seconds": finished_at - started, **counts}


def _check_threading(telegram, questions: set[tuple[int, int]]) -> list[str]:
    """Problems with 'every question got exactly one reply, threaded to it'."""
    answered = Counter((m["chat_id"], m["reply_to_message_id"]) for m in telegram.sent())
    problems = [f"{key}: {n} replies" for key, n in answered.items() if n != 1 or key not in questions]
    problems += [f"{key}: no reply" for key in questions - answered.keys()]
    return problems


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from botjob.sandbox import ModelSandbox, TelegramSandbox

    expected = CHATS * PER_CHAT
    print(f"PTB baseline: {expected} messages from {CHATS} chats, model latency {LATENCY} s, flood control on.")
    ok = True
    for delay in (0.0, 0.1):
        with TelegramSandbox(flood_control=True, network_delay=delay) as telegram, ModelSandbox(latency=LATENCY) as model:
            for round_ in range(PER_CHAT):
                for chat in range(CHATS):
                    telegram.user_says(f"question {round_} from chat {chat}", chat_id=10_000 + chat)
            questions = {(u["message"]["chat"]["id"], u["message"]["message_id"]) for u in telegram.pending()}
            result = ptb_drain(telegram.url, telegram.token, model.url, expected=expected)
            problems = _check_threading(telegram, questions)
            print(f"network delay {delay} s: {result['seconds']:.1f} s, {result['replies']} replies, "
                  f"{result['errors']} errors, {telegram.flood_hits} 429s, "
                  f"{len(telegram.pending())} updates left unconfirmed")
            for problem in problems:
                print(f"  threading problem: {problem}")
            ok = ok and not problems and result["replies"] == expected and result["errors"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
