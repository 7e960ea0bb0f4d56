"""The owner's settings: botjob.yaml, loaded with pyyaml and checked key by key.

Secrets never come from this file; they come from the environment only.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import yaml

from .environment import check_address
from .errors import ConfigError
from .model_choice import DEFAULT_WORDS as CHOICE_DEFAULT_WORDS

DEFAULT_CONFIG_PATH = "botjob.yaml"
DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"


@dataclass(frozen=True)
class ModelChoice:
    """One model of a list (llm.fallback, a media model given as a list): a Hugging Face model id with its
    provider ("" = the provider setting of its purpose), or the ``url`` of a server of the owner's, with the
    model name to ask it for ("" = the name it lists)."""

    model: str = ""
    provider: str = ""
    url: str = ""

    @property
    def label(self) -> str:
        """What /model calls it (llm.choices): the model's name, or a server's host when it names none
        (never the whole address, which may carry a key)."""
        return self.model or urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class LLMSettings:
    model: str = DEFAULT_MODEL
    provider: str = "auto"
    base_url: str = ""
    endpoint_model: str = ""
    task: str = "chat-completion"  # or "text-generation" for base models on a TGI endpoint
    system_prompt: str = (
        "You are a helpful assistant in a Telegram chat. Answer clearly and briefly, in the language of the question."
    )
    max_tokens: int = 512
    temperature: float = 0.7
    timeout: float = 60.0
    fallback: tuple[ModelChoice, ...] = ()  # asked in order when the model above cannot answer (wiring.chat_models)
    # Models a chat may pick with /model (empty: no /model). A name alone is a model of BOTJOB_LLM_URL's
    # server when one is set, else a Hugging Face model id (check_choice_names).
    choices: tuple[ModelChoice, ...] = ()


@dataclass(frozen=True)
class ChatSettings:
    groups: str = "mention"  # mention | all | off
    merge_bursts: bool = True
    reply_context: bool = True
    memory_turns: int = 0  # 0 = no memory; needs BOTJOB_STATE_KEY
    format: str = "markdown"  # the model's Markdown shown as Telegram formatting; "plain": as it came
    personas: bool = True  # /persona: a chat sets its own system prompt (kept with BOTJOB_STATE_KEY)


@dataclass(frozen=True)
class MediaSettings:
    """Voice notes, photos and pictures. Each model is a hub id (with its provider) or a URL, or a list of
    them, asked in order (model_choices)."""

    voice: bool = True  # voice notes and audio files are transcribed and answered (round video messages are not)
    speech_model: str | tuple[ModelChoice, ...] = "openai/whisper-large-v3"
    speech_provider: str = "hf-inference"  # pinned: "auto" takes the mapping's first provider, which may refuse OGG
    max_voice_seconds: int = 120  # longer notes get reply.voice_too_long, with no model call
    show_transcript: bool = False  # show "🎤 what was heard" above the answer
    photos: bool = True  # photos and images sent as files are read by the vision model
    vision_model: str | tuple[ModelChoice, ...] = "zai-org/GLM-4.6V-Flash"
    vision_provider: str = "auto"
    images: bool = False  # /image <prompt> draws a picture: off by default, pictures cost more than words
    image_model: str | tuple[ModelChoice, ...] = "black-forest-labs/FLUX.1-schnell"
    image_provider: str = "hf-inference"  # pinned, as for speech
    images_per_day: int = 3  # pictures per chat per day (UTC); 0 = no limit


@dataclass(frozen=True)
class ReplySettings:
    # {wait} is how long an answer takes, one sentence: measured once the workflow has measured how far apart
    # GitHub really starts the scheduled runs (state/cadence.json), else what the cron lines ask for, with
    # a warning that GitHub starts runs late and skips some. {schedule} alone is what the cron lines ask for.
    greeting: str = "Hi! I answer with a language model. {wait} Just ask me anything."
    help: str = (
        "Write me a question and I'll answer it. {wait} Reply to one of my messages to follow up on it.\n"
        "{commands}"
    )
    reset: str = "Done: I forgot our conversation."
    apology: str = "Sorry, I couldn't answer that one. Please try asking in another way."
    empty: str = "Sorry, I have no answer to that."
    non_text: str = "I can read text, voice notes and photos, but not this kind of message."
    too_late: str = "Sorry, I could not answer this in time."
    cut_short: str = "Sorry, my answer above was cut short. Please ask again for the rest."
    voice_too_long: str = "Please send a shorter voice note, or type your question."
    voice_off: str = "I don't listen to voice notes here. Please type your question."
    photos_off: str = "I don't look at photos here. Please type your question."
    video_note_unheard: str = "I can't listen to round video messages. Please send a voice note, or type your question."
    audio_unheard: str = "I can't listen to this kind of audio file. Please send a voice note, or type your question."
    file_too_big: str = "That file is too big for me to open (bots can download up to 20 MB)."
    image_usage: str = "Tell me what to draw, for example: /image a lighthouse at dusk, in watercolour"
    images_off: str = "I don't draw pictures here."
    images_limit: str = "That's all the pictures I can draw for you today. Let's draw again tomorrow!"
    # /persona. {persona}: the chat's persona, or llm.system_prompt while it has none; {limit}: the most kept.
    persona_shown: str = (
        "Here I answer as:\n\n{persona}\n\n"
        "To change it: /persona followed by how I should answer. /persona reset goes back to my usual self."
    )
    persona_default: str = (
        "Here I answer as my owner set me up:\n\n{persona}\n\n"
        "To change it for this chat: /persona followed by how I should answer, "
        "e.g. /persona You are a patient maths teacher."
    )
    persona_set: str = "Done: from now on I answer here as you described. /persona shows it, /persona reset undoes it."
    persona_too_long: str = "It was too long, so I kept only its first {limit} characters (a persona goes with every question)."
    persona_reset: str = "Done: I'm back to my usual self here."
    persona_admins_only: str = "Only this group's administrators can change how I answer here. /persona shows how I answer now."
    persona_unchecked: str = (
        "I couldn't check that you are an administrator of this group, so nothing changed. "
        "(Telegram shows a bot the members of some groups only when it is an administrator there.)"
    )
    persona_unavailable: str = "I can't keep a persona here: my owner hasn't set up a key to store it privately."
    # /model (with llm.choices). {choices}: the numbered list; {current}: the model answering here; {default}: the
    # owner's (llm.model); {model}: the one just picked, or the one the owner no longer offers.
    model_list: str = (
        "Here I answer with {current}. The models I can answer with:\n\n{choices}\n\n"
        "To switch: /model followed by a name or number. /model default goes back to {default}."
    )
    model_set: str = "Done: from now on I answer here with {model}. /model default goes back to {default}."
    model_reset: str = "Done: I'm back to my usual model here, {default}."
    model_unknown: str = "That isn't one of the models I can answer with here, so nothing changed."
    model_withdrawn: str = "The model picked here, {model}, is no longer offered, so I'm back to my usual one."
    model_admins_only: str = "Only this group's administrators can change the model that answers here. /model shows the models."
    model_unchecked: str = (
        "I couldn't check that you are an administrator of this group, so nothing changed. "
        "(Telegram shows a bot the members of some groups only when it is an administrator there.)"
    )


@dataclass(frozen=True)
class AccessSettings:
    allow: tuple[str, ...] = ()  # chat ids or @usernames; empty = everyone
    refusal: str = "Sorry, this bot only answers the people its owner allowed."
    daily_limit: int = 0  # questions per chat per day (UTC); 0 = no limit
    daily_limit_reply: str = "That's all I can answer for you today. Let's talk again tomorrow!"
    owners: tuple[str, ...] = ()  # user ids or @usernames whose /stats is answered, in a private chat (stats.py)


@dataclass(frozen=True)
class RunSettings:
    time_budget: float = 480.0
    max_updates: int = 0
    max_model_calls: int = 300
    retries: int = 3
    concurrency: int = 8  # chats answered at the same time; each chat's messages stay in order
    max_age: float = 20.0  # hours; an older question that still cannot be answered gets reply.too_late
    alert_after: float = 3600.0  # seconds a passing trouble may last across runs before a run fails
    # Seconds a run that answered someone keeps listening after its last answer; 0 = off. "auto": 120 in a
    # public repository (Actions minutes are free), 0 in a private one or where it cannot tell (wiring.stay_seconds).
    stay: float | Literal["auto"] = "auto"


@dataclass(frozen=True)
class TelegramSettings:
    timeout: float = 30.0


@dataclass(frozen=True)
class Config:
    llm: LLMSettings = field(default_factory=LLMSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    reply: ReplySettings = field(default_factory=ReplySettings)
    access: AccessSettings = field(default_factory=AccessSettings)
    run: RunSettings = field(default_factory=RunSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    source: str = "built-in defaults"
    notes: tuple[str, ...] = ()  # settings that still work but should change, said once per run


# Settings that were replaced: still read, with a note that says what replaced them.
_RETIRED = {
    "chat.parse_mode": "chat.parse_mode is no longer used: the model's Markdown becomes Telegram formatting "
    "(chat.format: markdown, or plain); remove the parse_mode line",
}


def load_config(path: str | os.PathLike[str] | None = None, *, required: bool = False) -> Config:
    """Read and validate a settings file.

    A missing file is an error only when ``required`` (the owner named it);
    otherwise the built-in defaults apply.
    """
    path = Path(path or DEFAULT_CONFIG_PATH)
    if not path.exists():
        if required:
            raise ConfigError(
                f"settings file {path} not found",
                hint="create it (copy botjob.yaml from the repository) or fix BOTJOB_CONFIG / --config",
            )
        look_alike = _look_alike(path)
        if look_alike:
            raise ConfigError(
                f"there is no {path.name}, but there is {look_alike}: its settings would be ignored",
                hint=f"rename {look_alike} to {path.name} (botjob reads that name only)",
            )
        return Config()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        line = path.read_bytes()[: error.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (line {line})",
            hint="save it as UTF-8 (in most editors: Save as… → Encoding: UTF-8)",
        ) from None
    except OSError as error:
        raise ConfigError(f"{path} cannot be read ({type(error).__name__})", hint=f"make {path} a readable file") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader that refuses duplicate keys
    except _DuplicateKey as error:
        raise ConfigError(
            f"{path}: '{error.key}' is set twice (line {error.line}); only the last one would count",
            hint=f"keep one '{error.key}:' in {path}",
        ) from None
    except yaml.YAMLError as error:
        problem, context = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
        where = f" at line {problem.line + 1}" if problem else ""
        if context and (not problem or context.line != problem.line):
            # An unclosed quote or bracket is only noticed at the end of the file: say where it opened.
            where += f" (in the part that starts at line {context.line + 1})"
        raise ConfigError(f"{path}: not valid YAML{where}", hint="fix the syntax (indentation, quotes, colons)") from None
    return parse_config(document, source=str(path))


def _look_alike(path: Path) -> str:
    """A file next to the missing settings file that was surely meant to be it (botjob.yml, Botjob.yaml...)."""
    try:
        siblings = sorted(p.name for p in path.parent.iterdir() if p.is_file())
    except OSError:
        return ""
    stem = path.stem.lower()
    return next((name for name in siblings if name != path.name and re.fullmatch(
        rf"\s*{re.escape(stem)}[\s._-]*\.?ya?ml(\.txt)?\s*", name.lower())), "")


class _DuplicateKey(Exception):
    def __init__(self, key: object, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


class _StrictLoader(yaml.SafeLoader):
    """PyYAML keeps the last of two equal keys without a word; an owner who set one twice should hear of it."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen and key != "<<":
                raise _DuplicateKey(key, key_node.start_mark.line + 1)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_config(document: object, *, source: str = "settings") -> Config:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top", hint="see botjob.yaml in the repository")
    sections = {f.name: f for f in dataclasses.fields(Config) if f.name not in ("source", "notes")}
    values: dict[str, object] = {}
    notes: list[str] = []
    for name, content in document.items():
        if name not in sections:
            raise _unknown(source, str(name), sorted(sections))
        section_type = typing.get_type_hints(Config)[name]
        values[name] = _parse_section(section_type, content, source=source, prefix=str(name), notes=notes)
    return Config(**values, source=source, notes=tuple(notes))  # type: ignore[arg-type]


