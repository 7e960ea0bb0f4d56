"""What counts as a secret, in what forms, and what never does: the one redaction every output goes through."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from botjob.actions import Output
from botjob.redaction import REDACTED, RedactingFilter, Redactor, redact, secrets_in

KEY = "sk-0123456789abcdefXYZ"
PASSWORD = "pa55-w0rd/with:signs"


def test_the_keys_in_a_model_address_are_secrets_and_its_host_is_not() -> None:
    address = f"https://botjob:{PASSWORD.replace('/', '%2F').replace(':', '%3A')}@models.example.net/v1?api_key={KEY}&tier=free"
    secrets = secrets_in({"BOTJOB_LLM_URL": address})
    log = (
        f"GET https://models.example.net:443 \"/v1/models?api_key={KEY}&tier=free HTTP/1.1\" 200\n"  # urllib3
        f"HTTP Request: POST https://botjob:{PASSWORD.replace('/', '%2F').replace(':', '%3A')}@models.example.net/v1/"
        f"chat/completions?api_key={KEY}&tier=free \"HTTP/1.1 200 OK\"\n"  # httpx2, the address as it sends it
        f"the password as typed: {PASSWORD}; the whole address: {address}"
    )
    scrubbed = redact(log, secrets)
    for leak in (KEY, PASSWORD, "pa55", "botjob:", address):
        assert leak not in scrubbed
    assert "https://models.example.net:443 \"/v1/models?api_key=***&" in scrubbed  # still readable


def test_an_address_without_a_key_stays_readable() -> None:
    assert secrets_in({"BOTJOB_LLM_URL": "http://127.0.0.1:8080/v1", "TELEGRAM_API_URL": "https://api.telegram.org"}) == []


def test_settings_addresses_are_read_as_the_environments_are() -> None:
    secrets = secrets_in({}, addresses=["openai/whisper-large-v3", f"http://speech.example.net/asr?key={KEY}"])
    assert redact(f"POST /asr?key={KEY}", secrets) == f"POST /asr?key={REDACTED}"
    assert redact("openai/whisper-large-v3", secrets) == "openai/whisper-large-v3"


def test_a_secret_too_short_to_be_real_is_never_replaced() -> None:
    """HF_TOKEN=e would star every "e" of the log, and the stars around would give it away."""
    secrets = secrets_in({"HF_TOKEN": "e", "TELEGRAM_BOT_TOKEN": "1:x", "BOTJOB_LLM_URL": "http://h:80/v1?k=1&x=yes"})
    assert secrets == []
    assert redact("every message answered; k=1", secrets) == "every message answered; k=1"


def test_settings_read_later_add_their_keys_to_the_log_filter_already_in_place() -> None:
    redactor = Redactor(secrets_in({"HF_TOKEN": "hf_FakeHuggingFaceTokenForTests0123456789"}))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter(redactor))
    logger = logging.getLogger("tests.redaction.later")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        redactor.add(secrets_in({}, addresses=[f"http://draw.example.net/draw?key={KEY}"]))
        logger.warning("POST /draw?key=%s with hf_FakeHuggingFaceTokenForTests0123456789", KEY)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == "POST /draw?key=*** with ***\n"


def test_every_output_of_a_command_is_redacted_before_it_is_written(tmp_path: Path, capsys) -> None:
    """Annotations escape "%": the URL-quoted form of a secret must be starred before that, or it slips by."""
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs),
           "BOTJOB_STATE_KEY": "a key/with+signs-0123456789"}
    out = Output(env, Redactor(secrets_in(env)))
    quoted = "a%20key%2Fwith%2Bsigns-0123456789"

    out.print(f"stdout {env['BOTJOB_STATE_KEY']}")
    out.print(f"stderr {quoted}", error=True)
    out.annotate("error", f"annotation {quoted}\nsecond line")
    out.set_output("note", f"output {quoted}")
    out.append_summary(f"summary {env['BOTJOB_STATE_KEY']}")

    printed = capsys.readouterr()
    assert printed.out == "stdout ***\n::error::annotation ***%0Asecond line\n"
    assert printed.err == "stderr ***\n"
    assert outputs.read_text() == "note=output ***\n"
    assert summary.read_text() == "summary ***\n\n"
