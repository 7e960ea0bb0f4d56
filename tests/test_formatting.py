"""Tests for botjob.formatting: the model's Markdown as Telegram text + entities, cut into parts."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from botjob.conversation import utf16_len
from botjob.formatting import MAX_ENTITIES, Formatted, entity_count, from_markdown, plain, split
from botjob.sandbox.markup import applied_entities
from conftest import message_id_of

ALICE = 1001


def covered(message: Formatted) -> list[tuple[str, str]]:
    units = message.text.encode("utf-16-le")
    return [(e["type"], units[2 * e["offset"]: 2 * (e["offset"] + e["length"])].decode("utf-16-le")) for e in message.entities]


def formatted_characters(message: Formatted) -> Counter[str]:
    """How many characters (not spaces) each kind of formatting covers: what people see formatted."""
    units = message.text.encode("utf-16-le")
    spots: dict[str, set[int]] = {}
    for e in message.entities:
        spots.setdefault(e["type"], set()).update(range(e["offset"], e["offset"] + e["length"]))
    return Counter({kind: sum(not units[2 * i: 2 * i + 2].decode("utf-16-le", "replace").isspace() for i in where)
                    for kind, where in spots.items()})


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


def bold_list(count: int) -> Formatted:
    return from_markdown("\n".join(f"- **item {n}**: a detail" for n in range(count)))


def test_a_bold_list_past_100_entities_is_cut_between_items_with_every_item_bold():
    whole = bold_list(150)
    assert len(whole.entities) == 150 and utf16_len(whole.text) < 4096  # one part by length alone

    first, second = split(whole)

    assert [len(first.entities), len(second.entities)] == [100, 50]
    assert first.text.endswith("item 99: a detail") and second.text.startswith("⦁ item 100: a detail")  # at a line
    assert [text for part in (first, second) for _, text in covered(part)] == [f"item {n}" for n in range(150)]


def test_long_prose_and_a_long_bold_list_are_cut_by_length_and_by_entities_in_one_answer():
    prose = " ".join(f"Sentence {n} says a little more." for n in range(200))  # 6,000 characters: two parts by length
    bold = "\n".join(f"- **item {n}**" for n in range(250))
    parts = split(from_markdown(f"{prose}\n\n{bold}"))
    assert len(parts) >= 4 and all(utf16_len(p.text) <= 4096 and len(p.entities) <= MAX_ENTITIES for p in parts)
    assert [text for part in parts for _, text in covered(part)] == [f"item {n}" for n in range(250)]


def test_an_entity_spanning_a_cut_is_kept_and_counted_in_both_parts():
    quote = from_markdown("> " + "\n> ".join(f"say `x{n}` and `y{n}`" for n in range(6)))  # code inside a quote
    parts = split(quote, max_entities=5)  # each part: the quote and two lines of code
    assert len(parts) == 3
    for part in parts:
        assert sorted(kind for kind, _ in covered(part)) == ["blockquote", "code", "code", "code", "code"]
        [whole] = [e for e in part.entities if e["type"] == "blockquote"]
        assert whole["offset"] == 0 and whole["length"] == utf16_len(part.text)


def test_a_bold_cut_by_other_entities_counts_each_of_its_pieces_as_telegram_does():
    message = from_markdown("**see `a` and [b](https://e.com) now**")
    # Telegram counts 6: the bold in four pieces around the code and the link (none inside the code), those two.
    assert applied_entities(list(message.entities), cap=5) != list(message.entities)
    assert entity_count(message.entities) >= 6  # never fewer than Telegram counts
    part, *rest = split(message, max_entities=entity_count(message.entities) - 1)
    assert rest and applied_entities(list(part.entities), cap=entity_count(message.entities) - 1) == list(part.entities)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(["**b**", "*i*", "`c`", "```\ncode\n```", "\n\n", "\n", "- x", "😀", "word", " ", "[l](https://e.com)", "<", "||", "# h",
                              "**b *i* `c` b**"]), max_size=60),
    st.integers(min_value=1, max_value=80),
    st.integers(min_value=4, max_value=12),  # at least the most entities one character carries here
)
def test_every_part_of_any_answer_has_entities_inside_its_text_and_no_more_than_telegram_applies(pieces, limit, max_entities):
    message = from_markdown("".join(pieces))
    parts = split(message, limit=limit, max_entities=max_entities)
    for part in parts:
        assert part.text.strip() and utf16_len(part.text) <= max(limit, 2)
        assert_valid(part)
        assert entity_count(part.entities) <= max_entities
        # Telegram's own count (the stand-in's model of tdlib's) applies every entity of every part.
        assert applied_entities(list(part.entities), cap=max_entities) == list(part.entities)
    assert "".join("".join(p.text.split()) for p in parts) == "".join(message.text.split())  # no word lost
    assert sum((formatted_characters(p) for p in parts), Counter()) == formatted_characters(message)  # no formatting lost


# ----------------------------------------------------------------------------- through the job and the stand-in


def test_a_150_item_bold_list_reaches_people_with_every_item_bold_in_threaded_parts(telegram, model, make_job):
    items = [f"Step {n} of the plan" for n in range(150)]
    model.reply_with("Here is the plan:\n\n" + "\n".join(f"- **{item}**: do it well" for item in items))
    question = message_id_of(telegram, telegram.user_says("the whole plan, please", chat_id=ALICE))

    report = make_job().run_once()

    parts = telegram.sent(ALICE)  # the stand-in applies (and records) only the first 100 entities of a message
    assert report.answered == 1 and len(parts) == 2
    assert all(len(p["entities"]) <= 100 and p["reply_to_message_id"] == question for p in parts)
    shown = [covered(Formatted(p["text"], tuple(p["entities"]))) for p in parts]
    assert [text for part in shown for kind, text in part if kind == "bold"] == items
