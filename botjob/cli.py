"""Command line: parses arguments, builds objects, prints, picks the exit code. Nothing else.

Exit codes: 0 done (also when a passing outage stopped the run early: the
next run retries); 1 the bot needs its owner (token, credits, webhook...);
2 bad settings or usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence

from .config import DEFAULT_CONFIG_PATH, Config, load_config
from .errors import BotjobError, ConfigError, Failure
from .job import RunReport
from .redaction import RedactingFilter, redact
from .wiring import build_job, secrets_in

EXIT_OK = 0
EXIT_NEEDS_OWNER = 1
EXIT_BAD_CONFIG = 2

log = logging.getLogger("botjob")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m botjob", description="A Telegram bot answered by a language model, run as a batch job.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="answer every message waiting since the last run")
    run.add_argument("--config", help=f"settings file (default: $BOTJOB_CONFIG or {DEFAULT_CONFIG_PATH})")
    run.add_argument("--state-dir", default="state", help="where the offset is kept (default: state)")
    run.add_argument("--dry-run", action="store_true", help="show what would be answered; send nothing, store nothing")
    run.add_argument("--max-updates", type=_non_negative, metavar="N", help="handle at most N updates (0 = no cap)")
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging (never message text)")
    run.set_defaults(handler=command_run)

    demo = commands.add_parser("demo", help="watch the bot work against local stand-ins: no tokens, no network")
    demo.set_defaults(handler=command_demo)
    return parser


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    _configure_logging(secrets_in(env), verbose=getattr(args, "verbose", False))
    try:
        return args.handler(args, env)
    except BotjobError as error:
        print(f"error: {redact(error.explain(), secrets_in(env))}", file=sys.stderr)
        return EXIT_BAD_CONFIG if isinstance(error, ConfigError) else EXIT_NEEDS_OWNER


def load_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    named = args.config or env.get("BOTJOB_CONFIG")
    return load_config(named or DEFAULT_CONFIG_PATH, required=bool(named))


def command_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    config = load_settings(args, env)
    job = build_job(config, env, args.state_dir)
    try:
        report = job.run_once(dry_run=args.dry_run, max_updates=args.max_updates)
    finally:
        job.bot.close()
    print(format_report(report))
    return exit_code(report)


def exit_code(report: RunReport) -> int:
    if report.error is None or report.error.kind is Failure.TRANSIENT:
        return EXIT_OK
    return EXIT_BAD_CONFIG if isinstance(report.error, ConfigError) else EXIT_NEEDS_OWNER


def format_report(report: RunReport) -> str:
    if report.dry_run:
        line = f"dry run: {report.fetched} waiting, {report.would_answer} would be answered, {report.skipped} skipped; nothing sent or stored"
    else:
        line = (
            f"fetched {report.fetched}, answered {report.answered}, skipped {report.skipped}, failed {report.failed}; "
            f"offset {report.offset_before} -> {report.offset_after}"
        )
        if report.model_seconds:
            line += f"; model {sum(report.model_seconds) / len(report.model_seconds):.1f} s per reply"
    lines = [line, f"stopped: {report.stopped}"]
    if report.error is not None:
        level = "warning" if report.error.kind is Failure.TRANSIENT else "error"
        lines.append(f"{level}: {report.error.explain()}")
    return "\n".join(lines)


def command_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .demo import run_demo

    return run_demo(print)


def _configure_logging(secrets: list[str], *, verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        for noisy in ("urllib3", "httpx", "httpx2", "huggingface_hub"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
