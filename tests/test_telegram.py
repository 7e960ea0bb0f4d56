"""Tests for botjob.telegram: request shape and error mapping, at the requests level with `responses`."""

from __future__ import annotations

import io
import json
import logging
import traceback

import pytest
import requests
import responses

from botjob.errors import Failure
from botjob.redaction import REDACTED, RedactingFilter
from botjob.errors import POLLER_HINT, TOKEN_HINT, WEBHOOK_HINT, TelegramError
from botjob.telegram import TelegramClient

TOKEN = "123456789:AAAAtest-token-not-real-xxxxxxxxxxxxxxx"
API = "https://api.telegram.org"
BASE = f"{API}/bot{TOKEN}"


@pytest.fixture
def api():
    """Every HTTP call the test does not register fails: nothing reaches the network."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def client():
    bot = TelegramClient(TOKEN, timeout=30.0, connect_timeout=10.0)
    yield bot
    bot.close()


def answer_error(api, method: str, status: int, description: str, **extra) -> None:
    api.post(f"{BASE}/{method}", status=status, json={"ok": False, "error_code": status, "description": description, **extra})


def sent_body(call) -> dict:
    return json.loads(call.request.body)


def raised(call_it) -> TelegramError:
    with pytest.raises(TelegramError) as caught:
        call_it()
    return caught.value


# ---------------------------------------------------------------------------- request shape


def test_call_posts_json_to_the_bot_url_and_returns_the_result(api, client):
    api.post(f"{BASE}/getMe", json={"ok": True, "result": {"id": 123456789, "is_bot": True, "username": "test_bot"}})

    me = client.get_me()

    assert me["username"] == "test_bot"
    (call,) = api.calls
    assert call.request.method == "POST"
    assert call.request.url == f"{BASE}/getMe"
    assert call.request.headers["Content-Type"] == "application/json"
    assert sent_body(call) == {}


def test_api_url_with_trailing_slash_gives_the_same_url(api):
    api.post("http://127.0.0.1:8081/bot" + TOKEN + "/getMe", json={"ok": True, "result": {"id": 1}})
    bot = TelegramClient(TOKEN, "http://127.0.0.1:8081/")

    assert bot.get_me() == {"id": 1}
    assert api.calls[0].request.url == f"http://127.0.0.1:8081/bot{TOKEN}/getMe"


def test_empty_token_is_refused_before_any_request():
    with pytest.raises(ValueError):
        TelegramClient("")


def test_get_updates_sends_offset_limit_timeout_and_allowed_updates(api, client):
    update = {"update_id": 501, "message": {"message_id": 7, "chat": {"id": 42, "type": "private"}, "text": "hi"}}
    api.post(f"{BASE}/getUpdates", json={"ok": True, "result": [update]})

    updates = client.get_updates(501, limit=50, timeout=20, allowed_updates=["message"])

    assert updates == [update]
    assert sent_body(api.calls[0]) == {"offset": 501, "limit": 50, "timeout": 20, "allowed_updates": ["message"]}


def test_get_updates_omits_absent_parameters(api, client):
    api.post(f"{BASE}/getUpdates", json={"ok": True, "result": []})

    assert client.get_updates() == []

    body = sent_body(api.calls[0])
    assert "allowed_updates" not in body and "offset" not in body  # never sent as null
    assert body == {"limit": 100, "timeout": 0}


def test_get_updates_read_timeout_grows_with_the_long_poll(api, client):
    api.post(f"{BASE}/getUpdates", json={"ok": True, "result": []})
    api.post(f"{BASE}/getMe", json={"ok": True, "result": {"id": 1}})

    client.get_updates(5, timeout=25)
    client.get_updates(5, timeout=0)
    client.get_me()

    long_poll, short_poll, plain = (call.request.req_kwargs["timeout"] for call in api.calls)
    assert long_poll == (10.0, 30.0 + 25)  # (connect, read): the server may hold the request 25 s
    assert short_poll == (10.0, 30.0)
    assert plain == (10.0, 30.0)


def test_send_message_threads_the_reply_without_requiring_the_original(api, client):
    api.post(f"{BASE}/sendMessage", json={"ok": True, "result": {"message_id": 8, "chat": {"id": 42}}})

    sent = client.send_message(42, "Hello!", reply_to_message_id=7)

    assert sent["message_id"] == 8
    assert sent_body(api.calls[0]) == {
        "chat_id": 42,
        "text": "Hello!",
        "reply_parameters": {"message_id": 7, "allow_sending_without_reply": True},
    }


def test_send_message_without_reply_or_parse_mode_sends_neither(api, client):
    api.post(f"{BASE}/sendMessage", json={"ok": True, "result": {"message_id": 9}})

    client.send_message(42, "plain")

    assert sent_body(api.calls[0]) == {"chat_id": 42, "text": "plain"}


def test_send_message_passes_parse_mode(api, client):
    api.post(f"{BASE}/sendMessage", json={"ok": True, "result": {"message_id": 9}})

    client.send_message(42, "<b>bold</b>", parse_mode="HTML")

    assert sent_body(api.calls[0])["parse_mode"] == "HTML"


def test_send_chat_action_and_delete_webhook_bodies(api, client):
    api.post(f"{BASE}/sendChatAction", json={"ok": True, "result": True})
    api.post(f"{BASE}/deleteWebhook", json={"ok": True, "result": True})

    assert client.send_chat_action(42) is True
    assert client.delete_webhook(drop_pending_updates=False) is True

    assert sent_body(api.calls[0]) == {"chat_id": 42, "action": "typing"}
    assert sent_body(api.calls[1]) == {"drop_pending_updates": False}  # False is a value, not "absent"


def test_get_chat_member_asks_about_one_user_of_one_chat(api, client):
    api.post(f"{BASE}/getChatMember", json={"ok": True, "result": {"user": {"id": 7, "is_bot": False, "first_name": "A"},
                                                                    "status": "administrator"}})

    assert client.get_chat_member(-100123, 7)["status"] == "administrator"

    assert sent_body(api.calls[0]) == {"chat_id": -100123, "user_id": 7}


@pytest.mark.parametrize(("status", "description"), [
    (400, "Bad Request: CHAT_ADMIN_REQUIRED"), (400, "Bad Request: user not found"),
    (403, "Forbidden: bot is not a member of the supergroup chat"),
])
def test_get_chat_member_refusal_concerns_only_that_chat(api, client, status, description):
    answer_error(api, "getChatMember", status, description)

    assert raised(lambda: client.get_chat_member(-100123, 7)).kind is Failure.MESSAGE


# ---------------------------------------------------------------------------- error mapping


@pytest.mark.parametrize(("status", "description"), [(401, "Unauthorized"), (404, "Not Found")])
def test_bad_token_is_bot_wide_with_a_token_hint(api, client, status, description):
    answer_error(api, "getMe", status, description)

    err = raised(client.get_me)

    assert err.kind is Failure.BOT_WIDE
    assert (err.method, err.error_code, err.description) == ("getMe", status, description)
    assert err.retry_after is None
    assert err.hint == TOKEN_HINT
    assert "TELEGRAM_BOT_TOKEN" in err.explain() and "BotFather" in err.explain()


def test_webhook_conflict_is_bot_wide_and_says_how_to_delete_the_webhook(api, client):
    answer_error(
        api, "getUpdates", 409,
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    )

    err = raised(client.get_updates)

    assert err.kind is Failure.BOT_WIDE and err.error_code == 409
    assert err.hint == WEBHOOK_HINT
    assert "deleteWebhook" in err.explain() and "check --fix" in err.explain()


def test_second_poller_conflict_is_bot_wide_and_names_the_other_poller(api, client):
    answer_error(
        api, "getUpdates", 409,
        "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running",
    )

    err = raised(client.get_updates)

    assert err.kind is Failure.BOT_WIDE and err.error_code == 409
    assert err.hint == POLLER_HINT != WEBHOOK_HINT
    assert "another process" in err.explain()
    assert "deleteWebhook" not in err.explain()  # deleting a webhook would not help here


def test_flood_limit_is_transient_and_carries_retry_after(api, client):
    answer_error(api, "sendMessage", 429, "Too Many Requests: retry after 17", parameters={"retry_after": 17})

    err = raised(lambda: client.send_message(42, "hi"))

    assert err.kind is Failure.TRANSIENT
    assert err.error_code == 429
    assert err.retry_after == 17.0
    assert err.method == "sendMessage"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_error_with_json_answer_is_transient(api, client, status):
    answer_error(api, "getUpdates", status, "Internal Server Error")

    err = raised(client.get_updates)

    assert err.kind is Failure.TRANSIENT
    assert err.error_code == status
    assert err.retry_after is None


def test_html_bad_gateway_page_is_transient(api, client):
    api.post(f"{BASE}/getUpdates", status=502, content_type="text/html",
             body="<html><head><title>502 Bad Gateway</title></head><body><center>nginx</center></body></html>")

    err = raised(client.get_updates)

    assert err.kind is Failure.TRANSIENT
    assert err.error_code == 502
    assert "502" in str(err)
    assert "<html>" not in str(err)  # no page dumped into the log


def test_json_without_ok_field_is_an_error_not_a_result(api, client):
    api.post(f"{BASE}/getMe", status=200, json={"result": {"id": 1}})

    err = raised(client.get_me)

    assert err.method == "getMe"
    assert "unexpected answer" in err.description


@pytest.mark.parametrize(
    ("status", "description"),
    [(400, "Bad Request: chat not found"), (403, "Forbidden: bot was blocked by the user"),
     (400, "Bad Request: message is too long"), (403, "Forbidden: user is deactivated")],
)
def test_send_message_refusal_concerns_only_that_message(api, client, status, description):
    answer_error(api, "sendMessage", status, description)

    err = raised(lambda: client.send_message(42, "hi", reply_to_message_id=7))

    assert err.kind is Failure.MESSAGE
    assert (err.method, err.error_code, err.description) == ("sendMessage", status, description)


def test_get_updates_bad_request_is_bot_wide(api, client):
    answer_error(api, "getUpdates", 400, "Bad Request: wrong parameter limit")

    err = raised(lambda: client.get_updates(limit=1000))

    assert err.kind is Failure.BOT_WIDE
    assert err.error_code == 400


@pytest.mark.parametrize(
    "failure",
    [requests.ConnectionError("Connection refused"), requests.ReadTimeout("read timed out"),
     requests.ConnectTimeout("connect timed out")],
)
def test_network_failure_is_transient_without_error_code(api, client, failure):
    api.post(f"{BASE}/getUpdates", body=failure)

    err = raised(client.get_updates)

    assert err.kind is Failure.TRANSIENT
    assert err.error_code is None
    assert err.method == "getUpdates"
    assert type(failure).__name__ in str(err)  # the owner can tell a timeout from a refusal


# ---------------------------------------------------------------------------- redaction


def assert_token_nowhere(err: BaseException) -> None:
    texts = {
        "str": str(err),
        "repr": repr(err),
        "traceback": "".join(traceback.format_exception(err)),
    }
    if isinstance(err, TelegramError):
        texts["explain"] = err.explain()
        texts["description"] = err.description
    for where, text in texts.items():
        assert TOKEN not in text, f"token leaked in {where}: {text}"
        # The secret half alone is the dangerous part: the bot id before ':' is public.
        assert TOKEN.split(":", 1)[1] not in text, f"token secret leaked in {where}: {text}"


def assert_no_chain_with_token(err: BaseException) -> None:
    for linked in (err.__cause__, err.__context__):
        if linked is not None:
            assert TOKEN not in "".join(traceback.format_exception(linked)) + repr(linked), (
                f"a chained {type(linked).__name__} still carries the token"
            )


@pytest.mark.parametrize(
    ("status", "description"),
    [(401, "Unauthorized"), (409, "Conflict: terminated by other getUpdates request"),
     (429, "Too Many Requests: retry after 3"), (400, "Bad Request: chat not found")],
)
def test_error_answers_never_show_the_token(api, client, status, description):
    answer_error(api, "sendMessage", status, description, parameters={"retry_after": 3})

    err = raised(lambda: client.send_message(42, "hi"))

    assert_token_nowhere(err)
    assert_no_chain_with_token(err)


def test_description_echoing_the_token_is_scrubbed(api, client):
    answer_error(api, "getMe", 404, f"Not Found: no bot with token {TOKEN} at /bot{TOKEN}/getMe")

    err = raised(client.get_me)

    assert_token_nowhere(err)
    assert err.description.count(REDACTED) == 2  # still says *where* the token was


def test_html_error_page_never_shows_the_token(api, client):
    api.post(f"{BASE}/getMe", status=502, content_type="text/html", body=f"<html>bad gateway for /bot{TOKEN}/getMe</html>")

    err = raised(client.get_me)

    assert_token_nowhere(err)
    assert_no_chain_with_token(err)


def test_connection_error_text_with_the_url_is_scrubbed(api, client):
    # What urllib3 really says: the path, token included, is in the message.
    failure = requests.ConnectionError(
        f"HTTPSConnectionPool(host='api.telegram.org', port=443): Max retries exceeded with url: "
        f"/bot{TOKEN}/getUpdates (Caused by NewConnectionError('Failed to establish a new connection'))"
    )
    api.post(f"{BASE}/getUpdates", body=failure)

    err = raised(client.get_updates)

    assert_token_nowhere(err)
    assert "Max retries exceeded" in str(err)  # the reason survives, only the token goes
    assert err.__cause__ is None


def test_unregistered_url_error_from_responses_is_scrubbed(api, client):
    # `responses` refuses unknown URLs with a ConnectionError that quotes the full URL.
    err = raised(client.get_webhook_info)

    assert err.kind is Failure.TRANSIENT
    assert_token_nowhere(err)


def test_connection_error_keeps_no_chained_exception_with_the_token(api, client):
    failure = requests.ConnectionError(f"Max retries exceeded with url: /bot{TOKEN}/getUpdates")
    api.post(f"{BASE}/getUpdates", body=failure)

    err = raised(client.get_updates)

    assert_no_chain_with_token(err)


# ---------------------------------------------------------------------------- log filter


@pytest.fixture
def scrubbed_log():
    """A logger whose only handler has the filter; yields (logger, captured text)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter([TOKEN, ""]))
    logger = logging.getLogger("tests.telegram.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_redacting_filter_scrubs_message_args_and_traceback(scrubbed_log):
    logger, stream = scrubbed_log

    logger.info(f"POST /bot{TOKEN}/getMe")
    logger.warning("calling %s with %r", f"https://api.telegram.org/bot{TOKEN}/sendMessage", {"token": TOKEN})
    try:
        raise RuntimeError(f"boom at /bot{TOKEN}/getUpdates")
    except RuntimeError:
        logger.exception("call failed for chat %d", 42)

    written = stream.getvalue()
    assert TOKEN not in written
    assert TOKEN.split(":", 1)[1] not in written
    # Everything else is still there to read.
    assert f"POST /bot{REDACTED}/getMe" in written
    assert f"https://api.telegram.org/bot{REDACTED}/sendMessage" in written
    assert "call failed for chat 42" in written
    assert "Traceback (most recent call last)" in written
    assert f"RuntimeError: boom at /bot{REDACTED}/getUpdates" in written


def test_redacting_filter_scrubs_chained_exceptions(scrubbed_log):
    logger, stream = scrubbed_log

    try:
        try:
            raise OSError(f"connect to /bot{TOKEN}/getMe refused")
        except OSError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError:
        logger.error("failed", exc_info=True)

    written = stream.getvalue()
    assert TOKEN not in written
    assert "OSError: connect to /bot***/getMe refused" in written
    assert "RuntimeError: wrapped" in written


def test_redacting_filter_without_secrets_leaves_records_alone(scrubbed_log):
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "value %s", ("abc",), None)

    assert RedactingFilter(["", ""]).filter(record) is True
    assert record.getMessage() == "value abc"
    assert record.args == ("abc",)


