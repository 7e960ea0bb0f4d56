"""Builds a batch job from the settings and the environment (the only place that reads secrets)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import Config, ModelChoice, check_choice_names, model_choices
from .conversation import UNMEASURED_WAIT, WAIT, measured_wait
from .environment import bot_token, check_address, hf_token, how_to_set, model_url, state_key, telegram_api_url
from .errors import ConfigError
from .answering import Choices, MediaModels, Memory, Personas, Usage
from .fallback import ChatModels
from .job import BatchJob
from .llm import ChatModel, ModelTarget
from .pacing import Pacer
from .schedule import DEFAULT_WORKFLOW
from .state import CHOSEN_MODELS_FILE, MEMORY_DIR, PERSONAS_DIR, PICTURES_FILE, STATS_FILE, USAGE_FILE, Cadence, StateStore
from .stats import StatsBook
from .telegram import TelegramClient


def model_target(config: Config, env: Mapping[str, str]) -> ModelTarget:
    return ModelTarget(
        model=config.llm.model,
        provider=config.llm.provider,
        base_url=model_url(env, config.llm.base_url),
        endpoint_model=config.llm.endpoint_model,
    )


def chat_models(config: Config, env: Mapping[str, str], *, max_tokens: int | None = None) -> ChatModels:
    """llm.model (or BOTJOB_LLM_URL), then each llm.fallback entry, asked in that order; and the llm.choices
    models, each asked first for the chats that picked it (/model), then that order. One model object per
    distinct model, shared: a model set aside in a run is set aside for every chat that asks it. Each checks
    its token now but imports the inference client only for its first question. The fallback and choice
    models are chat models: llm.task is the first one's."""
    common: dict[str, Any] = {"token": hf_token(env), "timeout": config.llm.timeout,
                              "max_tokens": max_tokens or config.llm.max_tokens, "temperature": config.llm.temperature}
    first = ChatModel(model_target(config, env), task=config.llm.task, **common)
    fallback = [ChatModel(ModelTarget.of(choice, config.llm.provider), setting="llm.fallback", **common)
                for choice in config.llm.fallback]
    known: dict[tuple[str, str, str], ChatModel] = {}
    for model in (first, *fallback):
        known.setdefault(same_model(model.target), model)
    chosen = []
    for target in choice_targets(config, env):
        if same_model(target) not in known:
            known[same_model(target)] = ChatModel(target, setting="llm.choices", **common)
            chosen.append(known[same_model(target)])
    return ChatModels([first, *fallback], chosen=chosen, what="model")


def choice_targets(config: Config, env: Mapping[str, str]) -> list[ModelTarget]:
    """Where each llm.choices entry is asked. A name alone is a model of the owner's server (BOTJOB_LLM_URL,
    else llm.base_url), sent as the request's model name, when there is one; else a Hugging Face model id,
    as is an entry with a provider. A URL entry is a server of its own."""
    server = model_url(env, config.llm.base_url)
    check_choice_names(config.llm, config.source, server=bool(server))
    return [ModelTarget(model=server, base_url=server, endpoint_model=choice.model)
            if server and not (choice.url or choice.provider) else ModelTarget.of(choice, config.llm.provider)
            for choice in config.llm.choices]


def same_model(target: ModelTarget) -> tuple[str, str, str]:
    """What tells two models apart: a server and the name it is asked for, or a Hub id and its provider."""
    return ("server", target.base_url, target.endpoint_model) if target.base_url else ("hub", target.model, target.provider)


def offered_models(config: Config, env: Mapping[str, str], models: ChatModels) -> list[Any]:
    """llm.choices in the owner's order, each with what /model calls it and the very model object ``models`` asks."""
    from .model_choice import Offered

    by_model: dict[tuple[str, str, str], Any] = {}
    for model in (*models.models, *models.chosen):
        by_model.setdefault(same_model(model.target), model)
    return [Offered(choice.label, by_model[same_model(target)]) for choice, target in zip(config.llm.choices, choice_targets(config, env))]