def _parse_section(section_type: type, content: object, *, source: str, prefix: str, notes: list[str]) -> object:
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ConfigError(f"{source}: '{prefix}' must be a mapping of settings", hint=f"indent the keys under '{prefix}:'")
    hints = typing.get_type_hints(section_type)
    known = {f.name for f in dataclasses.fields(section_type)}
    values = {}
    for key, value in content.items():
        if f"{prefix}.{key}" in _RETIRED:
            notes.append(f"{source}: {_RETIRED[f'{prefix}.{key}']}")
            continue
        if key not in known:
            raise _unknown(source, f"{prefix}.{key}", sorted(f"{prefix}.{k}" for k in known))
        values[key] = _check_type(value, hints[key], source=source, key=f"{prefix}.{key}")
        _check_bounds(f"{prefix}.{key}", values[key], source)
        _check_choice(f"{prefix}.{key}", values[key], source)
        if f"{prefix}.{key}" in ("access.allow", "access.owners"):
            _check_allow_list(values[key], source, f"{prefix}.{key}")  # type: ignore[arg-type]
    section = section_type(**values)
    if isinstance(section, LLMSettings):
        _check_fallback(section, source)
        _check_choices(section, source)
    if isinstance(section, MediaSettings):
        _check_media_models(section, source)
    if isinstance(section, RunSettings):
        _check_stay(section, source)
    return section


