"""Tests for botjob.sandbox: the Telegram and model stand-ins, exercised over real HTTP."""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import struct
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import pytest
import requests

from botjob.sandbox import GitHubSandbox, ModelSandbox, TelegramSandbox, telegram_server
from botjob.sandbox.media import image_size, png_image, speech_audio

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


def test_get_chat_member_says_who_is_an_administrator_as_telegram_does(tg):
    tg.user_says("hi", chat_id=-100, user_id=7, chat_type="supergroup", chat_title="Team")
    tg.user_says("hello", chat_id=5)
    tg.set_member_status(-100, 8, "creator")
    member = result(tg, "getChatMember", chat_id=-100, user_id=7)
    assert (member["status"], member["user"]["id"]) == ("member", 7)  # whoever writes in a group is in it
    assert result(tg, "getChatMember", chat_id=-100, user_id=8)["status"] == "creator"
    assert result(tg, "getChatMember", chat_id=-100, user_id=5)["status"] == "left"  # known, not in this group
    tg.set_member_status(-100, 7, "administrator")
    admin = result(tg, "getChatMember", chat_id="-100", user_id="7")
    assert admin["status"] == "administrator" and admin["is_anonymous"] is False and "can_manage_chat" in admin
    assert result(tg, "getChatMember", chat_id=5, user_id=5)["status"] == "member"
    assert error(tg, "getChatMember", chat_id=-100, user_id=99)[1]["description"] == "Bad Request: user not found"
    assert error(tg, "getChatMember", chat_id=-300, user_id=7)[1]["description"] == "Bad Request: chat not found"
    assert error(tg, "getChatMember", chat_id=-100, user_id=0)[1]["description"] == "Bad Request: invalid user_id specified"
    with pytest.raises(ValueError):
        tg.set_member_status(-100, 7, "owner")

    tg.hide_members(-100)  # hidden members: a bot that is no administrator sees only itself
    assert error(tg, "getChatMember", chat_id=-100, user_id=7)[1]["description"] == "Bad Request: CHAT_ADMIN_REQUIRED"
    assert result(tg, "getChatMember", chat_id=-100, user_id=tg.bot_id)["status"] == "member"
    tg.set_member_status(-100, tg.bot_id, "administrator")
    assert result(tg, "getChatMember", chat_id=-100, user_id=7)["status"] == "administrator"


def test_an_anonymous_administrator_writes_as_the_group_and_members_follow_an_upgrade(tg):
    tg.anonymous_admin_says("/start", chat_id=-5, chat_type="group")
    tg.user_says("hi", chat_id=-5, user_id=7, chat_type="group")
    tg.set_member_status(-5, 7, "administrator")
    message = result(tg, "getUpdates")[0]["message"]
    assert message["sender_chat"] == message["chat"] and message["from"]["username"] == "GroupAnonymousBot"
    new_id = tg.upgrade_to_supergroup(-5)
    status, body = error(tg, "getChatMember", chat_id=-5, user_id=7)
    assert (status, body["parameters"]) == (400, {"migrate_to_chat_id": new_id})
    assert result(tg, "getChatMember", chat_id=new_id, user_id=7)["status"] == "administrator"


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


def test_past_100_entities_the_rest_are_dropped_silently_as_telegram_does(tg):
    tg.user_says("hi", chat_id=7)
    text = " ".join(f"w{n:03}" for n in range(150))
    bold = [{"type": "bold", "offset": 5 * n, "length": 4} for n in range(150)]
    message = result(tg, "sendMessage", chat_id=7, text=text, entities=bold)  # accepted: no error, no word said
    assert message["entities"] == bold[:100] and tg.sent(7)[-1]["entities"] == bold[:100]

    # tdlib sends code, pre, links and quotes first; bold, italic... after them, each cut where another entity
    # starts or ends inside it, every piece counted: here 99 links and a bold in two pieces make 101.
    links = [{"type": "text_link", "offset": 5 * n, "length": 4, "url": "https://e.com"} for n in range(1, 100)]
    around = {"type": "bold", "offset": 0, "length": 9}  # "w000 w001": cut where w001's link starts
    result(tg, "sendMessage", chat_id=7, text=text, entities=[around, *links])
    applied = tg.sent(7)[-1]["entities"]
    assert [e for e in applied if e["type"] == "text_link"] == links
    assert [e for e in applied if e["type"] == "bold"] == [{"type": "bold", "offset": 0, "length": 5}]  # "w001" not bold

    assert send_photo(tg, png_image(), chat_id=7, caption=text, caption_entities=json.dumps(bold[:101])).json()["ok"]
    assert tg.sent(7)[-1]["caption_entities"] == bold[:100]  # a caption's entities too


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


# ----------------------------------------------------------------------- media helpers

def read_png(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the colours of a PNG, every chunk's CRC checked (8-bit RGB only)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, i = {}, 8
    while i < len(data):
        length, tag = struct.unpack(">I4s", data[i:i + 8])
        body = data[i + 8:i + 8 + length]
        assert struct.unpack(">I", data[i + 8 + length:i + 12 + length])[0] == zlib.crc32(tag + body)
        chunks[tag] = chunks.get(tag, b"") + body
        i += 12 + length
    assert list(chunks)[0] == b"IHDR" and list(chunks)[-1] == b"IEND"
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 2)
    raw = zlib.decompress(chunks[b"IDAT"])
    assert len(raw) == height * (1 + 3 * width)
    rows = [raw[r * (1 + 3 * width) + 1:(r + 1) * (1 + 3 * width)] for r in range(height)]
    return width, height, {row[c:c + 3] for row in rows for c in range(0, len(row), 3)}


def jpeg_header(width: int, height: int) -> bytes:
    """The start of a baseline JPEG, enough for its size to be read (SOI, APP0, SOF0, EOI)."""
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x11\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof0 + b"\xff\xd9"