def model_choices_of(config: Config, env: Mapping[str, str], models: ChatModels, state_dir: Path, secret: str) -> Choices | None:
    """/model: the owner's llm.choices, and where each chat's pick is kept (state/models.json, names keyed
    with ``secret``); None without llm.choices."""
    if not config.llm.choices:
        return None
    from .model_choice import ChosenModels, ModelChoices

    server = model_url(env, config.llm.base_url)
    default = (config.llm.endpoint_model or ModelChoice(url=server).label) if server else config.llm.model
    return ModelChoices(offered_models(config, env, models), ChosenModels(state_dir / CHOSEN_MODELS_FILE, secret),
                        default=default, default_model=models.first)


def telegram_client(config: Config, env: Mapping[str, str]) -> TelegramClient:
    return TelegramClient(bot_token(env), telegram_api_url(env), timeout=config.telegram.timeout)


def schedule_in_words(workflow: str | os.PathLike[str] = DEFAULT_WORKFLOW) -> str:
    """How often the workflow wakes the bot, for /start and /help; vague when it cannot tell."""
    from .schedule import in_words, parse_schedule, read_crons

    try:
        return in_words(parse_schedule(read_crons(workflow)))
    except ConfigError:
        return "every few minutes"


def longest_asked_gap(workflow: str | os.PathLike[str] = DEFAULT_WORKFLOW) -> float | None:
    """The longest gap between runs the workflow's cron lines ask for, in seconds; None when it cannot tell."""
    from .schedule import parse_schedule, read_crons

    try:
        return parse_schedule(read_crons(workflow)).longest_gap.total_seconds()
    except ConfigError:
        return None


def with_wait(config: Config, cadence: Cadence | None) -> Config:
    """The settings with {wait} of the greeting and the help in words: the measured wait once state/
    holds one, else the cron's words (their {schedule} is filled when a greeting needs it)."""
    wait = measured_wait(cadence.typical, cadence.worst) if cadence else UNMEASURED_WAIT
    reply = config.reply
    return dataclasses.replace(config, reply=dataclasses.replace(
        reply, greeting=reply.greeting.replace(WAIT, wait), help=reply.help.replace(WAIT, wait),
    ))


def build_job(
    config: Config,
    env: Mapping[str, str],
    state_dir: str | os.PathLike[str],
    *,
    show_text: bool = False,
    dry_run: bool = False,
) -> BatchJob:
    bot = telegram_client(config, env)
    hf_token(env)  # refused now, even by a dry run, if it cannot work
    # A dry run asks no model, so it needs no HF_TOKEN.
    model = _NoModel() if dry_run else chat_models(config, env)
    key = state_key(env)
    media = MediaModels() if dry_run else media_models(config, env)
    store = StateStore(Path(state_dir))
    return BatchJob(
        bot,
        model,
        store,
        with_wait(config, store.load_cadence()),
        memory=_memory(config, Path(state_dir), key, env),
        usage=_usage(config, Path(state_dir), key or bot_token(env)),
        media=media,
        pictures_usage=_pictures_usage(config, Path(state_dir), key or bot_token(env)) if media.pictures else None,
        personas=_personas(config, Path(state_dir), key),
        stats=_stats(config, store, key or bot_token(env)),
        choices=None if dry_run else model_choices_of(config, env, model, Path(state_dir), key or bot_token(env)),
        schedule=schedule_in_words,
        stay=stay_seconds(config, env),
        show_text=show_text,
        pacer=Pacer(),
    )


AUTOMATIC_STAY = 120.0  # run.stay "auto" where Actions minutes are free: seconds after the last answer


def stay_seconds(config: Config, env: Mapping[str, str]) -> float:
    """run.stay in seconds. "auto": a stay where minutes cost nothing (a public repository), none where
    every minute is billed (a private one) or where it cannot tell (not in Actions, no event to read)."""
    if config.run.stay != "auto":
        return float(config.run.stay)
    return AUTOMATIC_STAY if repository_is_public(env) else 0.0


def repository_is_public(env: Mapping[str, str]) -> bool:
    """Whether GitHub Actions' event payload says the repository is public; False whenever it cannot tell."""
    from .actions import in_actions, repository_is_private

    return in_actions(env) and repository_is_private(env) is False


