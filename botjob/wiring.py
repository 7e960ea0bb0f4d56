"""Builds a batch job from the settings and the environment (the only place that reads secrets)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .config import Config
from .environment import bot_token, model_url, state_key, telegram_api_url
from .errors import ConfigError
from .job import BatchJob, Memory, Usage
from .llm import ChatModel, ModelTarget
from .pacing import Pacer
from .schedule import DEFAULT_WORKFLOW
from .state import MEMORY_DIR, USAGE_FILE, StateStore
from .telegram import TelegramClient


def model_target(config: Config, env: Mapping[str, str]) -> ModelTarget:
    return ModelTarget(
        model=config.llm.model,
        provider=config.llm.provider,
        base_url=model_url(env, config.llm.base_url),
        endpoint_model=config.llm.endpoint_model,
    )


def telegram_client(config: Config, env: Mapping[str, str]) -> TelegramClient:
    return TelegramClient(bot_token(env), telegram_api_url(env), timeout=config.telegram.timeout)


def schedule_in_words(workflow: str | os.PathLike[str] = DEFAULT_WORKFLOW) -> str:
    """How often the workflow wakes the bot, for /start and /help; vague when it cannot tell."""
    from .schedule import in_words, parse_schedule, read_crons

    try:
        return in_words(parse_schedule(read_crons(workflow)))
    except ConfigError:
        return "every few minutes"


def build_job(
    config: Config,
    env: Mapping[str, str],
    state_dir: str | os.PathLike[str],
    *,
    show_text: bool = False,
    dry_run: bool = False,
) -> BatchJob:
    bot = telegram_client(config, env)
    target = model_target(config, env)
    token = env.get("HF_TOKEN", "").strip() or None
    # ChatModel checks the token now but imports the inference client only for the first question.
    # A dry run asks no model, so it needs no HF_TOKEN.
    model = _NoModel() if dry_run else ChatModel(
        target,
        token=token,
        timeout=config.llm.timeout,
        max_tokens=config.llm.max_tokens,
        temperature=config.llm.temperature,
        task=config.llm.task,
    )
    key = state_key(env)
    return BatchJob(
        bot,
        model,
        StateStore(Path(state_dir)),
        config,
        memory=_memory(config, Path(state_dir), key),
        usage=_usage(config, Path(state_dir), key or bot_token(env)),
        schedule=schedule_in_words,
        show_text=show_text,
        pacer=Pacer(),
    )


class _NoModel:
    """The model of a dry run, which only looks at what waits."""

    def reply(self, messages: list[dict[str, str]]) -> str:
        raise AssertionError("a dry run asks no model")


def _memory(config: Config, state_dir: Path, state_key: str) -> Memory | None:
    if not config.chat.memory_turns:
        return None
    if not state_key:
        raise ConfigError(
            "chat.memory_turns is on, but BOTJOB_STATE_KEY is not set: memory would be stored in plain text",
            hint="set BOTJOB_STATE_KEY (a repository secret) to a long random string, or set chat.memory_turns to 0",
        )
    from .memory import ChatMemory  # cryptography: imported only by bots that remember

    return ChatMemory(state_dir / MEMORY_DIR, state_key, config.chat.memory_turns)


def _usage(config: Config, state_dir: Path, secret: str) -> Usage | None:
    """Daily counts, kept under keyed hashes of chat ids (the bot token is key enough without a state key)."""
    if not config.access.daily_limit:
        return None
    from .memory import DailyUsage, name_secret

    return DailyUsage(state_dir / USAGE_FILE, name_secret(secret), config.access.daily_limit)
