"""Benchmark: from a cron tick to the first answer, stage by stage, the workflow's install before and now.

    python bench/first_answer.py                           # about 6 minutes; the installs download from PyPI
    python bench/first_answer.py --python python3.12       # the workflow's Python (setup-python's "3.12")

Not a test: the figures depend on the machine and on its way to PyPI. The README's Speed section
quotes them. A run with work (.github/workflows/bot.yml) goes through checkout, peek, setup-python,
Install and Answer. Checkout and setup-python are GitHub's and cannot be measured here. Every trial
lays out a fresh checkout (no bytecode yet, as on a runner), queues one message at the Telegram
stand-in, and times in the workflow's order:

  peek          `python3 -S -m botjob peek` on the base Python, nothing installed
  install       into a fresh Python that has only pip (as setup-python leaves it), one way per row
  first answer  `python -m botjob run` until the stand-in receives the reply: start-up and imports
                (until the first getUpdates), the model client (until the model's first request:
                the Telegram calls before it and the import of huggingface_hub), the answer (until
                sendMessage; the model stand-in answers at once)

The ways: before, `pip install -r requirements.txt`; now, the Install step of bot.yml (pip installs
uv, uv installs the requirements and writes no bytecode, so the run compiles what it imports); uv with
--compile-bytecode; a cached environment (restored with bytecode; here only its unpacking is timed:
the download from GitHub's cache cannot be measured here). Cold: empty caches. Warm: pip's download
cache filled, as setup-python's `cache: pip` restored it, and uv's cache filled. The workflow now
keeps no cache, so each of its runs is the cold row. Every round runs every way, in a rotating
order; the table shows the median of the rounds and, in brackets, the fastest, so a noisy moment on
the machine lands on one trial of one way instead of deciding a comparison.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from botjob.requirements import REQUIREMENTS  # noqa: E402
from botjob.sandbox import ModelSandbox, TelegramSandbox  # noqa: E402

UV = "uv>=0.13.9,<0.14"  # as the Install step of .github/workflows/bot.yml
PIP = ["-m", "pip", "install", "--disable-pip-version-check"]
ROUNDS = 5
BEFORE, NOW = "before: pip install -r requirements.txt", "now: pip install uv, then uv pip install"


class Arrivals:
    """Records when each request reaches a stand-in, on this process's clock."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, str]] = []

    def first(self, what: str) -> float:
        return next(at for at, name in self.seen if name.startswith(what))


class TimedTelegram(TelegramSandbox):
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        super().__init__()

    def handle(self, request):
        self.arrivals.seen.append((time.perf_counter(), "telegram " + request.path.rsplit("/", 1)[-1]))
        return super().handle(request)


class TimedModel(ModelSandbox):
    def __init__(self, arrivals: Arrivals) -> None:
        self.arrivals = arrivals
        super().__init__()

    def handle(self, request):
        self.arrivals.seen.append((time.perf_counter(), f"model {request.method} {request.path}"))
        return super().handle(request)