def test_an_answer_with_a_non_numeric_error_code_is_still_a_telegram_error(api, client):
    api.post(f"{BASE}/getMe", status=500, json={"ok": False, "error_code": "oops", "description": "Internal"})
    error = raised(client.get_me)
    assert error.error_code == 500 and error.kind is Failure.TRANSIENT


def test_every_form_of_a_secret_is_redacted_trimmed_and_url_quoted():
    from botjob.redaction import redact, secrets_in

    token = "123456789:AAF+fake/token"
    forms = secrets_in({
        "TELEGRAM_BOT_TOKEN": f"  {token}\n", "HF_TOKEN": "hf_secret value",
        "BOTJOB_STATE_KEY": "state-key-0123456789abcdef", "GITHUB_TOKEN": "ghs_pushtoken0123",
    })
    text = (f"url /bot{token}/getMe, quoted /bot123456789%3AAAF%2Bfake%2Ftoken/, plus hf_secret+value and "
            "hf_secret%20value, a key state-key-0123456789abcdef and a push token ghs_pushtoken0123")
    scrubbed = redact(text, forms)
    for leak in ("123456789", "fake", "hf_secret", "state-key", "ghs_push"):
        assert leak not in scrubbed


# ---------------------------------------------------------------------------- downloads


FILE = f"{API}/file/bot{TOKEN}/voice/file_1.oga"


