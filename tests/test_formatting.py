"""Tests for botjob.formatting: the model's Markdown as Telegram text + entities, cut into parts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from botjob.conversation import utf16_len
from botjob.formatting import Formatted, from_markdown, plain, split


def covered(message: Formatted) -> list[tuple[str, str]]:
    units = message.text.encode("utf-16-le")
    return [(e["type"], units[2 * e["offset"]: 2 * (e["offset"] + e["length"])].decode("utf-16-le")) for e in message.entities]


def assert_valid(message: Formatted) -> None:
    size = utf16_len(message.text)
    for entity in message.entities:
        assert 0 <= entity["offset"] and entity["length"] > 0 and entity["offset"] + entity["length"] <= size


def test_emphasis_code_links_and_quotes_become_entities():
    message = from_markdown("**bold** *italic* ~~gone~~ `code` [link](https://e.com)\n\n> quoted")
    assert message.text == "bold italic gone code link\n\nquoted"
    assert covered(message) == [
        ("bold", "bold"), ("italic", "italic"), ("strikethrough", "gone"), ("code", "code"), ("text_link", "link"),
        ("blockquote", "quoted"),
    ]


def test_a_heading_is_shown_bold_without_an_emoji_or_underline():
    message = from_markdown("## Ingredients\n\nFlour.")
    assert message.text == "Ingredients\n\nFlour." and covered(message) == [("bold", "Ingredients")]


def test_a_code_block_keeps_its_language_and_its_characters():
    message = from_markdown("```rust\nlet v: Vec<u8> = vec![1 || 2];\n```")
    assert message.text == "let v: Vec<u8> = vec![1 || 2];"
    assert message.entities == ({"type": "pre", "offset": 0, "length": utf16_len(message.text), "language": "rust"},)


def test_angle_brackets_spoiler_bars_and_stray_markers_stay_words():
    words = "List<String>, <3, a <tag>, <b>not bold</b>, snake_case, 3 * 4 = 12_000, a || b || c"
    assert from_markdown(words) == Formatted(words)


def test_an_autolink_and_inline_code_are_not_escaped():
    message = from_markdown("See <https://e.com/a?b=c> and `x<y || z`.")
    assert message.text == "See https://e.com/a?b=c and x<y || z."
    assert [kind for kind, _ in covered(message)] == ["text_link", "code"]


def test_blank_ends_are_trimmed_with_the_entities_kept_inside():
    message = from_markdown("\n\n- **one**\n- two\n\n")
    assert message.text == "⦁ one\n⦁ two" and covered(message) == [("bold", "one")]


def test_a_code_block_cut_in_two_is_a_code_block_in_each_part():
    code = "\n".join(f"step_{n}()" for n in range(40))
    parts = split(from_markdown(f"Intro.\n\n```python\n{code}\n```"), limit=150)
    assert len(parts) >= 3 and all(utf16_len(p.text) <= 150 for p in parts)
    for part in parts:
        assert [(e["type"], e["language"]) for e in part.entities] == [("pre", "python")]
    for part in parts[1:]:
        assert part.entities[0]["offset"] == 0 and part.entities[0]["length"] == utf16_len(part.text)  # all code
    shown = [line for part in parts for kind, text in covered(part) for line in text.split("\n")]
    assert shown == code.split("\n")  # every line of code, each in a code block, none lost


def test_plain_text_splits_where_it_always_did():
    text = "First paragraph.\n\n" + "word " * 30
    assert [p.text for p in split(plain(text), limit=60)] == ["First paragraph.", *[p.text for p in split(plain("word " * 30), limit=60)]]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["**b**", "*i*", "`c`", "```\ncode\n```", "\n\n", "\n", "- x", "😀", "word", " ", "[l](https://e.com)", "<", "||", "# h"]), max_size=60),
    st.integers(min_value=1, max_value=80),
)
def test_every_part_of_any_answer_has_entities_inside_its_text(pieces, limit):
    for part in split(from_markdown("".join(pieces)), limit=limit):
        assert part.text.strip() and utf16_len(part.text) <= max(limit, 2)
        assert_valid(part)
