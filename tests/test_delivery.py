"""Delivery under pressure: flood limits, Telegram's 429, time budgets, expiring questions, lingering."""

from __future__ import annotations

import dataclasses
import json
import threading
import time

import pytest
from collections import Counter

from botjob.config import AccessSettings, Config, RunSettings
from botjob.cli import exit_code
from botjob.errors import Failure, StateError
from botjob.pacing import Pacer
from botjob.sandbox import ModelSandbox, TelegramSandbox
from botjob.state import StateStore
from conftest import message_id_of, stored_offset

ALICE, BOB = 1001, 1002



def with_run(**settings: object) -> Config:
    return dataclasses.replace(Config(), run=RunSettings(**settings))  # type: ignore[arg-type]


def test_a_busy_run_stays_under_telegrams_flood_limits(telegram, model, make_job, clock) -> None:
    telegram.flood_control = True
    telegram.clock = clock  # Telegram measures its limits on the time the job's pacing waits on
    model.reply_with(lambda messages: ("A long paragraph of the answer. " * 120 + "\n\n") * 5
                     if "long" in messages[-1]["content"] else "short answer")
    telegram.user_says("a long one please", chat_id=ALICE)  # five parts to one chat
    for chat in range(2000, 2070):  # and 70 chats at once
        telegram.user_says("hi", chat_id=chat)

    # One worker: on a fake clock, a send made while another worker's wait moves the time on would
    # reach Telegram later than it was paced for, which real time never does by seconds.
    report = make_job(concurrency=1).run_once()

    assert telegram.flood_hits == 0
    assert report.answered == 71 and report.error is None
    assert len(telegram.sent(ALICE)) == 5


def test_a_429_is_a_pause_not_a_failure(telegram, make_job, clock, state_dir) -> None:
    last = telegram.user_says("hello", chat_id=ALICE)
    telegram.fail("sendMessage", 429, retry_after=7, times=3)

    report = make_job(with_run(retries=0)).run_once()  # no retries for failures: a pause is not one

    assert [m["text"] for m in telegram.sent()] == ["Echo: hello"]
    assert clock.sleeps == [7, 7, 7] and report.error is None
    assert stored_offset(state_dir) == last + 1


def test_a_question_near_telegrams_24_hour_limit_gets_a_sorry_when_the_model_is_down(telegram, model, make_job, state_dir) -> None:
    old = telegram.add_message({"chat": {"id": ALICE, "type": "private"}, "text": "still there?", "date": int(time.time()) - 21 * 3600})
    fresh = telegram.user_says("and now?", chat_id=BOB)
    job = make_job(with_run(retries=1))
    job.model.reply([{"role": "user", "content": "warm-up"}])
    model.fail(503, times=20)

    report = job.run_once()

    assert [m["text"] for m in telegram.sent()] == [job.config.reply.too_late]
    assert telegram.sent()[0]["chat_id"] == ALICE
    assert report.ok and report.error is not None  # a warning: the fresh one waits for the next run
    assert stored_offset(state_dir) == fresh  # past the old one, not past the fresh one
    assert old < fresh


def test_a_sorry_near_the_24_hour_limit_counts_as_failed_even_when_credits_are_spent(telegram, model, make_job, state_dir) -> None:
    telegram.add_message({"chat": {"id": ALICE, "type": "private"}, "text": "still there?", "date": int(time.time()) - 21 * 3600})
    job = make_job()
    job.model.reply([{"role": "user", "content": "warm-up"}])
    model.fail(402, times=5)

    report = job.run_once()

    assert [m["text"] for m in telegram.sent()] == [job.config.reply.too_late]
    assert not report.ok and "credits" in report.error.explain()  # the owner must add credits
    assert report.failed == 1 and report.fetched == 1  # and the summary shows the sorry


def test_the_time_budget_stops_new_work_but_finishes_what_is_in_flight(telegram, model, make_job, clock, state_dir) -> None:
    ids = [telegram.user_says(f"q{n}", chat_id=3000 + n) for n in range(6)]

    def slow_answer(messages):
        clock.now += 10  # each answer takes "10 seconds"
        return "answer"

    model.reply_with(slow_answer)
    report = make_job(with_run(time_budget=25, concurrency=1)).run_once()

    assert report.answered == 3 and report.stopped == "time budget used up"
    assert stored_offset(state_dir) == ids[3]
    model.reply_with(None)
    make_job().run_once()
    assert len(telegram.sent()) == 6


