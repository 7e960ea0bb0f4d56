"""Tests for botjob.conversation: which updates get answers, the prompt, and replies cut for Telegram."""

from __future__ import annotations

import re

import pytest

from botjob.conversation import (
    TELEGRAM_TEXT_LIMIT,
    Action,
    BotIdentity,
    ChatRules,
    Incoming,
    build_prompt,
    plan,
    clean_model_text,
    parse_update,
    split_for_telegram,
    update_id_of,
    utf16_len,
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
        update_id=900001,
        chat_id=555001,
        chat_type="private",
        message_id=17,
        text="What is the capital of France?",
        sender_id=555001,
        sender_username="ada",
        chat_username="ada",
        date=1767225600,
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


def test_a_photos_caption_is_its_text():
    update = message_update(photo=[{"file_id": "AgAC", "width": 90, "height": 90}], caption="look at this")

    parsed = parse_update(update)
    assert parsed.text == "look at this" and parsed.has_media


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


# ---------------------------------------------------------------------------- plan: what gets answered

BOT = BotIdentity(id=777, username="helper_bot")
RULES = ChatRules(
    greeting="Hi! I read messages {schedule}.",
    help="Ask me anything; I answer {schedule}.",
    reset="Forgotten.",
    non_text="I can only read text.",
    refusal="Sorry, private bot.",
    schedule="every 10 minutes",
)


def only(works):
    (work,) = works
    return work


def text_update(update_id, text, chat=PRIVATE_CHAT, **fields):
    return message_update(update_id, chat=chat, text=text, **fields)


def test_a_private_question_goes_to_the_model():
    work = only(plan([text_update(1, "How do I boil an egg?")], BOT, RULES))
    assert work.action is Action.ASK and work.update_ids == (1,)
    assert work.turns == ({"role": "user", "content": "How do I boil an egg?"},)
    assert work.chat_id == PRIVATE_CHAT["id"] and work.reply_to == 17


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("/start", "Hi! I read messages every 10 minutes."),
        ("/start deep-link-payload", "Hi! I read messages every 10 minutes."),
        ("/help", "Ask me anything; I answer every 10 minutes."),
        ("/start@helper_bot", "Hi! I read messages every 10 minutes."),
        ("/HELP@Helper_Bot", "Ask me anything; I answer every 10 minutes."),
        ("/weather", "Ask me anything; I answer every 10 minutes."),  # unknown: the help text
    ],
)
def test_commands_in_a_private_chat(text, answer):
    work = only(plan([text_update(1, text)], BOT, RULES))
    assert (work.action, work.text) == (Action.SAY, answer)


def test_reset_forgets_and_says_so():
    work = only(plan([text_update(1, "/reset")], BOT, RULES))
    assert (work.action, work.text, work.chat_id) == (Action.RESET, "Forgotten.", PRIVATE_CHAT["id"])


@pytest.mark.parametrize("chat", [PRIVATE_CHAT, GROUP_CHAT])
def test_a_command_for_another_bot_is_not_ours(chat):
    assert only(plan([text_update(1, "/start@other_bot", chat=chat)], BOT, RULES)).action is Action.SKIP


def test_in_a_group_only_messages_addressed_to_the_bot_are_answered():
    updates = [
        text_update(1, "chatter among friends", chat=GROUP_CHAT),
        text_update(2, "@helper_bot what is 2+2?", chat=GROUP_CHAT),
        text_update(3, "thanks!", chat=GROUP_CHAT, reply_to_message={"message_id": 5, "from": {"id": 777, "is_bot": True}, "chat": GROUP_CHAT, "text": "4"}),
        text_update(4, "/help", chat=GROUP_CHAT),
        text_update(5, "/weather", chat=GROUP_CHAT),  # unknown and not addressed: maybe another bot's
        text_update(6, "hey @helper_botany fans", chat=GROUP_CHAT),  # not a mention of us
    ]
    works = plan(updates, BOT, ChatRules(**{**RULES.__dict__, "merge_bursts": False}))
    assert [w.action for w in works] == [Action.SKIP, Action.ASK, Action.ASK, Action.SAY, Action.SKIP, Action.SKIP]
    assert works[1].turns == ({"role": "user", "content": "what is 2+2?"},)  # the mention is not part of the question
    assert works[2].turns == ({"role": "assistant", "content": "4"}, {"role": "user", "content": "thanks!"})


@pytest.mark.parametrize(("groups", "answered"), [("all", True), ("mention", False), ("off", False)])
def test_the_groups_setting(groups, answered):
    work = only(plan([text_update(1, "anyone?", chat=GROUP_CHAT)], BOT, ChatRules(**{**RULES.__dict__, "groups": groups})))
    assert (work.action is Action.ASK) is answered


