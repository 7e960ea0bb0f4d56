"""Tests for botjob.memory: encrypted chat memory and daily question counts, on a real disk.

state/ may be published, so most stories end by reading the raw bytes the bot left behind.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from datetime import date
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from botjob.cli import main
from botjob.errors import ConfigError, StateError
from botjob.memory import MEMORY_NAMES, ChatMemory, DailyUsage, chat_key, keyed_name, name_secret

ALICE = 123456789  # a private chat's id is the user's id
GROUP = -1001234567890
QUESTION = "Hi, I am Alice Wonderland. What should I cook tonight?"
ANSWER = "Dear Alice Wonderland, try a mushroom risotto."
SECRET_WORDS = [b"Alice", b"Wonderland", b"risotto", b"cook", str(ALICE).encode(), str(GROUP).encode()]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def key() -> str:
    return Fernet.generate_key().decode()  # a ready Fernet key: no slow KDF in most tests


@pytest.fixture
def memory(state_dir: Path, key: str) -> ChatMemory:
    return ChatMemory(state_dir / "memory", key, turns=3)


def all_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file())


def assert_no_plain_text(directory: Path) -> None:
    files = all_files(directory)
    assert files
    for path in files:
        content = path.read_bytes()
        for word in SECRET_WORDS:
            assert word not in content, f"{word!r} found in {path.name}"
            assert word.decode() not in path.name
    assert not [p for p in directory.rglob("*") if p.name.endswith(".tmp")]


# ---------------------------------------------------------------------------- chat_key


def test_chat_key_is_stable_for_a_secret_and_differs_across_secrets() -> None:
    first = chat_key("owner secret", ALICE)
    assert first == chat_key("owner secret", ALICE)
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != chat_key("another secret", ALICE)
    assert first != chat_key("owner secret", GROUP)
    assert str(ALICE) not in first


# ---------------------------------------------------------------------------- ChatMemory


def test_a_chat_remembers_its_turns_oldest_first(memory: ChatMemory) -> None:
    assert memory.load(ALICE) == []
    memory.remember(ALICE, QUESTION, ANSWER)
    memory.remember(ALICE, "And for dessert?", "Tiramisu 🍰")

    assert memory.load(ALICE) == [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": ANSWER},
        {"role": "user", "content": "And for dessert?"},
        {"role": "assistant", "content": "Tiramisu 🍰"},
    ]
    assert memory.load(GROUP) == []  # chats don't share memory


def test_the_next_run_reads_what_this_run_remembered(state_dir: Path, key: str) -> None:
    ChatMemory(state_dir / "memory", key, turns=3).remember(ALICE, QUESTION, ANSWER)
    assert ChatMemory(state_dir / "memory", key, turns=3).load(ALICE)[0]["content"] == QUESTION


def test_only_the_last_turns_are_kept(state_dir: Path, memory: ChatMemory, key: str) -> None:
    for n in range(1, 6):
        memory.remember(ALICE, f"question {n}", f"answer {n}")

    contents = [m["content"] for m in memory.load(ALICE)]
    assert contents == ["question 3", "answer 3", "question 4", "answer 4", "question 5", "answer 5"]
    # trimmed on disk, not only on the way out
    roomier = ChatMemory(state_dir / "memory", key, turns=10)
    assert len(roomier.load(ALICE)) == 6
    # an owner who lowers memory_turns gets the shorter memory at once
    assert [m["content"] for m in ChatMemory(state_dir / "memory", key, turns=1).load(ALICE)] == ["question 5", "answer 5"]


def test_memory_off_keeps_nothing(state_dir: Path, key: str) -> None:
    off = ChatMemory(state_dir / "memory", key, turns=0)
    off.remember(ALICE, QUESTION, ANSWER)
    assert off.load(ALICE) == []
    assert not (state_dir / "memory").exists()


def test_the_file_holds_no_chat_id_no_name_and_no_text(state_dir: Path, memory: ChatMemory) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)
    memory.remember(GROUP, "Alice Wonderland asks about risotto", ANSWER)

    names = [p.name for p in all_files(state_dir)]
    assert len(names) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}\.bin", name) for name in names)
    assert_no_plain_text(state_dir)


def test_another_key_cannot_read_the_memory(state_dir: Path, memory: ChatMemory, caplog: pytest.LogCaptureFixture) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)
    stolen = memory.path(ALICE).read_bytes()
    other = ChatMemory(state_dir / "memory", Fernet.generate_key().decode(), turns=3)
    assert other.load(ALICE) == []  # another key names chats differently: nothing is even found

    # the same file under the name the other key looks for: still unreadable, and no crash
    other.path(ALICE).write_bytes(stolen)
    with caplog.at_level(logging.WARNING, logger="botjob.memory"):
        assert other.load(ALICE) == []
    assert "cannot be decrypted" in caplog.text
    assert other.path(ALICE).name in caplog.text
    assert str(ALICE) not in caplog.text and "Alice" not in caplog.text
    assert other.path(ALICE).read_bytes() == stolen  # kept: the owner may put the old key back

    other.remember(ALICE, "new question", "new answer")  # a new conversation replaces it
    assert [m["content"] for m in other.load(ALICE)] == ["new question", "new answer"]


def test_a_damaged_file_counts_as_empty(memory: ChatMemory, caplog: pytest.LogCaptureFixture) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)
    memory.path(ALICE).write_bytes(b"half a token")
    with caplog.at_level(logging.WARNING, logger="botjob.memory"):
        assert memory.load(ALICE) == []
    assert memory.path(ALICE).name in caplog.text


def test_a_file_moved_to_another_chat_is_not_read_there(memory: ChatMemory, caplog: pytest.LogCaptureFixture) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)
    memory.path(GROUP).write_bytes(memory.path(ALICE).read_bytes())
    with caplog.at_level(logging.WARNING, logger="botjob.memory"):
        assert memory.load(GROUP) == []
    assert "not valid memory" in caplog.text


def test_forget_deletes_the_chats_memory(memory: ChatMemory) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)
    memory.remember(GROUP, QUESTION, ANSWER)

    assert memory.forget(ALICE) is True
    assert memory.load(ALICE) == []
    assert not memory.path(ALICE).exists()
    assert memory.forget(ALICE) is False
    assert memory.load(GROUP) != []  # other chats keep theirs


@pytest.mark.parametrize("state_key", ["", "  \n"])
def test_an_empty_state_key_says_how_to_make_one(state_dir: Path, state_key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ChatMemory(state_dir / "memory", state_key, turns=3)
    assert "BOTJOB_STATE_KEY" in caught.value.explain()
    assert "secrets.token_urlsafe" in caught.value.hint


def test_a_passphrase_works_as_state_key(state_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    passphrase = "correct horse battery staple"
    ChatMemory(state_dir / "memory", passphrase, turns=3).remember(ALICE, QUESTION, ANSWER)
    # a new run with the same passphrase finds the same file and reads it; a pasted newline doesn't matter
    assert ChatMemory(state_dir / "memory", passphrase + "\n", turns=3).load(ALICE)[1]["content"] == ANSWER
    assert_no_plain_text(state_dir)
    # the names come from a derived secret, never from the passphrase itself
    assert not (state_dir / "memory" / f"{keyed_name(passphrase, MEMORY_NAMES, ALICE)}.bin").exists()
    assert (state_dir / "memory" / f"{keyed_name(name_secret(passphrase), MEMORY_NAMES, ALICE)}.bin").exists()


def test_a_ready_fernet_key_is_used_as_it_is(memory: ChatMemory, key: str) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)
    document = json.loads(Fernet(key.encode()).decrypt(memory.path(ALICE).read_bytes()))
    assert document["turns"] == [{"user": QUESTION, "assistant": ANSWER}]


def test_a_failed_write_keeps_the_old_memory_and_no_temp_file(
    memory: ChatMemory, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory.remember(ALICE, QUESTION, ANSWER)

    def crash(*_args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(StateError):
        memory.remember(ALICE, "lost question", "lost answer")
    monkeypatch.undo()

    assert [m["content"] for m in memory.load(ALICE)] == [QUESTION, ANSWER]
    assert [p.name for p in all_files(state_dir)] == [memory.path(ALICE).name]


# ---------------------------------------------------------------------------- what a public history shows


def written_by_the_old_version(state_dir: Path, key: str, chat_id: int, turns: list[dict[str, str]]) -> Path:
    """Memory as botjob wrote it before names were keyed per file: named by chat_key, not padded."""
    name = chat_key(name_secret(key), chat_id)
    path = state_dir / "memory" / f"{name}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(Fernet(key.encode()).encrypt(json.dumps({"v": 1, "chat": name, "turns": turns}).encode()))
    return path


def test_no_two_files_and_no_two_days_name_a_chat_alike(state_dir: Path, key: str, today: Today) -> None:
    """An onlooker of the public history cannot join usage.json, pictures.json and memory/ by name, nor
    follow a chat's counts from one day to the next; its memory keeps one name, to be found again."""
    secret = name_secret(key)
    memory = ChatMemory(state_dir / "memory", key, turns=3)
    names: dict[tuple[str, date], set[str]] = {}
    for day in (date(2024, 5, 1), date(2024, 5, 2)):
        today.day = day
        for file in ("usage.json", "pictures.json"):
            counter = DailyUsage(state_dir / file, secret, 5, today=today)
            counter.count(ALICE)
            counter.save()
            names[file, day] = set(json.loads((state_dir / file).read_text())["chats"])
        memory.remember(ALICE, QUESTION, ANSWER)
        names["memory", day] = {p.stem for p in (state_dir / "memory").iterdir()}

    assert names["memory", date(2024, 5, 1)] == names["memory", date(2024, 5, 2)]  # found again the next day
    del names["memory", date(2024, 5, 2)]
    assert all(len(found) == 1 for found in names.values())
    assert len(set().union(*names.values())) == 5  # two files on two days, and memory: five names
    assert chat_key(secret, ALICE) not in set().union(*names.values())  # the one name all files shared before
    assert_no_plain_text(state_dir)


