"""Tests for botjob.conversation: which updates get answers, the prompt, and replies cut for Telegram."""

from __future__ import annotations

import re

import pytest

from botjob.conversation import (
    TELEGRAM_TEXT_LIMIT,
    Incoming,
    build_prompt,
    clean_model_text,
    parse_update,
    split_for_telegram,
    update_id_of,
    utf16_len,
    wants_answer,
)

USER = {"id": 555001, "is_bot": False, "first_name": "Ada", "username": "ada", "language_code": "en"}
PRIVATE_CHAT = {"id": 555001, "first_name": "Ada", "username": "ada", "type": "private"}
GROUP_CHAT = {"id": -1001234567890, "title": "Reading club", "type": "supergroup"}


def message_update(update_id: int = 900001, chat: dict = PRIVATE_CHAT, **message_fields) -> dict:
    """A `message` update as Telegram sends it."""
    message = {"message_id": 17, "from": USER, "chat": chat, "date": 1767225600, **message_fields}
    return {"update_id": update_id, "message": message}


def incoming(text: str | None = "hello", chat_type: str = "private") -> Incoming:
    return Incoming(update_id=1, chat_id=555001, chat_type=chat_type, message_id=17, text=text)


def words(text: str) -> list[str]:
    return text.split()


# ---------------------------------------------------------------------------- parse_update


def test_private_text_message_is_parsed():
    update = message_update(text="What is the capital of France?")

    assert parse_update(update) == Incoming(
        update_id=900001, chat_id=555001, chat_type="private", message_id=17, text="What is the capital of France?"
    )


def test_group_message_keeps_the_group_chat():
    update = message_update(chat=GROUP_CHAT, text="/ask@some_bot hi", entities=[{"type": "bot_command", "offset": 0, "length": 13}])

    parsed = parse_update(update)

    assert parsed is not None
    assert parsed.chat_id == -1001234567890
    assert parsed.chat_type == "supergroup"
    assert parsed.text == "/ask@some_bot hi"


def test_sticker_message_has_no_text():
    update = message_update(sticker={"file_id": "CAACAgIAAxkBAAIB", "emoji": "👍", "width": 512, "height": 512})

    parsed = parse_update(update)

    assert parsed is not None and parsed.text is None
    assert parsed.update_id == 900001


def test_photo_with_caption_has_no_text():
    update = message_update(photo=[{"file_id": "AgAC", "width": 90, "height": 90}], caption="look at this")

    assert parse_update(update).text is None


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 900002, "edited_message": message_update()["message"] | {"edit_date": 1767225700, "text": "edited"}},
        {"update_id": 900003, "callback_query": {"id": "4382bfdwdsb323b2d9", "from": USER, "data": "yes",
                                                 "message": message_update()["message"]}},
        {"update_id": 900004, "channel_post": {"message_id": 3, "chat": {"id": -1009, "type": "channel"}, "text": "news"}},
        {"update_id": 900005, "my_chat_member": {"chat": PRIVATE_CHAT, "from": USER, "date": 1767225600}},
    ],
    ids=["edited_message", "callback_query", "channel_post", "my_chat_member"],
)
def test_other_update_kinds_are_not_messages(update):
    assert parse_update(update) is None


@pytest.mark.parametrize(
    "update",
    [
        {"update_id": 1, "message": {"message_id": 17, "text": "no chat"}},
        {"update_id": 1, "message": {"message_id": 17, "chat": "555001", "text": "chat not a dict"}},
        {"update_id": 1, "message": {"message_id": 17, "chat": {"type": "private"}, "text": "chat without id"}},
        {"update_id": 1, "message": {"message_id": 17, "chat": {"id": "555001", "type": "private"}, "text": "str chat id"}},
        {"update_id": 1, "message": {"message_id": "17", "chat": PRIVATE_CHAT, "text": "str message id"}},
        {"update_id": 1, "message": {"chat": PRIVATE_CHAT, "text": "no message id"}},
        {"update_id": "1", "message": {"message_id": 17, "chat": PRIVATE_CHAT, "text": "str update id"}},
        {"message": {"message_id": 17, "chat": PRIVATE_CHAT, "text": "no update id"}},
        {"update_id": 1, "message": "hello"},
        {"update_id": 1, "message": ["hello"]},
        {"update_id": 1, "message": None},
        {"update_id": 1},
        {},
    ],
)
def test_malformed_updates_are_ignored_not_fatal(update):
    assert parse_update(update) is None


