"""Voice notes, photos and pictures, told as stories against the stand-ins over real HTTP.

The media models point at the model stand-in by URL, as an owner's own servers would:
speech at /speech (raw audio or JSON in, decoded by Content-Type as Hugging Face's server does;
{"text"} out), pictures at /draw ({"inputs"} in, PNG out),
vision at /v1 (OpenAI chat with image parts).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import struct
import zlib
from pathlib import Path

import pytest

from botjob.config import AccessSettings, ChatSettings, Config, MediaSettings
from conftest import message_id_of, stored_offset

ALICE, BOB, CAROL = 1001, 1002, 1003
GROUP = -100_321


def png(width: int = 4, height: int = 4) -> bytes:
    """A small valid PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + b"\x80\x40\x20" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PHOTO = png(64, 48)


def big_photo() -> bytes:
    """A photo that does not compress: 200 kB of noise."""
    import os

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\0" + os.urandom(3 * 256) for _ in range(256))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(rows, 0)) + chunk(b"IEND", b"")


@pytest.fixture
def make_memory_job(env, state_dir, clock):
    """A job as `python -m botjob run` builds it, with BOTJOB_STATE_KEY set (needed for memory)."""
    from cryptography.fernet import Fernet

    from botjob.pacing import Pacer
    from botjob.wiring import build_job

    key = Fernet.generate_key().decode()

    def make(config: Config):
        job = build_job(config, {**env, "BOTJOB_STATE_KEY": key}, state_dir)
        job.clock, job.sleep, job.pacer = clock, clock.sleep, Pacer(clock, clock.sleep)
        return job

    return make


@pytest.fixture
def media_settings(model) -> Config:
    llm = dataclasses.replace(Config().llm, endpoint_model="sandbox/echo")  # no model-name lookup: every request is a model call
    return dataclasses.replace(Config(), llm=llm, media=MediaSettings(
        speech_model=f"{model.url}/speech", vision_model=f"{model.url}/v1",
        image_model=f"{model.url}/draw", images=True, images_per_day=2,
    ))


def questions(model) -> list[str]:
    """The text of the last user turn of each chat completion the model was asked."""
    asked = []
    for request in model.requests:
        if request["path"].endswith("/chat/completions"):
            content = request["json"]["messages"][-1]["content"]
            asked.append(content if isinstance(content, str) else " | ".join(
                p["text"] if p["type"] == "text" else "[image]" for p in content))
    return asked


def generations(model) -> list[dict]:
    """What the model was asked to hear, see, write or draw."""
    return [r for r in model.requests if r["method"] == "POST"]


def speech_requests(model) -> list[dict]:
    return [r for r in model.requests if r["path"] == "/speech"]


def texts(telegram, chat_id: int) -> list[str]:
    return [m.get("text") or "" for m in telegram.sent(chat_id)]


# ----------------------------------------------------------------------------- voice notes


def test_a_voice_note_is_downloaded_once_heard_once_and_answered_from_its_words(telegram, model, make_job, media_settings, state_dir) -> None:
    update = telegram.user_sends_voice(b"SPEECH:what is the capital of Peru?", duration=4, chat_id=ALICE)
    asked = message_id_of(telegram, update)
    typed = telegram.user_says("and a typed question", chat_id=BOB)

    report = make_job(media_settings).run_once()

    assert texts(telegram, ALICE) == ["Echo: what is the capital of Peru?"]
    assert telegram.sent(ALICE)[0]["reply_to_message_id"] == asked
    assert texts(telegram, BOB) == ["Echo: and a typed question"]  # text as before, in the same run
    assert len(telegram.downloads) == 1 and len(speech_requests(model)) == 1
    headers = {k.lower(): v for k, v in speech_requests(model)[0]["headers"].items()}
    assert headers["content-type"] == "audio/ogg"  # the raw audio, as it came
    assert report.answered == 2 and report.model_calls == 3 and stored_offset(state_dir) == typed + 1


