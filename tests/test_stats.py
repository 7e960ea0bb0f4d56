"""/stats for the bot's owners, told as stories against the sandbox over real HTTP.

An owner asks /stats in a private chat and gets counts only: questions, pictures, chats, fallback
answers, failures by kind, model calls by model, the measured schedule; never anyone's words, names or
ids. Anyone else gets exactly what any unknown command gets. The counts live in state/stats.json: per
UTC day, chats told apart within a day only; merged by meaning when two runs race; checked by save-state.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet

from botjob import wiring
from botjob.config import AccessSettings, Config, LLMSettings, MediaSettings, ModelChoice, load_config
from botjob.errors import ConfigError
from botjob.memory import keyed_name, name_secret
from botjob.pacing import Pacer
from botjob.sandbox import ModelSandbox, TelegramSandbox
from botjob.state import Cadence, StateStore
from botjob.state_handover import MAX_JSON_BYTES, RefusedState, take_state
from botjob.state_merge import merge_state_file
from botjob.stats import STATS_NAMES
from botjob.wiring import build_job

STATE_KEY = Fernet.generate_key().decode()  # a ready Fernet key: no slow key stretching in the tests
OWNER, ALICE, BOB, CAROL = 1001, 1002, 1003, 1004
GROUP = -100_777
ECHO = "sandbox/echo"  # the chat model's name at the stand-in: no model-name lookup, every request a question
FIRST, SECOND = "acme/first", "acme/second-*rc*"  # a server's own model names: Markdown would read *rc* as emphasis


@pytest.fixture(autouse=True)
def schedule_in_a_few_words(monkeypatch) -> None:
    """/help reads the workflow's cron lines: not needed to tell these stories."""
    monkeypatch.setattr(wiring, "schedule_in_words", lambda *args: "every 10 minutes", raising=False)


@pytest.fixture
def make_job(env, state_dir, clock):
    """A job as `python -m botjob run` builds it; with BOTJOB_STATE_KEY unless ``key`` is ""."""

    def make(config: Config | None = None, key: str = STATE_KEY):
        job = build_job(config or owned(), {**env, "BOTJOB_STATE_KEY": key} if key else env, state_dir)
        job.clock, job.sleep, job.pacer = clock, clock.sleep, Pacer(clock, clock.sleep)
        return job

    return make


def owned(*owners: object, **sections: Any) -> Config:
    """Settings with these owners (OWNER by default), the chat model named so that no lookup is asked first."""
    config = dataclasses.replace(Config(), llm=dataclasses.replace(Config().llm, endpoint_model=ECHO))
    access = dataclasses.replace(sections.pop("access", AccessSettings()), owners=tuple(map(str, owners or (OWNER,))))
    return dataclasses.replace(config, access=access, **sections)


def texts(telegram: TelegramSandbox, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in telegram.sent(chat_id)]


def stats_reply(telegram: TelegramSandbox, chat_id: int = OWNER) -> str:
    [reply] = [text for text in texts(telegram, chat_id) if text.startswith("Bot stats")][-1:]
    return reply


def figures(reply: str, label: str) -> tuple[int, ...]:
    """Today's, the 7 days' and the 30 days' figure of one line of the reply."""
    [line] = [line for line in reply.splitlines() if line.startswith(f"{label}: ")]
    return tuple(int(n) for n in line.removeprefix(f"{label}: ").split(" · "))


def address(server: ModelSandbox) -> str:
    """How run reports name a server: its scheme, host and port."""
    parts = urlsplit(server.url)
    return f"{parts.scheme}://{parts.netloc}"


def owner_asks_for_stats(telegram: TelegramSandbox, make_job, config: Config | None = None) -> str:
    telegram.user_says("/stats", chat_id=OWNER, first_name="Olivia", username="olivia_owner")
    make_job(config).run_once()
    return stats_reply(telegram)


def stored(state_dir: Path) -> dict[str, Any]:
    return json.loads((state_dir / "stats.json").read_text())


# ============================================================================ 1. counts for the owner, nothing else


