"""The owner's settings: botjob.yaml, loaded with pyyaml and checked key by key.

Secrets never come from this file; they come from the environment only.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

DEFAULT_CONFIG_PATH = "botjob.yaml"
DEFAULT_MODEL = "Qwen/Qwen2.5-7B-Instruct"


@dataclass(frozen=True)
class LLMSettings:
    model: str = DEFAULT_MODEL
    provider: str = "auto"
    base_url: str = ""
    endpoint_model: str = ""
    system_prompt: str = (
        "You are a helpful assistant in a Telegram chat. Answer clearly and briefly, in the language of the question."
    )
    max_tokens: int = 512
    temperature: float = 0.7
    timeout: float = 60.0


@dataclass(frozen=True)
class ReplySettings:
    apology: str = "Sorry, I couldn't answer that one. Please try asking in another way."


@dataclass(frozen=True)
class RunSettings:
    time_budget: float = 480.0
    max_updates: int = 0
    retries: int = 3


@dataclass(frozen=True)
class TelegramSettings:
    timeout: float = 30.0


@dataclass(frozen=True)
class Config:
    llm: LLMSettings = field(default_factory=LLMSettings)
    reply: ReplySettings = field(default_factory=ReplySettings)
    run: RunSettings = field(default_factory=RunSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    source: str = "built-in defaults"


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
        return Config()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        problem, context = getattr(error, "problem_mark", None), getattr(error, "context_mark", None)
        where = f" at line {problem.line + 1}" if problem else ""
        if context and (not problem or context.line != problem.line):
            # An unclosed quote or bracket is only noticed at the end of the file: say where it opened.
            where += f" (in the part that starts at line {context.line + 1})"
        raise ConfigError(f"{path}: not valid YAML{where}", hint="fix the syntax (indentation, quotes, colons)") from None
    return parse_config(document, source=str(path))


def parse_config(document: object, *, source: str = "settings") -> Config:
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top", hint="see botjob.yaml in the repository")
    sections = {f.name: f for f in dataclasses.fields(Config) if f.name != "source"}
    values: dict[str, object] = {}
    for name, content in document.items():
        if name not in sections:
            raise _unknown(source, str(name), sorted(sections))
        section_type = typing.get_type_hints(Config)[name]
        values[name] = _parse_section(section_type, content, source=source, prefix=str(name))
    return Config(**values, source=source)  # type: ignore[arg-type]


def _parse_section(section_type: type, content: object, *, source: str, prefix: str) -> object:
    if content is None:
        content = {}
    if not isinstance(content, dict):
        raise ConfigError(f"{source}: '{prefix}' must be a mapping of settings", hint=f"indent the keys under '{prefix}:'")
    hints = typing.get_type_hints(section_type)
    known = {f.name for f in dataclasses.fields(section_type)}
    values = {}
    for key, value in content.items():
        if key not in known:
            raise _unknown(source, f"{prefix}.{key}", sorted(f"{prefix}.{k}" for k in known))
        values[key] = _check_type(value, hints[key], source=source, key=f"{prefix}.{key}")
        _check_bounds(f"{prefix}.{key}", values[key], source)
    return section_type(**values)


def _check_type(value: object, expected: object, *, source: str, key: str) -> object:
    if expected is str and value is None:  # "base_url:" with nothing after it
        return ""
    if expected is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, expected) and not (expected is int and isinstance(value, bool)):  # type: ignore[arg-type]
        return value
    wanted = {str: "text", int: "a whole number", float: "a number", bool: "true or false"}.get(expected, str(expected))  # type: ignore[call-overload]
    raise ConfigError(f"{source}: '{key}' must be {wanted}, not {value!r}", hint=f"fix '{key}' in {source}")


# Lowest (and highest) value each number may take.
_BOUNDS: dict[str, tuple[float, float | None]] = {
    "llm.max_tokens": (1, None),
    "llm.temperature": (0, 2),
    "llm.timeout": (1, None),
    "run.time_budget": (1, None),
    "run.max_updates": (0, None),
    "run.retries": (0, 10),
    "telegram.timeout": (1, None),
}


def _check_bounds(key: str, value: object, source: str) -> None:
    if key not in _BOUNDS or not isinstance(value, (int, float)):
        return
    low, high = _BOUNDS[key]
    if not (low <= value and (high is None or value <= high)):  # written so that NaN fails too
        allowed = f"between {low:g} and {high:g}" if high is not None else f"{low:g} or more"
        raise ConfigError(f"{source}: '{key}' must be {allowed}, not {value!r}", hint=f"fix '{key}' in {source}")


def _unknown(source: str, key: str, known: list[str]) -> ConfigError:
    return ConfigError(f"{source}: unknown setting '{key}'", hint=f"known here: {', '.join(known)}")