def test_a_voice_note_over_the_limit_gets_one_refusal_and_no_model_call(telegram, model, make_job, media_settings) -> None:
    telegram.user_sends_voice(b"SPEECH:a very long story", duration=600, chat_id=ALICE)
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == [media_settings.reply.voice_too_long]
    assert telegram.downloads == [] and generations(model) == []


def content_type(request: dict) -> str:
    return {k.lower(): v for k, v in request["headers"].items()}["content-type"]


def test_a_long_voice_note_within_the_limit_is_heard_with_timestamps_when_whisper_asks_for_them(
        telegram, model, make_job, media_settings) -> None:
    # The stand-in decodes by Content-Type as Hugging Face's server does, and refuses > 30 s without timestamps.
    telegram.user_sends_voice(b"SPEECH:SECONDS:45;tell me a story", duration=45, chat_id=ALICE)
    report = make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == ["Echo: tell me a story"] and report.answered == 1
    raw, with_timestamps = speech_requests(model)  # the raw audio first, as to any URL model; refused past 30 s
    assert raw["json"] is None and content_type(raw) == "audio/ogg"
    assert with_timestamps["json"]["parameters"] == {"return_timestamps": True}
    assert content_type(with_timestamps) == "application/json"  # labelled by what it carries, not by the audio


def test_a_ten_second_voice_note_is_heard_raw_in_one_request(telegram, model, make_job, media_settings) -> None:
    telegram.user_sends_voice(b"SPEECH:SECONDS:10;what time is it in Lima?", duration=10, chat_id=ALICE)
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == ["Echo: what time is it in Lima?"]
    [heard] = speech_requests(model)
    assert heard["json"] is None and content_type(heard) == "audio/ogg"


def test_the_owners_max_voice_seconds_decides_what_is_heard(telegram, model, make_job, media_settings) -> None:
    short = dataclasses.replace(media_settings, media=dataclasses.replace(media_settings.media, max_voice_seconds=20))
    telegram.user_sends_voice(b"SPEECH:a story of 25 seconds", duration=25, chat_id=ALICE)
    telegram.user_sends_voice(b"SPEECH:a question of 15 seconds", duration=15, chat_id=BOB)
    make_job(short).run_once()
    assert texts(telegram, ALICE) == [short.reply.voice_too_long]
    assert texts(telegram, BOB) == ["Echo: a question of 15 seconds"]
    assert len(telegram.downloads) == 1 and len(speech_requests(model)) == 1  # Bob's note only


def test_a_round_video_note_gets_a_kind_reply_and_is_never_downloaded(telegram, model, make_job, media_settings) -> None:
    note = message_id_of(telegram, telegram.user_sends_video_note(b"\x00\x00\x00\x18ftypmp42", duration=8, chat_id=ALICE))
    make_job(media_settings).run_once()
    [reply] = telegram.sent(ALICE)
    assert reply["text"] == media_settings.reply.video_note_unheard and reply["reply_to_message_id"] == note
    assert telegram.downloads == [] and generations(model) == []  # Hugging Face's server decodes no video/mp4


def test_audio_files_go_with_a_type_the_speech_server_decodes_or_get_a_kind_reply(
        telegram, model, make_job, media_settings) -> None:
    telegram.user_sends_audio(b"SPEECH:my podcast", duration=20, chat_id=ALICE, mime_type="audio/mp4", file_name="talk.m4a")
    telegram.user_sends_audio(b"SPEECH:raw aac", duration=20, chat_id=BOB, mime_type="audio/aac", file_name="talk.aac")
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == ["Echo: my podcast"]
    assert content_type(speech_requests(model)[0]) == "audio/x-m4a"  # the same format, by the name the server knows
    assert texts(telegram, BOB) == [media_settings.reply.audio_unheard]
    assert len(telegram.downloads) == 1 and len(speech_requests(model)) == 1  # Bob's file never fetched


