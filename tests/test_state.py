"""Tests for botjob.state: the checkpoint's rules, and the offset file on a real disk."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import pytest

from botjob.errors import Failure, StateError
from botjob.state import OFFSET_FILE, TROUBLE_FILE, Checkpoint, StateStore, Trouble


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def store(state_dir: Path) -> StateStore:
    return StateStore(state_dir)


def files_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# ---------------------------------------------------------------------------- Checkpoint rules


def answer_page(checkpoint: Checkpoint, page: list[int], order: list[int]) -> list[Checkpoint]:
    """Finish a fetched page's updates in ``order``, as the job does; the checkpoint after each one."""
    waiting = [i for i in page if not checkpoint.is_finished(i)]
    after = []
    for update_id in order:
        waiting.remove(update_id)
        checkpoint = checkpoint.finish(update_id, still_waiting=list(waiting), fetched_up_to=max(page))
        after.append(checkpoint)
    return after


def test_fresh_checkpoint_has_finished_nothing():
    checkpoint = Checkpoint()

    assert checkpoint.offset == 0 and checkpoint.finished == frozenset()
    assert not checkpoint.is_finished(0)
    assert not checkpoint.is_finished(500)


def test_finishing_in_order_moves_the_offset_past_each_one():
    after = answer_page(Checkpoint(100), [100, 101, 102], [100, 101, 102])

    assert [c.offset for c in after] == [101, 102, 103]
    assert all(c.finished == frozenset() for c in after)
    assert after[-1].is_finished(102) and not after[-1].is_finished(103)


def test_first_page_of_a_new_bot_moves_the_offset_up_from_zero():
    # A new bot: offset 0, and Telegram's first update is 500 (ids do not start at 0).
    first = Checkpoint().finish(500, still_waiting=[501], fetched_up_to=501)

    assert first == Checkpoint(501)  # a crash now refetches 501 only, never 500
    assert first.finish(501, still_waiting=[], fetched_up_to=501) == Checkpoint(502)


def test_finishing_out_of_order_keeps_the_offset_at_the_lowest_unfinished():
    # Updates 100..103 came in; 103 and 101 were answered, 100 and 102 are still pending.
    checkpoint = answer_page(Checkpoint(100), [100, 101, 102, 103], [103, 101])[-1]

    assert checkpoint.offset == 100  # 100 must be fetched again if this run dies now
    assert checkpoint.finished == {101, 103}
    assert checkpoint.is_finished(101) and checkpoint.is_finished(103)
    assert not checkpoint.is_finished(100) and not checkpoint.is_finished(102)


def test_finishing_the_gaps_moves_the_offset_over_every_finished_id():
    after = answer_page(Checkpoint(100), [100, 101, 102, 103, 104, 105], [103, 101, 105, 100, 102, 104])

    assert after[3] == Checkpoint(102, frozenset({103, 105}))  # 100 done: over 100 and 101
    assert after[4] == Checkpoint(104, frozenset({105}))  # 102 done: over 102 and 103
    assert after[5] == Checkpoint(106)  # the last one: past the whole page


def test_ids_missing_from_the_page_do_not_hold_the_offset_back():
    # Telegram hands out every update it holds from the offset up: 101 and 103 do not exist.
    after = answer_page(Checkpoint(100), [100, 102, 104], [100, 102])

    assert after[0] == Checkpoint(102)
    assert after[1] == Checkpoint(104)


def test_already_finished_ids_are_skipped_by_the_next_run():
    # A run died after answering 101 and 103 but not 100 and 102: the next run fetches 100..103 again.
    checkpoint = Checkpoint(100, frozenset({101, 103}))
    page = [100, 101, 102, 103]

    assert [i for i in page if not checkpoint.is_finished(i)] == [100, 102]
    after = answer_page(checkpoint, page, [100, 102])
    assert after == [Checkpoint(102, frozenset({103})), Checkpoint(104)]


def test_a_page_answered_in_an_earlier_run_is_just_moved_past():
    checkpoint = Checkpoint(100, frozenset({100, 101}))

    assert checkpoint.finish(101, still_waiting=(), fetched_up_to=101) == Checkpoint(102)