def test_non_text_text_field_is_no_text():
    assert parse_update(message_update(text={"not": "a string"})).text is None


@pytest.mark.parametrize("update", [None, [], "update", 5])
def test_non_dict_update_is_ignored(update):
    assert parse_update(update) is None


def test_boolean_ids_are_malformed():
    assert parse_update(message_update(chat={"id": True, "type": "private"}, text="hi")) is None
    assert parse_update(message_update(message_id=True, text="hi")) is None


@pytest.mark.parametrize(
    ("update", "expected"),
    [
        ({"update_id": 900001}, 900001),
        ({"update_id": 0}, 0),
        ({"update_id": True}, None),
        ({"update_id": False}, None),
        ({"update_id": "900001"}, None),
        ({"update_id": 900001.0}, None),
        ({"update_id": None}, None),
        ({}, None),
        ({"message": {"message_id": 1}}, None),
        (None, None),
        ("update", None),
        ([900001], None),
    ],
)
def test_update_id_of(update, expected):
    assert update_id_of(update) == expected


# ---------------------------------------------------------------------------- wants_answer


def test_private_text_is_answered():
    assert wants_answer(incoming("How do I boil an egg?"))


@pytest.mark.parametrize("text", ["", "   ", "\n\t ", None])
def test_empty_or_missing_text_is_not_answered(text):
    assert not wants_answer(incoming(text))


@pytest.mark.parametrize("chat_type", ["group", "supergroup", "channel"])
def test_group_messages_are_not_answered(chat_type):
    assert not wants_answer(incoming("hello everyone", chat_type=chat_type))


def test_parsed_sticker_is_not_answered():
    assert not wants_answer(parse_update(message_update(sticker={"file_id": "x", "emoji": "👍"})))


# ---------------------------------------------------------------------------- build_prompt


def test_prompt_has_the_system_prompt_then_the_question():
    prompt = build_prompt("You are a helpful assistant.", incoming("What is 2+2?"))

    assert prompt == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ]


@pytest.mark.parametrize("system_prompt", ["", "  \n "])
def test_empty_system_prompt_is_left_out(system_prompt):
    assert build_prompt(system_prompt, incoming("hi")) == [{"role": "user", "content": "hi"}]


# ---------------------------------------------------------------------------- clean_model_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("<think>The user wants a greeting.</think>\n\nHello!", "Hello!"),
        ("<think>\nstep 1\nstep 2\n</think>Paris is the capital.", "Paris is the capital."),
        ("<THINK>shouting</Think> ok", "ok"),
        ("Answer first. <think>then musing", "Answer first."),  # unclosed at the end: all hidden
        ("<think>a</think>One <think>b</think>two", "One two"),
        ("  plain answer \n", "plain answer"),
        ("Use <b>bold</b> here", "Use <b>bold</b> here"),
    ],
)
def test_model_reasoning_is_hidden_and_ends_trimmed(raw, shown):
    assert clean_model_text(raw) == shown


def test_only_reasoning_leaves_nothing_to_send():
    assert clean_model_text("<think>hmm, let me think about it") == ""


# ---------------------------------------------------------------------------- split_for_telegram


def assert_fits(parts: list[str], limit: int = TELEGRAM_TEXT_LIMIT) -> None:
    assert parts, "nothing to send"
    for part in parts:
        assert part.strip(), "an empty part would be refused by Telegram"
        assert utf16_len(part) <= limit
        part.encode("utf-16")  # raises on a lone surrogate


def test_short_text_is_one_unchanged_part():
    text = "Paris is the capital of France.\n\nIt has about two million people."

    assert split_for_telegram(text) == [text]


def test_text_of_exactly_the_limit_is_one_part():
    text = "a" * TELEGRAM_TEXT_LIMIT

    assert split_for_telegram(text) == [text]


def test_long_text_parts_fit_and_keep_every_word_in_order():
    text = " ".join(f"word{i}" for i in range(3000))  # about 26,000 characters

    parts = split_for_telegram(text)

    assert len(parts) > 1
    assert_fits(parts)
    assert words(" ".join(parts)) == words(text)


