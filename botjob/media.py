"""Hearing and drawing through huggingface_hub: speech to text, and pictures from words.

Reading images needs no module of its own: a vision model is a chat model
(llm.ChatModel) whose question carries an image part. Each model is a hub id
with a pinned provider, or a URL used as huggingface_hub uses a URL model:
speech gets the raw audio posted to it, labelled with its type, and answers
``{"text": ...}``, pictures get ``{"inputs": prompt}`` and answer image bytes. Audio and images
stay in memory; nothing here logs them. Knows nothing of Telegram.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from .errors import BotjobError, Failure
from .llm import HostedModel, ModelError, ModelTarget

log = logging.getLogger(__name__)

# How Hugging Face's inference server hears (huggingface-inference-toolkit, read at 833b5a2, 2025-08-25:
# the default container of Inference Endpoints; that hf-inference runs it too is likely, not documented):
# - serialization/base.py picks the decoder by the request's exact Content-Type: the audio types in
#   SERVER_AUDIO_TYPES take the body as raw audio; "application/json" (or "application/json;
#   charset=UTF-8") as {"inputs", "parameters"}. Any other type, or none, is refused, and so is
#   every other failure, with HTTP 400 {"error": "..."} (webservice_starlette.py); for a type:
#   'Content type "video/mp4" not supported. Supported content types are: ...'. No video/mp4,
#   audio/mp4 or audio/aac. The label only opens the gate: transformers' ffmpeg_read decodes whatever
#   the bytes are, so JSON sent as audio/ogg is "Soundfile is either not in the correct format or is
#   malformed", and raw audio sent as application/json is a JSON parse error.
# - A JSON body's base64 "inputs" is decoded for speech only when "parameters" is present
#   (webservice_starlette.py, PR #118 of 2025-07-17 for issue #115; before, the pipeline took the
#   base64 text for a file name). handler.py passes "parameters" to the transformers pipeline as
#   keyword arguments. Raw audio can carry them only in the query string, which huggingface_hub never uses.
# - For Whisper, utils.py get_pipeline sets chunk_length_s=30: long audio is heard in 30 s chunks even
#   raw. Without chunking, transformers' Whisper refuses more than 3000 mel frames (30 s) unless
#   return_timestamps=True ("You have passed more than 3000 mel input features ..."; the parameter
#   the Inference Providers' ASR spec documents, with generation_parameters).
# - hub-docs#1694 (open, 2025-04-15): Whisper on hf-inference refused notes over 30 s with that
#   transformers error (so it did not chunk), and return_timestamps in the request did not help;
#   reported before #118, and not confirmed or refuted since.
# So a note over 30 s goes to hf-inference as JSON asking for timestamps, then raw if that is refused;
# to a URL model raw first (the toolkit chunks Whisper; huggingface_hub posts audio raw), then as JSON
# with timestamps. Other providers (fal-ai, replicate, deepinfra) run their own Whisper servers, which
# take whole files: they get the audio as their helper sends it, with no parameters.
WHISPER_WINDOW = 30
TIMESTAMPS = {"return_timestamps": True}
SERVER_AUDIO_TYPES = (  # serialization/base.py, exact strings
    "audio/x-flac", "audio/flac", "audio/mpeg", "audio/x-mpeg-3", "audio/wave", "audio/wav", "audio/x-wav",
    "audio/ogg", "audio/x-audio", "audio/webm", "audio/webm;codecs=opus", "audio/AMR", "audio/amr",
    "audio/AMR-WB", "audio/AMR-WB+", "audio/m4a", "audio/x-m4a",
)
# A file's type (lower case, no parameters) -> the Content-Type it goes with. Other names for the same
# formats are relabelled: audio/mp4 is an .m4a file (RFC 4337), audio/opus an Ogg Opus one (RFC 7845).
AUDIO_TYPES = {name.lower(): name for name in SERVER_AUDIO_TYPES if ";" not in name} | {
    "audio/mp3": "audio/mpeg", "audio/mp4": "audio/x-m4a", "audio/opus": "audio/ogg", "audio/vnd.wave": "audio/wav",
}


def audio_label(mime_type: str) -> str | None:
    """The Content-Type a file of this type goes to a speech model with; None when no label fits."""
    return AUDIO_TYPES.get(mime_type.split(";")[0].strip().lower())


def target_of(model: str, provider: str) -> ModelTarget:
    """A media model setting: a hub id (with its provider) or a URL."""
    if model.startswith(("http://", "https://")):
        return ModelTarget(model=model, base_url=model)
    return ModelTarget(model=model, provider=provider)


class _TaskModel(HostedModel):
    """A model called for one task through a client of its own: a hub id with its provider, or a URL."""

    def _make_client(self) -> Any:
        return self._new_client(headers={})

    def _new_client(self, *, headers: dict[str, str]) -> Any:
        from huggingface_hub import InferenceClient

        if self.target.base_url:
            return InferenceClient(model=self.target.base_url, token=self._token, timeout=self.timeout, headers=headers)
        return InferenceClient(
            model=self.target.model, provider=self.target.provider,  # type: ignore[arg-type]
            token=self._token, timeout=self.timeout, headers=headers,
        )


class SpeechModel(_TaskModel):
    """Turns a voice note into words."""

    hf_task = "automatic-speech-recognition"

    def __init__(self, target: ModelTarget, *, token: str | None, timeout: float = 120.0) -> None:
        super().__init__(target, token=token, timeout=timeout, setting="media.speech_model", purpose="speech recognition")

    def transcribe(self, audio: bytes, *, mime_type: str, seconds: int) -> str:
        """The words of ``audio``; raises ModelError (or ConfigError) as the chat model does."""
        client = self._get_client()  # settings checked once
        label = audio_label(mime_type)
        if label is None:  # conversation sends none of these here: a last guard, before any upload
            raise ModelError("the speech model cannot read this kind of audio", kind=Failure.MESSAGE)
        try:
            labelled = _labelled(audio, label)
        except ImportError:
            raise ModelError(
                "this huggingface_hub cannot say what type of audio it sends", kind=Failure.BOT_WIDE,
                hint="install the versions requirements.txt names: python -m pip install -r requirements.txt",
            ) from None
        forms = self._forms(seconds)
        for tried, parameters in enumerate(forms, 1):
            try:
                output = client.automatic_speech_recognition(labelled, extra_body=parameters)
                break
            except Exception as error:  # the library raises several unrelated types: translate them all here
                refused = error if isinstance(error, BotjobError) else self._translate(error)
                if tried == len(forms) or refused.kind is not Failure.MESSAGE:
                    raise refused from None
        text = getattr(output, "text", None)
        if not isinstance(text, str):
            raise ModelError("the speech model answered without a transcript", kind=Failure.TRANSIENT)
        return text.strip()

    def _forms(self, seconds: int) -> list[dict[str, Any] | None]:
        """The requests to try, in order, until one is not refused: None for the raw audio, else the
        parameters of a JSON request (see the notes on WHISPER_WINDOW)."""
        if seconds <= WHISPER_WINDOW:
            return [None]
        if self.target.base_url:
            return [None, TIMESTAMPS]
        if self.target.provider in ("hf-inference", "auto"):  # "auto" may well pick hf-inference
            return [TIMESTAMPS, None]
        return [None]

    def _translate_status(self, response: Any, server_message: str | None, *, otherwise: Failure | None = None) -> ModelError:
        # 415 names this file's type: the next voice note may be of a type the model takes.
        if int(response.status_code) == 415:
            return ModelError("model answered HTTP 415: it cannot read this kind of audio", kind=Failure.MESSAGE, status=415)
        return super()._translate_status(response, server_message, otherwise=otherwise)

    def _probe(self) -> tuple[Any, dict[str, Any]]:
        return b"\0", {}


def _labelled(audio: bytes, content_type: str) -> bytes:
    """The audio carrying its type, so that huggingface_hub labels each request by what it carries: raw
    audio with this type, JSON with application/json, a data URL or multipart part (fal-ai, replicate,
    deepinfra) with this type. A client-wide Content-Type header would label them all alike, JSON
    included: the caller's header wins (_providers/_common.py _normalize_headers).

    MimeBytes is private, but it is the library's own way to type bytes: _open_as_mime_bytes keeps
    its type (huggingface_hub 2.0.0 to 2.4.0, read).
    """
    from huggingface_hub.inference._common import MimeBytes

    return MimeBytes(audio, content_type)


class PictureModel(_TaskModel):
    """Draws a picture from words: PNG bytes, ready for Telegram."""

    hf_task = "text-to-image"

    def __init__(self, target: ModelTarget, *, token: str | None, timeout: float = 120.0) -> None:
        super().__init__(target, token=token, timeout=timeout, setting="media.image_model", purpose="pictures")

    def draw(self, prompt: str) -> bytes:
        """PNG bytes; raises ModelError as the chat model does. A picture drawn (and paid for) that
        cannot be read is this prompt's problem, with ``status`` 200: drawing it again would pay again."""
        client = self._get_client()
        try:
            image = client.text_to_image(prompt)  # Pillow opens the answer: not an image at all fails here...
            png = io.BytesIO()
            image.save(png, format="PNG")  # ...and Pillow reads it only now: a cut one fails here
        except ImportError:  # Pillow, which huggingface_hub needs to hand the picture over
            raise ModelError(
                "pictures need Pillow, which is not installed", kind=Failure.BOT_WIDE,
                hint="install the requirements again: python -m pip install -r requirements.txt",
            ) from None
        except Exception as error:
            if _not_a_picture(error):
                raise ModelError(
                    f"the picture model answered, but not with a picture that can be read ({type(error).__name__})",
                    kind=Failure.MESSAGE, status=200,
                ) from None
            raise self._translate(error) from None
        return png.getvalue()

    def _probe(self) -> tuple[Any, dict[str, Any]]:
        return "a lighthouse", {}


def _not_a_picture(error: Exception) -> bool:
    """Whether the model answered and what came is no picture Pillow can read: an error page, a cut
    file, a provider's broken JSON around it. Pillow says so with OSError (cannot identify,
    truncated, broken stream), SyntaxError or EOFError; huggingface_hub's HTTP errors and timeouts
    are OSErrors too, and are the HTTP layer's, not the picture's."""
    from huggingface_hub.errors import HfHubHTTPError
    from PIL import Image

    if isinstance(error, (HfHubHTTPError, TimeoutError, ConnectionError)):
        return False
    return isinstance(error, (OSError, SyntaxError, EOFError, ValueError, Image.DecompressionBombError))