def test_each_chats_messages_stay_in_order_while_chats_run_in_parallel(telegram, make_job) -> None:
    for chat in (ALICE, BOB):
        telegram.user_says("first", chat_id=chat)
        telegram.user_says("/help", chat_id=chat)  # a command splits the burst: three replies per chat
        telegram.user_says("third", chat_id=chat)
    make_job().run_once()
    for chat in (ALICE, BOB):
        texts = [m["text"] for m in telegram.sent(chat)]
        assert texts[0] == "Echo: first" and texts[1].startswith("Write me a question") and texts[2] == "Echo: third"


def test_a_failed_save_never_lets_the_offset_pass_that_reply(telegram, make_job, state_dir, monkeypatch) -> None:
    for n in range(5):
        telegram.user_says(f"q{n}", chat_id=4000 + n)
    real_save, calls = StateStore.save, {"n": 0}

    def flaky_save(self, checkpoint):
        calls["n"] += 1
        if calls["n"] == 1:
            raise StateError("state/offset.json could not be written (OSError)")
        real_save(self, checkpoint)

    monkeypatch.setattr(StateStore, "save", flaky_save)
    report = make_job().run_once()
    assert isinstance(report.error, StateError) and not report.ok  # the owner hears of it
    monkeypatch.setattr(StateStore, "save", real_save)
    make_job().run_once()

    answered = Counter(m["text"] for m in telegram.sent())
    assert set(answered) == {f"Echo: q{n}" for n in range(5)}  # nothing lost
    assert sorted(answered.values()) == [1, 1, 1, 1, 2]  # only the reply whose record failed came twice


def test_linger_answers_a_message_that_arrives_during_the_run(telegram, env, state_dir) -> None:
    from botjob.wiring import build_job

    job = build_job(Config(), env, state_dir)
    threading.Timer(0.5, lambda: telegram.user_says("are you there?", chat_id=ALICE)).start()
    started = time.monotonic()

    report = job.run_once(linger=2)

    assert [m["text"] for m in telegram.sent()] == ["Echo: are you there?"]
    assert report.answered == 1 and 1.5 <= time.monotonic() - started < 6


# ----------------------------------------------------------------------------- staying while people talk (run.stay)
# Real time: the stand-in long-polls as Telegram does. Each story waits for the bot's answer before its user writes again.


def wait_until(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.02)


def staying_job(env, state_dir, config: Config | None = None, **settings: object):
    from botjob.wiring import build_job

    return build_job(config or with_run(**settings), env, state_dir)  # on the real clock


def writes_again_after_the_answer(telegram, model, text: str, *, after: float, state_dir=None) -> dict[str, float]:
    """Alice writes ``text`` ``after`` seconds once the bot's first answer reached her; what happened when, filled in
    as it happens (with the offset stored in ``state_dir`` when the model is asked). Her new message cannot be
    answered before its ids are noted: the model waits for that."""
    noted, seen = threading.Event(), {}

    def answer(messages):
        if text not in str(messages[-1]["content"]):
            return None  # the echo
        if state_dir is not None:
            seen["stored_when_asked"] = stored_offset(state_dir)
        noted.wait(5)
        return None

    model.reply_with(answer)

    def alice() -> None:
        wait_until(lambda: len(telegram.sent()) >= 1)
        time.sleep(after)
        seen["written"], update_id = time.monotonic(), telegram.user_says(text, chat_id=ALICE)
        seen["update_id"], seen["message_id"] = update_id, message_id_of(telegram, update_id)
        noted.set()
        wait_until(lambda: len(telegram.sent()) >= 2)
        seen["answered"] = time.monotonic()

    threading.Thread(target=alice, daemon=True).start()
    return seen