@pytest.mark.parametrize(("status", "error"), [
    (415, "Unsupported audio format"),
    (400, "Soundfile is either not in the correct format or is malformed."),
])
def test_a_speech_model_refusing_one_file_is_that_messages_apology_not_the_bots_stop(
        telegram, model, make_job, media_settings, state_dir, status, error) -> None:
    update = telegram.user_sends_voice(b"SPEECH:garbled", duration=3, chat_id=ALICE)
    model.fail(status, body={"error": error})  # the speech request: the only one until the next run
    report = make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == [media_settings.reply.apology] and report.failed == 1
    assert report.ok and report.error is None and stored_offset(state_dir) == update + 1  # the run goes on
    telegram.user_sends_voice(b"SPEECH:and this one?", duration=3, chat_id=ALICE)
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE)[1:] == ["Echo: and this one?"]


def test_the_transcript_can_be_shown_above_the_answer(telegram, model, make_job, media_settings) -> None:
    shown = dataclasses.replace(media_settings, media=dataclasses.replace(media_settings.media, show_transcript=True))
    telegram.user_sends_voice(b"SPEECH:**hello** there", duration=2, chat_id=ALICE)
    make_job(shown).run_once()
    [message] = telegram.sent(ALICE)
    assert message["text"].startswith("🎤 **hello** there\n\n")  # what was heard, as it was said
    assert message["text"].endswith("Echo: hello there") and message["entities"][0]["type"] == "bold"


def test_with_voice_off_a_voice_note_is_told_that_voice_is_off(telegram, model, make_job, media_settings) -> None:
    off = dataclasses.replace(media_settings, media=dataclasses.replace(media_settings.media, voice=False),
                              chat=ChatSettings(groups="all"))
    telegram.user_sends_voice(b"SPEECH:hello?", duration=2, chat_id=ALICE)
    telegram.user_sends_voice(b"SPEECH:chatter", duration=2, chat_id=GROUP, chat_type="group")
    make_job(off).run_once()
    assert texts(telegram, ALICE) == [off.reply.voice_off] and off.reply.voice_off != off.reply.non_text
    assert texts(telegram, GROUP) == []  # even where the bot reads every message, a group's chatter gets no note
    assert telegram.downloads == [] and generations(model) == []


def test_in_a_group_a_voice_note_counts_when_it_replies_to_the_bot(telegram, model, make_job, media_settings) -> None:
    telegram.user_says(f"@{telegram.bot_username} hi", chat_id=GROUP, chat_type="group")
    make_job(media_settings).run_once()
    bots_answer = telegram.sent(GROUP)[0]["message_id"]
    telegram.user_sends_voice(b"SPEECH:chatter", duration=2, chat_id=GROUP, chat_type="group")
    telegram.user_sends_voice(b"SPEECH:and for you", duration=2, chat_id=GROUP, chat_type="group", reply_to_message_id=bots_answer)
    make_job(media_settings).run_once()
    assert texts(telegram, GROUP)[1:] == ["Echo: and for you"] and len(telegram.downloads) == 1


def test_a_burst_of_voice_and_text_is_one_question(telegram, model, make_job, media_settings) -> None:
    telegram.user_says("listen:", chat_id=ALICE)
    telegram.user_sends_voice(b"SPEECH:the weather in Lima", duration=3, chat_id=ALICE)
    make_job(media_settings).run_once()
    assert questions(model) == ["listen:\n\nthe weather in Lima"]


def test_a_file_telegram_no_longer_has_gets_an_apology_and_the_run_goes_on(telegram, model, make_job, media_settings, state_dir) -> None:
    update = telegram.user_sends_voice(b"SPEECH:lost", duration=2, chat_id=ALICE)
    telegram.fail("file download", 404)  # Telegram no longer has it
    last = telegram.user_says("still there?", chat_id=BOB)
    report = make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == [media_settings.reply.apology] and report.failed == 1
    assert texts(telegram, BOB) == ["Echo: still there?"] and stored_offset(state_dir) == last + 1 > update


def test_a_file_over_telegrams_download_limit_gets_a_short_reply(telegram, model, make_job, media_settings) -> None:
    telegram.user_sends_voice(b"SPEECH:huge", duration=60, chat_id=ALICE, file_size=25 * 1024 * 1024)
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == [media_settings.reply.file_too_big] and generations(model) == []