def test_the_offset_never_moves_down():
    checkpoint = Checkpoint(500, frozenset({502}))

    # An old page (ids below the offset) finished late, or a stale waiting list: the offset stays.
    assert checkpoint.finish(300, still_waiting=[301], fetched_up_to=301).offset == 500
    assert checkpoint.finish(300, still_waiting=[], fetched_up_to=301).offset == 500
    assert checkpoint.finish(501, still_waiting=[400], fetched_up_to=502).offset == 500


# ---------------------------------------------------------------------------- the offset file


def test_missing_file_starts_at_offset_zero(store, state_dir):
    assert store.load() == Checkpoint()
    assert not state_dir.exists()  # loading creates nothing


def test_save_then_load_round_trips(store):
    checkpoint = Checkpoint(700, frozenset({702, 705}))

    store.save(checkpoint)

    assert store.load() == checkpoint
    assert StateStore(store.directory).load() == checkpoint  # a new run reads the same


def test_saved_file_is_json_with_only_ids(store, state_dir):
    store.save(Checkpoint(700, frozenset({705, 702})))

    document = json.loads((state_dir / OFFSET_FILE).read_text(encoding="utf-8"))
    assert document == {"offset": 700, "finished": [702, 705]}


def test_saved_file_without_pending_ids_has_only_the_offset(store, state_dir):
    store.save(Checkpoint(42))

    assert json.loads((state_dir / OFFSET_FILE).read_text(encoding="utf-8")) == {"offset": 42}


def test_save_creates_the_directory_and_leaves_no_temp_files(store, state_dir):
    store.save(Checkpoint(1))
    store.save(Checkpoint(2, frozenset({4})))
    store.save(Checkpoint(5))

    assert files_in(state_dir) == [OFFSET_FILE]
    assert store.load() == Checkpoint(5)


def test_failed_save_keeps_the_old_file_and_leaves_no_temp_file(store, state_dir, monkeypatch):
    store.save(Checkpoint(10, frozenset({12})))
    before = (state_dir / OFFSET_FILE).read_bytes()

    def disk_full(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)
    with pytest.raises(StateError) as caught:
        store.save(Checkpoint(99))
    monkeypatch.undo()
    assert "could not be written" in caught.value.explain() and "writable" in caught.value.explain()

    assert (state_dir / OFFSET_FILE).read_bytes() == before
    assert files_in(state_dir) == [OFFSET_FILE]
    assert store.load() == Checkpoint(10, frozenset({12}))


def test_save_interrupted_while_writing_keeps_the_old_file(store, state_dir, monkeypatch):
    store.save(Checkpoint(10))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # e.g. the workflow cancelled mid-write

    monkeypatch.setattr(os, "fsync", crash)  # the new content is written, not yet in place
    with pytest.raises(KeyboardInterrupt):
        store.save(Checkpoint(11))
    monkeypatch.undo()

    assert files_in(state_dir) == [OFFSET_FILE]
    assert store.load() == Checkpoint(10)


@pytest.mark.parametrize(
    "content",
    [
        "not json at all {",
        "",
        '{"offset": "12"}',
        '{"offset": 12.5}',
        '{"offset": -3}',
        '{"finished": [1, 2]}',
        '{"offset": 12, "finished": ["13"]}',
        '{"offset": 12, "finished": 13}',
        "[12]",
        "12",
        "null",
    ],
)
def test_corrupt_file_is_kept_aside_and_the_run_starts_from_zero(store, state_dir, caplog, content):
    state_dir.mkdir()
    (state_dir / OFFSET_FILE).write_text(content, encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="botjob.state"):
        checkpoint = store.load()

    assert checkpoint == Checkpoint()
    backups = [p for p in state_dir.iterdir() if p.name.startswith(f"{OFFSET_FILE}.bad-")]
    assert len(backups) == 1
    assert backups[0].read_text(encoding="utf-8") == content  # the owner can still see what was there
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "botjob.state"]
    assert len(warnings) == 1
    assert backups[0].name in warnings[0].getMessage()