def test_with_a_stay_a_follow_up_is_answered_by_the_same_run_within_seconds_threaded(telegram, model, env, state_dir) -> None:
    question = telegram.user_says("will it rain today?", chat_id=ALICE)
    seen = writes_again_after_the_answer(telegram, model, "and tomorrow?", after=1, state_dir=state_dir)

    report = staying_job(env, state_dir, stay=8).run_once()
    ended = time.monotonic()

    first, follow_up = telegram.sent()
    assert first["text"] == "Echo: will it rain today?"
    assert follow_up["text"] == "Echo: and tomorrow?" and follow_up["reply_to_message_id"] == seen["message_id"]
    assert seen["answered"] - seen["written"] < 3  # within seconds, not at the next scheduled run
    assert 7.9 <= ended - seen["answered"] <= 9.2  # then it listened for the stay, and ended within a second of it
    assert report.answered == 2 and report.answered_while_staying == 1 and exit_code(report) == 0
    assert report.stopped == "nothing new for 8 s after the last answer" and report.stayed > 7
    assert seen["stored_when_asked"] == question + 1  # the first answer was recorded before the follow-up was asked
    assert stored_offset(state_dir) == seen["update_id"] + 1


@pytest.mark.parametrize("story", ["nothing waits", "group chatter", "a stranger", "a blocked chat"])
def test_a_run_that_answered_nobody_does_not_stay(telegram, env, state_dir, story) -> None:
    config = with_run(stay=8)
    if story == "group chatter":  # not for the bot: skipped
        telegram.user_says("lunch?", chat_id=-100_777, chat_type="group")
    elif story == "a stranger":  # refused: no conversation to stay for
        telegram.user_says("hello", chat_id=BOB)
        config = dataclasses.replace(config, access=AccessSettings(allow=("@someone_else",)))
    elif story == "a blocked chat":  # the reply cannot be delivered: failed
        telegram.user_says("hello", chat_id=ALICE)
        telegram.block(ALICE)
    started = time.monotonic()

    report = staying_job(env, state_dir, config=config).run_once()

    assert time.monotonic() - started < 3  # ends at once, not 8 s later
    assert report.stayed == 0 and report.error is None
    assert report.stopped == "nothing left to answer; nobody was answered, so no stay"


def test_the_stay_never_passes_the_time_budget(telegram, model, env, state_dir) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    writes_again_after_the_answer(telegram, model, "still there?", after=1.5)
    started = time.monotonic()

    report = staying_job(env, state_dir, stay=3.9, time_budget=4).run_once()  # its last answer + 3.9 s is well past 4 s

    assert time.monotonic() - started <= 4.3
    assert report.stopped == "time budget used up" and report.stayed > 1 and exit_code(report) == 0


@pytest.mark.parametrize(("linger", "stay", "stopped"), [
    (4, 1, "listened for --linger 4 s"),
    (1, 2.5, "nothing new for 2.5 s after the last answer"),
])
def test_with_both_a_linger_and_a_stay_the_run_listens_until_the_later_ends(telegram, env, state_dir, linger, stay, stopped) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    started = time.monotonic()

    report = staying_job(env, state_dir, stay=stay).run_once(linger=linger)

    assert report.stopped == stopped and report.answered == 1
    assert max(linger, stay) - 1 <= time.monotonic() - started <= max(linger, stay) + 1


# ----------------------------------------------------------------------------- a trouble that lasts


