"""The workflow's schedule in words, next runs, waiting time and monthly cost."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botjob.cli import main
from botjob.errors import ConfigError
from botjob.schedule import describe, in_words, measured_lines, parse_schedule, read_crons

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
    assert "If every run started on time, a message would wait about 15 minutes on average" in text
    assert "30 minutes at the longest" in text
    assert "1440 runs a month as set" in text and "1440 minutes a month if every run starts" in text
    assert "To stay within" not in text  # 1440 < 2000: fits a free private repo


def test_the_description_promises_no_cadence_github_does_not_keep() -> None:
    # GitHub starts scheduled runs late and drops some under load (its docs: schedule-delay.md).
    text = describe(parse_schedule(["3-59/10 * * * *"], now=NOON))
    assert "Next runs asked of GitHub (it may start them late, or skip some):" in text
    assert "some are dropped, so a message can wait much longer" in text
    assert "at most 10 minutes" not in text


def test_an_expensive_schedule_says_how_to_fit_the_free_minutes() -> None:
    text = describe(parse_schedule(["*/5 * * * *"], now=NOON))
    assert "8640 runs a month" in text and "run at most every 22 minutes" in text


@pytest.mark.parametrize(
    ("crons", "words"),
    [
        (["3-59/10 * * * *"], "every 10 minutes"),
        (["*/15 9-17 * * 1-5"], "on weekdays from 09:00 to 17:45 UTC, every 15 minutes"),
        (["*/10 7-22 * * *"], "from 07:00 to 22:50 UTC, every 10 minutes"),
        (["0 */2 * * *"], "every 2 hours"),
        (["30 9 * * *"], "once a day, at 09:30 UTC"),
        (["0 9,17 * * *"], "twice a day, at 09:00 and 17:00 UTC"),
        (["0 12 * * 0,6"], "at weekends, once a day, at 12:00 UTC"),
        (["0 12 * * 6,0"], "at weekends, once a day, at 12:00 UTC"),
        (["*/20 * * * 1,3,5"], "on Mondays, Wednesdays and Fridays, every 20 minutes"),
        (["*/10 8-20 * * *", "0 */3 * * *"], "from 08:00 to 21:00 UTC, every 10 minutes, and every 3 hours at other times"),
        # edge cases
        (["*/5 * * * *"], "every 5 minutes"),
        (["* * * * *"], "every minute"),
        (["0 8 * * 1"], "once a week, on Mondays at 08:00 UTC"),
        (["0 */6 * * *"], "4 times a day, at 00:00, 06:00, 12:00 and 18:00 UTC"),
        (["0 */4 * * *"], "every 4 hours"),
        (["0 */5 * * *"], "5 times a day, at 00:00, 05:00, 10:00, 15:00 and 20:00 UTC"),
        (["0 0-12/2 * * *"], "from 00:00 to 12:00 UTC, every 2 hours"),
        (["*/7 * * * *"], "about every 7 minutes"),
        (["0,5 * * * *"], "twice an hour, at :00 and :05"),
        (["*/25 9-17 * * *"], "from 09:00 to 17:50 UTC, 3 times an hour, at :00, :25 and :50"),
        (["*/10 22-23,0-5 * * *"], "from 22:00 to 05:50 UTC, every 10 minutes"),  # every night, past midnight
        (["*/10 22-23,0-5 * * 1-5"], "on weekdays from 00:00 to 05:50 and from 22:00 to 23:50 UTC, every 10 minutes"),
        (["*/10 8-11,14-18 * * *"], "from 08:00 to 11:50 and from 14:00 to 18:50 UTC, every 10 minutes"),
        (["*/10 * * * 1-4"], "Monday to Thursday, every 10 minutes"),
        (["*/10 * * * 0,1,5,6"], "Friday to Monday, every 10 minutes"),
        (["0 9-17 * * 1-6"], "from 09:00 to 17:00 UTC, every hour, except on Sundays"),
        (["0 9 * * 1-5", "0 12 * * 0,6"], "on weekdays, once a day, at 09:00 UTC; at weekends, once a day, at 12:00 UTC"),
        (["*/10 * * * *", "*/15 * * * *"], "about every 8 minutes"),
        (["0 * * * *", "*/5 12 * * *"], "every hour; from 12:00 to 12:55 UTC, every 5 minutes"),  # too tangled merged
        (["*/10 * * * *", "0 3 1 * *"], "every 10 minutes; at 03:00 on the first day of every month (UTC)"),
        (["0,5 */2 * * *"], "24 times a day, between 00:00 and 22:05 UTC"),  # no clear cadence
    ],
)
def test_the_greeting_says_when_the_bot_reads_messages(crons: list[str], words: str) -> None:
    assert in_words(parse_schedule(crons, now=NOON)) == words


@pytest.mark.parametrize("cron", ["61 * * * *", "* * *", "@hourly", "0 0 31 2 *"])
def test_invalid_cron_lines_are_config_errors(cron: str) -> None:
    with pytest.raises(ConfigError):
        parse_schedule([cron], now=NOON)


@pytest.mark.parametrize(
    ("cron", "sign", "fix"),
    [
        ("0 0 L * *", "L", "use numbers, ranges, lists and steps"),  # cronsim reads it as the last day of the month
        ("0 0 * * 5L", "L", "use numbers, ranges, lists and steps"),
        ("0 0 15W * *", "W", "use numbers, ranges, lists and steps"),
        ("0 0 * * 1#2", "#", "use numbers, ranges, lists and steps"),  # cronsim: the second Monday
        ("0 0 ? * *", "?", "write * for any value"),
    ],
)
def test_cron_signs_github_does_not_know_are_refused_with_the_fix(cron: str, sign: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_schedule([cron], now=NOON)
    assert caught.value.explain() == f"cron line \"{cron}\" uses {sign}, which GitHub's cron does not know — {fix}"


def test_month_and_day_names_are_github_cron_too() -> None:
    # JUL holds an L and WED a W: names are not the signs GitHub refuses.
    assert in_words(parse_schedule(["0 9 * JUL WED"], now=NOON)) == "at 09:00 on Wednesday in July (UTC)"


@pytest.mark.parametrize(("value", "shown"), [("5", "5"), ("", "(empty)"), ("[0, 30]", "[0, 30]")])
def test_a_cron_value_that_is_not_text_says_to_quote_five_fields(tmp_path: Path, value: str, shown: str) -> None:
    workflow = tmp_path / "bot.yml"
    workflow.write_text(f"on:\n  schedule:\n    - cron: {value}\njobs: {{}}\n")
    with pytest.raises(ConfigError) as caught:
        read_crons(workflow)
    assert caught.value.explain() == f'cron: {shown} is not a cron line — write five fields in quotes, e.g. "*/10 * * * *"'


def test_the_command_refuses_such_a_line_in_one_line_with_its_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workflow = tmp_path / "bot.yml"
    workflow.write_text('on:\n  schedule:\n    - cron: "0 0 L * *"\njobs: {}\n')
    code = main(["schedule", "--workflow", str(workflow)], env={})
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.strip().splitlines() == ["error: cron line \"0 0 L * *\" uses L, which GitHub's cron does not know — use numbers, ranges, lists and steps"]


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


# ---------------------------------------------------------------------------- beside it, what GitHub really did


def test_what_github_really_did_is_told_beside_what_was_asked() -> None:
    schedule = parse_schedule(["3-59/10 * * * *"], now=NOON)
    runs = [NOON - timedelta(minutes=m) for m in (2, 15, 27, 41, 212)]  # 13, 12, 14 and 171 minutes apart
    text = describe(schedule, measured=measured_lines(runs, schedule, now=NOON))
    asked = text.index("If every run started on time")
    measured = text.index("Measured: 14 min apart typically, 2 h 51 min at worst (the last 5 scheduled runs).")
    assert asked < measured < text.index("Actions minutes:")
    assert "17 times the 10 min the schedule asks for" in text


@pytest.mark.parametrize(
    ("ago", "words"),
    [
        ([], "No scheduled run in the last day: a new workflow's first runs can take hours"),
        ([30 * 60], "No scheduled run in the last day (the last one came Tue 24 Nov 06:00 UTC): a new workflow's"),
        ([5, 15, 25], "Only 3 scheduled runs in the last day: too few to tell how far apart GitHub really starts them."),
    ],
)
def test_too_few_runs_to_measure_are_said_as_such(ago: list[int], words: str) -> None:
    schedule = parse_schedule(["3-59/10 * * * *"], now=NOON)
    (line,) = measured_lines([NOON - timedelta(minutes=m) for m in ago], schedule, now=NOON)
    assert line.startswith(words)
    if not ago:
        assert "after 60 days without activity" in line  # the likeliest reason, with the way back