def _check_stay(run: RunSettings, source: str) -> None:
    """A stay as long as the time budget would make every run that answers someone last the whole budget."""
    if run.stay != "auto" and run.stay and run.stay >= run.time_budget:
        raise ConfigError(
            f"{source}: 'run.stay' ({_number(float(run.stay))} s) must be below 'run.time_budget' ({_number(run.time_budget)} s): "
            "a run stops listening at its time budget",
            hint=f"lower run.stay in {source} (120 is plenty for a conversation), or raise run.time_budget",
        )


# Where the Hub lists the models Inference Providers serve for each model setting's task.
SERVED_MODELS = {
    "llm.model": "huggingface.co/models?inference_provider=all&other=conversational",
    "media.speech_model": "huggingface.co/models?pipeline_tag=automatic-speech-recognition&inference_provider=all",
    "media.vision_model": "huggingface.co/models?pipeline_tag=image-text-to-text&inference_provider=all",
    "media.image_model": "huggingface.co/models?pipeline_tag=text-to-image&inference_provider=all",
}
# A Hub model id as huggingface_hub accepts it: "name" or "namespace/name" (validate_repo_id).
_HUB_ID = re.compile(r"(?:\b[\w.-]{1,96}\b/)?\b[\w.-]{1,96}\b", re.ASCII)


