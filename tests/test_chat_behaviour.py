"""How the bot behaves in a chat, told as stories against the sandbox over real HTTP.

People write (in private chats and in groups), the job runs, people see replies.
Each story checks what reached Telegram (tg.sent / tg.calls), what the model was
asked (model.requests) and where the stored offset ended.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from botjob import wiring
from botjob.config import AccessSettings, ChatSettings, Config, ReplySettings, parse_config
from botjob.conversation import utf16_len
from botjob.errors import ConfigError
from botjob.sandbox import TelegramSandbox
from botjob.wiring import build_job, schedule_in_words
from conftest import FAKE_TOKEN, message_id_of, stored_offset

REPO = Path(__file__).resolve().parent.parent
BOT_ID = 123456789
STATE_KEY = Fernet.generate_key().decode()  # a ready Fernet key: no slow key stretching in the tests

ALICE, BOB, CAROL, DAVE, ERIN, FRANK, GRACE, HEIDI = 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008
GROUP, OTHER_GROUP, CHANNEL = -100_777, -100_888, -100_999


# ----------------------------------------------------------------------------- fixtures


class LateFilterSandbox(TelegramSandbox):
    """Telegram just after allowed_updates changed: updates created before the call still arrive
    ("this parameter doesn't affect updates created before the call to getUpdates")."""

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return super()._get_updates({k: v for k, v in params.items() if k != "allowed_updates"})


@pytest.fixture
def telegram(request: pytest.FixtureRequest):
    """conftest's sandbox; parametrize indirectly with "delivers everything" for a Telegram that
    still hands out edits, button presses and channel posts."""
    kind = getattr(request, "param", "filters")
    server_class = LateFilterSandbox if kind == "delivers everything" else TelegramSandbox
    with server_class(token=FAKE_TOKEN) as server:
        yield server


BOTH_FILTERINGS = pytest.mark.parametrize("telegram", ["filters", "delivers everything"], indirect=True)


def on_fake_time(job, clock):
    """Retries and the pacing of sends wait on the fake clock: no real sleeps."""
    job.clock, job.sleep = clock, clock.sleep
    job.pacer = type(job.pacer)(clock, clock.sleep)
    return job


@pytest.fixture
def make_memory_job(env, state_dir, clock):
    """A job as `python -m botjob run` builds it, with BOTJOB_STATE_KEY set (needed for memory)."""

    def make(config: Config, key: str = STATE_KEY):
        return on_fake_time(build_job(config, {**env, "BOTJOB_STATE_KEY": key}, state_dir), clock)

    return make


@pytest.fixture(autouse=True)
def schedule_worked_out_once(monkeypatch) -> None:
    """Every job reads the workflow's cron line for /start and /help; the answer never changes here."""
    monkeypatch.setattr(wiring, "schedule_in_words", schedule, raising=False)


# ----------------------------------------------------------------------------- helpers


@functools.cache
def schedule() -> str:
    """The workflow's schedule in words, as /start and /help say it (slow to work out: once)."""
    return schedule_in_words()


def settings(**sections: object) -> Config:
    return dataclasses.replace(Config(), **sections)




def texts(telegram: TelegramSandbox, chat_id: int | None = None) -> list[str]:
    return [m["text"] for m in telegram.sent(chat_id)]


def prompts(model) -> list[list[dict[str, str]]]:
    """The chat messages of every question the model was asked, in order."""
    return [r["json"]["messages"] for r in model.requests if r["method"] == "POST"]


def questions(model) -> list[str]:
    """The last user turn of every question the model was asked."""
    return [next(m["content"] for m in reversed(p) if m["role"] == "user") for p in prompts(model)]


def calls_of(telegram: TelegramSandbox, method: str) -> list[dict[str, Any]]:
    return [params for name, params in telegram.calls if name == method]


def in_group(telegram: TelegramSandbox, text: str, *, user_id: int = FRANK, chat_id: int = GROUP,
             chat_type: str = "group", **kwargs: Any) -> int:
    return telegram.user_says(text, chat_id=chat_id, chat_type=chat_type, user_id=user_id,
                              first_name="Frank", chat_title="Hikers", **kwargs)


MENU = "/start - what this bot does\n/help - how to use it"


def help_text(job) -> str:
    """The help as people see it: the schedule in words and the menu (without /reset: no memory here)."""
    return job.config.reply.help.replace("{schedule}", schedule()).replace("{commands}", MENU)


def mention(telegram: TelegramSandbox) -> str:
    return f"@{telegram.bot_username}"


def sticker(chat_id: int, chat_type: str = "private", **extra: Any) -> dict[str, Any]:
    chat = {"id": chat_id, "type": chat_type, "first_name": "Carol"} if chat_type == "private" else \
        {"id": chat_id, "type": chat_type, "title": "Hikers"}
    return {"chat": chat, "from": {"id": CAROL, "is_bot": False, "first_name": "Carol"},
            "sticker": {"file_id": "CAACAgIAAxkBAAE", "width": 512, "height": 512, "emoji": "👍"}, **extra}


def photo(chat_id: int, caption: str | None, chat_type: str = "private") -> dict[str, Any]:
    chat = {"id": chat_id, "type": chat_type, "first_name": "Dave"} if chat_type == "private" else \
        {"id": chat_id, "type": chat_type, "title": "Hikers"}
    message: dict[str, Any] = {"chat": chat, "from": {"id": DAVE, "is_bot": False, "first_name": "Dave"},
                               "photo": [{"file_id": "AgACAgIAAxkBAAI", "width": 90, "height": 90}]}
    if caption is not None:
        message["caption"] = caption
    return message


def all_state_bytes(state_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(state_dir)): p.read_bytes() for p in sorted(state_dir.rglob("*")) if p.is_file()}


# ============================================================================ 1. commands


@pytest.mark.parametrize(
    "chat_id, chat_type, command",
    [(ALICE, "private", "/start"), (GROUP, "group", "/start@botjob_sandbox_bot"), (GROUP, "supergroup", "/start")],
)
def test_start_greets_and_says_how_often_the_bot_reads(telegram, model, make_job, chat_id, chat_type, command) -> None:
    start = telegram.user_says(command, chat_id=chat_id, chat_type=chat_type)
    question = message_id_of(telegram, start)
    job = make_job()

    job.run_once()

    [greeting] = telegram.sent(chat_id)
    assert greeting["text"] == job.config.reply.greeting.replace("{schedule}", schedule())
    assert schedule() in greeting["text"] and "{schedule}" not in greeting["text"]
    assert greeting["reply_to_message_id"] == question
    assert prompts(model) == []  # a command costs no model call


@pytest.mark.parametrize("chat_id, chat_type, command",
                         [(ALICE, "private", "/help"), (GROUP, "group", "/help@botjob_sandbox_bot")])