def test_a_memory_files_size_shows_a_bucket_not_the_conversations_length(state_dir: Path, key: str) -> None:
    memory = ChatMemory(state_dir / "memory", key, turns=10)
    memory.remember(ALICE, "Hi", "Hello!")
    for n in range(3):
        memory.remember(GROUP, f"{QUESTION} ({n})", ANSWER * 5)

    size = {chat: memory.path(chat).stat().st_size for chat in (ALICE, GROUP)}
    assert size[ALICE] == size[GROUP]  # one short greeting, three long exchanges: the same size on disk
    assert size[ALICE] == len(Fernet(key.encode()).encrypt(b" " * 4096))  # the first bucket: 4 KiB

    for n in range(3, 10):  # past the first bucket: the next one, twice as roomy
        memory.remember(GROUP, f"{QUESTION} ({n})", ANSWER * 10)
    memory.remember(ALICE, QUESTION, ANSWER * 100)
    assert memory.path(GROUP).stat().st_size == memory.path(ALICE).stat().st_size
    assert memory.path(GROUP).stat().st_size == len(Fernet(key.encode()).encrypt(b" " * 8192))
    assert [m["content"] for m in memory.load(ALICE)] == ["Hi", "Hello!", QUESTION, ANSWER * 100]  # padding is not memory
    assert_no_plain_text(state_dir)