def test_an_owners_stats_after_four_answered_questions_counts_four_and_shows_no_ones_words_or_ids(
        telegram, model, make_job) -> None:
    telegram.user_says("my secret recipe for plum cake?", chat_id=ALICE, first_name="Alice", username="alice_w")
    telegram.user_says("and for the crumble?", chat_id=ALICE, first_name="Alice", username="alice_w")  # a burst: one call
    telegram.user_says("is Mr Tumnus real?", chat_id=BOB, first_name="Bob", username="bob_the_builder")
    telegram.user_says("how tall is Everest?", chat_id=CAROL, first_name="Carol")
    make_job().run_once()

    reply = owner_asks_for_stats(telegram, make_job)

    assert figures(reply, "Questions answered") == (4, 4, 4)
    assert figures(reply, "Chats answered") == (3, 3, 3)
    assert f"{ECHO} at {address(model)}: 3" in reply.splitlines()  # three model calls: the burst was one
    for private in ("plum", "crumble", "Tumnus", "Everest", "Alice", "alice_w", "Bob", "bob_the_builder", "Carol",
                    "Olivia", "olivia_owner", *map(str, (OWNER, ALICE, BOB, CAROL))):
        assert private not in reply
    [sent] = [m for m in telegram.sent(OWNER)]
    assert not sent["entities"] and not sent["parse_mode"]  # plain text, as written
    assert len(reply) < 1000 and max(map(len, reply.splitlines())) <= 90  # a phone's screen, not a report


@pytest.mark.parametrize("who", ["not an owner", "no owners at all", "not on the allow list", "an owner in a group"])
def test_stats_from_anyone_else_gets_exactly_what_an_unknown_command_gets(telegram, model, make_job, state_dir, who) -> None:
    config = {
        "not an owner": owned(),
        "no owners at all": dataclasses.replace(owned(), access=AccessSettings()),
        "not on the allow list": owned(access=AccessSettings(allow=(str(ALICE),))),
        "an owner in a group": owned(),
    }[who]
    telegram.user_says("how tall is Everest?", chat_id=ALICE)
    make_job(config).run_once()  # something to count, were the command answered

    def reply_to(command: str) -> list[dict[str, Any]]:
        before = len(telegram.sent())
        if who == "an owner in a group":
            telegram.user_says(f"{command}@{telegram.bot_username}", chat_id=GROUP, user_id=OWNER, chat_type="supergroup",
                               username="olivia_owner", chat_title="Hikers")
        else:
            asker = OWNER if who == "no owners at all" else BOB
            telegram.user_says(command, chat_id=asker, username="olivia_owner" if asker == OWNER else None)
        make_job(config).run_once()
        return [{key: m[key] for key in ("text", "entities", "parse_mode")} for m in telegram.sent()[before:]]

    unknown, stats = reply_to("/foo"), reply_to("/stats")

    assert stats == unknown and len(stats) == 1  # byte for byte, formatting included
    assert "Bot stats" not in stats[0]["text"]
    if who == "no owners at all":
        assert not (state_dir / "stats.json").exists()  # nobody to ask: nothing kept


def test_an_owner_named_by_username_gets_the_stats_even_when_not_on_the_allow_list(telegram, model, make_job) -> None:
    config = owned("@Olivia_Owner", access=AccessSettings(allow=(str(ALICE),)))
    telegram.user_says("how tall is Everest?", chat_id=ALICE)
    make_job(config).run_once()

    reply = owner_asks_for_stats(telegram, make_job, config)  # the sandbox user is @olivia_owner

    assert figures(reply, "Questions answered") == (1, 1, 1)


def test_stats_is_in_neither_the_menu_nor_the_help(telegram, model, make_job) -> None:
    telegram.user_says("/help", chat_id=OWNER, username="olivia_owner")
    make_job().run_once()

    assert telegram.commands and "stats" not in {c["command"] for c in telegram.commands}
    assert "/stats" not in texts(telegram, OWNER)[0]


# ============================================================================ 2. across runs and days


def test_counts_carry_across_runs_and_utc_days_and_leave_the_30_days_window(telegram, model, make_job, state_dir, calendar) -> None:
    first_day = calendar.today
    telegram.user_says("how tall is Everest?", chat_id=ALICE)
    telegram.user_says("how deep is the sea?", chat_id=BOB)
    make_job().run_once()
    calendar.today += timedelta(days=1)
    telegram.user_says("and K2?", chat_id=ALICE)
    make_job().run_once()

    reply = owner_asks_for_stats(telegram, make_job)

    assert figures(reply, "Questions answered") == (1, 3, 3)
    assert figures(reply, "Chats answered") == (1, 2, 2)  # the busiest day: chats are never followed across days
    days = stored(state_dir)["days"]
    assert days[first_day.isoformat()] == {"questions": 2, "models": {f"{ECHO} at {address(model)}": 2}, "chats": 2}
    assert len(days[calendar.today.isoformat()]["chat_names"]) == 1  # today's: Alice, once

    calendar.today = first_day + timedelta(days=8)  # the second day is 7 days back: out of the week (today and 6 before)
    assert figures(owner_asks_for_stats(telegram, make_job), "Questions answered") == (0, 0, 3)
    calendar.today = first_day + timedelta(days=30)  # the first day is 30 days back: out; the second, 29 back, still in
    assert figures(owner_asks_for_stats(telegram, make_job), "Questions answered") == (0, 0, 1)


