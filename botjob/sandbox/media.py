"""Small media helpers shared by the sandboxes and their tests, standard library only: a valid PNG
made with zlib, the size of a PNG or JPEG read from its header, and the made-up audio format the
model sandbox "hears" (real speech recognition is out of reach without a model)."""
from __future__ import annotations

import re
import struct
import zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SIGNATURE = b"\xff\xd8\xff"
SPEECH_PREFIX = b"SPEECH:"
_SECONDS = re.compile(rb"SECONDS:(\d+(?:\.\d+)?);")


def png_image(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (200, 80, 40)) -> bytes:
    """A valid PNG of one colour (8-bit RGB, no interlacing), readable by any image library."""
    if width <= 0 or height <= 0:
        raise ValueError("a PNG needs at least one pixel")
    row = b"\x00" + bytes(rgb) * width  # filter type 0 (None) before every scanline

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def image_kind(data: bytes) -> str | None:
    """"png" or "jpeg" by the file's magic bytes, else None."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(JPEG_SIGNATURE):
        return "jpeg"
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame marker; None if not found."""
    kind = image_kind(data)
    if kind == "png" and len(data) >= 24 and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if kind == "jpeg":
        i = 2
        while i + 9 <= len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                i += 2
                continue
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # SOFn
                height, width = struct.unpack(">HH", data[i + 5:i + 9])
                return width, height
            i += 2 + length
    return None


def speech_audio(text: str, seconds: float | None = None) -> bytes:
    """Audio that the model sandbox transcribes as `text`; `seconds` says how long it lasts
    (Whisper on hf-inference refuses more than 30 s unless asked for timestamps)."""
    length = b"" if seconds is None else b"SECONDS:%s;" % format(seconds, "g").encode()
    return SPEECH_PREFIX + length + text.encode("utf-8")


def parse_speech(audio: bytes) -> tuple[str | None, float | None]:
    """(what the audio says, how many seconds it lasts) for audio made by speech_audio;
    (None, None) for anything else: the sandbox hears nothing it can make out."""
    if not audio.startswith(SPEECH_PREFIX):
        return None, None
    rest = audio[len(SPEECH_PREFIX):]
    seconds = None
    match = _SECONDS.match(rest)
    if match:
        seconds = float(match.group(1))
        rest = rest[match.end():]
    return rest.decode("utf-8", "replace"), seconds