def test_help_explains_how_to_use_the_bot(telegram, model, make_job, chat_id, chat_type, command) -> None:
    telegram.user_says(command, chat_id=chat_id, chat_type=chat_type)
    job = make_job()
    job.run_once()
    assert texts(telegram, chat_id) == [help_text(job)]
    assert "/help - how to use it" in texts(telegram)[0] and prompts(model) == []
    assert "/reset" not in texts(telegram)[0]  # nothing to forget without memory


def test_with_memory_on_the_help_and_the_menu_offer_reset(telegram, model, make_memory_job) -> None:
    telegram.user_says("/help", chat_id=ALICE)
    make_memory_job(settings(chat=ChatSettings(memory_turns=2))).run_once()
    assert "\n/reset - forget our conversation\n" in texts(telegram, ALICE)[0]
    assert [c["command"] for c in telegram.commands] == ["start", "help", "reset", "persona"]  # a state key keeps personas


def test_an_unknown_command_in_private_gets_the_help_but_in_a_group_only_when_addressed(telegram, model, make_job) -> None:
    telegram.user_says("/weather", chat_id=ALICE)
    in_group(telegram, "/weather")  # probably for another bot in the group
    in_group(telegram, "/weather@botjob_sandbox_bot", chat_id=OTHER_GROUP)
    job = make_job()

    job.run_once()

    help = help_text(job)
    assert texts(telegram, ALICE) == [help]
    assert texts(telegram, GROUP) == []
    assert texts(telegram, OTHER_GROUP) == [help]
    assert prompts(model) == []


@pytest.mark.parametrize("chat_id, chat_type", [(GROUP, "group"), (ALICE, "private")])
def test_a_command_for_another_bot_gets_nothing(telegram, model, make_job, state_dir, chat_id, chat_type) -> None:
    last = telegram.user_says("/start@other_helper_bot", chat_id=chat_id, chat_type=chat_type)
    report = make_job().run_once()
    assert telegram.sent() == [] and prompts(model) == []
    assert report.skipped == 1 and stored_offset(state_dir) == last + 1


def test_a_command_addressed_to_this_bot_by_name_in_private_is_answered(telegram, make_job) -> None:
    telegram.user_says(f"/help{mention(telegram)}", chat_id=ALICE)
    job = make_job()
    job.run_once()
    assert texts(telegram, ALICE) == [help_text(job)]


@pytest.mark.parametrize("chat_id, chat_type, command",
                         [(ALICE, "private", "/reset"), (GROUP, "group", "/reset@botjob_sandbox_bot")])
def test_reset_answers_and_forgets_only_that_chats_memory(telegram, model, make_memory_job, state_dir,
                                                          chat_id, chat_type, command) -> None:
    config = settings(chat=ChatSettings(memory_turns=3))
    prefix = f"{mention(telegram)} " if chat_type != "private" else ""
    telegram.user_says(f"{prefix}my name is Ada", chat_id=chat_id, chat_type=chat_type)
    telegram.user_says("my name is Bea", chat_id=BOB)
    job = make_memory_job(config)
    job.run_once()
    memory_file, other_file = job.memory.path(chat_id), job.memory.path(BOB)
    assert memory_file.exists() and other_file.exists()

    telegram.user_says(command, chat_id=chat_id, chat_type=chat_type)
    make_memory_job(config).run_once()

    assert texts(telegram, chat_id)[-1] == config.reply.reset
    assert not memory_file.exists() and other_file.exists()

    telegram.user_says(f"{prefix}what is my name?", chat_id=chat_id, chat_type=chat_type)
    make_memory_job(config).run_once()
    assert "Ada" not in json.dumps(prompts(model)[-1])  # forgotten


def test_reset_without_memory_still_answers(telegram, make_job) -> None:
    telegram.user_says("/reset", chat_id=ALICE)
    job = make_job()
    job.run_once()
    assert texts(telegram, ALICE) == [job.config.reply.reset]


def test_the_command_menu_is_registered_once(telegram, make_job) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    assert [c["command"] for c in telegram.commands] == ["start", "help"]  # /reset only when memory is on
    assert all(c["description"] for c in telegram.commands)

    telegram.user_says("hello again", chat_id=ALICE)
    in_group(telegram, f"{mention(telegram)} and hello from the group")
    make_job().run_once()  # a new process: it knows the menu from state/

    assert len(calls_of(telegram, "setMyCommands")) == 1
    assert texts(telegram, ALICE) == ["Echo: hello", "Echo: hello again"]
    assert texts(telegram, GROUP) == ["Echo: and hello from the group"]


@pytest.mark.parametrize("error_code", [400, 500])
def test_a_failing_command_menu_does_not_stop_answering_and_is_tried_again(telegram, make_job, state_dir, error_code) -> None:
    telegram.fail("setMyCommands", error_code)
    last = telegram.user_says("hello", chat_id=ALICE)
    report = make_job().run_once()
    assert texts(telegram) == ["Echo: hello"] and report.error is None
    assert stored_offset(state_dir) == last + 1 and telegram.commands == []

    telegram.user_says("hello again", chat_id=ALICE)
    make_job().run_once()
    assert [c["command"] for c in telegram.commands] == ["start", "help"]


def test_with_a_stay_the_first_question_after_the_greeting_is_answered_by_the_same_run(telegram, model, env, state_dir) -> None:
    from botjob.config import RunSettings

    telegram.user_says("/start", chat_id=ALICE)

    def newcomer() -> None:  # reads the greeting, then asks (real time: the stand-in long-polls as Telegram does)
        while not telegram.sent():
            time.sleep(0.02)
        telegram.user_says("what can you do?", chat_id=ALICE)

    threading.Thread(target=newcomer, daemon=True).start()
    report = build_job(settings(run=RunSettings(stay=3)), env, state_dir).run_once()

    assert texts(telegram, ALICE)[1:] == ["Echo: what can you do?"]  # a greeting counts: someone is there, reading
    assert report.answered == 2 and report.answered_while_staying == 1


# ============================================================================ 2. bursts


@pytest.mark.parametrize("chat_id, chat_type", [(ALICE, "private"), (GROUP, "group")])
def test_a_burst_from_one_chat_is_one_question_and_one_reply_threaded_to_the_last(
        telegram, model, make_job, state_dir, chat_id, chat_type) -> None:
    prefix = f"{mention(telegram)} " if chat_type != "private" else ""
    words = ["I am planning a trip", "to Lisbon in May", "what should I pack?"]
    ids = [telegram.user_says(prefix + w, chat_id=chat_id, chat_type=chat_type, user_id=ALICE) for w in words]
    last_message = message_id_of(telegram, ids[-1])

    report = make_job().run_once()

    [prompt] = prompts(model)
    user_turns = [m["content"] for m in prompt if m["role"] == "user"]
    assert user_turns == ["\n\n".join(words)]  # all three, in order, in one turn
    [reply] = telegram.sent(chat_id)
    assert reply["reply_to_message_id"] == last_message
    assert report.answered == 3 and stored_offset(state_dir) == ids[-1] + 1