def _check_media_models(media: MediaSettings, source: str) -> None:
    """Each media model that is on must be a Hub model id or an http(s) URL (or a list of them), found now
    rather than at the first voice note or /image, where the library's own message would stop the run."""
    for switch, setting, example in (
        ("voice", "speech_model", "http://localhost:8080/speech"),
        ("photos", "vision_model", "http://localhost:8080/v1"),
        ("images", "image_model", "http://localhost:8080/draw"),
    ):
        if not getattr(media, switch):
            continue
        key, value = f"media.{setting}", getattr(media, setting)
        listed = f"a model from {SERVED_MODELS[key]}"
        if not model_choices(value):  # an empty list
            raise ConfigError(f"{source}: '{key}' is empty while media.{switch} is on",
                              hint=f"set it to {listed}, or to your own server's URL; or set media.{switch}: false")
        for number, choice in enumerate(model_choices(value), 1):
            where = f"{source}: '{key}'" + ("" if isinstance(value, str) else f" entry {number}")
            if choice.url and choice.model and setting != "vision_model":
                kind = "speech" if setting == "speech_model" else "picture"
                raise ConfigError(f"{where} names a model for a {kind} URL, which is asked for none",
                                  hint=f"write the address alone, e.g. {example}: the server answers with its own model")
            _check_model_choice(choice, where=where, listed=listed, example=example,
                                default=str(getattr(MediaSettings(), setting)),
                                empty=f"set it to {listed}, or to your own server's URL; or set media.{switch}: false",
                                empty_words=f" while media.{switch} is on")