def test_questions_answered_earlier_in_the_same_run_are_counted(telegram, model, make_job, state_dir) -> None:
    telegram.user_says("how tall is Everest?", chat_id=OWNER, username="olivia_owner")
    owner_asks_for_stats(telegram, make_job)  # the same run, after the question: a chat's messages keep their order

    reply = stats_reply(telegram)
    assert figures(reply, "Questions answered") == (1, 1, 1)
    assert f"{ECHO} at {address(model)}: 1" in reply.splitlines()  # the run's model calls, before it wrote them down
    assert stored(state_dir)["days"]  # and written at its end


def test_a_run_that_counted_nothing_adds_nothing_to_state(telegram, model, make_job, state_dir) -> None:
    telegram.user_says("/start", chat_id=ALICE)
    make_job().run_once()
    assert not (state_dir / "stats.json").exists()

    telegram.user_says("how tall is Everest?", chat_id=ALICE)
    make_job(dataclasses.replace(owned(), access=AccessSettings())).run_once()  # no owners: nothing counted
    assert not (state_dir / "stats.json").exists()


# ============================================================================ 3. what is counted


def test_failures_are_counted_by_kind(telegram, model, make_job) -> None:
    telegram.user_says("an impossible question", chat_id=ALICE)
    model.fail(422)  # Alice's question is refused: she gets the apology
    make_job().run_once()
    telegram.user_says("are you there?", chat_id=BOB)
    telegram.block(BOB)  # Bob's answer cannot be delivered
    make_job().run_once()

    telegram.user_says("how tall is Everest?", chat_id=CAROL)
    model.fail(503, times=None)  # a passing trouble that outlasts the retries: the run stops, the next one retries
    make_job().run_once()
    model.heal()
    model.fail(401, times=None)  # the token refused: the run stops for the owner
    make_job().run_once()
    model.heal()
    make_job().run_once()  # Carol's question, at last

    reply = owner_asks_for_stats(telegram, make_job)

    assert figures(reply, "Apologies") == (1, 1, 1)
    assert figures(reply, "Replies not delivered") == (1, 1, 1)
    assert figures(reply, "Runs stopped, passing trouble") == (1, 1, 1)
    assert figures(reply, "Runs stopped for you to fix") == (1, 1, 1)
    assert figures(reply, "Questions answered") == (1, 1, 1)  # Carol's


def test_a_passing_trouble_that_lasted_past_alert_after_counts_as_a_run_stopped_for_the_owner(telegram, model, make_job) -> None:
    config = owned(run=dataclasses.replace(Config().run, alert_after=0))  # the run fails at once, so GitHub mails the owner
    telegram.user_says("how tall is Everest?", chat_id=CAROL)
    model.fail(503, times=None)
    make_job(config).run_once()
    model.heal()

    reply = owner_asks_for_stats(telegram, make_job)

    assert figures(reply, "Runs stopped for you to fix") == (1, 1, 1)
    assert figures(reply, "Runs stopped, passing trouble") == (0, 0, 0)


def test_fallback_answers_and_model_calls_by_model(telegram, model, make_job) -> None:
    config = owned(llm=LLMSettings(endpoint_model=FIRST, fallback=(ModelChoice(url=model.url, model=SECOND),)))
    telegram.user_says("how tall is Everest?", chat_id=CAROL)
    make_job(config).run_once()  # the first model answers
    model.fail(402, times=None, model=FIRST)  # then its credits are spent: the fallback answers
    telegram.user_says("how deep is the sea?", chat_id=ALICE)
    telegram.user_says("how far is the moon?", chat_id=BOB)
    make_job(config).run_once()

    reply = owner_asks_for_stats(telegram, make_job, config)

    assert figures(reply, "Answers by a fallback") == (2, 2, 2)
    model_lines = reply.split("Model calls, 30 days:\n")[1].split("\n\n")[0].splitlines()
    assert model_lines == [f"{SECOND} at {address(model)}: 2", f"{FIRST} at {address(model)}: 1"]  # as they are
    assert not telegram.sent(OWNER)[-1]["entities"]


