"""A local model server speaking the OpenAI chat-completions and TGI text-generation shapes,
with a deterministic echo answer and scriptable faults, hangs and latency."""
from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from typing import Any, Callable

from ._http import LocalServer, Request, Response, json_response

MODEL_ID = "sandbox/echo"
DEFAULT_ERRORS: dict[int, dict[str, Any]] = {
    400: {"error": "Input validation error: rejected by sandbox"},
    401: {"error": "Invalid credentials in Authorization header"},
    402: {"error": "You have exceeded your monthly included credits for Inference Providers. "
                   "Subscribe to PRO to get 20x more monthly included credits."},
    404: {"error": "Model not found"},
    422: {"error": "Input validation error: rejected by sandbox"},
    429: {"error": "Too Many Requests"},
    500: {"error": "Internal Server Error"},
    503: {"error": "Model is currently loading", "estimated_time": 2.0},
}
DEFAULT_ERROR_HEADERS: dict[int, dict[str, str]] = {429: {"Retry-After": "1"}}


def router_error(message: str, *, type: str = "invalid_request_error", code: str | None = None) -> dict[str, Any]:
    """An error body in OpenAI's shape, as router.huggingface.co answers."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


def unsupported_model(model: str) -> dict[str, Any]:
    """The router's answer (HTTP 400) for a model that no enabled provider serves."""
    return router_error(f"The requested model '{model}' is not supported by any provider you have enabled.",
                        code="model_not_supported")


def provider_unsupported(provider: str) -> dict[str, Any]:
    """A provider route's answer (HTTP 400) for a model it does not serve."""
    return {"error": f"Model not supported by provider {provider}"}

Answer = str | Callable[[Any], str | None]


class ModelSandbox(LocalServer):
    """Serves POST /v1/chat/completions, POST / and /generate (TGI), GET /health, /info, /v1/models."""

    def __init__(self, latency: float = 0.0) -> None:
        """``latency``: seconds each answer takes to generate (model listings and health come at once)."""
        super().__init__()
        self.latency = latency
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._faults: list[Response] = []
        self._hangs: list[float] = []
        self._answer: Answer | None = None
        self._served: set[str] | None = None  # None: any model name is served

    # ----------------------------------------------------------------- scripting

    def fail(self, status: int, times: int = 1, body: Any = None,
             headers: dict[str, str] | None = None) -> None:
        """The next `times` requests answer `status` with a JSON body (a realistic one by default).

        A ``bytes`` body is sent as it is, as text/html: a proxy's or gateway's error page.
        """
        if body is None:
            body = DEFAULT_ERRORS.get(status, {"error": f"HTTP {status}"})
        all_headers = {**DEFAULT_ERROR_HEADERS.get(status, {}), **(headers or {})}
        if isinstance(body, bytes):
            fault = Response(status, body, {"Content-Type": "text/html; charset=utf-8", **all_headers})
        else:
            fault = json_response(status, body, all_headers)
        with self._lock:
            self._faults.extend(fault for _ in range(times))

    def heal(self) -> None:
        """Drop the faults and hangs still queued: the outage is over."""
        with self._lock:
            self._faults.clear()
            self._hangs.clear()

    def serve_only(self, *models: str) -> None:
        """Answer chat requests for these model names only; any other gets the router's 400
        "not supported by any provider you have enabled". No names: serve any model again."""
        with self._lock:
            self._served = set(models) or None

    def hang(self, seconds: float, times: int = 1) -> None:
        """The next `times` requests sleep `seconds` before answering."""
        with self._lock:
            self._hangs.extend([seconds] * times)

    def reply_with(self, answer: Answer | None) -> None:
        """Answer with this text, or with answer(messages) / answer(prompt) (a None from it: the echo);
        None restores the echo."""
        with self._lock:
            self._answer = answer

    @property
    def requests(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._requests)

    # ----------------------------------------------------------------- HTTP

    def handle(self, request: Request) -> Response:
        try:
            body: Any = json.loads(request.body) if request.body else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True
        with self._lock:
            self._requests.append({"method": request.method, "path": request.path,
                                   "json": body, "headers": dict(request.headers)})
            hang = self._hangs.pop(0) if self._hangs else 0.0
            fault = self._faults.pop(0) if self._faults else None
        self._sleep(hang)
        if request.method == "POST":  # generating takes time; listing the served models does not
            self._sleep(self.latency)
        if fault is not None:
            return fault
        path = request.path.rstrip("/") or "/"
        if request.method == "GET":
            return self._get(path)
        if request.method != "POST":
            return json_response(405, {"error": "Method Not Allowed"})
        if bad_json or not isinstance(body, dict):
            return json_response(400, {"error": "Failed to parse the request body as JSON"})
        if path in ("/v1/chat/completions", "/chat/completions"):
            return self._chat(body)
        if path in ("/", "/generate"):
            return self._generate(body)
        return json_response(404, {"error": "Not Found"})

    def _get(self, path: str) -> Response:
        if path == "/health":
            return Response(200)
        if path == "/info":
            return json_response(200, {"model_id": MODEL_ID, "max_input_tokens": 4096,
                                       "max_total_tokens": 8192})
        if path in ("/v1/models", "/models"):
            with self._lock:
                served = sorted(self._served) if self._served else [MODEL_ID]
            return json_response(200, {"object": "list", "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "sandbox"} for name in served]})
        return json_response(404, {"error": "Not Found"})

    def _custom_answer(self, argument: Any) -> str | None:
        with self._lock:
            answer = self._answer
        if answer is None:
            return None
        return answer(argument) if callable(answer) else str(answer)

    def _chat(self, body: dict[str, Any]) -> Response:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return json_response(422, {"error": "Input validation error: `messages` must be a non-empty list",
                                       "error_type": "validation"})
        if body.get("stream"):
            return json_response(400, {"error": "Input validation error: the sandbox does not stream",
                                       "error_type": "validation"})
        with self._lock:
            served = self._served
        if served is not None and body.get("model") not in served:
            return json_response(400, unsupported_model(str(body.get("model"))))
        answer = self._custom_answer(messages)
        if answer is None:
            last_user = next((m for m in reversed(messages)
                              if isinstance(m, dict) and m.get("role") == "user"), {})
            answer = f"Echo: {_content_text(last_user.get('content'))}"
        prompt_tokens = sum(len(_content_text(m.get("content")).split())
                            for m in messages if isinstance(m, dict))
        completion_tokens = len(answer.split())
        return json_response(200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or MODEL_ID,
            "system_fingerprint": "sandbox",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                         "logprobs": None, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    def _generate(self, body: dict[str, Any]) -> Response:
        inputs = body.get("inputs")
        if not isinstance(inputs, str):
            return json_response(422, {"error": "Input validation error: `inputs` must be a string",
                                       "error_type": "validation"})
        if body.get("stream"):
            return json_response(400, {"error": "Input validation error: the sandbox does not stream",
                                       "error_type": "validation"})
        parameters = body.get("parameters") or {}
        answer = self._custom_answer(inputs)
        if answer is None:
            lines = inputs.rstrip("\n").split("\n")
            answer = f" Echo: {lines[-1]}"
        if parameters.get("return_full_text"):
            answer = inputs + answer
        return json_response(200, [{"generated_text": answer}])


def _content_text(content: Any) -> str:
    """Message content may be a string or a list of parts ({"type": "text", "text": ...})."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content
                       if isinstance(part, dict) and part.get("type", "text") == "text")
    return ""
