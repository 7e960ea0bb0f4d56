"""Properties that hold for any input: garbage updates, any reply text, any finishing order.

Hypothesis makes the inputs. Real Telegram updates omit fields, carry new
kinds and odd values; model output can be anything; a worker pool finishes
updates in any order. None of that may crash a run or lose an update.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from botjob import conversation, formatting
from botjob.config import Config
from botjob.conversation import Action, BotIdentity, ChatRules, split_for_telegram, utf16_len
from botjob.sandbox import ModelSandbox, TelegramSandbox
from botjob.state import Checkpoint
from botjob.wiring import build_job
from conftest import FAKE_TOKEN, FakeClock

BOT_ID = 123456789
BOT_USERNAME = "botjob_sandbox_bot"

# ----------------------------------------------------------------------------- what people send

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
ids = st.integers(min_value=-(2**63), max_value=2**63) | st.sampled_from([0, 1, 1001, -500, -100123456789, BOT_ID])
odd_ids = ids | st.booleans() | st.none() | st.text(max_size=6) | st.floats(allow_nan=False, allow_infinity=False)

command_names = st.sampled_from(["start", "help", "reset", "START", "Help", "weather", "x" * 64, "x" * 65, ""])
command_targets = st.sampled_from(["", BOT_USERNAME, BOT_USERNAME.upper(), "other_bot", "a-b", "@"]) | st.text(max_size=8)
commands = st.builds(
    lambda name, target, rest: f"/{name}" + (f"@{target}" if target else "") + rest,
    command_names | st.from_regex(r"[A-Za-z0-9_]{1,70}", fullmatch=True),
    command_targets,
    st.sampled_from(["", " ", " please", "\nmore", "@x", "?"]) | st.text(max_size=10),
)
mentions = st.builds(
    lambda before, name, after: f"{before}@{name}{after}",
    st.text(max_size=10),
    st.sampled_from([BOT_USERNAME, BOT_USERNAME.upper(), BOT_USERNAME + "x", "someone"]),
    st.sampled_from(["", " ", "!", "_x", " what now?"]) | st.text(max_size=10),
)
huge_texts = st.builds(lambda piece, times: piece * times, st.text(min_size=1, max_size=8), st.integers(600, 2500))
emoji = st.text(st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF) | st.sampled_from(["\u200d", "\ufe0f", " "]), max_size=30)
blank = st.text(st.sampled_from([" ", "\n", "\t", "\u00a0", "\u200b", "\u2028"]), max_size=6)
texts = st.text(max_size=60) | commands | mentions | huge_texts | emoji | blank
odd_texts = texts | json_values

chat_types = st.sampled_from(["private", "group", "supergroup", "channel", "", "unknown", "Private"]) | json_scalars


def chats(id_strategy: st.SearchStrategy[Any] = odd_ids) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"id": id_strategy},
        optional={"type": chat_types, "username": odd_texts, "title": odd_texts, "first_name": odd_texts},
    )


users = st.fixed_dictionaries(
    {}, optional={"id": odd_ids, "is_bot": json_scalars, "username": odd_texts, "first_name": odd_texts}
)
entities = st.lists(
    st.fixed_dictionaries({}, optional={"type": st.sampled_from(["bot_command", "mention", "bold"]) | json_scalars,
                                        "offset": odd_ids, "length": odd_ids}) | json_values,
    max_size=3,
) | json_scalars
quoted_messages = st.fixed_dictionaries(
    {}, optional={"message_id": odd_ids, "from": users | json_scalars, "text": odd_texts, "caption": odd_texts, "chat": chats()}
)


def messages(chat_strategy: st.SearchStrategy[Any], message_ids: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {},
        optional={
            "message_id": message_ids,
            "chat": chat_strategy,
            "from": users | json_scalars,
            "date": odd_ids,
            "text": odd_texts,
            "caption": odd_texts,
            "entities": entities,
            "caption_entities": entities,
            "reply_to_message": quoted_messages | json_values,
            "sticker": json_values,
            "photo": json_values,
            "new_chat_members": json_values,
        },
    )


# Messages with a valid chat and id but anything inside, and messages broken anywhere.
chat_ids = st.sampled_from([1001, 1002, -500]) | st.sampled_from([1001, -100123]) | ids  # chats recur: bursts
plausible_chats = st.fixed_dictionaries(
    {"id": chat_ids, "type": st.sampled_from(["private", "private", "group", "supergroup", "channel"])},
    optional={"username": st.sampled_from(["alice", "Bob"]) | odd_texts, "title": odd_texts},
)
plausible_users = st.fixed_dictionaries(
    {"id": st.sampled_from([1001, 1002, BOT_ID]) | ids},
    optional={"username": st.sampled_from(["alice", "Bob", BOT_USERNAME]) | odd_texts, "is_bot": st.booleans(), "first_name": texts},
)
plausible_quoted = st.fixed_dictionaries(
    {"message_id": st.integers(1, 100), "from": plausible_users}, optional={"text": texts, "caption": texts}
)
plausible_extras = {
    "from": plausible_users,
    "date": st.integers(0, 2**32) | odd_ids,
    "entities": entities,
    "reply_to_message": plausible_quoted | quoted_messages,
}
plausible_messages = st.one_of(
    st.fixed_dictionaries(
        {"message_id": st.integers(1, 2**31), "chat": plausible_chats, "text": texts}, optional=plausible_extras
    ),
    st.fixed_dictionaries(
        {"message_id": st.integers(1, 2**31), "chat": plausible_chats},
        optional={**plausible_extras, "caption": odd_texts, "text": odd_texts, "sticker": json_values, "photo": json_values},
    ),
)
plain_questions = st.fixed_dictionaries(  # what most updates are: bursts come from these
    {
        "message_id": st.integers(1, 2**31),
        "chat": st.fixed_dictionaries({"id": st.sampled_from([1001, 1002]), "type": st.just("private")}),
        "text": texts.filter(str.strip),
    },
    optional=plausible_extras,
)
any_messages = st.one_of(
    plain_questions,plausible_messages, plausible_messages, plausible_messages, messages(chats() | json_values, odd_ids))
update_kinds = st.sampled_from(["message", "edited_message", "channel_post", "callback_query", "my_chat_member", "poll"])


@st.composite
def update_batches(draw: st.DrawFn) -> list[Any]:
    """A page of updates as getUpdates might return it, in any order: valid ids are unique, some are not ids at all."""
    count = draw(st.integers(0, 12))
    valid_ids = draw(st.lists(st.integers(0, 2**53), min_size=count, max_size=count, unique=True))
    batch: list[Any] = []
    for update_id in valid_ids:
        update: dict[str, Any] = {"update_id": update_id}
        kind = draw(st.sampled_from(["message"] * 4) | update_kinds)
        update[kind] = draw(any_messages if kind != "poll" else json_values)
        batch.append(update)
    broken = draw(st.lists(
        json_values
        | st.fixed_dictionaries({"update_id": st.text(max_size=5) | st.booleans() | st.floats() | st.none()},
                                optional={"message": any_messages})
        | st.fixed_dictionaries({}, optional={"message": any_messages}),
        max_size=4,
    ))
    return draw(st.permutations(batch + broken))


def valid_update_id(update: Any) -> int | None:
    value = update.get("update_id") if isinstance(update, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def places(update: dict[str, Any]) -> tuple[set[int], set[int]]:
    """The chat ids and message ids this update's payloads name: where a reply to it may go."""
    chat_ids, message_ids = set(), set()
    for payload in update.values():
        if isinstance(payload, dict) and isinstance(payload.get("chat"), dict):
            chat_ids.add(payload["chat"].get("id"))
            message_ids.add(payload.get("message_id"))
    return chat_ids, message_ids