def test_media_helpers():
    assert read_png(png_image(3, 2, (1, 2, 3))) == (3, 2, {b"\x01\x02\x03"})
    assert image_size(png_image(640, 480)) == (640, 480)
    assert image_size(jpeg_header(1600, 1200)) == (1600, 1200)
    assert image_size(b"GIF89a....") is None
    assert speech_audio("hi") == b"SPEECH:hi"
    assert speech_audio("what is the weather", 45) == b"SPEECH:SECONDS:45;what is the weather"


# ----------------------------------------------------------------------- Telegram: files users send

def file_url(tg: TelegramSandbox, file_path: str, token: str | None = None) -> str:
    return f"{tg.url}/file/bot{token or tg.token}/{file_path}"


def download(tg: TelegramSandbox, file_id: str) -> requests.Response:
    return requests.get(file_url(tg, result(tg, "getFile", file_id=file_id)["file_path"]), timeout=5)


def test_a_voice_note_is_fetched_with_get_file_and_downloaded(tg):
    audio = speech_audio("what is the weather")
    update_id = tg.user_sends_voice(audio, 3, chat_id=42, caption="listen")
    (update,) = result(tg, "getUpdates")
    message = update["message"]
    assert update["update_id"] == update_id and message["chat"]["id"] == 42 and message["message_id"] == 1
    voice = message["voice"]
    assert set(voice) == {"file_id", "file_unique_id", "duration", "mime_type", "file_size"}
    assert voice["file_id"].startswith("AwAC") and voice["file_unique_id"] != voice["file_id"]
    assert (voice["duration"], voice["mime_type"], voice["file_size"]) == (3, "audio/ogg", len(audio))
    assert message["caption"] == "listen" and "text" not in message

    file = result(tg, "getFile", file_id=voice["file_id"])
    assert set(file) == {"file_id", "file_unique_id", "file_size", "file_path"}
    assert (file["file_id"], file["file_unique_id"], file["file_size"]) == (
        voice["file_id"], voice["file_unique_id"], len(audio))
    assert re.fullmatch(r"voice/file_\d+\.oga", file["file_path"])
    assert result(tg, "getFile", file_id=voice["file_id"])["file_path"] == file["file_path"]  # the same link
    assert tg.downloads == []  # getFile is not a download

    got = requests.get(file_url(tg, file["file_path"]), timeout=5)
    assert got.status_code == 200 and got.content == audio and got.headers["Content-Type"] == "audio/ogg"
    assert tg.downloads == [voice["file_id"]]
    assert tg.calls[-1] == ("file download", {"file_path": file["file_path"]})
    assert [name for name, _ in tg.calls] == ["getUpdates", "getFile", "getFile", "file download"]


def test_audio_video_notes_and_documents(tg):
    tg.user_sends_audio(b"ID3 song", 200, file_name="Song.MP3", caption="my band")
    tg.user_sends_video_note(b"\x00\x00\x00\x18ftypmp42 round", 9)
    tg.user_sends_document(b"%PDF-1.7 report", "application/pdf", "report.pdf", "read this")
    tg.user_sends_document(jpeg_header(4000, 3000))  # a picture sent "as a file"
    tg.user_sends_document(b"?", "application/x-unknown-kind", "README")
    audio, note, pdf, picture, unknown = (u["message"] for u in result(tg, "getUpdates"))

    assert audio["audio"] == {"file_id": audio["audio"]["file_id"], "file_unique_id": audio["audio"]["file_unique_id"],
                              "duration": 200, "mime_type": "audio/mpeg", "file_name": "Song.MP3", "file_size": 8}
    assert audio["caption"] == "my band"
    assert set(note["video_note"]) == {"file_id", "file_unique_id", "length", "duration", "file_size"}
    assert (note["video_note"]["length"], note["video_note"]["duration"]) == (240, 9) and "caption" not in note
    assert pdf["document"]["file_name"] == "report.pdf" and pdf["document"]["mime_type"] == "application/pdf"
    assert pdf["document"]["file_size"] == 15 and pdf["caption"] == "read this"
    assert picture["document"]["file_name"] == "photo.jpg" and picture["document"]["mime_type"] == "image/jpeg"
    assert set(picture["document"]) == {"file_id", "file_unique_id", "file_name", "mime_type", "file_size"}

    paths = {}
    for name, media in (("audio", audio["audio"]), ("note", note["video_note"]), ("pdf", pdf["document"]),
                        ("picture", picture["document"]), ("unknown", unknown["document"])):
        paths[name] = result(tg, "getFile", file_id=media["file_id"])["file_path"]
    assert re.fullmatch(r"music/file_\d+\.mp3", paths["audio"])
    assert re.fullmatch(r"video_notes/file_\d+\.mp4", paths["note"])
    assert re.fullmatch(r"documents/file_\d+\.pdf", paths["pdf"])
    assert re.fullmatch(r"documents/file_\d+\.jpg", paths["picture"])
    assert re.fullmatch(r"documents/file_\d+", paths["unknown"])
    assert len(set(paths.values())) == 5

    got = requests.get(file_url(tg, paths["note"]), timeout=5)
    assert got.headers["Content-Type"] == "video/mp4" and got.content.endswith(b"round")
    got = requests.get(file_url(tg, paths["pdf"]), timeout=5)
    assert got.headers["Content-Type"] == "application/pdf" and got.content == b"%PDF-1.7 report"
    assert requests.get(file_url(tg, paths["audio"]), timeout=5).headers["Content-Type"] == "audio/mpeg"
    assert tg.downloads == [note["video_note"]["file_id"], pdf["document"]["file_id"], audio["audio"]["file_id"]]


