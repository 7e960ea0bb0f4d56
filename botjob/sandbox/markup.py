"""Simplified versions of Telegram's parse_mode parsers (MarkdownV2, Markdown, HTML): enough to
reject what the real server rejects with "can't parse entities" and to measure the shown text."""
from __future__ import annotations

import html
import re


class EntityError(ValueError):
    """Raised with the text the real API puts after "Bad Request: can't parse entities: "."""


class UnsupportedParseMode(ValueError):
    pass


MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
HTML_TAGS = {
    "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler",
    "a", "code", "pre", "blockquote", "tg-emoji",
}
_MDV2_NAMES = {"*": "Bold", "_": "Italic", "__": "Underline", "~": "Strikethrough",
               "||": "Spoiler", "[": "TextUrl"}
_HTML_ENTITY = re.compile(r"&(#[0-9]+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot);")


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


# MessageEntity types a bot may send (Bot API, "MessageEntity"), with the field each one needs.
ENTITY_TYPES = {
    "mention": None, "hashtag": None, "cashtag": None, "bot_command": None, "url": None, "email": None,
    "phone_number": None, "bold": None, "italic": None, "underline": None, "strikethrough": None,
    "spoiler": None, "blockquote": None, "expandable_blockquote": None, "code": None, "pre": None,
    "text_link": "url", "text_mention": "user", "custom_emoji": "custom_emoji_id", "date_time": "unix_time",
}


def check_entities(text: str, entities: object) -> list[dict]:
    """The entities of a message as Telegram checks them (UTF-16 offsets inside the text, known
    types, each with the field its type needs); raise EntityError otherwise."""
    if not isinstance(entities, list):
        raise EntityError("entities must be an array of MessageEntity")
    size = utf16_len(text)
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("type") not in ENTITY_TYPES:
            raise EntityError("Unsupported type specified")
        offset, length = entity.get("offset"), entity.get("length")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (offset, length)):
            raise EntityError("offset and length must be integers")
        if offset < 0 or length <= 0 or offset + length > size:
            raise EntityError(f"entity {offset}+{length} is outside the text of {size} UTF-16 code units")
        needed = ENTITY_TYPES[entity["type"]]
        if needed and not entity.get(needed):
            raise EntityError(f"{entity['type']} needs the field {needed}")
        language = entity.get("language")
        if language is not None and (entity["type"] != "pre" or not isinstance(language, str)):
            raise EntityError("only a pre entity takes a language, as text")
    return entities