def _check_fallback(llm: LLMSettings, source: str) -> None:
    """Each fallback model must be one that can be asked, found now rather than when the first model fails."""
    listed = f"a model from {SERVED_MODELS['llm.model']}"
    for number, choice in enumerate(llm.fallback, 1):
        _check_model_choice(choice, where=f"{source}: 'llm.fallback' entry {number}", listed=listed,
                            example="http://localhost:8080/v1", default=DEFAULT_MODEL,
                            empty=f"set it to {listed}, or to your own server's URL; or remove the entry")


def _check_choices(llm: LLMSettings, source: str) -> None:
    """Each model a chat may pick: one that can be asked, under a name of its own that /model can read.
    A name alone is checked once it is known whether a server of the owner's is asked for it (check_choice_names)."""
    listed = f"a model from {SERVED_MODELS['llm.model']}"
    named: dict[str, int] = {}
    for number, choice in enumerate(llm.choices, 1):
        where = f"{source}: 'llm.choices' entry {number}"
        if choice.url or choice.provider:
            _check_model_choice(choice, where=where, listed=listed, example="http://localhost:8080/v1", default=DEFAULT_MODEL,
                                empty=f"set it to {listed}, or to your own server's URL; or remove the entry")
        elif not choice.model:
            raise ConfigError(f"{where} is empty", hint=f"set it to {listed}, or to a model name of BOTJOB_LLM_URL's server; or remove the entry")
        elif "://" in choice.model or not choice.model.isprintable():
            raise ConfigError(f"{where} is neither a model name nor an http(s) URL",
                              hint=f"write a URL whole, e.g. http://localhost:8080/v1; or use {listed}")
        label = choice.label.casefold()
        if label in CHOICE_DEFAULT_WORDS or label.isdigit():
            meaning = "a place in the list" if label.isdigit() else "going back to the default"
            raise ConfigError(f"{where} is called '{label}', which /model reads as {meaning}",
                              hint="remove the entry, or serve that model under another name")
        if label in named:
            raise ConfigError(f"{where} goes by the same name in /model as entry {named[label]}: people could not tell them apart",
                              hint="keep one of them (entries on servers go by the model name given with url:, else by the host)")
        named[label] = number


def check_choice_names(llm: LLMSettings, source: str, *, server: bool) -> None:
    """llm.choices given by a name alone ("name", {model: name}) are models of the owner's server when
    ``server`` (BOTJOB_LLM_URL or llm.base_url) is there, asked for by that name; else Hugging Face models,
    and each must be a model id. A provider makes an entry a Hugging Face model either way."""
    if server:
        return
    listed = f"a model from {SERVED_MODELS['llm.model']}"
    for number, choice in enumerate(llm.choices, 1):
        if choice.url or choice.provider:
            continue
        try:
            _check_model_choice(choice, where=f"{source}: 'llm.choices' entry {number}", listed=listed,
                                example="http://localhost:8080/v1", default=DEFAULT_MODEL, empty="remove the entry")
        except ConfigError as error:
            raise ConfigError(f"{error}, and no BOTJOB_LLM_URL or llm.base_url names a server that serves it by that name",
                              hint=f"{error.hint}; or set BOTJOB_LLM_URL to your server, or write the entry as {{url: ..., model: name}}") from None


def _check_model_choice(choice: ModelChoice, *, where: str, listed: str, example: str, default: str, empty: str,
                        empty_words: str = "") -> None:
    """A model of a setting: an http(s) address with a host, or a Hub model id; the value is never repeated,
    as an address may carry a key."""
    model = choice.model
    if choice.url:
        check_address(where, choice.url, example=example)
    elif not model:
        raise ConfigError(f"{where} is empty{empty_words}", hint=empty)
    elif model.lower().startswith(("http://", "https://")):  # {model: http://...}: a mapping names an address by url
        raise ConfigError(f"{where} gives an address as model", hint=f"write it as url: (e.g. {{url: {example}}}), or use {listed}")
    elif "://" in model or ":" in model or model.lower().startswith("localhost"):
        raise ConfigError(f"{where} looks like an address without http:// or https://",
                          hint=f"write the whole address, e.g. {example}, or use {listed}")
    elif not _HUB_ID.fullmatch(model) or "--" in model or ".." in model:
        raise ConfigError(f"{where} is neither a Hugging Face model id (owner/name) nor an http(s) URL",
                          hint=f"set it to {listed}, e.g. {default}")