def test_a_burst_is_broken_by_a_command_in_between(telegram, model, make_job) -> None:
    telegram.user_says("first question", chat_id=ALICE)
    telegram.user_says("/help", chat_id=ALICE)
    telegram.user_says("second question", chat_id=ALICE)
    make_job().run_once()
    assert questions(model) == ["first question", "second question"]
    assert texts(telegram, ALICE)[0] == "Echo: first question" and texts(telegram, ALICE)[2] == "Echo: second question"


def test_without_merging_every_message_of_a_burst_gets_its_own_reply(telegram, model, make_job) -> None:
    words = ["one", "two", "three"]
    ids = [telegram.user_says(w, chat_id=ALICE) for w in words]
    threads = [message_id_of(telegram, i) for i in ids]

    make_job(settings(chat=ChatSettings(merge_bursts=False))).run_once()

    assert [(m["text"], m["reply_to_message_id"]) for m in telegram.sent(ALICE)] == [
        (f"Echo: {w}", t) for w, t in zip(words, threads)
    ]
    assert questions(model) == words


# ============================================================================ 3. what the model says, as Telegram shows it


def test_a_long_answer_arrives_in_threaded_parts_in_order_with_words_intact(telegram, model, make_job) -> None:
    answer = " ".join(f"word{n:04d}" for n in range(1000))  # 8,999 characters, no line breaks
    assert len(answer) > 2 * 4096
    model.reply_with(answer)
    question = message_id_of(telegram, telegram.user_says("tell me a long story", chat_id=ALICE))

    make_job().run_once()

    parts = telegram.sent(ALICE)
    assert len(parts) == 3
    assert all(utf16_len(p["text"]) <= 4096 for p in parts)
    assert all(p["reply_to_message_id"] == question for p in parts)
    assert " ".join(p["text"] for p in parts) == answer  # in order, and no word cut in two


def test_an_emoji_heavy_answer_is_measured_in_utf16_units(telegram, model, make_job) -> None:
    answer = " ".join(["🎉🎉🎉"] * 900)  # 3,599 characters for Python, 6,299 UTF-16 units for Telegram
    assert len(answer) <= 4096 < utf16_len(answer)
    model.reply_with(answer)
    telegram.user_says("celebrate!", chat_id=ALICE)

    report = make_job().run_once()

    parts = texts(telegram, ALICE)
    assert len(parts) == 2 and report.failed == 0
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert all(p.encode("utf-8") for p in parts)  # no surrogate pair cut in half (that would not encode)
    assert " ".join(parts) == answer


@pytest.mark.parametrize("output", ["", "   \n\t  ", "<think>The user says hi.</think>", "<think>\nI keep thinking",
                                    "<think>hmm</think>\n\n   "])
def test_an_empty_answer_gets_the_empty_text(telegram, model, make_job, output) -> None:
    model.reply_with(output)
    telegram.user_says("hi", chat_id=ALICE)
    job = make_job()
    job.run_once()
    assert texts(telegram, ALICE) == [job.config.reply.empty]


@pytest.mark.parametrize("output", ["[x]: http://a", "```\n```"])  # a link definition, an empty code block
def test_an_answer_whose_markdown_shows_nothing_is_sent_as_it_came(telegram, model, make_job, state_dir, output) -> None:
    model.reply_with(output)
    last = telegram.user_says("hi", chat_id=ALICE)
    question = message_id_of(telegram, last)
    make_job().run_once()
    [reply] = telegram.sent(ALICE)
    assert reply["text"] == output and reply["reply_to_message_id"] == question
    assert stored_offset(state_dir) == last + 1


def test_with_the_empty_text_emptied_an_empty_answer_is_silence_and_the_question_is_finished(telegram, model, make_job, state_dir) -> None:
    model.reply_with("")
    last = telegram.user_says("hi", chat_id=ALICE)
    make_job(settings(reply=dataclasses.replace(Config().reply, empty=""))).run_once()
    assert telegram.sent() == [] and stored_offset(state_dir) == last + 1


@pytest.mark.parametrize("output", ["<think>The user wants the capital.</think>Lima.",
                                    "The user wants the capital.</think>\nLima.",  # template opened the block
                                    "<THINK>first</THINK>Lima.<think>second</think>"])
def test_reasoning_is_never_shown(telegram, model, make_job, output) -> None:
    model.reply_with(output)
    telegram.user_says("capital of Peru?", chat_id=ALICE)
    make_job().run_once()
    assert texts(telegram, ALICE) == ["Lima."]


FORMATTED_ANSWER = """**Lima** is the capital. Use `print()` to show it:

- first item
- second item

See [the map](https://example.com/peru).

```python
print("Lima")
```"""


def entity_texts(message: dict[str, Any]) -> list[tuple[str, str]]:
    """(type, covered text) of each entity, as people see the formatting."""
    units = message["text"].encode("utf-16-le")
    return [(e["type"], units[2 * e["offset"]: 2 * (e["offset"] + e["length"])].decode("utf-16-le"))
            for e in message["entities"]]


def test_the_models_markdown_arrives_as_telegram_formatting_without_markers(telegram, model, make_job) -> None:
    model.reply_with(FORMATTED_ANSWER)
    telegram.user_says("capital of Peru?", chat_id=ALICE)
    make_job().run_once()

    [message] = telegram.sent(ALICE)
    assert not any(marker in message["text"] for marker in ("**", "`", "```", "](", "- first"))
    assert message["parse_mode"] is None
    assert entity_texts(message) == [
        ("bold", "Lima"), ("code", "print()"), ("text_link", "the map"), ("pre", 'print("Lima")'),
    ]
    assert "first item" in message["text"] and "second item" in message["text"]
    assert [e.get("language") for e in message["entities"] if e["type"] == "pre"] == ["python"]
    assert [e.get("url") for e in message["entities"] if e["type"] == "text_link"] == ["https://example.com/peru"]


def test_no_word_is_lost_to_markdowns_html_or_emphasis_rules(telegram, model, make_job) -> None:
    words = "Use List<String> in a <tag>, I <3 it; snake_case and 3 * 4 = 12_000, a || b."
    model.reply_with(words)
    telegram.user_says("show me", chat_id=ALICE)
    make_job().run_once()
    assert texts(telegram, ALICE) == [words]