def test_a_photo_comes_in_three_sizes_and_only_the_largest_is_the_picture(tg):
    image = png_image(1280, 640)
    tg.user_says("before", chat_id=-100, chat_type="supergroup")
    tg.user_sends_photo(image, "look @botjob_sandbox_bot /start", chat_id=-100, user_id=7,
                        chat_type="supergroup", reply_to_message_id=1)
    message = result(tg, "getUpdates")[-1]["message"]
    assert message["from"]["id"] == 7 and message["reply_to_message"]["text"] == "before"
    assert message["caption"] == "look @botjob_sandbox_bot /start"
    assert message["caption_entities"] == [{"offset": 5, "length": 19, "type": "mention"},
                                           {"offset": 25, "length": 6, "type": "bot_command"}]
    sizes = message["photo"]
    assert [(s["width"], s["height"]) for s in sizes] == [(90, 45), (320, 160), (1280, 640)]
    assert all(set(s) == {"file_id", "file_unique_id", "width", "height", "file_size"} for s in sizes)
    assert all(s["file_id"].startswith("AgAC") for s in sizes)
    assert len({s["file_id"] for s in sizes}) == 3 and len({s["file_unique_id"] for s in sizes}) == 3
    assert sizes[-1]["file_size"] == len(image)

    small, medium, full = (download(tg, s["file_id"]).content for s in sizes)
    assert full == image and read_png(full)[:2] == (1280, 640)
    assert small and medium and small != medium and image not in (small, medium)
    assert [len(small), len(medium)] == [sizes[0]["file_size"], sizes[1]["file_size"]]
    assert tg.downloads == [s["file_id"] for s in sizes]

    tg.user_sends_photo(jpeg_header(800, 1200))  # a portrait JPEG: the longest side is scaled
    jpeg = result(tg, "getUpdates")[-1]["message"]
    assert [(s["width"], s["height"]) for s in jpeg["photo"]] == [(60, 90), (213, 320), (800, 1200)]
    assert "caption" not in jpeg and "caption_entities" not in jpeg
    assert download(tg, jpeg["photo"][-1]["file_id"]).headers["Content-Type"] == "image/jpeg"


def test_get_file_refuses_unknown_ids_and_files_over_20_mb(tg):
    assert error(tg, "getFile", file_id="AgACnonsense") == (400, {
        "ok": False, "error_code": 400,
        "description": "Bad Request: wrong file_id or the file is temporarily unavailable"})
    assert error(tg, "getFile")[1]["description"] == (
        "Bad Request: wrong file_id or the file is temporarily unavailable")
    tg.user_sends_voice(b"OggS big", 3000, file_size=25 * 1024 * 1024)
    tg.user_sends_document(b"%PDF", "application/pdf", "edge.pdf", file_size=20 * 1024 * 1024)
    tg.user_sends_photo(png_image(), file_size=20 * 1024 * 1024 + 1)
    big, edge, photo = (u["message"] for u in result(tg, "getUpdates"))
    assert big["voice"]["file_size"] == 25 * 1024 * 1024
    assert error(tg, "getFile", file_id=big["voice"]["file_id"]) == (400, {
        "ok": False, "error_code": 400, "description": "Bad Request: file is too big"})
    assert result(tg, "getFile", file_id=edge["document"]["file_id"])["file_size"] == 20 * 1024 * 1024
    assert photo["photo"][-1]["file_size"] == 20 * 1024 * 1024 + 1
    assert error(tg, "getFile", file_id=photo["photo"][-1]["file_id"])[0] == 400
    assert result(tg, "getFile", file_id=photo["photo"][0]["file_id"])  # the thumbnail is small


def test_downloads_need_the_token_and_a_live_link(tg):
    tg.user_sends_voice(b"OggS voice", 2)
    file_id = result(tg, "getUpdates")[0]["message"]["voice"]["file_id"]
    path = result(tg, "getFile", file_id=file_id)["file_path"]

    wrong = requests.get(file_url(tg, path, token="1:wrong"), timeout=5)
    assert wrong.status_code == 401
    assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    for missing in ("voice/file_999.oga", "voice", path + "x"):
        lost = requests.get(file_url(tg, missing), timeout=5)
        assert (lost.status_code, lost.json()) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})
    assert tg.downloads == []

    assert requests.get(file_url(tg, path), timeout=5).content == b"OggS voice"
    tg.expire_file(file_id)
    assert requests.get(file_url(tg, path), timeout=5).status_code == 404
    fresh = result(tg, "getFile", file_id=file_id)["file_path"]  # asking again gives a new link
    assert fresh != path and requests.get(file_url(tg, fresh), timeout=5).content == b"OggS voice"
    assert requests.get(file_url(tg, path), timeout=5).status_code == 404
    assert tg.downloads == [file_id, file_id]
    with pytest.raises(ValueError):
        tg.expire_file("AgACnonsense")

    tg.fail("file download", 502)  # the file server has outages of its own
    assert requests.get(file_url(tg, fresh), timeout=5).status_code == 502
    assert tg.downloads == [file_id, file_id]


def test_a_download_can_be_sent_on_to_another_address_even_a_malformed_one(tg):
    tg.user_sends_voice(b"OggS voice", 2)
    file_id = result(tg, "getUpdates")[0]["message"]["voice"]["file_id"]
    path = result(tg, "getFile", file_id=file_id)["file_path"]

    tg.redirect_downloads("http://[::1", times=2)
    connection = http.client.HTTPConnection(*urlsplit(tg.url).netloc.split(":"), timeout=5)
    connection.request("GET", urlsplit(file_url(tg, path)).path)
    sent_on = connection.getresponse()
    assert (sent_on.status, sent_on.getheader("Location")) == (302, "http://[::1")
    connection.close()
    with pytest.raises(ValueError):  # what requests does with it: no RequestException, a bare ValueError
        requests.get(file_url(tg, path), timeout=5)
    assert requests.get(file_url(tg, path), timeout=5).content == b"OggS voice"  # then served again
    assert tg.downloads == [file_id]