def test_emoji_count_two_units_each():
    text = "😀" * 3000  # 3000 characters, 6000 UTF-16 units: too long for one message

    parts = split_for_telegram(text)

    assert len(parts) == 2
    assert_fits(parts)
    assert "".join(parts) == text  # no emoji lost, none cut in half
    assert all(set(part) == {"😀"} for part in parts)


def test_emoji_between_words_are_never_split():
    text = " ".join(["😀👍🏽 ok"] * 2000)

    parts = split_for_telegram(text)

    assert_fits(parts)
    assert words(" ".join(parts)) == words(text)


def test_cut_prefers_a_paragraph_break():
    first = "The first paragraph is one long line. " * 40  # about 1,500 characters, no line breaks
    second = "\n".join(["A short line of the second paragraph. It goes on."] * 100)  # lines well past the limit
    text = f"{first.strip()}\n\n{second}"

    parts = split_for_telegram(text)

    assert_fits(parts)
    assert parts[0] == first.strip()  # not a line or a sentence further on, though either would fit more
    assert parts[1].startswith("A short line of the second paragraph.")


def test_cut_falls_back_to_a_line_break():
    lines = [f"Line {i}. Still line {i}." for i in range(400)]
    text = "\n".join(lines)

    parts = split_for_telegram(text)

    assert_fits(parts)
    for part in parts:
        assert part.split("\n")[-1] in lines  # every part ends with a whole line
    assert "\n".join(parts) == text


def test_cut_falls_back_to_a_sentence_end():
    sentences = [f"This is sentence number {i} of the answer." for i in range(300)]
    text = " ".join(sentences)

    parts = split_for_telegram(text)

    assert_fits(parts)
    for part in parts:
        assert part.endswith("answer.")  # no sentence cut in the middle
    assert " ".join(parts) == text


@pytest.mark.parametrize("mark", ["!", "?"])
def test_exclamations_and_questions_end_sentences_too(mark):
    text = " ".join(f"Is this sentence {i} really long enough{mark}" for i in range(300))

    parts = split_for_telegram(text)

    assert_fits(parts)
    assert all(part.endswith(mark) for part in parts)


def test_cut_falls_back_to_a_word_boundary():
    text = " ".join(f"word{i}" for i in range(2000))

    parts = split_for_telegram(text)

    assert_fits(parts)
    all_words = set(words(text))
    for part in parts:
        assert set(words(part)) <= all_words  # no word cut in half
    assert " ".join(parts) == text


def test_one_huge_word_is_still_cut_to_fit():
    text = "x" * 10_000

    parts = split_for_telegram(text)

    assert_fits(parts)
    assert "".join(parts) == text
    assert [len(p) for p in parts] == [4096, 4096, 1808]


def test_huge_word_after_a_short_sentence_is_cut_hard_not_into_tiny_parts():
    text = "Here: " + "y" * 9000

    parts = split_for_telegram(text)

    assert_fits(parts)
    assert len(parts) == 3
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_a_smaller_limit_is_respected():
    text = "Short words only here. " * 50

    parts = split_for_telegram(text, limit=100)

    assert_fits(parts, limit=100)
    assert words(" ".join(parts)) == words(text)


def test_blank_text_gives_no_parts():
    assert split_for_telegram("  \n\n ") == []


def test_parts_carry_no_leading_or_trailing_blank_lines():
    text = ("Paragraph one is here.\n\n\n\n" * 300).strip()

    parts = split_for_telegram(text)

    assert_fits(parts)
    for part in parts:
        assert part == part.strip()
    assert re.sub(r"\s+", " ", " ".join(parts)) == re.sub(r"\s+", " ", text)


def test_reasoning_whose_opening_tag_was_in_the_prompt_is_hidden():
    assert clean_model_text("the user greets me, so...\n</think>\n\nHello!") == "Hello!"


def test_a_limit_smaller_than_one_character_still_ends():
    assert split_for_telegram("😀😀", limit=1) == ["😀", "😀"]


def test_cut_takes_the_last_sentence_end_whatever_its_mark():
    text = "First part. " + "word " * 50 + "Is this the end? " + "tail " * 30
    first = split_for_telegram(text, limit=300)[0]
    assert first.endswith("Is this the end?")


def test_a_chat_without_a_type_is_not_taken_for_a_private_one():
    update = message_update(chat={"id": 5}, text="hello")
    assert not wants_answer(parse_update(update))