def test_a_long_formatted_answer_arrives_in_parts_telegram_accepts_with_the_code_block_in_each(telegram, model, make_job) -> None:
    prose = "\n\n".join(f"Paragraph {n} has **bold words** and `code`." for n in range(120))
    code = "\n".join(f"line_{n} = {n}  # a long code block" for n in range(200))
    model.reply_with(f"{prose}\n\n```python\n{code}\n```")
    telegram.user_says("a long one", chat_id=ALICE)
    report = make_job().run_once()

    parts = telegram.sent(ALICE)  # the stand-in refused any part whose entities fall outside its text
    assert len(parts) >= 3 and report.failed == 0
    assert all(utf16_len(p["text"]) <= 4096 and p["entities"] for p in parts)
    with_code = [p for p in parts if any(e["type"] == "pre" for e in p["entities"])]
    assert len(with_code) >= 2 and all("line_" in p["text"] for p in with_code)
    assert "**" not in "".join(p["text"] for p in parts)


def test_formatting_telegram_refuses_falls_back_to_the_same_text_without_it(telegram, model, make_job) -> None:
    model.reply_with("**Lima** it is.")
    question = message_id_of(telegram, telegram.user_says("capital?", chat_id=ALICE))
    telegram.fail("sendMessage", 400, "Bad Request: can't parse MessageEntity: Unsupported type specified")

    report = make_job().run_once()

    attempts = calls_of(telegram, "sendMessage")
    assert [bool(a.get("entities")) for a in attempts] == [True, False]
    assert [(m["text"], m["entities"], m["reply_to_message_id"]) for m in telegram.sent()] == [("Lima it is.", [], question)]
    assert report.answered == 1 and report.failed == 0


def test_a_base_models_markdown_gets_the_same_formatting(telegram, model, make_job) -> None:
    model.reply_with(" **Lima**, with `ceviche`.")
    telegram.user_says("capital?", chat_id=ALICE)
    make_job(settings(llm=dataclasses.replace(Config().llm, task="text-generation"))).run_once()
    assert model.requests[-1]["path"] == "/"  # the TGI route: a base model continuing a transcript
    [message] = telegram.sent(ALICE)
    assert message["text"] == "Lima, with ceviche." and entity_texts(message) == [("bold", "Lima"), ("code", "ceviche")]


def test_the_fixed_texts_are_sent_as_the_owner_wrote_them(telegram, make_job) -> None:
    telegram.user_says("/start", chat_id=ALICE)
    job = make_job(settings(reply=dataclasses.replace(Config().reply, greeting="*Hi!* I am `botjob`.")))
    job.run_once()
    [greeting] = telegram.sent(ALICE)
    assert (greeting["text"], greeting["entities"], greeting["parse_mode"]) == ("*Hi!* I am `botjob`.", [], None)


def test_with_format_plain_the_answer_is_sent_as_it_came(telegram, model, make_job) -> None:
    model.reply_with("*bold?* <b>no</b> _maybe_ 3.14!")
    telegram.user_says("format something", chat_id=ALICE)
    make_job(settings(chat=ChatSettings(format="plain"))).run_once()
    sends = calls_of(telegram, "sendMessage")
    assert all("parse_mode" not in params and "entities" not in params for params in sends)
    assert texts(telegram, ALICE) == ["*bold?* <b>no</b> _maybe_ 3.14!"]


# ============================================================================ 4. groups


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
def test_in_a_group_only_a_mention_a_reply_to_the_bot_or_a_command_for_it_is_answered(
        telegram, model, make_job, state_dir, chat_type) -> None:
    in_group(telegram, "lunch anyone?", chat_type=chat_type)
    in_group(telegram, "@other_helper_bot what is the weather?", chat_type=chat_type)
    in_group(telegram, f"{mention(telegram)}2 is a different bot", chat_type=chat_type)
    asked = in_group(telegram, f"{mention(telegram)} how tall is Everest?", chat_type=chat_type, user_id=BOB)
    bobs_question = message_id_of(telegram, asked)
    in_group(telegram, "/help", chat_type=chat_type, user_id=CAROL)

    make_job().run_once()

    assert questions(model) == ["how tall is Everest?"]  # the mention is not part of the question
    bot_answer, help_message = telegram.sent(GROUP)
    assert bot_answer["text"] == "Echo: how tall is Everest?" and bot_answer["reply_to_message_id"] == bobs_question
    assert help_message["text"].startswith("Write me a question")

    in_group(telegram, "and K2?", chat_type=chat_type, user_id=BOB, reply_to_message_id=bot_answer["message_id"])
    last = in_group(telegram, "no idea, ask a guide", chat_type=chat_type, user_id=CAROL,
                    reply_to_message_id=bobs_question)  # a reply to a member, not to the bot
    make_job().run_once()

    assert questions(model) == ["how tall is Everest?", "and K2?"]
    assert texts(telegram, GROUP)[2:] == ["Echo: and K2?"]
    assert len(calls_of(telegram, "getMe")) == 1  # the username is kept in state/ after the first lookup
    assert stored_offset(state_dir) == last + 1


def test_a_mention_anywhere_in_the_text_is_removed_from_the_question(telegram, model, make_job) -> None:
    in_group(telegram, "hey @BotJob_Sandbox_Bot, how far is the Moon?")
    make_job().run_once()
    [question] = questions(model)
    assert "botjob" not in question.lower()
    assert question.startswith("hey") and question.endswith("how far is the Moon?")


def test_a_bare_mention_gets_the_help(telegram, model, make_job) -> None:
    in_group(telegram, mention(telegram))
    job = make_job()
    job.run_once()
    assert texts(telegram, GROUP) == [help_text(job)]
    assert prompts(model) == []


def test_with_groups_all_every_group_message_is_answered_but_not_other_bots_commands(telegram, model, make_job) -> None:
    in_group(telegram, "lunch anyone?")
    in_group(telegram, "/start@other_helper_bot", chat_id=OTHER_GROUP)
    telegram.add_message(sticker(GROUP, "group"))  # media without a caption in a group: left alone
    make_job(settings(chat=ChatSettings(groups="all"))).run_once()
    assert texts(telegram) == ["Echo: lunch anyone?"]


def test_with_groups_off_the_bot_stays_silent_in_groups_but_answers_in_private(telegram, model, make_job, state_dir) -> None:
    in_group(telegram, f"{mention(telegram)} how tall is Everest?")
    in_group(telegram, "/start@botjob_sandbox_bot", chat_id=OTHER_GROUP)
    in_group(telegram, "/help", chat_id=OTHER_GROUP, chat_type="supergroup")
    last = telegram.user_says("how tall is K2?", chat_id=ALICE)
    make_job(settings(chat=ChatSettings(groups="off"))).run_once()
    assert texts(telegram) == ["Echo: how tall is K2?"]
    assert questions(model) == ["how tall is K2?"]
    assert stored_offset(state_dir) == last + 1


