"""Tests for botjob.state_merge: two versions of a state file merged by what they mean."""

from __future__ import annotations

import json

from botjob.state_merge import merge_state_file


def merged_offsets(theirs: dict, ours: dict) -> dict:
    return json.loads(merge_state_file("offset.json", json.dumps(theirs), json.dumps(ours)))


def test_a_reply_cut_short_at_the_offset_itself_stays_cut_short_after_a_race() -> None:
    # The question at the offset went out in part: the next run must say so, not send it again whole.
    cut = {"offset": 500000010, "partly_sent": [500000010]}
    assert merged_offsets(cut, {"offset": 500000010})["partly_sent"] == [500000010]
    assert merged_offsets({"offset": 500000010}, cut)["partly_sent"] == [500000010]


def test_the_higher_offset_wins_with_the_finished_ids_of_both_above_it() -> None:
    theirs = {"offset": 500000010, "finished": [500000013]}
    ours = {"offset": 500000008, "finished": [500000010, 500000012]}
    assert merged_offsets(theirs, ours) == {"offset": 500000011, "finished": [500000012, 500000013]}
