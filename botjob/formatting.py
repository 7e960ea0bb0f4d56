"""The model's Markdown as Telegram shows it: plain text plus message entities, in parts Telegram accepts.

telegramify-markdown does the conversion (bold, italic, strikethrough, code,
code blocks with their language, links, lists, quotes; headings become bold).
Markdown's raw-HTML rules would drop ``List<String>`` or ``a <tag>``, and
``||`` would become a spoiler: both are escaped first, outside code, so that
no word is lost. Sending text with ``entities`` and no ``parse_mode`` leaves
Telegram nothing to fail to parse. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .conversation import TELEGRAM_TEXT_LIMIT, split_ranges, utf16_len

# Parts of the Markdown whose characters are shown as they are: code, math, <https://autolinks>.
_VERBATIM_EVENTS = ("Code", "InlineMath", "DisplayMath")
_ESCAPES = re.compile(r"<|\|\|")


@dataclass(frozen=True)
class Formatted:
    """A message as Telegram takes it: text, and entities with UTF-16 offsets into it."""

    text: str
    entities: tuple[dict[str, object], ...] = field(default=())


def plain(text: str) -> Formatted:
    return Formatted(text)


def joined(first: Formatted, second: Formatted) -> Formatted:
    """One message after the other, as one message."""
    shift = utf16_len(first.text)
    moved = tuple({**entity, "offset": int(entity["offset"]) + shift} for entity in second.entities)  # type: ignore[call-overload]
    return Formatted(first.text + second.text, first.entities + moved)


def from_markdown(markdown: str) -> Formatted:
    """The model's Markdown converted; its words all kept, its markers turned into entities."""
    from telegramify_markdown import convert  # imported on first use: an idle run never pays for it

    text, entities = convert(_escape_outside_code(markdown), config=_config())
    kept = [entity.to_dict() for entity in entities]
    bold = {(e["offset"], e["length"]) for e in kept if e["type"] == "bold"}
    # A heading comes out bold and underlined: bold alone reads as a heading in a chat.
    kept = [e for e in kept if not (e["type"] == "underline" and (e["offset"], e["length"]) in bold)]
    return _trimmed(Formatted(text, tuple(kept)))


def split(message: Formatted, limit: int = TELEGRAM_TEXT_LIMIT) -> list[Formatted]:
    """Parts of at most ``limit`` UTF-16 units, cut where plain text would be cut (paragraph, line,
    sentence, word); an entity that spans a cut is kept in both parts, so a code block cut in two
    is a code block in each."""
    parts = []
    for start, end in split_ranges(message.text, limit):
        part_start, part_end = utf16_len(message.text[:start]), utf16_len(message.text[:end])
        entities = []
        for entity in message.entities:
            begin = max(int(entity["offset"]), part_start)  # type: ignore[call-overload]
            finish = min(int(entity["offset"]) + int(entity["length"]), part_end)  # type: ignore[call-overload]
            if finish > begin:
                entities.append({**entity, "offset": begin - part_start, "length": finish - begin})
        parts.append(Formatted(message.text[start:end], tuple(entities)))
    return parts


def _escape_outside_code(markdown: str) -> str:
    """``<`` and ``||`` backslash-escaped wherever Markdown would not show them as they are."""
    verbatim = _verbatim_ranges(markdown)
    out, cursor = [], 0
    for start, end in verbatim + [(len(markdown), len(markdown))]:
        out.append(_ESCAPES.sub(lambda m: "\\" + "\\".join(m.group()), markdown[cursor:start]))
        out.append(markdown[start:end])
        cursor = end
    return "".join(out)


def _verbatim_ranges(markdown: str) -> list[tuple[int, int]]:
    """Character ranges of code spans, code blocks, math and autolinks, in order, not overlapping."""
    import pyromark  # telegramify-markdown's parser: the same reading of the same text

    data = markdown.encode("utf-8")
    ranges: list[tuple[int, int]] = []
    for payload, where in pyromark.events_with_range(markdown, options=_parser_options()):
        start = payload.get("Start") if isinstance(payload, dict) else None
        link = start.get("Link") if isinstance(start, dict) else None
        if (
            any(name in payload for name in _VERBATIM_EVENTS)
            or (isinstance(start, dict) and "CodeBlock" in start)
            or (isinstance(link, dict) and link.get("link_type") in ("Autolink", "Email"))
        ):
            begin = len(data[: where["start"]].decode("utf-8", "ignore"))
            end = len(data[: where["end"]].decode("utf-8", "ignore"))
            if not ranges or begin >= ranges[-1][1]:
                ranges.append((begin, end))
    return ranges


def _parser_options() -> object:
    import pyromark

    options = pyromark.Options
    return options.ENABLE_TABLES | options.ENABLE_STRIKETHROUGH | options.ENABLE_TASKLISTS | options.ENABLE_MATH


def _config() -> object:
    from telegramify_markdown import RenderConfig

    config = RenderConfig.isolated()  # never the library's global one: chats are converted in parallel
    for level in range(1, 7):
        setattr(config.markdown_symbol, f"heading_level_{level}", "")
    return config


def _trimmed(message: Formatted) -> Formatted:
    """Without the blank lines a list or a code block leaves at either end; entities kept inside the text."""
    whole = split(message, limit=max(1, utf16_len(message.text)))  # one part, no cut: only the ends go
    return whole[0] if whole else Formatted("")
