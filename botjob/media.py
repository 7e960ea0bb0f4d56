"""Hearing and drawing through huggingface_hub: speech to text, and pictures from words.

Reading images needs no module of its own: a vision model is a chat model
(llm.ChatModel) whose question carries an image part. Each model is a hub id
with a pinned provider, or a URL used as huggingface_hub uses a URL model:
speech gets the raw audio posted to it and answers ``{"text": ...}``,
pictures get ``{"inputs": prompt}`` and answer image bytes. Audio and images
stay in memory; nothing here logs them. Knows nothing of Telegram.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from .errors import BotjobError, Failure
from .llm import HostedModel, ModelError, ModelTarget

log = logging.getLogger(__name__)

# Whisper on hf-inference refuses audio over 30 s unless asked for timestamps (hub-docs#1694).
WHISPER_WINDOW = 30


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
        self._clients: dict[str, Any] = {}

    def transcribe(self, audio: bytes, *, mime_type: str, seconds: int) -> str:
        """The words of ``audio``; raises ModelError (or ConfigError) as the chat model does."""
        self._get_client()  # settings checked once
        client = self._client_for(mime_type)
        # Whisper refuses audio past its 30 s window unless asked for timestamps (the audio then goes
        # as base64 in a JSON body). Whisper on hf-inference is asked at once; a URL model gets the raw
        # audio first, as huggingface_hub posts it, and is asked with timestamps only if it refuses.
        long_note = seconds > WHISPER_WINDOW
        timestamps = {"return_timestamps": True}
        try:
            try:
                ask_first = timestamps if long_note and not self.target.base_url else None
                output = client.automatic_speech_recognition(audio, extra_body=ask_first)
            except Exception as error:
                refused = self._translate(error)
                if not (long_note and self.target.base_url and refused.kind is Failure.MESSAGE):
                    raise refused from None
                output = client.automatic_speech_recognition(audio, extra_body=timestamps)
        except BotjobError:
            raise
        except Exception as error:  # the library raises several unrelated types: translate them all here
            raise self._translate(error) from None
        text = getattr(output, "text", None)
        if not isinstance(text, str):
            raise ModelError("the speech model answered without a transcript", kind=Failure.TRANSIENT)
        return text.strip()

    def _client_for(self, mime_type: str) -> Any:
        """A client per kind of audio: raw bytes go with the client's Content-Type header."""
        with self._client_lock:
            if mime_type not in self._clients:
                self._clients[mime_type] = self._new_client(headers={"Content-Type": mime_type})
            return self._clients[mime_type]

    def _probe(self) -> tuple[Any, dict[str, Any]]:
        return b"\0", {}


class PictureModel(_TaskModel):
    """Draws a picture from words: PNG bytes, ready for Telegram."""

    hf_task = "text-to-image"

    def __init__(self, target: ModelTarget, *, token: str | None, timeout: float = 120.0) -> None:
        super().__init__(target, token=token, timeout=timeout, setting="media.image_model", purpose="pictures")

    def draw(self, prompt: str) -> bytes:
        client = self._get_client()
        try:
            image = client.text_to_image(prompt)
        except ImportError:  # Pillow, which huggingface_hub needs to hand the picture over
            raise ModelError(
                "pictures need Pillow, which is not installed", kind=Failure.BOT_WIDE,
                hint="install the requirements again: python -m pip install -r requirements.txt",
            ) from None
        except Exception as error:
            raise self._translate(error) from None
        png = io.BytesIO()
        image.save(png, format="PNG")
        return png.getvalue()

    def _probe(self) -> tuple[Any, dict[str, Any]]:
        return "a lighthouse", {}
