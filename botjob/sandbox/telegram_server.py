"""A local Telegram Bot API server that follows the documented behaviour (offsets, long polling,
allowed_updates, webhook conflicts, sendMessage checks and error shapes) for testing a bot. Of the
entities a message is sent with, it applies (and records) at most 100, dropping the rest silently
as the real server does.

Media as the Bot API has it: users send voice notes, audio, video notes, photos (three PhotoSizes,
the full image last) and documents, each file kept in memory under a file_id; getFile gives a
file_path (refusing files over 20 MB), the file server at f"{url}/file/bot{token}/{file_path}" serves
the bytes until the link expires (expire_file) or sends them on elsewhere (redirect_downloads), and
sendPhoto takes an upload (multipart, a real PNG or JPEG of at most 10 MB), a known file_id or an
http URL, with a caption of at most 1024 characters.
Left out: thumbnails of documents, the other send* methods for media, and real image processing
(the smaller PhotoSizes are stand-in files, and an uploaded PNG is not turned into a JPEG)."""
from __future__ import annotations

import copy
import email.parser
import email.policy
import hashlib
import json
import math
import mimetypes
import re
import threading
import time
from collections import deque
from typing import Any, Callable
from urllib.parse import parse_qsl

from ._http import LocalServer, Request, Response, json_response
from .markup import (EntityError, UnsupportedParseMode, applied_entities, check_entities, utf16_len,
                     visible_text)
from .media import JPEG_SIGNATURE, image_kind, image_size

DEFAULT_TOKEN = "123456789:TEST-sandbox-token-abcdefghijklmnopqrstu"
MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024  # UTF-16 code units, after entity parsing
MAX_DOWNLOAD = 20 * 1024 * 1024  # getFile: "bots can download files of up to 20MB in size"
MAX_PHOTO_UPLOAD = 10 * 1024 * 1024  # sendPhoto: "the photo must be at most 10 MB in size"
PHOTO_SIZES = (90, 320)  # the smaller PhotoSizes' longest side; the full image comes last
DEFAULT_PHOTO_SIZE = (1280, 960)  # when the image's own size cannot be read
MAX_LONG_POLL = 50  # the real server caps timeout at 50 seconds
MESSAGE_KINDS = {
    "message", "edited_message", "channel_post", "edited_channel_post",
    "business_message", "edited_business_message",
}
# An empty or absent allowed_updates means every kind except these.
NOT_DEFAULT_KINDS = {"chat_member", "message_reaction", "message_reaction_count"}
CHAT_ACTIONS = {
    "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
    "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
}

CONFLICT_WEBHOOK = ("Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first")
CONFLICT_OTHER = ("Conflict: terminated by other getUpdates request; "
                  "make sure that only one bot instance is running")
BLOCKED = "Forbidden: bot was blocked by the user"
DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected by sandbox",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: CONFLICT_OTHER,
    500: "Internal Server Error",
    502: "Bad Gateway",
    504: "Gateway Timeout",
}

# Flood limits (Bots FAQ), applied only when TelegramSandbox.flood_control is on.
PRIVATE_BURST = 3          # a private chat's token bucket holds 3 messages...
PRIVATE_RATE = 1.0         # ...and refills at 1 message per second
GROUP_LIMIT = 20           # at most 20 messages to one group/supergroup...
GROUP_WINDOW = 60.0        # ...in any sliding 60-second window
GLOBAL_LIMIT = 30          # at most 30 messages overall...
GLOBAL_WINDOW = 1.0        # ...in any sliding 1-second window
GROUP_TYPES = {"group", "supergroup"}

# The real server's update queue (tdlib's TQueue): an offset more than FUTURE_SLACK above the next id
# it would issue, or more than PAST_SLACK below it, is ignored: nothing is confirmed and the queue is
# served from its head. Updates are kept for UPDATE_LIFETIME seconds.
FUTURE_SLACK = 10
PAST_SLACK = 2_000_000
UPDATE_LIFETIME = 24 * 3600
UPGRADED = "Bad Request: group chat was upgraded to a supergroup chat"
WRONG_FILE_ID = "wrong file_id or the file is temporarily unavailable"
# getChatMember: a member's status, and the placeholder senders of messages sent on behalf of a chat.
MEMBER_STATUSES = ("creator", "administrator", "member", "restricted", "left", "kicked")
ADMIN_REQUIRED = "Bad Request: CHAT_ADMIN_REQUIRED"  # a group that hides its members, asked by a bot that is no admin
GROUP_ANONYMOUS_BOT = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}
DOWNLOAD = "file download"  # the name file-server requests get in `calls`, fail() and delay()


class FileKind:
    """How Telegram names and stores one kind of file: the file_id prefix it uses, the folder and
    extension of its file_path, the Content-Type it is served with, and its name in errors."""

    def __init__(self, prefix: str, unique_prefix: str, folder: str, extension: str,
                 mime_type: str, title: str) -> None:
        self.prefix, self.unique_prefix = prefix, unique_prefix
        self.folder, self.extension = folder, extension
        self.mime_type, self.title = mime_type, title


FILE_KINDS = {
    "photo": FileKind("AgACAgIAAxkBAAI", "AQAD", "photos", "jpg", "image/jpeg", "Photo"),
    "voice": FileKind("AwACAgIAAxkBAAI", "AgAD", "voice", "oga", "audio/ogg", "Voice"),
    "audio": FileKind("CQACAgIAAxkBAAI", "AgAD", "music", "mp3", "audio/mpeg", "Audio"),
    "document": FileKind("BQACAgIAAxkBAAI", "AgAD", "documents", "", "application/octet-stream",
                         "Document"),
    "video_note": FileKind("DQACAgIAAxkBAAI", "AgAD", "video_notes", "mp4", "video/mp4", "VideoNote"),
}


class ApiError(Exception):
    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after
        self.parameters: dict[str, Any] = {}

    def response(self) -> Response:
        payload: dict[str, Any] = {"ok": False, "error_code": self.error_code,
                                   "description": self.description}
        parameters = dict(self.parameters)
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if parameters:
            payload["parameters"] = parameters
        return json_response(self.error_code, payload)


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


