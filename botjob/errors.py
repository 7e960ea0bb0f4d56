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


class StateError(BotjobError):
    """state/ cannot be read or written: the bot would forget what it answered."""

    kind = Failure.BOT_WIDE


TOKEN_HINT = "check TELEGRAM_BOT_TOKEN: copy the token again from @BotFather (/token)"
WEBHOOK_HINT = "a webhook is set for this bot: delete it (python -m botjob check --fix, or call deleteWebhook)"
POLLER_HINT = "another process polls this bot with getUpdates: stop it (or revoke the token in @BotFather)"

# Methods whose 400/403/404 answers concern one chat, message or file, not the whole bot.
_PER_CHAT_METHODS = {"sendmessage", "sendphoto", "sendchataction", "setmessagereaction", "getfile", "download", "getchatmember"}


class TelegramError(BotjobError):
    """A Bot API call that did not succeed (an error answer, or no answer at all)."""

    def __init__(
        self,
        method: str,
        error_code: int | None,
        description: str,
        *,
        retry_after: float | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        kind, hint = _classify(method, error_code, description)
        code = f" {error_code}" if error_code is not None else ""
        super().__init__(f"Telegram {method} failed{code}: {description}", hint=hint, kind=kind, retry_after=retry_after)
        self.method = method
        self.error_code = error_code
        self.description = description
        self.migrate_to_chat_id = migrate_to_chat_id  # the group became this supergroup


def _classify(method: str, code: int | None, description: str) -> tuple[Failure, str | None]:
    if code is None or code == 429 or code >= 500:
        return Failure.TRANSIENT, None
    if code in (400, 403, 404) and method.lower() in ("getfile", "download"):
        return Failure.MESSAGE, None  # a file Telegram no longer has, or one too big to download
    if code in (401, 404):  # Telegram answers 404 to a malformed token, 401 to a revoked one
        return Failure.BOT_WIDE, TOKEN_HINT
    if code == 409:
        return Failure.BOT_WIDE, WEBHOOK_HINT if "webhook" in description.lower() else POLLER_HINT
    if code in (400, 403) and method.lower() in _PER_CHAT_METHODS:
        return Failure.MESSAGE, None
    return Failure.BOT_WIDE, None


class LastingTrouble(BotjobError):
    """A passing trouble that kept every run from answering anyone for longer than run.alert_after."""

    kind = Failure.BOT_WIDE

    def __init__(self, trouble: BotjobError, lasted: float, runs: int) -> None:
        if isinstance(trouble, TelegramError) or "Telegram" in str(trouble):
            check = "Telegram is not answering the runner: see python -m botjob check, and TELEGRAM_API_URL if you set one"
        else:
            check = ("the model is not answering: see python -m botjob check, status.huggingface.co, "
                     "or pick another llm.model / llm.provider (or BOTJOB_LLM_URL), or add llm.fallback")
        super().__init__(
            f"no one has been answered for {_duration(lasted)} ({runs} runs in a row): {trouble}",
            hint=f"{check}; runs fail until one gets through (run.alert_after sets how long to wait)",
        )
        self.trouble = trouble


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