@pytest.mark.parametrize("reported", ["a small size", "no size"])
def test_a_download_that_runs_past_20_mb_stops_there_and_gets_a_short_reply(telegram, model, make_job, media_settings, state_dir, reported) -> None:
    # Telegram said the file was small, or (as a local Bot API server may) said nothing; it is 21 MB.
    telegram.report_file_sizes = reported == "a small size"
    telegram.user_sends_voice(b"SPEECH:" + bytes(21 * 1024 * 1024), duration=60, chat_id=ALICE, file_size=4000)
    last = telegram.user_says("still there?", chat_id=BOB)
    report = make_job(media_settings).run_once()
    assert telegram.downloads and texts(telegram, ALICE) == [media_settings.reply.file_too_big]
    assert speech_requests(model) == []  # nothing of it was kept to be heard
    assert texts(telegram, BOB) == ["Echo: still there?"] and report.failed == 1 and stored_offset(state_dir) == last + 1


@pytest.mark.parametrize("location", ["http://[::1", "http://.../", "http://:99999/"])
def test_a_file_whose_download_is_sent_on_to_a_malformed_address_gets_an_apology(telegram, model, make_job, media_settings, state_dir, location) -> None:
    telegram.redirect_downloads(location, times=100)  # every download of every file, this run
    voice = message_id_of(telegram, telegram.user_sends_voice(b"SPEECH:hello", duration=2, chat_id=ALICE))
    photo = message_id_of(telegram, telegram.user_sends_photo(PHOTO, caption="what is it?", chat_id=CAROL))
    last = telegram.user_says("still there?", chat_id=BOB)
    report = make_job(media_settings).run_once()
    assert [(m["text"], m["reply_to_message_id"]) for m in telegram.sent(ALICE)] == [(media_settings.reply.apology, voice)]
    assert [(m["text"], m["reply_to_message_id"]) for m in telegram.sent(CAROL)] == [(media_settings.reply.apology, photo)]
    assert texts(telegram, BOB) == ["Echo: still there?"] and report.failed == 2 and report.error is None
    assert stored_offset(state_dir) == last + 1


def test_a_speech_model_that_is_not_served_stops_the_run_for_the_owner(telegram, model, make_job, media_settings) -> None:
    from botjob.sandbox.model_server import unsupported_model

    telegram.user_sends_voice(b"SPEECH:hello", duration=2, chat_id=ALICE)
    model.fail(400, body=unsupported_model("openai/whisper-large-v3"))
    report = make_job(media_settings).run_once()
    assert not report.ok and "media.speech_model" in report.error.explain()
    assert telegram.sent() == []  # no apology: the question waits for the owner's fix


# ----------------------------------------------------------------------------- photos


def vision_requests(model) -> list[dict]:
    return [r for r in model.requests if r["path"].endswith("/chat/completions")]


@pytest.mark.parametrize(("caption", "question"), [("What bird is this?", "What bird is this?"), (None, "Describe this picture.")])
def test_a_photo_is_seen_at_full_size_once_and_answered_threaded_to_it(telegram, model, make_job, media_settings, caption, question) -> None:
    update = telegram.user_sends_photo(PHOTO, caption=caption, chat_id=ALICE)
    photo = message_id_of(telegram, update)
    largest = telegram.pending()[0]["message"]["photo"][-1]["file_id"]

    make_job(media_settings).run_once()

    assert telegram.downloads == [largest]  # the full size only, once
    [asked] = vision_requests(model)
    parts = asked["json"]["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": question} and parts[1]["image_url"]["url"].startswith("data:image/jpeg;base64,")
    [answer] = telegram.sent(ALICE)
    assert answer["text"] == f"Echo: {question} [seen: 1 image, {len(PHOTO)} bytes]" and answer["reply_to_message_id"] == photo


