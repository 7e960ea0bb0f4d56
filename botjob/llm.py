"""Replies from a language model through huggingface_hub's InferenceClient; knows nothing of Telegram.

Either a hosted model routed through Hugging Face Inference Providers, or any
OpenAI-compatible server (Inference Endpoint, TGI, vLLM, llama.cpp, the
sandbox) given by URL. With the task "text-generation" the model is a base
(non-chat) model such as GPT-J on a TGI endpoint: the chat becomes a
``User:``/``Assistant:`` transcript and the continuation is cut at the next
turn. The client is imported on first use so that an idle run never pays for
it. Every library error is translated here, once, into a ``ModelError`` that
says which failure class it belongs to.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from .config import SERVED_MODELS, ModelChoice
from .errors import BotjobError, ConfigError, Failure

log = logging.getLogger(__name__)

TOKEN_HINT = (
    "set HF_TOKEN to a Hugging Face token allowed to 'Make calls to Inference Providers' "
    "(huggingface.co/settings/tokens)"
)
CREDITS_HINT = (
    "the Hugging Face account's inference credits are spent: wait for the monthly reset, add credits, "
    "or point BOTJOB_LLM_URL at your own server"
)
TGI_HINT = (
    "set BOTJOB_LLM_URL (or llm.base_url) to a TGI endpoint serving the model, e.g. a Hugging Face Inference "
    "Endpoint; Inference Providers serve chat models only (llm.task: chat-completion)"
)

CHAT_COMPLETION = "chat-completion"
TEXT_GENERATION = "text-generation"
TASKS = (CHAT_COMPLETION, TEXT_GENERATION)

# Speaker names of the transcript a base model continues.
USER, ASSISTANT = "User", "Assistant"
STOP_SEQUENCES = [f"\n{USER}:", f"\n{ASSISTANT}:"]  # TGI accepts at most 4 by default
# Where the continuation starts a new turn: servers do not always honour stop
# sequences, and TGI returns the one that stopped it as part of the text.
_NEXT_TURN = re.compile(rf"^[ \t]*(?:{USER}|{ASSISTANT}):", re.MULTILINE)

# What servers say when the model itself is the problem, not the question: the router's "not supported
# by any provider you have enabled", a provider's "Model not supported by provider", vLLM's and OpenAI's
# "The model `x` does not exist", TGI's "not a chat model".
_MODEL_REFUSED = re.compile(
    r"not supported by (?:any )?provider|model.{0,200}?(?:does not exist|not found|is not a chat model)"
    r"|model_not_(?:found|supported)|unknown model",
    re.IGNORECASE,
)
# huggingface_hub's refusal to route through Hugging Face with another provider's key
# (AutoRouterConversationalTask._prepare_base_url, 2.4.0): "Cannot select auto-router when using non-Hugging Face API key."
_NOT_AN_HF_TOKEN = re.compile(r"non-Hugging Face API key", re.IGNORECASE)
# A question a settings check sends nowhere: it only lets the library resolve the model and provider.
_SETTINGS_PROBE = [{"role": "user", "content": "ping"}]


class ModelError(BotjobError):
    """The model could not give a reply; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, kind: Failure, status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, kind=kind, **kwargs)
        self.status = status


@dataclass(frozen=True)
class ModelTarget:
    """Where replies come from: a hub model id (+ provider), or an endpoint URL."""

    model: str
    provider: str = "auto"
    base_url: str = ""
    endpoint_model: str = ""  # name sent to an endpoint; empty = ask its /v1/models

    @classmethod
    def of(cls, choice: ModelChoice, provider: str) -> ModelTarget:
        """A model of a list (llm.fallback, a media list); ``provider`` serves a hub id that names none."""
        if choice.url:
            return cls(model=choice.url, base_url=choice.url, endpoint_model=choice.model)
        return cls(model=choice.model, provider=choice.provider or provider)

    def describe(self) -> str:
        # Only the host of an endpoint: its URL may carry a key, and logs may be public.
        host = urlsplit(self.base_url).hostname or "(unparsable URL)"
        return f"endpoint {host}" if self.base_url else f"{self.model} via provider {self.provider}"

    @property
    def name(self) -> str:
        """What the owner's reports call it: the hub id (with a provider other than "auto"), or a server's
        scheme, host and port (with the model name it is asked for), never the key its address may carry."""
        if not self.base_url:
            return self.model if self.provider == "auto" else f"{self.model} via {self.provider}"
        parts = urlsplit(self.base_url)
        address = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"  # the user and password left out
        return f"{self.endpoint_model} at {address}" if self.endpoint_model else address


