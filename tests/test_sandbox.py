"""Tests for botjob.sandbox: the Telegram and model stand-ins, exercised over real HTTP."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest
import requests

from botjob.sandbox import ModelSandbox, TelegramSandbox

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


@pytest.fixture
def tg():
    with TelegramSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def model():
    with ModelSandbox() as sandbox:
        yield sandbox


def call(tg: TelegramSandbox, method: str, **params) -> requests.Response:
    return requests.post(f"{tg.url}/bot{tg.token}/{method}", json=params, timeout=10)


def result(tg: TelegramSandbox, method: str, **params):
    answer = call(tg, method, **params).json()
    assert answer["ok"], answer
    return answer["result"]


def error(tg: TelegramSandbox, method: str, **params) -> tuple[int, dict]:
    response = call(tg, method, **params)
    body = response.json()
    assert body["ok"] is False and body["error_code"] == response.status_code
    return response.status_code, body


# ----------------------------------------------------------------------- Telegram: basics

def test_get_me_token_and_unknown_method(tg):
    me = result(tg, "getMe")
    assert me["id"] == tg.bot_id == 123456789
    assert me["is_bot"] is True and me["username"] == tg.bot_username
    assert result(tg, "GETME")["id"] == tg.bot_id  # method names are case-insensitive

    wrong = requests.get(f"{tg.url}/bot1:wrong/getMe", timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    assert error(tg, "noSuchMethod") == (404, {"ok": False, "error_code": 404, "description": "Not Found"})


def test_offset_confirms_and_unconfirmed_are_redelivered(tg):
    first = tg.user_says("one")
    second = tg.user_says("two")
    assert second == first + 1
    batch = result(tg, "getUpdates")
    assert [u["update_id"] for u in batch] == [first, second]
    message = batch[0]["message"]
    assert message["text"] == "one" and message["chat"] == {"id": 1001, "first_name": "Alice", "type": "private"}
    assert message["from"]["id"] == 1001 and message["message_id"] == 1 and isinstance(message["date"], int)
    assert batch[1]["message"]["message_id"] == 2

    # Not confirmed yet: delivered again.
    assert [u["update_id"] for u in result(tg, "getUpdates")] == [first, second]
    assert result(tg, "getUpdates", offset=first + 1)[0]["update_id"] == second
    assert tg.confirmed_offset == first + 1
    assert [u["update_id"] for u in tg.pending()] == [second]
    assert result(tg, "getUpdates", offset=second + 1) == []
    assert tg.pending() == [] and tg.confirmed_offset == second + 1


def test_limit_and_negative_offset(tg):
    ids = [tg.user_says(f"m{i}") for i in range(5)]
    assert [u["update_id"] for u in result(tg, "getUpdates", limit=2)] == ids[:2]
    assert [u["update_id"] for u in result(tg, "getUpdates", limit=0)] == ids[:1]  # clamped to 1
    assert [u["update_id"] for u in result(tg, "getUpdates", offset=-2)] == ids[-2:]
    assert [u["update_id"] for u in tg.pending()] == ids[-2:]  # the earlier ones are forgotten


def test_allowed_updates_filter_is_remembered(tg):
    msg = tg.user_says("hello")
    cb = tg.add_update("callback_query", {"from": {"id": 1001, "is_bot": False, "first_name": "Alice"},
                                          "data": "x"})
    member = tg.add_update("chat_member", {"chat": {"id": -5, "type": "group", "title": "G"}})
    # By default chat_member is not delivered.
    assert [u["update_id"] for u in result(tg, "getUpdates")] == [msg, cb]
    # Form values carry JSON as a string.
    form = requests.post(f"{tg.url}/bot{tg.token}/getUpdates",
                         data={"allowed_updates": json.dumps(["callback_query"])}, timeout=5).json()
    assert [u["update_id"] for u in form["result"]] == [cb]
    assert [u["update_id"] for u in result(tg, "getUpdates")] == [cb]  # remembered
    assert [u["update_id"] for u in result(tg, "getUpdates", allowed_updates=[])] == [msg, cb]
    assert member in [u["update_id"] for u in tg.pending()]


def test_long_poll_returns_when_a_message_arrives(tg):
    timer = threading.Timer(0.3, tg.user_says, args=("late",))
    timer.start()
    started = time.monotonic()
    batch = result(tg, "getUpdates", timeout=5)
    elapsed = time.monotonic() - started
    timer.join()
    assert [u["message"]["text"] for u in batch] == ["late"]
    assert 0.2 < elapsed < 2


def test_long_poll_times_out_empty(tg):
    started = time.monotonic()
    assert result(tg, "getUpdates", timeout=1) == []
    assert 0.9 < time.monotonic() - started < 2


def test_second_poller_terminates_the_first(tg):
    answers = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", call(tg, "getUpdates", timeout=5)))
    first.start()
    time.sleep(0.2)
    assert result(tg, "getUpdates") == []
    first.join(3)
    assert answers["first"].status_code == 409
    assert "terminated by other getUpdates request" in answers["first"].json()["description"]


def test_stop_ends_long_poll_promptly():
    tg = TelegramSandbox().start()
    outcome = {}
    poller = threading.Thread(target=lambda: outcome.setdefault(
        "r", requests.get(f"{tg.url}/bot{tg.token}/getUpdates?timeout=30", timeout=10)))
    poller.start()
    time.sleep(0.2)
    started = time.monotonic()
    tg.stop()
    poller.join(5)
    assert time.monotonic() - started < 2 and not poller.is_alive()


def test_webhook_conflict(tg):
    tg.set_webhook()
    status, body = error(tg, "getUpdates")
    assert status == 409
    assert body["description"] == ("Conflict: can't use getUpdates method while webhook is active; "
                                   "use deleteWebhook to delete the webhook first")
    tg.user_says("queued")
    info = result(tg, "getWebhookInfo")
    assert info == {"url": "https://example.invalid/hook", "has_custom_certificate": False,
                    "pending_update_count": 1}
    assert result(tg, "deleteWebhook") is True
    assert len(result(tg, "getUpdates")) == 1
    assert result(tg, "setWebhook", url="https://example.invalid/x") is True
    assert error(tg, "getUpdates")[0] == 409
    assert result(tg, "deleteWebhook", drop_pending_updates=True) is True
    assert result(tg, "getUpdates") == [] and result(tg, "getWebhookInfo")["url"] == ""


def ids(batch):
    return [u["update_id"] for u in batch]


def test_an_offset_in_the_future_is_ignored_as_the_real_server_ignores_it(tg):
    first = tg.user_says("one")
    assert ids(result(tg, "getUpdates", offset=first + 1 + 10)) == []  # within the slack: confirms
    second = tg.user_says("two")
    assert ids(result(tg, "getUpdates", offset=second + 1 + 11)) == [second]  # too far: served from the head
    assert tg.confirmed_offset == first + 1 + 10 and ids(tg.pending()) == [second]


def test_ids_restart_after_a_quiet_week_and_old_offsets_are_then_in_the_future(tg):
    old = tg.user_says("before")
    result(tg, "getUpdates", offset=old + 1)
    tg.restart_update_ids(1_000)
    new = tg.user_says("after")
    assert new == 1_000
    assert ids(result(tg, "getUpdates", offset=old + 1)) == [new]  # the stale offset confirms nothing
    assert ids(result(tg, "getUpdates", offset=new + 1)) == []


def test_asking_again_from_the_same_offset_right_away_is_throttled_as_the_real_server_does():
    with TelegramSandbox(throttle_repeated_polls=True) as tg:
        first = tg.user_says("one")
        tg.user_says("two")
        tg.user_says("three")
        assert len(result(tg, "getUpdates")) == 3
        assert len(result(tg, "getUpdates")) == 1  # the same offset within 0.5 s: one update
        started = time.monotonic()
        assert len(result(tg, "getUpdates", offset=first + 1)) == 2  # another offset: not throttled
        assert time.monotonic() - started < 1 and tg.throttled_polls == 1


def test_updates_expire_after_24_hours():
    now = [1_000_000.0]
    with TelegramSandbox(wall_clock=lambda: now[0]) as tg:
        tg.user_says("old")
        now[0] += 12 * 3600
        young = tg.user_says("young")
        assert result(tg, "getUpdates")[0]["message"]["date"] == 1_000_000
        now[0] += 12 * 3600 + 1
        assert ids(result(tg, "getUpdates")) == [young]


def test_a_group_upgraded_to_a_supergroup_moves_to_a_new_id(tg):
    tg.user_says("hi all", chat_id=-5, chat_type="group")
    new_id = tg.upgrade_to_supergroup(-5)
    assert new_id < -1_000_000_000_000
    service = [u["message"] for u in result(tg, "getUpdates")][1:]
    assert service[0]["chat"]["id"] == -5 and service[0]["migrate_to_chat_id"] == new_id
    assert service[1]["chat"] == {"id": new_id, "title": "Sandbox group", "type": "supergroup"}
    assert service[1]["migrate_from_chat_id"] == -5
    status, body = error(tg, "sendMessage", chat_id=-5, text="hello")
    assert status == 400 and body["description"] == "Bad Request: group chat was upgraded to a supergroup chat"
    assert body["parameters"] == {"migrate_to_chat_id": new_id}
    assert result(tg, "sendMessage", chat_id=new_id, text="hello")["chat"]["type"] == "supergroup"


# ----------------------------------------------------------------------- Telegram: sending

def test_send_message_and_reply_chain(tg):
    tg.user_says("question", chat_id=42)
    sent = result(tg, "sendMessage", chat_id=42, text="answer", reply_parameters={"message_id": 1})
    assert sent["message_id"] == 2 and sent["from"]["is_bot"] is True
    assert sent["chat"]["id"] == 42 and sent["text"] == "answer"
    assert sent["reply_to_message"]["text"] == "question"
    assert tg.sent() == [{"chat_id": 42, "message_id": 2, "text": "answer", "reply_to_message_id": 1,
                          "parse_mode": None, "entities": [], "date": sent["date"]}]
    assert tg.sent(chat_id=7) == []

    # The user answers the bot's message: the update carries the bot's message.
    tg.user_says("follow-up", chat_id=42, reply_to_message_id=2)
    update = result(tg, "getUpdates")[-1]["message"]
    assert update["message_id"] == 3
    assert update["reply_to_message"]["from"]["username"] == tg.bot_username
    assert update["reply_to_message"]["text"] == "answer"
    assert "reply_to_message" not in update["reply_to_message"]


@pytest.mark.parametrize("params, status, description", [
    ({"text": "hi"}, 400, "Bad Request: chat_id is empty"),
    ({"chat_id": 999, "text": "hi"}, 400, "Bad Request: chat not found"),
    ({"chat_id": 1001}, 400, "Bad Request: message text is empty"),
    ({"chat_id": 1001, "text": "  \n "}, 400, "Bad Request: message text is empty"),
    ({"chat_id": 1001, "text": "\U0001F600" * 2100}, 400, "Bad Request: message is too long"),
    ({"chat_id": 1001, "text": "hi", "reply_parameters": {"message_id": 77}}, 400,
     "Bad Request: message to be replied not found"),
    ({"chat_id": 1001, "text": "hi", "reply_to_message_id": 77}, 400,
     "Bad Request: message to be replied not found"),
    ({"chat_id": 1001, "text": "1.5", "parse_mode": "MarkdownV2"}, 400,
     "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'"),
    ({"chat_id": 1001, "text": "*bold", "parse_mode": "MarkdownV2"}, 400,
     "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0"),
    ({"chat_id": 1001, "text": "<b>bold", "parse_mode": "HTML"}, 400,
     "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\""),
    ({"chat_id": 1001, "text": "a <br> b", "parse_mode": "HTML"}, 400,
     "Bad Request: can't parse entities: Unsupported start tag \"br\" at byte offset 2"),
])
def test_send_message_checks(tg, params, status, description):
    tg.user_says("hello")
    assert error(tg, "sendMessage", **params) == (status, {"ok": False, "error_code": status,
                                                           "description": description})
    assert tg.sent() == []


def test_send_message_accepted_edge_cases(tg):
    tg.user_says("hello")
    # 4096 UTF-16 units exactly: 2048 emoji (2 units each) is fine.
    assert result(tg, "sendMessage", chat_id=1001, text="\U0001F600" * 2048)
    # A missing reply target is fine when allowed.
    sent = result(tg, "sendMessage", chat_id=1001, text="hi",
                  reply_parameters={"message_id": 77, "allow_sending_without_reply": True})
    assert "reply_to_message" not in sent and tg.sent()[-1]["reply_to_message_id"] is None
    assert result(tg, "sendMessage", chat_id=1001, text="1\\.5 *bold* _it_ [a](http://x.y/z)",
                  parse_mode="MarkdownV2")["text"] == "1.5 bold it a"
    assert result(tg, "sendMessage", chat_id=1001, text="<b>x</b> &lt; <a href=\"u\">y</a>",
                  parse_mode="HTML")["text"] == "x < y"
    assert tg.sent()[-1]["parse_mode"] == "HTML"


def test_parameters_via_query_form_json_multipart(tg):
    tg.user_says("hello")
    base = f"{tg.url}/bot{tg.token}/sendMessage"
    reply = json.dumps({"message_id": 1})
    answers = [
        requests.get(base, params={"chat_id": "1001", "text": "query", "reply_parameters": reply}, timeout=5),
        requests.post(base, data={"chat_id": "1001", "text": "form", "reply_parameters": reply}, timeout=5),
        requests.post(base, json={"chat_id": 1001, "text": "json", "reply_parameters": {"message_id": 1}},
                      timeout=5),
        requests.post(base, files={"chat_id": (None, "1001"), "text": (None, "multipart"),
                                   "reply_parameters": (None, reply)}, timeout=5),
    ]
    assert all(a.json()["ok"] for a in answers), [a.json() for a in answers]
    assert [(m["text"], m["reply_to_message_id"]) for m in tg.sent()] == [
        ("query", 1), ("form", 1), ("json", 1), ("multipart", 1)]
    assert [method for method, _ in tg.calls] == ["sendMessage"] * 4


def test_blocked_chat_and_chat_action(tg):
    tg.user_says("hello", chat_id=5)
    assert result(tg, "sendChatAction", chat_id=5, action="typing") is True
    assert error(tg, "sendChatAction", chat_id=6, action="typing")[1]["description"] == "Bad Request: chat not found"
    tg.block(5)
    for method in ("sendMessage", "sendChatAction"):
        status, body = error(tg, method, chat_id=5, text="hi", action="typing")
        assert (status, body["description"]) == (403, "Forbidden: bot was blocked by the user")


def test_group_messages_and_raw_updates(tg):
    tg.user_says("/start@botjob_sandbox_bot", chat_id=-100, user_id=7, chat_type="supergroup",
                 chat_title="Team")
    tg.add_message({"chat": {"id": -100, "type": "supergroup", "title": "Team"},
                    "from": {"id": 7, "is_bot": False, "first_name": "Bob"},
                    "photo": [{"file_id": "p", "file_unique_id": "u", "width": 1, "height": 1}],
                    "caption": "look"})
    tg.add_update("edited_message", {"chat": {"id": -100, "type": "supergroup", "title": "Team"},
                                     "message_id": 1, "text": "/start edited", "edit_date": 1})
    tg.add_update("channel_post", {"chat": {"id": -200, "type": "channel", "title": "News"}, "text": "post"})
    updates = result(tg, "getUpdates")
    group = updates[0]["message"]
    assert group["chat"] == {"id": -100, "title": "Team", "type": "supergroup"} and group["from"]["id"] == 7
    assert group["entities"] == [{"offset": 0, "length": 25, "type": "bot_command"}]
    assert updates[1]["message"]["message_id"] == 2 and "text" not in updates[1]["message"]
    assert updates[2]["edited_message"]["message_id"] == 1
    assert updates[3]["channel_post"]["message_id"] == 1
    # Replies to messages added raw are valid.
    assert result(tg, "sendMessage", chat_id=-100, text="ok", reply_to_message_id=2)["message_id"] == 3
    assert result(tg, "sendMessage", chat_id=-200, text="ok")["message_id"] == 2


def test_commands(tg):
    commands = [{"command": "start", "description": "Start"}, {"command": "reset", "description": "Forget"}]
    assert result(tg, "setMyCommands", commands=commands) is True
    assert result(tg, "getMyCommands") == commands == tg.commands
    assert error(tg, "setMyCommands", commands=[{"command": "Bad Command", "description": "x"}])[0] == 400


def test_entities_are_checked_as_telegram_checks_them_and_recorded(tg):
    tg.user_says("hi", chat_id=7)
    good = [{"type": "bold", "offset": 0, "length": 2}, {"type": "pre", "offset": 3, "length": 2, "language": "py"},
            {"type": "text_link", "offset": 6, "length": 1, "url": "https://e.com"}]
    result(tg, "sendMessage", chat_id=7, text="😀 ab c", entities=good, parse_mode="MarkdownV2")  # 😀 is 2 UTF-16 units
    sent = tg.sent(7)[-1]
    assert sent["entities"] == good and sent["parse_mode"] is None and sent["text"] == "😀 ab c"
    for bad in ([{"type": "bold", "offset": 5, "length": 3}],  # past the end of the text
                [{"type": "shouting", "offset": 0, "length": 1}],  # no such type
                [{"type": "text_link", "offset": 0, "length": 1}],  # a link without its url
                [{"type": "bold", "offset": 0, "length": 1, "language": "py"}]):  # a language on a non-pre entity
        status, body = error(tg, "sendMessage", chat_id=7, text="abc", entities=bad)
        assert status == 400 and body["description"].startswith("Bad Request: can't parse entities")
    assert len(tg.sent(7)) == 1


# ----------------------------------------------------------------------- Telegram: faults

def test_injected_faults_take_precedence(tg):
    tg.user_says("hello")
    tg.fail("sendMessage", 429, retry_after=3)
    tg.fail("sendmessage", 502)
    assert error(tg, "sendMessage", chat_id=1001, text="hi") == (429, {
        "ok": False, "error_code": 429, "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3}})
    assert error(tg, "sendMessage", chat_id=1001, text="hi") == (502, {
        "ok": False, "error_code": 502, "description": "Bad Gateway"})
    assert result(tg, "sendMessage", chat_id=1001, text="hi")["text"] == "hi"

    tg.fail("getUpdates", 409, times=2)
    for _ in range(2):
        assert error(tg, "getUpdates")[1]["description"].startswith("Conflict: terminated by other")
    assert len(result(tg, "getUpdates")) == 1
    tg.fail("getMe", 401)
    assert error(tg, "getMe")[1]["description"] == "Unauthorized"
    assert [m for m, _ in tg.calls].count("sendMessage") == 3


def test_delay(tg):
    tg.delay("getMe", 0.3)
    started = time.monotonic()
    result(tg, "getMe")
    assert time.monotonic() - started >= 0.3


# ----------------------------------------------------------------------- Telegram: flood control

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def flood():
    clock = FakeClock()
    with TelegramSandbox(flood_control=True, clock=clock) as sandbox:
        sandbox.fake_clock = clock
        yield sandbox


def flood_error(tg: TelegramSandbox, chat_id: int, text: str = "x") -> dict:
    status, body = error(tg, "sendMessage", chat_id=chat_id, text=text)
    assert status == 429
    retry = body["parameters"]["retry_after"]
    assert isinstance(retry, int) and retry >= 1
    assert body == {"ok": False, "error_code": 429, "description": f"Too Many Requests: retry after {retry}",
                    "parameters": {"retry_after": retry}}
    return body


def test_flood_private_chat_bucket(flood):
    flood.user_says("hello", chat_id=1001)
    for i in range(3):  # a burst of 3 fits the bucket
        assert result(flood, "sendMessage", chat_id=1001, text=f"m{i}")
    body = flood_error(flood, 1001, "fourth")
    assert body["parameters"]["retry_after"] == 1
    assert [m["text"] for m in flood.sent()] == ["m0", "m1", "m2"] and flood.flood_hits == 1
    # The refused message used no message_id.
    flood.fake_clock.advance(0.5)
    assert flood_error(flood, 1001)["parameters"]["retry_after"] == 1  # 0.5 s left, rounded up
    flood.fake_clock.advance(0.5)
    assert result(flood, "sendMessage", chat_id=1001, text="fourth")["message_id"] == 5
    assert flood.sent()[-1]["text"] == "fourth" and flood.flood_hits == 2
    # Steady pace of one per second is always fine.
    for i in range(5):
        flood.fake_clock.advance(1.0)
        assert result(flood, "sendMessage", chat_id=1001, text=f"paced{i}")
    # Other private chats have their own buckets; chat actions are never limited.
    flood.user_says("hi", chat_id=1002)
    for _ in range(3):
        assert result(flood, "sendMessage", chat_id=1002, text="y")
    for _ in range(10):
        assert result(flood, "sendChatAction", chat_id=1002, action="typing") is True
    flood_error(flood, 1002)
    assert flood.flood_hits == 3


def test_flood_private_chat_real_clock():
    with TelegramSandbox(flood_control=True) as tg:
        tg.user_says("hello", chat_id=7)
        for _ in range(3):
            result(tg, "sendMessage", chat_id=7, text="burst")
        started = time.monotonic()
        retry = flood_error(tg, 7, "late")["parameters"]["retry_after"]
        assert retry == 1 and len(tg.sent()) == 3
        time.sleep(max(0.0, retry - (time.monotonic() - started)) + 0.05)
        assert result(tg, "sendMessage", chat_id=7, text="late")["text"] == "late"
        assert [m["text"] for m in tg.sent()][-1] == "late" and tg.flood_hits == 1


def test_flood_group_twenty_per_minute(flood):
    flood.user_says("/start", chat_id=-100, chat_type="supergroup")
    flood.user_says("/start", chat_id=-5, chat_type="group")
    for i in range(20):
        assert result(flood, "sendMessage", chat_id=-100, text=f"g{i}")
        flood.fake_clock.advance(2.0)  # 20 messages over 40 s: no other limit is involved
    # 21st at t=40 s; the first left the window at t=60 s.
    assert flood_error(flood, -100)["parameters"]["retry_after"] == 20
    assert len(flood.sent(chat_id=-100)) == 20 and flood.flood_hits == 1
    assert result(flood, "sendMessage", chat_id=-5, text="other group is fine")
    flood.fake_clock.advance(19.5)
    assert flood_error(flood, -100)["parameters"]["retry_after"] == 1
    flood.fake_clock.advance(0.5)
    assert result(flood, "sendMessage", chat_id=-100, text="g20")  # the first one has left the window
    assert flood_error(flood, -100)["parameters"]["retry_after"] == 2  # the second leaves 2 s later
    assert len(flood.sent(chat_id=-100)) == 21 and flood.flood_hits == 3


def test_flood_thirty_per_second_overall(flood):
    for chat_id in range(1, 32):
        flood.user_says("hi", chat_id=chat_id)
    for chat_id in range(1, 31):
        assert result(flood, "sendMessage", chat_id=chat_id, text="all at once")
        flood.fake_clock.advance(0.01)
    assert flood_error(flood, 31)["parameters"]["retry_after"] == 1
    assert len(flood.sent()) == 30 and flood.sent(chat_id=31) == [] and flood.flood_hits == 1
    flood.fake_clock.advance(0.71)  # the first send is now exactly 1 s old
    assert result(flood, "sendMessage", chat_id=31, text="next second")
    assert flood.flood_hits == 1


def test_flood_control_threaded_sends_are_counted_exactly(flood):
    for chat_id in range(1, 41):
        flood.user_says("hi", chat_id=chat_id)
    answers: list[int] = []
    lock = threading.Lock()

    def send(chat_id: int) -> None:
        status = call(flood, "sendMessage", chat_id=chat_id, text="x").status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=send, args=(c,)) for c in range(1, 41)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(answers) == [200] * 30 + [429] * 10
    assert len(flood.sent()) == 30 and flood.flood_hits == 10


def test_flood_control_off_by_default_and_switchable(tg):
    assert tg.flood_control is False
    tg.user_says("hi", chat_id=1001)
    tg.user_says("/start", chat_id=-100, chat_type="group")
    for _ in range(40):
        assert result(tg, "sendMessage", chat_id=1001, text="fast")
    for _ in range(25):
        assert result(tg, "sendMessage", chat_id=-100, text="fast")
    assert len(tg.sent()) == 65 and tg.flood_hits == 0
    # Switched on at run time: counting starts then.
    tg.clock = FakeClock()
    tg.flood_control = True
    for _ in range(3):
        assert result(tg, "sendMessage", chat_id=1001, text="on")
    flood_error(tg, 1001)
    assert tg.flood_hits == 1
    tg.flood_control = False
    assert result(tg, "sendMessage", chat_id=1001, text="off again")
    tg.reset_flood()
    assert tg.flood_hits == 0


def test_flood_control_ignores_invalid_messages_and_injected_429s(flood):
    flood.user_says("hi", chat_id=1001)
    for _ in range(5):  # refused for other reasons: they use no flood allowance
        assert error(flood, "sendMessage", chat_id=1001, text="")[0] == 400
    flood.fail("sendMessage", 429, retry_after=7)
    assert error(flood, "sendMessage", chat_id=1001, text="x")[1]["parameters"]["retry_after"] == 7
    assert flood.flood_hits == 0  # an injected fault is not flood control
    for _ in range(3):
        assert result(flood, "sendMessage", chat_id=1001, text="ok")


# ----------------------------------------------------------------------- model sandbox

def test_chat_completion_echo(model):
    body = {"model": "some/model", "max_tokens": 50, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "Echo: first"},
        {"role": "user", "content": [{"type": "text", "text": "second "}, {"type": "text", "text": "part"}]},
    ]}
    answer = requests.post(f"{model.url}/v1/chat/completions", json=body,
                           headers={"Authorization": "Bearer hf_test"}, timeout=5).json()
    assert answer["object"] == "chat.completion" and answer["model"] == "some/model"
    assert answer["choices"][0]["message"] == {"role": "assistant", "content": "Echo: second part"}
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert set(answer["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    recorded = model.requests[-1]
    assert recorded["path"] == "/v1/chat/completions" and recorded["json"] == body
    assert recorded["headers"]["Authorization"] == "Bearer hf_test"

    stream = requests.post(f"{model.url}/v1/chat/completions", json={**body, "stream": True}, timeout=5)
    assert stream.status_code == 400


def test_tgi_endpoints(model):
    for path in ("/", "/generate"):
        answer = requests.post(model.url + path, json={"inputs": "User: hi\nUser: what?", "parameters": {}},
                               timeout=5)
        assert answer.json() == [{"generated_text": " Echo: User: what?"}]
    full = requests.post(model.url, json={"inputs": "Q", "parameters": {"return_full_text": True}}, timeout=5)
    assert full.json() == [{"generated_text": "Q Echo: Q"}]
    assert requests.get(model.url + "/health", timeout=5).status_code == 200
    assert requests.get(model.url + "/info", timeout=5).json()["model_id"] == "sandbox/echo"
    assert requests.get(model.url + "/v1/models", timeout=5).json()["data"][0]["id"] == "sandbox/echo"


def test_reply_with(model):
    model.reply_with("fixed")
    chat = {"messages": [{"role": "user", "content": "x"}]}
    assert requests.post(model.url + "/v1/chat/completions", json=chat, timeout=5).json()[
        "choices"][0]["message"]["content"] == "fixed"
    model.reply_with(lambda messages: f"{len(messages)} messages")
    assert requests.post(model.url + "/v1/chat/completions", json=chat, timeout=5).json()[
        "choices"][0]["message"]["content"] == "1 messages"
    model.reply_with(None)
    assert requests.post(model.url + "/generate", json={"inputs": "y"}, timeout=5).json() == [
        {"generated_text": " Echo: y"}]


def test_model_faults_hang_and_latency(model):
    chat = {"messages": [{"role": "user", "content": "x"}]}
    url = model.url + "/v1/chat/completions"
    model.fail(503)
    model.fail(429, times=2)
    model.fail(402)
    model.fail(500, body={"error": "boom"}, headers={"X-Test": "1"})
    loading = requests.post(url, json=chat, timeout=5)
    assert loading.status_code == 503 and loading.headers["Content-Type"] == "application/json"
    assert loading.json() == {"error": "Model is currently loading", "estimated_time": 2.0}
    for _ in range(2):
        limited = requests.post(url, json=chat, timeout=5)
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert "exceeded your monthly included credits" in requests.post(url, json=chat, timeout=5).json()["error"]
    custom = requests.post(url, json=chat, timeout=5)
    assert (custom.status_code, custom.json(), custom.headers["X-Test"]) == (500, {"error": "boom"}, "1")
    assert requests.post(url, json=chat, timeout=5).status_code == 200

    model.hang(3)
    with pytest.raises(requests.Timeout):
        requests.post(url, json=chat, timeout=0.3)
    model.latency = 0.2
    started = time.monotonic()
    assert requests.post(url, json=chat, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_huggingface_hub_accepts_the_shapes(model, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError

    client = InferenceClient(base_url=model.url, timeout=5)
    out = client.chat_completion(messages=[{"role": "user", "content": "ping"}], max_tokens=20)
    assert out.choices[0].message.content == "Echo: ping"
    assert model.requests[-1]["path"] == "/v1/chat/completions"

    text = InferenceClient(model=model.url, timeout=5).text_generation("Hello there", max_new_tokens=10)
    assert text == " Echo: Hello there"

    model.fail(503)
    with pytest.raises(HfHubHTTPError) as caught:
        client.chat_completion(messages=[{"role": "user", "content": "ping"}])
    assert caught.value.response.status_code == 503