class TelegramSandbox(LocalServer):
    """Bot API stand-in. Requests go to f"{url}/bot{token}/{method}"."""

    def __init__(self, token: str = DEFAULT_TOKEN, bot_username: str = "botjob_sandbox_bot",
                 bot_first_name: str = "Sandbox Bot", *, flood_control: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, network_delay: float = 0.0,
                 throttle_repeated_polls: bool = False, report_file_sizes: bool = True) -> None:
        super().__init__()
        # Flood control (opt-in; may be switched at run time). `clock` drives only the flood
        # limits, so tests can advance time without sleeping; long polling uses real time.
        # `wall_clock` gives message dates and expires updates after 24 hours.
        self.flood_control = flood_control
        self.clock = clock
        self.wall_clock = wall_clock
        # Seconds every call takes on the wire, as from a runner far from Telegram's servers.
        self.network_delay = network_delay
        # The real server's answer to a getUpdates from the same offset right after another (opt-in).
        self.throttle_repeated_polls = throttle_repeated_polls
        # file_size is optional in the Bot API: off, messages and getFile leave it out (as a local Bot API
        # server, which has no 20 MB limit, may), and getFile refuses no file for its size.
        self.report_file_sizes = report_file_sizes
        self._flood_hits = 0
        self._private_buckets: dict[int, tuple[float, float]] = {}  # chat -> (tokens, at)
        self._group_sends: dict[int, deque[float]] = {}
        self._global_sends: deque[float] = deque()
        self.token = token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.bot_id = int(token.split(":", 1)[0])
        self._cond = threading.Condition()
        self._updates: list[dict[str, Any]] = []  # unconfirmed, in update_id order
        self._expiry: dict[int, float] = {}  # update_id -> when the server forgets it
        self._next_update_id = 500_000_001
        self._confirmed_offset = 0
        self._last_poll: tuple[int | None, float] = (None, 0.0)  # offset and start of the last getUpdates
        self._throttled = 0
        self._allowed_updates: set[str] | None = None
        self._poll_generation = 0
        self._chats: dict[int, dict[str, Any]] = {}
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._sent: list[dict[str, Any]] = []
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._faults: dict[str, list[tuple[ApiError, int | None]]] = {}  # method -> (error, only for this chat)
        self._delays: dict[str, float] = {}
        self._blocked: set[int] = set()
        self._upgraded: dict[int, int] = {}  # group id -> the supergroup it became
        self._next_supergroup_id = -1001000000001
        self._webhook_url = ""
        self._commands: list[dict[str, Any]] = []
        self._users: dict[int, dict[str, Any]] = {}  # every user seen, by id
        self._members: dict[int, dict[int, str]] = {}  # group -> user -> status (getChatMember)
        self._hidden_members: set[int] = set()
        # Files by file_id: {"kind", "data", "file_size", "mime_type", "extension", "public" (the
        # fields a message shows), "group" (a photo's sizes, smallest first), "path" (live link)}.
        self._files: dict[str, dict[str, Any]] = {}
        self._file_paths: dict[str, str] = {}  # live file_path -> file_id
        self._next_file = 1
        self._next_file_path = 1
        self._downloads: list[str] = []
        self._download_redirects: list[str] = []  # where the next file downloads are sent on to (302)
        self._methods: dict[str, tuple[str, Callable[[dict[str, Any]], Any]]] = {
            name.lower(): (name, fn) for name, fn in {
                "getMe": self._get_me,
                "getUpdates": self._get_updates,
                "sendMessage": self._send_message,
                "sendPhoto": self._send_photo,
                "getFile": self._get_file,
                "sendChatAction": self._send_chat_action,
                "getWebhookInfo": self._get_webhook_info,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "setMyCommands": self._set_my_commands,
                "getMyCommands": self._get_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getChat": self._get_chat,
                "getChatMember": self._get_chat_member,
                "answerCallbackQuery": lambda params: True,
            }.items()
        }

    # ----------------------------------------------------------------- scripting the users

    def user_says(self, text: str, chat_id: int = 1001, user_id: int | None = None,
                  first_name: str = "Alice", username: str | None = None,
                  chat_type: str = "private", reply_to_message_id: int | None = None,
                  chat_title: str | None = None) -> int:
        """Queue a text message from a user; returns its update_id."""
        message = _user_message(chat_id, user_id, first_name, username, chat_type, chat_title)
        message["text"] = text
        entities = _auto_entities(text)
        if entities:
            message["entities"] = entities
        return self._queue_user_message(message, reply_to_message_id)

    def user_sends_voice(self, audio: bytes, duration: int, chat_id: int = 1001,
                         user_id: int | None = None, first_name: str = "Alice",
                         username: str | None = None, chat_type: str = "private",
                         reply_to_message_id: int | None = None, chat_title: str | None = None, *,
                         mime_type: str = "audio/ogg", caption: str | None = None,
                         file_size: int | None = None) -> int:
        """Queue a voice note (Telegram records them as OGG/Opus); returns its update_id.

        ``file_size`` reports the file as that big without holding the bytes (over 20 MB,
        getFile refuses it), or smaller than the bytes it holds, which the file server then serves
        in full; the same keyword works for every user_sends_* method."""
        message = _user_message(chat_id, user_id, first_name, username, chat_type, chat_title)

        def attach(message: dict[str, Any]) -> None:
            voice = self._add_file("voice", audio, file_size=file_size, mime_type=mime_type)
            message["voice"] = {**_file_ids(voice), "duration": duration, "mime_type": mime_type,
                                "file_size": voice["file_size"]}
        return self._queue_user_message(message, reply_to_message_id, attach, caption)

    def user_sends_audio(self, audio: bytes, duration: int, chat_id: int = 1001,
                         user_id: int | None = None, first_name: str = "Alice",
                         username: str | None = None, chat_type: str = "private",
                         reply_to_message_id: int | None = None, chat_title: str | None = None, *,
                         mime_type: str = "audio/mpeg", file_name: str | None = None,
                         caption: str | None = None, file_size: int | None = None) -> int:
        """Queue an audio file (music: the "audio" field, not a voice note); returns its update_id."""
        message = _user_message(chat_id, user_id, first_name, username, chat_type, chat_title)

        def attach(message: dict[str, Any]) -> None:
            stored = self._add_file("audio", audio, file_size=file_size, mime_type=mime_type,
                                    extension=_extension(file_name, mime_type, "mp3"))
            fields: dict[str, Any] = {**_file_ids(stored), "duration": duration, "mime_type": mime_type}
            if file_name:
                fields["file_name"] = file_name
            message["audio"] = {**fields, "file_size": stored["file_size"]}
        return self._queue_user_message(message, reply_to_message_id, attach, caption)

    def user_sends_video_note(self, video: bytes, duration: int, chat_id: int = 1001,
                              user_id: int | None = None, first_name: str = "Alice",
                              username: str | None = None, chat_type: str = "private",
                              reply_to_message_id: int | None = None, chat_title: str | None = None, *,
                              length: int = 240, file_size: int | None = None) -> int:
        """Queue a round video message (MP4; a video note never has a caption); returns its update_id."""
        message = _user_message(chat_id, user_id, first_name, username, chat_type, chat_title)

        def attach(message: dict[str, Any]) -> None:
            note = self._add_file("video_note", video, file_size=file_size)
            message["video_note"] = {**_file_ids(note), "length": length, "duration": duration,
                                     "file_size": note["file_size"]}
        return self._queue_user_message(message, reply_to_message_id, attach)

    def user_sends_photo(self, image: bytes, caption: str | None = None, chat_id: int = 1001,
                         user_id: int | None = None, first_name: str = "Alice",
                         username: str | None = None, chat_type: str = "private",
                         reply_to_message_id: int | None = None, chat_title: str | None = None, *,
                         file_size: int | None = None) -> int:
        """Queue a photo; returns its update_id.

        Like Telegram, the message carries three PhotoSizes: a 90 px thumbnail, a 320 px one (both
        small stand-in files) and the full image last, which holds `image` (its width and height
        read from the PNG or JPEG header). ``file_size`` applies to the full image."""
        message = _user_message(chat_id, user_id, first_name, username, chat_type, chat_title)

        def attach(message: dict[str, Any]) -> None:
            message["photo"] = self._add_photo(image, file_size=file_size)
        return self._queue_user_message(message, reply_to_message_id, attach, caption)

    def user_sends_document(self, data: bytes, mime_type: str = "image/jpeg",
                            file_name: str = "photo.jpg", caption: str | None = None,
                            chat_id: int = 1001, user_id: int | None = None, first_name: str = "Alice",
                            username: str | None = None, chat_type: str = "private",
                            reply_to_message_id: int | None = None, chat_title: str | None = None, *,
                            file_size: int | None = None) -> int:
        """Queue a file sent as a document (a picture sent "without compression" is one);
        returns its update_id."""
        message = _user_message(chat_id, user_id, first_name, username, chat_type, chat_title)

        def attach(message: dict[str, Any]) -> None:
            document = self._add_file("document", data, file_size=file_size, mime_type=mime_type,
                                      extension=_extension(file_name, mime_type, ""))
            message["document"] = {**_file_ids(document), "file_name": file_name,
                                   "mime_type": mime_type, "file_size": document["file_size"]}
        return self._queue_user_message(message, reply_to_message_id, attach, caption)

    def _queue_user_message(self, message: dict[str, Any], reply_to_message_id: int | None,
                            attach: Callable[[dict[str, Any]], None] | None = None,
                            caption: str | None = None) -> int:
        """Attach the media (its files stored under the lock), the caption with the entities
        Telegram finds in it, and the replied-to message; queue the message."""
        chat_id = message["chat"]["id"]
        with self._cond:
            target = None
            if reply_to_message_id is not None:
                target = self._messages.get((chat_id, reply_to_message_id))
                if target is None:
                    raise ValueError(f"no message {reply_to_message_id} in chat {chat_id} to reply to")
            if attach is not None:
                attach(message)
                if not self.report_file_sizes:
                    _drop_file_sizes(message)
            if caption:
                message["caption"] = caption
                entities = _auto_entities(caption)
                if entities:
                    message["caption_entities"] = entities
            if target is not None:
                message["reply_to_message"] = copy.deepcopy(target)
            return self._queue("message", message)

    def _add_file(self, kind: str, data: bytes, *, file_size: int | None = None,
                  mime_type: str | None = None, extension: str | None = None) -> dict[str, Any]:
        """Caller holds the lock. Keep a file's bytes under a new file_id; returns its record."""
        spec = FILE_KINDS[kind]
        number = self._next_file
        self._next_file += 1
        record = {
            "file_id": f"{spec.prefix}-{number}",
            "file_unique_id": f"{spec.unique_prefix}sandbox{number}",
            "kind": kind,
            "data": bytes(data),
            "file_size": len(data) if file_size is None else int(file_size),
            "mime_type": mime_type or spec.mime_type,
            "extension": spec.extension if extension is None else extension,
            "group": None,
            "path": None,
        }
        self._files[record["file_id"]] = record
        return record

    def _add_photo(self, image: bytes | None, *, file_size: int | None = None) -> list[dict[str, Any]]:
        """Caller holds the lock. Store a photo as Telegram does, in three sizes; returns the
        PhotoSizes, smallest first. No image (a photo sent by URL): stand-ins at every size."""
        width, height = (image_size(image) if image else None) or DEFAULT_PHOTO_SIZE
        sizes = []
        for limit in (*PHOTO_SIZES, None):
            scale = 1.0 if limit is None else min(1.0, limit / max(width, height))
            w, h = max(1, round(width * scale)), max(1, round(height * scale))
            if limit is None and image is not None:
                stored = self._add_file("photo", image, file_size=file_size,
                                        mime_type="image/png" if image_kind(image) == "png" else None)
            else:  # a stand-in for the resized copy: small, non-empty, not a decodable image
                stored = self._add_file("photo", JPEG_SIGNATURE + f"sandbox {w}x{h} photo".encode())
            stored["public"] = {**_file_ids(stored), "width": w, "height": h,
                                "file_size": stored["file_size"]}
            sizes.append(stored)
        group = [stored["file_id"] for stored in sizes]
        for stored in sizes:
            stored["group"] = group
        return [copy.deepcopy(stored["public"]) for stored in sizes]

    def add_message(self, message: dict[str, Any]) -> int:
        """Queue a raw "message" update (stickers, photos with captions ...); fills the gaps."""
        message = copy.deepcopy(message)
        message.setdefault("chat", {"id": 1001, "first_name": "Alice", "type": "private"})
        if "from" not in message and message["chat"].get("type") == "private":
            message["from"] = {"id": message["chat"]["id"], "is_bot": False,
                               "first_name": message["chat"].get("first_name", "Alice")}
        with self._cond:
            return self._queue("message", message)

    def add_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue a raw update of any kind; returns its update_id."""
        with self._cond:
            return self._queue(kind, copy.deepcopy(payload))

    def _queue(self, kind: str, payload: dict[str, Any]) -> int:
        # Caller holds the lock.
        if kind in MESSAGE_KINDS and isinstance(payload.get("chat"), dict):
            self._record_message(payload)
        elif kind == "callback_query":
            payload.setdefault("id", str(self._next_update_id))
            payload.setdefault("chat_instance", "sandbox")
            if isinstance(payload.get("message"), dict) and "chat" in payload["message"]:
                self._record_message(payload["message"])
        elif isinstance(payload.get("chat"), dict) and "id" in payload["chat"]:
            self._remember_chat(payload["chat"])
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: payload})
        self._expiry[update_id] = self.wall_clock() + UPDATE_LIFETIME
        self._cond.notify_all()
        return update_id

    def _remember_chat(self, chat: dict[str, Any]) -> None:
        known = self._chats.setdefault(chat["id"], {})
        known.update(chat)
        self._next_message_id.setdefault(chat["id"], 1)

    def _record_message(self, message: dict[str, Any]) -> None:
        """Give a message its id/date (if missing) and keep it as a valid reply target."""
        chat_id = message["chat"]["id"]
        self._remember_chat(message["chat"])
        if "message_id" not in message:
            message["message_id"] = self._next_message_id[chat_id]
        self._next_message_id[chat_id] = max(self._next_message_id[chat_id],
                                             message["message_id"] + 1)
        message.setdefault("date", int(self.wall_clock()))
        sender = message.get("from")
        if isinstance(sender, dict) and "id" in sender and "sender_chat" not in message:
            self._users.setdefault(sender["id"], copy.deepcopy(sender))
            if message["chat"].get("type") in GROUP_TYPES:  # whoever writes in a group is in it
                self._members.setdefault(chat_id, {}).setdefault(sender["id"], "member")
        stored = copy.deepcopy(message)
        # Like Telegram: a replied-to message never carries its own reply_to_message.
        stored.pop("reply_to_message", None)
        self._messages[(chat_id, message["message_id"])] = stored

    # ----------------------------------------------------------------- scripting the server

    def fail(self, method: str, error_code: int, description: str | None = None,
             retry_after: int | None = None, times: int = 1, chat_id: int | None = None) -> None:
        """The next `times` calls of `method` (to `chat_id` only, when given) answer this error,
        before any other check."""
        if error_code == 429 and retry_after is None:
            retry_after = 1  # the real 429 always says how long to wait
        if description is None:
            if error_code == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}")
        with self._cond:
            queue = self._faults.setdefault(method.lower(), [])
            queue.extend((ApiError(error_code, description, retry_after), chat_id) for _ in range(times))

    def heal(self) -> None:
        """Drop the faults still queued: the outage is over."""
        with self._cond:
            self._faults.clear()

    def set_webhook(self, url: str | None = "https://example.invalid/hook") -> None:
        """Set (or, with None/"", remove) the webhook; while set, getUpdates answers 409."""
        with self._cond:
            self._webhook_url = url or ""
            self._cond.notify_all()

    def restart_update_ids(self, next_update_id: int) -> None:
        """A week without updates: the queue is empty and the next id is chosen anew (here: given).

        Pending updates are dropped (after a week they expired anyway); the
        confirmed offset is forgotten, as the real server forgets it.
        """
        with self._cond:
            self._updates.clear()
            self._expiry.clear()
            self._next_update_id = next_update_id
            self._confirmed_offset = 0

    def upgrade_to_supergroup(self, chat_id: int) -> int:
        """Turn a group into a supergroup with a new id, as Telegram does; returns the new id.

        Both chats get the service message Telegram sends (``migrate_to_chat_id``
        in the old one, ``migrate_from_chat_id`` in the new one), and sending
        to the old id answers 400 with ``parameters.migrate_to_chat_id``.
        """
        with self._cond:
            old = self._chats.get(chat_id)
            if old is None or old.get("type") != "group":
                raise ValueError(f"chat {chat_id} is not a known group")
            new_id = self._next_supergroup_id
            self._next_supergroup_id -= 1
            self._upgraded[chat_id] = new_id
            self._members[new_id] = dict(self._members.get(chat_id, {}))  # its members, administrators and all
            supergroup = {"id": new_id, "title": old.get("title", "Sandbox group"), "type": "supergroup"}
            self._remember_chat(supergroup)
            user = {"id": 1001, "is_bot": False, "first_name": "Alice"}
            self._queue("message", {"chat": copy.deepcopy(old), "from": user, "migrate_to_chat_id": new_id})
            self._queue("message", {"chat": supergroup, "from": user, "migrate_from_chat_id": chat_id})
            return new_id

    def set_member_status(self, chat_id: int, user_id: int, status: str) -> None:
        """What getChatMember says of a user (or of the bot) in a group: "creator", "administrator",
        "member", "restricted", "left" or "kicked". Whoever writes in a group is a "member" unless set."""
        if status not in MEMBER_STATUSES:
            raise ValueError(f"status must be one of {', '.join(MEMBER_STATUSES)}")
        with self._cond:
            if user_id == self.bot_id:
                self._users.setdefault(user_id, self._bot_user())
            self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": f"User {user_id}"})
            self._members.setdefault(chat_id, {})[user_id] = status

    def hide_members(self, chat_id: int, hidden: bool = True) -> None:
        """A supergroup that hides its members: getChatMember about anyone but the bot itself answers
        400 CHAT_ADMIN_REQUIRED while the bot is not an administrator there (reported for getChatMember
        in such groups: teloxide#1349; the Bot API guarantees the method for other users to an
        administrator only)."""
        with self._cond:
            (self._hidden_members.add if hidden else self._hidden_members.discard)(chat_id)

    def anonymous_admin_says(self, text: str, chat_id: int, chat_type: str = "supergroup",
                             chat_title: str | None = None) -> int:
        """Queue a message an administrator sent as the group itself ("remain anonymous"): from is
        Telegram's placeholder @GroupAnonymousBot, sender_chat the group; returns its update_id."""
        message = _user_message(chat_id, None, "Group", None, chat_type, chat_title)
        message["from"], message["sender_chat"] = dict(GROUP_ANONYMOUS_BOT), dict(message["chat"])
        message["text"] = text
        entities = _auto_entities(text)
        if entities:
            message["entities"] = entities
        return self._queue_user_message(message, None)

    def block(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        with self._cond:
            self._blocked.discard(chat_id)

    def delay(self, method: str, seconds: float) -> None:
        with self._cond:
            self._delays[method.lower()] = seconds

    def redirect_downloads(self, location: str, times: int = 1) -> None:
        """The next `times` file downloads answer 302 Found to ``location`` (Latin-1 text), as a file
        server behind a proxy may: a malformed one (``"http://[::1"``) is one a client must survive."""
        with self._cond:
            self._download_redirects.extend([location] * times)

    def expire_file(self, file_id: str) -> None:
        """The file's download link stops working (404), as Telegram's links do after an hour or
        more; getFile then gives a new file_path that works, as it does on Telegram."""
        with self._cond:
            record = self._files.get(file_id)
            if record is None:
                raise ValueError(f"no file {file_id!r}")
            if record["path"] is not None:
                self._file_paths.pop(record["path"], None)
                record["path"] = None

    def reset_flood(self) -> None:
        """Forget all flood-control history (buckets and windows) and zero flood_hits."""
        with self._cond:
            self._flood_hits = 0
            self._private_buckets.clear()
            self._group_sends.clear()
            self._global_sends.clear()

    # ----------------------------------------------------------------- inspecting

    @property
    def flood_hits(self) -> int:
        """How many sends were refused with 429 by flood control (not by injected faults)."""
        with self._cond:
            return self._flood_hits

    def sent(self, chat_id: int | None = None) -> list[dict[str, Any]]:
        """What the bot sent, in order. A text message: {"chat_id", "message_id", "text",
        "reply_to_message_id", "parse_mode", "entities", "date"}. A photo: {"chat_id", "message_id",
        "text": None, "photo", "caption", "caption_entities", "reply_to_message_id", "parse_mode",
        "date"}, where "photo" is {"bytes": size, "sha256": hex digest} for an upload,
        {"file_id": ...} for a file Telegram has or {"url": ...} for a link, and "caption" is the
        caption as sent (None without one)."""
        with self._cond:
            return [copy.deepcopy(m) for m in self._sent if chat_id is None or m["chat_id"] == chat_id]

    @property
    def downloads(self) -> list[str]:
        """The file_ids the file server has served, in order (one entry per download)."""
        with self._cond:
            return list(self._downloads)

    def file_data(self, file_id: str) -> bytes:
        """The bytes kept under a file_id (a user's file or a photo the bot sent)."""
        with self._cond:
            record = self._files.get(file_id)
            if record is None:
                raise ValueError(f"no file {file_id!r}")
            return record["data"]

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        with self._cond:
            return [(method, copy.deepcopy(params)) for method, params in self._calls]

    def pending(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._updates)

    @property
    def throttled_polls(self) -> int:
        """getUpdates calls the real server would slow down: the same offset again within 3 s."""
        with self._cond:
            return self._throttled

    @property
    def confirmed_offset(self) -> int:
        with self._cond:
            return self._confirmed_offset

    @property
    def commands(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._commands)

    @property
    def webhook_url(self) -> str:
        with self._cond:
            return self._webhook_url

    # ----------------------------------------------------------------- HTTP

    def _wake_waiters(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def handle(self, request: Request) -> Response:
        download = re.fullmatch(r"/file/bot([^/]+)/(.+)", request.path)
        if download:
            return self._download(*download.groups())
        match = re.fullmatch(r"/bot([^/]+)/([^/]*)", request.path)
        if not match:
            return ApiError(404, "Not Found").response()
        token, raw_method = match.groups()
        name, handler = self._methods.get(raw_method.lower(), (raw_method, None))
        try:
            params, parse_error = _parse_params(request), None
        except ApiError as error:
            params, parse_error = {}, error
        with self._cond:
            self._calls.append((name, _without_bytes(params)))
            delay = self._delays.get(name.lower(), 0.0) + self.network_delay
            fault = self._take_fault(name.lower(), params.get("chat_id"))
        self._sleep(delay)
        try:
            if fault is not None:
                raise fault
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            if handler is None:
                raise ApiError(404, "Not Found")
            if parse_error is not None:
                raise parse_error
            return json_response(200, {"ok": True, "result": handler(params)})
        except ApiError as error:
            return error.response()

    def _download(self, token: str, file_path: str) -> Response:
        """The file server: GET f"/file/bot{token}/{file_path}", file_path from getFile."""
        with self._cond:
            self._calls.append((DOWNLOAD, {"file_path": file_path}))
            delay = self._delays.get(DOWNLOAD, 0.0) + self.network_delay
            fault = self._take_fault(DOWNLOAD, None)
        self._sleep(delay)
        if fault is not None:
            return fault.response()
        if token != self.token:
            return ApiError(401, "Unauthorized").response()
        with self._cond:
            if self._download_redirects:
                return Response(302, b"", {"Location": self._download_redirects.pop(0)})
            file_id = self._file_paths.get(file_path)
            if file_id is None:
                return ApiError(404, "Not Found").response()
            record = self._files[file_id]
            self._downloads.append(file_id)
        return Response(200, record["data"], {"Content-Type": record["mime_type"]})

    def _take_fault(self, method: str, chat_id: Any) -> ApiError | None:
        # Caller holds the lock.
        faults = self._faults.get(method, [])
        for index, (error, only_for) in enumerate(faults):
            if only_for is None or str(only_for) == str(chat_id):
                del faults[index]
                return error
        return None

    # ----------------------------------------------------------------- methods

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name,
                "username": self.bot_username}

    def _get_me(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self._bot_user(), "can_join_groups": True,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = min(max(_int_param(params, "timeout", 0), 0), MAX_LONG_POLL)
        allowed = _json_param(params, "allowed_updates", list, "can't parse allowed_updates JSON array")
        with self._cond:
            # The real server throttles a client that asks again from the same offset right away:
            # within 3 s a short poll becomes a 3 s long poll, within 0.5 s it gets one update only.
            now = time.monotonic()
            if self.throttle_repeated_polls and offset == self._last_poll[0] and now < self._last_poll[1] + 3:
                self._throttled += 1
                timeout = max(timeout, 3)
                if now < self._last_poll[1] + 0.5:
                    limit = 1
            self._last_poll = (offset, now)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._webhook_url:
                raise ApiError(409, CONFLICT_WEBHOOK)
            if allowed is not None:
                self._allowed_updates = set(allowed) or None
            self._confirm(offset)
            self._poll_generation += 1
            generation = self._poll_generation
            while True:
                batch = self._deliverable(limit)
                if batch or timeout == 0:
                    return batch
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping.is_set():
                    return []
                # Short waits so that stop() and a newer poller are noticed promptly.
                self._cond.wait(min(remaining, 0.1))
                if self._poll_generation != generation:
                    raise ApiError(409, CONFLICT_OTHER)
                if self._webhook_url:
                    raise ApiError(409, CONFLICT_WEBHOOK)

    def _confirm(self, offset: int) -> None:
        self._expire()
        tail = self._next_update_id
        if offset > tail + FUTURE_SLACK or 0 < offset < tail - PAST_SLACK:
            return  # like the real server: an offset "in the future" (or far past) confirms nothing
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._confirmed_offset = max(self._confirmed_offset, offset)
        elif offset < 0:
            self._updates = self._updates[offset:]
            first = self._updates[0]["update_id"] if self._updates else self._next_update_id
            self._confirmed_offset = max(self._confirmed_offset, first)

    def _expire(self) -> None:
        now = self.wall_clock()
        self._updates = [u for u in self._updates if self._expiry.get(u["update_id"], now + 1) > now]

    def _deliverable(self, limit: int) -> list[dict[str, Any]]:
        self._expire()

        def allowed(update: dict[str, Any]) -> bool:
            kind = next(k for k in update if k != "update_id")
            if self._allowed_updates is None:
                return kind not in NOT_DEFAULT_KINDS
            return kind in self._allowed_updates
        return copy.deepcopy([u for u in self._updates if allowed(u)][:limit])

    def _chat_for(self, params: dict[str, Any], *, sending: bool = True) -> dict[str, Any]:
        raw = params.get("chat_id")
        if raw is None or str(raw).strip() == "":
            raise _bad("chat_id is empty")
        chat = self._find_chat(raw)
        if chat is None:
            raise _bad("chat not found")
        if sending and chat["id"] in self._upgraded:
            error = ApiError(400, UPGRADED)
            error.parameters = {"migrate_to_chat_id": self._upgraded[chat["id"]]}
            raise error
        if sending and chat["id"] in self._blocked:
            raise ApiError(403, BLOCKED)
        return chat

    def _find_chat(self, raw: Any) -> dict[str, Any] | None:
        text = str(raw).strip()
        if text.startswith("@"):
            for chat in self._chats.values():
                if chat.get("username", "").lower() == text[1:].lower():
                    return chat
            return None
        try:
            return self._chats.get(int(text))
        except ValueError:
            return None

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("chat_id") is None or str(params["chat_id"]).strip() == "":
            raise _bad("chat_id is empty")
        text = params.get("text")
        text = "" if text is None else str(text)
        if not text:
            raise _bad("message text is empty")
        entities = _json_param(params, "entities", list, "can't parse entities JSON object")
        shown, parse_mode = _shown(text, params.get("parse_mode") or None, entities)
        entities = applied_entities(entities) if entities else entities  # past 100, silently fewer
        reply_to, allow_without = self._reply_request(params)
        with self._cond:
            chat = self._chat_for(params)
            if not shown.strip():
                raise _bad("message text is empty")
            if utf16_len(shown) > MAX_TEXT_LENGTH:
                raise _bad("message is too long")
            target = None
            if reply_to is not None:
                target = self._messages.get((chat["id"], reply_to))
                if target is None and not allow_without:
                    raise _bad("message to be replied not found")
            message: dict[str, Any] = {
                "message_id": self._next_message_id[chat["id"]],
                "from": self._bot_user(),
                "chat": copy.deepcopy(chat),
                "date": int(self.wall_clock()),
                "text": shown,
            }
            if entities:
                message["entities"] = copy.deepcopy(entities)
            self._flood_check(chat)  # last check: only a deliverable message uses the limits
            if target is not None:
                message["reply_to_message"] = copy.deepcopy(target)
            self._record_message(message)
            self._sent.append({
                "chat_id": chat["id"], "message_id": message["message_id"], "text": text,
                "reply_to_message_id": target["message_id"] if target else None,
                "parse_mode": parse_mode, "entities": copy.deepcopy(entities) if entities else [],
                "date": message["date"],
            })
            return message

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        """sendPhoto: an uploaded file (multipart), a file_id Telegram knows, or an http URL
        (accepted as it is: nothing is fetched), with an optional caption."""
        if params.get("chat_id") is None or str(params["chat_id"]).strip() == "":
            raise _bad("chat_id is empty")
        photo = params.get("photo")
        if photo is None or photo == "" or photo == b"":
            raise _bad("there is no photo in the request")
        caption = params.get("caption")
        caption = "" if caption is None else str(caption)
        entities = _json_param(params, "caption_entities", list, "can't parse caption entities JSON object")
        shown, parse_mode = _shown(caption, params.get("parse_mode") or None, entities)
        entities = applied_entities(entities) if entities else entities  # past 100, silently fewer
        if utf16_len(shown) > MAX_CAPTION_LENGTH:
            raise _bad("message caption is too long")
        if isinstance(photo, (bytes, bytearray)):
            if len(photo) > MAX_PHOTO_UPLOAD:
                raise _bad("file is too big")
            if image_kind(photo) is None:
                raise _bad("IMAGE_PROCESS_FAILED")
        else:
            photo = str(photo).strip()
        reply_to, allow_without = self._reply_request(params)
        with self._cond:
            chat = self._chat_for(params)
            known = None
            if isinstance(photo, str) and not photo.startswith(("http://", "https://")):
                known = self._files.get(photo)
                if known is None:
                    raise _bad("wrong file identifier/HTTP URL specified")
                if known["kind"] != "photo":
                    raise _bad(f"can't use file of type {FILE_KINDS[known['kind']].title} as Photo")
            target = None
            if reply_to is not None:
                target = self._messages.get((chat["id"], reply_to))
                if target is None and not allow_without:
                    raise _bad("message to be replied not found")
            self._flood_check(chat)  # last check: only a deliverable message uses the limits
            if known is not None:
                sizes = [copy.deepcopy(self._files[file_id]["public"]) for file_id in known["group"]]
                record: dict[str, Any] = {"file_id": photo}
            elif isinstance(photo, str):
                sizes, record = self._add_photo(None), {"url": photo}
            else:
                sizes = self._add_photo(bytes(photo))
                record = {"bytes": len(photo), "sha256": hashlib.sha256(photo).hexdigest()}
            message: dict[str, Any] = {
                "message_id": self._next_message_id[chat["id"]],
                "from": self._bot_user(),
                "chat": copy.deepcopy(chat),
                "date": int(self.wall_clock()),
                "photo": sizes,
            }
            if shown.strip():
                message["caption"] = shown
                if entities:
                    message["caption_entities"] = copy.deepcopy(entities)
            if target is not None:
                message["reply_to_message"] = copy.deepcopy(target)
            self._record_message(message)
            self._sent.append({
                "chat_id": chat["id"], "message_id": message["message_id"], "text": None,
                "photo": record, "caption": caption or None,
                "caption_entities": copy.deepcopy(entities) if entities else [],
                "reply_to_message_id": target["message_id"] if target else None,
                "parse_mode": parse_mode, "date": message["date"],
            })
            return message

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        """getFile: a file_path to download from, valid until the link expires (expire_file)."""
        with self._cond:
            record = self._files.get(str(params.get("file_id") or "").strip())
            if record is None:
                raise _bad(WRONG_FILE_ID)
            if self.report_file_sizes and record["file_size"] > MAX_DOWNLOAD:
                raise _bad("file is too big")
            if record["path"] is None:
                spec = FILE_KINDS[record["kind"]]
                suffix = f".{record['extension']}" if record["extension"] else ""
                record["path"] = f"{spec.folder}/file_{self._next_file_path}{suffix}"
                self._next_file_path += 1
                self._file_paths[record["path"]] = record["file_id"]
            file = {"file_id": record["file_id"], "file_unique_id": record["file_unique_id"],
                    "file_size": record["file_size"], "file_path": record["path"]}
            if not self.report_file_sizes:
                del file["file_size"]
            return file

    def _flood_check(self, chat: dict[str, Any]) -> None:
        """Caller holds the lock. Raise 429 if sending to `chat` now breaks a flood limit;
        otherwise count the send against every limit that applies."""
        if not self.flood_control:
            return
        now = self.clock()
        chat_id, kind = chat["id"], chat.get("type")
        waits: list[float] = []

        glob = self._global_sends
        while glob and glob[0] <= now - GLOBAL_WINDOW:
            glob.popleft()
        if len(glob) >= GLOBAL_LIMIT:
            waits.append(glob[len(glob) - GLOBAL_LIMIT] + GLOBAL_WINDOW - now)

        tokens = None
        if kind == "private":
            tokens, at = self._private_buckets.get(chat_id, (float(PRIVATE_BURST), now))
            tokens = min(float(PRIVATE_BURST), tokens + max(now - at, 0.0) * PRIVATE_RATE)
            if tokens < 1.0:
                waits.append((1.0 - tokens) / PRIVATE_RATE)

        group = None
        if kind in GROUP_TYPES:
            group = self._group_sends.setdefault(chat_id, deque())
            while group and group[0] <= now - GROUP_WINDOW:
                group.popleft()
            if len(group) >= GROUP_LIMIT:
                waits.append(group[len(group) - GROUP_LIMIT] + GROUP_WINDOW - now)

        if waits:
            self._flood_hits += 1
            # Whole seconds, rounded up (with a little slack for float noise), at least 1.
            retry_after = max(1, math.ceil(max(waits) - 1e-9))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)

        glob.append(now)
        if tokens is not None:
            self._private_buckets[chat_id] = (tokens - 1.0, now)
        if group is not None:
            group.append(now)

    def _reply_request(self, params: dict[str, Any]) -> tuple[int | None, bool]:
        reply = _json_param(params, "reply_parameters", dict,
                            "can't parse reply parameters JSON object")
        if reply is not None:
            if "message_id" not in reply:
                raise _bad("can't parse reply parameters JSON object")
            return int(reply["message_id"]), bool(reply.get("allow_sending_without_reply"))
        if params.get("reply_to_message_id") not in (None, ""):
            return (_int_param(params, "reply_to_message_id", 0),
                    _bool_param(params, "allow_sending_without_reply"))
        return None, False

    def _send_chat_action(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._chat_for(params)
        if params.get("action") not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _get_chat_member(self, params: dict[str, Any]) -> dict[str, Any]:
        """getChatMember: a ChatMember object with the user's status in the chat."""
        if params.get("chat_id") is None or str(params["chat_id"]).strip() == "":
            raise _bad("chat_id is empty")
        user_id = _int_param(params, "user_id", 0)
        if user_id <= 0:
            raise _bad("invalid user_id specified")
        with self._cond:
            chat = self._find_chat(params["chat_id"])
            if chat is None:
                raise _bad("chat not found")
            if chat["id"] in self._upgraded:  # a group's members are read through the supergroup it became
                error = ApiError(400, UPGRADED)
                error.parameters = {"migrate_to_chat_id": self._upgraded[chat["id"]]}
                raise error
            if user_id == self.bot_id:
                user = self._bot_user()
            elif user_id in self._users:
                user = copy.deepcopy(self._users[user_id])
            else:
                raise _bad("user not found")
            if chat.get("type") == "private":
                status = "member" if user_id in (chat["id"], self.bot_id) else "left"
            else:
                members = self._members.get(chat["id"], {})
                bot_is_admin = members.get(self.bot_id) in ("creator", "administrator")
                if chat["id"] in self._hidden_members and user_id != self.bot_id and not bot_is_admin:
                    raise ApiError(400, ADMIN_REQUIRED)
                status = members.get(user_id, "member" if user_id == self.bot_id else "left")  # the bot is in its groups
        return _chat_member(user, status)

    def _get_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._chat_for(params, sending=False))

    def _get_webhook_info(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return {"url": self._webhook_url, "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}

    def _set_webhook(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        if _bool_param(params, "drop_pending_updates"):
            self._drop_pending()
        self.set_webhook(url)
        return True

    def _delete_webhook(self, params: dict[str, Any]) -> bool:
        if _bool_param(params, "drop_pending_updates"):
            self._drop_pending()
        self.set_webhook(None)
        return True

    def _drop_pending(self) -> None:
        with self._cond:
            self._updates.clear()
            self._confirmed_offset = max(self._confirmed_offset, self._next_update_id)

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = _json_param(params, "commands", list, "can't parse commands JSON object")
        if commands is None:
            raise _bad("parameter \"commands\" is required")
        for command in commands:
            if not isinstance(command, dict) or not re.fullmatch(
                    r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
        with self._cond:
            self._commands = copy.deepcopy(commands)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.commands

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        with self._cond:
            self._commands = []
        return True


# --------------------------------------------------------------------- helpers

def _parse_params(request: Request) -> dict[str, Any]:
    """Merge query string and body (form, JSON or multipart) parameters."""
    params: dict[str, Any] = dict(parse_qsl(request.query, keep_blank_values=True))
    if not request.body:
        return params
    content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type == "application/json":
        try:
            body = json.loads(request.body)
        except ValueError:
            raise _bad("can't parse JSON object") from None
        if not isinstance(body, dict):
            raise _bad("can't parse JSON object")
        params.update(body)
    elif media_type == "multipart/form-data":
        raw = b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
        parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        for part in parsed.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if name:
                payload = part.get_payload(decode=True) or b""
                # A file part is bytes; a field is text, UTF-8 unless its part names a charset.
                params[name] = (payload if part.get_filename() is not None
                                else payload.decode(part.get_content_charset() or "utf-8", "replace"))
    else:
        params.update(parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _int_param(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _json_param(params: dict[str, Any], name: str, kind: type, error: str) -> Any:
    """Form and query values arrive as JSON strings; JSON bodies carry the object itself."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise _bad(error) from None
    if not isinstance(value, kind):
        raise _bad(error)
    return value


def _without_bytes(params: dict[str, Any]) -> dict[str, Any]:
    """A copy of the parameters for `calls`, uploaded files shown by size and digest."""
    return {name: {"bytes": len(value), "sha256": hashlib.sha256(value).hexdigest()}
            if isinstance(value, (bytes, bytearray)) else copy.deepcopy(value)
            for name, value in params.items()}


def _shown(text: str, parse_mode: str | None, entities: list | None) -> tuple[str, str | None]:
    """The text (or caption) as shown, and the parse_mode that applied; as Telegram checks it."""
    try:
        if entities is not None:  # given entities, Telegram ignores parse_mode
            check_entities(text, entities)
            return text, None
        return visible_text(text, parse_mode), parse_mode
    except UnsupportedParseMode:
        raise _bad("unsupported parse_mode") from None
    except EntityError as exc:
        raise _bad(f"can't parse entities: {exc}") from None


def _user_message(chat_id: int, user_id: int | None, first_name: str, username: str | None,
                  chat_type: str, chat_title: str | None) -> dict[str, Any]:
    """The "from" and "chat" of a message a user sends."""
    if user_id is None:
        user_id = chat_id if chat_type == "private" else 1001
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name,
                            "language_code": "en"}
    if username:
        user["username"] = username
    if chat_type == "private":
        chat: dict[str, Any] = {"id": chat_id, "first_name": first_name, "type": "private"}
        if username:
            chat["username"] = username
    else:
        chat = {"id": chat_id, "title": chat_title or "Sandbox group", "type": chat_type}
    return {"from": user, "chat": chat}


def _chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    """A ChatMember of the Bot API: ChatMemberOwner, ...Administrator, ...Member, ...Restricted, ...Left or
    ...Banned, with the fields each one always carries (the rights of an administrator abridged)."""
    member: dict[str, Any] = {"user": user, "status": status}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(can_be_edited=False, is_anonymous=False, can_manage_chat=True, can_delete_messages=True,
                      can_manage_video_chats=True, can_restrict_members=True, can_promote_members=False,
                      can_change_info=True, can_invite_users=True, can_post_stories=False,
                      can_edit_stories=False, can_delete_stories=False)
    elif status == "restricted":
        member.update(is_member=True, can_send_messages=True, until_date=0)
    elif status == "kicked":
        member["until_date"] = 0
    return member


def _drop_file_sizes(message: dict[str, Any]) -> None:
    """The message's media without their optional file_size fields."""
    for kind in FILE_KINDS:
        media = message.get(kind)
        for item in media if isinstance(media, list) else [media]:
            if isinstance(item, dict):
                item.pop("file_size", None)


def _file_ids(record: dict[str, Any]) -> dict[str, str]:
    return {"file_id": record["file_id"], "file_unique_id": record["file_unique_id"]}


def _extension(file_name: str | None, mime_type: str | None, default: str) -> str:
    """A file_path's extension, as Telegram takes it: from the file's name, else its MIME type."""
    if file_name and "." in file_name.strip(".") and not file_name.endswith("."):
        return file_name.rsplit(".", 1)[1].lower()
    guessed = mimetypes.guess_extension(mime_type or "")
    return guessed[1:] if guessed else default


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """The bot_command and mention entities Telegram attaches to plain user text."""
    entities = []
    for match in re.finditer(r"(?<!\S)(/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?)|(?<![\w@])(@[A-Za-z0-9_]{5,32})", text):
        kind = "bot_command" if match.group(1) else "mention"
        entities.append({"offset": utf16_len(text[:match.start()]),
                         "length": utf16_len(match.group(0)), "type": kind})
    return entities
