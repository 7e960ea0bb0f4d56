"""A small Telegram Bot API client over requests; it knows nothing of language models.

Every answer that is not ``ok`` becomes one exception type, ``TelegramError``
(in errors.py), which carries the method, error_code, description and
retry_after, and says which failure class it belongs to. The bot token is
part of every request URL, so it is scrubbed from every exception text.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests

from .errors import TelegramError
from .redaction import redact

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.telegram.org"
class TelegramClient:
    """One bot, one HTTP session; every call posts its parameters as a JSON body."""

    def __init__(
        self,
        token: str,
        api_url: str = DEFAULT_API_URL,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        if not token:
            raise ValueError("a bot token is required")
        self._token = token
        self._base = f"{api_url.rstrip('/')}/bot{token}/"
        self._files = f"{api_url.rstrip('/')}/file/bot{token}/"
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._session = session or _pooled_session()

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, read_timeout: float | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """Call a Bot API method and return its ``result``, or raise ``TelegramError``.

        Parameters go as a JSON body; with ``files``, as multipart form data
        (objects JSON-encoded, as the Bot API takes them in forms).
        """
        body = {k: v for k, v in (params or {}).items() if v is not None}
        timeout = (self.connect_timeout, read_timeout if read_timeout is not None else self.timeout)
        response, failure = None, ""
        try:
            if files:
                form = {k: v if isinstance(v, (str, int, float)) else json.dumps(v) for k, v in body.items()}
                response = self._session.post(self._base + method, data=form, files=files, timeout=timeout)
            else:
                response = self._session.post(self._base + method, json=body, timeout=timeout)
        except (requests.RequestException, ValueError) as error:  # ValueError: a redirect to a malformed address
            failure = redact(f"{type(error).__name__}: {error}", [self._token])
        if response is None:
            # Raised outside the except block: the original exception holds the URL, and so the
            # token, and must not ride along as __context__.
            raise TelegramError(method, None, f"no answer from Telegram ({failure})")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or "ok" not in answer:
            raise TelegramError(method, response.status_code, f"unexpected answer (HTTP {response.status_code})")
        if answer["ok"]:
            return answer.get("result")
        parameters = answer.get("parameters") if isinstance(answer.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after")
        migrate_to = parameters.get("migrate_to_chat_id")
        code = answer.get("error_code")
        raise TelegramError(
            method,
            code if isinstance(code, int) and not isinstance(code, bool) else response.status_code,
            redact(str(answer.get("description") or "no description"), [self._token]),
            retry_after=float(retry_after) if isinstance(retry_after, (int, float)) and not isinstance(retry_after, bool) else None,
            migrate_to_chat_id=migrate_to if isinstance(migrate_to, int) and not isinstance(migrate_to, bool) else None,
        )

    def get_me(self) -> dict[str, Any]:
        return self.call("getMe")

    def get_updates(
        self,
        offset: int | None = None,
        *,
        limit: int = 100,
        timeout: int = 0,
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        params = {"offset": offset or None, "limit": limit, "timeout": timeout, "allowed_updates": allowed_updates}
        # A long poll holds the request open for `timeout` seconds: allow for it.
        return self.call("getUpdates", params, read_timeout=self.timeout + timeout)

    def send_message(
        self,
        chat_id: int | str,
        text: str,
        *,
        reply_to_message_id: int | None = None,
        parse_mode: str | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"chat_id": chat_id, "text": text, "parse_mode": parse_mode, "entities": entities}
        if reply_to_message_id is not None:
            # Replies arrive minutes later: thread them, but never lose one because the question was deleted.
            params["reply_parameters"] = {"message_id": reply_to_message_id, "allow_sending_without_reply": True}
        return self.call("sendMessage", params)

    def send_photo(
        self, chat_id: int | str, photo: bytes, *, caption: str = "", reply_to_message_id: int | None = None
    ) -> dict[str, Any]:
        """Upload a picture (multipart), threaded like a reply."""
        params: dict[str, Any] = {"chat_id": chat_id, "caption": caption or None}
        if reply_to_message_id is not None:
            params["reply_parameters"] = {"message_id": reply_to_message_id, "allow_sending_without_reply": True}
        return self.call("sendPhoto", params, files={"photo": ("picture.png", photo, "image/png")}, read_timeout=self.timeout + 30)

    def get_file(self, file_id: str) -> dict[str, Any]:
        return self.call("getFile", {"file_id": file_id})

    def download(self, file_path: str, *, max_bytes: int) -> bytes:
        """A file's bytes from its ``file_path`` (getFile), kept in memory; at most ``max_bytes``."""
        response, failure, unreachable = None, "", False
        try:
            response = self._session.get(self._files + file_path, stream=True, timeout=(self.connect_timeout, self.timeout + 60))
        except ValueError as error:
            # Sent on to an address no request can go to (requests' InvalidURL, or a bare ValueError such as
            # urllib3's LocationParseError or "Invalid IPv6 URL" while following redirects): this file's problem.
            failure, unreachable = type(error).__name__, True
        except requests.RequestException as error:
            failure = type(error).__name__  # not its text: the URL in it names the file (and holds the token)
        if response is None and unreachable:
            raise TelegramError("download", 400, f"Bad Request: the file's address cannot be followed ({failure})")
        if response is None:
            raise TelegramError("download", None, f"no answer from Telegram ({failure})")
        with response:
            if response.status_code != 200:
                raise TelegramError("download", response.status_code, f"the file could not be downloaded (HTTP {response.status_code})")
            content = bytearray()
            try:
                for chunk in response.iter_content(64 * 1024):
                    content.extend(chunk)
                    if len(content) > max_bytes:
                        raise TelegramError("download", 400, "Bad Request: file is too big")
            except requests.RequestException as error:
                raise TelegramError("download", None, f"the download broke off ({type(error).__name__})") from None
        return bytes(content)

    def send_chat_action(self, chat_id: int | str, action: str = "typing") -> bool:
        # Cosmetic: a short wait, so a slow answer never holds up a reply.
        return bool(self.call("sendChatAction", {"chat_id": chat_id, "action": action}, read_timeout=5))

    def get_chat_member(self, chat_id: int | str, user_id: int) -> dict[str, Any]:
        """A ChatMember: its ``status`` is "creator", "administrator", "member", "restricted", "left" or
        "kicked". Only guaranteed for other users where the bot is an administrator (Bot API docs): a
        group that hides its members answers 400 to a bot that is not."""
        return self.call("getChatMember", {"chat_id": chat_id, "user_id": user_id})

    def set_my_commands(self, commands: list[dict[str, str]]) -> bool:
        return bool(self.call("setMyCommands", {"commands": commands}))

    @property
    def bot_id(self) -> int | None:
        """The bot's user id: the number before the colon in its token."""
        head = self._token.split(":", 1)[0]
        return int(head) if head.isdigit() else None

    def get_webhook_info(self) -> dict[str, Any]:
        return self.call("getWebhookInfo")

    def delete_webhook(self, *, drop_pending_updates: bool = False) -> bool:
        return bool(self.call("deleteWebhook", {"drop_pending_updates": drop_pending_updates}))

    def close(self) -> None:
        self._session.close()


def _pooled_session() -> requests.Session:
    """A session whose connection pool serves the job's worker threads without churn."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session