def test_memory_kept_under_the_old_file_name_is_found_and_moved(state_dir: Path, key: str) -> None:
    """An owner upgrades botjob: every chat still remembers its conversation, from then on under its new name."""
    old = written_by_the_old_version(state_dir, key, ALICE, [{"user": QUESTION, "assistant": ANSWER}])
    memory = ChatMemory(state_dir / "memory", key, turns=3)

    assert [m["content"] for m in memory.load(ALICE)] == [QUESTION, ANSWER]
    assert not old.exists() and memory.path(ALICE).exists()  # moved at once

    memory.remember(ALICE, "And for dessert?", "Tiramisu")
    next_run = ChatMemory(state_dir / "memory", key, turns=3)
    assert [m["content"] for m in next_run.load(ALICE)] == [QUESTION, ANSWER, "And for dessert?", "Tiramisu"]
    assert [p.name for p in all_files(state_dir)] == [memory.path(ALICE).name]
    assert_no_plain_text(state_dir)


def test_reset_also_forgets_memory_kept_under_the_old_file_name(state_dir: Path, key: str) -> None:
    old = written_by_the_old_version(state_dir, key, ALICE, [{"user": QUESTION, "assistant": ANSWER}])
    memory = ChatMemory(state_dir / "memory", key, turns=3)

    assert memory.forget(ALICE) is True
    assert not old.exists()
    assert memory.load(ALICE) == []  # the conversation does not come back from its old name


