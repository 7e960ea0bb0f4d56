"""The set-up doctor: finds what stops the bot from working and says how to fix each thing.

Each check gives a ``Finding``; a problem makes ``python -m botjob check`` exit
non-zero. Nothing here prints or returns a token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from .config import Config, load_config
from .errors import BotjobError, ConfigError, Failure
from .llm import ChatModel
from .schedule import GITHUB_MINIMUM, parse_schedule, read_crons
from .wiring import model_target, telegram_client

OK, WARNING, PROBLEM = "ok", "warning", "problem"
PROBE = [{"role": "user", "content": "Reply with the single word OK."}]


@dataclass(frozen=True)
class Finding:
    topic: str
    level: str  # OK, WARNING or PROBLEM
    detail: str
    hint: str = ""


def run_checks(
    env: Mapping[str, str],
    *,
    config_path: str | Path,
    config_required: bool = False,
    workflow: str | Path,
    fix: bool = False,
) -> list[Finding]:
    findings: list[Finding] = []
    try:
        config = load_config(config_path, required=config_required)
        findings.append(Finding("settings", OK, f"{config.source} is valid"))
    except ConfigError as error:
        findings.append(_problem("settings", error))
        config = Config()
    findings += _check_secrets(env, config)
    if env.get("TELEGRAM_BOT_TOKEN", "").strip():
        findings += _check_telegram(env, config, fix=fix)
    if env.get("HF_TOKEN", "").strip() or model_target(config, env).base_url:
        findings.append(_check_model(env, config))
    findings.append(_check_schedule(workflow))
    return findings


def _check_secrets(env: Mapping[str, str], config: Config) -> list[Finding]:
    findings = []
    if env.get("TELEGRAM_BOT_TOKEN", "").strip():
        findings.append(Finding("TELEGRAM_BOT_TOKEN", OK, "is set"))
    else:
        findings.append(Finding(
            "TELEGRAM_BOT_TOKEN", PROBLEM, "is not set",
            "create a bot with @BotFather, then add its token as the repository secret TELEGRAM_BOT_TOKEN",
        ))
    target = model_target(config, env)
    if env.get("HF_TOKEN", "").strip():
        findings.append(Finding("HF_TOKEN", OK, "is set"))
    elif target.base_url:
        findings.append(Finding("HF_TOKEN", OK, f"not set; not needed for {_host(target.base_url)} unless it asks for a token"))
    else:
        findings.append(Finding(
            "HF_TOKEN", PROBLEM, "is not set",
            "create a fine-grained token allowed to 'Make calls to Inference Providers' at "
            "huggingface.co/settings/tokens, and add it as the repository secret HF_TOKEN",
        ))
    return findings


def _check_telegram(env: Mapping[str, str], config: Config, *, fix: bool) -> list[Finding]:
    bot = telegram_client(config, env)
    try:
        try:
            me = bot.get_me()
        except BotjobError as error:
            return [_problem("telegram", error)]
        findings = [Finding("telegram", OK, f"the token belongs to @{me.get('username', '?')}")]
        try:
            webhook = bot.get_webhook_info().get("url") or ""
            if webhook and fix:
                bot.delete_webhook(drop_pending_updates=False)
                findings.append(Finding("webhook", OK, f"deleted the webhook to {_host(webhook)}; waiting messages are kept"))
            elif webhook:
                findings.append(Finding(
                    "webhook", PROBLEM, f"a webhook to {_host(webhook)} is set, so getUpdates answers 409",
                    "run python -m botjob check --fix to delete it (waiting messages are kept)",
                ))
            else:
                findings.append(Finding("webhook", OK, "none set"))
        except BotjobError as error:
            findings.append(_problem("webhook", error))
        return findings
    finally:
        bot.close()


def _check_model(env: Mapping[str, str], config: Config) -> Finding:
    target = model_target(config, env)
    try:
        model = ChatModel(
            target,
            token=env.get("HF_TOKEN", "").strip() or None,
            timeout=config.llm.timeout,
            max_tokens=5,
            task=config.llm.task,
        )
        started = time.monotonic()
        model.reply(PROBE)
    except BotjobError as error:
        return _problem("model", error, about=target.describe())
    return Finding("model", OK, f"{target.describe()} answered in {time.monotonic() - started:.1f} s")


def _check_schedule(workflow: str | Path) -> Finding:
    if not Path(workflow).exists():
        return Finding("schedule", WARNING, f"no workflow file at {workflow}", "run this from the repository's top folder, or pass --workflow")
    try:
        schedule = parse_schedule(read_crons(workflow))
    except ConfigError as error:
        return _problem("schedule", error)
    crons = ", ".join(f'"{c}"' for c in schedule.crons)
    if schedule.too_fast:
        return Finding(
            "schedule", PROBLEM,
            f"{crons} runs every {schedule.shortest_gap.total_seconds() / 60:.0f} min; GitHub runs a schedule at most every {GITHUB_MINIMUM.seconds // 60} minutes",
            'use 5 minutes or more, e.g. "*/5 * * * *"',
        )
    return Finding("schedule", OK, f"{crons}: {schedule.descriptions[0][0].lower()}{schedule.descriptions[0][1:]} (UTC)")


def _problem(topic: str, error: BotjobError, *, about: str = "") -> Finding:
    detail = f"{about}: {error}" if about else str(error)
    if error.kind is Failure.TRANSIENT:  # nothing to fix in the set-up: the service is away for now
        return Finding(topic, WARNING, detail, error.hint or "a passing trouble: try again in a minute")
    return Finding(topic, PROBLEM, detail, error.hint or "")


def _host(url: str) -> str:
    """Only the host of a URL: a webhook's path often carries a secret."""
    return urlsplit(url).hostname or "another address"