def clean_env(**extra: str) -> dict[str, str]:
    """This machine's environment without its package settings: a runner has no local mirror or wheel folder."""
    drop = ("PIP_", "UV_", "PYTHON", "VIRTUAL_ENV", "TELEGRAM_", "HF_", "BOTJOB_", "GITHUB_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "UV_NO_CONFIG": "1", **extra}


def run(command: list[str], env: dict[str, str], cwd: Path | None = None) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


@dataclass
class Caches:
    pip: Path
    uv: Path

    def env(self) -> dict[str, str]:
        return clean_env(PIP_CACHE_DIR=str(self.pip), UV_CACHE_DIR=str(self.uv))


@dataclass
class Bench:
    base: str  # the Python the workflow's python3 and setup-python stand for
    scratch: Path
    template: Path  # a Python with only an up-to-date pip
    warm: Caches
    archive: Path | None = None  # a built environment, as a cache would restore it

    def fresh_python(self, into: Path) -> Path:
        shutil.copytree(self.template, into, symlinks=True)
        return into / "bin" / "python"

    def cold(self) -> Caches:
        folder = Path(tempfile.mkdtemp(dir=self.scratch))
        return Caches(folder / "pip", folder / "uv")


Installed = tuple[Path, dict[str, float]]  # the Python that answers, and how long installing took (and its parts)


def install_with_pip(bench: Bench, into: Path, caches: Caches) -> Installed:
    python = bench.fresh_python(into)
    return python, {"install": run([str(python), *PIP, "-r", str(REPO / "requirements.txt")], caches.env())}


def install_with_uv(*uv_options: str) -> Callable[[Bench, Path, Caches], Installed]:
    def install(bench: Bench, into: Path, caches: Caches) -> Installed:
        python = bench.fresh_python(into)
        env = caches.env()
        getting_uv = run([str(python), *PIP, UV], env)
        # The workflow says --system: setup-python's Python is no virtual environment, this fresh one is.
        uv = [str(python.parent / "uv"), "pip", "install", *uv_options, "--python", str(python)]
        installing = run([*uv, "-r", str(REPO / "requirements.txt")], env)
        return python, {"install": getting_uv + installing, "getting uv": getting_uv}
    return install


def restore_environment(bench: Bench, into: Path, caches: Caches) -> Installed:
    into.mkdir()
    assert bench.archive is not None
    seconds = run(["tar", "--use-compress-program=zstd", "-xf", str(bench.archive), "-C", str(into)], clean_env())
    return into / "bin" / "python", {"install": seconds}


WAYS: dict[str, Callable[[Bench, Path, Caches], Installed]] = {
    BEFORE: install_with_pip,
    NOW: install_with_uv(),
    "uv pip install --compile-bytecode": install_with_uv("--compile-bytecode"),
    "a cached environment, restored": restore_environment,
}
TRIALS = [
    (BEFORE, "cold"), (BEFORE, "warm"),
    (NOW, "cold"), (NOW, "warm"),
    ("uv pip install --compile-bytecode", "cold"), ("a cached environment, restored", "warm"),
]


def checkout(into: Path) -> Path:
    """What actions/checkout lays out, as far as a run reads it: no __pycache__ yet."""
    shutil.copytree(REPO / "botjob", into / "botjob", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / ".github", into / ".github")
    for name in ("botjob.yaml", "requirements.txt"):
        shutil.copy(REPO / name, into / name)
    return into


def trial(bench: Bench, way: str, cache: str) -> dict:
    folder = Path(tempfile.mkdtemp(dir=bench.scratch))
    caches = bench.warm if cache == "warm" else bench.cold()
    arrivals = Arrivals()
    try:
        with TimedTelegram(arrivals) as telegram, TimedModel(arrivals) as model:
            telegram.user_says("What does a cron line say?", chat_id=4242)
            env = clean_env(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_URL=telegram.url,
                            BOTJOB_LLM_URL=model.url, HF_HUB_DISABLE_TELEMETRY="1")
            work = checkout(folder / "checkout")
            peek = run([bench.base, "-S", "-m", "botjob", "peek"], env, cwd=work)
            python, installing = WAYS[way](bench, folder / "python", caches)
            arrivals.seen.clear()
            started = time.perf_counter()
            run([str(python), "-m", "botjob", "run"], env, cwd=work)
            assert len(telegram.sent()) == 1, "the run did not answer"
            fetched, asked, answered = (arrivals.first(what) - started for what in
                                        ("telegram getUpdates", "model", "telegram sendMessage"))
            calls = [name.split()[1] for at, name in arrivals.seen if name.startswith("telegram") and at < started + answered]
    finally:
        shutil.rmtree(folder)
        if cache == "cold":
            shutil.rmtree(caches.pip.parent)
    return {"peek": peek, **installing, "imports": fetched, "model client": asked - fetched,
            "answer": answered - asked, "run": answered, "total": peek + installing["install"] + answered,
            "calls": ["getUpdates (peek)", *calls]}


def prepare(base: str, scratch: Path) -> Bench:
    """A Python with an up-to-date pip, warm caches, and an archive of a built environment (untimed)."""
    template = scratch / "template"
    run([base, "-m", "venv", str(template)], clean_env())
    run([str(template / "bin" / "python"), *PIP, "--upgrade", "pip"], clean_env())
    bench = Bench(base, scratch, template, Caches(scratch / "pip-cache", scratch / "uv-cache"))
    install_with_pip(bench, scratch / "warm-pip", bench.warm)
    built = scratch / "built"
    install_with_uv("--compile-bytecode")(bench, built, bench.warm)
    if shutil.which("zstd"):  # actions/cache packs with zstd where the runner has it
        bench.archive = scratch / "environment.tar.zst"
        run(["tar", "--use-compress-program=zstd", "-cf", str(bench.archive), "-C", str(built), "."], clean_env())
    return bench


def imported_by_a_run(bench: Bench) -> tuple[list[str], list[str]]:
    """Which of the installed packages a run that answers one message imports, and which it leaves alone."""
    python = bench.scratch / "built" / "bin" / "python"
    with TelegramSandbox() as telegram, ModelSandbox() as model, tempfile.TemporaryDirectory(dir=bench.scratch) as folder:
        telegram.user_says("Which packages does this import?", chat_id=4242)
        work = checkout(Path(folder) / "checkout")
        env = clean_env(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_URL=telegram.url,
                        BOTJOB_LLM_URL=model.url, HF_HUB_DISABLE_TELEMETRY="1")
        done = subprocess.run([str(python), "-X", "importtime", "-m", "botjob", "run"], env=env, cwd=work,
                              capture_output=True, text=True, timeout=120, check=True)
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines() if line.startswith("import time:")}
    installed = [*REQUIREMENTS, "hf_xet"]
    return [m for m in installed if m in modules], [m for m in installed if m not in modules]


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=getattr(sys, "_base_executable", sys.executable),
                        help="the Python to install into (default: the one running this, outside any virtual environment)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help=f"trials of every way (default {ROUNDS})")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="first-answer-") as scratch:
        print(f"Preparing: a fresh {args.python}, warm caches, a built environment (needs PyPI)...", flush=True)
        bench = prepare(args.python, Path(scratch))
        trials = [t for t in TRIALS if bench.archive or not t[0].startswith("a cached")]
        results: dict[tuple[str, str], list[dict]] = {t: [] for t in trials}
        for round_ in range(args.rounds):
            for way, cache in trials[round_ % len(trials):] + trials[:round_ % len(trials)]:
                results[(way, cache)].append(trial(bench, way, cache))
            print(f"round {round_ + 1} of {args.rounds} done", flush=True)
        imported, left_alone = imported_by_a_run(bench)

    stages = ("peek", "install", "imports", "model client", "answer", "total")
    print()
    print("| install | caches | peek | install | start-up and imports | model client | answer | measured stages |")
    print("|---|---|---|---|---|---|---|---|")
    for (way, cache), runs in results.items():
        print(f"| {way} | {cache} | " + " | ".join(cell([r[s] for r in runs]) for s in stages) + " |")

    def median(way: str, cache: str, stage: str) -> float:
        return statistics.median(r[stage] for r in results[(way, cache)])

    calls = results[(NOW, "cold")][0]["calls"]
    print()
    print(f"Medians of {args.rounds} rounds (fastest in brackets); checkout and setup-python are not measured here.")
    print(f"Tick to first answer, measured stages: before {median(BEFORE, 'warm', 'total'):.1f} s (setup-python's "
          f"cache: pip restored), {median(BEFORE, 'cold', 'total'):.1f} s cold; now {median(NOW, 'cold', 'total'):.1f} s "
          f"(it keeps no cache: every run is cold).")
    print(f"Install step: before {median(BEFORE, 'warm', 'install'):.1f} s warm, now {median(NOW, 'cold', 'install'):.1f} s "
          f"cold and {median(NOW, 'warm', 'install'):.1f} s warm (target: under 3 s on a warm cache); of it now, "
          f"pip installing uv itself {median(NOW, 'cold', 'getting uv'):.1f} s cold, {median(NOW, 'warm', 'getting uv'):.1f} s warm.")
    print(f"Telegram calls before the first answer: {', '.join(calls)}; some go beside others. The model stand-in "
          "answers at once: a real model adds its own time to every row alike.")
    print(f"A run that answers one message imports {', '.join(imported)}; not {', '.join(left_alone)}.")
    faster = median(NOW, "cold", "total") < median(BEFORE, "warm", "total")
    print("Now is faster than before." if faster else "Now is NOT faster than before.")
    return 0 if faster else 1


if __name__ == "__main__":
    sys.exit(main())