class WallClock:
    """The job's calendar time, moved by hand between runs."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_model_that_stays_away_turns_the_runs_red_once_nobody_was_answered_for_alert_after(
        telegram, model, make_job, state_dir) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    wall = WallClock()
    model.fail(503, times=100)  # the model is away, run after run

    def run():
        job = make_job(with_run(retries=0, alert_after=3600))
        job.wall_clock = wall
        return job.run_once()

    first = run()
    wall.now += 1800
    second = run()
    assert first.ok and second.ok and second.error.kind is Failure.TRANSIENT  # green, with a warning
    wall.now += 1800
    third = run()

    assert not third.ok and exit_code(third) == 1
    assert "no one has been answered for 1 h (3 runs in a row)" in third.error.explain()
    assert "the model is not answering" in third.error.hint and "model answered HTTP 503" in str(third.error)
    assert telegram.sent() == []

    wall.now += 600
    model.heal()
    assert run().ok and telegram.sent()[0]["text"] == "Echo: hello"  # one run that gets through...
    assert not (state_dir / "trouble.json").exists()  # ...ends the trouble


def test_a_run_that_answers_someone_ends_the_trouble_even_if_it_then_meets_it_again(telegram, model, make_job, state_dir) -> None:
    wall = WallClock()
    state_dir.mkdir(parents=True)
    (state_dir / "trouble.json").write_text(json.dumps({"since": wall.now - 7200, "runs": 9}))
    telegram.user_says("first", chat_id=ALICE)
    telegram.user_says("second", chat_id=BOB)
    job = make_job(with_run(retries=0, alert_after=3600, concurrency=1))
    job.wall_clock = wall
    job.model.reply([{"role": "user", "content": "warm-up"}])

    def answer_then_go_down(messages):
        model.fail(503, times=5)
        return "the first answer"

    model.reply_with(answer_then_go_down)
    report = job.run_once()

    assert report.answered == 1 and report.error is not None and report.ok  # a warning, not a red run
    assert not (state_dir / "trouble.json").exists()


# ----------------------------------------------------------------------------- one chat's waits hold up no other chat

GROUP = -100_555
PRIVATE = [2001, 2002, 2003, 2004]
LONG = "\n\n".join(f"Paragraph {n}: " + "words " * 120 for n in range(12))  # about 9,000 characters: 3 parts


def ask_group_and_privates(telegram, model) -> None:
    """A group asks for a long answer that the model gives at once; four people ask short questions answered 0.3 s later."""

    def answer(messages):
        question = messages[-1]["content"]
        if "essay" in question:
            return LONG
        time.sleep(0.3)
        return f"Echo: {question}"

    model.reply_with(answer)
    telegram.user_says(f"@{telegram.bot_username} an essay please", chat_id=GROUP, chat_type="group")
    for chat in PRIVATE:
        telegram.user_says(f"quick one from {chat}", chat_id=chat)


def real_time_job(make_job):
    job = make_job(with_run(concurrency=8))
    job.clock, job.sleep = time.monotonic, time.sleep  # real waits, so their order shows
    return job


def test_a_429_in_one_chat_does_not_hold_up_the_other_chats(telegram, model, make_job) -> None:
    ask_group_and_privates(telegram, model)
    job = real_time_job(make_job)
    job.pacer = Pacer()
    telegram.fail("sendMessage", 429, retry_after=2, chat_id=GROUP)  # the group's first part must wait 2 s

    report = job.run_once()

    order = [m["chat_id"] for m in telegram.sent()]
    assert sorted(order) == sorted([GROUP] * 3 + PRIVATE) and report.error is None
    assert sorted(order[:4]) == PRIVATE  # answered while the group's reply waited out its 429


def test_a_groups_paced_parts_do_not_hold_up_the_other_chats(telegram, model, make_job) -> None:
    class SlowForTheGroup(Pacer):
        """The group's flood window is full: each of its parts waits 1 s for its turn."""

        def wait(self, chat_id):
            if chat_id == GROUP:
                time.sleep(1)
                return 1.0
            return super().wait(chat_id)

    ask_group_and_privates(telegram, model)
    job = real_time_job(make_job)
    job.pacer = SlowForTheGroup()

    job.run_once()

    order = [m["chat_id"] for m in telegram.sent()]
    second_part = [i for i, chat in enumerate(order) if chat == GROUP][1]
    assert set(order[:second_part]) >= set(PRIVATE)  # every private answer left before the group's second part


# ----------------------------------------------------------------------------- a reply cut between its parts


