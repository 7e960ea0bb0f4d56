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
from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from .conversation import TELEGRAM_TEXT_LIMIT, split_ranges, utf16_len

# Telegram applies the first 100 entities of a message and silently drops the rest (tdlib's
# MessageEntity.cpp, get_input_message_entities: MAX_USER_ENTITY_COUNT, "server-side limit").
MAX_ENTITIES = 100
# Telegram cuts these where any other entity starts or ends inside them, and counts every piece.
_SPLITTABLE = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})

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


def split(message: Formatted, limit: int = TELEGRAM_TEXT_LIMIT, *, max_entities: int = MAX_ENTITIES) -> list[Formatted]:
    """Parts of at most ``limit`` UTF-16 units and ``max_entities`` entities (as Telegram counts them),
    cut where plain text would be cut (paragraph, line, sentence, word); an entity that spans a cut
    is kept in both parts, and counted in both, so a code block cut in two is a code block in each."""
    return [
        part if entity_count(part.entities) <= max_entities  # over only when one character carries more
        else Formatted(part.text, _first_entities(part.entities, max_entities))
        for part in _parts(message, limit, max_entities)
    ]


def entity_count(entities: Sequence[dict[str, object]]) -> int:
    """The entities of one message as Telegram counts them against MAX_ENTITIES, or a few more.

    A bold (italic, underline, strikethrough, spoiler) is cut where another entity starts or ends
    inside it, and each piece counts (tdlib's split_entities): counting one piece more for every
    entity boundary inside it can only count too many. Links and mentions Telegram finds in the
    text by itself cut them too; those the bot did not send are not counted here.
    """
    bounds = sorted({edge for entity in entities for edge in _span(entity)})
    count = 0
    for entity in entities:
        start, end = _span(entity)
        inside = bisect_left(bounds, end) - bisect_right(bounds, start) if entity["type"] in _SPLITTABLE else 0
        count += 1 + inside
    return count


def _parts(message: Formatted, limit: int, max_entities: int) -> Iterator[Formatted]:
    """The parts of ``message``: cut by length, and earlier where the entities would pass the cap;
    the text after such a cut is cut again from there."""
    text, position = message.text, 0
    while True:
        for start, end in split_ranges(text[position:], limit):
            start, end = position + start, position + end
            part = _part(message, start, end)
            if entity_count(part.entities) > max_entities:
                cut = _cut_for_entities(part, max_entities)
                yield _part(part, 0, cut)
                position = start + cut
                break
            yield part
        else:
            return


def _cut_for_entities(part: Formatted, max_entities: int) -> int:
    """Where ``part`` must end to carry at most ``max_entities``: its longest prefix that does,
    cut back to the last paragraph, line, sentence or word boundary in it."""
    fits, low, high = 1, 1, len(part.text)  # one character at least, so the cut makes progress
    while low <= high:  # the count only grows as the part grows
        middle = (low + high) // 2
        if entity_count(_part(part, 0, middle).entities) <= max_entities:
            fits, low = middle, middle + 1
        else:
            high = middle - 1
    return split_ranges(part.text, utf16_len(part.text[:fits]))[0][1]


def _part(message: Formatted, start: int, end: int) -> Formatted:
    """``message.text[start:end]`` with the entities over it, cut to fit it."""
    part_start, part_end = utf16_len(message.text[:start]), utf16_len(message.text[:end])
    entities = []
    for entity in message.entities:
        first = int(entity["offset"])  # type: ignore[call-overload]
        begin, finish = max(first, part_start), min(first + int(entity["length"]), part_end)  # type: ignore[call-overload]
        if finish > begin:
            entities.append({**entity, "offset": begin - part_start, "length": finish - begin})
    return Formatted(message.text[start:end], tuple(entities))


def _first_entities(entities: Sequence[dict[str, object]], max_entities: int) -> tuple[dict[str, object], ...]:
    kept: list[dict[str, object]] = []
    for entity in entities:
        if entity_count([*kept, entity]) <= max_entities:
            kept.append(entity)
    return tuple(kept)


def _span(entity: dict[str, object]) -> tuple[int, int]:
    start = int(entity["offset"])  # type: ignore[call-overload]
    return start, start + int(entity["length"])  # type: ignore[call-overload]


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
    # One part, no cut: only the ends go (the entity cap is the sender's, for each part it sends).
    whole = split(message, limit=max(1, utf16_len(message.text)), max_entities=entity_count(message.entities))
    return whole[0] if whole else Formatted("")