@BOTH_FILTERINGS
def test_channel_posts_are_never_answered(telegram, model, make_job, state_dir) -> None:
    channel = {"id": CHANNEL, "type": "channel", "title": "News"}
    telegram.add_update("channel_post", {"chat": channel, "text": f"{mention(telegram)} what now?"})
    telegram.add_update("edited_channel_post", {"chat": channel, "text": f"{mention(telegram)} what now?!", "edit_date": 1})
    telegram.add_message({"chat": channel, "text": f"/start@{telegram.bot_username}"})  # a channel chat as a message
    last = telegram.user_says("and me?", chat_id=ALICE)

    make_job().run_once()

    assert texts(telegram) == ["Echo: and me?"] and questions(model) == ["and me?"]
    assert stored_offset(state_dir) == last + 1 and telegram.pending() == []


@pytest.mark.parametrize("fetched", ["the question alone", "with Telegram's service messages"])
def test_a_reply_to_a_group_that_became_a_supergroup_arrives_in_the_supergroup(
        telegram, model, make_job, state_dir, fetched) -> None:
    in_group(telegram, f"{mention(telegram)} how tall is Everest?", chat_type="group")
    supergroup = telegram.upgrade_to_supergroup(GROUP)
    # Fetched alone, the reply meets Telegram's 400 "upgraded"; with the service messages, the move is known first.
    report = make_job(max_updates=1 if fetched == "the question alone" else 0).run_once()

    assert texts(telegram, GROUP) == []
    [answer] = telegram.sent(supergroup)
    assert answer["text"] == "Echo: how tall is Everest?" and answer["reply_to_message_id"] is None
    assert report.answered == 1 and report.failed == 0 and report.error is None


@pytest.mark.parametrize("disk", ["fast", "slow"])
def test_memory_and_the_daily_count_follow_a_group_that_became_a_supergroup(
        telegram, model, make_memory_job, state_dir, calendar, disk) -> None:
    config = settings(chat=ChatSettings(memory_turns=2, merge_bursts=False), access=AccessSettings(daily_limit=2))
    in_group(telegram, f"{mention(telegram)} my name is Ada", chat_type="group")
    job = make_memory_job(config)
    job.run_once()
    old_memory = job.memory.path(GROUP)
    assert old_memory.exists()

    supergroup = telegram.upgrade_to_supergroup(GROUP)
    in_group(telegram, f"{mention(telegram)} what is my name?", chat_id=supergroup, chat_type="supergroup")
    in_group(telegram, f"{mention(telegram)} one more?", chat_id=supergroup, chat_type="supergroup")
    second = make_memory_job(config)
    if disk == "slow":  # both chats hear of the move at once; the memory takes its time to follow
        moving = second.memory.move
        second.memory.move = lambda old, new: (time.sleep(0.3), moving(old, new))
    second.run_once()

    assert "Ada" in json.dumps(prompts(model)[-1])  # remembered across the move
    assert texts(telegram, supergroup) == ["Echo: what is my name?", config.access.daily_limit_reply]  # 1 + 1 = 2
    assert not old_memory.exists() and job.memory.path(supergroup).exists()


# ============================================================================ 5. what is not text


@pytest.mark.parametrize("chat_id, chat_type, caption, question", [
    (DAVE, "private", "What bird is this?", "What bird is this?"),
    (GROUP, "group", "@botjob_sandbox_bot what bird is this?", "what bird is this?"),
])
def test_a_photo_is_answered_from_its_caption(telegram, model, make_job, chat_id, chat_type, caption, question) -> None:
    asked = message_id_of(telegram, telegram.add_message(photo(chat_id, caption, chat_type)))
    make_job().run_once()
    assert questions(model) == [question]
    assert [(m["text"], m["reply_to_message_id"]) for m in telegram.sent(chat_id)] == [(f"Echo: {question}", asked)]


def test_a_sticker_gets_the_non_text_note_in_private_and_in_a_group_only_as_a_reply_to_the_bot(
        telegram, model, make_job) -> None:
    in_group(telegram, f"{mention(telegram)} hi")
    make_job().run_once()
    bot_message = telegram.sent(GROUP)[0]

    telegram.add_message(sticker(CAROL))
    telegram.add_message(sticker(GROUP, "group"))  # just a sticker in the group
    reply_to_bot = {"message_id": bot_message["message_id"], "chat": {"id": GROUP, "type": "group", "title": "Hikers"},
                    "from": {"id": BOT_ID, "is_bot": True, "first_name": "Sandbox Bot"}, "text": bot_message["text"]}
    telegram.add_message(sticker(GROUP, "group", reply_to_message=reply_to_bot))
    telegram.add_message(photo(DAVE, None))  # with no vision model, photos are off: that is what it is told
    job = make_job()
    job.run_once()

    note = job.config.reply.non_text
    assert texts(telegram, CAROL) == [note] and texts(telegram, DAVE) == [job.config.reply.photos_off]
    assert texts(telegram, GROUP) == ["Echo: hi", note]
    assert len(prompts(model)) == 1


def test_with_no_non_text_note_a_sticker_gets_nothing(telegram, model, make_job, state_dir) -> None:
    last = telegram.add_message(sticker(CAROL))
    report = make_job(settings(reply=ReplySettings(non_text=""))).run_once()
    assert telegram.sent() == [] and prompts(model) == []
    assert report.skipped == 1 and stored_offset(state_dir) == last + 1


@BOTH_FILTERINGS
def test_edits_and_button_presses_are_finished_without_a_reply(telegram, model, make_job, state_dir) -> None:
    alice_chat = {"id": ALICE, "type": "private", "first_name": "Alice"}
    alice = {"id": ALICE, "is_bot": False, "first_name": "Alice"}
    telegram.add_update("edited_message", {"message_id": 7, "chat": alice_chat, "from": alice,
                                           "date": 1, "edit_date": 2, "text": "what is 2+2, really?"})
    telegram.add_update("callback_query", {"from": alice, "data": "choice-1", "message": {
        "chat": alice_chat, "from": {"id": BOT_ID, "is_bot": True, "first_name": "Sandbox Bot"}, "text": "pick one"}})
    last = telegram.user_says("what is 3+3?", chat_id=BOB)
    tail = telegram.add_update("edited_message", {"message_id": 8, "chat": alice_chat, "from": alice,
                                                  "date": 1, "edit_date": 3, "text": "edited again"})

    report = make_job().run_once()

    assert texts(telegram) == ["Echo: what is 3+3?"] and questions(model) == ["what is 3+3?"]
    assert report.error is None
    assert stored_offset(state_dir) >= last + 1
    if isinstance(telegram, LateFilterSandbox):  # it saw them: it must move past all of them
        assert stored_offset(state_dir) == tail + 1 and report.skipped == 3
    assert [u for u in telegram.pending() if "message" in u] == []


def test_a_user_who_blocked_the_bot_does_not_stop_the_batch(telegram, make_job, state_dir) -> None:
    telegram.user_says("/start", chat_id=ALICE)
    telegram.user_says("are you there?", chat_id=ALICE)
    in_group(telegram, f"{mention(telegram)} anyone?", chat_id=OTHER_GROUP)
    telegram.block(ALICE)
    telegram.block(OTHER_GROUP)  # the bot was removed from that group
    last = in_group(telegram, f"{mention(telegram)} how tall is Everest?")

    report = make_job().run_once()

    assert [(m["chat_id"], m["text"]) for m in telegram.sent()] == [(GROUP, "Echo: how tall is Everest?")]
    assert report.failed == 3 and report.answered == 1 and report.error is None
    assert stored_offset(state_dir) == last + 1


