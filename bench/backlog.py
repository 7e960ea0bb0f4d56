"""Benchmark: drain an overnight backlog against the local stand-ins, beside python-telegram-bot; time an idle run.

    python3 -m venv .bench && . .bench/bin/activate
    pip install -r requirements.txt -r bench/requirements.txt   # python-telegram-bot: the bench's own, never botjob's
    python bench/backlog.py                                     # about 2 minutes; prints a markdown table

Not a test: numbers depend on the machine. The README quotes its output.
Each run drains the same backlog (120 messages from 40 chats, model latency
0.5 s, Telegram's flood limits enforced) with Telegram calls answered at once
and with every call taking 0.1 s on the wire, as from a GitHub runner far from
Telegram's servers. Targets: at 0 s on the wire at most 0.42x the time of
python-telegram-bot in its concurrent mode with the same concurrency (8), and
at least 14x faster than one message at a time; at 0.1 s at most 0.7x
python-telegram-bot; no flood 429s; each chat's replies in order; after
kill -9, no more repeated replies than kills; an idle run no more than 2x a bare
`python -c "import requests, yaml"`.
"""

from __future__ import annotations

import dataclasses
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from botjob.config import ChatSettings, Config, RunSettings  # noqa: E402
from botjob.sandbox import ModelSandbox, TelegramSandbox  # noqa: E402
from botjob.wiring import build_job  # noqa: E402

CHATS, PER_CHAT, LATENCY = 40, 3, 0.5
IDLE_RUNS = 15
KILLS = 6


def backlog(telegram: TelegramSandbox) -> None:
    for round_ in range(PER_CHAT):
        for chat in range(CHATS):
            telegram.user_says(f"question {round_} from chat {chat}", chat_id=10_000 + chat)


def in_order(telegram: TelegramSandbox) -> bool:
    """Each chat's replies went out in the order of the questions they answer."""
    by_chat: dict[int, list[int]] = {}
    for message in telegram.sent():
        by_chat.setdefault(message["chat_id"], []).append(message["reply_to_message_id"])
    return all(replies == sorted(replies) for replies in by_chat.values())


def drain_botjob(config: Config, wire: float) -> dict[str, float]:
    """Queue the backlog, run the job once, and measure."""
    with TelegramSandbox(flood_control=True, network_delay=wire) as telegram, ModelSandbox(latency=LATENCY) as model, \
            tempfile.TemporaryDirectory() as state:
        backlog(telegram)
        env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url}
        job = build_job(config, env, state)
        started = time.perf_counter()
        report = job.run_once()
        seconds = time.perf_counter() - started
        job.bot.close()
        assert report.answered == CHATS * PER_CHAT and report.error is None, report
        return {"seconds": seconds, "replies": len(telegram.sent()), "model_calls": report.model_calls,
                "flood_429s": telegram.flood_hits, "in_order": in_order(telegram)}


def drain_ptb(wire: float) -> dict[str, float]:
    """The same backlog, answered by python-telegram-bot with the same concurrency."""
    from ptb_bot import ptb_drain

    with TelegramSandbox(flood_control=True, network_delay=wire) as telegram, ModelSandbox(latency=LATENCY) as model:
        backlog(telegram)
        result = ptb_drain(telegram.url, telegram.token, model.url, expected=CHATS * PER_CHAT, concurrency=RunSettings().concurrency)
        assert result["replies"] == CHATS * PER_CHAT and result["errors"] == 0, result
        return {"seconds": result["seconds"], "replies": result["replies"], "model_calls": CHATS * PER_CHAT,
                "flood_429s": telegram.flood_hits, "in_order": in_order(telegram)}


