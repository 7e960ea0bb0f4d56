"""The set-up doctor: finds what stops the bot from working and says how to fix each thing.

Each check gives a ``Finding``; a problem makes ``python -m botjob check`` exit
non-zero, and so does a service that could not be reached to verify it.
Everything ``run`` would refuse is a problem here first. Nothing here prints
or returns a token.
"""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from .config import Config, load_config, model_choices
from .environment import bot_token, hf_token, how_to_set, model_url, state_key, telegram_api_url
from .errors import BotjobError, ConfigError, Failure
from .llm import ChatModel
from .schedule import GITHUB_MINIMUM, parse_schedule, read_crons
from .wiring import chat_models, model_target, offered_models, telegram_client

OK, WARNING, PROBLEM, UNVERIFIED = "ok", "warning", "problem", "unverified"
PROBE = [{"role": "user", "content": "Reply with the single word OK."}]
ANSWER_STEP = "Answer"


@dataclass(frozen=True)
class Finding:
    topic: str
    level: str  # OK, WARNING, PROBLEM, or UNVERIFIED (a service that could not be reached right now)
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
    if _usable(lambda: (bot_token(env), telegram_api_url(env))):
        findings += _check_telegram(env, config, fix=fix)
    if _usable(lambda: model_url(env, config.llm.base_url)) and _usable(lambda: hf_token(env)) and (
        hf_token(env) or model_target(config, env).base_url
    ):
        findings += _check_model(env, config)
    if _usable(lambda: hf_token(env)):
        findings += _check_media(env, config)
    findings += _check_workflow(workflow, config)
    return findings


def _usable(read: object) -> bool:
    try:
        read()  # type: ignore[operator]
    except ConfigError:
        return False  # reported by _check_secrets
    return True


def _check_secrets(env: Mapping[str, str], config: Config) -> list[Finding]:
    findings = [_from_env("TELEGRAM_BOT_TOKEN", lambda: bot_token(env), "is set")]
    if env.get("TELEGRAM_API_URL", "").strip():
        findings.append(_from_env("TELEGRAM_API_URL", lambda: telegram_api_url(env), "is an http(s) address"))
    try:
        base_url = model_url(env, config.llm.base_url)
    except ConfigError as error:
        findings.append(_problem("BOTJOB_LLM_URL" if env.get("BOTJOB_LLM_URL", "").strip() else "llm.base_url", error))
        base_url = "invalid"
    try:
        token = hf_token(env)
    except ConfigError as error:  # what run would refuse: a line break inside, too short
        findings.append(_problem("HF_TOKEN", error))
    else:
        if token:
            findings.append(Finding("HF_TOKEN", OK, "is set"))
        elif base_url:
            findings.append(Finding("HF_TOKEN", OK, f"not set; not needed for {_host(base_url)} unless it asks for a token"))
        else:
            findings.append(Finding(
                "HF_TOKEN", PROBLEM, "is not set",
                "create a fine-grained token allowed to 'Make calls to Inference Providers' at "
                "huggingface.co/settings/tokens, then " + how_to_set(env, "HF_TOKEN", "the hf_... token"),
            ))
    findings += _check_state_key(env, config)
    return findings


def _check_state_key(env: Mapping[str, str], config: Config) -> list[Finding]:
    try:
        key = state_key(env)
    except ConfigError as error:
        return [_problem("BOTJOB_STATE_KEY", error)]
    if config.chat.memory_turns and not key:
        return [Finding(
            "BOTJOB_STATE_KEY", PROBLEM, "is not set, and chat.memory_turns is on: the run refuses to store memory in plain text",
            how_to_set(env, "BOTJOB_STATE_KEY", "a long random string") + ", or set chat.memory_turns to 0",
        )]
    return [Finding("BOTJOB_STATE_KEY", OK, "is set")] if key else []


def _from_env(topic: str, read: object, fine: str) -> Finding:
    try:
        read()  # type: ignore[operator]
    except ConfigError as error:
        return _problem(topic, error)
    return Finding(topic, OK, fine)


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
                    "run the check again with --fix (in Actions: the check workflow's 'delete the webhook' box) "
                    "to delete it; waiting messages are kept",
                ))
            else:
                findings.append(Finding("webhook", OK, "none set"))
        except BotjobError as error:
            findings.append(_problem("webhook", error))
        return findings
    finally:
        bot.close()