def test_non_utf8_file_is_kept_aside_too(store, state_dir, caplog):
    state_dir.mkdir()
    (state_dir / OFFSET_FILE).write_bytes(b"\xff\xfe\x00garbage")

    with caplog.at_level(logging.WARNING, logger="botjob.state"):
        assert store.load() == Checkpoint()

    (backup,) = state_dir.glob(f"{OFFSET_FILE}.bad-*")
    assert backup.read_bytes() == b"\xff\xfe\x00garbage"


def test_after_a_corrupt_file_the_next_save_writes_a_good_one(store, state_dir):
    state_dir.mkdir()
    (state_dir / OFFSET_FILE).write_text("{{{", encoding="utf-8")
    store.load()

    store.save(Checkpoint(8))

    assert store.load() == Checkpoint(8)


def test_finished_ids_below_the_offset_are_dropped_on_load(store, state_dir):
    state_dir.mkdir()
    (state_dir / OFFSET_FILE).write_text('{"offset": 10, "finished": [3, 12]}', encoding="utf-8")

    assert store.load() == Checkpoint(10, frozenset({12}))


def test_boolean_offset_counts_as_corrupt(store, state_dir):
    state_dir.mkdir()
    (state_dir / OFFSET_FILE).write_text('{"offset": true}', encoding="utf-8")

    assert store.load() == Checkpoint()
    assert list(state_dir.glob(f"{OFFSET_FILE}.bad-*"))


def test_two_corrupt_files_in_the_same_second_keep_both_copies(store, state_dir):
    state_dir.mkdir(exist_ok=True)
    for garbage in ("first garbage", "second garbage"):
        (state_dir / "offset.json").write_text(garbage)
        assert store.load().offset == 0
    copies = [p.read_text() for p in state_dir.glob("offset.json.bad-*")]
    assert sorted(copies) == ["first garbage", "second garbage"]


# ---------------------------------------------------------------------------- the lasting trouble


def test_a_trouble_record_round_trips(store):
    store.save_trouble(Trouble(1_700_000_000.7, 3))
    assert store.load_trouble(now=1_700_000_100) == Trouble(1_700_000_000, 3)  # floored: never later than it was
    store.save_trouble(None)
    assert store.load_trouble() is None


@pytest.mark.parametrize("record", [
    '{"since": NaN, "runs": 2}', '{"since": 1e400, "runs": 2}', '{"since": -Infinity, "runs": 2}',
    '{"since": 1700000000, "runs": 1e400}', '{"since": 1700000000, "runs": NaN}', '{"since": 1700000000, "runs": 0}',
    '{"since": -5, "runs": 2}', '{"since": 1700000200, "runs": 2}',  # before 1970; after now
])
def test_a_trouble_record_that_is_no_plausible_time_is_damaged(store, state_dir, record):
    state_dir.mkdir()
    (state_dir / TROUBLE_FILE).write_text(record, encoding="utf-8")
    assert store.load_trouble(now=1_700_000_100) is None


@pytest.mark.parametrize("since", ["NaN", "1e400", "1e12"])  # 1e12: a start in the year 33658, whose alert never comes
def test_a_damaged_trouble_record_starts_the_count_again_run_after_run(telegram, model, make_job, state_dir, since):
    state_dir.mkdir()
    (state_dir / TROUBLE_FILE).write_text(f'{{"since": {since}, "runs": 7}}', encoding="utf-8")
    telegram.user_says("hello", chat_id=1001)
    model.fail(503, times=100)  # the model is away: a passing trouble

    before = time.time()
    reports = [make_job(retries=0, alert_after=3600).run_once() for _ in range(2)]  # no traceback, run after run

    assert all(r.ok and r.error.kind is Failure.TRANSIENT for r in reports)
    record = json.loads((state_dir / TROUBLE_FILE).read_text(encoding="utf-8"))
    assert record["runs"] == 2 and before - 1 <= record["since"] <= time.time()  # counted from the first of them