def test_an_image_sent_as_a_file_is_seen_too(telegram, model, make_job, media_settings) -> None:
    telegram.user_sends_document(PHOTO, mime_type="image/png", file_name="plan.png", caption="what is this plan?", chat_id=ALICE)
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == [f"Echo: what is this plan? [seen: 1 image, {len(PHOTO)} bytes]"]
    assert vision_requests(model)[0]["json"]["messages"][-1]["content"][1]["image_url"]["url"].startswith("data:image/png;")


def test_with_photos_off_a_caption_is_still_answered_as_text(telegram, model, make_job, media_settings) -> None:
    off = dataclasses.replace(media_settings, media=dataclasses.replace(media_settings.media, photos=False))
    telegram.user_sends_photo(PHOTO, caption="nice, right?", chat_id=ALICE)
    make_job(off).run_once()
    assert texts(telegram, ALICE) == ["Echo: nice, right?"] and telegram.downloads == []


def test_with_photos_off_a_photo_alone_is_told_that_photos_are_off(telegram, model, make_job, media_settings) -> None:
    off = dataclasses.replace(media_settings, media=dataclasses.replace(media_settings.media, photos=False))
    telegram.user_sends_photo(PHOTO, chat_id=ALICE)
    make_job(off).run_once()
    assert texts(telegram, ALICE) == [off.reply.photos_off] and off.reply.photos_off != off.reply.non_text
    assert telegram.downloads == [] and generations(model) == []


def test_memory_keeps_the_words_and_the_caption_never_the_image(telegram, model, make_memory_job, media_settings, state_dir) -> None:
    remembering = dataclasses.replace(media_settings, chat=ChatSettings(memory_turns=3))
    big = big_photo()
    telegram.user_sends_photo(big, caption="my cat", chat_id=ALICE)
    telegram.user_sends_voice(b"SPEECH:what did I show you?", duration=2, chat_id=BOB)
    job = make_memory_job(remembering)
    job.run_once()
    assert [m["content"] for m in job.memory.load(ALICE)][0] == "my cat"
    assert [m["content"] for m in job.memory.load(BOB)][0] == "what did I show you?"
    stored = b"".join(p.read_bytes() for p in (state_dir / "memory").iterdir())
    assert len(stored) < len(big) // 10  # encrypted words only, no picture (two files padded to 4 KiB each)


# ----------------------------------------------------------------------------- pictures


def test_image_draws_one_picture_threaded_to_the_command(telegram, model, make_job, media_settings) -> None:
    command = message_id_of(telegram, telegram.user_says("/image a lighthouse at dusk", chat_id=ALICE))
    report = make_job(media_settings).run_once()
    [picture] = telegram.sent(ALICE)
    assert picture["photo"]["bytes"] > 0 and picture["caption"] == "a lighthouse at dusk"
    assert picture["reply_to_message_id"] == command and report.answered == 1
    draws = [r for r in model.requests if r["path"] == "/draw"]
    assert [r["json"]["inputs"] for r in draws] == ["a lighthouse at dusk"]
    assert ("sendChatAction", {"chat_id": ALICE, "action": "upload_photo"}) in telegram.calls


def test_image_alone_gets_a_hint_and_draws_nothing(telegram, model, make_job, media_settings) -> None:
    telegram.user_says("/image", chat_id=ALICE)
    make_job(media_settings).run_once()
    assert texts(telegram, ALICE) == [media_settings.reply.image_usage] and generations(model) == []


def test_images_per_day_holds_with_one_notice(telegram, model, make_job, media_settings) -> None:
    for n in range(4):
        telegram.user_says(f"/image picture {n}", chat_id=ALICE)
    make_job(media_settings).run_once()
    sent = telegram.sent(ALICE)
    assert [bool(m.get("photo")) for m in sent] == [True, True, False]  # two pictures, one notice, then silence
    assert sent[2]["text"] == media_settings.reply.images_limit
    assert len([r for r in model.requests if r["path"] == "/draw"]) == 2