def _check_model(env: Mapping[str, str], config: Config) -> list[Finding]:
    """The chat model, then each llm.fallback entry, then each llm.choices model not among them: each asked one tiny question."""
    try:
        models = chat_models(config, env, max_tokens=5)
    except ConfigError as error:  # e.g. a fallback on the Hub, and no HF_TOKEN
        return [_problem("model", error)]
    return _try_in_order("model", models.models, _ask) + _check_choices(env, config, models)


def _check_choices(env: Mapping[str, str], config: Config, models: Any) -> list[Finding]:
    """What /model offers, and each model only a chat's pick asks, tried as the fallback models are. One that
    fails is a warning: the chats that pick it are answered by the models above instead."""
    if not config.llm.choices:
        return []
    offered = offered_models(config, env, models)
    names = ", ".join(f"{number}. {choice.label}{' (default)' if choice.model is models.first else ''}"
                      for number, choice in enumerate(offered, 1))
    findings = [Finding("model choices", OK, f"/model offers {names}")]
    for number, choice in enumerate(offered, 1):
        if not any(choice.model is model for model in models.chosen):
            continue  # llm.model or a fallback: tried above
        try:
            outcome = _ask(choice.model)
        except BotjobError as error:
            findings.append(Finding(
                f"model choice {number}", WARNING,
                f"{choice.model.name}: {error}; the chats that pick it are answered by the models above instead",
                error.hint or "the service did not answer now: run the check again in a minute",
            ))
        else:
            findings.append(Finding(f"model choice {number}", OK, f"{choice.model.name} {outcome}"))
    return findings


def _ask(model: ChatModel) -> str:
    started = time.monotonic()
    model.reply(PROBE)
    return f"answered in {time.monotonic() - started:.1f} s"


def _try_in_order(topic: str, models: Sequence[Any], attempt: Callable[[Any], str]) -> list[Finding]:
    """Each model of a list tried with ``attempt`` (which says how it went, or raises): which would answer.

    A list of one is checked as it always was. In a longer one, a model that fails while another would
    answer is a warning (the bot answers, through the fallback), and a fallback is named by its setting.
    """
    outcomes: list[str | BotjobError] = []
    for model in models:
        try:
            outcomes.append(attempt(model))
        except BotjobError as error:
            outcomes.append(error)
    if len(models) == 1:
        about, outcome = models[0].target.describe(), outcomes[0]
        return [_problem(topic, outcome, about=about) if isinstance(outcome, BotjobError) else Finding(topic, OK, f"{about} {outcome}")]
    answering = next((number for number, outcome in enumerate(outcomes) if isinstance(outcome, str)), None)
    findings = []
    for number, (model, outcome) in enumerate(zip(models, outcomes)):
        where = topic if number == 0 else f"{topic} (fallback {number})"
        if isinstance(outcome, str):
            findings.append(Finding(where, OK, f"{model.name} {outcome}"))
        elif answering is None:
            findings.append(_problem(where, outcome, about=model.name))
        else:
            instead = f"; {models[answering].name} would answer instead" if answering > number else ""
            findings.append(Finding(where, WARNING, f"{model.name}: {outcome}{instead}",
                                    outcome.hint or "the service did not answer now: run the check again in a minute"))
    if answering is not None:
        order = ", then ".join(model.name for model in models)
        findings.append(Finding(f"{topic} list", OK, f"asked in this order: {order}; {models[answering].name} would answer"))
    return findings