def model_choices(setting: str | tuple[ModelChoice, ...]) -> tuple[ModelChoice, ...]:
    """A model setting as the models it names, in order: a single model is a list of one."""
    return (_choice(setting),) if isinstance(setting, str) else setting


def _choice(text: str) -> ModelChoice:
    text = text.strip()
    return ModelChoice(url=text) if text.lower().startswith(("http://", "https://")) else ModelChoice(model=text)


MODEL_ENTRIES = ("a Hugging Face model id (owner/name), {model: owner/name, provider: name}, "
                 "an http(s) URL, or {url: ..., model: name}")


def _holds_models(expected: object) -> bool:
    """Whether a setting takes models: llm.fallback (a list), the media models (one, or a list)."""
    return any(ModelChoice in typing.get_args(kind) for kind in (expected, *typing.get_args(expected)))


def _models(value: object, *, one: bool, source: str, key: str) -> object:
    """A model setting as written: one model stays a string where one is allowed (``one``), a list (or a
    single entry where a list is expected) becomes ModelChoices."""
    if value is None:
        return "" if one else ()
    if isinstance(value, str) and one:
        return value
    if isinstance(value, (str, dict)):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{source}: '{key}' must be a model or a list of models, not {type(value).__name__}",
                          hint=f"write each as {MODEL_ENTRIES}")
    return tuple(_model_entry(entry, f"{source}: '{key}' entry {number}") for number, entry in enumerate(value, 1))


def _model_entry(entry: object, where: str) -> ModelChoice:
    if isinstance(entry, str):
        return _choice(entry)
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be text or a mapping, not {type(entry).__name__}", hint=f"write it as {MODEL_ENTRIES}")
    keys = {str(name) for name in entry}
    if not keys or not (keys <= {"model", "provider"} or keys <= {"url", "model"}) or keys == {"provider"}:
        raise ConfigError(f"{where} has the keys {', '.join(sorted(keys)) or '(none)'}", hint=f"write it as {MODEL_ENTRIES}")
    for name, text in entry.items():
        if not isinstance(text, str) or not text.strip():
            raise ConfigError(f"{where}: '{name}' must be text", hint=f"write it as {MODEL_ENTRIES}")
    return ModelChoice(**{str(name): text.strip() for name, text in entry.items()})


def _check_type(value: object, expected: object, *, source: str, key: str) -> object:
    if _holds_models(expected):  # llm.fallback, media.*_model
        return _models(value, one=str in typing.get_args(expected), source=source, key=key)
    if expected is str and value is None:  # "base_url:" with nothing after it
        return ""
    words = [w for arg in typing.get_args(expected) if typing.get_origin(arg) is Literal for w in typing.get_args(arg)]
    if words:  # a number or a word, e.g. run.stay: 120 or auto
        return _number_or_word(value, words, source=source, key=key)
    if typing.get_origin(expected) is tuple:  # a list of ids or names, e.g. access.allow
        items = [] if value is None else value
        if isinstance(items, list) and all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in items):
            return tuple(str(i) for i in items)
        raise ConfigError(f"{source}: '{key}' must be a list of chat ids or @usernames, not {value!r}", hint=f"fix '{key}' in {source}, e.g. [123456789, \"@alice\"]")
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):  # type: ignore[arg-type]
        return value
    wanted = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}.get(expected, str(expected))  # type: ignore[call-overload]
    if expected is str and isinstance(value, bool):  # YAML reads an unquoted off, on, no, yes as false or true
        name = key.rsplit(".", 1)[-1]
        raise ConfigError(f"{source}: '{key}' must be text, but YAML read an unquoted word as {str(value).lower()}",
                          hint=f'put the value in quotes in {source}, e.g. {name}: "{"on" if value else "off"}"')
    raise ConfigError(f"{source}: '{key}' must be {wanted}, not {value!r}", hint=f"fix '{key}' in {source}")