rules = st.builds(
    ChatRules,
    groups=st.sampled_from(["mention", "all", "off"]),
    merge_bursts=st.booleans(),
    reply_context=st.booleans(),
    allow=st.lists(st.sampled_from(["@alice", "1001", "-500", "@BOTJOB_SANDBOX_BOT"]) | st.text(max_size=6), max_size=3).map(tuple),
    greeting=st.sampled_from(["", "Hi {schedule} {x}", "hello"]),
    help=st.sampled_from(["", " ", "Help {schedule}"]),
    reset=st.sampled_from(["", "Forgotten."]),
    non_text=st.sampled_from(["", "Text only, please."]),
    refusal=st.sampled_from(["", "Not for you."]),
    schedule=st.sampled_from(["every few minutes", "{schedule}", ""]),
)
identities = st.builds(BotIdentity, st.sampled_from([BOT_ID, 0, 1001]) | ids, st.sampled_from([BOT_USERNAME, "", "a.b*c", "x" * 40]))


# ----------------------------------------------------------------------------- (a) planning


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=update_batches(), bot=identities, chat_rules=rules)
def test_plan_puts_every_update_with_an_id_in_exactly_one_work_in_order(batch: list[Any], bot: BotIdentity, chat_rules: ChatRules) -> None:
    works = conversation.plan(batch, bot, chat_rules)

    with_ids = {i: u for u in batch if (i := valid_update_id(u)) is not None}
    planned = Counter(i for work in works for i in work.update_ids)
    assert planned == Counter(list(with_ids)), "every update with an id is in exactly one Work, and nothing else is"
    firsts = [work.update_ids[0] for work in works]
    assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts), "works ordered by their first update id"
    for work in works:
        if work.action is Action.SKIP:
            continue
        # A reply goes to the chat its updates came from, threaded to one of their messages.
        chat_sets, message_sets = zip(*(places(with_ids[i]) for i in work.update_ids))
        assert all(work.chat_id in chat_ids for chat_ids in chat_sets)
        assert work.reply_to is None or any(work.reply_to in message_ids for message_ids in message_sets)
        if work.action is Action.ASK:
            assert work.turns and all(isinstance(t.get("content"), str) and t["content"].strip() for t in work.turns)
        elif work.action is Action.SAY:
            assert work.text.strip(), "a fixed reply is never empty (an emptied text means silence: SKIP)"