def test_pictures_drawn_are_counted_apart_from_questions(telegram, model, make_job) -> None:
    config = owned(media=MediaSettings(image_model=f"{model.url}/draw", images=True, voice=False, photos=False))
    telegram.user_says("/image a lighthouse at dusk", chat_id=ALICE)
    make_job(config).run_once()

    reply = owner_asks_for_stats(telegram, make_job, config)

    assert figures(reply, "Pictures drawn") == (1, 1, 1)
    assert figures(reply, "Questions answered") == (0, 0, 0)
    assert figures(reply, "Chats answered") == (1, 1, 1)


def test_the_measured_schedule_is_shown_when_known(telegram, model, make_job, state_dir) -> None:
    assert "Scheduled runs: not measured yet" in owner_asks_for_stats(telegram, make_job)

    StateStore(state_dir).save_cadence(Cadence(typical=1020, worst=11100, runs=60, measured_at=2_000_000_000))

    assert ("Scheduled runs: 17 min apart typically, 3 h 5 min at worst (the last 60 scheduled runs)"
            in owner_asks_for_stats(telegram, make_job))


# ============================================================================ 4. state/: counts only


PEOPLE = {7_340_512_981: ("Ingrid", "ingrid_k", "where did I hide the spare key?"),
          6_118_093_457: ("Jonas", "jonas_b", "what rhymes with orange?")}


@pytest.mark.parametrize("key", [STATE_KEY, ""], ids=["state key", "bot token"])
def test_state_keeps_counts_and_day_keyed_names_only(telegram, model, make_job, state_dir, calendar, key) -> None:
    config = owned(access=AccessSettings(daily_limit=5))  # usage.json too: it must name chats its own way
    for chat, (first_name, username, words) in PEOPLE.items():
        telegram.user_says(words, chat_id=chat, first_name=first_name, username=username)
    make_job(config, key=key).run_once()

    secret = name_secret(key or telegram.token)
    names = set(stored(state_dir)["days"][calendar.today.isoformat()]["chat_names"])
    assert names == {keyed_name(secret, STATS_NAMES, chat, calendar.today) for chat in PEOPLE}
    usage_names = set(json.loads((state_dir / "usage.json").read_text())["chats"])
    assert len(usage_names) == 2 and not names & usage_names  # no name is shared with another file
    tomorrow = {keyed_name(secret, STATS_NAMES, chat, calendar.today + timedelta(days=1)) for chat in PEOPLE}
    assert not names & tomorrow  # nor with another day
    for path in filter(Path.is_file, state_dir.rglob("*")):
        content = path.read_text(errors="replace")
        for chat, person in PEOPLE.items():
            for private in (str(chat), *person, *person[2].split()[1:4]):
                assert private not in content, (path.name, private)
        assert telegram.token not in content and STATE_KEY not in content


def test_a_day_that_is_over_keeps_only_its_number_of_chats(telegram, model, make_job, state_dir, calendar) -> None:
    first_day = calendar.today
    telegram.user_says("how tall is Everest?", chat_id=ALICE)
    telegram.user_says("how deep is the sea?", chat_id=BOB)
    make_job().run_once()
    assert len(stored(state_dir)["days"][first_day.isoformat()]["chat_names"]) == 2

    calendar.today += timedelta(days=1)
    telegram.user_says("and K2?", chat_id=ALICE)
    make_job().run_once()

    days = stored(state_dir)["days"]
    assert days[first_day.isoformat()]["chats"] == 2 and "chat_names" not in days[first_day.isoformat()]
    assert re.fullmatch(r"[0-9a-f]{32}", days[calendar.today.isoformat()]["chat_names"][0])


# ============================================================================ 5. save-state: merged and checked


NAME = {letter: letter * 32 for letter in "abcdef"}


def merged(theirs: dict, ours: dict) -> dict:
    return json.loads(merge_state_file("stats.json", json.dumps(theirs), json.dumps(ours)))


def test_two_racing_runs_keep_the_larger_count_of_each_day_and_todays_chats_of_both() -> None:
    theirs = {"v": 1, "days": {
        "2030-03-13": {"questions": 3, "models": {"acme/first": 3}, "chats": 2},
        "2030-03-14": {"questions": 1, "apologies": 1, "models": {"acme/first": 1}, "chat_names": [NAME["a"]]},
    }}
    ours = {"v": 1, "days": {
        "2030-03-14": {"questions": 2, "models": {"acme/first": 2, "acme/second": 1}, "chat_names": [NAME["b"], NAME["c"]]},
    }}

    assert merged(theirs, ours) == merged(ours, theirs) == {"v": 1, "days": {
        "2030-03-14": {"questions": 2, "apologies": 1, "models": {"acme/first": 2, "acme/second": 1},
                       "chat_names": [NAME["a"], NAME["b"], NAME["c"]]},
        "2030-03-13": {"questions": 3, "models": {"acme/first": 3}, "chats": 2},
    }}