@pytest.mark.parametrize("before", ["the bot's first question", "after an earlier answer"])
def test_a_reply_cut_between_its_parts_is_not_sent_again_whole_but_said_to_be_cut_short(
        telegram, model, make_job, state_dir, before) -> None:
    earlier = 0
    if before == "after an earlier answer":  # the cut question is then the stored offset itself
        telegram.user_says("hello", chat_id=ALICE)
        make_job().run_once()
        earlier = len(telegram.sent())
    model.reply_with(LONG)
    question = telegram.user_says("an essay please", chat_id=ALICE)
    message_id = telegram.pending()[0]["message"]["message_id"]
    job = make_job(with_run(retries=1))
    send = job.bot.send_message

    def first_part_then_an_outage(*args, **kwargs):
        sent = send(*args, **kwargs)
        telegram.fail("sendMessage", 502, times=20)  # Telegram goes away for longer than the retries last
        return sent

    job.bot.send_message = first_part_then_an_outage
    report = job.run_once()

    assert report.ok and report.error is not None and report.answered == 0  # a warning: the next run goes on
    assert len(telegram.sent()) == earlier + 1 and stored_offset(state_dir) <= question  # not past the question
    assert stored_offset(state_dir) == (question if earlier else 0)
    assert json.loads((state_dir / "offset.json").read_text())["partly_sent"] == [question]

    telegram.heal()
    make_job().run_once()

    texts = [m["text"] for m in telegram.sent()][earlier:]
    assert len(texts) == 2 and texts[1] == Config().reply.cut_short  # not the whole essay again
    assert telegram.sent()[-1]["reply_to_message_id"] == message_id
    assert stored_offset(state_dir) == question + 1 and "partly_sent" not in json.loads((state_dir / "offset.json").read_text())


# ----------------------------------------------------------------------------- the delivery rules, each with a test that fails when broken


def test_a_reply_that_could_not_be_sent_for_a_passing_reason_stays_unfinished(telegram, make_job, state_dir, clock) -> None:
    question = telegram.user_says("hello", chat_id=ALICE)
    telegram.fail("sendMessage", 502, times=10)  # longer than the retries last
    report = make_job(with_run(retries=2)).run_once()
    assert report.ok and report.error is not None and "502" in str(report.error)  # a warning, the next run retries
    assert report.answered == report.failed == 0  # neither answered nor "could not receive it"
    assert not (state_dir / "offset.json").exists() or stored_offset(state_dir) <= question
    telegram.heal()
    make_job().run_once()
    assert [m["text"] for m in telegram.sent()] == ["Echo: hello"]


def test_no_retry_sleeps_past_the_time_budget(telegram, make_job, clock) -> None:
    telegram.user_says("hello", chat_id=ALICE)
    telegram.fail("getUpdates", 429, retry_after=30)  # a pause longer than the run has left
    report = make_job(with_run(time_budget=10)).run_once()
    assert clock.sleeps == [] and report.ok and "429" in str(report.error)
    assert telegram.sent() == []


def test_a_bot_wide_failure_stops_the_other_chats(telegram, model, make_job, state_dir) -> None:
    first = telegram.user_says("first", chat_id=ALICE)
    for n in range(5):
        telegram.user_says(f"question {n}", chat_id=3000 + n)
    job = make_job(with_run(concurrency=1))
    job.model.reply([{"role": "user", "content": "warm-up"}])
    asked_before = len(model.requests)
    model.fail(402)  # credits spent, for the first question only: the run must not try the others

    report = job.run_once()

    assert not report.ok and "credits" in report.error.explain()
    assert len(model.requests) - asked_before == 1 and telegram.sent() == []
    assert not (state_dir / "offset.json").exists() or stored_offset(state_dir) <= first


def test_credits_spent_in_one_chat_fail_the_run_even_when_another_chat_met_a_passing_trouble(telegram, model, make_job) -> None:
    telegram.user_says("first", chat_id=ALICE)
    telegram.user_says("second", chat_id=BOB)
    job = make_job(with_run(concurrency=2, retries=2))
    job.model.reply([{"role": "user", "content": "warm-up"}])
    model.hang(0.5)  # one chat's answer comes late...
    model.fail(402)  # ...and says the credits are spent,
    model.fail(503, times=10)  # while the other chat meets a model that keeps loading, and gives up first

    report = job.run_once()

    assert report.error is not None and report.error.kind is Failure.BOT_WIDE and "credits" in report.error.explain()
    assert exit_code(report) == 1 and telegram.sent() == []  # the owner hears of it; a later run answers both


def test_a_dry_run_stores_nothing_and_registers_nothing(telegram, make_job, state_dir) -> None:
    telegram.user_says(f"@{telegram.bot_username} hello", chat_id=-100_444, chat_type="group")  # needs getMe
    telegram.user_says("hello", chat_id=ALICE)
    report = make_job().run_once(dry_run=True)
    assert report.would_answer == 2 and telegram.sent() == []
    assert [name for name, _ in telegram.calls] == ["getUpdates", "getMe"]  # no setMyCommands, no typing
    assert not state_dir.exists() or list(state_dir.iterdir()) == []