# ----------------------------------------------------------------------------- (b) splitting long replies

words = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")), min_size=1, max_size=12) | emoji.filter(
    lambda w: w.strip() == w and w and not any(c.isspace() for c in w)
)
separators = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", ". ", "! ", "? ", "… ", "\u00a0", " \n "])


def words_of(parts: list[str]) -> list[str]:
    return [word for part in parts for word in part.split()]


def formatted_characters(text: str, entities: Any) -> Counter[str]:
    """How many characters (not spaces) each kind of formatting covers: what people see formatted."""
    units = text.encode("utf-16-le")
    spots: dict[str, set[int]] = {}
    for e in entities:
        spots.setdefault(e["type"], set()).update(range(e["offset"], e["offset"] + e["length"]))
    return Counter({kind: sum(not units[2 * i: 2 * i + 2].decode("utf-16-le", "replace").isspace() for i in where)
                    for kind, where in spots.items()})


def assert_parts_acceptable(parts: list[str], limit: int) -> None:
    assert all(utf16_len(part) <= limit for part in parts), [utf16_len(p) for p in parts]
    assert all(part.strip() for part in parts), "no empty or blank part (Telegram refuses them)"


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=400) | huge_texts | emoji, limit=st.integers(2, 300) | st.just(4096))
def test_split_parts_fit_and_keep_every_character(text: str, limit: int) -> None:
    parts = split_for_telegram(text, limit)
    assert_parts_acceptable(parts, limit)
    # A word longer than a part has to be cut, but nothing is lost, added or reordered.
    assert "".join(words_of(parts)) == "".join(text.split())
    assert (parts == []) == (text.strip() == "")


