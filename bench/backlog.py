"""Benchmark: drain an overnight backlog against the local stand-ins, and time an idle run.

    python bench/backlog.py            # about 1.5 minutes; prints a markdown table

Not a test: numbers depend on the machine. The README quotes its output.
Targets (issue "Nothing lost, nothing flooded, fast through a backlog"):
the backlog at least 5x faster than answering one message at a time, zero
429s from Telegram's flood control, and an idle run no more than 2x the
start-up of a bare `python -c "import requests, yaml"`.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

from botjob.config import ChatSettings, Config, RunSettings  # noqa: E402
from botjob.sandbox import ModelSandbox, TelegramSandbox  # noqa: E402
from botjob.wiring import build_job  # noqa: E402

CHATS, PER_CHAT, LATENCY = 40, 3, 0.5
IDLE_RUNS = 7


def drain(config: Config) -> dict[str, float]:
    """Queue the backlog, run the job once, and measure."""
    with TelegramSandbox(flood_control=True) as telegram, ModelSandbox(latency=LATENCY) as model, tempfile.TemporaryDirectory() as state:
        for round_ in range(PER_CHAT):
            for chat in range(CHATS):
                telegram.user_says(f"question {round_} from chat {chat}", chat_id=10_000 + chat)
        env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url}
        job = build_job(config, env, state)
        started = time.perf_counter()
        report = job.run_once()
        seconds = time.perf_counter() - started
        job.bot.close()
        questions = CHATS * PER_CHAT
        assert report.answered == questions and report.error is None, report
        return {
            "seconds": seconds,
            "replies": len(telegram.sent()),
            "model_calls": report.model_calls,
            "flood_429s": telegram.flood_hits,
            "pending_after": len(telegram.pending()),
        }


def timed(command: list[str], env: dict[str, str], cwd: str) -> float:
    started = time.perf_counter()
    subprocess.run(command, env=env, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def idle() -> tuple[float, float]:
    """Median wall time of `python -m botjob run` with nothing waiting, and of a bare import of requests and yaml."""
    with TelegramSandbox() as telegram, ModelSandbox() as model, tempfile.TemporaryDirectory() as cwd:
        env = {
            **os.environ, "PYTHONPATH": str(REPO), "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url,
        }
        run = [sys.executable, "-m", "botjob", "run", "--state-dir", "state"]
        bare = [sys.executable, "-c", "import requests, yaml"]
        timed(run, env, cwd), timed(bare, env, cwd)  # warm the file cache
        runs = [timed(run, env, cwd) for _ in range(IDLE_RUNS)]
        bares = [timed(bare, env, cwd) for _ in range(IDLE_RUNS)]
        return statistics.median(runs), statistics.median(bares)


def main() -> int:
    one_at_a_time = dataclasses.replace(
        Config(), chat=ChatSettings(merge_bursts=False), run=RunSettings(concurrency=1)
    )
    print(f"Backlog: {CHATS * PER_CHAT} messages from {CHATS} chats, model latency {LATENCY} s, flood control on.", flush=True)
    baseline = drain(one_at_a_time)
    default = drain(Config())
    idle_run, bare = idle()
    speedup = baseline["seconds"] / default["seconds"]
    print()
    print("| run | time | model calls | replies | 429s |")
    print("|---|---|---|---|---|")
    print(f"| one message at a time (concurrency 1, no bursts) | {baseline['seconds']:.1f} s | {baseline['model_calls']} | {baseline['replies']} | {baseline['flood_429s']} |")
    print(f"| default settings (8 chats at once, bursts merged) | {default['seconds']:.1f} s | {default['model_calls']} | {default['replies']} | {default['flood_429s']} |")
    print()
    print(f"Backlog speed-up: {speedup:.1f}x (target: at least 5x)")
    print(f"Idle run: {idle_run:.2f} s; bare `import requests, yaml`: {bare:.2f} s; ratio {idle_run / bare:.2f} (target: at most 2)")
    ok = speedup >= 5 and default["flood_429s"] == 0 and baseline["flood_429s"] == 0 and idle_run <= 2 * bare
    print("All targets met." if ok else "A target was missed.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
