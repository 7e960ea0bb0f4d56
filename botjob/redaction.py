"""Keeps secrets out of text: exception messages, log lines, anything printed."""

from __future__ import annotations

import logging
from collections.abc import Mapping

REDACTED = "***"
SECRET_VARIABLES = ("TELEGRAM_BOT_TOKEN", "HF_TOKEN", "GITHUB_TOKEN", "BOTJOB_STATE_KEY")


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The secret values present in ``env``, to redact wherever text is written."""
    return [env[name] for name in SECRET_VARIABLES if env.get(name)]


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
