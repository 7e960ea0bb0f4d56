"""Merges two versions of a file in state/ by what it means, for save-state's rebase. Standard library only.

Two runs (or a run and the owner) may both change state/. Taking either side
whole would lose what the other one saved, so each file is merged by its
meaning: the offset is the higher one with the finished ids of both above it,
daily counts the larger per chat, a chat's memory or persona the newer file
(padding does not touch the token's time: it is inside the encryption), the
owner's stats the larger per day and counter (stats.merge), each chat's /model
pick the newer (model_choice.merge).
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import PurePosixPath

from botjob import model_choice, stats
from botjob.state import CHOSEN_MODELS_FILE, MEMORY_DIR, OFFSET_FILE, PERSONAS_DIR, PICTURES_FILE, STATS_FILE, USAGE_FILE


def merge_state_file(name: str, theirs: str, ours: str) -> str | None:
    """The merged text of ``name`` (a path inside state/), or None when ours should win whole.

    ``theirs`` is the version already pushed, ``ours`` the one being saved.
    """
    path = PurePosixPath(name)
    try:
        if path.as_posix() == OFFSET_FILE:
            return _merge_offsets(json.loads(theirs), json.loads(ours))
        if path.as_posix() in (USAGE_FILE, PICTURES_FILE):
            return _merge_usage(json.loads(theirs), json.loads(ours))
        if path.as_posix() == STATS_FILE:
            return json.dumps(stats.merge(json.loads(theirs), json.loads(ours))) + "\n"
        if path.as_posix() == CHOSEN_MODELS_FILE:
            return json.dumps(model_choice.merge(json.loads(theirs), json.loads(ours))) + "\n"
        if path.parent.as_posix() in (MEMORY_DIR, PERSONAS_DIR):
            return theirs if _fernet_time(theirs) > _fernet_time(ours) else ours
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return None  # a side that is not what it should be: ours, as before
    return None


def _merge_offsets(theirs: dict, ours: dict) -> str:
    offset = max(_offset(theirs), _offset(ours))
    finished = {i for side in (theirs, ours) for i in side.get("finished", []) if _is_id(i) and i >= offset}
    while offset in finished:  # the first unfinished update moves up over ids both sides finished
        finished.discard(offset)
        offset += 1
    partly_sent = {i for side in (theirs, ours) for i in side.get("partly_sent", []) if _is_id(i) and i >= offset} - finished
    document: dict[str, object] = {"offset": offset}
    if finished:
        document["finished"] = sorted(finished)
    if partly_sent:
        document["partly_sent"] = sorted(partly_sent)
    return json.dumps(document) + "\n"


def _offset(side: dict) -> int:
    offset = side["offset"]
    if not _is_id(offset):
        raise ValueError("offset is not a whole number")
    return offset


def _merge_usage(theirs: dict, ours: dict) -> str:
    if _counts_of(theirs) != _counts_of(ours):
        # ISO dates: the later day's counts are today's. On the same day, names of a newer version ("v":
        # keyed per file and per day) never match the older ones: the newer version's side wins whole.
        return json.dumps(max(theirs, ours, key=_counts_of)) + "\n"
    chats: dict[str, dict[str, object]] = {}
    for side in (theirs, ours):
        for key, tally in side.get("chats", {}).items():
            seen = chats.setdefault(key, {"count": 0, "told": False})
            seen["count"] = max(seen["count"], tally.get("count", 0))  # type: ignore[type-var]
            seen["told"] = bool(seen["told"] or tally.get("told", False))
    version = {"v": ours["v"]} if "v" in ours else {}
    return json.dumps({**version, "day": ours.get("day"), "chats": dict(sorted(chats.items()))}) + "\n"


def _counts_of(side: dict) -> tuple[str, int]:
    """Which day's counts a side holds, and under which version of names (1 before "v" was written)."""
    version = side.get("v", 1)
    if not _is_id(version):
        raise ValueError("v is not a whole number")
    return str(side.get("day")), version


def _fernet_time(token: str) -> int:
    """When a Fernet token was made: bytes 1-8 of the token, in the clear (no key needed)."""
    try:
        raw = base64.urlsafe_b64decode(token.strip())
    except (binascii.Error, ValueError):
        raise ValueError("not a Fernet token") from None
    if len(raw) < 9 or raw[0] != 0x80:
        raise ValueError("not a Fernet token")
    return int.from_bytes(raw[1:9], "big")


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
