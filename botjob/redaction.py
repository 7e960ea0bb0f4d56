"""Keeps secrets out of text: exception messages, log lines, anything printed or written for Actions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit

REDACTED = "***"
SECRET_VARIABLES = ("TELEGRAM_BOT_TOKEN", "HF_TOKEN", "GITHUB_TOKEN", "GH_TOKEN", "BOTJOB_STATE_KEY")
ADDRESS_VARIABLES = ("TELEGRAM_API_URL", "BOTJOB_LLM_URL")  # an address may carry a key: user:password@, ?api_key=

# Shorter strings are never replaced: they occur by chance (HF_TOKEN=e would star every "e" in the log,
# and the stars around would give it away), and no real key is that short (environment.py refuses them).
MIN_REDACTED_LENGTH = 8


def secrets_in(env: Mapping[str, str], *, addresses: Iterable[str] = ()) -> list[str]:
    """Every form of every secret in ``env`` that text may carry, longest first.

    A secret pasted with a line break around it is used trimmed, and sits
    URL-quoted inside a request URL: each of those forms is redacted too. So
    are the keys in the addresses of ``env`` and in ``addresses`` (settings
    that name a server), which the HTTP libraries' debug lines print whole.
    """
    forms: set[str] = set()
    for name in SECRET_VARIABLES:
        raw = env.get(name) or ""
        for value in (raw, raw.strip()):
            forms.update(_quoted(value))
    for address in (*(env.get(name) or "" for name in ADDRESS_VARIABLES), *addresses):
        forms.update(keys_in_address(address.strip()))
    return sorted((form for form in forms if len(form.strip()) >= MIN_REDACTED_LENGTH), key=len, reverse=True)


def keys_in_address(url: str) -> set[str]:
    """What of an address can be a key, in the forms text may carry it: the user and password (a token
    often stands as the user), each value of the query, and, when it carries any of these, the whole
    address. A value too short to star alone goes with what surrounds it ("//user:pw@", "key=value")."""
    try:
        parts = urlsplit(url)
    except ValueError:  # not an address at all: nothing in it can be told apart
        return {url} if url else set()
    keys: set[str] = set()
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        keys.add(f"//{userinfo}@")
        for part in (userinfo, *userinfo.split(":", 1)):
            keys.update(_quoted(part), _quoted(unquote(part)))
    for pair in filter(None, parts.query.split("&")):
        raw = pair.partition("=")[2]
        values = _quoted(raw) | _quoted(unquote_plus(raw))
        if min(map(len, values)) >= MIN_REDACTED_LENGTH:
            keys.update(values)
        else:
            keys.update(_quoted(pair), {f"{unquote_plus(pair.partition('=')[0])}={value}" for value in values})
    keys = {key for key in keys if len(key) >= MIN_REDACTED_LENGTH}
    if keys:
        keys.update((url, url.partition("#")[0]))
    return keys


def _quoted(value: str) -> set[str]:
    """``value`` as written and as URL-quoting writes it (requests and httpx quote what they send)."""
    return {value, quote(value, safe=""), quote(value), quote_plus(value)}


class Redactor:
    """The secrets of one command, in every form, applied to all it writes; the settings file, read
    later, adds the keys of the addresses it names."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        # A new list, never changed in place: the chats' workers may be logging meanwhile.
        self.secrets = sorted({*self.secrets, *(s for s in secrets if s)}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        return redact(text, self.secrets)

    def __bool__(self) -> bool:
        return bool(self.secrets)


def redact(text: str, secrets: list[str] | tuple[str, ...]) -> str:
    """Replace every secret in ``text``; the bot token sits inside every Telegram URL."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that scrubs secrets from every record before it is written.

    Installed on handlers (not loggers) so it also covers records that
    propagate from libraries such as urllib3, which log request URLs.
    """

    def __init__(self, secrets: list[str] | Redactor) -> None:
        super().__init__()
        self.redact = secrets if isinstance(secrets, Redactor) else Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        _scrub(record, self.redact)
        return True


class RedactingRecords:
    """A log record factory that scrubs each record as it is made, so that every handler writes it
    redacted: botjob's own, and those a library adds for itself (huggingface_hub gives its logger a
    stderr handler when imported, which prints whole request URLs at debug level)."""

    def __init__(self, redact: Redactor, make: Callable[..., logging.LogRecord]) -> None:
        self.redact = redact
        self.make = make  # the factory it stands in front of

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.make(*args, **kwargs)
        try:
            _scrub(record, self.redact)
        except Exception:  # a log call whose arguments do not fit: the handlers report it, filtered
            pass
        return record


def _scrub(record: logging.LogRecord, redact: Redactor) -> None:
    if redact:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
