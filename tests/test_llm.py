"""The model path over real HTTP: huggingface_hub's InferenceClient against the sandbox model server."""

from __future__ import annotations

import socket

import pytest

from botjob.errors import ConfigError, Failure
from botjob.llm import ChatModel, ModelError, ModelTarget
from botjob.sandbox import ModelSandbox

QUESTION = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]


def endpoint_model(model: ModelSandbox, **kwargs: object) -> ChatModel:
    return ChatModel(ModelTarget(model="ignored/for-endpoints", base_url=model.url), token=None, **kwargs)  # type: ignore[arg-type]


def warmed(model: ModelSandbox) -> ChatModel:
    """A client that already asked the server its model name, so a scripted fault hits the chat call."""
    chat = endpoint_model(model, timeout=2)
    chat.reply(QUESTION)
    return chat


def test_reply_is_the_models_answer_to_the_question(model: ModelSandbox) -> None:
    assert endpoint_model(model).reply(QUESTION) == "Echo: What is 2+2?"


def test_the_request_is_an_openai_chat_completion_with_the_served_model_name(model: ModelSandbox) -> None:
    endpoint_model(model, max_tokens=99, temperature=0.2).reply(QUESTION)
    chat = [r for r in model.requests if r["path"] == "/v1/chat/completions"]
    assert len(chat) == 1
    body = chat[0]["json"]
    assert body["messages"] == QUESTION
    assert body["max_tokens"] == 99 and body["temperature"] == 0.2
    assert body["model"] == "sandbox/echo"  # discovered from /v1/models: vLLM accepts no other name


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/chat/completions"])
def test_the_endpoint_url_may_be_given_with_or_without_its_path(model: ModelSandbox, suffix: str) -> None:
    chat = ChatModel(ModelTarget(model="x", base_url=model.url + suffix), token=None)
    assert chat.reply(QUESTION) == "Echo: What is 2+2?"
    assert model.requests[-1]["json"]["model"] == "sandbox/echo"


def test_a_configured_endpoint_model_name_is_sent_without_asking(model: ModelSandbox) -> None:
    target = ModelTarget(model="x", base_url=model.url, endpoint_model="my-served-model")
    ChatModel(target, token=None).reply(QUESTION)
    assert [r["path"] for r in model.requests] == ["/v1/chat/completions"]
    assert model.requests[0]["json"]["model"] == "my-served-model"


def test_the_token_is_sent_to_the_endpoint_as_a_bearer(model: ModelSandbox) -> None:
    ChatModel(ModelTarget(model="x", base_url=model.url), token="hf_endpoint_secret").reply(QUESTION)
    chat = next(r for r in model.requests if r["path"] == "/v1/chat/completions")
    headers = {k.lower(): v for k, v in chat["headers"].items()}
    assert headers["authorization"] == "Bearer hf_endpoint_secret"


def test_a_hosted_model_without_hf_token_is_a_config_error_before_any_request() -> None:
    with pytest.raises(ConfigError) as caught:
        ChatModel(ModelTarget(model="Qwen/Qwen2.5-7B-Instruct"), token=None)
    assert "HF_TOKEN" in caught.value.explain() and "Inference Providers" in caught.value.explain()


def test_loading_model_is_transient_with_its_estimated_time(model: ModelSandbox) -> None:
    chat = warmed(model)
    model.fail(503)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.TRANSIENT
    assert caught.value.retry_after == 2.0


def test_rate_limit_is_transient_and_honours_retry_after(model: ModelSandbox) -> None:
    chat = warmed(model)
    model.fail(429, headers={"Retry-After": "7"})
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.TRANSIENT and caught.value.retry_after == 7.0


@pytest.mark.parametrize(
    ("status", "hint_words"),
    [(401, "token"), (403, "token"), (402, "credits"), (404, "llm.model")],
)
def test_bot_wide_failures_tell_the_owner_what_to_fix(model: ModelSandbox, status: int, hint_words: str) -> None:
    chat = warmed(model)
    model.fail(status)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.BOT_WIDE
    assert caught.value.status == status
    assert hint_words in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(400, Failure.MESSAGE), (413, Failure.MESSAGE), (422, Failure.MESSAGE), (500, Failure.TRANSIENT), (502, Failure.TRANSIENT)],
)
def test_a_rejected_input_concerns_only_this_message_and_a_server_error_passes(model: ModelSandbox, status: int, kind: Failure) -> None:
    chat = warmed(model)
    model.fail(status)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is kind


def test_a_hanging_model_times_out_instead_of_waiting_forever(model: ModelSandbox) -> None:
    chat = ChatModel(ModelTarget(model="x", base_url=model.url, endpoint_model="m"), token=None, timeout=1)
    model.hang(5)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.TRANSIENT
    assert "1 s" in str(caught.value)


def test_an_unreachable_server_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for endpoint_name in ("", "m"):  # with and without the model-name lookup
        chat = ChatModel(ModelTarget(model="x", base_url=f"http://127.0.0.1:{port}", endpoint_model=endpoint_name), token=None)
        with pytest.raises(ModelError) as caught:
            chat.reply(QUESTION)
        assert caught.value.kind is Failure.TRANSIENT


def test_an_outage_while_asking_the_model_name_is_retried_not_a_wrong_name(model: ModelSandbox) -> None:
    chat = endpoint_model(model)
    model.fail(503)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.TRANSIENT
    assert chat.reply(QUESTION) == "Echo: What is 2+2?"
    assert model.requests[-1]["json"]["model"] == "sandbox/echo"


def test_an_empty_answer_is_an_empty_reply_not_an_error(model: ModelSandbox) -> None:
    model.reply_with("")
    assert endpoint_model(model).reply(QUESTION) == ""
