"""Whole runs against the sandbox: people write, the job runs, people see replies; the offset is stored."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from botjob.cli import main
from botjob.errors import Failure
from botjob.peek import peek
from botjob.state import Checkpoint, StateStore
from conftest import message_id_of, stored_offset

ALICE, BOB, CAROL = 1001, 1002, 1003




def test_every_message_is_answered_once_threaded_to_its_question(telegram, make_job, state_dir) -> None:
    questions = {
        telegram.user_says("What is the capital of France?", chat_id=ALICE): ALICE,
        telegram.user_says("Suggest a name for my cat", chat_id=BOB): BOB,
        telegram.user_says("And of Italy?", chat_id=CAROL): CAROL,
    }
    threads = {uid: message_id_of(telegram, uid) for uid in questions}

    report = make_job().run_once()

    sent = sorted(telegram.sent(), key=lambda m: m["chat_id"])  # chats are answered in parallel
    assert [(m["chat_id"], m["reply_to_message_id"], m["text"]) for m in sent] == [
        (ALICE, threads[min(questions)], "Echo: What is the capital of France?"),
        (BOB, threads[min(questions) + 1], "Echo: Suggest a name for my cat"),
        (CAROL, threads[min(questions) + 2], "Echo: And of Italy?"),
    ]
    assert report.answered == 3 and report.error is None
    assert stored_offset(state_dir) == max(questions) + 1


def test_replies_ask_telegram_to_send_even_if_the_question_was_deleted(telegram, make_job) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    params = next(p for method, p in telegram.calls if method == "sendMessage")
    assert params["reply_parameters"]["allow_sending_without_reply"] is True


def test_get_updates_asks_for_messages_in_a_json_body(telegram, make_job) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    first = next(p for method, p in telegram.calls if method == "getUpdates")
    assert first["allowed_updates"] == ["message"]
    assert first["limit"] == 100 and first["timeout"] == 0


def test_a_second_run_with_nothing_new_sends_nothing(telegram, make_job, state_dir) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    before = len(telegram.sent())

    report = make_job().run_once()

    assert len(telegram.sent()) == before
    assert report.fetched == 0 and report.offset_before == report.offset_after == stored_offset(state_dir)


def test_a_message_arriving_between_runs_gets_exactly_one_reply(telegram, make_job, state_dir) -> None:
    telegram.user_says("first", chat_id=ALICE)
    make_job().run_once()
    later = telegram.user_says("second", chat_id=BOB)

    make_job().run_once()
    make_job().run_once()

    assert [m["text"] for m in telegram.sent(BOB)] == ["Echo: second"]
    assert [m["text"] for m in telegram.sent(ALICE)] == ["Echo: first"]
    assert stored_offset(state_dir) == later + 1


def test_telegram_is_told_what_was_answered_on_the_next_call(telegram, make_job) -> None:
    last = telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    assert telegram.confirmed_offset == last + 1  # the closing getUpdates confirmed it
    assert telegram.pending() == []


def test_stickers_get_a_short_note_and_group_chatter_is_left_alone(telegram, make_job, state_dir) -> None:
    telegram.add_message({"chat": {"id": ALICE, "type": "private", "first_name": "A"}, "sticker": {"file_id": "x"}})
    telegram.user_says("chatter in a group", chat_id=-500, chat_type="group")
    last = telegram.user_says("a real question", chat_id=BOB)

    report = make_job().run_once()

    assert sorted((m["chat_id"], m["text"]) for m in telegram.sent()) == [
        (ALICE, make_job().config.reply.non_text),
        (BOB, "Echo: a real question"),
    ]
    assert report.skipped == 1 and report.answered == 2
    assert stored_offset(state_dir) == last + 1


def test_a_backlog_larger_than_one_page_is_drained_in_one_run(telegram, make_job, state_dir) -> None:
    ids = [telegram.user_says(f"question {n}", chat_id=10_000 + n) for n in range(130)]
    report = make_job().run_once()
    assert report.answered == 130 and len(telegram.sent()) == 130
    assert stored_offset(state_dir) == ids[-1] + 1


def test_max_updates_leaves_the_rest_for_the_next_run(telegram, make_job, state_dir) -> None:
    ids = [telegram.user_says(f"q{n}", chat_id=ALICE + n) for n in range(5)]
    report = make_job().run_once(max_updates=2)
    assert len(telegram.sent()) == 2 and stored_offset(state_dir) == ids[2]
    assert "cap" in report.stopped
    make_job().run_once()
    assert sorted(m["text"] for m in telegram.sent()) == [f"Echo: q{n}" for n in range(5)]


def test_every_update_taken_in_under_the_cap_is_answered_even_with_few_workers(telegram, make_job, state_dir) -> None:
    ids = [telegram.user_says(f"q{n}", chat_id=ALICE + n) for n in range(12)]
    report = make_job(concurrency=2).run_once(max_updates=10)
    assert len(telegram.sent()) == 10 and report.answered == 10 and stored_offset(state_dir) == ids[10]
    assert report.stopped == "reached the cap of 10 updates"


def test_a_dry_run_sends_nothing_and_stores_nothing(telegram, model, make_job, state_dir) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    job = make_job(time_budget=5)
    job.clock = time.monotonic
    report = job.run_once(dry_run=True)
    assert report.would_answer == 1
    assert telegram.sent() == [] and model.requests == []
    assert not (state_dir / "offset.json").exists()
    assert len(telegram.pending()) == 1  # still waiting for the real run


def test_a_crash_between_send_and_checkpoint_repeats_at_most_that_reply(telegram, make_job, state_dir, monkeypatch) -> None:
    """Four chats answered at once; the process dies while the second reply is being recorded.

    Recording takes a moment (as writing a file does): were sends not kept apart from other
    chats' records, several replies would be out and unrecorded at the moment of the crash.
    """
    for n in range(4):
        telegram.user_says(f"q{n}", chat_id=ALICE + n)
    dead = threading.Event()
    saves = {"count": 0}
    real_save = StateStore.save

    def crash_on_second_save(self, checkpoint):
        if dead.is_set():
            raise KeyboardInterrupt("the process is gone")
        time.sleep(0.1)
        saves["count"] += 1
        if saves["count"] == 2:
            dead.set()
            raise KeyboardInterrupt("runner killed")  # after the 2nd reply went out, before it was recorded
        real_save(self, checkpoint)

    job = make_job(concurrency=4)
    send = job.bot.send_message

    def send_unless_dead(*args, **kwargs):
        if dead.is_set():
            raise KeyboardInterrupt("the process is gone")  # a dead process sends nothing more
        return send(*args, **kwargs)

    job.bot.send_message = send_unless_dead
    monkeypatch.setattr(StateStore, "save", crash_on_second_save)
    with pytest.raises(KeyboardInterrupt):
        job.run_once()
    monkeypatch.setattr(StateStore, "save", real_save)

    make_job().run_once()

    texts = Counter(m["text"] for m in telegram.sent())
    assert set(texts) == {f"Echo: q{n}" for n in range(4)}
    assert sorted(texts.values()) == [1, 1, 1, 2]  # one crash, one repeated reply


def test_a_user_who_blocked_the_bot_does_not_stop_the_batch(telegram, make_job, state_dir) -> None:
    telegram.user_says("hi", chat_id=ALICE)
    last = telegram.user_says("hello", chat_id=BOB)
    telegram.block(ALICE)
    report = make_job().run_once()
    assert [m["chat_id"] for m in telegram.sent()] == [BOB]
    assert report.failed == 1 and report.error is None
    assert stored_offset(state_dir) == last + 1


def test_a_question_the_model_rejects_gets_an_apology_and_is_finished(telegram, model, make_job, state_dir) -> None:
    last = telegram.user_says("an impossible question", chat_id=ALICE)
    question = message_id_of(telegram, last)
    job = make_job()
    job.model.reply([{"role": "user", "content": "warm-up"}])  # the fault must hit the question, not the name lookup
    model.fail(422)
    job.run_once()
    assert [m["text"] for m in telegram.sent()] == [job.config.reply.apology]
    assert telegram.sent()[0]["reply_to_message_id"] == question
    assert stored_offset(state_dir) == last + 1


def test_credits_spent_stops_without_consuming_the_question(telegram, model, make_job, state_dir) -> None:
    first = telegram.user_says("first", chat_id=ALICE)
    telegram.user_says("second", chat_id=BOB)
    job = make_job()
    job.run_once()  # answers "first"
    telegram.user_says("third", chat_id=CAROL)
    model.fail(402, times=10)

    report = job.run_once()

    assert report.error is not None and report.error.kind is Failure.BOT_WIDE
    assert "credits" in report.error.explain()
    assert sorted(m["text"] for m in telegram.sent()) == ["Echo: first", "Echo: second"]  # no apology
    assert stored_offset(state_dir) == first + 2  # "third" stays unconfirmed for after the fix


def test_a_model_no_provider_serves_stops_the_run_for_the_owner_and_uses_up_no_question(
        telegram, model, env, state_dir, capsys) -> None:
    model.serve_only("sandbox/echo")
    config = state_dir.parent / "botjob.yaml"
    config.write_text("llm:\n  endpoint_model: EleutherAI/gpt-j-6b\n")
    first = telegram.user_says("first", chat_id=ALICE)
    telegram.user_says("second", chat_id=BOB)

    code = main(["run", "--config", str(config), "--state-dir", str(state_dir)], env)

    error_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(error_lines) == 1
    assert "EleutherAI/gpt-j-6b is not served" in error_lines[0] and "llm.endpoint_model" in error_lines[0]
    assert telegram.sent() == []  # no apology: nobody's question was at fault
    assert not (state_dir / "offset.json").exists() or stored_offset(state_dir) == first

    config.write_text("llm:\n  endpoint_model: sandbox/echo\n")  # the owner's fix
    assert main(["run", "--config", str(config), "--state-dir", str(state_dir)], env) == 0
    assert sorted(m["text"] for m in telegram.sent()) == ["Echo: first", "Echo: second"]


def test_a_lasting_model_outage_stops_with_a_warning_and_the_next_run_answers(telegram, model, make_job, state_dir, clock) -> None:
    first = telegram.user_says("first", chat_id=ALICE)
    job = make_job()
    job.model.reply([{"role": "user", "content": "warm-up"}])
    model.fail(503, times=4)  # the first try and all three retries

    report = job.run_once()

    assert report.error is not None and report.error.kind is Failure.TRANSIENT and report.ok
    assert telegram.sent() == []
    assert clock.sleeps == [2.0, 2.0, 2.0]  # the loading model's estimated_time, honoured
    assert report.offset_after <= first
    make_job().run_once()
    assert [m["text"] for m in telegram.sent()] == ["Echo: first"]


def test_a_brief_telegram_hiccup_is_retried_after_retry_after(telegram, make_job, clock) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    telegram.fail("sendMessage", 429, retry_after=3)
    telegram.fail("getUpdates", 502)
    report = make_job().run_once()
    assert [m["text"] for m in telegram.sent()] == ["Echo: hello"]
    assert 3.0 in clock.sleeps and report.error is None


def test_a_webhook_stops_the_run_with_a_hint(telegram, make_job) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    telegram.set_webhook()
    report = make_job().run_once()
    assert report.error is not None and report.error.kind is Failure.BOT_WIDE
    assert "deleteWebhook" in report.error.explain()
    assert telegram.sent() == []


def test_optional_calls_failing_does_not_matter(telegram, make_job) -> None:
    for method in ("sendChatAction", "getWebhookInfo", "setMyCommands"):
        telegram.fail(method, 500, times=5)
    telegram.user_says("hello", chat_id=ALICE)
    make_job().run_once()
    assert [m["text"] for m in telegram.sent()] == ["Echo: hello"]


def test_a_long_answer_arrives_in_parts_telegram_accepts(telegram, model, make_job) -> None:
    model.reply_with(("A sentence that goes on. " * 40 + "\n\n") * 8)  # about 8,000 characters
    telegram.user_says("tell me everything", chat_id=ALICE)
    make_job().run_once()
    parts = telegram.sent()
    assert len(parts) == 2
    assert all(len(p["text"]) <= 4096 for p in parts)
    assert len({p["reply_to_message_id"] for p in parts}) == 1


def test_reasoning_is_never_shown(telegram, model, make_job) -> None:
    model.reply_with("<think>the user wants a greeting</think>Hello!")
    telegram.user_says("hi", chat_id=ALICE)
    make_job().run_once()
    assert [m["text"] for m in telegram.sent()] == ["Hello!"]


def test_gaps_in_update_ids_do_not_hold_the_offset_back(telegram, make_job, state_dir) -> None:
    """Update kinds the bot did not ask for leave holes in the ids Telegram hands out."""
    telegram.user_says("before the edit", chat_id=ALICE)
    hole = telegram.add_update("edited_message", {"chat": {"id": ALICE, "type": "private"}, "message_id": 1, "text": "x"})
    last = telegram.user_says("after the edit", chat_id=BOB)

    make_job().run_once()
    make_job().run_once()

    assert [m["text"] for m in telegram.sent(ALICE)] == ["Echo: before the edit"]
    assert [m["text"] for m in telegram.sent(BOB)] == ["Echo: after the edit"]
    assert stored_offset(state_dir) == last + 1 > hole


def test_updates_already_finished_above_the_offset_are_not_answered_again(telegram, make_job, state_dir) -> None:
    first = telegram.user_says("q0", chat_id=ALICE)
    done = telegram.user_says("q1", chat_id=BOB)
    last = telegram.user_says("q2", chat_id=CAROL)
    state_dir.mkdir()
    (state_dir / "offset.json").write_text(json.dumps({"offset": first, "finished": [done]}))

    make_job().run_once()

    assert sorted(m["text"] for m in telegram.sent()) == ["Echo: q0", "Echo: q2"]
    assert json.loads((state_dir / "offset.json").read_text()) == {"offset": last + 1}


def test_a_page_finished_in_an_earlier_run_is_passed_over(telegram, make_job, state_dir) -> None:
    first = telegram.user_says("q0", chat_id=ALICE)
    state_dir.mkdir()
    (state_dir / "offset.json").write_text(json.dumps({"offset": first, "finished": [first]}))
    report = make_job().run_once()
    assert telegram.sent() == [] and report.offset_after == stored_offset(state_dir) == first + 1


# ----------------------------------------------------------------------- Telegram's update ids restart


def run_in(env: dict[str, str], state_dir: Path, capsys) -> str:
    """``python -m botjob run`` in-process, with a real clock and a short time budget: a run that
    cannot make progress ends in seconds instead of answering nothing until the budget is gone."""
    config = state_dir.parent / "short.yaml"
    config.write_text("run:\n  time_budget: 6\n")
    assert main(["run", "--config", str(config), "--state-dir", str(state_dir)], env) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("restart_at", [1_000, 900_000_000], ids=["below-the-offset", "far-above-it"])
def test_after_a_quiet_week_the_bot_hears_new_ids_and_repeats_nothing(telegram, env, state_dir, capsys, restart_at) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    run_in(env, state_dir, capsys)
    telegram.restart_update_ids(restart_at)  # a week without updates: Telegram picks new ids at random
    question = telegram.user_says("are you still there?", chat_id=ALICE)
    assert question == restart_at

    peeked = peek({"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url}, state_dir)
    assert peeked.waiting and peeked.count == 1

    started = time.monotonic()
    output = run_in(env, state_dir, capsys)
    assert "answered 1" in output and time.monotonic() - started < 3
    assert [m["text"] for m in telegram.sent()] == ["Echo: hello", "Echo: are you still there?"]
    assert stored_offset(state_dir) == question + 1

    run_in(env, state_dir, capsys)  # nothing new: nothing repeated
    later = telegram.user_says("and now?", chat_id=ALICE)
    run_in(env, state_dir, capsys)
    assert [m["text"] for m in telegram.sent()][2:] == ["Echo: and now?"]
    assert stored_offset(state_dir) == later + 1


def test_state_brought_from_another_bot_does_not_deafen_this_one(telegram, make_job, state_dir) -> None:
    StateStore(state_dir).save(Checkpoint(1_900_000_000, frozenset({1_900_000_005})))  # a fork's offset.json
    first = telegram.user_says("hello", chat_id=ALICE)
    job = make_job(time_budget=5)
    job.clock = time.monotonic  # a run stuck on a stale offset ends on its budget, not never
    report = job.run_once()
    assert report.answered == 1 and report.ids_restarted
    assert stored_offset(state_dir) == first + 1
    assert "finished" not in json.loads((state_dir / "offset.json").read_text())


def test_a_dry_run_after_a_restart_shows_what_waits_and_stores_nothing(telegram, make_job, state_dir) -> None:
    StateStore(state_dir).save(Checkpoint(1_900_000_000))
    telegram.user_says("hello", chat_id=ALICE)
    job = make_job(time_budget=5)
    job.clock = time.monotonic
    report = job.run_once(dry_run=True)
    assert report.would_answer == 1 and telegram.sent() == []
    assert stored_offset(state_dir) == 1_900_000_000