def _number_or_word(value: object, words: list[str], *, source: str, key: str) -> object:
    """A number of seconds, or one of ``words`` as written (run.stay: 120, or auto)."""
    if isinstance(value, str) and value in words:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    name, choices = key.rsplit(".", 1)[-1], " or ".join(words)
    if isinstance(value, bool):  # YAML reads an unquoted off, on, no, yes as false or true
        raise ConfigError(f"{source}: '{key}' must be a number of seconds or {choices}, but YAML read an unquoted word "
                          f"as {str(value).lower()}", hint=f"write {name}: 0 to turn it off, or {name}: {words[0]}")
    raise ConfigError(f"{source}: '{key}' must be a number of seconds (0 = off) or {choices}, not {value!r}",
                      hint=f"fix '{key}' in {source}, e.g. {name}: {words[0]}")


# Lowest and highest value each number may take: every one has a ceiling, as a number too big for
# the clock or the HTTP layer would only fail later, in the middle of a run.
_BOUNDS: dict[str, tuple[float, float]] = {
    "llm.max_tokens": (1, 1_000_000),
    "llm.temperature": (0, 2),
    "llm.timeout": (1, 3600),
    "run.time_budget": (1, 6 * 3600),  # GitHub stops a job after 6 hours
    "run.max_updates": (0, 1_000_000),
    "run.max_model_calls": (0, 1_000_000),
    "chat.memory_turns": (0, 100),
    "access.daily_limit": (0, 1_000_000),
    "run.retries": (0, 10),
    "run.concurrency": (1, 32),
    "run.max_age": (1, 23.5),
    "run.alert_after": (0, 30 * 86400),
    "run.stay": (0, 3600),  # and below run.time_budget (_check_stay)
    "media.max_voice_seconds": (1, 3600),
    "media.images_per_day": (0, 1000),
    "telegram.timeout": (1, 600),
}


# The values a setting may take, when there are only a few.
_CHOICES: dict[str, tuple[str, ...]] = {
    "llm.task": ("chat-completion", "text-generation"),
    "chat.groups": ("mention", "all", "off"),
    "chat.format": ("markdown", "plain"),
}


def _check_choice(key: str, value: object, source: str) -> None:
    if key in _CHOICES and value not in _CHOICES[key]:
        allowed = ", ".join(repr(c) if c else '"" (plain text)' for c in _CHOICES[key])
        raise ConfigError(f"{source}: '{key}' must be one of {allowed}, not {value!r}", hint=f"fix '{key}' in {source}")


def _check_bounds(key: str, value: object, source: str) -> None:
    if key not in _BOUNDS or not isinstance(value, (int, float)):
        return
    low, high = _BOUNDS[key]
    if not (low <= value <= high):  # written so that NaN fails too
        raise ConfigError(
            f"{source}: '{key}' must be between {_number(low)} and {_number(high)}, not {value!r}", hint=f"fix '{key}' in {source}"
        )


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"


def _check_allow_list(entries: tuple[str, ...], source: str, key: str = "access.allow") -> None:
    for entry in entries:
        if key == "access.owners" and entry.startswith("-"):
            # /stats answers people in their private chat with the bot: a group's id would never match.
            raise ConfigError(f"{source}: '{key}' entry {entry!r} is a group's chat id, and /stats answers only "
                              "in a private chat", hint="list your own user id (ask @userinfobot) or @username instead")
        if re.fullmatch(r"-?\d+", entry) or re.fullmatch(r"@\w+", entry):
            continue
        if re.fullmatch(r"\w+", entry):
            hint = f"write it as \"@{entry}\" (with the @), or use the chat id"
        else:
            hint = "use chat ids (numbers) or @usernames, e.g. [123456789, \"@alice\"]"
        raise ConfigError(f"{source}: '{key}' entry {entry!r} is neither a chat id nor an @username", hint=hint)


def _unknown(source: str, key: str, known: list[str]) -> ConfigError:
    return ConfigError(f"{source}: unknown setting '{key}'", hint=f"known here: {', '.join(known)}")
