"""What to answer, and with what words: updates in, prompts and reply texts out. Pure: no I/O.

Telegram JSON is parsed here, once, into small dataclasses; real updates omit
many fields, so every optional one is tolerated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TELEGRAM_TEXT_LIMIT = 4096  # in UTF-16 code units, as Telegram counts
ALLOWED_UPDATES = ["message"]  # the update kinds the bot asks Telegram for


@dataclass(frozen=True)
class Incoming:
    """One incoming message that may deserve a reply."""

    update_id: int
    chat_id: int
    chat_type: str
    message_id: int
    text: str | None


@dataclass(frozen=True)
class Reply:
    """Text to send to a chat, threaded to the message it answers."""

    chat_id: int
    text: str
    reply_to_message_id: int | None


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def update_id_of(update: Any) -> int | None:
    """The update's id, or None when the update is too malformed to carry one."""
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if _is_id(value) else None


def parse_update(update: Any) -> Incoming | None:
    """The message in an update, or None for other kinds (edits, button presses, member changes...)."""
    update_id = update_id_of(update)
    message = update.get("message") if update_id is not None else None
    if not isinstance(message, dict):
        return None
    chat = message.get("chat")
    message_id = message.get("message_id")
    if not isinstance(chat, dict) or not _is_id(chat.get("id")) or not _is_id(message_id):
        return None
    text = message.get("text")
    return Incoming(
        update_id=update_id,
        chat_id=chat["id"],
        chat_type=str(chat.get("type") or "unknown"),
        message_id=message_id,
        text=text if isinstance(text, str) else None,
    )


def wants_answer(incoming: Incoming) -> bool:
    """Private text messages are answered; everything else is finished without a reply for now."""
    return incoming.chat_type == "private" and bool(incoming.text and incoming.text.strip())


def build_prompt(system_prompt: str, incoming: Incoming) -> list[dict[str, str]]:
    """The chat messages sent to the model for one question."""
    messages = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    messages.append({"role": "user", "content": incoming.text or ""})
    return messages


_THINK_BLOCK = re.compile(r"<think>.*?(</think>|\Z)", re.DOTALL | re.IGNORECASE)


def clean_model_text(text: str) -> str:
    """What the user may see of the model's output: reasoning blocks removed, ends trimmed."""
    text = _THINK_BLOCK.sub("", text)
    # Some chat templates put the opening <think> in the prompt: only the closing tag comes back.
    _, closing, after = text.rpartition("</think>")
    return (after if closing else text).strip()


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_for_telegram(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Cut text into parts Telegram accepts, at paragraph, line, sentence, then word boundaries."""
    parts: list[str] = []
    rest = text.strip()
    while utf16_len(rest) > limit:
        head = _longest_prefix(rest, limit) or rest[0]  # a limit below one character still makes progress
        cut = _best_cut(head)
        part, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if part:
            parts.append(part)
    if rest:
        parts.append(rest)
    return parts


def _longest_prefix(text: str, limit: int) -> str:
    """The longest prefix within ``limit`` UTF-16 units (never splits a surrogate pair)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


_BOUNDARIES = (re.compile(r"\n\n"), re.compile(r"\n"), re.compile(r"[.!?…]\s"), re.compile(r"\s"))


def _best_cut(head: str) -> int:
    """Where to end a part: after the last paragraph, line, sentence or word boundary in ``head``."""
    for boundary in _BOUNDARIES:
        ends = [match.end() for match in boundary.finditer(head)]
        if ends and ends[-1] > len(head) // 4:  # a cut too near the start would leave tiny parts
            return ends[-1]
    return len(head)
