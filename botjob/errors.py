"""The one error hierarchy: every failure says which class it belongs to and how to fix it."""

from __future__ import annotations

import enum


class Failure(enum.Enum):
    """What a failure means for the batch (DESIGN.md, "Failure classes")."""

    TRANSIENT = "transient"  # retry with backoff; if it lasts, stop and let the next run retry
    BOT_WIDE = "bot-wide"  # the owner must fix something; stop without consuming the question
    MESSAGE = "message"  # only this message cannot be answered; apologise or skip, move on


class BotjobError(Exception):
    """Base of every error botjob raises on purpose.

    ``hint`` is one line that tells the owner how to fix it; ``retry_after`` is
    the pause in seconds a server asked for, when it asked for one.
    """

    kind: Failure = Failure.BOT_WIDE

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        kind: Failure | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.retry_after = retry_after
        if kind is not None:
            self.kind = kind

    def __str__(self) -> str:
        return self.message

    def explain(self) -> str:
        """The message and, when there is one, the fix on the same line."""
        return f"{self.message} — {self.hint}" if self.hint else self.message


class ConfigError(BotjobError):
    """Bad settings file or environment: nothing can run until the owner fixes it."""

    kind = Failure.BOT_WIDE