class HostedModel:
    """A model reached through huggingface_hub's InferenceClient: its client, made once, the settings
    checked before the first request, and every library error translated, once, into our classes.

    ``setting`` names the owner's setting for the model (for the fixes the
    errors suggest) and ``purpose`` what the model is for, in words.
    """

    hf_task = "conversational"  # the task name huggingface_hub's provider helpers know

    def __init__(self, target: ModelTarget, *, token: str | None, timeout: float, setting: str, purpose: str) -> None:
        if not target.base_url and not token:
            where = "no BOTJOB_LLM_URL is given" if setting == "llm.model" else f"{target.model} in {setting} is not a URL"
            raise ConfigError(f"HF_TOKEN is not set, and {where}", hint=TOKEN_HINT)
        self.target = target
        self.setting = setting
        self.purpose = purpose
        self._token = token if token and _token_may_go_to(target) else None
        self._token_withheld = bool(token) and self._token is None
        if self._token_withheld:
            log.warning(
                "HF_TOKEN is not sent to the server for %s: its address is plain http to another machine, "
                "where anyone on the way could read it; give it an https:// address", purpose,
            )
        self.timeout = timeout
        self._client: Any = None
        self._model_name: str | None = None
        self._settings_checked = False
        self._client_lock = threading.Lock()  # the chats' workers share one client, made once

    def prepare(self) -> None:
        """Import the client and check the settings now, before the first question needs them;
        a failure here is met again, and reported, by that question."""
        try:
            self._get_client()
        except BotjobError:
            pass

    def _get_client(self) -> Any:
        with self._client_lock:
            if self._client is None:
                if not self._settings_checked:
                    self._check_settings()
                    self._settings_checked = True
                client = self._make_client()
                if self._token is None:
                    # Given no token, huggingface_hub sends the machine's own (HF_TOKEN from the process
                    # environment, or a login's token file) wherever the client points
                    # (HFInferenceTask._prepare_api_key). A header set to None wins over the library's and
                    # is then dropped (_providers/_common.py _normalize_headers): no Authorization at all.
                    client.headers = {**client.headers, "authorization": None}
                self._client = client
            return self._client

    def _make_client(self) -> Any:
        raise NotImplementedError

    def _probe(self) -> tuple[Any, dict[str, Any]]:
        """Inputs and parameters of a request that is prepared, never sent, by the settings check."""
        return _SETTINGS_PROBE, {"model": self.target.model}

    def _check_settings(self) -> None:
        """Find settings that cannot work before the first question, so no question is blamed for them.

        For a hub model the library resolves the provider (and, for a named
        provider, the model's mapping on the Hub) while preparing a request;
        this prepares one without sending it. An endpoint URL has nothing to
        resolve. The helper lives in a private module: if it moves, the check
        is skipped and the first question finds the same problems.
        """
        if self.target.base_url:
            return
        try:
            from huggingface_hub.inference._providers import get_provider_helper
        except ImportError:
            return
        inputs, parameters = self._probe()
        try:
            helper = get_provider_helper(self.target.provider, task=self.hf_task, model=self.target.model)
            helper.prepare_request(inputs=inputs, parameters=parameters, headers={}, model=self.target.model, api_key=self._token)
        except ValueError as error:
            if _NOT_AN_HF_TOKEN.search(str(error)):
                raise ConfigError(
                    f"HF_TOKEN is not a Hugging Face token (hf_...), and Hugging Face picks the provider of the "
                    f"{self.purpose} model ({self._provider_setting()}: auto)", hint=self._not_an_hf_token_hint(),
                ) from None
            raise ConfigError(f"the {self.purpose} model settings cannot work: {error}", hint=self._model_hint()) from None
        except StopIteration:  # the library's way of saying that the model's mapping is empty
            raise ConfigError(
                f"no Inference Provider serves {self.target.model} for {self.purpose}", hint=self._model_hint()
            ) from None
        except Exception as error:  # looking the model up on the Hub failed: 404, gated, unreachable...
            raise self._translate(error) from None

    def _model_hint(self) -> str:
        if self.target.base_url:
            return f"check {self.setting}: {self.target.describe()} does not serve it for {self.purpose}"
        return (
            f"set {self.setting} in botjob.yaml to a model that Inference Providers serve for {self.purpose} "
            f"({SERVED_MODELS.get(self.setting, SERVED_MODELS['llm.model'])}), or pick another {self._provider_setting()}; "
            f"huggingface.co/{self.target.model} shows who serves it"
        )

    def _provider_setting(self) -> str:
        if self.setting in ("llm.fallback", "llm.choices"):
            return f"provider of its {self.setting} entry"
        return self.setting.replace("_model", "_provider") if self.setting.startswith("media.") else "llm.provider"

    @property
    def name(self) -> str:
        return self.target.name

    def _not_an_hf_token_hint(self) -> str:
        return (
            f"set HF_TOKEN to a Hugging Face token (hf_..., huggingface.co/settings/tokens) allowed to 'Make calls to "
            f"Inference Providers'; or, if it is one provider's own key, set {self._provider_setting()} to that provider"
        )


    def _translate(self, error: Exception) -> BotjobError:
        from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, TextGenerationError

        if isinstance(error, InferenceTimeoutError):
            return ModelError(f"the model did not answer within {self.timeout:g} s", kind=Failure.TRANSIENT)
        if isinstance(error, TextGenerationError):  # before the transport check: it derives from httpx2.HTTPError
            return self._translate_tgi(error)
        if isinstance(error, HfHubHTTPError) and error.response is not None:
            return self._translate_status(error.response, getattr(error, "server_message", None))
        if _is_transport_error(error):
            return ModelError(f"cannot reach the model ({type(error).__name__})", kind=Failure.TRANSIENT)
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):  # e.g. a proxy's error page
            return ModelError("the model's answer was not JSON (a proxy or gateway error?)", kind=Failure.TRANSIENT)
        if isinstance(error, ValueError):
            # The settings were checked before the first question: what is left depends on this question,
            # e.g. text the HTTP layer cannot encode. The message may quote it: keep its type only.
            return ModelError(f"the question could not be sent ({type(error).__name__})", kind=Failure.MESSAGE)
        return ModelError(f"unexpected model error ({type(error).__name__})", kind=Failure.TRANSIENT)

    def _translate_tgi(self, error: Exception) -> ModelError:
        """TGI's typed errors (from its ``error_type``): raised from the HTTP error, which keeps the status."""
        from huggingface_hub.errors import GenerationError, HfHubHTTPError, ValidationError

        # A validation error is this input's fault; so is a failed generation (TGI's 424, e.g. out of
        # memory for this prompt), which would fail again on every retry. Overloaded and the rest pass.
        kind = Failure.MESSAGE if isinstance(error, (ValidationError, GenerationError)) else Failure.TRANSIENT
        cause = error.__cause__
        response = cause.response if isinstance(cause, HfHubHTTPError) else None
        if response is None:
            if kind is Failure.MESSAGE:
                log.debug("model rejected the input (%s)", type(error).__name__)
            return ModelError(f"the model failed ({type(error).__name__})", kind=kind)
        return self._translate_status(response, str(error), otherwise=kind)

    def _translate_status(self, response: Any, server_message: str | None, *, otherwise: Failure | None = None) -> ModelError:
        """The failure class of an HTTP status; ``otherwise`` decides a status with no meaning of its own."""
        status = int(response.status_code)
        detail = f"model answered HTTP {status}"
        retry_after = _retry_after(response)
        where = self.target.describe()
        if status in (401, 403):
            hint = TOKEN_HINT if not self.target.base_url else f"check the token that {where} expects (HF_TOKEN)"
            if self._token_withheld:
                hint = f"HF_TOKEN goes only over https or to this machine: give {where} an https:// address"
            return ModelError(f"{detail}: the token was refused", kind=Failure.BOT_WIDE, status=status, hint=hint)
        if status == 402:
            return ModelError(f"{detail}: no inference credits left", kind=Failure.BOT_WIDE, status=status, hint=CREDITS_HINT)
        if status == 404:
            return ModelError(
                f"{detail}: {where} was not found",
                kind=Failure.BOT_WIDE,
                status=status,
                hint=TGI_HINT if getattr(self, "task", "") == TEXT_GENERATION else self._model_hint(),
            )
        if status in (408, 425, 429) or status >= 500:
            return ModelError(detail, kind=Failure.TRANSIENT, status=status, retry_after=retry_after)
        if status == 415:  # the model takes no file of this kind: every one would be refused alike
            return ModelError(f"{detail}: {where} does not take this kind of file", kind=Failure.BOT_WIDE, status=status,
                              hint=self._model_hint())
        if status in (400, 422) and _MODEL_REFUSED.search(_error_text(response, server_message)):
            # The same status as a rejected question, but the model is the problem: no question is to blame.
            name = self._model_name or self.target.endpoint_model if self.target.base_url else self.target.model
            if self.target.base_url:
                served_by = f" by {where}"
            elif self.target.provider == "auto":
                served_by = " by any provider enabled for this account"
            else:
                served_by = f" by provider {self.target.provider}"
            return ModelError(
                f"{detail}: the model {name or '(the endpoint default)'} is not served{served_by}",
                kind=Failure.BOT_WIDE, status=status, hint=self._model_hint(),
            )
        if status in (400, 413, 422):
            # Logged by the caller: the server's text may quote the question, so keep only its length.
            log.debug("model rejected the input (%d chars of server message)", len(server_message or ""))
            return ModelError(f"{detail}: the input was rejected", kind=Failure.MESSAGE, status=status)
        if otherwise is not None:
            return ModelError(detail, kind=otherwise, status=status, retry_after=retry_after)
        return ModelError(detail, kind=Failure.BOT_WIDE, status=status, hint=f"check the model settings for {where}")


