"""A local model server speaking the OpenAI chat-completions and TGI text-generation shapes,
with a deterministic echo answer and scriptable faults, hangs and latency.

Also the hf-inference shapes huggingface_hub posts to a model URL for speech recognition
(POST /speech) and text-to-image (POST /draw: JSON in, PNG out), and image parts in chat messages
(vision). /speech decodes by Content-Type as Hugging Face's inference server does
(huggingface-inference-toolkit): raw audio under one of its audio types, JSON under
application/json with the audio in base64 "inputs" (decoded only when "parameters" is given);
any other type, a JSON text sent as audio, or raw audio sent as JSON, is refused with its 400
{"error": ...}. The "recognition" reads audio made by media.speech_audio; Whisper's 30-second limit
without return_timestamps is kept. Left out: real audio decoding (any other bytes are
"(inaudible)"), parameters in the query string, other image sizes and formats, and fetching image
URLs (an http image part is counted as seen, with no bytes)."""
from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import math
import re
import threading
import time
import uuid
from typing import Any, Callable

from ._http import LocalServer, Request, Response, json_response
from .media import image_kind, parse_speech, png_image

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
WHISPER_LIMIT = 30.0  # seconds Whisper takes at once; longer audio needs return_timestamps
TOO_LONG = ("You have passed more than 3000 mel input features (> 30 seconds) which automatically enables long-form "
            "generation which requires the model to predict timestamp tokens. Please either pass "
            "`return_timestamps=True` or make sure to pass no more than 3000 mel input features.")  # transformers
# The Content-Types the toolkit's /speech decodes (serialization/base.py; an exact match, case included).
SPEECH_AUDIO_TYPES = (
    "audio/x-flac", "audio/flac", "audio/mpeg", "audio/x-mpeg-3", "audio/wave", "audio/wav", "audio/x-wav",
    "audio/ogg", "audio/x-audio", "audio/webm", "audio/webm;codecs=opus", "audio/AMR", "audio/amr",
    "audio/AMR-WB", "audio/AMR-WB+", "audio/m4a", "audio/x-m4a",
)
JSON_TYPES = ("application/json", "application/json; charset=UTF-8")
NOT_AUDIO = ("Soundfile is either not in the correct format or is malformed. Ensure that the soundfile has a valid "
             "audio file extension (e.g. wav, flac or mp3) and is not corrupted. If reading from a remote URL, ensure "
             "that the URL is the full address to **download** the audio file.")  # transformers' ffmpeg_read
INAUDIBLE = "(inaudible)"
_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?((?:;[^;,]*)*?);base64,(.*)", re.S)


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
Transcript = str | Callable[[bytes], str | None]
Picture = bytes | Callable[[str], bytes | None]


def _validation(message: str, status: int = 400) -> Response:
    return json_response(status, {"error": f"Input validation error: {message}", "error_type": "validation"})


def content_type_refused(content_type: str | None) -> str:
    """The toolkit's words for a body whose Content-Type it does not decode (its indentation left out)."""
    return (f'Content type "{content_type}" not supported. Supported content types are: '
            f'{", ".join(JSON_TYPES + SPEECH_AUDIO_TYPES)}')