def test_a_file_can_hold_more_than_its_reported_size_or_report_none():
    with TelegramSandbox() as tg:
        tg.user_sends_voice(b"OggS" + b"\0" * 5000, 2, file_size=10)  # a server that under-reports
        voice = result(tg, "getUpdates")[0]["message"]["voice"]
        file = result(tg, "getFile", file_id=voice["file_id"])
        assert voice["file_size"] == file["file_size"] == 10
        assert len(requests.get(file_url(tg, file["file_path"]), timeout=5).content) == 5004

    with TelegramSandbox(report_file_sizes=False) as tg:  # file_size is optional; a local server may leave it out
        tg.user_sends_voice(b"OggS", 2, file_size=25 * 1024 * 1024)
        tg.user_sends_photo(png_image())
        voice, photo = (u["message"] for u in result(tg, "getUpdates"))
        assert "file_size" not in voice["voice"] and not any("file_size" in size for size in photo["photo"])
        file = result(tg, "getFile", file_id=voice["voice"]["file_id"])  # nothing refused for its size
        assert "file_size" not in file and requests.get(file_url(tg, file["file_path"]), timeout=5).content == b"OggS"


def test_media_from_users_reply_only_to_known_messages(tg):
    with pytest.raises(ValueError):
        tg.user_sends_photo(png_image(), reply_to_message_id=5)
    with pytest.raises(ValueError):
        tg.user_sends_voice(b"OggS", 1, reply_to_message_id=5)
    assert tg.pending() == []
    first = tg.user_sends_voice(b"OggS", 1, username="alice")
    second = tg.user_sends_document(b"%PDF", reply_to_message_id=1)
    updates = result(tg, "getUpdates")
    assert [u["update_id"] for u in updates] == [first, second]
    voice, document = (u["message"] for u in updates)
    assert voice["from"]["username"] == "alice" and voice["chat"]["username"] == "alice"
    assert document["reply_to_message"]["voice"] == voice["voice"]


# ----------------------------------------------------------------------- Telegram: sendPhoto

def send_photo(tg: TelegramSandbox, photo=None, **data) -> requests.Response:
    """sendPhoto as multipart/form-data, the photo uploaded when it is bytes."""
    files = {"photo": ("p.png", photo, "image/png")} if isinstance(photo, bytes) else None
    if isinstance(photo, str):
        data["photo"] = photo
    return requests.post(f"{tg.url}/bot{tg.token}/sendPhoto", data=data, files=files, timeout=10)


def test_send_photo_uploads_a_picture_with_a_caption_as_a_reply(tg):
    tg.user_says("draw me a cat", chat_id=42)
    image = png_image(640, 480, (10, 20, 30))
    answer = send_photo(tg, image, chat_id="42", caption="Here it is 😀",
                        reply_parameters=json.dumps({"message_id": 1}))
    assert answer.status_code == 200, answer.text
    message = answer.json()["result"]
    assert message["message_id"] == 2 and message["from"]["is_bot"] is True and message["chat"]["id"] == 42
    assert message["caption"] == "Here it is 😀" and "text" not in message
    assert message["reply_to_message"]["text"] == "draw me a cat"
    assert [(s["width"], s["height"]) for s in message["photo"]] == [(90, 68), (320, 240), (640, 480)]
    full = message["photo"][-1]
    assert full["file_size"] == len(image) and tg.file_data(full["file_id"]) == image
    assert download(tg, full["file_id"]).content == image  # the bot's own photo can be fetched again

    sha = hashlib.sha256(image).hexdigest()
    assert tg.sent() == [{"chat_id": 42, "message_id": 2, "text": None, "photo": {"bytes": len(image), "sha256": sha},
                          "caption": "Here it is 😀", "caption_entities": [], "reply_to_message_id": 1,
                          "parse_mode": None, "date": message["date"]}]
    name, params = next(c for c in tg.calls if c[0] == "sendPhoto")
    assert params["photo"] == {"bytes": len(image), "sha256": sha}  # the call log holds no bytes
    assert params["caption"] == "Here it is 😀" and params["chat_id"] == "42"

    # The user replies to the picture: the update carries it.
    tg.user_says("thanks", chat_id=42, reply_to_message_id=2)
    assert result(tg, "getUpdates")[-1]["message"]["reply_to_message"]["photo"] == message["photo"]


def test_send_photo_sent_records_mix_with_text_records(tg):
    tg.user_says("hi", chat_id=7)
    result(tg, "sendMessage", chat_id=7, text="hello")
    assert send_photo(tg, jpeg_header(100, 100), chat_id="7").json()["ok"]
    text, photo = tg.sent()
    assert set(text) == {"chat_id", "message_id", "text", "reply_to_message_id", "parse_mode", "entities", "date"}
    assert [m["text"] for m in tg.sent()] == ["hello", None]
    assert photo["caption"] is None and photo["caption_entities"] == [] and photo["reply_to_message_id"] is None
    tg.sent()[1]["photo"]["bytes"] = 0  # a copy: the record itself is not changed
    assert tg.sent()[1]["photo"]["bytes"] == len(jpeg_header(100, 100))


def test_send_photo_by_file_id_and_by_url(tg):
    tg.user_sends_photo(png_image(400, 400), chat_id=5)
    tg.user_sends_voice(b"OggS", 1, chat_id=5)
    photo, voice = (u["message"] for u in result(tg, "getUpdates"))
    again = result(tg, "sendPhoto", chat_id=5, photo=photo["photo"][-1]["file_id"], caption="the same")
    assert again["photo"] == photo["photo"] and again["caption"] == "the same"
    by_url = result(tg, "sendPhoto", chat_id=5, photo="https://example.com/cat.jpg")
    assert len(by_url["photo"]) == 3 and by_url["photo"][-1]["width"] > by_url["photo"][0]["width"]
    assert [m["photo"] for m in tg.sent()] == [{"file_id": photo["photo"][-1]["file_id"]},
                                               {"url": "https://example.com/cat.jpg"}]
    assert error(tg, "sendPhoto", chat_id=5, photo="AgACnonsense")[1]["description"] == (
        "Bad Request: wrong file identifier/HTTP URL specified")
    assert error(tg, "sendPhoto", chat_id=5, photo=voice["voice"]["file_id"])[1]["description"] == (
        "Bad Request: can't use file of type Voice as Photo")
    assert len(tg.sent()) == 2