def _silence() -> bytes:
    """A tenth of a second of silence, as a WAV file: what the speech check sends to a speech URL."""
    wav = io.BytesIO()
    with wave.open(wav, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(8000)
        audio.writeframes(bytes(1600))
    return wav.getvalue()


def _check_media(env: Mapping[str, str], config: Config) -> list[Finding]:
    """Each media model that is on, each of a list in order: a hub model looked up (a request would cost),
    a URL tried with something tiny; drawing is never tried, since a picture costs."""
    from .wiring import media_models

    media = config.media
    try:
        models = media_models(config, env)
    except ConfigError as error:
        return [_problem("media", error)]
    findings = []
    for on, listed, topic, setting, switch in (
        (media.voice, models.speech, "voice notes", "speech_model", "media.voice"),
        (media.photos, models.vision, "photos", "vision_model", "media.photos"),
        (media.images, models.pictures, "pictures", "image_model", "media.images"),
    ):
        if not on:
            continue
        value = getattr(media, setting)
        if listed is None:
            findings.append(Finding(
                topic, WARNING, f"off: media.{setting} {'is a Hugging Face model' if isinstance(value, str) else 'names Hugging Face models only'}"
                " and HF_TOKEN is not set",
                f"add HF_TOKEN, make media.{setting} the URL of your own server, or set {switch}: false",
            ))
            continue
        left_out = [] if hf_token(env) else [choice.model for choice in model_choices(value) if not choice.url]
        findings += [Finding(topic, WARNING, f"{name} is left out: it is a Hugging Face model and HF_TOKEN is not set",
                             f"add HF_TOKEN, or remove it from media.{setting}") for name in left_out]
        findings += _try_in_order(topic, listed.models, _try_media)
    return findings


def _try_media(model: Any) -> str:
    """How one media model answered something tiny, or was looked up; raises when it cannot work."""
    from .media import PictureModel, SpeechModel

    if isinstance(model, SpeechModel) and model.target.base_url:
        model.transcribe(_silence(), mime_type="audio/wav", seconds=1)
        return "took a tiny audio file"
    if isinstance(model, ChatModel):  # a few tokens: cheap enough to try
        model.reply(PROBE)
        return "answered"
    model._get_client()  # a hub model: its provider and mapping resolved, nothing sent
    if isinstance(model, PictureModel) and model.target.base_url:
        return "is set (not tried: a picture costs)"
    return "is served (looked up, not tried: a request would cost)"


def _check_workflow(workflow: str | Path, config: Config) -> list[Finding]:
    if not Path(workflow).exists():
        return [Finding("schedule", WARNING, f"no workflow file at {workflow}", "run this from the repository's top folder, or pass --workflow")]
    try:
        schedule = parse_schedule(read_crons(workflow))
    except ConfigError as error:
        return [_problem("schedule", error)]
    if schedule.too_fast:
        crons = ", ".join(f'"{c}"' for c in schedule.crons)
        finding = Finding(
            "schedule", PROBLEM,
            f"{crons} runs every {schedule.shortest_gap.total_seconds() / 60:.0f} min; GitHub runs a schedule at most every {GITHUB_MINIMUM.seconds // 60} minutes",
            'use 5 minutes or more, e.g. "*/5 * * * *"',
        )
    else:
        lines = "; ".join(f'"{cron}": {words[0].lower()}{words[1:]}' for cron, words in zip(schedule.crons, schedule.descriptions))
        finding = Finding("schedule", OK, f"{lines} (UTC)")
    return [finding, *_check_time_budget(workflow, config)]


def _check_time_budget(workflow: str | Path, config: Config) -> list[Finding]:
    """The Answer step is killed at its timeout-minutes: the run must stop on its own before that."""
    try:
        document = yaml.safe_load(Path(workflow).read_text(encoding="utf-8"))
        steps = [s for job in document["jobs"].values() for s in job.get("steps", []) if isinstance(s, dict)]
        minutes = next(s.get("timeout-minutes") for s in steps if s.get("name") == ANSWER_STEP)
    except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError, AttributeError, StopIteration):
        return []  # not the shipped shape: nothing to compare with
    if not isinstance(minutes, (int, float)) or isinstance(minutes, bool):
        return []
    budget = config.run.time_budget
    if budget >= minutes * 60:
        return [Finding(
            "time budget", PROBLEM,
            f"run.time_budget is {budget:g} s, but the workflow's {ANSWER_STEP} step is stopped after {minutes:g} minutes: "
            "a stopped run may repeat what it answered",
            f"set run.time_budget below {minutes * 60:g} (e.g. {max(60, minutes * 60 - 120):g}), or raise the step's timeout-minutes",
        )]
    return [Finding("time budget", OK, f"run.time_budget {budget:g} s fits in the {ANSWER_STEP} step's {minutes:g} minutes")]


def _problem(topic: str, error: BotjobError, *, about: str = "") -> Finding:
    detail = f"{about}: {error}" if about else str(error).removeprefix(f"{topic} ")
    if error.kind is Failure.TRANSIENT:  # nothing wrong found, but nothing verified either
        return Finding(topic, UNVERIFIED, detail, error.hint or "the service did not answer now: run the check again in a minute")
    return Finding(topic, PROBLEM, detail, error.hint or "")


def _host(url: str) -> str:
    """Only the host of a URL: a webhook's path often carries a secret."""
    return urlsplit(url).hostname or "another address"