class ChatModel(HostedModel):
    """Answers a list of chat messages (OpenAI roles) with one text.

    ``task`` is "chat-completion" (a chat model, the default) or
    "text-generation" (a base model behind a TGI endpoint, or a hub model
    routed with provider "hf-inference"). A message's content may be a list
    of parts (text and images) for a vision model.
    """

    def __init__(
        self,
        target: ModelTarget,
        *,
        token: str | None,
        timeout: float = 60.0,
        max_tokens: int = 512,
        temperature: float | None = 0.7,
        task: str = CHAT_COMPLETION,
        setting: str = "llm.model",
        purpose: str = "chat",
    ) -> None:
        if task not in TASKS:
            raise ConfigError(f"unknown model task {task!r}", hint=f"set llm.task to one of: {', '.join(TASKS)}")
        if task == TEXT_GENERATION and not target.base_url and target.provider != "hf-inference":
            raise ConfigError(
                f"llm.task is text-generation, but no endpoint URL is given for {target.model}",
                hint=TGI_HINT,
            )
        super().__init__(target, token=token, timeout=timeout, setting=setting, purpose=purpose)
        self.hf_task = "conversational" if task == CHAT_COMPLETION else "text-generation"
        self.task = task
        self.max_tokens = max_tokens
        self.temperature = temperature

    def reply(self, messages: list[dict[str, str]]) -> str:
        """One completion; raises ``ModelError`` (or ``ConfigError``) on failure."""
        if self.task == TEXT_GENERATION:
            return self._continue_transcript(messages)
        client = self._get_client()
        try:
            output = client.chat_completion(
                messages,
                model=self._model_name,
                max_tokens=self.max_tokens,
                temperature=self.temperature,
            )
        except Exception as error:  # the library raises several unrelated types: translate them all here
            raise self._translate(error) from None
        try:
            content = output.choices[0].message.content
        except (AttributeError, IndexError, TypeError):
            raise ModelError("the model answered without a reply", kind=Failure.TRANSIENT) from None
        return content or ""

    def _continue_transcript(self, messages: list[dict[str, str]]) -> str:
        """A base model's answer: it continues the chat written as a transcript, up to the next turn."""
        client = self._get_client()
        prompt = transcript(messages)
        sampling: dict[str, Any] = {"do_sample": False}  # TGI rejects temperature 0: greedy decoding instead
        if self.temperature:
            sampling = {"do_sample": True, "temperature": self.temperature}
        log.debug("text generation: %d messages, %d chars of prompt", len(messages), len(prompt))
        try:
            generated = client.text_generation(
                prompt,
                max_new_tokens=self.max_tokens,
                stop=STOP_SEQUENCES,
                return_full_text=False,
                **sampling,
            )
        except Exception as error:  # same translation as chat
            raise self._translate(error) from None
        if not isinstance(generated, str):
            raise ModelError("the model answered without a reply", kind=Failure.TRANSIENT)
        if generated.startswith(prompt):  # a server that ignores return_full_text
            generated = generated[len(prompt):]
        return first_turn(generated)

    def _make_client(self) -> Any:
        from huggingface_hub import InferenceClient

        if self.target.base_url and self.task == TEXT_GENERATION:
            # TGI generates at the URL itself and ignores model names: no discovery.
            return InferenceClient(base_url=_endpoint_root(self.target.base_url), token=self._token, timeout=self.timeout)
        if self.target.base_url:
            self._model_name = self.target.endpoint_model or self._discover_endpoint_model()
            return InferenceClient(base_url=self.target.base_url, token=self._token, timeout=self.timeout)
        return InferenceClient(
            model=self.target.model,
            provider=self.target.provider,  # type: ignore[arg-type]
            token=self._token,
            timeout=self.timeout,
        )

    def _probe(self) -> tuple[Any, dict[str, Any]]:
        if self.task == CHAT_COMPLETION:
            return super()._probe()
        return transcript(_SETTINGS_PROBE), {}

    def _model_hint(self) -> str:
        if self.target.base_url and self.setting == "llm.model":
            return (
                f"set llm.endpoint_model to a model that {self.target.describe()} serves (empty: ask its /v1/models), "
                "or fix BOTJOB_LLM_URL; without an endpoint URL, llm.model is asked through Inference Providers"
            )
        return super()._model_hint()

    def _discover_endpoint_model(self) -> str | None:
        """The name an OpenAI-compatible server serves: vLLM rejects any other, TGI and llama.cpp ignore it.

        A server that lists no models gets the library's placeholder name; a
        server that cannot be reached right now is a transient failure, so a
        blip never turns into a wrong model name.
        """
        url = _endpoint_root(self.target.base_url, "/v1/models")
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        try:
            answer = requests.get(url, headers=headers, timeout=(5, self.timeout))
        except requests.RequestException as error:
            raise ModelError(f"cannot reach the model ({type(error).__name__})", kind=Failure.TRANSIENT) from None
        if answer.status_code in (408, 425, 429) or answer.status_code >= 500:
            raise self._translate_status(answer, None)
        try:
            name = answer.json()["data"][0]["id"] if answer.ok else None
        except (ValueError, KeyError, TypeError, IndexError):
            name = None
        log.debug("endpoint model name: %s", name or "(not listed; the server's default)")
        return name if isinstance(name, str) else None