@settings(max_examples=100, deadline=None)
@given(
    pieces=st.lists(st.tuples(words, separators), min_size=1, max_size=80),
    repeat=st.integers(1, 60),
    limit=st.integers(100, 400) | st.just(4096),
)
def test_split_keeps_the_words_of_ordinary_text(pieces: list[tuple[str, str]], repeat: int, limit: int) -> None:
    """Words far shorter than a part are never cut: the parts' words are the text's words."""
    text = "".join(word + separator for word, separator in pieces) * repeat
    parts = split_for_telegram(text, limit)
    assert_parts_acceptable(parts, limit)
    assert words_of(parts) == text.split()


@settings(max_examples=20, deadline=None)
@given(pieces=st.lists(st.tuples(words, separators), min_size=5, max_size=40), repeat=st.integers(100, 400))
def test_split_a_very_long_reply_for_telegram(pieces: list[tuple[str, str]], repeat: int) -> None:
    text = "".join(word + separator for word, separator in pieces) * repeat
    parts = split_for_telegram(text)
    assert_parts_acceptable(parts, conversation.TELEGRAM_TEXT_LIMIT)
    assert words_of(parts) == text.split()


# ----------------------------------------------------------------------------- (c) checkpoints


@settings(max_examples=150, deadline=None)
@given(
    update_ids=st.lists(st.integers(0, 400), min_size=1, max_size=40, unique=True).map(sorted),
    page_size=st.integers(1, 12),
    start_below=st.integers(0, 50),
    data=st.data(),
)
def test_checkpoint_never_passes_an_unfinished_update_whatever_the_finishing_order(
    update_ids: list[int], page_size: int, start_below: int, data: st.DataObject
) -> None:
    """Pages fetched from the offset, finished in any order, runs cut short at any point and restarted."""
    checkpoint = Checkpoint(max(0, update_ids[0] - start_below))
    done: set[int] = set()
    fetched: set[int] = set()
    for _ in range(10 * len(update_ids) + 10):
        page = [i for i in update_ids if i >= checkpoint.offset][:page_size]  # what getUpdates returns
        if not page:
            break
        fetched.update(page)
        fetched_up_to = max(page)
        waiting = [i for i in page if not checkpoint.is_finished(i)]
        if not waiting:  # a page answered in an earlier run
            checkpoint = checkpoint.finish(fetched_up_to, still_waiting=(), fetched_up_to=fetched_up_to)
            continue
        order = data.draw(st.permutations(waiting), label="finishing order")
        finished_before_crash = data.draw(st.integers(1, len(order)), label="finished before the run stops")
        for position, update_id in enumerate(order[:finished_before_crash]):
            done.add(update_id)
            after = checkpoint.finish(update_id, still_waiting=order[position + 1 :], fetched_up_to=fetched_up_to)
            assert after.offset >= checkpoint.offset, "the offset never goes back"
            assert all(i >= after.offset for i in fetched - done), "the offset never passes an unfinished update"
            for i in fetched:
                assert after.is_finished(i) == (i in done), f"update {i}: finished is exactly what was done"
            checkpoint = Checkpoint(after.offset, after.finished)  # what the next run loads
    else:
        pytest.fail("the pages never ran out: the offset is stuck")
    assert done == set(update_ids)
    assert checkpoint.offset == max(update_ids) + 1
    assert checkpoint.finished == frozenset()


# ----------------------------------------------------------------------------- (d) whole runs on garbage


class EscapingModelSandbox(ModelSandbox):
    """The model sandbox, sending a scripted answer JSON-escaped as ASCII, as many servers do.

    That way any string arrives, even one a UTF-8 body could not carry raw
    (a lone surrogate, which JSON can still spell as \\ud83d).
    """

    PLACEHOLDER = "<<the answer>>"

    def __init__(self) -> None:
        super().__init__()
        self.answer: str | None = None

    def say(self, answer: str | None) -> None:
        """Answer every question with this text; None goes back to the echo."""
        self.answer = answer
        self.reply_with(None if answer is None else self.PLACEHOLDER)

    def handle(self, request: Any) -> Any:
        response = super().handle(request)
        if self.answer is not None:
            escaped = json.dumps(self.answer, ensure_ascii=True)[1:-1].encode("ascii")
            response.body = response.body.replace(json.dumps(self.PLACEHOLDER)[1:-1].encode("ascii"), escaped)
        return response