def test_groups_off_ignores_even_commands_and_mentions():
    rules = ChatRules(**{**RULES.__dict__, "groups": "off"})
    updates = [text_update(1, "/start@helper_bot", chat=GROUP_CHAT), text_update(2, "@helper_bot hi", chat=GROUP_CHAT)]
    assert [w.action for w in plan(updates, BOT, rules)] == [Action.SKIP, Action.SKIP]


def test_channel_posts_and_other_kinds_are_finished_silently():
    updates = [
        {"update_id": 1, "channel_post": {"message_id": 1, "chat": {"id": -100, "type": "channel"}, "text": "news"}},
        {"update_id": 2, "edited_message": {"message_id": 1, "chat": PRIVATE_CHAT, "text": "fixed typo"}},
        {"update_id": 3, "callback_query": {"id": "x", "from": USER, "data": "b"}},
        {"update_id": 4, "message": {"message_id": 9, "chat": {"id": -100, "type": "channel"}, "text": "x"}},
    ]
    assert [(w.action, w.update_ids) for w in plan(updates, BOT, RULES)] == [(Action.SKIP, (i,)) for i in (1, 2, 3, 4)]


def test_a_caption_is_the_question_and_bare_media_gets_a_note():
    updates = [
        message_update(1, photo=[{"file_id": "p"}], caption="What bird is this?"),
        message_update(2, chat={"id": 9, "type": "private"}, sticker={"file_id": "s"}),
        message_update(3, chat={"id": 10, "type": "private"}, new_chat_title="service message"),
    ]
    works = plan(updates, BOT, RULES)
    assert works[0].action is Action.ASK and works[0].turns[-1]["content"] == "What bird is this?"
    assert (works[1].action, works[1].text) == (Action.SAY, "I can only read text.")
    assert works[2].action is Action.SKIP


def test_an_empty_note_means_silence():
    rules = ChatRules(**{**RULES.__dict__, "non_text": ""})
    assert only(plan([message_update(1, sticker={"file_id": "s"})], BOT, rules)).action is Action.SKIP


@pytest.mark.parametrize("blank", ["\u200b", "\u200b\u200d \u2063", "\u3164", "\u2800\u2800", " \n\t"])
def test_a_message_that_shows_nothing_never_reaches_the_model(blank):
    assert only(plan([text_update(1, blank)], BOT, RULES)).action is Action.SKIP
    in_group = message_update(2, chat=GROUP_CHAT, text=f"@helper_bot {blank}")
    assert only(plan([in_group], BOT, RULES)).text == "Ask me anything; I answer every 10 minutes."  # a bare mention: the help


def test_text_with_something_visible_among_invisible_characters_is_a_question():
    work = only(plan([text_update(1, "\u200bhi\u200b")], BOT, RULES))
    assert work.action is Action.ASK


def test_a_group_that_became_a_supergroup_is_a_move_not_a_message():
    old = {"id": -5, "title": "Reading club", "type": "group"}
    works = plan([message_update(1, chat=old, migrate_to_chat_id=-1001), message_update(2, chat={**GROUP_CHAT, "id": -1001}, migrate_from_chat_id=-5)], BOT, RULES)
    assert [(w.action, w.moved) for w in works] == [(Action.SKIP, (-5, -1001)), (Action.SKIP, (-5, -1001))]


def test_media_in_a_group_is_ignored_unless_it_replies_to_the_bot():
    to_bot = {"message_id": 5, "from": {"id": 777, "is_bot": True}, "chat": GROUP_CHAT, "text": "4"}
    updates = [message_update(1, chat=GROUP_CHAT, sticker={"file_id": "s"}), message_update(2, chat=GROUP_CHAT, sticker={"file_id": "s"}, reply_to_message=to_bot)]
    assert [w.action for w in plan(updates, BOT, RULES)] == [Action.SKIP, Action.SAY]


def test_a_burst_from_one_chat_is_one_question_threaded_to_the_last():
    other = {"id": 42, "type": "private"}
    updates = [
        text_update(1, "Hi"),
        text_update(2, "question for someone else", chat=other),
        message_update(3, text="I have a question", message_id=18),
        message_update(4, text="what is the capital of Peru?", message_id=19),
    ]
    works = plan(updates, BOT, RULES)
    assert [w.update_ids for w in works] == [(1, 3, 4), (2,)]
    burst = works[0]
    assert burst.reply_to == 19
    assert burst.turns == ({"role": "user", "content": "Hi\n\nI have a question\n\nwhat is the capital of Peru?"},)