@pytest.mark.parametrize("answer", [b"<html><body><h1>502 Bad Gateway</h1></body></html>", PHOTO[: len(PHOTO) // 2]],
                         ids=["an error page", "a cut PNG"])
def test_a_picture_that_cannot_be_read_is_drawn_once_told_once_and_counted(telegram, model, make_job, media_settings, answer) -> None:
    model.draw_with(answer)  # status 200, every time: Pillow cannot open it, or cannot read it to the end
    command = message_id_of(telegram, telegram.user_says("/image a lighthouse at dusk", chat_id=ALICE))
    telegram.user_says("still there?", chat_id=BOB)

    reports = [make_job(media_settings).run_once() for _ in range(3)]  # no traceback: each run ends with a report

    assert [r.error for r in reports] == [None, None, None] and reports[0].failed == 1
    assert len([r for r in model.requests if r["path"] == "/draw"]) == 1  # one paid drawing, not one per retry or run
    assert [(m.get("text"), m["reply_to_message_id"]) for m in telegram.sent(ALICE)] == [(media_settings.reply.apology, command)]
    assert texts(telegram, BOB) == ["Echo: still there?"]

    model.draw_with(None)  # the model draws again: the spoilt picture counted against images_per_day (2)
    telegram.user_says("/image one more", chat_id=ALICE)
    telegram.user_says("/image and another", chat_id=ALICE)
    make_job(media_settings).run_once()
    assert [bool(m.get("photo")) for m in telegram.sent(ALICE)[1:]] == [True, False]
    assert telegram.sent(ALICE)[-1]["text"] == media_settings.reply.images_limit


def test_with_images_off_nothing_is_drawn(telegram, model, make_job, media_settings) -> None:
    off = dataclasses.replace(media_settings, media=dataclasses.replace(media_settings.media, images=False))
    telegram.user_says("/image a cat", chat_id=ALICE)
    make_job(off).run_once()
    assert texts(telegram, ALICE) == [off.reply.images_off] and generations(model) == []


def test_pictures_and_media_questions_count_against_the_daily_limit(telegram, model, make_job, media_settings) -> None:
    limited = dataclasses.replace(media_settings, access=AccessSettings(daily_limit=2), chat=ChatSettings(merge_bursts=False))
    telegram.user_sends_voice(b"SPEECH:one", duration=2, chat_id=ALICE)
    telegram.user_says("/image two", chat_id=ALICE)
    telegram.user_says("three", chat_id=ALICE)
    make_job(limited).run_once()
    assert [m.get("text") for m in telegram.sent(ALICE)][::2] == ["Echo: one", limited.access.daily_limit_reply]


# ----------------------------------------------------------------------------- privacy


def test_no_words_captions_pictures_or_file_paths_in_logs_or_state(telegram, model, make_job, media_settings, state_dir, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="botjob")  # everything botjob logs, and the libraries as the CLI lets them
    for library in ("urllib3", "httpx", "httpx2", "huggingface_hub"):
        caplog.set_level(logging.WARNING, logger=library)
    telegram.user_sends_voice(b"SPEECH:my secret plan", duration=2, chat_id=ALICE)
    telegram.user_sends_photo(PHOTO, caption="my private photo", chat_id=BOB)
    telegram.user_says("/image a secret garden", chat_id=3003)
    make_job(media_settings).run_once()
    paths = [c[1].get("file_path", "") for c in telegram.calls if c[0] == "getFile"]  # asked of getFile: none logged
    everything = caplog.text + "".join(p.read_text(errors="replace") for p in Path(state_dir).rglob("*") if p.is_file())
    for private in ("secret plan", "private photo", "secret garden", "voice/", "photos/", *filter(None, paths)):
        assert private not in everything
    assert json.loads((state_dir / "offset.json").read_text())["offset"] > 0


def test_a_bot_that_draws_offers_image_in_its_menu_and_help(telegram, model, make_job, media_settings) -> None:
    telegram.user_says("/help", chat_id=ALICE)
    make_job(media_settings).run_once()
    assert [c["command"] for c in telegram.commands] == ["start", "help", "image"]
    assert texts(telegram, ALICE)[0].endswith("/image - draw a picture: /image what to draw")