@pytest.fixture(scope="module")
def sandboxes() -> Iterator[tuple[TelegramSandbox, EscapingModelSandbox]]:
    with TelegramSandbox(token=FAKE_TOKEN) as telegram, EscapingModelSandbox() as model:
        yield telegram, model


def ask_with_scripted_answer(
    telegram: TelegramSandbox, model: EscapingModelSandbox, question: str, chat_id: int, answer: str, config: Config | None = None
) -> list[dict[str, Any]]:
    """One question, the model answering ``answer``, one run: it must end well, past the question, with a reply."""
    update_id = telegram.user_says(question, chat_id=chat_id)
    sent_before = len(telegram.sent())
    model.say(answer)
    try:
        report, stored = run_job(telegram, model, config or Config())
    finally:
        model.say(None)
    assert report.error is None, report.error
    assert stored["offset"] > update_id
    parts = [m for m in telegram.sent()[sent_before:] if m["chat_id"] == chat_id]
    assert parts
    return parts


def run_job(telegram: TelegramSandbox, model: ModelSandbox, config: Config | None = None) -> tuple[Any, dict[str, Any]]:
    """One `botjob run` as the CLI wires it, on a fresh state/ and a still clock; the report and offset.json."""
    with tempfile.TemporaryDirectory() as directory:
        state_dir = Path(directory) / "state"
        env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url}
        job = build_job(config or Config(), env, state_dir)
        clock = FakeClock()
        job.clock, job.sleep = clock, clock.sleep
        try:
            report = job.run_once()
        finally:
            job.bot.close()
        return report, json.loads((state_dir / "offset.json").read_text(encoding="utf-8"))




# The sandbox keeps what it is given as Telegram would; it only needs a chat it records to have an id,
# and a message in such a chat to have an integer id (or none: then it numbers it).
sandbox_chats = chats(ids | st.text(max_size=6))
recordable_messages = messages(sandbox_chats | json_scalars | st.lists(json_scalars, max_size=2), st.integers(1, 2**31))
raw_messages = plausible_messages.map(lambda m: {k: v for k, v in m.items() if k != "message_id"}) | messages(
    sandbox_chats, st.integers(1, 2**31)
)  # add_message needs a chat mapping, or none
updates_to_queue = st.one_of(
    st.tuples(st.just("say"), texts, st.sampled_from([1001, 1002, -500, -100123]), st.sampled_from(["private", "group", "supergroup"])),
    st.tuples(st.just("add_message"), raw_messages),
    st.tuples(update_kinds.filter(lambda k: k != "callback_query"), recordable_messages),
    st.tuples(st.just("callback_query"), st.fixed_dictionaries({}, optional={"data": json_values, "from": users})),
)


def queue(telegram: TelegramSandbox, item: tuple[Any, ...]) -> int:
    if item[0] == "say":
        _, text, chat_id, chat_type = item
        return telegram.user_says(text, chat_id=chat_id, chat_type=chat_type)
    if item[0] == "add_message":
        return telegram.add_message(item[1])
    return telegram.add_update(item[0], item[1])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(updates_to_queue, min_size=1, max_size=6))
def test_a_run_gets_through_any_batch_of_updates(sandboxes: tuple[TelegramSandbox, ModelSandbox], batch: list[tuple[Any, ...]]) -> None:
    telegram, model = sandboxes
    queued = [queue(telegram, item) for item in batch]
    # A plain question last: only a run that finished everything before it gets past it.
    queued.append(telegram.user_says("and the last question", chat_id=4242))
    sent_before = len(telegram.sent())

    report, stored = run_job(telegram, model)

    assert report.error is None, report.error
    assert stored["offset"] > max(queued)
    replies = telegram.sent()[sent_before:]
    assert [m["text"] for m in replies if m["chat_id"] == 4242] == ["Echo: and the last question"]


