"""Is anything waiting for the bot? A cheap look before anything is installed. Standard library only.

The workflow runs this first: when nothing waits, it skips installing and
running, and an idle run ends in seconds. It asks ``getUpdates`` from the
stored offset, which confirms nothing that is not already finished.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .conversation import ALLOWED_UPDATES, update_id_of
from .environment import bot_token, telegram_api_url
from .errors import Failure, TelegramError
from .redaction import redact
from .state import StateStore, ids_restarted


@dataclass(frozen=True)
class PeekResult:
    waiting: bool  # also True when it cannot tell: the real run then decides, with its retries
    count: int = 0
    error: TelegramError | None = None


def peek(env: Mapping[str, str], state_dir: str | Path = "state", *, timeout: float = 20.0) -> PeekResult:
    token = bot_token(env)
    url = f"{telegram_api_url(env).rstrip('/')}/bot{token}/getUpdates"
    checkpoint = StateStore(state_dir).load(set_aside=False)  # the run sets a bad file aside, once
    body = {"limit": 100, "timeout": 0, "allowed_updates": ALLOWED_UPDATES}
    if checkpoint.offset:
        body["offset"] = checkpoint.offset
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        failure = TelegramError("getUpdates", error.code, redact(_description(error) or str(error.reason), [token]))
    except (OSError, ValueError, http.client.HTTPException) as error:  # HTTPException: not an HTTP server
        failure = TelegramError("getUpdates", None, f"no answer from Telegram ({type(error).__name__})")
    else:
        updates = answer.get("result") if isinstance(answer, dict) else None
        if isinstance(updates, list):
            ids = [i for i in map(update_id_of, updates) if i is not None]
            # After a restart every id is new (the run says so in its log).
            new = ids if ids_restarted(checkpoint.offset, ids) else [i for i in ids if not checkpoint.is_finished(i)]
            return PeekResult(bool(new) or len(ids) < len(updates), count=len(new))
        failure = TelegramError("getUpdates", None, "unexpected answer from Telegram")
    # A passing trouble lets the run try, with its retries; one the owner must fix stops here.
    return PeekResult(failure.kind is not Failure.BOT_WIDE, error=failure)


def _description(error: urllib.error.HTTPError) -> str:
    try:
        answer = json.load(error)
    except (ValueError, OSError):
        return ""
    return str(answer.get("description", "")) if isinstance(answer, dict) else ""
