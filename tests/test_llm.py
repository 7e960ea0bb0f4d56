"""The model path over real HTTP: huggingface_hub's InferenceClient against the sandbox model server."""

from __future__ import annotations

import base64
import json
import socket

import pytest

from botjob.errors import ConfigError, Failure
from botjob.llm import ChatModel, ModelError, ModelTarget
from botjob.sandbox import ModelSandbox
from botjob.sandbox.model_server import provider_unsupported, router_error, unsupported_model

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


class KeyedModelSandbox(ModelSandbox):
    """The model stand-in behind an address with a key in its query: it answers whatever the query, and
    remembers each request's path and query, so a test can see the key arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[tuple[str, str]] = []

    def handle(self, request):  # type: ignore[no-untyped-def]
        self.queries.append((request.path, request.query))
        return super().handle(request)


@pytest.mark.parametrize("path", ["", "/v1", "/v1/chat/completions"])
def test_an_endpoint_address_with_a_key_in_its_query_is_asked_with_the_key(path: str) -> None:
    with KeyedModelSandbox() as keyed:
        chat = ChatModel(ModelTarget(model="x", base_url=f"{keyed.url}{path}?api_key=sk-0123456789&tier=free"), token=None)
        assert chat.reply(QUESTION) == "Echo: What is 2+2?"
    assert keyed.queries == [("/v1/models", "api_key=sk-0123456789&tier=free"),
                             ("/v1/chat/completions", "api_key=sk-0123456789&tier=free")]
    assert keyed.requests[-1]["json"]["model"] == "sandbox/echo"  # the discovered name, not a broken lookup's


def test_a_tgi_endpoint_address_with_a_key_in_its_query_is_asked_with_the_key() -> None:
    with KeyedModelSandbox() as keyed:
        base = ChatModel(ModelTarget(model="gpt-j", base_url=f"{keyed.url}/v1?api_key=sk-0123456789"), token=None,
                         task="text-generation", timeout=2)
        keyed.reply_with(" Paris.")
        assert base.reply(CHAT) == "Paris."
    assert keyed.queries == [("/", "api_key=sk-0123456789")]


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


# ----------------------------------------------------------------- base models (task: text-generation)

CHAT = [
    {"role": "system", "content": "You answer geography questions."},
    {"role": "user", "content": "What is the capital of Germany?"},
    {"role": "assistant", "content": "Berlin."},
    {"role": "user", "content": "And of France?\nJust the name, please."},
]


def base_model(model: ModelSandbox, **kwargs: object) -> ChatModel:
    """A base model such as GPT-J behind a TGI endpoint (the sandbox)."""
    target = ModelTarget(model="EleutherAI/gpt-j-6b", base_url=model.url)
    kwargs.setdefault("timeout", 2)
    return ChatModel(target, token=None, task="text-generation", **kwargs)  # type: ignore[arg-type]


def generate_requests(model: ModelSandbox) -> list[dict]:
    return [r for r in model.requests if r["path"] in ("/", "/generate")]


def test_a_base_model_is_asked_to_continue_a_transcript_of_the_chat(model: ModelSandbox) -> None:
    base_model(model).reply(CHAT)
    assert [r["path"] for r in model.requests] == ["/"]  # TGI ignores model names: nothing to discover
    prompt = model.requests[0]["json"]["inputs"]
    assert prompt == (
        "You answer geography questions.\n\n"
        "User: What is the capital of Germany?\n\n"
        "Assistant: Berlin.\n\n"
        "User: And of France?\nJust the name, please.\n\n"
        "Assistant:"
    )


def test_without_a_system_prompt_the_transcript_starts_with_the_user(model: ModelSandbox) -> None:
    base_model(model).reply([{"role": "user", "content": "Hi"}])
    assert generate_requests(model)[0]["json"]["inputs"] == "User: Hi\n\nAssistant:"


@pytest.mark.parametrize(
    "continuation",
    [
        " Paris.\nUser: and Italy?\nAssistant: Rome",  # the model went on playing both sides
        " Paris.\n\nUser:",  # the stop sequence comes back as part of the text
        " Paris.\nAssistant: Anything else?",
        " Paris.\n   User: and Italy?",
        " Paris.  \n",
    ],
)
def test_the_reply_is_the_continuation_up_to_the_next_turn(model: ModelSandbox, continuation: str) -> None:
    model.reply_with(continuation)
    assert base_model(model).reply(CHAT) == "Paris."


def test_a_multi_line_answer_is_kept_whole(model: ModelSandbox) -> None:
    model.reply_with(" Paris.\nIt is also the largest city.\n\nUser: thanks")
    assert base_model(model).reply(CHAT) == "Paris.\nIt is also the largest city."


def test_a_server_that_returns_the_prompt_too_still_gives_only_the_answer(model: ModelSandbox) -> None:
    model.reply_with(lambda prompt: prompt + " Paris.\nUser: and Italy?")
    assert base_model(model).reply(CHAT) == "Paris."


def test_an_immediate_next_turn_is_an_empty_reply(model: ModelSandbox) -> None:
    model.reply_with("\nUser: hello?")
    assert base_model(model).reply(CHAT) == ""


def test_the_request_stops_at_speaker_turns_and_asks_for_the_continuation_only(model: ModelSandbox) -> None:
    base_model(model, max_tokens=77, temperature=0.5).reply(CHAT)
    parameters = generate_requests(model)[0]["json"]["parameters"]
    assert "\nUser:" in parameters["stop"] and "\nAssistant:" in parameters["stop"]
    assert len(parameters["stop"]) <= 4  # TGI's default max_stop_sequences
    assert parameters["max_new_tokens"] == 77
    assert parameters["return_full_text"] is False
    assert parameters["do_sample"] is True and parameters["temperature"] == 0.5


@pytest.mark.parametrize("temperature", [0, 0.0, None])
def test_temperature_zero_asks_for_greedy_decoding_which_tgi_accepts(model: ModelSandbox, temperature: float | None) -> None:
    base_model(model, temperature=temperature).reply(CHAT)
    parameters = generate_requests(model)[0]["json"]["parameters"]
    assert parameters["do_sample"] is False
    assert parameters.get("temperature") is None or parameters["temperature"] > 0  # TGI: "must be strictly positive"


@pytest.mark.parametrize("suffix", ["/", "/v1", "/v1/chat/completions"])
def test_a_tgi_url_given_with_the_openai_path_still_reaches_its_root(model: ModelSandbox, suffix: str) -> None:
    chat = ChatModel(ModelTarget(model="x", base_url=model.url + suffix), token=None, task="text-generation")
    assert chat.reply([{"role": "user", "content": "Hi"}]) == "Echo: Assistant:"
    assert [r["path"] for r in model.requests] == ["/"]


def test_the_token_is_sent_to_the_tgi_endpoint_as_a_bearer(model: ModelSandbox) -> None:
    target = ModelTarget(model="x", base_url=model.url)
    ChatModel(target, token="hf_endpoint_secret", task="text-generation").reply(CHAT)
    headers = {k.lower(): v for k, v in generate_requests(model)[0]["headers"].items()}
    assert headers["authorization"] == "Bearer hf_endpoint_secret"


# TGI answers with an "error_type", which huggingface_hub turns into its own TextGenerationError
# classes (not HfHubHTTPError); the plain bodies stand for a gateway in front of the server.
TGI_OVERLOADED = {"error": "Model is overloaded", "error_type": "overloaded"}
TGI_VALIDATION = {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 2048", "error_type": "validation"}
TGI_GENERATION = {"error": "Request failed during generation: Server error: CUDA out of memory", "error_type": "generation"}
TGI_INCOMPLETE = {"error": "Incomplete generation", "error_type": "incomplete_generation"}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (503, None, Failure.TRANSIENT),
        (503, TGI_OVERLOADED, Failure.TRANSIENT),
        (429, TGI_OVERLOADED, Failure.TRANSIENT),
        (500, TGI_INCOMPLETE, Failure.TRANSIENT),
        (502, None, Failure.TRANSIENT),
        (422, None, Failure.MESSAGE),
        (422, TGI_VALIDATION, Failure.MESSAGE),
        (400, TGI_VALIDATION, Failure.MESSAGE),
        (424, TGI_GENERATION, Failure.MESSAGE),
    ],
)
def test_base_model_faults_fall_in_the_same_classes_as_chat(model: ModelSandbox, status: int, body: dict | None, kind: Failure) -> None:
    model.fail(status, body=body)
    with pytest.raises(ModelError) as caught:
        base_model(model).reply(CHAT)
    assert caught.value.kind is kind
    assert caught.value.status == status


def test_a_loading_base_model_is_transient_with_its_estimated_time(model: ModelSandbox) -> None:
    model.fail(503)
    with pytest.raises(ModelError) as caught:
        base_model(model).reply(CHAT)
    assert caught.value.kind is Failure.TRANSIENT and caught.value.retry_after == 2.0


@pytest.mark.parametrize(("status", "hint_words"), [(401, "token"), (403, "token"), (402, "credits"), (404, "BOTJOB_LLM_URL")])
def test_base_model_bot_wide_failures_tell_the_owner_what_to_fix(model: ModelSandbox, status: int, hint_words: str) -> None:
    model.fail(status)
    with pytest.raises(ModelError) as caught:
        base_model(model).reply(CHAT)
    assert caught.value.kind is Failure.BOT_WIDE and caught.value.status == status
    assert hint_words in (caught.value.hint or "")


def test_a_hanging_base_model_times_out(model: ModelSandbox) -> None:
    model.hang(2)
    with pytest.raises(ModelError) as caught:
        base_model(model, timeout=1).reply(CHAT)
    assert caught.value.kind is Failure.TRANSIENT and "1 s" in str(caught.value)


@pytest.mark.parametrize("provider", ["auto", "together"])
def test_a_base_model_without_an_endpoint_url_is_a_config_error_with_a_hint(provider: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ChatModel(ModelTarget(model="EleutherAI/gpt-j-6b", provider=provider), token="hf_x", task="text-generation")
    assert "BOTJOB_LLM_URL" in (caught.value.hint or "") and "TGI" in (caught.value.hint or "")


def test_a_hub_model_routed_through_hf_inference_may_generate_text() -> None:
    chat = ChatModel(ModelTarget(model="openai-community/gpt2", provider="hf-inference"), token="hf_x", task="text-generation")
    assert chat.task == "text-generation"  # constructed; no request is made until the first question


def test_an_unknown_task_is_a_config_error(model: ModelSandbox) -> None:
    with pytest.raises(ConfigError) as caught:
        ChatModel(ModelTarget(model="x", base_url=model.url), token=None, task="summarization")
    assert "llm.task" in (caught.value.hint or "")


def test_the_job_passes_the_configured_task_to_the_model(make_job, model: ModelSandbox) -> None:
    from botjob.config import Config, LLMSettings

    job = make_job(Config(llm=LLMSettings(task="text-generation")))
    assert job.model.first.task == "text-generation"
    model.reply_with(" Hello.\nUser:")
    assert job.model.reply([{"role": "user", "content": "Hi"}]) == "Hello."


# ---------------------------------------------------------------------------- hosted models (Inference Providers)


@pytest.fixture
def router():
    """Hugging Face's router, stood in for by an httpx2 MockTransport (huggingface_hub's own client hook)."""
    import httpx2
    import huggingface_hub
    from huggingface_hub.utils._http import default_client_factory

    calls: list[httpx2.Request] = []
    answers: list[httpx2.Response] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        calls.append(request)
        if answers:
            return answers.pop(0)
        return httpx2.Response(200, json={
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "Qwen/Qwen2.5-7B-Instruct",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Four."}, "finish_reason": "stop"}],
        })

    huggingface_hub.set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(handle)))
    huggingface_hub.close_session()
    try:
        yield calls, answers
    finally:
        huggingface_hub.set_client_factory(default_client_factory)
        huggingface_hub.close_session()


def test_a_hosted_model_is_asked_through_the_router_with_the_token(router) -> None:
    calls, _ = router
    chat = ChatModel(ModelTarget(model="Qwen/Qwen2.5-7B-Instruct"), token="hf_hosted_secret", timeout=5)

    assert chat.reply(QUESTION) == "Four."

    (request,) = calls
    assert str(request.url) == "https://router.huggingface.co/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer hf_hosted_secret"
    body = json.loads(request.content)
    assert body["model"] == "Qwen/Qwen2.5-7B-Instruct" and body["messages"] == QUESTION


def test_spent_credits_at_the_router_are_the_owners_to_fix(router) -> None:
    import httpx2

    _, answers = router
    answers.append(httpx2.Response(402, json={"error": "You have exceeded your monthly included credits for Inference Providers."}))
    chat = ChatModel(ModelTarget(model="Qwen/Qwen2.5-7B-Instruct"), token="hf_hosted_secret", timeout=5)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.BOT_WIDE and "credits" in caught.value.explain()


# ---------------------------------------------------------------------------- the model, not the question


@pytest.mark.parametrize("body", [
    unsupported_model("EleutherAI/gpt-j-6b"),  # the router, in OpenAI's error shape
    provider_unsupported("together"),  # a provider's route
    {"object": "error", "message": "The model `gpt-j` does not exist.", "type": "NotFoundError", "code": 404},  # vLLM
])
def test_a_400_that_names_the_model_is_the_owners_to_fix_not_the_questions(model: ModelSandbox, body: dict) -> None:
    chat = warmed(model)
    model.fail(400, body=body)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.BOT_WIDE
    assert "llm.endpoint_model" in (caught.value.hint or "") and "llm.model" in (caught.value.hint or "")


def test_a_hosted_model_no_provider_serves_names_the_setting_and_the_models_page(router) -> None:
    import httpx2

    _, answers = router
    answers.append(httpx2.Response(400, json=unsupported_model("EleutherAI/gpt-j-6b")))
    chat = ChatModel(ModelTarget(model="EleutherAI/gpt-j-6b"), token="hf_hosted_secret", timeout=5)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.BOT_WIDE
    assert "llm.model" in caught.value.hint and "huggingface.co/EleutherAI/gpt-j-6b" in caught.value.hint


@pytest.mark.parametrize("body", [
    {"error": "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 5000"},
    router_error("This model's maximum context length is 4096 tokens. However, you requested 5000 tokens."),
])
def test_a_400_about_the_question_itself_is_still_that_questions_failure(model: ModelSandbox, body: dict) -> None:
    chat = warmed(model)
    model.fail(400, body=body)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.MESSAGE


def test_an_error_page_with_status_200_is_a_passing_trouble(model: ModelSandbox) -> None:
    chat = warmed(model)
    model.fail(200, body=b"<html><body><h1>502 Bad Gateway</h1></body></html>")
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.TRANSIENT


def test_a_question_the_http_layer_cannot_encode_is_that_questions_failure(model: ModelSandbox) -> None:
    chat = warmed(model)
    with pytest.raises(ModelError) as caught:
        chat.reply([{"role": "user", "content": "half an emoji: \ud83d"}])
    assert caught.value.kind is Failure.MESSAGE
    assert "\ud83d" not in caught.value.explain()
    assert chat.reply(QUESTION) == "Echo: What is 2+2?"  # the next question is answered


def test_settings_that_cannot_work_are_found_before_any_request(router) -> None:
    calls, _ = router
    target = ModelTarget(model="Qwen/Qwen2.5-7B-Instruct", provider="no-such-provider")
    with pytest.raises(ConfigError) as caught:
        ChatModel(target, token="hf_x", timeout=5).reply(QUESTION)
    assert "no-such-provider" in str(caught.value) and "llm.model" in caught.value.hint
    assert calls == []


@pytest.mark.parametrize(("setting", "provider_setting"), [("llm.model", "llm.provider"), ("media.vision_model", "media.vision_provider")])
def test_a_token_that_is_not_hugging_faces_with_provider_auto_is_told_to_fix_hf_token(router, setting: str, provider_setting: str) -> None:
    """huggingface_hub routes "auto" through Hugging Face only with an hf_ token: the fix is the token
    (or naming the provider whose key it is), not another model."""
    calls, _ = router
    with pytest.raises(ConfigError) as caught:
        ChatModel(ModelTarget(model="Qwen/Qwen2.5-7B-Instruct"), token="sk-another-providers-key-0123", timeout=5,
                  setting=setting).reply(QUESTION)
    assert str(caught.value).startswith("HF_TOKEN is not a Hugging Face token (hf_...)")
    assert caught.value.hint.startswith("set HF_TOKEN to a Hugging Face token") and provider_setting in caught.value.hint
    assert "pick another" not in caught.value.hint and "sk-another" not in caught.value.explain()
    assert calls == []


def test_a_named_provider_that_does_not_serve_the_model_is_found_on_the_hub_before_any_question(router) -> None:
    import httpx2

    calls, answers = router
    answers.append(httpx2.Response(200, json={"id": "Qwen/Qwen2.5-7B-Instruct", "inferenceProviderMapping": {
        "together": {"providerId": "Qwen/Qwen2.5-7B-Instruct-Turbo", "status": "live", "task": "conversational"},
    }}))
    target = ModelTarget(model="Qwen/Qwen2.5-7B-Instruct", provider="nscale")
    with pytest.raises(ConfigError) as caught:
        ChatModel(target, token="hf_hosted_secret", timeout=5).reply(QUESTION)
    assert "not supported by provider nscale" in str(caught.value)
    assert [request.url.path for request in calls] == ["/api/models/Qwen/Qwen2.5-7B-Instruct"]  # no question sent


# ---------------------------------------------------------------------------- hearing and drawing (hosted, through the router)


def test_a_voice_note_goes_raw_to_whisper_on_hf_inference_and_a_long_one_asks_for_timestamps(router) -> None:
    import httpx2

    from botjob.media import SpeechModel, target_of

    calls, answers = router
    mapping = {"id": "openai/whisper-large-v3", "pipeline_tag": "automatic-speech-recognition", "inferenceProviderMapping": {
        "hf-inference": {"providerId": "openai/whisper-large-v3", "status": "live", "task": "automatic-speech-recognition"},
    }}
    answers.extend([httpx2.Response(200, json=mapping), httpx2.Response(200, json={"text": " hello "}),
                    httpx2.Response(200, json={"text": "a long story", "chunks": []})])
    speech = SpeechModel(target_of("openai/whisper-large-v3", "hf-inference"), token="hf_hosted_secret", timeout=5)

    assert speech.transcribe(b"OggS-audio", mime_type="audio/ogg", seconds=5) == "hello"
    assert speech.transcribe(b"OggS-long", mime_type="audio/ogg", seconds=90) == "a long story"

    lookup, short, long = calls
    assert lookup.url.path == "/api/models/openai/whisper-large-v3"
    assert short.url.host == "router.huggingface.co" and short.url.path.endswith("/models/openai/whisper-large-v3")
    assert short.headers["content-type"] == "audio/ogg" and short.content == b"OggS-audio"
    assert long.headers["content-type"] == "application/json"  # what it carries, not the audio's type
    assert json.loads(long.content) == {"inputs": base64.b64encode(b"OggS-long").decode(), "parameters": {"return_timestamps": True}}


def test_a_long_note_whisper_on_hf_inference_refuses_as_json_is_tried_raw_once(router) -> None:
    import httpx2

    from botjob.media import SpeechModel, target_of

    calls, answers = router  # a model of its own: huggingface_hub caches each model's lookup
    mapping = {"id": "openai/whisper-large-v3-turbo", "pipeline_tag": "automatic-speech-recognition", "inferenceProviderMapping": {
        "hf-inference": {"providerId": "openai/whisper-large-v3-turbo", "status": "live", "task": "automatic-speech-recognition"},
    }}
    answers.extend([httpx2.Response(200, json=mapping),
                    httpx2.Response(400, json={"error": "[Errno 36] File name too long"}),  # a server that reads no base64
                    httpx2.Response(200, json={"text": "a long story"})])
    speech = SpeechModel(target_of("openai/whisper-large-v3-turbo", "hf-inference"), token="hf_hosted_secret", timeout=5)

    assert speech.transcribe(b"OggS-long", mime_type="audio/ogg", seconds=90) == "a long story"
    _, as_json, raw = calls
    assert as_json.headers["content-type"] == "application/json"
    assert raw.headers["content-type"] == "audio/ogg" and raw.content == b"OggS-long"


def test_a_speech_model_refusing_one_files_type_is_that_messages_problem(model: ModelSandbox) -> None:
    from botjob.media import SpeechModel, target_of

    model.fail(415, body={"error": "Unsupported audio format"})
    with pytest.raises(ModelError) as caught:
        SpeechModel(target_of(f"{model.url}/speech", ""), token=None, timeout=5).transcribe(b"x", mime_type="audio/ogg", seconds=2)
    assert caught.value.kind is Failure.MESSAGE  # the next voice note may be of a type it takes


def test_a_picture_model_no_provider_serves_is_found_before_any_drawing(router) -> None:
    import httpx2

    from botjob.media import PictureModel, target_of

    calls, answers = router
    answers.append(httpx2.Response(200, json={"id": "black-forest-labs/FLUX.1-schnell", "inferenceProviderMapping": {}}))
    with pytest.raises(ConfigError) as caught:
        PictureModel(target_of("black-forest-labs/FLUX.1-schnell", "hf-inference"), token="hf_x", timeout=5).draw("a cat")
    assert "media.image_model" in caught.value.hint and len(calls) == 1  # the lookup only: nothing drawn, nothing paid


# ---------------------------------------------------------------------------- where HF_TOKEN may go

ENDPOINT_TOKEN = "hf_endpoint_secret_0123456789abcdef"


@pytest.fixture
def runner_token(monkeypatch: pytest.MonkeyPatch) -> str:
    """HF_TOKEN in the process environment, as in the workflow: huggingface_hub would read it by itself."""
    monkeypatch.setenv("HF_TOKEN", "hf_fromTheRunnersEnvironment0123456")
    return "hf_fromTheRunnersEnvironment0123456"


@pytest.mark.parametrize(("address", "sent"), [
    ("http://models.example.net:8080/v1", False),  # clear text across a network
    ("http://192.168.1.20:8080/v1?api_key=k-0123456789", False),
    ("https://models.example.net/v1", True),  # the owner's own server, over https
    ("https://xyz.us-east-1.aws.endpoints.huggingface.cloud/v1", True),  # an Inference Endpoint
    ("http://localhost:8080/v1", True),  # this machine
    ("http://[::1]:8080/v1", True),
])
def test_hf_token_goes_to_an_endpoint_only_over_https_or_on_this_machine(
    router, runner_token: str, caplog: pytest.LogCaptureFixture, address: str, sent: bool
) -> None:
    import responses

    calls, _ = router
    with responses.RequestsMock() as lookup:
        lookup.get(_at(address, "/v1/models"), json={"data": [{"id": "served/model"}]})
        chat = ChatModel(ModelTarget(model="x", base_url=address), token=ENDPOINT_TOKEN, timeout=5)
        assert chat.reply(QUESTION) == "Four."
        (name_lookup,) = lookup.calls
    (question,) = calls
    assert json.loads(question.content)["model"] == "served/model"
    bearer = f"Bearer {ENDPOINT_TOKEN}" if sent else None
    assert name_lookup.request.headers.get("Authorization") == bearer  # the model-name lookup: the same rule
    assert question.headers.get("authorization") == bearer  # never the runner's HF_TOKEN instead
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert warnings == ([] if sent else [
        "HF_TOKEN is not sent to the server for chat: its address is plain http to another machine, "
        "where anyone on the way could read it; give it an https:// address"
    ])


def _at(address: str, path: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    return urlunsplit(urlsplit(address)._replace(path=path))


def test_a_refused_token_the_endpoint_never_got_says_why(router) -> None:
    import httpx2

    _, answers = router
    answers.append(httpx2.Response(401, json={"error": "missing bearer token"}))
    chat = ChatModel(ModelTarget(model="x", base_url="http://models.example.net:8080/v1", endpoint_model="m"),
                     token=ENDPOINT_TOKEN, timeout=5)
    with pytest.raises(ModelError) as caught:
        chat.reply(QUESTION)
    assert caught.value.kind is Failure.BOT_WIDE
    assert caught.value.hint == "HF_TOKEN goes only over https or to this machine: give endpoint models.example.net an https:// address"


def test_media_models_at_a_plain_http_address_elsewhere_get_no_token(router, runner_token: str) -> None:
    import httpx2

    from botjob.media import PictureModel, SpeechModel, target_of
    from botjob.sandbox.media import png_image

    calls, answers = router
    answers.extend([httpx2.Response(200, json={"text": "hello"}),
                    httpx2.Response(200, content=png_image(), headers={"Content-Type": "image/png"})])
    speech = SpeechModel(target_of("http://speech.example.net/asr", ""), token=ENDPOINT_TOKEN, timeout=5)
    pictures = PictureModel(target_of("http://draw.example.net/draw", ""), token=ENDPOINT_TOKEN, timeout=5)

    assert speech.transcribe(b"OggS-audio", mime_type="audio/ogg", seconds=2) == "hello"
    assert pictures.draw("a lighthouse").startswith(b"\x89PNG")

    assert [request.url.host for request in calls] == ["speech.example.net", "draw.example.net"]
    assert [request.headers.get("authorization") for request in calls] == [None, None]


def test_media_models_over_https_get_the_token(router) -> None:
    import httpx2

    from botjob.media import SpeechModel, target_of

    calls, answers = router
    answers.append(httpx2.Response(200, json={"text": "hello"}))
    speech = SpeechModel(target_of("https://speech.example.net/asr", ""), token=ENDPOINT_TOKEN, timeout=5)
    assert speech.transcribe(b"OggS-audio", mime_type="audio/ogg", seconds=2) == "hello"
    assert calls[0].headers["authorization"] == f"Bearer {ENDPOINT_TOKEN}"