def test_in_a_group_a_burst_is_one_persons_messages():
    def from_(user_id, update_id, text):
        return message_update(update_id, chat=GROUP_CHAT, text=f"@helper_bot {text}", message_id=update_id,
                              **{"from": {"id": user_id, "is_bot": False, "first_name": "P"}})

    updates = [from_(1, 1, "a"), from_(1, 2, "b"), from_(2, 3, "c"), from_(1, 4, "d")]
    assert [w.update_ids for w in plan(updates, BOT, RULES)] == [(1, 2), (3,), (4,)]


def test_bursts_can_be_turned_off():
    rules = ChatRules(**{**RULES.__dict__, "merge_bursts": False})
    updates = [text_update(1, "a"), text_update(2, "b")]
    assert [w.update_ids for w in plan(updates, BOT, rules)] == [(1,), (2,)]


def test_a_command_splits_a_burst():
    updates = [text_update(1, "a"), text_update(2, "/reset"), text_update(3, "b")]
    assert [(w.action, w.update_ids) for w in plan(updates, BOT, RULES)] == [
        (Action.ASK, (1,)), (Action.RESET, (2,)), (Action.ASK, (3,))
    ]


def test_a_reply_to_someone_else_joins_the_question_as_context():
    quoted = {"message_id": 3, "from": {"id": 5, "is_bot": False}, "chat": PRIVATE_CHAT, "text": "The meeting is at 5."}
    work = only(plan([text_update(1, "Translate this to French", reply_to_message=quoted)], BOT, RULES))
    assert work.turns == ({"role": "user", "content": '(Replying to this message: "The meeting is at 5.")\n\nTranslate this to French'},)


def test_reply_context_can_be_turned_off():
    quoted = {"message_id": 3, "from": {"id": 777, "is_bot": True}, "chat": PRIVATE_CHAT, "text": "Paris."}
    rules = ChatRules(**{**RULES.__dict__, "reply_context": False})
    assert only(plan([text_update(1, "why?", reply_to_message=quoted)], BOT, rules)).turns == ({"role": "user", "content": "why?"},)


@pytest.mark.parametrize(
    ("allow", "answered"),
    [((), True), (("555001",), True), (("@Ada",), True), (("@someone_else", "123"), False)],
)
def test_the_allow_list(allow, answered):
    rules = ChatRules(**{**RULES.__dict__, "allow": allow})
    work = only(plan([text_update(1, "hello")], BOT, rules))
    assert work.action is (Action.ASK if answered else Action.SAY)
    if not answered:
        assert work.text == "Sorry, private bot."


def test_a_refusal_can_be_silence_and_groups_are_never_told():
    silent = ChatRules(**{**RULES.__dict__, "allow": ("1",), "refusal": ""})
    assert only(plan([text_update(1, "hello")], BOT, silent)).action is Action.SKIP
    strict = ChatRules(**{**RULES.__dict__, "allow": ("1",)})
    assert only(plan([text_update(1, "@helper_bot hello", chat=GROUP_CHAT)], BOT, strict)).action is Action.SKIP


def test_every_update_lands_in_exactly_one_work_in_order():
    updates = [text_update(i, f"m{i}", chat={"id": i % 3, "type": "private"}) for i in range(1, 20)]
    works = plan(updates, BOT, RULES)
    ids = [i for w in works for i in w.update_ids]
    assert sorted(ids) == list(range(1, 20)) and len(ids) == len(set(ids))
    assert [w.update_ids[0] for w in works] == sorted(w.update_ids[0] for w in works)


# ---------------------------------------------------------------------------- build_prompt


def test_prompt_has_the_system_prompt_then_the_question():
    prompt = build_prompt("You are a helpful assistant.", [{"role": "user", "content": "What is 2+2?"}])
    assert prompt == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is 2+2?"},
    ]


@pytest.mark.parametrize("system_prompt", ["", "  \n "])
def test_empty_system_prompt_is_left_out(system_prompt):
    assert build_prompt(system_prompt, [{"role": "user", "content": "hi"}]) == [{"role": "user", "content": "hi"}]


def test_a_reply_to_the_last_remembered_answer_does_not_repeat_it():
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    turns = [{"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "What did I say?"}]
    assert build_prompt("S", turns, history) == [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "What did I say?"},
    ]


def test_a_reply_to_an_older_answer_joins_it_and_roles_still_alternate():
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    turns = [{"role": "assistant", "content": "An older answer."}, {"role": "user", "content": "About that?"}]
    assert build_prompt("S", turns, history)[2:] == [
        {"role": "assistant", "content": "Hello!\n\nAn older answer."},
        {"role": "user", "content": "About that?"},
    ]


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
    assert only(plan([update], BOT, RULES)).action is Action.SKIP