@pytest.mark.parametrize("photo, data, description", [
    (b"GIF89a not a png", {}, "Bad Request: IMAGE_PROCESS_FAILED"),
    (b"", {}, "Bad Request: there is no photo in the request"),
    (None, {}, "Bad Request: there is no photo in the request"),
    ("PNG", {"chat_id": ""}, "Bad Request: chat_id is empty"),
    ("PNG", {"chat_id": "999"}, "Bad Request: chat not found"),
    ("PNG", {"caption": "😀" * 513}, "Bad Request: message caption is too long"),
    ("PNG", {"caption": "*bold", "parse_mode": "MarkdownV2"},
     "Bad Request: can't parse entities: Can't find end of Bold entity at byte offset 0"),
    ("PNG", {"caption": "abc", "caption_entities": json.dumps([{"type": "bold", "offset": 2, "length": 5}])},
     "Bad Request: can't parse entities: entity 2+5 is outside the text of 3 UTF-16 code units"),
    ("PNG", {"caption_entities": "[not json"}, "Bad Request: can't parse caption entities JSON object"),
    ("PNG", {"parse_mode": "Klingon", "caption": "x"}, "Bad Request: unsupported parse_mode"),
    ("PNG", {"reply_parameters": json.dumps({"message_id": 77})}, "Bad Request: message to be replied not found"),
    ("PNG", {"reply_parameters": "{oops"}, "Bad Request: can't parse reply parameters JSON object"),
])
def test_send_photo_checks(tg, photo, data, description):
    tg.user_says("hello")
    photo = png_image() if photo == "PNG" else photo
    answer = send_photo(tg, photo, **{"chat_id": "1001", **data})
    assert (answer.status_code, answer.json()) == (400, {"ok": False, "error_code": 400, "description": description})
    assert tg.sent() == []


def test_send_photo_caption_limits_and_formatting(tg):
    tg.user_says("hello")
    assert send_photo(tg, png_image(), chat_id="1001", caption="😀" * 512).json()["ok"]  # 1024 UTF-16 units
    # The limit counts the caption as shown: markup does not count.
    shown = send_photo(tg, png_image(), chat_id="1001", caption="*" + "a" * 1024 + "*", parse_mode="MarkdownV2")
    assert shown.json()["result"]["caption"] == "a" * 1024
    assert tg.sent()[-1]["parse_mode"] == "MarkdownV2" and tg.sent()[-1]["caption"] == "*" + "a" * 1024 + "*"
    entities = [{"type": "bold", "offset": 0, "length": 2}]
    given = result(tg, "sendPhoto", chat_id=1001, photo=shown.json()["result"]["photo"][-1]["file_id"],
                   caption="hi there", caption_entities=entities, parse_mode="HTML",
                   reply_parameters={"message_id": 1})
    assert given["caption_entities"] == entities and given["reply_to_message"]["text"] == "hello"
    assert tg.sent()[-1]["caption_entities"] == entities and tg.sent()[-1]["parse_mode"] is None
    blank = send_photo(tg, png_image(), chat_id="1001", caption="   ").json()["result"]
    assert "caption" not in blank


def test_send_photo_upload_size_limit(tg, monkeypatch):
    tg.user_says("hello")
    too_big = png_image() + b"\x00" * (10 * 1024 * 1024 + 1 - len(png_image()))
    assert send_photo(tg, too_big, chat_id="1001").json()["description"] == "Bad Request: file is too big"
    monkeypatch.setattr(telegram_server, "MAX_PHOTO_UPLOAD", 1000)
    edge = png_image() + b"\x00" * (1000 - len(png_image()))
    assert send_photo(tg, edge, chat_id="1001").json()["ok"]
    assert send_photo(tg, edge + b"\x00", chat_id="1001").json()["description"] == "Bad Request: file is too big"
    assert len(tg.sent()) == 1


def test_send_photo_blocked_upgraded_and_flood_control(flood):
    flood.user_says("hi", chat_id=5)
    flood.user_says("hi all", chat_id=-5, chat_type="group")
    flood.block(5)
    blocked = send_photo(flood, png_image(), chat_id="5")
    assert (blocked.status_code, blocked.json()["description"]) == (403, "Forbidden: bot was blocked by the user")
    new_id = flood.upgrade_to_supergroup(-5)
    moved = send_photo(flood, png_image(), chat_id="-5").json()
    assert moved["error_code"] == 400 and moved["parameters"] == {"migrate_to_chat_id": new_id}
    flood.unblock(5)
    result(flood, "sendMessage", chat_id=5, text="one")
    for _ in range(2):
        assert send_photo(flood, png_image(), chat_id="5").json()["ok"]
    limited = send_photo(flood, png_image(), chat_id="5")
    assert limited.status_code == 429 and limited.json()["parameters"]["retry_after"] == 1
    assert flood.flood_hits == 1 and len(flood.sent(5)) == 3
    flood.fail("sendPhoto", 500)
    assert send_photo(flood, png_image(), chat_id=str(new_id)).status_code == 500


def test_multipart_fields_are_utf8(tg):
    tg.user_says("hello")
    answer = requests.post(f"{tg.url}/bot{tg.token}/sendMessage", timeout=5,
                           files={"chat_id": (None, "1001"), "text": (None, "café 😀")})
    assert answer.json()["result"]["text"] == "café 😀"


# ----------------------------------------------------------------------- model sandbox: speech

OGG = {"Content-Type": "audio/ogg"}  # how a voice note's raw audio is labelled