class ModelSandbox(LocalServer):
    """Serves POST /v1/chat/completions, POST / and /generate (TGI), POST /speech and /draw
    (hf-inference), GET /health, /info, /v1/models."""

    def __init__(self, latency: float = 0.0) -> None:
        """``latency``: seconds each answer takes to generate (model listings and health come at once)."""
        super().__init__()
        self.latency = latency
        self._lock = threading.Lock()
        self._requests: list[dict[str, Any]] = []
        self._faults: list[Response] = []
        self._model_faults: dict[str, list[Response]] = {}  # model name -> its own faults, first
        self._lasting: dict[str | None, Response] = {}  # model name (None: any request) -> its fault until heal()
        self._hangs: list[float] = []
        self._answer: Answer | None = None
        self._transcript: Transcript | None = None
        self._picture: Picture | None = None
        self._served: set[str] | None = None  # None: any model name is served

    # ----------------------------------------------------------------- scripting

    def fail(self, status: int, times: int | None = 1, body: Any = None,
             headers: dict[str, str] | None = None, *, model: str | None = None) -> None:
        """The next `times` requests answer `status` with a JSON body (a realistic one by default);
        ``times=None``: every request, until heal().

        ``model``: only the requests that name this model (the "model" of a chat completion), so that
        one server stands in for several models, each with faults of its own; they come before the
        faults for any request. A ``bytes`` body is sent as it is, as text/html: a proxy's or gateway's
        error page.
        """
        if body is None:
            body = DEFAULT_ERRORS.get(status, {"error": f"HTTP {status}"})
        all_headers = {**DEFAULT_ERROR_HEADERS.get(status, {}), **(headers or {})}
        if isinstance(body, bytes):
            fault = Response(status, body, {"Content-Type": "text/html; charset=utf-8", **all_headers})
        else:
            fault = json_response(status, body, all_headers)
        with self._lock:
            if times is None:
                self._lasting[model] = fault
            elif model is None:
                self._faults.extend(fault for _ in range(times))
            else:
                self._model_faults.setdefault(model, []).extend(fault for _ in range(times))

    def heal(self) -> None:
        """Drop the faults and hangs still queued: the outage is over."""
        with self._lock:
            self._faults.clear()
            self._model_faults.clear()
            self._lasting.clear()
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

    def transcribe_with(self, transcript: Transcript | None) -> None:
        """/speech answers this text, or transcript(audio bytes) (a None from it: the default, what
        media.speech_audio put in, else "(inaudible)"); None restores the default. The 30-second
        limit applies first either way."""
        with self._lock:
            self._transcript = transcript

    def draw_with(self, picture: Picture | None) -> None:
        """/draw answers these image bytes, or picture(prompt) (a None from it: the default, an
        8x8 PNG of a colour taken from the prompt); None restores the default."""
        with self._lock:
            self._picture = picture

    @property
    def requests(self) -> list[dict[str, Any]]:
        """Every request: {"method", "path", "json", "headers"}; a body that is not JSON (audio)
        is recorded by its size only, as "body_bytes" (with "json": None); a /speech request also
        has "audio_bytes", and its JSON form's base64 "inputs" is replaced by a short note."""
        with self._lock:
            return copy.deepcopy(self._requests)

    # ----------------------------------------------------------------- HTTP

    def handle(self, request: Request) -> Response:
        try:
            body: Any = json.loads(request.body) if request.body else None
            bad_json = False
        except ValueError:
            body, bad_json = None, True
        path = request.path.rstrip("/") or "/"
        speech = None
        if request.method == "POST" and path == "/speech":
            content_type = next((v for k, v in request.headers.items() if k.lower() == "content-type"), None)
            speech = _speech_input(content_type, request.body, None if bad_json else body)
        record: dict[str, Any] = {"method": request.method, "path": request.path,
                                  "json": body, "headers": dict(request.headers)}
        if bad_json:
            record["body_bytes"] = len(request.body)  # audio and such: never the bytes themselves
        if speech is not None:
            record["json"] = speech.recorded_json
            record["audio_bytes"] = len(speech.audio) if speech.audio is not None else None
        with self._lock:
            self._requests.append(record)
            hang = self._hangs.pop(0) if self._hangs else 0.0
            fault = self._fault_for(body.get("model") if isinstance(body, dict) else None)
        self._sleep(hang)
        if request.method == "POST":  # generating takes time; listing the served models does not
            self._sleep(self.latency)
        if fault is not None:
            return fault
        if request.method == "GET":
            return self._get(path)
        if request.method != "POST":
            return json_response(405, {"error": "Method Not Allowed"})
        if speech is not None:
            return self._speech(speech)
        if bad_json or not isinstance(body, dict):
            return json_response(400, {"error": "Failed to parse the request body as JSON"})
        if path == "/draw":
            return self._draw(body)
        if path in ("/v1/chat/completions", "/chat/completions"):
            return self._chat(body)
        if path in ("/", "/generate"):
            return self._generate(body)
        return json_response(404, {"error": "Not Found"})

    def _fault_for(self, model: Any) -> Response | None:
        """The fault this request meets (the lock held): the named model's own first, then any request's."""
        mine = self._model_faults.get(model) if isinstance(model, str) else None
        if mine:
            return mine.pop(0)
        if isinstance(model, str) and model in self._lasting:
            return self._lasting[model]
        if self._faults:
            return self._faults.pop(0)
        return self._lasting.get(None)

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
        try:  # the model reads every image in the conversation: each must decode
            images = [_image_sizes(m.get("content")) if isinstance(m, dict) else [] for m in messages]
        except ValueError as exc:
            return _validation(str(exc))
        answer = self._custom_answer(messages)
        if answer is None:
            last = next((i for i in reversed(range(len(messages)))
                         if isinstance(messages[i], dict) and messages[i].get("role") == "user"), None)
            last_user = messages[last] if last is not None else {}
            answer = f"Echo: {_content_text(last_user.get('content'))}"
            seen = images[last] if last is not None else []
            if seen:  # so a test can tell the picture reached the model, and at what size
                answer += f" [seen: {len(seen)} image{'s' if len(seen) > 1 else ''}, {sum(seen)} bytes]"
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

    def _speech(self, speech: _SpeechInput) -> Response:
        """Automatic speech recognition, as Whisper on hf-inference answers it."""
        if speech.error is not None or speech.audio is None:
            return json_response(400, {"error": speech.error or NOT_AUDIO})  # the toolkit answers every failure so
        said, seconds = parse_speech(speech.audio)
        timestamps = speech.parameters.get("return_timestamps")
        if seconds is not None and seconds > WHISPER_LIMIT and not timestamps:
            return json_response(400, {"error": TOO_LONG})
        with self._lock:
            custom = self._transcript
        text = custom(speech.audio) if callable(custom) else custom
        if text is None:
            text = INAUDIBLE if said is None else said
        answer: dict[str, Any] = {"text": str(text)}
        if timestamps:
            answer["chunks"] = _chunks(str(text), seconds)
        return json_response(200, answer)

    def _draw(self, body: dict[str, Any]) -> Response:
        """Text-to-image, as hf-inference answers it: the image itself, as the body."""
        prompt = body.get("inputs")
        if not isinstance(prompt, str) or not prompt.strip():
            return _validation("`inputs` must be a non-empty prompt")
        if not isinstance(body.get("parameters") or {}, dict):
            return _validation("`parameters` must be an object")
        with self._lock:
            custom = self._picture
        image = custom(prompt) if callable(custom) else custom
        if image is None:
            digest = hashlib.sha256(prompt.encode("utf-8")).digest()
            image = png_image(8, 8, (digest[0], digest[1], digest[2]))
        content_type = "image/jpeg" if image_kind(image) == "jpeg" else "image/png"
        return Response(200, bytes(image), {"Content-Type": content_type})

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