def kill_again_and_again(wire: float) -> tuple[int, int]:
    """kill -9 a real `python -m botjob run` while its replies go out, KILLS times, then let one finish:
    (repeated replies, kills)."""
    rng = random.Random(7)
    with TelegramSandbox(flood_control=True, network_delay=wire) as telegram, ModelSandbox(latency=LATENCY) as model, \
            tempfile.TemporaryDirectory() as cwd:
        backlog(telegram)
        env = {**outside_actions(), "PYTHONPATH": str(REPO), "TELEGRAM_BOT_TOKEN": telegram.token,
               "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url}
        run = [sys.executable, "-m", "botjob", "run", "--state-dir", "state"]
        kills = 0
        for _ in range(KILLS):
            before = len(telegram.sent())
            process = subprocess.Popen(run, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while len(telegram.sent()) < before + rng.randint(1, 4) and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait()
        subprocess.run(run, env=env, cwd=cwd, check=True, capture_output=True)
        replies = Counter((m["chat_id"], m["reply_to_message_id"]) for m in telegram.sent())
        return sum(count - 1 for count in replies.values()), kills


def outside_actions() -> dict[str, str]:
    """This environment without GitHub Actions' variables: run inside Actions on a public repository,
    a run would otherwise stay (run.stay: auto) and time its stay instead of its work."""
    return {name: value for name, value in os.environ.items() if not name.startswith("GITHUB_")}


def timed(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def idle() -> tuple[float, float]:
    """The fastest wall time of `python -m botjob run` with nothing waiting, and of a bare import of requests
    and yaml, over IDLE_RUNS runs of each taken in turn. Other work on the machine only ever adds time, so
    the fastest of many is each command's own cost; taking them in turn lets a busy moment slow both."""
    with TelegramSandbox() as telegram, ModelSandbox() as model, tempfile.TemporaryDirectory() as cwd:
        env = {
            **outside_actions(), "PYTHONPATH": str(REPO), "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url,
        }
        run = [sys.executable, "-m", "botjob", "run", "--state-dir", "state"]
        bare = [sys.executable, "-c", "import requests, yaml"]
        timed(run, env, cwd), timed(bare, env, cwd)  # warm the file cache
        runs, bares = [], []
        for _ in range(IDLE_RUNS):
            runs.append(timed(run, env, cwd))
            bares.append(timed(bare, env, cwd))
        return min(runs), min(bares)


def row(name: str, wire: float, result: dict[str, float]) -> str:
    order = "yes" if result["in_order"] else "NO"
    return (f"| {name} | {wire:g} s | {result['seconds']:.1f} s | {result['model_calls']} | {result['replies']} "
            f"| {result['flood_429s']} | {order} |")


def main() -> int:
    try:
        import telegram  # noqa: F401 - python-telegram-bot, the baseline
    except ImportError:
        print("python-telegram-bot is missing: pip install -r bench/requirements.txt (in the bench's own venv)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    one_at_a_time = dataclasses.replace(Config(), chat=ChatSettings(merge_bursts=False), run=RunSettings(concurrency=1))
    print(f"Backlog: {CHATS * PER_CHAT} messages from {CHATS} chats, model latency {LATENCY} s, flood control on.", flush=True)
    results = {
        ("one message at a time (concurrency 1, no bursts)", 0.0): drain_botjob(one_at_a_time, 0.0),
        ("botjob, default settings", 0.0): drain_botjob(Config(), 0.0),
        ("python-telegram-bot, 8 concurrent updates", 0.0): drain_ptb(0.0),
        ("botjob, default settings", 0.1): drain_botjob(Config(), 0.1),
        ("python-telegram-bot, 8 concurrent updates", 0.1): drain_ptb(0.1),
    }
    duplicates, kills = kill_again_and_again(0.1)
    idle_run, bare = idle()

    def seconds(name: str, wire: float) -> float:
        return results[(name, wire)]["seconds"]

    vs_ptb_0 = seconds("botjob, default settings", 0.0) / seconds("python-telegram-bot, 8 concurrent updates", 0.0)
    vs_ptb_1 = seconds("botjob, default settings", 0.1) / seconds("python-telegram-bot, 8 concurrent updates", 0.1)
    speedup = seconds("one message at a time (concurrency 1, no bursts)", 0.0) / seconds("botjob, default settings", 0.0)
    print()
    print("| run | on the wire | time | model calls | replies | 429s | each chat in order |")
    print("|---|---|---|---|---|---|---|")
    for (name, wire), result in results.items():
        print(row(name, wire, result))
    print()
    print(f"At 0 s on the wire: {vs_ptb_0:.2f}x python-telegram-bot's time (target: at most 0.42x), "
          f"{speedup:.1f}x faster than one at a time (target: at least 14x).")
    print(f"At 0.1 s on the wire: {vs_ptb_1:.2f}x python-telegram-bot's time (target: at most 0.7x).")
    print(f"kill -9 while replies go out: {duplicates} repeated replies after {kills} kills (target: at most one per kill).")
    print(f"Idle run: {idle_run:.2f} s; bare `import requests, yaml`: {bare:.2f} s (the fastest of {IDLE_RUNS} each, "
          f"taken in turn); ratio {idle_run / bare:.2f} (target: at most 2).")
    ok = (
        vs_ptb_0 <= 0.42 and speedup >= 14 and vs_ptb_1 <= 0.7 and duplicates <= kills and idle_run <= 2 * bare
        and all(r["flood_429s"] == 0 and r["in_order"] for r in results.values())
    )
    print("All targets met." if ok else "A target was missed.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