# ============================================================================ 6. who may ask, and how much


def test_only_allowed_people_are_answered_others_get_the_refusal(telegram, model, make_job) -> None:
    config = parse_config({"access": {"allow": [ALICE, "@bob_the_builder"]}})
    telegram.user_says("question from Alice", chat_id=ALICE)
    telegram.user_says("question from Bob", chat_id=BOB, username="Bob_The_Builder")
    telegram.user_says("question from Carol", chat_id=CAROL, username="carol")
    telegram.user_says("/start", chat_id=DAVE)
    in_group(telegram, f"{mention(telegram)} question from a stranger in a group", user_id=ERIN)
    in_group(telegram, f"{mention(telegram)} Alice asks in a group", user_id=ALICE, chat_id=OTHER_GROUP)

    make_job(config).run_once()

    assert texts(telegram, ALICE) == ["Echo: question from Alice"]
    assert texts(telegram, BOB) == ["Echo: question from Bob"]
    assert texts(telegram, CAROL) == [config.access.refusal] == texts(telegram, DAVE)
    assert texts(telegram, GROUP) == []  # no refusals in groups
    assert texts(telegram, OTHER_GROUP) == ["Echo: Alice asks in a group"]
    assert sorted(questions(model)) == ["Alice asks in a group", "question from Alice", "question from Bob"]


def test_with_an_empty_refusal_strangers_get_nothing(telegram, model, make_job, state_dir) -> None:
    config = settings(access=AccessSettings(allow=(str(ALICE),), refusal=""))
    telegram.user_says("question from Alice", chat_id=ALICE)
    last = telegram.user_says("question from Carol", chat_id=CAROL)
    make_job(config).run_once()
    assert texts(telegram) == ["Echo: question from Alice"]
    assert stored_offset(state_dir) == last + 1


def test_the_model_call_cap_leaves_the_rest_for_the_next_runs(telegram, model, make_job, state_dir) -> None:
    chats = [ALICE, BOB, CAROL, DAVE, ERIN]
    ids = [telegram.user_says(f"question {n}", chat_id=chat) for n, chat in enumerate(chats)]

    report = make_job(max_model_calls=2).run_once()

    answered = {m["chat_id"] for m in telegram.sent()}
    assert len(telegram.sent()) == 2 and len(prompts(model)) == 2
    assert "model calls" in report.stopped and report.error is None
    unanswered = [i for i, chat in zip(ids, chats) if chat not in answered]
    # Chats are answered in parallel, so which two go first is up to the workers; the first one
    # still waiting (the 3rd, when the oldest go first) is where the offset stops, unconfirmed.
    assert stored_offset(state_dir) == unanswered[0] <= ids[2]

    make_job(max_model_calls=2).run_once()
    make_job(max_model_calls=2).run_once()

    assert sorted(texts(telegram)) == [f"Echo: question {n}" for n in range(5)]  # each exactly once
    assert sorted(m["chat_id"] for m in telegram.sent()) == sorted(chats)
    assert len(prompts(model)) == 5 and stored_offset(state_dir) == ids[-1] + 1


def test_the_daily_limit_tells_a_chat_once_and_a_new_day_starts_afresh(telegram, model, make_job, state_dir, calendar) -> None:
    config = settings(access=AccessSettings(daily_limit=2), chat=ChatSettings(merge_bursts=False))
    for n in range(4):
        telegram.user_says(f"question {n}", chat_id=ALICE)
    bob = telegram.user_says("Bob's question", chat_id=BOB)

    make_job(config).run_once()

    assert texts(telegram, ALICE) == ["Echo: question 0", "Echo: question 1", config.access.daily_limit_reply]
    assert texts(telegram, BOB) == ["Echo: Bob's question"]  # every chat has its own count
    assert sorted(questions(model)) == ["Bob's question", "question 0", "question 1"]
    assert stored_offset(state_dir) == bob + 1  # the questions past the limit are finished too

    telegram.user_says("question 4, same day", chat_id=ALICE)
    make_job(config).run_once()
    assert len(texts(telegram, ALICE)) == 3  # told once: silence until tomorrow

    calendar.today += timedelta(days=1)
    telegram.user_says("question 5, next day", chat_id=ALICE)
    make_job(config).run_once()
    assert texts(telegram, ALICE)[-1] == "Echo: question 5, next day"

    usage = (state_dir / "usage.json").read_bytes()
    assert str(ALICE).encode() not in usage and str(BOB).encode() not in usage


@pytest.mark.parametrize("cap", [2, 0])  # 0: no cap at all
def test_questions_past_the_daily_limit_do_not_use_up_the_model_call_cap(telegram, model, make_job, state_dir, calendar, cap) -> None:
    """A chat past its limit costs no model call, so it must not end the run early for everyone."""
    config = settings(access=AccessSettings(daily_limit=1), chat=ChatSettings(merge_bursts=False),
                      run=dataclasses.replace(Config().run, max_model_calls=cap))
    telegram.user_says("question 0", chat_id=ALICE)
    make_job(config).run_once()  # Alice has had her one question today
    asked_before = len(prompts(model))
    telegram.user_says("question 1", chat_id=ALICE)
    telegram.user_says("question 2", chat_id=ALICE)
    bob = telegram.user_says("Bob's question", chat_id=BOB)

    report = make_job(config).run_once()  # one model call is all this run needs

    assert texts(telegram, BOB) == ["Echo: Bob's question"]
    assert texts(telegram, ALICE)[1:] == [config.access.daily_limit_reply]
    assert report.model_calls == len(prompts(model)) - asked_before == 1
    assert report.stopped == "nothing left to answer" and stored_offset(state_dir) == bob + 1


# ============================================================================ 7. context


def test_replying_to_the_bots_answer_gives_the_model_that_answer_as_its_own_turn(telegram, model, make_job) -> None:
    telegram.user_says("name a fruit", chat_id=ALICE)
    model.reply_with("Mango.")
    make_job().run_once()
    bot_answer = telegram.sent(ALICE)[0]

    model.reply_with(None)
    follow_up = telegram.user_says("why that one?", chat_id=ALICE, reply_to_message_id=bot_answer["message_id"])
    thread = message_id_of(telegram, follow_up)
    make_job().run_once()

    conversation = [m for m in prompts(model)[-1] if m["role"] != "system"]
    assert conversation == [{"role": "assistant", "content": "Mango."}, {"role": "user", "content": "why that one?"}]
    assert telegram.sent(ALICE)[-1]["reply_to_message_id"] == thread