def test_fetching_while_replies_go_out_never_asks_twice_from_the_same_offset() -> None:
    """The real server slows down a getUpdates from the offset it was just asked from (3 s, one update)."""
    from botjob.wiring import build_job
    import tempfile

    with TelegramSandbox(throttle_repeated_polls=True) as telegram, ModelSandbox(latency=0.05) as model, \
            tempfile.TemporaryDirectory() as state:
        for round_ in range(3):
            for chat in range(45):  # more than a page: the run fetches again as the offset moves
                telegram.user_says(f"question {round_}", chat_id=20_000 + chat)
        env = {"TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_URL": telegram.url, "BOTJOB_LLM_URL": model.url}
        report = build_job(Config(), env, state).run_once()
        assert report.answered == 135 and report.error is None
        assert len(calls_of_get_updates := [c for c in telegram.calls if c[0] == "getUpdates"]) > 2
        assert telegram.throttled_polls == 0, calls_of_get_updates


# ----------------------------------------------------------------------------- fetching: a page per batch of work, not per reply


def calls_of_get_updates(telegram) -> int:
    return sum(name == "getUpdates" for name, _ in telegram.calls)


def test_a_backlog_from_many_chats_takes_a_handful_of_get_updates_calls_not_one_per_reply(telegram, make_job) -> None:
    for chat in range(200):
        telegram.user_says("good morning", chat_id=30_000 + chat)

    report = make_job().run_once()

    assert report.answered == 200 and len(telegram.sent()) == 200
    assert calls_of_get_updates(telegram) <= 5  # two pages and a look for more; it was one call per reply


def test_messages_spread_over_the_backlog_are_one_question_per_chat_even_past_the_first_page(telegram, make_job) -> None:
    for round_ in range(3):  # a night of 40 people writing now and then: each one's third message is past the first page
        for chat in range(40):
            telegram.user_says(f"part {round_}", chat_id=40_000 + chat)

    make_job().run_once()

    for chat in range(40):
        assert [m["text"] for m in telegram.sent(40_000 + chat)] == ["Echo: part 0\n\npart 1\n\npart 2"]


@pytest.mark.parametrize("on_the_first_page", [1, 2])
def test_a_burst_cut_by_the_end_of_the_first_page_is_one_question(telegram, make_job, on_the_first_page) -> None:
    first = [telegram.user_says("hi", chat_id=50_000 + chat) for chat in range(100 - on_the_first_page)][0]
    burst = ["one", "two", "three"][: on_the_first_page + 1]
    last = [telegram.user_says(text, chat_id=ALICE) for text in burst][-1]
    assert last == first + 100  # the burst's last message is the second page's first update

    make_job().run_once()

    [answer] = telegram.sent(ALICE)
    assert answer["text"] == "Echo: " + "\n\n".join(burst)


def test_a_newcomer_is_not_kept_waiting_behind_a_slow_answer_while_workers_are_free(telegram, model, env, state_dir) -> None:
    """After a short page, another look once a worker would idle and a moment has passed: new messages may be there."""
    CAROL, DAVE = 1003, 1004

    def answer(messages):
        question = str(messages[-1]["content"])
        time.sleep({"slow": 3.0, "medium": 1.5}.get(question, 0))
        return None  # the echo

    model.reply_with(answer)
    telegram.user_says("quick", chat_id=CAROL)
    telegram.user_says("medium", chat_id=DAVE)
    telegram.user_says("slow", chat_id=ALICE)

    def bob() -> None:  # writes while the others are being answered
        wait_until(lambda: telegram.sent(CAROL))
        telegram.user_says("hello?", chat_id=BOB)

    threading.Thread(target=bob, daemon=True).start()
    report = staying_job(env, state_dir).run_once()

    assert report.answered == 4
    order = [m["chat_id"] for m in telegram.sent()]
    assert order.index(BOB) < order.index(ALICE)  # taken when Dave's answer freed a worker, not after the slow one
