"""Keeps secrets out of text: exception messages, log lines, anything printed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

REDACTED = "***"
SECRET_VARIABLES = ("TELEGRAM_BOT_TOKEN", "HF_TOKEN", "GITHUB_TOKEN", "BOTJOB_STATE_KEY")


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """Every form of every secret in ``env`` that text may carry, longest first.

    A secret pasted with a line break around it is used trimmed, and sits
    URL-quoted inside a request URL: each of those forms is redacted too.
    """
    forms: set[str] = set()
    for name in SECRET_VARIABLES:
        raw = env.get(name) or ""
        for value in (raw, raw.strip()):
            forms.update((value, quote(value, safe=""), quote(value), quote_plus(value)))
    return sorted((form for form in forms if form.strip()), key=len, reverse=True)


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

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg = redact(record.getMessage(), self.secrets)
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info), self.secrets)
                record.exc_info = None
        return True