# ----------------------------------------------------------------------------- (e) whatever the model says

model_answers = (
    st.text(max_size=300)
    | huge_texts
    | emoji
    | blank
    | st.builds(lambda thought, answer: f"<think>{thought}</think>{answer}", st.text(max_size=40), st.text(max_size=40))
    | st.builds(lambda thought, answer: f"{thought}</think>{answer}", st.text(max_size=40), st.text(max_size=40))
    | st.sampled_from(["<think>never closed", "*bold* _it_ [link](x) <b>", "\x00\x1b[31m", "A.\n\nB!\nC? " * 800])
)
# Lists with more formatting than one message may carry (Telegram applies 100 entities of a message).
formatted_lists = st.builds(
    lambda item, count: "\n".join("- " + item.format(n) for n in range(count)),
    st.sampled_from(["**item {0}**", "*it {0}* and `code {0}`", "**bold *it {0}* [link](https://e.com/{0})**"]),
    st.integers(40, 260),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(answer=model_answers)
def test_whatever_the_model_says_the_question_is_answered_and_finished(
    sandboxes: tuple[TelegramSandbox, EscapingModelSandbox], answer: str
) -> None:
    plain = dataclasses.replace(Config(), chat=dataclasses.replace(Config().chat, format="plain"))
    parts = ask_with_scripted_answer(*sandboxes, "tell me something", 5151, answer, plain)
    assert len({m["reply_to_message_id"] for m in parts}) == 1
    assert_parts_acceptable([m["text"] for m in parts], conversation.TELEGRAM_TEXT_LIMIT)
    shown = conversation.clean_model_text(answer) or Config().reply.empty
    # All of the model's words, in order (a "word" longer than a message is cut in two).
    assert "".join(words_of([m["text"] for m in parts])) == "".join(shown.split())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(answer=model_answers | formatted_lists)
@example(answer="\n".join(f"- **item {n}**" for n in range(150)))
def test_whatever_markdown_the_model_writes_the_question_is_answered_with_formatting_telegram_accepts(
    sandboxes: tuple[TelegramSandbox, EscapingModelSandbox], answer: str
) -> None:
    telegram = sandboxes[0]
    calls_before = len(telegram.calls)
    parts = ask_with_scripted_answer(*sandboxes, "tell me something", 5353, answer)  # the stand-in checks every entity
    assert len({m["reply_to_message_id"] for m in parts}) == 1
    assert_parts_acceptable([m["text"] for m in parts], conversation.TELEGRAM_TEXT_LIMIT)
    # Every entity sent is applied: at most 100 a message, as Telegram counts them (the stand-in
    # records only those it applies).
    given = [params.get("entities") or [] for method, params in telegram.calls[calls_before:]
             if method == "sendMessage" and params.get("chat_id") == 5353]
    assert all(len(m["entities"]) <= 100 for m in parts)
    assert [m["entities"] for m in parts] == given
    whole = formatting.from_markdown(conversation.clean_model_text(answer) or Config().reply.empty)
    if whole.text.strip():  # else the words went as they were
        seen = sum((formatted_characters(m["text"], m["entities"]) for m in parts), Counter())
        assert seen == formatted_characters(whole.text, whole.entities)  # no formatting lost across the parts


def test_a_model_answer_with_half_an_emoji_is_still_delivered(sandboxes: tuple[TelegramSandbox, EscapingModelSandbox]) -> None:
    parts = [m["text"] for m in ask_with_scripted_answer(*sandboxes, "an emoji please", 5252, "Here you go: \ud83d and more")]
    assert parts[0].startswith("Here you go:")
