"""Fallback models: when the first model cannot answer, the next one does, and the owner hears why.

One model stand-in serves two model names at once, each with faults of its own: the first model is
BOTJOB_LLM_URL asked for "acme/first", the fallback the same server asked for "acme/second"
(llm.fallback: [{url, model}]); a second stand-in plays another server where one is needed.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
from pathlib import Path

import pytest

from botjob.cli import exit_code, format_report, main
from botjob.config import Config, LLMSettings, MediaSettings, ModelChoice, RunSettings
from botjob.errors import BotjobError, Failure
from botjob.fallback import ChatModels, NoModelAnswered
from botjob.sandbox import ModelSandbox
from botjob.sandbox.media import png_image
from botjob.sandbox.model_server import provider_unsupported
from conftest import message_id_of, stored_offset

FIRST, SECOND = "acme/first", "acme/second"
CHATS = [1001, 1002, 1003, 1004, 1005]


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def with_fallback(model: ModelSandbox, **run: object) -> Config:
    """The first model and its fallback on one stand-in, told apart by the model name they are asked for."""
    return Config(llm=LLMSettings(endpoint_model=FIRST, fallback=(ModelChoice(url=model.url, model=SECOND),)),
                  run=RunSettings(**run))  # type: ignore[arg-type]


def asked(model: ModelSandbox, name: str) -> int:
    """How many chat completions named this model."""
    return sum(1 for r in model.requests if r["path"].endswith("/chat/completions") and (r["json"] or {}).get("model") == name)


def five_questions(telegram) -> dict[int, int]:
    """Five people ask one question each: chat id -> the message id the answer must reply to."""
    return {chat: message_id_of(telegram, telegram.user_says(f"question from {chat}", chat_id=chat)) for chat in CHATS}


def waiting_ids(telegram) -> list[int]:
    return [update["update_id"] for update in telegram.pending()]


# ----------------------------------------------------------------------------- each reason to move on


BOT_WIDE_REASONS = {
    "not served (the router's words)": (lambda model: model.serve_only(SECOND), "is not served"),
    "not served (a provider's words)": (
        lambda model: model.fail(400, body=provider_unsupported("together"), times=None, model=FIRST), "is not served"),
    "out of credits": (lambda model: model.fail(402, times=None, model=FIRST), "no inference credits left"),
    "token refused (401)": (lambda model: model.fail(401, times=None, model=FIRST), "the token was refused"),
    "token refused (403)": (lambda model: model.fail(403, times=None, model=FIRST), "the token was refused"),
    "not found": (lambda model: model.fail(404, times=None, model=FIRST), "was not found"),
}
PASSING_REASONS = {
    "still loading after its retries": (lambda model: model.fail(503, times=None, model=FIRST), "HTTP 503"),
    "server errors after its retries": (lambda model: model.fail(500, times=None, model=FIRST), "HTTP 500"),
}


@pytest.mark.parametrize("reason", [*BOT_WIDE_REASONS, *PASSING_REASONS])
def test_a_first_model_that_cannot_answer_leaves_every_question_to_the_fallback(
        telegram, model, make_job, state_dir, caplog, reason) -> None:
    make_fault, words = {**BOT_WIDE_REASONS, **PASSING_REASONS}[reason]
    make_fault(model)
    threads = five_questions(telegram)
    last = max(waiting_ids(telegram))
    caplog.set_level(logging.INFO)

    report = make_job(with_fallback(model, concurrency=1, retries=3)).run_once()

    sent = telegram.sent()
    assert sorted((m["chat_id"], m["reply_to_message_id"], m["text"]) for m in sent) == [
        (chat, threads[chat], f"Echo: question from {chat}") for chat in CHATS]  # once each, threaded, no apology
    assert report.error is None and exit_code(report) == 0 and report.answered == 5
    assert stored_offset(state_dir) == last + 1
    # Asked for the first question only (and retried there when its trouble was a passing one), never again.
    assert asked(model, FIRST) == (1 if reason in BOT_WIDE_REASONS else 1 + 3)
    assert asked(model, SECOND) == 5
    [chat] = report.models
    assert [(m.answered, bool(m.set_aside)) for m in chat.models] == [(0, True), (5, False)]
    assert words in chat.models[0].set_aside
    summary = format_report(report)
    assert f"models: chat: {FIRST} at {model.url} set aside (" in summary
    assert f"5 answered by the fallback {SECOND} at {model.url}" in summary
    assert any(f"{FIRST} at {model.url} is set aside for the rest of this run" in r.getMessage() and r.levelname == "WARNING"
               for r in caplog.records)


def test_a_first_model_that_cannot_be_reached_is_tried_for_the_first_question_only(
        telegram, model, make_job, env, caplog) -> None:
    env["BOTJOB_LLM_URL"] = f"http://127.0.0.1:{unused_port()}"  # nothing listens there
    threads = five_questions(telegram)

    report = make_job(with_fallback(model, concurrency=1, retries=3)).run_once()

    assert sorted((m["chat_id"], m["reply_to_message_id"], m["text"]) for m in telegram.sent()) == [
        (chat, threads[chat], f"Echo: question from {chat}") for chat in CHATS]
    assert report.error is None and report.answered == 5
    retried = [r.getMessage() for r in caplog.records if r.name == "botjob.retrying" and "cannot reach the model" in r.getMessage()]
    assert len(retried) == 3  # its retries, for the first question only: the others went straight on
    assert "cannot reach the model" in report.models[0].models[0].set_aside


def test_workers_answering_at_once_share_one_list_and_each_question_is_answered_once(telegram, model, make_job) -> None:
    model.fail(402, times=None, model=FIRST)
    chats = [2000 + n for n in range(40)]
    for chat in chats:
        telegram.user_says(f"question from {chat}", chat_id=chat)

    report = make_job(with_fallback(model, concurrency=8)).run_once()

    assert sorted(m["chat_id"] for m in telegram.sent()) == chats
    assert report.answered == 40 and report.error is None
    assert asked(model, FIRST) <= 8  # only the questions asked before it was set aside
    assert [m.answered for m in report.models[0].models] == [0, 40]


def test_the_next_run_asks_the_first_model_again(telegram, model, make_job) -> None:
    model.fail(402, times=1, model=FIRST)  # credits added between the runs
    telegram.user_says("before", chat_id=CHATS[0])
    job = make_job(with_fallback(model, concurrency=1))
    first_run = job.run_once()
    telegram.user_says("after", chat_id=CHATS[1])

    second_run = job.run_once()

    assert [m.answered for m in first_run.models[0].models] == [0, 1]
    assert [m.answered for m in second_run.models[0].models] == [1, 0] and not second_run.models[0].fell_back
    assert asked(model, FIRST) == 2 and asked(model, SECOND) == 1


# ----------------------------------------------------------------------------- a question one model refuses


def test_a_question_the_first_model_refuses_is_answered_by_the_next_and_the_first_stays(telegram, model, make_job) -> None:
    too_long = {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000"}
    model.fail(400, body=too_long, times=1, model=FIRST)
    long_one = message_id_of(telegram, telegram.user_says("a very long question", chat_id=CHATS[0]))
    telegram.user_says("a short one", chat_id=CHATS[1])

    report = make_job(with_fallback(model, concurrency=1)).run_once()

    assert sorted((m["chat_id"], m["text"]) for m in telegram.sent()) == [
        (CHATS[0], "Echo: a very long question"), (CHATS[1], "Echo: a short one")]
    assert telegram.sent(CHATS[0])[0]["reply_to_message_id"] == long_one
    assert [(m.answered, m.set_aside) for m in report.models[0].models] == [(1, ""), (1, "")]  # not set aside


def test_a_question_every_model_refuses_gets_the_apology_and_the_run_goes_on(telegram, model, make_job) -> None:
    model.fail(422, times=1, model=FIRST)
    model.fail(422, times=1, model=SECOND)
    telegram.user_says("an impossible question", chat_id=CHATS[0])
    telegram.user_says("an easy one", chat_id=CHATS[1])

    report = make_job(with_fallback(model, concurrency=1)).run_once()

    assert sorted((m["chat_id"], m["text"]) for m in telegram.sent()) == [
        (CHATS[0], Config().reply.apology), (CHATS[1], "Echo: an easy one")]
    assert report.failed == 1 and report.answered == 1 and report.error is None


# ----------------------------------------------------------------------------- every model down


@pytest.mark.parametrize(("first", "second", "kind"), [
    (503, 503, Failure.TRANSIENT),  # both passing: the next run retries
    (402, 404, Failure.BOT_WIDE),  # both the owner's: the run fails with each one's reason and fix
    (402, 503, Failure.TRANSIENT),  # the fallback may well answer the next run
])
def test_with_every_model_down_nothing_is_answered_or_used_up(telegram, model, make_job, state_dir, first, second, kind) -> None:
    model.fail(first, times=None, model=FIRST)
    model.fail(second, times=None, model=SECOND)
    five_questions(telegram)
    waiting = waiting_ids(telegram)

    report = make_job(with_fallback(model, retries=1)).run_once()

    assert telegram.sent() == [] and waiting_ids(telegram) == waiting  # no apology, nothing confirmed
    offset = state_dir / "offset.json"  # nothing used up: the next run starts from the first question
    assert not offset.exists() or stored_offset(state_dir) == min(waiting)
    assert isinstance(report.error, NoModelAnswered) and report.error.kind is kind
    assert exit_code(report) == (0 if kind is Failure.TRANSIENT else 1)
    line = report.error.explain()
    assert line.startswith(f"no chat model could answer: {FIRST} at {model.url}: model answered HTTP {first}")
    assert f"; {SECOND} at {model.url}: model answered HTTP {second}" in line
    if first == 402:
        assert "credits" in line.partition(" — ")[2]  # and the fix


def test_a_fallback_that_keeps_answering_never_turns_the_run_red(telegram, model, make_job) -> None:
    """run.alert_after counts the runs in which no model could answer: a run the fallback carried is not one."""
    model.fail(503, times=None, model=FIRST)
    for n in range(3):
        telegram.user_says(f"question {n}", chat_id=CHATS[n])
        report = make_job(with_fallback(model, retries=0, alert_after=0)).run_once()
        assert report.error is None and report.answered == 1

    model.fail(503, times=None, model=SECOND)  # now neither answers: the first run of that fails at once
    telegram.user_says("anyone?", chat_id=CHATS[3])
    report = make_job(with_fallback(model, retries=0, alert_after=0)).run_once()
    assert report.error is not None and report.error.kind is Failure.BOT_WIDE and "no one has been answered" in str(report.error)


class _Down:
    """A model of a list in a unit test: fails the way it is told, or answers."""

    purpose = "chat"

    def __init__(self, name: str, failure: BotjobError | None = None) -> None:
        self.name, self.failure, self.asked = name, failure, 0

    def reply(self, messages: list) -> str:
        self.asked += 1
        if self.failure is not None:
            raise self.failure
        return f"{self.name} answers"


def test_once_the_time_budget_is_used_up_no_further_model_is_asked() -> None:
    first, second = _Down("first", BotjobError("model answered HTTP 503", kind=Failure.TRANSIENT)), _Down("second")
    models = ChatModels([first, second], what="model")

    with pytest.raises(NoModelAnswered) as caught:
        models.reply([], time_left=lambda: 0.0)

    assert second.asked == 0 and caught.value.kind is Failure.TRANSIENT
    assert str(caught.value) == ("no chat model could answer: first: model answered HTTP 503; "
                                 "second: not asked: the run's time budget is used up")
    assert models.reply([], time_left=lambda: 1.0) == "second answers"  # time left: the first was set aside


def test_a_list_of_one_model_fails_as_that_model_always_did() -> None:
    refused = BotjobError("model answered HTTP 402: no inference credits left", hint="add credits")
    only = _Down("only", refused)
    models = ChatModels([only], what="model")
    for _ in range(2):
        with pytest.raises(BotjobError) as caught:
            models.reply([])
        assert caught.value is refused  # the model's own error, not a list's
    assert only.asked == 2 and models.used() is None


# ----------------------------------------------------------------------------- the owner's view


def test_the_owner_is_told_in_the_log_a_warning_and_the_summary_who_answered_and_why(
        telegram, model, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "botjob.yaml").write_text(
        f"llm:\n  endpoint_model: {FIRST}\n  fallback:\n    - {{url: \"{model.url}/v1\", model: {SECOND}}}\n", encoding="utf-8")
    summary = tmp_path / "summary.md"
    model.serve_only(SECOND)
    five_questions(telegram)

    code = main(["run", "--state-dir", "state"], env={**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})

    printed = capsys.readouterr()
    assert code == 0 and len(telegram.sent()) == 5
    words = (f"chat: {FIRST} at {model.url} set aside (model answered HTTP 400: the model {FIRST} is not served by "
             f"{'endpoint 127.0.0.1'}); 5 answered by the fallback {SECOND} at {model.url}")
    assert f"models: {words}" in printed.out
    warning = next(line for line in printed.out.splitlines() if line.startswith("::warning::"))
    assert warning.startswith(f"::warning::{words} — ") and "llm.endpoint_model" in warning  # and how to fix it
    assert f"| models | {words} |" in summary.read_text()
    for private in ("question from", *map(str, CHATS), "Echo"):
        assert private not in printed.out + printed.err + summary.read_text()


def test_a_key_in_a_fallbacks_address_is_used_and_never_shown(telegram, model, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    key = "sk-fallback-key-0123456789"
    with ModelSandbox() as other:
        (tmp_path / "botjob.yaml").write_text(f"llm:\n  fallback:\n    - \"{other.url}/v1?api_key={key}\"\n", encoding="utf-8")
        model.fail(402, times=None)  # the first model (BOTJOB_LLM_URL): no credits
        telegram.user_says("hello", chat_id=CHATS[0])

        code = main(["run", "-v", "--state-dir", "state"], env=env)

        printed = capsys.readouterr()
        assert code == 0 and [m["text"] for m in telegram.sent()] == ["Echo: hello"]
        assert [r["path"] for r in other.requests] == ["/v1/models", "/v1/chat/completions"]
        assert f"1 answered by the fallback {other.url}" in printed.out
    assert "api_key=***" in printed.err  # the debug log showed the address, starred
    assert key not in printed.out + printed.err


# ----------------------------------------------------------------------------- settings


def settings_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "botjob.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_fallback_list_takes_every_documented_shape(tmp_path: Path) -> None:
    from botjob.config import load_config

    config = load_config(settings_file(tmp_path, (
        "llm:\n  fallback:\n"
        "    - meta-llama/Llama-3.1-8B-Instruct\n"
        "    - {model: Qwen/Qwen2.5-7B-Instruct, provider: together}\n"
        "    - https://my-endpoint.example.com/v1\n"
        "    - {url: \"http://localhost:8080/v1\", model: qwen2.5-7b}\n"
        "media:\n  speech_model: [openai/whisper-large-v3, \"http://localhost:8080/speech\"]\n"
    )))
    assert config.llm.fallback == (
        ModelChoice(model="meta-llama/Llama-3.1-8B-Instruct"),
        ModelChoice(model="Qwen/Qwen2.5-7B-Instruct", provider="together"),
        ModelChoice(url="https://my-endpoint.example.com/v1"),
        ModelChoice(url="http://localhost:8080/v1", model="qwen2.5-7b"),
    )
    assert config.media.speech_model == (ModelChoice(model="openai/whisper-large-v3"), ModelChoice(url="http://localhost:8080/speech"))


@pytest.mark.parametrize(("text", "problem", "fix"), [
    ("llm:\n  fallback: [localhost:8080/v1]\n", "'llm.fallback' entry 1 looks like an address without http://", "http://localhost:8080/v1"),
    ("llm:\n  fallback: [acme/ok, \"my model\"]\n", "'llm.fallback' entry 2 is neither a Hugging Face model id", "other=conversational"),
    ("llm:\n  fallback: [{model: acme/x, colour: red}]\n", "'llm.fallback' entry 1 has the keys colour, model", "{model: owner/name, provider: name}"),
    ("llm:\n  fallback: [{url: \"https://x.example/v1\", provider: together}]\n", "has the keys provider, url", "{url: ..., model: name}"),
    ("llm:\n  fallback: [{model: \"https://x.example/v1\"}]\n", "entry 1 gives an address as model", "write it as url:"),
    ("llm:\n  fallback: [{url: \"ftp://x.example\"}]\n", "entry 1 is not an http:// or https:// address", "scheme included"),
    ("llm:\n  fallback: 3\n", "'llm.fallback' must be a model or a list of models", "owner/name"),
    ("media:\n  speech_model: []\n", "'media.speech_model' is empty while media.voice is on", "media.voice: false"),
    ("media:\n  images: true\n  image_model: [{url: \"http://localhost:8080/draw\", model: flux}]\n",
     "'media.image_model' entry 1 names a model for a picture URL", "write the address alone"),
])
def test_a_fallback_that_cannot_work_stops_at_load_with_the_fix(tmp_path: Path, env, capsys, text: str, problem: str, fix: str) -> None:
    code = main(["run", "--config", str(settings_file(tmp_path, text))], env=env)
    error = capsys.readouterr().err
    assert code == 2 and problem in error and fix in error.partition(" — ")[2]
    assert "Traceback" not in error


def test_a_fallback_on_the_hub_needs_hf_token(telegram, model, env, tmp_path: Path, capsys) -> None:
    code = main(["run", "--config", str(settings_file(tmp_path, "llm:\n  fallback: [acme/second]\n"))], env=env)
    assert code == 2 and "HF_TOKEN is not set, and acme/second in llm.fallback is not a URL" in capsys.readouterr().err


# ----------------------------------------------------------------------------- hub models, through the router


@pytest.fixture
def router():
    """Hugging Face's router and any other server, stood in for by an httpx2 MockTransport (huggingface_hub's
    own client hook): each request is answered by ``answer(request)``."""
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    calls: list[httpx2.Request] = []
    answers: dict[str, httpx2.Response] = {}

    def handle(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        import json

        asked_for = json.loads(request.content).get("model")
        return answers.get(asked_for) or httpx2.Response(200, json={
            "id": "c", "object": "chat.completion", "created": 0, "model": asked_for,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": f"{asked_for} says hi"}, "finish_reason": "stop"}],
        })

    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handle)))
    huggingface_hub.close_session()
    try:
        yield calls, answers
    finally:
        huggingface_hub.set_client_factory(default_client_factory)
        huggingface_hub.close_session()


@pytest.mark.parametrize(("address", "gets_the_token"), [
    ("http://models.example.net:8080/v1", False),  # clear text across a network: as BOTJOB_LLM_URL
    ("https://models.example.net/v1", True),
])
def test_a_hub_model_out_of_credits_falls_back_and_hf_token_goes_where_it_may(router, address: str, gets_the_token: bool) -> None:
    import httpx2

    from botjob.wiring import chat_models

    calls, answers = router
    answers[FIRST] = httpx2.Response(402, json={"error": "You have exceeded your monthly included credits for Inference Providers."})
    config = Config(llm=LLMSettings(model=FIRST, fallback=(ModelChoice(model=SECOND), ModelChoice(url=address, model="served/model"))))
    answers[SECOND] = httpx2.Response(402, json={"error": "You have exceeded your monthly included credits."})  # the same account
    token = "hf_hosted_secret_0123456789"
    models = chat_models(config, {"HF_TOKEN": token})

    assert models.reply([{"role": "user", "content": "hi"}]) == "served/model says hi"

    assert [(request.url.host, json_model(request)) for request in calls] == [
        ("router.huggingface.co", FIRST), ("router.huggingface.co", SECOND), ("models.example.net", "served/model")]
    assert [request.headers.get("authorization") for request in calls] == [
        f"Bearer {token}", f"Bearer {token}", f"Bearer {token}" if gets_the_token else None]
    assert [m.set_aside.split(":")[0] for m in models.used().models] == ["model answered HTTP 402"] * 2 + [""]


def json_model(request) -> str:
    import json

    return json.loads(request.content)["model"]


# ----------------------------------------------------------------------------- voice, photos, pictures


@pytest.fixture
def other():
    """Another model server, for the first model of a media list."""
    with ModelSandbox() as server:
        yield server


def media(model: ModelSandbox, **lists: object) -> Config:
    """Voice, photos and pictures on, each model on the stand-in by URL, except the lists given."""
    llm = dataclasses.replace(Config().llm, endpoint_model="sandbox/echo")
    models = {"speech_model": f"{model.url}/speech", "vision_model": f"{model.url}/v1", "image_model": f"{model.url}/draw", **lists}
    return dataclasses.replace(Config(), llm=llm, run=RunSettings(concurrency=1, retries=2),
                               media=MediaSettings(images=True, **models))  # type: ignore[arg-type]


def test_voice_notes_are_heard_by_the_next_speech_model_when_the_first_has_no_credits(telegram, model, other, make_job) -> None:
    other.fail(402, times=None)
    for chat in CHATS[:2]:
        telegram.user_sends_voice(b"SPEECH:what is the capital of Peru?", duration=4, chat_id=chat)

    report = make_job(media(model, speech_model=(ModelChoice(url=f"{other.url}/speech"), ModelChoice(url=f"{model.url}/speech")))).run_once()

    assert [m["text"] for m in telegram.sent()] == ["Echo: what is the capital of Peru?"] * 2
    assert len([r for r in other.requests if r["path"] == "/speech"]) == 1  # set aside after the first note
    [hearing] = [used for used in report.models if used.purpose == "speech recognition"]
    assert [m.answered for m in hearing.models] == [0, 2] and "no inference credits left" in hearing.models[0].set_aside


def test_a_voice_note_one_speech_model_cannot_read_is_heard_by_the_next(telegram, model, other, make_job) -> None:
    other.fail(415, body={"error": "Unsupported Media Type"}, times=1)  # this file's type, not the model: not set aside
    telegram.user_sends_voice(b"SPEECH:hello there", duration=4, chat_id=CHATS[0])

    report = make_job(media(model, speech_model=(ModelChoice(url=f"{other.url}/speech"), ModelChoice(url=f"{model.url}/speech")))).run_once()

    assert [m["text"] for m in telegram.sent()] == ["Echo: hello there"]
    [hearing] = [used for used in report.models if used.purpose == "speech recognition"]
    assert [(m.answered, m.set_aside) for m in hearing.models] == [(0, ""), (1, "")]


def test_photos_are_seen_by_the_next_vision_model_when_the_first_is_not_found(telegram, model, make_job) -> None:
    model.fail(404, times=None, model="acme/eyes-closed")
    telegram.user_sends_photo(png_image(64, 48), caption="what is this?", chat_id=CHATS[0])
    eyes = (ModelChoice(url=f"{model.url}/v1", model="acme/eyes-closed"), ModelChoice(url=f"{model.url}/v1", model="acme/eyes"))

    report = make_job(media(model, vision_model=eyes)).run_once()

    [answer] = telegram.sent()
    assert answer["text"].startswith("Echo: what is this? [seen: 1 image")
    [seeing] = [used for used in report.models if used.purpose == "reading images"]
    assert [m.answered for m in seeing.models] == [0, 1] and "was not found" in seeing.models[0].set_aside


def test_pictures_are_drawn_by_the_next_model_when_the_first_is_down(telegram, model, other, make_job) -> None:
    other.fail(503, times=None)
    telegram.user_says("/image a lighthouse", chat_id=CHATS[0])
    telegram.user_says("/image a harbour", chat_id=CHATS[1])

    report = make_job(media(model, image_model=(ModelChoice(url=f"{other.url}/draw"), ModelChoice(url=f"{model.url}/draw")))).run_once()

    assert [bool(m.get("photo")) for m in telegram.sent()] == [True, True]
    assert len([r for r in other.requests if r["path"] == "/draw"]) == 1 + 2  # its retries, for the first picture only
    [drawing] = [used for used in report.models if used.purpose == "pictures"]
    assert [m.answered for m in drawing.models] == [0, 2]


def test_a_picture_drawn_but_unreadable_is_not_drawn_again_by_the_next_model(telegram, model, other, make_job) -> None:
    other.draw_with(b"<html><body>502 Bad Gateway</body></html>")  # status 200: drawn, paid for, not a picture
    telegram.user_says("/image a lighthouse", chat_id=CHATS[0])

    make_job(media(model, image_model=(ModelChoice(url=f"{other.url}/draw"), ModelChoice(url=f"{model.url}/draw")))).run_once()

    assert [m.get("text") for m in telegram.sent()] == [Config().reply.apology]
    assert [r["path"] for r in model.requests].count("/draw") == 0  # paid once, not twice


# ----------------------------------------------------------------------------- check


def test_check_tries_each_model_of_the_list_and_says_which_would_answer(telegram, model, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path, (
        f"llm:\n  endpoint_model: {FIRST}\n  fallback:\n    - {{url: \"{model.url}/v1\", model: {SECOND}}}\n"
        f"    - {{url: \"{model.url}/v1\", model: acme/third}}\n"
        f"media:\n  voice: false\n  photos: false\n"))
    model.serve_only(SECOND, "acme/third")

    code = main(["check", "--workflow", str(tmp_path / "none.yml")], env=env)

    out = capsys.readouterr().out
    assert code == 0, out  # the bot answers, through its fallback
    assert f"warn  model: {FIRST} at {model.url}: model answered HTTP 400: the model {FIRST} is not served" in out
    assert f"; {SECOND} at {model.url} would answer instead" in out
    assert f"ok    model (fallback 1): {SECOND} at {model.url} answered in" in out
    assert f"ok    model (fallback 2): acme/third at {model.url} answered in" in out
    assert (f"ok    model list: asked in this order: {FIRST} at {model.url}, then {SECOND} at {model.url}, "
            f"then acme/third at {model.url}; {SECOND} at {model.url} would answer") in out
    assert asked(model, FIRST) == asked(model, SECOND) == asked(model, "acme/third") == 1  # one tiny question each


def test_check_fails_when_no_model_of_the_list_would_answer(telegram, model, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path, f"llm:\n  endpoint_model: {FIRST}\n  fallback: [{{url: \"{model.url}\", model: {SECOND}}}]\n"
                            "media:\n  voice: false\n  photos: false\n")
    model.fail(402, times=None)

    code = main(["check", "--workflow", str(tmp_path / "none.yml")], env=env)

    out = capsys.readouterr().out
    assert code == 1
    assert f"FAIL  model: {FIRST} at {model.url}: model answered HTTP 402" in out
    assert f"FAIL  model (fallback 1): {SECOND} at {model.url}: model answered HTTP 402" in out
    assert "model list" not in out


def test_check_lists_a_media_list_too(telegram, model, other, env, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    settings_file(tmp_path, (
        f"llm:\n  endpoint_model: sandbox/echo\n"
        f"media:\n  photos: false\n  speech_model: [\"{other.url}/speech\", \"{model.url}/speech\", openai/whisper-large-v3]\n"))
    other.fail(503, times=None)

    code = main(["check", "--workflow", str(tmp_path / "none.yml")], env=env)  # no HF_TOKEN: the hub model is left out

    out = capsys.readouterr().out
    assert code == 0, out
    assert "warn  voice notes: openai/whisper-large-v3 is left out: it is a Hugging Face model and HF_TOKEN is not set" in out
    assert f"warn  voice notes: {other.url}: model answered HTTP 503; {model.url} would answer instead" in out
    assert f"ok    voice notes (fallback 1): {model.url} took a tiny audio file" in out
