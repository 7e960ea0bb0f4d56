"""Builds a batch job from the settings and the environment (the only place that reads secrets)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from .config import Config
from .errors import ConfigError
from .job import BatchJob
from .llm import ChatModel, ModelTarget
from .state import StateStore
from .telegram import DEFAULT_API_URL, TelegramClient

def model_target(config: Config, env: Mapping[str, str]) -> ModelTarget:
    return ModelTarget(
        model=config.llm.model,
        provider=config.llm.provider,
        base_url=env.get("BOTJOB_LLM_URL") or config.llm.base_url,
        endpoint_model=config.llm.endpoint_model,
    )


def telegram_client(config: Config, env: Mapping[str, str]) -> TelegramClient:
    token = env.get("TELEGRAM_BOT_TOKEN", "").strip()
    if not token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set",
            hint="create a bot with @BotFather and export its token (a repository secret in GitHub Actions)",
        )
    return TelegramClient(token, env.get("TELEGRAM_API_URL") or DEFAULT_API_URL, timeout=config.telegram.timeout)


def build_job(config: Config, env: Mapping[str, str], state_dir: str | os.PathLike[str]) -> BatchJob:
    bot = telegram_client(config, env)
    target = model_target(config, env)
    token = env.get("HF_TOKEN", "").strip() or None
    # ChatModel checks the token now but imports the inference client only for the first question.
    model = ChatModel(
        target,
        token=token,
        timeout=config.llm.timeout,
        max_tokens=config.llm.max_tokens,
        temperature=config.llm.temperature,
    )
    return BatchJob(bot, model, StateStore(Path(state_dir)), config)