def test_replying_to_another_members_message_puts_its_text_into_the_question(telegram, model, make_job) -> None:
    bob_said = in_group(telegram, "the lake trail is closed this week", user_id=BOB)
    quoted = message_id_of(telegram, bob_said)
    make_job().run_once()  # group chatter: nothing to answer
    assert prompts(model) == []

    in_group(telegram, f"{mention(telegram)} is that true?", user_id=CAROL, reply_to_message_id=quoted)
    make_job().run_once()

    [question] = questions(model)
    assert "the lake trail is closed this week" in question
    assert question.index("the lake trail") < question.index("is that true?")
    assert [m["role"] for m in prompts(model)[0]] == ["system", "user"]


def test_without_reply_context_the_quoted_message_is_left_out(telegram, model, make_job) -> None:
    first = telegram.user_says("my cat is called Tom", chat_id=ALICE)
    quoted = message_id_of(telegram, first)
    make_job().run_once()
    telegram.user_says("say it again", chat_id=ALICE, reply_to_message_id=quoted)
    make_job(settings(chat=ChatSettings(reply_context=False))).run_once()
    assert [m for m in prompts(model)[-1] if m["role"] != "system"] == [{"role": "user", "content": "say it again"}]


def test_memory_gives_the_model_the_last_exchanges_and_keeps_them_encrypted(telegram, model, make_memory_job, state_dir) -> None:
    config = settings(chat=ChatSettings(memory_turns=2))
    chat = 7_304_219_865  # an id, and words below, too long to turn up by chance in base64 ciphertext
    asked = ["my dalmatian is called Rexington", "what breed suits a flat?", "and how much food?", "what is my dalmatian called?"]
    for question in asked:
        telegram.user_says(question, chat_id=chat)
        make_memory_job(config).run_once()  # one run each: a new process every time

    def turns(n: int) -> list[dict[str, str]]:
        return [m for m in prompts(model)[n] if m["role"] != "system"]

    assert turns(0) == [{"role": "user", "content": asked[0]}]
    assert turns(1) == [
        {"role": "user", "content": asked[0]}, {"role": "assistant", "content": f"Echo: {asked[0]}"},
        {"role": "user", "content": asked[1]},
    ]
    assert [t["content"] for t in turns(3)] == [asked[1], f"Echo: {asked[1]}", asked[2], f"Echo: {asked[2]}", asked[3]]

    files = all_state_bytes(state_dir)
    assert any(name.startswith("memory") for name in files)
    for name, content in files.items():
        for private in ["Rexington", "dalmatian", "suits a flat", str(chat)]:
            assert private.encode() not in content and private not in name, f"{private} in {name}"


def test_a_chats_memory_is_not_shown_to_another_chat(telegram, model, make_memory_job) -> None:
    config = settings(chat=ChatSettings(memory_turns=2))
    telegram.user_says("my secret is Rosebud", chat_id=ALICE)
    make_memory_job(config).run_once()
    telegram.user_says("what is the secret?", chat_id=BOB)
    make_memory_job(config).run_once()
    assert "Rosebud" not in json.dumps(prompts(model)[-1])


def test_replying_to_a_remembered_answer_does_not_repeat_it(telegram, model, make_memory_job) -> None:
    config = settings(chat=ChatSettings(memory_turns=2))
    telegram.user_says("name a fruit", chat_id=ALICE)
    model.reply_with("Mango.")
    make_memory_job(config).run_once()
    model.reply_with(None)
    telegram.user_says("why that one?", chat_id=ALICE, reply_to_message_id=telegram.sent(ALICE)[0]["message_id"])
    make_memory_job(config).run_once()
    assert [m for m in prompts(model)[-1] if m["role"] != "system"] == [
        {"role": "user", "content": "name a fruit"},
        {"role": "assistant", "content": "Mango."},
        {"role": "user", "content": "why that one?"},
    ]


def test_memory_without_a_state_key_refuses_to_start(env, state_dir) -> None:
    with pytest.raises(ConfigError) as raised:
        build_job(settings(chat=ChatSettings(memory_turns=2)), env, state_dir)
    assert "BOTJOB_STATE_KEY" in raised.value.explain()
    with pytest.raises(ConfigError, match="BOTJOB_STATE_KEY"):
        build_job(settings(chat=ChatSettings(memory_turns=2)), {**env, "BOTJOB_STATE_KEY": "  \n"}, state_dir)


# ============================================================================ 8. typing


def test_typing_is_shown_while_the_model_works_and_before_every_answer(telegram, model, make_job) -> None:
    typing_when_asked: list[bool] = []

    def answer(messages: list[dict[str, str]]) -> str:
        time.sleep(0.3)  # the model takes a moment: "typing…" has reached Telegram by the time it answers
        question = messages[-1]["content"]
        chat = GROUP if question == "second" else ALICE
        shown = [c for c in telegram.calls if c[0] == "sendChatAction" and c[1]["chat_id"] == chat]
        typing_when_asked.append(bool(shown))
        return f"Echo: {question}"

    model.reply_with(answer)
    telegram.user_says("first", chat_id=ALICE)
    telegram.user_says("/help", chat_id=ALICE)
    telegram.user_says("third", chat_id=ALICE)
    telegram.user_says("/help", chat_id=BOB)
    in_group(telegram, f"{mention(telegram)} second")

    make_job().run_once()

    assert typing_when_asked == [True, True, True]

    def order(chat_id: int) -> list[str]:
        return [name for name, params in telegram.calls
                if name in ("sendChatAction", "sendMessage") and params.get("chat_id") == chat_id]

    assert order(ALICE) == ["sendChatAction", "sendMessage", "sendMessage", "sendChatAction", "sendMessage"]
    assert order(GROUP) == ["sendChatAction", "sendMessage"]
    assert order(BOB) == ["sendMessage"]  # a fixed text needs no typing


def test_typing_goes_out_beside_the_model_call_not_before_it(telegram, model, make_job) -> None:
    telegram.delay("sendChatAction", 0.5)  # a slow "typing…" must not hold the question back
    asked_at: list[float] = []
    model.reply_with(lambda messages: asked_at.append(time.monotonic()) or "Echo")
    telegram.user_says("hello", chat_id=ALICE)
    started = time.monotonic()
    make_job().run_once()
    assert asked_at[0] - started < 0.4
    assert [name for name, _ in telegram.calls if name in ("sendChatAction", "sendMessage")] == ["sendChatAction", "sendMessage"]


@pytest.mark.parametrize("error_code, times", [(500, 5), (403, 1), (429, 2), (400, 1)])
def test_a_failing_typing_indicator_changes_nothing(telegram, make_job, state_dir, error_code, times) -> None:
    telegram.fail("sendChatAction", error_code, times=times)
    telegram.user_says("hello", chat_id=ALICE)
    last = telegram.user_says("hi there", chat_id=BOB)

    report = make_job().run_once()

    assert texts(telegram, ALICE) == ["Echo: hello"] and texts(telegram, BOB) == ["Echo: hi there"]
    assert report.answered == 2 and report.error is None
    assert len(calls_of(telegram, "sendChatAction")) == 2  # never retried: it is only cosmetic
    assert stored_offset(state_dir) == last + 1