def transcript(messages: list[dict[str, str]]) -> str:
    """The chat as a text a base model continues: the system prompt as a first paragraph, then the
    turns as ``User: ...`` / ``Assistant: ...`` separated by blank lines, ending with ``Assistant:``."""
    paragraphs: list[str] = []
    for message in messages:
        content = (message.get("content") or "").strip()
        role = message.get("role")
        if role == "system":
            if content:
                paragraphs.append(content)
        else:
            paragraphs.append(f"{ASSISTANT if role == 'assistant' else USER}: {content}".rstrip())
    paragraphs.append(f"{ASSISTANT}:")
    return "\n\n".join(paragraphs)


def first_turn(continuation: str) -> str:
    """The assistant's answer: the continuation up to the next speaker turn, stripped."""
    found = _NEXT_TURN.search(continuation)
    return (continuation[: found.start()] if found else continuation).strip()


def _endpoint_root(url: str, path: str = "") -> str:
    """The server's root (with ``path`` after it), whether the owner gave it with or without the OpenAI
    path; the query and the credentials of the address stay, as a key may be in them."""
    parts = urlsplit(url)
    root = parts.path.rstrip("/").removesuffix("/chat/completions").removesuffix("/v1")
    return urlunsplit(parts._replace(path=root + path, fragment=""))