def test_a_download_stops_once_past_its_limit_and_says_the_file_is_too_big(api, client):
    api.get(FILE, body=b"x" * 300_000)  # more than the 1,000 bytes getFile reported, say

    err = raised(lambda: client.download("voice/file_1.oga", max_bytes=100_000))

    assert err.kind is Failure.MESSAGE and "file is too big" in err.description
    assert client.download("voice/file_1.oga", max_bytes=300_000) == b"x" * 300_000  # at the limit: kept whole


@pytest.mark.parametrize("location", ["http://[::1", "https://[zz]/"])
def test_a_download_sent_on_to_a_malformed_address_concerns_only_that_file(api, client, location):
    # requests raises a bare ValueError for these while following the redirect, not a RequestException.
    api.get(FILE, status=302, headers={"Location": location})

    err = raised(lambda: client.download("voice/file_1.oga", max_bytes=1000))

    assert err.kind is Failure.MESSAGE and err.method == "download" and "too big" not in err.description
    assert "ValueError" in str(err) and "voice/" not in str(err)  # what happened, never which file
    assert_token_nowhere(err)
    assert_no_chain_with_token(err)


def test_a_call_sent_on_to_a_malformed_address_is_a_passing_trouble(api, client):
    api.post(f"{BASE}/getMe", status=302, headers={"Location": "http://[::1"})

    err = raised(client.get_me)

    assert err.kind is Failure.TRANSIENT and err.error_code is None and "ValueError" in str(err)
    assert_token_nowhere(err)
    assert_no_chain_with_token(err)