# ---------------------------------------------------------------------------- something in memory's way


@pytest.mark.parametrize("in_the_way", ["state/memory is a file", "a chat's memory file is a folder"])
def test_something_in_memorys_way_stops_the_run_before_anything_is_answered(
    telegram, env: dict[str, str], state_dir: Path, key: str, capsys: pytest.CaptureFixture[str], in_the_way: str
) -> None:
    config = state_dir.parent / "botjob.yaml"
    config.write_text("chat:\n  memory_turns: 3\n")
    env = {**env, "BOTJOB_STATE_KEY": key}
    memory = ChatMemory(state_dir / "memory", key, turns=3)
    if in_the_way == "state/memory is a file":
        blocker, fix = state_dir / "memory", f"rm {state_dir / 'memory'}"
        state_dir.mkdir()
        blocker.write_text("my notes\n")
    else:
        blocker, fix = memory.path(ALICE), f"rm -r {memory.path(ALICE)}"
        blocker.mkdir(parents=True)
    telegram.user_says(QUESTION, chat_id=ALICE)
    run = ["run", "--config", str(config), "--state-dir", str(state_dir)]

    code = main(run, env)

    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 1 and len(errors) == 1 and "Traceback" not in err
    assert str(blocker) in errors[0] and fix in errors[0]
    assert telegram.sent() == []  # found before anything was answered: the question waits for the fix

    subprocess.run(fix.split(), check=True)  # the owner does as told
    assert main(run, env) == 0
    assert len(telegram.sent(ALICE)) == 1
    assert [m["content"] for m in memory.load(ALICE)][0] == QUESTION


def test_a_memory_file_that_became_a_folder_mid_run_is_no_traceback(memory: ChatMemory, caplog: pytest.LogCaptureFixture) -> None:
    memory.path(ALICE).mkdir(parents=True)  # after the run's check: only a hand in state/ does this
    with caplog.at_level(logging.WARNING, logger="botjob.memory"):
        assert memory.load(ALICE) == []  # the chat is answered afresh
    assert memory.path(ALICE).name in caplog.text
    with pytest.raises(StateError) as caught:
        memory.remember(ALICE, QUESTION, ANSWER)
    assert f"rm -r {memory.path(ALICE)}" in caught.value.explain()


# ---------------------------------------------------------------------------- DailyUsage


class Today:
    """A calendar the test turns by hand."""

    def __init__(self, day: date) -> None:
        self.day = day

    def __call__(self) -> date:
        return self.day


@pytest.fixture
def today() -> Today:
    return Today(date(2024, 5, 1))


@pytest.fixture
def usage_path(state_dir: Path) -> Path:
    return state_dir / "usage.json"


def usage(path: Path, today: Today, limit: int = 2) -> DailyUsage:
    return DailyUsage(path, "owner secret", limit, today=today)


def ask(counter: DailyUsage, chat_id: int) -> str:
    """What the job does with one question: check, then answer and count or tell once."""
    verdict = counter.check(chat_id)
    if verdict == "ok":
        counter.count(chat_id)
    elif verdict == "last-warning":
        counter.mark_told(chat_id)
    return verdict


def test_a_chat_is_told_once_when_it_reaches_the_limit(usage_path: Path, today: Today) -> None:
    counter = usage(usage_path, today)
    assert [ask(counter, ALICE) for _ in range(5)] == ["ok", "ok", "last-warning", "silent", "silent"]
    assert ask(counter, GROUP) == "ok"  # every chat has its own allowance