def _token_may_go_to(target: ModelTarget) -> bool:
    """Whether HF_TOKEN may go to this model. A hub model is reached through huggingface_hub, over https
    to Hugging Face or its providers; the owner's own server gets it over https, or on this machine
    (127.0.0.1, ::1, localhost), never in clear text across a network."""
    if not target.base_url:
        return True
    try:
        parts = urlsplit(target.base_url)
        host = parts.hostname or ""
    except ValueError:
        return False
    if parts.scheme == "https" or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error_text(response: Any, server_message: str | None) -> str:
    """The server's own words: OpenAI's ``{"error": {"message": ...}}``, ``{"error": "..."}``, or the text."""
    try:
        body = response.json()
    except Exception:  # not JSON, or not read
        body = None
    texts = [server_message or ""]
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            texts += [str(error.get(key) or "") for key in ("message", "code", "type")]
        elif error is not None:
            texts.append(str(error))
        texts += [str(body.get(key) or "") for key in ("message", "detail")]
    return " ".join(t for t in texts if t)


def _retry_after(response: Any) -> float | None:
    """Seconds to wait: a ``Retry-After`` header, or a loading model's ``estimated_time``."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
    try:
        body = response.json()
    except Exception:  # a streamed or non-JSON body
        return None
    estimated = body.get("estimated_time") if isinstance(body, dict) else None
    return float(estimated) if isinstance(estimated, (int, float)) else None


def _is_transport_error(error: Exception) -> bool:
    """httpx2's connection errors reach us raw; match them without importing httpx2 up front."""
    return any(cls.__module__.split(".")[0] in ("httpx2", "httpx", "httpcore") for cls in type(error).__mro__) or isinstance(
        error, (ConnectionError, TimeoutError)
    )