def media_models(config: Config, env: Mapping[str, str]) -> MediaModels:
    """The models for voice notes, photos and pictures that the settings turn on and that can work:
    a hub model needs HF_TOKEN, a URL does not. One that cannot is left out of its list, and a feature
    whose list is left empty is off (`check` says why)."""
    from .fallback import PictureModels, SpeechModels
    from .llm import ChatModel
    from .media import PictureModel, SpeechModel

    media, token = config.media, hf_token(env)

    def usable(on: bool, setting: str, models: str | tuple[ModelChoice, ...]) -> list[ModelChoice]:
        choices = model_choices(models)
        for choice in choices:
            if choice.url:
                check_address(setting, choice.url, example="http://localhost:8080/v1")
        return [choice for choice in choices if choice.url or token] if on else []

    speech = vision = pictures = None
    if choices := usable(media.voice, "media.speech_model", media.speech_model):
        speech = SpeechModels([SpeechModel(ModelTarget.of(choice, media.speech_provider), token=token, timeout=config.llm.timeout)
                               for choice in choices], what="speech")
    if choices := usable(media.photos, "media.vision_model", media.vision_model):
        vision = ChatModels([ChatModel(
            ModelTarget.of(choice, media.vision_provider), token=token, timeout=config.llm.timeout,
            max_tokens=config.llm.max_tokens, temperature=config.llm.temperature,
            setting="media.vision_model", purpose="reading images",
        ) for choice in choices], what="model")
    if choices := usable(media.images, "media.image_model", media.image_model):
        pictures = PictureModels([PictureModel(ModelTarget.of(choice, media.image_provider), token=token, timeout=config.llm.timeout)
                                  for choice in choices], what="pictures")
    return MediaModels(speech=speech, vision=vision, pictures=pictures)


class _NoModel:
    """The model of a dry run, which only looks at what waits."""

    def reply(self, messages: list[dict[str, Any]], **asking: Any) -> str:
        raise AssertionError("a dry run asks no model")


def _memory(config: Config, state_dir: Path, state_key: str, env: Mapping[str, str]) -> Memory | None:
    if not config.chat.memory_turns:
        return None
    if not state_key:
        raise ConfigError(
            "chat.memory_turns is on, but BOTJOB_STATE_KEY is not set: memory would be stored in plain text",
            hint=how_to_set(env, "BOTJOB_STATE_KEY", "a long random string") + ", or set chat.memory_turns to 0",
        )
    from .memory import ChatMemory  # cryptography: imported only by bots that remember

    memory = ChatMemory(state_dir / MEMORY_DIR, state_key, config.chat.memory_turns)
    memory.check_usable()  # a file or folder in memory's way stops the run here, before anything is answered
    return memory


def _personas(config: Config, state_dir: Path, state_key: str) -> Personas | None:
    """Each chat's /persona, kept encrypted; None when the command is off or no key could keep them (it then says so)."""
    if not (config.chat.personas and state_key):
        return None
    from .personas import ChatPersonas

    return ChatPersonas(state_dir / PERSONAS_DIR, state_key)


def _stats(config: Config, store: StateStore, secret: str) -> StatsBook | None:
    """The owner's counts for /stats, kept only for a bot that has owners to ask (a public repository shows them)."""
    if not config.access.owners:
        return None
    return StatsBook(store.directory / STATS_FILE, secret, cadence=store.load_cadence)


def _usage(config: Config, state_dir: Path, secret: str) -> Usage | None:
    """Daily counts, kept under keyed hashes of chat ids, new each day (the bot token is key enough without a state key)."""
    if not config.access.daily_limit:
        return None
    from .memory import DailyUsage, name_secret

    return DailyUsage(state_dir / USAGE_FILE, name_secret(secret), config.access.daily_limit)


def _pictures_usage(config: Config, state_dir: Path, secret: str) -> Usage | None:
    """Pictures per chat per day, kept as the daily counts are, under names of their own (keyed by the file's name)."""
    if not config.media.images_per_day:
        return None
    from .memory import DailyUsage, name_secret

    return DailyUsage(state_dir / PICTURES_FILE, name_secret(secret), config.media.images_per_day)
