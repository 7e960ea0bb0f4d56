"""The workflow's schedule in words, next runs, waiting time and monthly cost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botjob.cli import main
from botjob.errors import ConfigError
from botjob.schedule import describe, parse_schedule, read_crons

REPO = Path(__file__).resolve().parent.parent
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def test_the_shipped_workflow_runs_every_ten_minutes_off_the_hour() -> None:
    crons = read_crons(REPO / ".github" / "workflows" / "bot.yml")
    schedule = parse_schedule(crons, now=NOON, count=3)
    assert [run.strftime("%H:%M") for run in schedule.next_runs] == ["12:03", "12:13", "12:23"]
    assert schedule.shortest_gap == schedule.longest_gap == timedelta(minutes=10)
    assert schedule.average_wait == timedelta(minutes=5)
    assert schedule.runs_per_month == 30 * 24 * 6
    assert not schedule.too_fast


def test_several_cron_lines_merge_into_one_timeline() -> None:
    schedule = parse_schedule(["0 * * * *", "30 8-9 * * *"], now=datetime(2026, 11, 25, 7, 45, tzinfo=timezone.utc), count=4)
    assert [run.strftime("%H:%M") for run in schedule.next_runs] == ["08:00", "08:30", "09:00", "09:30"]
    assert schedule.shortest_gap == timedelta(minutes=30)


def test_faster_than_five_minutes_is_flagged() -> None:
    assert parse_schedule(["*/2 * * * *"], now=NOON).too_fast


def test_the_description_gives_words_runs_wait_and_cost() -> None:
    text = describe(parse_schedule(["*/30 * * * *"], now=NOON), local_zone=timezone(timedelta(hours=2), "CEST"))
    assert '"*/30 * * * *": every 30th minute' in text
    assert "Wed 25 Nov 12:30 UTC   14:30 CEST local" in text
    assert "about 15 minutes on average" in text and "at most 30 minutes" in text
    assert "1440 runs a month" in text and "at least 1440 minutes" in text
    assert "To stay within" not in text  # 1440 < 2000: fits a free private repo


def test_an_expensive_schedule_says_how_to_fit_the_free_minutes() -> None:
    text = describe(parse_schedule(["*/5 * * * *"], now=NOON))
    assert "8640 runs a month" in text and "run at most every 22 minutes" in text


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "@hourly", "0 0 31 2 *"])
def test_invalid_cron_lines_are_config_errors(cron: str) -> None:
    with pytest.raises(ConfigError):
        parse_schedule([cron], now=NOON)


def test_a_workflow_without_a_schedule_is_explained(tmp_path: Path) -> None:
    workflow = tmp_path / "bot.yml"
    workflow.write_text("on:\n  workflow_dispatch: {}\njobs: {}\n")
    with pytest.raises(ConfigError) as caught:
        read_crons(workflow)
    assert "no schedule" in str(caught.value)


def test_the_command_prints_the_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schedule", "--workflow", str(REPO / ".github" / "workflows" / "bot.yml")], env={})
    out = capsys.readouterr().out
    assert code == 0 and "Next runs" in out and "(UTC)" in out


def test_the_command_without_a_workflow_file_says_where_to_run_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["schedule", "--workflow", str(tmp_path / "missing.yml")], env={})
    assert code == 2 and "not found" in capsys.readouterr().err