def test_a_notice_that_was_not_sent_is_tried_again(usage_path: Path, today: Today) -> None:
    counter = usage(usage_path, today, limit=1)
    counter.count(ALICE)
    assert counter.check(ALICE) == "last-warning"
    assert counter.check(ALICE) == "last-warning"  # no mark_told: the notice never got out
    counter.mark_told(ALICE)
    assert counter.check(ALICE) == "silent"


def test_counts_carry_over_to_the_next_run_of_the_same_day(usage_path: Path, today: Today) -> None:
    first_run = usage(usage_path, today)
    ask(first_run, ALICE), ask(first_run, ALICE), ask(first_run, ALICE)
    first_run.save()

    second_run = usage(usage_path, today)
    assert second_run.check(ALICE) == "silent"
    assert second_run.check(GROUP) == "ok"


def test_a_new_day_starts_from_zero(usage_path: Path, today: Today) -> None:
    counter = usage(usage_path, today)
    ask(counter, ALICE), ask(counter, ALICE), ask(counter, ALICE)
    counter.save()

    today.day = date(2024, 5, 2)
    assert usage(usage_path, today).check(ALICE) == "ok"  # next day's run
    assert counter.check(ALICE) == "ok"  # a run that crosses midnight
    counter.save()
    assert json.loads(usage_path.read_text()) == {"v": 2, "day": "2024-05-02", "chats": {}}  # yesterday's tallies gone


def test_no_limit_answers_everything_and_writes_nothing(usage_path: Path, today: Today) -> None:
    counter = DailyUsage(usage_path, "", 0, today=today)
    assert [ask(counter, ALICE) for _ in range(50)] == ["ok"] * 50
    counter.save()
    assert not usage_path.parent.exists()


def test_usage_file_names_chats_by_keyed_hash_only(usage_path: Path, today: Today, state_dir: Path) -> None:
    counter = usage(usage_path, today)
    ask(counter, ALICE), ask(counter, ALICE), ask(counter, ALICE), ask(counter, GROUP)
    counter.save()

    assert json.loads(usage_path.read_text()) == {
        "v": 2,
        "day": "2024-05-01",
        "chats": {
            keyed_name("owner secret", "usage.json", ALICE, date(2024, 5, 1)): {"count": 2, "told": True},
            keyed_name("owner secret", "usage.json", GROUP, date(2024, 5, 1)): {"count": 1, "told": False},
        },
    }
    assert_no_plain_text(state_dir)


def test_a_damaged_usage_file_starts_the_day_afresh(
    usage_path: Path, today: Today, caplog: pytest.LogCaptureFixture
) -> None:
    usage_path.parent.mkdir(parents=True)
    usage_path.write_text("{not json")
    with caplog.at_level(logging.WARNING, logger="botjob.memory"):
        counter = usage(usage_path, today)
    assert "usage.json" in caplog.text
    assert counter.check(ALICE) == "ok"


def test_a_limit_needs_a_secret(usage_path: Path, today: Today) -> None:
    with pytest.raises(ConfigError) as caught:
        DailyUsage(usage_path, "", 5, today=today)
    assert "BOTJOB_STATE_KEY" in caught.value.explain()


def test_counts_kept_under_the_old_names_start_again_once_on_the_upgrade_day(usage_path: Path, today: Today) -> None:
    """Chosen over reading the old names: at most one more day's allowance per chat, once."""
    old_name = chat_key("owner secret", ALICE)  # the name usage.json and memory/ both gave a chat before
    usage_path.parent.mkdir(parents=True)
    usage_path.write_text(json.dumps({"day": "2024-05-01", "chats": {old_name: {"count": 2, "told": True}}}))

    counter = usage(usage_path, today)
    assert ask(counter, ALICE) == "ok"
    counter.save()

    assert json.loads(usage_path.read_text())["chats"].keys() == {keyed_name("owner secret", "usage.json", ALICE, today.day)}
    next_run = usage(usage_path, today)
    assert [ask(next_run, ALICE) for _ in range(2)] == ["ok", "last-warning"]  # counted as usual from here on


def test_usage_writes_leave_no_temp_files(usage_path: Path, today: Today) -> None:
    counter = usage(usage_path, today)
    for _ in range(3):
        ask(counter, ALICE)
        counter.save()
    assert sorted(os.listdir(usage_path.parent)) == ["usage.json"]