# Telegram applies at most 100 entities of a message and drops the rest without a word (tdlib's
# MessageEntity.cpp, get_input_message_entities: MAX_USER_ENTITY_COUNT, "server-side limit").
MAX_ENTITIES = 100
SPLITTABLE = ("bold", "italic", "underline", "strikethrough", "spoiler")
# Never counted: the server finds these in the text by itself, and custom emoji go uncounted.
UNCOUNTED = {"mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "custom_emoji"}
_VERBATIM = {"code", "pre", "date_time"}  # nothing is formatted inside these


def applied_entities(entities: list[dict], cap: int = MAX_ENTITIES) -> list[dict]:
    """The checked entities Telegram applies, as tdlib sends them on: the others first (code, pre,
    links, quotes...), then bold, italic, underline, strikethrough and spoiler cut into pieces
    wherever another entity starts or ends inside them (tdlib's split_entities), each piece
    counted; past ``cap`` the rest is dropped. Nothing dropped: the entities as they were given."""
    ordered = sorted(entities, key=lambda e: (e["offset"], -e["length"]))
    others = [e for e in ordered if e["type"] not in SPLITTABLE]
    counted = [e for e in others if e["type"] not in UNCOUNTED]
    pieces = _pieces([e for e in ordered if e["type"] in SPLITTABLE], others)
    room = max(0, cap - len(counted))
    if len(counted) <= cap and len(pieces) <= room:
        return entities
    kept = [e for e in others if e["type"] in UNCOUNTED] + counted[:cap] + pieces[:room]
    return sorted(kept, key=lambda e: (e["offset"], -e["length"]))


def _pieces(splittable: list[dict], others: list[dict]) -> list[dict]:
    """Bold, italic... as tdlib sends them: each type's overlapping or touching entities merged,
    cut where another entity starts or ends inside, pieces inside code left out; in order."""
    runs: dict[str, list[list[int]]] = {}
    for entity in splittable:  # in offset order
        spans = runs.setdefault(entity["type"], [])
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    cuts = sorted({start for spans in runs.values() for start, _ in spans}
                  | {edge for e in others for edge in (e["offset"], e["offset"] + e["length"])})
    verbatim = [(e["offset"], e["offset"] + e["length"]) for e in others if e["type"] in _VERBATIM]
    pieces = []
    for kind, spans in runs.items():
        for start, end in spans:
            edges = [start, *(cut for cut in cuts if start < cut < end), end]
            for begin, finish in zip(edges, edges[1:]):
                if not any(low <= begin and finish <= high for low, high in verbatim):
                    pieces.append({"type": kind, "offset": begin, "length": finish - begin})
    return sorted(pieces, key=lambda e: (e["offset"], -e["length"], SPLITTABLE.index(e["type"])))


def visible_text(text: str, parse_mode: str | None) -> str:
    """Return the text as Telegram would show it, or raise EntityError / UnsupportedParseMode."""
    mode = (parse_mode or "").lower()
    if mode == "":
        return text
    if mode == "markdownv2":
        return _markdown_v2(text)
    if mode == "markdown":
        return _markdown_legacy(text)
    if mode == "html":
        return _html(text)
    raise UnsupportedParseMode(parse_mode)


def _find_closing(text: str, start: int, marker: str) -> int:
    """Index of the next unescaped `marker` at or after start, or -1."""
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(marker, i):
            return i
        i += 1
    return -1


def _markdown_v2(text: str) -> str:
    out: list[str] = []
    stack: list[tuple[str, int]] = []  # open entity markers with their byte offsets
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                out.append(text[i + 1])
                i += 2
            else:
                out.append(c)
                i += 1
            continue
        if c not in MDV2_RESERVED:
            out.append(c)
            i += 1
            continue
        if c == "`":
            marker, name = ("```", "Pre") if text.startswith("```", i) else ("`", "Code")
            end = _find_closing(text, i + len(marker), marker)
            if end < 0:
                raise EntityError(f"Can't find end of {name} entity at byte offset {_byte_offset(text, i)}")
            body = text[i + len(marker):end]
            if marker == "```" and "\n" in body:
                body = body.split("\n", 1)[1]  # the first line names the language
            out.append(re.sub(r"\\(.)", r"\1", body, flags=re.S))
            i = end + len(marker)
            continue
        if c == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1  # block quotation marker
            continue
        if c == "[":
            stack.append(("[", _byte_offset(text, i)))
            i += 1
            continue
        if c == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            i += 1
            if i < n and text[i] == "(":
                end = _find_closing(text, i + 1, ")")
                if end < 0:
                    raise EntityError(f"Can't find end of a URL at byte offset {_byte_offset(text, i)}")
                i = end + 1
            continue
        marker = c
        if c == "_" and text.startswith("__", i):
            marker = "__"
        elif c == "|":
            if not text.startswith("||", i):
                raise EntityError(_reserved(c))
            marker = "||"
        if marker in ("*", "_", "__", "~", "||"):
            open_markers = [m for m, _ in stack]
            if marker in open_markers:
                del stack[len(open_markers) - 1 - open_markers[::-1].index(marker)]
            else:
                stack.append((marker, _byte_offset(text, i)))
            i += len(marker)
            continue
        raise EntityError(_reserved(c))
    if stack:
        marker, offset = stack[-1]
        raise EntityError(f"Can't find end of {_MDV2_NAMES[marker]} entity at byte offset {offset}")
    return "".join(out)


def _reserved(char: str) -> str:
    return f"Character '{char}' is reserved and must be escaped with the preceding '\\'"


def _markdown_legacy(text: str) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            i += 2
            continue
        if c in "_*`[":
            marker = "```" if text.startswith("```", i) else ("]" if c == "[" else c)
            start = i + (3 if marker == "```" else 1)
            end = text.find(marker, start)
            if end < 0:
                raise EntityError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
            out.append(text[start:end])
            i = end + len(marker)
            if marker == "]" and i < n and text[i] == "(":
                close = text.find(")", i)
                if close < 0:
                    raise EntityError(
                        f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}")
                i = close + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _html(text: str) -> str:
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "<":
            offset = _byte_offset(text, i)
            end = text.find(">", i)
            if end < 0:
                raise EntityError(f"Unclosed start tag at byte offset {offset}")
            tag = text[i + 1:end].strip()
            if tag.startswith("/"):
                name = tag[1:].strip().lower()
                if not stack:
                    raise EntityError(f"Unexpected end tag at byte offset {offset}")
                if name != stack[-1]:
                    raise EntityError(
                        f'Unmatched end tag at byte offset {offset}, expected "</{stack[-1]}>", '
                        f'found "</{name}>"')
                stack.pop()
            else:
                name = tag.split()[0].lower() if tag else ""
                if name not in HTML_TAGS:
                    raise EntityError(f'Unsupported start tag "{name}" at byte offset {offset}')
                stack.append(name)
            i = end + 1
            continue
        if c == "&":
            match = _HTML_ENTITY.match(text, i)
            if match:
                out.append(html.unescape(match.group(0)))
                i = match.end()
                continue
        out.append(c)
        i += 1
    if stack:
        raise EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)