def test_speech_from_a_raw_body_and_from_json(model):
    audio = speech_audio("what is the weather")
    raw = requests.post(f"{model.url}/speech", data=audio, headers=OGG, timeout=5)
    assert (raw.status_code, raw.json()) == (200, {"text": "what is the weather"})
    recorded = model.requests[-1]
    assert recorded["path"] == "/speech" and recorded["json"] is None
    assert recorded["body_bytes"] == recorded["audio_bytes"] == len(audio)

    body = {"inputs": base64.b64encode(audio).decode(), "parameters": {"return_timestamps": True}}
    stamped = requests.post(f"{model.url}/speech", json=body, timeout=5).json()  # requests labels it application/json
    assert stamped == {"text": "what is the weather",
                       "chunks": [{"text": "what is the weather", "timestamp": [0.0, 2.0]}]}
    recorded = model.requests[-1]
    assert recorded["json"] == {"inputs": f"<base64 audio, {len(audio)} bytes>",
                                "parameters": {"return_timestamps": True}}
    assert recorded["audio_bytes"] == len(audio) and "body_bytes" not in recorded
    assert "weather" not in json.dumps(model.requests)  # the log never holds the audio

    plain = {"inputs": base64.b64encode(speech_audio("hello")).decode(), "parameters": {}}
    assert requests.post(f"{model.url}/speech", json=plain, timeout=5).json() == {"text": "hello"}
    for label in ("audio/mpeg", "audio/x-m4a", "audio/webm;codecs=opus", "audio/AMR-WB"):
        noise = requests.post(f"{model.url}/speech", data=b"OggS\x00\x02 real audio", headers={"Content-Type": label}, timeout=5)
        assert noise.json() == {"text": "(inaudible)"}