def _image_sizes(content: Any) -> list[int]:
    """The decoded size of each image part of a message's content (0 for an http URL, which the
    sandbox does not fetch); ValueError for an image it cannot read."""
    if not isinstance(content, list):
        return []
    sizes = []
    for part in content:
        if not isinstance(part, dict) or part.get("type") != "image_url":
            continue
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, dict) else image_url
        if not isinstance(url, str):
            raise ValueError("an image_url part needs {\"url\": ...}")
        if url.startswith(("http://", "https://")):
            sizes.append(0)
            continue
        match = _DATA_URL.fullmatch(url.strip())
        if not match:
            raise ValueError("an image url must be http(s) or a base64 data URL")
        try:
            sizes.append(len(base64.b64decode(match.group(3), validate=True)))
        except (binascii.Error, ValueError):
            raise ValueError("the image's data URL is not valid base64") from None
    return sizes


class _SpeechInput:
    """What a POST /speech carries, read by its Content-Type as the toolkit reads it: the audio, its
    parameters, what the request log shows of it (a JSON body with its base64 "inputs" replaced by
    a short note, whatever its label), and why it cannot be read (if so)."""

    def __init__(self, audio: bytes | None, parameters: dict[str, Any], recorded_json: Any,
                 error: str | None = None) -> None:
        self.audio, self.parameters = audio, parameters
        self.recorded_json, self.error = recorded_json, error


def _speech_input(content_type: str | None, raw: bytes, body: Any) -> _SpeechInput:
    """``body`` is the request's JSON, or None when it is not JSON."""
    recorded = _recorded_speech(body)
    if content_type in SPEECH_AUDIO_TYPES:
        if not raw or body is not None:  # ffmpeg finds no audio in nothing, nor in a JSON text
            return _SpeechInput(None, {}, recorded, NOT_AUDIO)
        return _SpeechInput(raw, {}, None)
    if content_type not in JSON_TYPES:
        return _SpeechInput(None, {}, recorded, content_type_refused(content_type))
    if body is None:
        return _SpeechInput(None, {}, None, "unexpected character: line 1 column 1 (char 0)")  # orjson's words
    if not isinstance(body, dict) or "inputs" not in body:
        return _SpeechInput(None, {}, recorded, "Body needs to provide a inputs key")
    inputs, parameters = body["inputs"], body.get("parameters")
    if "parameters" not in body:  # base64 is decoded only with parameters; the pipeline takes text for a file name
        return _SpeechInput(None, {}, recorded, "[Errno 2] No such file or directory")
    try:
        audio = base64.b64decode(inputs, validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        return _SpeechInput(None, {}, recorded, str(exc))
    if not isinstance(parameters, dict):
        return _SpeechInput(audio, {}, recorded, "argument after ** must be a mapping")
    if not audio:
        return _SpeechInput(audio, parameters, recorded, NOT_AUDIO)
    return _SpeechInput(audio, parameters, recorded)


def _recorded_speech(body: Any) -> Any:
    """A JSON body as the request log keeps it: base64 "inputs" replaced by a note, never the audio."""
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), str):
        return body
    inputs = body["inputs"]
    try:
        note = f"<base64 audio, {len(base64.b64decode(inputs, validate=True))} bytes>"
    except (binascii.Error, ValueError):
        note = f"<{len(inputs)} characters, not base64>"
    return {**body, "inputs": note}


def _chunks(text: str, seconds: float | None) -> list[dict[str, Any]]:
    """Whisper's timestamped chunks: the words spread evenly over windows of at most 30 s."""
    words = text.split()
    if not words:
        return []
    duration = seconds if seconds is not None else max(1.0, 0.5 * len(words))
    count = max(1, min(math.ceil(duration / WHISPER_LIMIT), len(words)))
    per = math.ceil(len(words) / count)
    groups = [words[i:i + per] for i in range(0, len(words), per)]
    step = duration / len(groups)
    return [{"text": " ".join(group), "timestamp": [round(i * step, 2), round((i + 1) * step, 2)]}
            for i, group in enumerate(groups)]
