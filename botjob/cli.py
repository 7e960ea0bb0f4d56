"""Command line: parses arguments, builds objects, prints, picks the exit code. Nothing else.

Exit codes: 0 done (also when a passing outage stopped the run early: the
next run retries); 1 the bot needs its owner (token, credits, webhook...);
2 bad settings or usage.

Each command imports what it needs when it runs: `peek` and `save-state`
run on a bare python3 before anything is installed, so this module and
their path use the standard library only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from . import actions
from .errors import BotjobError, ConfigError, Failure
from .redaction import RedactingFilter, RedactingRecords, Redactor, secrets_in
from .requirements import REQUIREMENTS

if TYPE_CHECKING:
    from .config import Config
    from .run_report import ModelsUsed, ModelTally, RunReport
    from .state import Cadence

EXIT_OK = 0
EXIT_NEEDS_OWNER = 1
EXIT_BAD_CONFIG = 2

DEFAULT_CONFIG = "botjob.yaml"
DEFAULT_WORKFLOW = ".github/workflows/bot.yml"
SANDBOX_PORTS = (8701, 8702)  # fixed, so the lines pasted for one sandbox still work for the next


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m botjob", description="A Telegram bot answered by a language model, run as a batch job."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="answer every message waiting since the last run")
    _config_option(run)
    _state_option(run)
    run.add_argument("--dry-run", action="store_true", help="show what would be answered; send nothing, store nothing")
    run.add_argument("--max-updates", type=_non_negative, metavar="N", help="handle at most N updates (0 = no cap)")
    run.add_argument(
        "--linger", type=_non_negative, default=0, metavar="SECONDS",
        help="after the backlog, keep listening and answer new messages within seconds, until SECONDS after the start",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true",
        help="debug logging, with message text when run locally (never inside GitHub Actions); tokens stay redacted",
    )
    run.set_defaults(handler=command_run)

    demo = commands.add_parser("demo", help="watch the bot work against local stand-ins: no tokens, no network")
    demo.set_defaults(handler=command_demo)

    sandbox = commands.add_parser(
        "sandbox", help="serve stand-ins for Telegram and the model to try run, peek and check against; type here as a user"
    )
    for option, port, what in (("--telegram-port", SANDBOX_PORTS[0], "Telegram"), ("--model-port", SANDBOX_PORTS[1], "model")):
        sandbox.add_argument(option, type=_port, default=port, metavar="PORT", help=f"the {what} stand-in's port (default: {port}; 0 = any free port)")
    sandbox.set_defaults(handler=command_sandbox)

    check = commands.add_parser("check", help="find set-up problems (settings, tokens, webhook, model, schedule)")
    _config_option(check)
    _workflow_option(check)
    check.add_argument("--fix", action="store_true", help="delete a webhook that blocks getUpdates (waiting messages are kept)")
    check.set_defaults(handler=command_check)

    schedule = commands.add_parser("schedule", help="the workflow's schedule in words, next runs, reply delay and cost; with GITHUB_REPOSITORY and a token, "
        "how far apart GitHub really started the last day's scheduled runs")
    _workflow_option(schedule)
    schedule.add_argument("--count", type=_non_negative, default=5, metavar="N", help="how many next runs to show")
    schedule.set_defaults(handler=command_schedule)

    measure = commands.add_parser(
        "measure-schedule",
        help="measure how far apart GitHub really starts the scheduled runs, kept in state/cadence.json when it moved "
        "(standard library only; the workflow runs it)",
    )
    _state_option(measure)
    measure.add_argument("--workflow", help="the bot's workflow file (default: the running workflow's, else bot.yml)")
    measure.set_defaults(handler=command_measure_schedule)

    peek = commands.add_parser("peek", help="is anything waiting? (standard library only; sets the step output 'waiting')")
    _state_option(peek)
    peek.set_defaults(handler=command_peek)

    save = commands.add_parser("save-state", help="commit state/ and push it (standard library only)")
    _state_option(save)
    save.add_argument(
        "--heartbeat-days", type=float, default=45, metavar="DAYS",
        help="in a public repo, commit a heartbeat after this many quiet days so GitHub keeps the schedule on (0 = off)",
    )
    save.add_argument("--no-push", action="store_true", help="commit only")
    handed_on = save.add_mutually_exclusive_group()
    handed_on.add_argument(
        "--from", dest="source", metavar="DIR",
        help="first take the state files from DIR (the answer job's, handed on): only the files the bot writes, "
        "each checked; deletions mirrored; anything else saves nothing",
    )
    handed_on.add_argument(
        "--check", action="store_true",
        help="only say whether there is anything to save (state/ changed, or a heartbeat is due), as the step "
        "output 'save'; needs no token, changes nothing",
    )
    save.set_defaults(handler=command_save_state)
    return parser


def _config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=f"settings file (default: $BOTJOB_CONFIG or {DEFAULT_CONFIG})")


def _state_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default="state", help="where the offset is kept (default: state)")


def _workflow_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW, help=f"the bot's workflow file (default: {DEFAULT_WORKFLOW})")


def _non_negative(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {value!r}") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {number}")
    return number


def _port(value: str) -> int:
    number = _non_negative(value)
    if number > 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {number}")
    return number


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    args = build_parser().parse_args(argv)
    # Every word a command writes (printed, logged, annotated, summarised) goes out through this one Output.
    out = args.output = actions.Output(env, Redactor(secrets_in(env)))
    record_factory = _configure_logging(out.redactor, verbose=getattr(args, "verbose", False))
    _warn_about_padding(env, out)
    try:
        return args.handler(args, env)
    except BotjobError as error:
        _report_error(error, out)
        return EXIT_BAD_CONFIG if isinstance(error, ConfigError) else EXIT_NEEDS_OWNER
    except ImportError as error:
        if (error.name or "").split(".")[0] not in REQUIREMENTS:
            raise
        _report_error(ConfigError(
            f"botjob's requirements are not installed (no module {error.name!r})",
            hint="install them first: python -m pip install -r requirements.txt (in a virtual environment: "
            "python3 -m venv .venv && . .venv/bin/activate)",
        ), out)
        return EXIT_BAD_CONFIG
    except Exception:  # a bug: the traceback helps, but it must not carry a token
        out.print(traceback.format_exc(), error=True, end="")
        _report_error(BotjobError("unexpected error (a bug in botjob)", hint="please report it with the traceback above"), out)
        return EXIT_NEEDS_OWNER
    finally:
        logging.setLogRecordFactory(record_factory)  # this command's secrets end with it


def _warn_about_padding(env: Mapping[str, str], out: actions.Output) -> None:
    from .environment import padded_variables

    for name in padded_variables(env):
        _report_error(BotjobError(
            f"{name} has spaces or a line break around it; botjob trims them",
            hint=f"paste {name} again without them",
        ), out, "warning")


def _report_error(error: BotjobError, out: actions.Output, level: str = "error") -> None:
    out.annotate(level, error.explain())
    out.print(f"{level}: {error.explain()}", error=True)


def _config_path(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, bool]:
    """The settings file, and whether the owner named it (then it must exist)."""
    named = args.config or env.get("BOTJOB_CONFIG")
    return named or DEFAULT_CONFIG, bool(named)


def load_settings(args: argparse.Namespace, env: Mapping[str, str]) -> Config:
    from .config import load_config

    path, required = _config_path(args, env)
    config = load_config(path, required=required)
    _redact_addresses(config, args.output)
    for note in config.notes:
        _report_error(BotjobError(note), args.output, "warning")
    return config


def _redact_addresses(config: Config, out: actions.Output) -> None:
    """The servers the settings name may carry a key in their address, as BOTJOB_LLM_URL may."""
    from .config import model_choices

    media = config.media
    models = (*config.llm.fallback, *config.llm.choices,
              *(choice for setting in (media.speech_model, media.vision_model, media.image_model) for choice in model_choices(setting)))
    addresses = (config.llm.base_url, *(choice.url for choice in models if choice.url))
    out.redactor.add(secrets_in({}, addresses=addresses))


def command_run(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .wiring import build_job

    # What people wrote may show in a local debug log, never in Actions, whose logs can be public.
    show_text = args.verbose and not actions.in_actions(env)
    job = build_job(load_settings(args, env), env, args.state_dir, show_text=show_text, dry_run=args.dry_run)
    try:
        report = job.run_once(dry_run=args.dry_run, max_updates=args.max_updates, linger=args.linger)
    finally:
        job.bot.close()
    out: actions.Output = args.output
    out.print(format_report(report))
    _fell_back(report, out)
    if report.error is not None:
        _report_error(report.error, out, "warning" if report.error.kind is Failure.TRANSIENT else "error")
    cadence, alarm = _measured_cadence(args.state_dir)
    if alarm:
        _report_error(BotjobError(alarm), out, "warning")
    out.append_summary(report_markdown(report, cadence=cadence, alarm=alarm))
    return exit_code(report)


def _measured_cadence(state_dir: str) -> tuple[Cadence | None, str | None]:
    """The cadence the workflow measured (state/cadence.json), and a warning when its worst gap is long."""
    from .cadence import alarm
    from .state import StateStore
    from .wiring import longest_asked_gap

    cadence = StateStore(state_dir).load_cadence()
    return cadence, alarm(cadence, longest_asked_gap) if cadence else None


def exit_code(report: RunReport) -> int:
    if report.ok:  # done, or stopped by a passing trouble the next run retries
        return EXIT_OK
    return EXIT_BAD_CONFIG if isinstance(report.error, ConfigError) else EXIT_NEEDS_OWNER


def format_report(report: RunReport) -> str:
    if report.dry_run:
        line = (
            f"dry run: {report.fetched} waiting, {report.would_answer} would be answered, "
            f"{report.skipped} skipped; nothing sent or stored"
        )
    else:
        line = (
            f"fetched {report.fetched}, answered {report.answered}, skipped {report.skipped}, failed {report.failed}; "
            f"offset {report.offset_before} -> {report.offset_after}"
        )
        if report.model_seconds:
            line += f"; model {sum(report.model_seconds) / len(report.model_seconds):.1f} s per reply"
        if report.stayed:
            line += f"\nstayed {_stay_in_words(report)}"
        for used in report.models:
            if used.fell_back:
                line += f"\nmodels: {models_in_words(used)}"
    return f"{line}\nstopped: {report.stopped}"


def models_in_words(used: ModelsUsed) -> str:
    """Who answered and who was set aside, in one line: model names (the owner's settings) and counts only.
    A model that answered as a fallback for some chats (their first could not) and first for others
    (a chat's /model choice) says how many of each."""
    def answered(model: ModelTally) -> str:
        if model.instead == model.answered:
            return f"{model.answered} answered by the fallback {model.name}"
        as_fallback = f" ({model.instead} of them as a fallback)" if model.instead else ""
        return f"{model.answered} answered by {model.name}{as_fallback}"

    aside = [f"{model.name} set aside ({model.set_aside})" for model in used.models if model.set_aside]
    answers = [answered(model) for model in used.models if model.answered]
    return f"{used.purpose}: " + "; ".join([*aside, ", ".join(answers) or "none answered"])


def _fell_back(report: RunReport, out: actions.Output) -> None:
    """A warning for each list of models where the first was set aside or another answered: the owner
    should fix the first, though no one waited (runs stay green while a fallback answers)."""
    for used in report.models:
        if used.fell_back:
            fix = next((model.fix for model in used.models if model.fix), None)
            _report_error(BotjobError(models_in_words(used), hint=fix), out, "warning")


def _stay_in_words(report: RunReport) -> str:
    """How long the run listened on for new messages, once it had answered what was waiting (timings and counts only)."""
    setting = f" (run.stay {report.stay:g} s)" if report.stay else ""
    return f"{report.stayed:.0f} s after answering what was waiting, {report.answered_while_staying} more answered meanwhile{setting}"


def report_markdown(report: RunReport, *, cadence: Cadence | None = None, alarm: str | None = None) -> str:
    """The job summary: counts, ids and timings only (a public repository's run pages are public); with
    how far apart the scheduled runs really came, once measured, and ``alarm`` when that is too far."""
    title = "### botjob run" + (" (dry run)" if report.dry_run else "")
    rows = [
        ("fetched", report.fetched),
        ("would answer" if report.dry_run else "answered", report.would_answer if report.dry_run else report.answered),
        ("skipped (no reply needed)", report.skipped),
        ("failed (apologised or undeliverable)", report.failed),
        ("offset before → after", f"{report.offset_before} → {report.offset_after}"),
    ]
    if report.ids_restarted:
        rows.append(("update ids", "restarted by Telegram (a quiet week): the stored offset was replaced"))
    if report.model_seconds:
        average = sum(report.model_seconds) / len(report.model_seconds)
        rows.append(("model latency (avg / max)", f"{average:.1f} s / {max(report.model_seconds):.1f} s"))
    if report.stayed:
        rows.append(("stayed", _stay_in_words(report)))
    rows += [("models", models_in_words(used).replace("|", "\\|")) for used in report.models if used.fell_back]
    rows.append(("stopped", report.stopped))
    if cadence is not None:
        from .cadence import in_words

        rows.append(("GitHub's schedule, measured", in_words(cadence)))
    lines = [title, "", "| | |", "|---|---|", *(f"| {name} | {value} |" for name, value in rows)]
    if report.error is not None:
        mark = "⚠️" if report.error.kind is Failure.TRANSIENT else "❌"
        lines += ["", f"{mark} {report.error.explain()}"]
    if alarm:
        lines += ["", f"⚠️ {alarm}"]
    return "\n".join(lines)


def command_demo(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .demo import run_demo

    return run_demo(args.output.print, main)


def command_sandbox(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .sandbox_session import run_sandbox

    def say(line: str) -> None:
        args.output.print(line)
        sys.stdout.flush()  # each line as it happens, also into a pipe

    return run_sandbox(sys.stdin, say, telegram_port=args.telegram_port, model_port=args.model_port)


def command_check(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .check import OK, PROBLEM, UNVERIFIED, run_checks
    from .config import load_config

    out: actions.Output = args.output
    path, required = _config_path(args, env)
    try:
        _redact_addresses(load_config(path, required=required), out)
    except ConfigError:
        pass  # a finding of the check
    findings = run_checks(env, config_path=path, config_required=required, workflow=args.workflow, fix=args.fix)
    marks = {OK: "ok  ", PROBLEM: "FAIL", UNVERIFIED: "??  "}
    rows = []
    for finding in findings:
        rows.append(f"| {'✅' if finding.level == OK else '❌' if finding.level == PROBLEM else '⚠️'} {finding.topic} | "
                    f"{finding.detail}{f' — fix: {finding.hint}' if finding.hint and finding.level != OK else ''} |")
        out.print(f"{marks.get(finding.level, 'warn')}  {finding.topic}: {finding.detail}")
        if finding.hint and finding.level != OK:
            out.print(f"      fix: {finding.hint}")
            out.annotate("error" if finding.level == PROBLEM else "warning", f"{finding.topic}: {finding.detail} — {finding.hint}")
    problems = sum(f.level == PROBLEM for f in findings)
    unverified = [f.topic for f in findings if f.level == UNVERIFIED]
    if problems:
        verdict = f"{problems} problem{'s' if problems != 1 else ''} found."
    elif unverified:
        verdict = f"The set-up could not be verified: {' and '.join(unverified)} did not answer (see above). Run the check again later."
    else:
        verdict = "All set."
    out.print(f"\n{verdict}")
    table = "\n".join(["| | |", "|---|---|", *(row.replace("\n", " ") for row in rows)])
    out.append_summary(f"### botjob check\n\n{table}\n\n**{verdict}**")
    return EXIT_NEEDS_OWNER if problems or unverified else EXIT_OK


def command_schedule(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from pathlib import Path

    from .github import access, scheduled_runs
    from .schedule import describe, measured_lines, parse_schedule, read_crons

    schedule = parse_schedule(read_crons(args.workflow), count=args.count)
    try:
        where = access(env)
        runs = scheduled_runs(where, Path(args.workflow).name) if where else None
    except BotjobError:  # what the cron lines ask for still stands; main adds the one line on what went wrong
        args.output.print(describe(schedule))
        raise
    args.output.print(describe(schedule, measured=measured_lines(runs, schedule)))
    return EXIT_NEEDS_OWNER if schedule.too_fast else EXIT_OK


def command_measure_schedule(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """The workflow's own measurement, for the greeting and the summary: it never stops the run."""
    from datetime import datetime, timezone

    from .cadence import in_words, measure, moved
    from .github import HOW_TO_MEASURE, access, scheduled_runs, workflow_file
    from .state import CADENCE_FILE, StateStore

    out: actions.Output = args.output
    where = access(env)
    if where is None:
        out.print(f"not measured: GITHUB_REPOSITORY or a token (GITHUB_TOKEN, GH_TOKEN) is not set; to measure here: {HOW_TO_MEASURE}")
        return EXIT_OK
    try:
        runs = scheduled_runs(where, workflow_file(env, args.workflow or DEFAULT_WORKFLOW))
    except BotjobError as error:
        _report_error(error, out, "warning")
        return EXIT_OK  # answering goes on with the figure kept before, if any
    store = StateStore(args.state_dir)
    path = store.directory / CADENCE_FILE
    cadence = measure(runs, datetime.now(timezone.utc))
    if cadence is None:
        out.print(f"too few scheduled runs in the last day to measure; {path} left as it was")
    elif moved(kept := store.load_cadence(), cadence):
        store.save_cadence(cadence)
        out.print(f"scheduled runs: {in_words(cadence)}; {'kept in' if kept is None else 'moved: updated'} {path}")
    else:
        out.print(f"scheduled runs: {in_words(cadence)}; {path} unchanged (moved by a quarter or less)")
    return EXIT_OK


NO_SECRETS_YET = "add the secrets TELEGRAM_BOT_TOKEN and HF_TOKEN: Settings → Secrets and variables → Actions"


def command_peek(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .peek import peek

    out: actions.Output = args.output
    if actions.in_actions(env) and not env.get("TELEGRAM_BOT_TOKEN", "").strip():
        # A repository made from the template runs its schedule before the owner added the secrets:
        # one notice per run, not a red run and an e-mail every ten minutes.
        out.annotate("warning", NO_SECRETS_YET)
        out.set_output("waiting", "false")
        out.append_summary(f"### botjob\n\nNot set up yet: {NO_SECRETS_YET}.")
        return EXIT_OK
    result = peek(env, args.state_dir)
    out.set_output("waiting", "true" if result.waiting else "false")
    if result.error is not None and result.error.kind is Failure.BOT_WIDE:
        _report_error(result.error, out)
        out.append_summary(f"### botjob\n\n❌ {result.error.explain()}")
        return EXIT_NEEDS_OWNER
    if result.error is not None:
        _report_error(result.error, out, "warning")
        out.print("could not look; the run will try")
    elif result.waiting:
        out.print(f"{result.count} update{'s' if result.count != 1 else ''} waiting")
    else:
        out.print("nothing waiting")
        out.append_summary("### botjob\n\nNothing waiting: the run ended after the idle check.")
    return EXIT_OK


def command_save_state(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    from .gitsync import pending_save, save_state

    out: actions.Output = args.output
    if args.check:
        reason = pending_save(".", state_dir=args.state_dir, env=env, heartbeat_days=args.heartbeat_days)
        out.set_output("save", "true" if reason else "false")
        out.print(f"to save: {reason}" if reason else "nothing to save")
        return EXIT_OK
    result = save_state(
        ".", state_dir=args.state_dir, env=env, heartbeat_days=args.heartbeat_days, push=not args.no_push, source=args.source
    )
    out.print(result.message)
    if result.pushed:
        out.print(f"pushed after {result.attempts} attempt{'s' if result.attempts != 1 else ''}")
    return EXIT_OK


def _configure_logging(redactor: Redactor, *, verbose: bool) -> Callable[..., logging.LogRecord]:
    """Logging to stderr, every record redacted (keys the settings bring join ``redactor`` later);
    returns the record factory it replaced."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    for noisy in ("urllib3", "httpx", "httpx2"):  # both ways: main may run more than once in a process
        logging.getLogger(noisy).setLevel(logging.NOTSET if verbose else logging.WARNING)
    logging.getLogger("huggingface_hub").setLevel(logging.WARNING)  # its own default; HF_HUB_VERBOSITY wins
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(RedactingRecords(redactor, previous))  # also for the handlers libraries add
    return previous