@pytest.mark.parametrize(("content_type", "send", "error"), [
    ("video/mp4", "raw", 'Content type "video/mp4" not supported'),  # a round video note
    ("audio/mp4", "raw", 'Content type "audio/mp4" not supported'),  # the toolkit knows m4a only as audio/m4a, audio/x-m4a
    ("audio/ogg; codecs=opus", "raw", 'Content type "audio/ogg; codecs=opus" not supported'),  # an exact match
    (None, "raw", 'Content type "None" not supported'),
    ("audio/ogg", "json", "Soundfile is either not in the correct format or is malformed"),  # JSON labelled as audio
    ("application/json", "raw", "unexpected character"),  # audio labelled as JSON
    ("application/json", "json without parameters", "No such file or directory"),  # base64 read as a file name
])
def test_speech_decodes_by_content_type_as_the_toolkit_does(model, content_type, send, error):
    audio = speech_audio("hello")
    if send == "raw":
        data = audio
    else:
        body = {"inputs": base64.b64encode(audio).decode()}
        data = json.dumps(body if send == "json without parameters" else {**body, "parameters": {}}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    refused = requests.post(f"{model.url}/speech", data=data, headers=headers, timeout=5)
    assert refused.status_code == 400 and error in refused.json()["error"]
    assert set(refused.json()) == {"error"}  # the toolkit's shape: every failure is a 400 {"error": ...}
    assert "hello" not in json.dumps(model.requests)


def test_speech_over_30_seconds_needs_timestamps_as_whisper_does(model):
    long = speech_audio("what is the weather in paris today", seconds=45)
    refused = requests.post(f"{model.url}/speech", data=long, headers=OGG, timeout=5)
    assert refused.status_code == 400
    assert refused.json()["error"].startswith("You have passed more than 3000 mel input features (> 30 seconds)")
    assert "`return_timestamps=True`" in refused.json()["error"]
    for stamps in (False, None):
        body = {"inputs": base64.b64encode(long).decode(), "parameters": {"return_timestamps": stamps}}
        assert requests.post(f"{model.url}/speech", json=body, timeout=5).status_code == 400
    body = {"inputs": base64.b64encode(long).decode(), "parameters": {"return_timestamps": True}}
    answer = requests.post(f"{model.url}/speech", json=body, timeout=5).json()
    assert answer["text"] == "what is the weather in paris today"
    assert answer["chunks"] == [{"text": "what is the weather", "timestamp": [0.0, 22.5]},
                                {"text": "in paris today", "timestamp": [22.5, 45.0]}]
    exactly = requests.post(f"{model.url}/speech", data=speech_audio("short", seconds=30), headers=OGG, timeout=5)
    assert exactly.json() == {"text": "short"}


@pytest.mark.parametrize("kwargs", [
    {"data": b"", "headers": OGG},
    {"json": {"inputs": "", "parameters": {}}},
    {"json": {"inputs": "not base64!", "parameters": {"return_timestamps": True}}},
    {"json": {"inputs": 42, "parameters": {}}},
    {"json": {"parameters": {}}},
    {"json": {"inputs": base64.b64encode(b"SPEECH:x").decode(), "parameters": ["return_timestamps"]}},
])
def test_speech_input_validation(model, kwargs):
    answer = requests.post(f"{model.url}/speech", timeout=5, **kwargs)
    assert answer.status_code == 400
    assert set(answer.json()) == {"error"} and answer.json()["error"]


def test_transcribe_with(model):
    url = f"{model.url}/speech"
    model.transcribe_with("fixed words")
    assert requests.post(url, data=b"anything", headers=OGG, timeout=5).json() == {"text": "fixed words"}
    heard = []
    model.transcribe_with(lambda audio: heard.append(audio) or (None if audio.startswith(b"SPEECH:") else "custom"))
    assert requests.post(url, data=b"OggS", headers=OGG, timeout=5).json() == {"text": "custom"}
    assert requests.post(url, data=speech_audio("own words"), headers=OGG, timeout=5).json() == {"text": "own words"}
    assert heard == [b"OggS", speech_audio("own words")]
    assert requests.post(url, data=speech_audio("x", 31), headers=OGG, timeout=5).status_code == 400  # the limit comes first
    model.transcribe_with(None)
    assert requests.post(url, data=b"OggS", headers=OGG, timeout=5).json() == {"text": "(inaudible)"}


def test_speech_through_huggingface_hub(model, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub import InferenceClient
    from huggingface_hub.errors import HfHubHTTPError
    from huggingface_hub.inference._common import MimeBytes

    client = InferenceClient(model=f"{model.url}/speech", timeout=5)
    audio = MimeBytes(speech_audio("remind me at noon"), "audio/ogg")  # bytes that carry their type
    assert client.automatic_speech_recognition(audio).text == "remind me at noon"
    recorded = model.requests[-1]
    assert recorded["headers"]["content-type"] == "audio/ogg" and recorded["body_bytes"] == len(audio)

    long = MimeBytes(speech_audio("a long story about my day", seconds=75), "audio/ogg")
    with pytest.raises(HfHubHTTPError) as caught:
        client.automatic_speech_recognition(long)
    assert caught.value.response.status_code == 400
    assert "return_timestamps=True" in caught.value.response.json()["error"]
    # Parameters turn the request into JSON, the audio in base64, labelled application/json.
    out = client.automatic_speech_recognition(long, extra_body={"return_timestamps": True})
    assert out.text == "a long story about my day"
    assert [c.timestamp for c in out.chunks] == [[0.0, 25.0], [25.0, 50.0], [50.0, 75.0]]
    assert model.requests[-1]["headers"]["content-type"] == "application/json"
    assert model.requests[-1]["json"]["parameters"] == {"return_timestamps": True}
    assert model.requests[-1]["audio_bytes"] == len(long)

    # A client-wide Content-Type wins over the library's own: its JSON goes out labelled as audio.
    labelled = InferenceClient(model=f"{model.url}/speech", timeout=5, headers={"Content-Type": "audio/ogg"})
    with pytest.raises(HfHubHTTPError) as caught:
        labelled.automatic_speech_recognition(long, extra_body={"return_timestamps": True})
    assert model.requests[-1]["headers"]["content-type"] == "audio/ogg" and model.requests[-1]["json"]["parameters"]
    assert "Soundfile is either not in the correct format" in caught.value.response.json()["error"]


# ----------------------------------------------------------------------- model sandbox: pictures

def test_draw_answers_a_png_that_depends_on_the_prompt(model):
    answer = requests.post(f"{model.url}/draw", json={"inputs": "a red cat", "parameters": {"width": 512}},
                           headers={"Accept": "image/png"}, timeout=5)
    assert answer.status_code == 200 and answer.headers["Content-Type"] == "image/png"
    width, height, colours = read_png(answer.content)
    assert (width, height) == (8, 8) and len(colours) == 1
    assert model.requests[-1]["json"] == {"inputs": "a red cat", "parameters": {"width": 512}}
    again = requests.post(f"{model.url}/draw", json={"inputs": "a red cat"}, timeout=5).content
    other = requests.post(f"{model.url}/draw", json={"inputs": "a blue dog"}, timeout=5).content
    assert again == answer.content and read_png(other)[2] != colours


@pytest.mark.parametrize("body", [{"inputs": ""}, {"inputs": "  "}, {"parameters": {}}, {"inputs": ["a"]},
                                  {"inputs": "cat", "parameters": "big"}])
def test_draw_input_validation(model, body):
    answer = requests.post(f"{model.url}/draw", json=body, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"].startswith("Input validation error: ")


def test_draw_with(model):
    url = f"{model.url}/draw"
    jpeg = jpeg_header(2, 2)
    model.draw_with(jpeg)
    answer = requests.post(url, json={"inputs": "x"}, timeout=5)
    assert answer.content == jpeg and answer.headers["Content-Type"] == "image/jpeg"
    model.draw_with(lambda prompt: png_image(2, 1) if prompt == "wide" else None)
    assert read_png(requests.post(url, json={"inputs": "wide"}, timeout=5).content)[:2] == (2, 1)
    assert read_png(requests.post(url, json={"inputs": "other"}, timeout=5).content)[:2] == (8, 8)
    model.draw_with(None)
    assert read_png(requests.post(url, json={"inputs": "wide"}, timeout=5).content)[:2] == (8, 8)


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def test_chat_sees_the_images_of_the_last_user_message(model):
    png, jpeg = png_image(16, 16), jpeg_header(10, 10)
    messages = [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": data_url(png)}},
                                     {"type": "text", "text": "earlier"}]},
        {"role": "assistant", "content": "Echo: earlier [seen: 1 image, 70 bytes]"},
        {"role": "user", "content": [{"type": "text", "text": "and these?"},
                                     {"type": "image_url", "image_url": {"url": data_url(png)}},
                                     {"type": "image_url", "image_url": {"url": data_url(jpeg, "image/jpeg")}}]},
    ]
    url = f"{model.url}/v1/chat/completions"
    answer = requests.post(url, json={"messages": messages}, timeout=5).json()
    assert answer["choices"][0]["message"]["content"] == (
        f"Echo: and these? [seen: 2 images, {len(png) + len(jpeg)} bytes]")
    text_only = messages[:2] + [{"role": "user", "content": "no picture"}]
    assert requests.post(url, json={"messages": text_only}, timeout=5).json()[
        "choices"][0]["message"]["content"] == "Echo: no picture"
    linked = [{"role": "user", "content": [{"type": "text", "text": "see"},
                                           {"type": "image_url", "image_url": {"url": "https://e.com/a.png"}}]}]
    assert requests.post(url, json={"messages": linked}, timeout=5).json()[
        "choices"][0]["message"]["content"] == "Echo: see [seen: 1 image, 0 bytes]"
    model.reply_with("a cat")  # a scripted answer is the whole answer
    assert requests.post(url, json={"messages": messages}, timeout=5).json()[
        "choices"][0]["message"]["content"] == "a cat"


@pytest.mark.parametrize("image_url", [
    {"url": "data:image/png;base64,not*base64"},
    {"url": "data:image/png;base64,aGVs*bG8="},  # lenient decoding would skip the stray "*"
    {"url": "data:image/png,%89PNG"},
    {"url": "ftp://e.com/a.png"},
    {},
])
def test_chat_refuses_images_it_cannot_read(model, image_url):
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": image_url}]},
                {"role": "user", "content": "fine"}]  # an unreadable image anywhere is refused
    answer = requests.post(f"{model.url}/v1/chat/completions", json={"messages": messages}, timeout=5)
    assert answer.status_code == 400 and answer.json()["error"].startswith("Input validation error: ")