def test_a_day_one_side_has_closed_is_closed_after_the_merge() -> None:
    yesterdays = {"v": 1, "days": {"2030-03-14": {"questions": 2, "chat_names": [NAME["a"], NAME["d"]]}}}
    todays = {"v": 1, "days": {
        "2030-03-14": {"questions": 1, "chats": 1},
        "2030-03-15": {"questions": 1, "chat_names": [NAME["e"]]},
        "2030-02-14": {"questions": 9, "chats": 9},  # 29 days before the 15th: still in
    }}

    assert merged(yesterdays, todays)["days"] == {
        "2030-03-15": {"questions": 1, "chat_names": [NAME["e"]]},
        "2030-03-14": {"questions": 2, "chats": 2},  # never a name on a day that is over
        "2030-02-14": {"questions": 9, "chats": 9},
    }
    assert "2030-02-14" not in merged(yesterdays, {"v": 1, "days": {"2030-03-16": {"questions": 1, "chats": 1}}})["days"]


def test_a_side_that_is_not_a_stats_file_leaves_ours_whole() -> None:
    ours = json.dumps({"v": 1, "days": {"2030-03-14": {"questions": 1, "chats": 1}}})
    assert merge_state_file("stats.json", '{"v": 1, "days": {"yesterday": {}}}', ours) is None
    assert merge_state_file("stats.json", "not json", ours) is None


def test_save_state_takes_the_stats_a_run_wrote(telegram, model, make_job, state_dir, tmp_path) -> None:
    telegram.user_says("how tall is Everest?", chat_id=ALICE)
    make_job().run_once()
    checkout = tmp_path / "checkout" / "state"

    handover = take_state(state_dir, checkout)

    assert "stats.json" in handover.written
    assert (checkout / "stats.json").read_bytes() == (state_dir / "stats.json").read_bytes()


@pytest.mark.parametrize("days, problem", [
    ({"2030-03-14": {"questions": 1, "chat_names": ["1002"]}}, "not keyed names"),
    ({"2030-03-14": {"questions": 1, "words": "my secret recipe"}}, "other than counts"),
    ({"2030-03-14": {"models": {"acme/first": 1.5}}}, "not model names with counts"),
    ({"2030-03-14": {"questions": -1}}, "not a whole number from 0"),
    ({"2030-03-14": {"questions": True}}, "not a whole number from 0"),
    ({"14 March": {"questions": 1}}, "not a date"),
    ({"2030-03-13": {"chat_names": [NAME["a"]]}, "2030-03-14": {"questions": 1}}, "a day that is over"),
    ({f"2030-01-{n:02d}": {"questions": 1} for n in range(1, 32)}, "at most 30 days"),
])
def test_save_state_refuses_a_stats_file_the_bot_would_not_write(tmp_path, days, problem) -> None:
    answered = tmp_path / "answered"
    answered.mkdir()
    (answered / "stats.json").write_text(json.dumps({"v": 1, "days": days}))

    with pytest.raises(RefusedState, match=re.escape(problem)) as refused:
        take_state(answered, tmp_path / "checkout" / "state")

    assert "nothing was saved" in refused.value.explain()


def test_save_state_refuses_a_stats_file_of_another_version_or_size(tmp_path) -> None:
    answered = tmp_path / "answered"
    answered.mkdir()
    (answered / "stats.json").write_text(json.dumps({"v": 2, "days": {}}))
    with pytest.raises(RefusedState, match="version 2"):
        take_state(answered, tmp_path / "checkout" / "state")

    (answered / "stats.json").write_text(json.dumps({"v": 1, "days": {}}) + " " * MAX_JSON_BYTES)
    with pytest.raises(RefusedState, match="more than the"):
        take_state(answered, tmp_path / "checkout" / "state")


# ============================================================================ 6. the setting


def test_owners_are_user_ids_or_at_usernames(tmp_path) -> None:
    settings = tmp_path / "botjob.yaml"
    settings.write_text("access:\n  owners: [123456789, '@olivia_owner']\n")
    assert load_config(settings).access.owners == ("123456789", "@olivia_owner")

    settings.write_text("access:\n  owners: [olivia_owner]\n")
    with pytest.raises(ConfigError, match="'access.owners' entry 'olivia_owner'") as caught:
        load_config(settings)
    assert '"@olivia_owner"' in caught.value.explain()

    settings.write_text("access:\n  owners: [-100200300]\n")
    with pytest.raises(ConfigError, match="a group's chat id") as caught:
        load_config(settings)
    assert "private chat" in caught.value.explain()