# ============================================================================ 9. the awkward batch


@BOTH_FILTERINGS
def test_an_awkward_batch_is_handled_to_the_end_in_one_run(telegram, model, make_job, state_dir) -> None:
    """The issue's "Done when": everything in one queue, one run goes to the end."""
    alice_chat = {"id": ALICE, "type": "private", "first_name": "Alice"}
    alice = {"id": ALICE, "is_bot": False, "first_name": "Alice"}
    long_question = ("lorem ipsum " * 420).strip() + "?"
    assert len(long_question) >= 5000

    telegram.add_update("edited_message", {"message_id": 3, "chat": alice_chat, "from": alice,
                                           "date": 1, "edit_date": 2, "text": "edited question"})
    telegram.add_update("channel_post", {"chat": {"id": CHANNEL, "type": "channel", "title": "News"},
                                         "text": f"{mention(telegram)} breaking news"})
    telegram.add_update("callback_query", {"from": {"id": BOB, "is_bot": False, "first_name": "Bob"}, "data": "yes",
                                           "message": {"chat": {"id": BOB, "type": "private"}, "text": "sure?",
                                                       "from": {"id": BOT_ID, "is_bot": True, "first_name": "Bot"}}})
    telegram.add_message(sticker(CAROL))
    telegram.add_message(photo(DAVE, "What bird is this?"))
    telegram.user_says(long_question, chat_id=ERIN)
    in_group(telegram, "lunch anyone?")
    in_group(telegram, "/start@other_helper_bot")
    telegram.user_says("are you there?", chat_id=GRACE)
    telegram.block(GRACE)
    telegram.user_says("What is the capital of Peru?", chat_id=HEIDI)
    last = in_group(telegram, f"{mention(telegram)} how tall is Everest?", user_id=HEIDI)
    job = make_job()

    report = job.run_once()

    assert report.error is None and report.stopped == "nothing left to answer"
    by_chat: dict[int, list[str]] = {}
    for message in telegram.sent():
        by_chat.setdefault(message["chat_id"], []).append(message["text"])
    assert set(by_chat) == {CAROL, DAVE, ERIN, HEIDI, GROUP}
    assert by_chat[CAROL] == [job.config.reply.non_text]
    assert by_chat[DAVE] == ["Echo: What bird is this?"]
    assert len(by_chat[ERIN]) == 2 and " ".join(by_chat[ERIN]) == f"Echo: {long_question}"
    assert by_chat[HEIDI] == ["Echo: What is the capital of Peru?"]
    assert by_chat[GROUP] == ["Echo: how tall is Everest?"]
    assert report.failed == 1  # the user who blocked the bot
    assert stored_offset(state_dir) == last + 1 and telegram.pending() == []

    sent_before, asked_before = len(telegram.sent()), len(prompts(model))
    second = make_job().run_once()
    assert len(telegram.sent()) == sent_before and len(prompts(model)) == asked_before
    assert second.fetched == 0 and second.error is None


# ============================================================================ 10. privacy of what people wrote


PRIVATE_WORDS = ["Zanzibar-unicorn", "Quentin", "qzebulon", "918273645", "Marrakesh", "555444333", "Echo"]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full_env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(REPO), "HF_HUB_DISABLE_TELEMETRY": "1", **env}
    return subprocess.run([sys.executable, "-m", "botjob", *args], env=full_env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def queue_private_things(telegram: TelegramSandbox) -> None:
    telegram.user_says("Is the Zanzibar-unicorn real?", chat_id=918273645, first_name="Quentin", username="qzebulon")
    telegram.user_says("/start", chat_id=918273645, first_name="Quentin", username="qzebulon")
    telegram.user_says(f"{mention(telegram)} tell Marrakesh about the Zanzibar-unicorn", chat_id=-555444333,
                       chat_type="group", chat_title="Marrakesh hikers", user_id=918273645, first_name="Quentin")
    telegram.user_says("Zanzibar-unicorn chatter", chat_id=-555444333, chat_type="group",
                       chat_title="Marrakesh hikers", user_id=918273645, first_name="Quentin")
    telegram.add_message(sticker(918273645))


@pytest.mark.parametrize("memory_on", [False, True], ids=["no memory", "memory"])
def test_in_actions_nothing_people_wrote_reaches_logs_summary_or_state(telegram, model, env, tmp_path, memory_on) -> None:
    (tmp_path / "botjob.yaml").write_text(f"chat:\n  memory_turns: {3 if memory_on else 0}\naccess:\n  daily_limit: 5\n")
    summary = tmp_path / "summary.md"
    actions_env = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "BOTJOB_STATE_KEY": STATE_KEY}
    queue_private_things(telegram)

    result = run_cli("run", "-v", "--state-dir", "state", env=actions_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "answered 4" in result.stdout  # question, /start, group mention, sticker note
    assert "DEBUG" in result.stderr  # verbose really was on
    assert len(telegram.sent(918273645)) == 3 and len(telegram.sent(-555444333)) == 1
    public = {"stdout": result.stdout, "stderr": result.stderr, "summary": summary.read_text()}
    for where, text in public.items():
        for private in PRIVATE_WORDS:
            assert private not in text, f"{private!r} in {where}"
    state = all_state_bytes(tmp_path / "state")
    for name, content in state.items():
        for private in PRIVATE_WORDS:
            assert private.encode() not in content and private not in name, f"{private!r} in state/{name}"

    memory_files = [content for name, content in state.items() if name.startswith("memory")]
    if memory_on:  # it is there, but only for someone holding BOTJOB_STATE_KEY
        assert len(memory_files) == 2
        readable = b"".join(Fernet(STATE_KEY.encode()).decrypt(content) for content in memory_files)
        assert b"Zanzibar-unicorn" in readable
    else:
        assert memory_files == []


def test_locally_verbose_shows_what_people_wrote_in_the_debug_log(telegram, model, env, tmp_path) -> None:
    telegram.user_says("Is the Zanzibar-unicorn real?", chat_id=918273645, first_name="Quentin")
    local_env = {k: v for k, v in env.items() if not k.startswith("GITHUB_")}

    result = run_cli("run", "-v", "--state-dir", "state", env=local_env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Zanzibar-unicorn" in result.stderr  # the owner debugging on their own machine may see it
    assert "Zanzibar-unicorn" not in result.stdout  # the report stays counts only
    assert telegram.token not in result.stdout + result.stderr
    for content in all_state_bytes(tmp_path / "state").values():
        assert b"Zanzibar-unicorn" not in content