def test_vision_chat_through_huggingface_hub(model, monkeypatch):
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub import InferenceClient

    png = png_image(32, 32)
    out = InferenceClient(base_url=model.url, timeout=5).chat_completion([{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": data_url(png)}}]}], model="sandbox/echo")
    assert out.choices[0].message.content == f"Echo: what is this? [seen: 1 image, {len(png)} bytes]"
    assert model.requests[-1]["json"]["messages"][0]["content"][1]["image_url"]["url"] == data_url(png)


def test_media_endpoints_have_latency_faults_and_hangs(model):
    speech = {"data": speech_audio("hi"), "headers": OGG}
    draw = {"json": {"inputs": "a cat"}}
    model.latency = 0.3
    for path, kwargs in (("/speech", speech), ("/draw", draw)):
        started = time.monotonic()
        assert requests.post(model.url + path, timeout=5, **kwargs).status_code == 200
        assert time.monotonic() - started >= 0.3
    model.latency = 0.0
    model.fail(503)
    model.fail(429)
    loading = requests.post(model.url + "/speech", timeout=5, **speech)
    assert loading.status_code == 503 and loading.json()["error"] == "Model is currently loading"
    assert requests.post(model.url + "/draw", timeout=5, **draw).headers["Retry-After"] == "1"
    model.hang(3)
    with pytest.raises(requests.Timeout):
        requests.post(model.url + "/speech", timeout=0.3, **speech)
    model.heal()
    assert requests.post(model.url + "/speech", timeout=5, **speech).json() == {"text": "hi"}


# ----------------------------------------------------------------------- GitHub stand-in: a workflow's runs

RUNS = "/repos/owner/botjob/actions/workflows/bot.yml/runs"


@pytest.fixture
def github():
    with GitHubSandbox() as sandbox:
        yield sandbox


def list_runs(github: GitHubSandbox, path: str = RUNS, token: str | None = "", **params) -> requests.Response:
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token or github.token}"
    return requests.get(github.url + path, params=params, headers=headers, timeout=10)


def test_github_lists_a_workflows_runs_newest_first_filtered_and_paged(github):
    start = datetime(2026, 11, 25, 8, 3, tzinfo=timezone.utc)
    for minutes in range(0, 1200, 10):  # 120 scheduled runs
        github.add_run(start + timedelta(minutes=minutes))
    github.add_run(start + timedelta(minutes=5), event="workflow_dispatch")
    github.add_run(start, workflow="ci.yml", event="push")

    default = list_runs(github).json()
    assert default["total_count"] == 121 and len(default["workflow_runs"]) == 30  # GitHub's default page
    scheduled = list_runs(github, event="schedule", per_page=100).json()
    assert scheduled["total_count"] == 120 and {r["event"] for r in scheduled["workflow_runs"]} == {"schedule"}
    newest = scheduled["workflow_runs"]
    assert newest[0]["created_at"] == "2026-11-26T03:53:00Z" and newest[-1]["created_at"] == "2026-11-25T11:23:00Z"
    assert len(list_runs(github, event="schedule", per_page=500).json()["workflow_runs"]) == 100  # at most 100 a page
    second = list_runs(github, event="schedule", per_page=25, page=2).json()["workflow_runs"]
    assert [r["created_at"] for r in second] == [r["created_at"] for r in newest[25:50]]
    by_id = list_runs(github, f"/repos/OWNER/BotJob/actions/workflows/{newest[0]['workflow_id']}/runs").json()
    assert by_id["total_count"] == 121  # the workflow by its id, the repository in any case


def test_github_runs_keep_when_they_were_fired_apart_from_when_they_started(github):
    fired = datetime(2026, 11, 25, 8, 3, 12, tzinfo=timezone.utc)
    github.add_run(fired, queued=90, reruns=1)
    (run,) = list_runs(github).json()["workflow_runs"]
    assert run["created_at"] == "2026-11-25T08:03:12Z"
    assert run["run_started_at"] == "2026-11-25T09:04:42Z" and run["run_attempt"] == 2  # queued, then re-run an hour on


def test_github_checks_the_token_and_hides_a_private_repository(github):
    assert list_runs(github, token="ghp_wrong").status_code == 401
    assert list_runs(github, token="ghp_wrong").json()["message"] == "Bad credentials"
    assert list_runs(github, token=None).status_code == 404  # GitHub does not say a private repository exists
    assert list_runs(github, "/repos/owner/other/actions/workflows/bot.yml/runs").status_code == 404
    assert list_runs(github, "/repos/owner/botjob/actions/workflows/nope.yml/runs").json()["message"] == "Not Found"
    github.private = False
    assert list_runs(github, token=None).status_code == 200  # a public repository's runs need no token
    github.can_read_actions = False
    refused = list_runs(github)
    assert refused.status_code == 403 and refused.json()["message"] == "Resource not accessible by integration"


def test_github_refuses_an_api_version_it_does_not_know_and_answers_scripted_faults(github):
    odd = requests.get(github.url + RUNS, headers={"X-GitHub-Api-Version": "2020-01-01"}, timeout=10)
    assert odd.status_code == 400 and "Unsupported 'X-GitHub-Api-Version'" in odd.json()["message"]
    github.fail(403, "API rate limit exceeded", headers={"x-ratelimit-remaining": "0"})
    limited = list_runs(github)
    assert limited.status_code == 403 and limited.headers["x-ratelimit-remaining"] == "0"
    assert list_runs(github).status_code == 200
    assert [r.headers.get("Authorization") for r in github.requests()][-1] == f"Bearer {github.token}"
