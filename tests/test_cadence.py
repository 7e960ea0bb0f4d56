"""How far apart GitHub really starts the scheduled runs: measured from its API (the GitHub stand-in),
kept in state/cadence.json, and told to the owner (schedule, the job summary) and to people (/start, /help)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botjob import github
from botjob.cadence import alarm, duration, measure, moved
from botjob.cli import main
from botjob.config import Config, ReplySettings
from botjob.conversation import measured_wait
from botjob.sandbox import GitHubSandbox
from botjob.state import Cadence, StateStore

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "bot.yml"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
MINUTE, HOUR = 60.0, 3600.0
GREETING_AS_TODAY = (
    "Hi! I answer with a language model. I'm set to read new messages every 10 minutes, but I sometimes start late "
    "or skip a round, so my answer may take a while. Just ask me anything."
)


def every(start: datetime, *gaps: timedelta) -> list[datetime]:
    """Run times from ``start`` on, one after each gap."""
    times = [start]
    for gap in gaps:
        times.append(times[-1] + gap)
    return times


def the_seventeen_minute_story(gh: GitHubSandbox, now: datetime) -> None:
    """Sixty scheduled runs about 17 minutes apart (GitHub's jitter) with one gap of 3 h 5 min, the newest a few
    minutes ago; some waited in the concurrency queue, one was re-run an hour later; and runs started by hand."""
    created = now - timedelta(minutes=4)
    for i in range(60):
        gh.add_run(created, queued=40 if i % 7 == 0 else 5, reruns=1 if i == 21 else 0)
        if i == 20:
            gh.add_run(created - timedelta(hours=1), event="workflow_dispatch")  # by hand, inside the long gap
            created -= timedelta(hours=3, minutes=5)
        else:
            created -= timedelta(minutes=17, seconds=(-25, 10, 30)[i % 3])
    gh.add_run(now - timedelta(minutes=1), event="workflow_dispatch")
    gh.add_run(now - timedelta(minutes=2), event="push")


@pytest.fixture
def gh():
    with GitHubSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def gh_env(gh: GitHubSandbox) -> dict[str, str]:
    return {"GITHUB_REPOSITORY": gh.repository, "GH_TOKEN": gh.token, "GITHUB_API_URL": gh.url}


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------------- the figures (pure)


def test_the_typical_gap_is_the_median_and_the_worst_the_longest() -> None:
    runs = every(NOW - timedelta(hours=5), *[timedelta(minutes=m) for m in (10, 12, 11, 95, 10, 14)])
    cadence = measure(runs, NOW)
    assert cadence == Cadence(typical=11.5 * MINUTE, worst=95 * MINUTE, runs=7, measured_at=NOW.timestamp())


def test_only_the_last_day_counts_and_a_few_runs_are_no_figure() -> None:
    old = every(NOW - timedelta(days=3), timedelta(hours=20))  # a long quiet spell, two days ago
    recent = every(NOW - timedelta(hours=1), *[timedelta(minutes=15)] * 3)
    assert measure(old + recent, NOW).worst == 15 * MINUTE
    assert measure(old + recent[:3], NOW) is None  # three runs, two gaps: a median of two is a guess


def test_a_figure_that_wobbles_is_kept_and_one_that_moved_is_replaced() -> None:
    kept = Cadence(typical=20 * MINUTE, worst=2 * HOUR, runs=80, measured_at=0)
    assert not moved(kept, Cadence(typical=24 * MINUTE, worst=1.6 * HOUR, runs=95, measured_at=9999))  # within a quarter
    assert moved(kept, Cadence(typical=26 * MINUTE, worst=2 * HOUR, runs=80, measured_at=0))
    assert moved(kept, Cadence(typical=20 * MINUTE, worst=1.4 * HOUR, runs=80, measured_at=0))
    assert moved(None, kept)


@pytest.mark.parametrize(
    ("worst", "asked", "warned"),
    [
        (3 * HOUR + 5 * MINUTE, 10 * MINUTE, "18 times the 10 min the schedule asks for"),
        (59 * MINUTE, 5 * MINUTE, None),  # 12 times, but under an hour
        (2 * HOUR, 30 * MINUTE, None),  # 4 times
        (13 * HOUR, None, "Telegram deletes what waits 24 hours"),  # no workflow to compare with
        (13 * HOUR, 14 * HOUR, "Telegram deletes what waits 24 hours"),  # a cron that asks for it is still near the limit
    ],
)
def test_the_owner_is_warned_when_the_worst_gap_is_far_longer_than_asked_or_near_telegrams_limit(worst, asked, warned) -> None:
    words = alarm(Cadence(typical=15 * MINUTE, worst=worst, runs=90, measured_at=0), lambda: asked)
    assert (words is None) if warned is None else (warned in words and "How long people wait" in words)


def test_a_short_worst_gap_never_reads_the_workflow() -> None:
    def unread() -> float:
        raise AssertionError("the cron lines are worked out only when the worst gap is an hour or more")

    assert alarm(Cadence(typical=10 * MINUTE, worst=50 * MINUTE, runs=100, measured_at=0), unread) is None


@pytest.mark.parametrize(("seconds", "words"), [(40, "40 s"), (17 * MINUTE + 10, "17 min"), (3 * HOUR, "3 h"), (3 * HOUR + 5 * MINUTE, "3 h 5 min")])
def test_durations_in_words(seconds: float, words: str) -> None:
    assert duration(seconds) == words


@pytest.mark.parametrize(
    ("typical", "worst", "words"),
    [
        (17 * MINUTE, 3 * HOUR + 5 * MINUTE, "My answers usually come within about 20 minutes, but they have taken up to about 3 hours."),
        (9 * MINUTE, 14 * MINUTE, "My answers usually come within about 10 minutes."),
        (58 * MINUTE, 70 * MINUTE, "My answers usually come within about an hour."),
        (30 * MINUTE, 100 * MINUTE, "My answers usually come within about 30 minutes, but they have taken up to about an hour and a half."),
        (2 * MINUTE, 3 * MINUTE, "My answers usually come within about 5 minutes."),
    ],
)
def test_people_are_told_the_measured_wait_in_round_figures(typical: float, worst: float, words: str) -> None:
    assert measured_wait(typical, worst) == words


# ---------------------------------------------------------------------------- state/cadence.json


def test_the_file_holds_figures_only_and_a_damaged_one_is_no_figure(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.save_cadence(Cadence(typical=1020.4, worst=11100.0, runs=60, measured_at=NOW.timestamp()))
    assert json.loads((tmp_path / "cadence.json").read_text()) == {
        "typical_gap": 1020, "worst_gap": 11100, "runs": 60, "measured_at": int(NOW.timestamp()),
    }
    assert store.load_cadence() == Cadence(1020, 11100, 60, NOW.timestamp())
    for damaged in ("{", '{"typical_gap": 1}', '{"typical_gap": 900, "worst_gap": 600, "runs": 9, "measured_at": 0}',
                    '{"typical_gap": NaN, "worst_gap": 600, "runs": 9, "measured_at": 0}'):
        (tmp_path / "cadence.json").write_text(damaged)
        assert store.load_cadence() is None


# ---------------------------------------------------------------------------- GitHub's API


def test_only_scheduled_runs_count_and_by_when_github_fired_them() -> None:
    answer = {"workflow_runs": [
        {"event": "schedule", "created_at": "2026-11-25T11:53:08Z", "run_started_at": "2026-11-25T13:00:00Z"},  # re-run later
        {"event": "workflow_dispatch", "created_at": "2026-11-25T11:40:00Z"},
        {"event": "schedule", "created_at": "2026-11-25T11:36:40Z", "run_started_at": "2026-11-25T11:44:00Z"},  # queued
        {"event": "schedule", "created_at": "not a time"},
    ]}
    assert github.scheduled_times(answer) == [
        datetime(2026, 11, 25, 11, 36, 40, tzinfo=timezone.utc), datetime(2026, 11, 25, 11, 53, 8, tzinfo=timezone.utc),
    ]


def test_the_runs_are_asked_for_as_github_documents(gh: GitHubSandbox, gh_env: dict[str, str]) -> None:
    github.scheduled_runs(github.access(gh_env), "bot.yml")
    (request,) = gh.requests()
    assert request.path == "/repos/owner/botjob/actions/workflows/bot.yml/runs"
    assert dict(pair.split("=") for pair in request.query.split("&")) == {"event": "schedule", "per_page": "100"}
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert headers["authorization"] == f"Bearer {gh.token}"
    assert headers["accept"] == "application/vnd.github+json" and headers["x-github-api-version"] == "2022-11-28"


def test_gh_token_wins_as_with_gh_and_github_enterprise_has_its_own_address() -> None:
    where = github.access({"GITHUB_REPOSITORY": "o/r", "GITHUB_TOKEN": "from-actions-0123456789", "GH_TOKEN": "from-gh-0123456789",
                           "GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert (where.token, where.api_url) == ("from-gh-0123456789", "https://ghe.example.com/api/v3")
    assert "from-gh" not in repr(where)
    assert github.access({"GITHUB_TOKEN": "x" * 20}) is None and github.access({"GITHUB_REPOSITORY": "o/r"}) is None


def test_the_running_workflow_measures_its_own_file() -> None:
    ref = {"GITHUB_WORKFLOW_REF": "owner/botjob/.github/workflows/answer.yml@refs/heads/main"}
    assert github.workflow_file(ref, ".github/workflows/bot.yml") == "answer.yml"
    assert github.workflow_file({}, ".github/workflows/bot.yml") == "bot.yml"


# ---------------------------------------------------------------------------- python -m botjob schedule


def test_schedule_says_how_far_apart_github_really_started_the_runs(gh, gh_env, capsys) -> None:
    the_seventeen_minute_story(gh, datetime.now(timezone.utc))

    code = main(["schedule", "--workflow", str(WORKFLOW)], env=gh_env)

    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert "Measured: 17 min apart typically, 3 h 5 min at worst (the last 60 scheduled runs)." in printed.out
    assert 'The greeting and /help say: "My answers usually come within about 20 minutes, but they have taken up to about 3 hours."' in printed.out
    assert "Warning: GitHub left 3 h 5 min between two scheduled runs lately, 18 times the 10 min the schedule asks for" in printed.out
    assert '"3-59/10 * * * *": every 10th minute' in printed.out  # beside what the cron line asks for
    assert gh.token not in printed.out + printed.err
    # The README shows this story's lines as they are printed.
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    (shown,) = re.findall(r"```\n\$ export GITHUB_REPOSITORY=\S+ GH_TOKEN=\S+.*\n\$ python -m botjob schedule\n(.*?)```", readme, re.S)
    lines = [line for line in shown.splitlines() if line != "..."]
    assert lines and all(line in printed.out.splitlines() for line in lines)


def test_schedule_without_a_token_explains_the_cron_and_how_to_measure(capsys) -> None:
    code = main(["schedule", "--workflow", str(WORKFLOW)], env={"GITHUB_REPOSITORY": "owner/botjob"})
    out = capsys.readouterr().out
    assert code == 0
    assert "If every run started on time, a message would wait about 5 minutes" in out
    assert "export GITHUB_REPOSITORY=owner/name GH_TOKEN=$(gh auth token)" in out and "Actions: read" in out


@pytest.mark.parametrize(
    ("trouble", "error"),
    [
        ("a wrong token", "error: GitHub answered 401 (Bad credentials): the token was refused — export a valid one as GH_TOKEN"),
        ("another repository", "error: GitHub answered 404 (Not Found): no workflow bot.yml in owner/other that this token can see"),
        ("another workflow", "error: GitHub answered 404 (Not Found): no workflow answer.yml in owner/botjob"),
        ("no actions: read", "error: GitHub answered 403 (Resource not accessible by integration): the token may not read this "
                             "repository's Actions — give the token Actions: read"),
        ("a rate limit", "error: GitHub answered 403 (API rate limit exceeded for installation.): too many requests for now"),
        ("no network", "error: GitHub's API did not answer at 127.0.0.1:"),
    ],
)
def test_schedule_says_in_one_line_why_it_could_not_measure_and_never_shows_the_token(gh, gh_env, tmp_path, capsys, trouble, error) -> None:
    workflow = WORKFLOW
    if trouble == "a wrong token":
        gh_env = {**gh_env, "GH_TOKEN": "ghp_" + "x" * 36}
    elif trouble == "another repository":
        gh_env = {**gh_env, "GITHUB_REPOSITORY": "owner/other"}
    elif trouble == "another workflow":
        workflow = tmp_path / "answer.yml"
        shutil.copy(WORKFLOW, workflow)
    elif trouble == "no actions: read":
        gh.can_read_actions = False
    elif trouble == "a rate limit":
        gh.fail(403, "API rate limit exceeded for installation.", headers={"x-ratelimit-remaining": "0"})
    else:
        gh_env = {**gh_env, "GITHUB_API_URL": f"http://127.0.0.1:{unused_port()}"}

    code = main(["schedule", "--workflow", str(workflow)], env=gh_env)

    printed = capsys.readouterr()
    assert code == 1
    assert '"3-59/10 * * * *": every 10th minute' in printed.out  # the cron part still stands
    (line,) = printed.err.strip().splitlines()
    assert line.startswith(error)
    assert gh_env["GH_TOKEN"] not in printed.out + printed.err and "Traceback" not in printed.err


@pytest.mark.parametrize("variable", ["GH_TOKEN", "GITHUB_TOKEN"])
def test_a_server_that_repeats_the_token_has_it_starred_out(gh, gh_env, capsys, variable: str) -> None:
    env = {"GITHUB_REPOSITORY": gh.repository, variable: gh.token, "GITHUB_API_URL": gh.url}
    gh.fail(502, f"proxy refused Authorization: Bearer {gh.token}")  # an enterprise proxy's words, say

    assert main(["schedule", "--workflow", str(WORKFLOW)], env=env) == 1

    printed = capsys.readouterr()
    assert "error: GitHub answered 502 (proxy refused Authorization: Bearer ***)" in printed.err
    assert gh.token not in printed.out + printed.err


# ---------------------------------------------------------------------------- the workflow's measuring step


def measure_bare(checkout: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """As the workflow runs it: python3 -S, nothing installed, botjob found in the checkout."""
    bare = {"PATH": os.environ["PATH"], **env}
    return subprocess.run([sys.executable, "-S", "-m", "botjob", "measure-schedule"], cwd=checkout, env=bare,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    (tmp_path / "botjob").symlink_to(REPO / "botjob")
    return tmp_path


def test_the_measuring_step_keeps_the_figure_and_rewrites_it_only_when_it_moved(gh, checkout: Path) -> None:
    now = datetime.now(timezone.utc)
    the_seventeen_minute_story(gh, now)
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": gh.repository, "GITHUB_TOKEN": gh.token, "GITHUB_API_URL": gh.url,
           "GITHUB_WORKFLOW_REF": "owner/botjob/.github/workflows/bot.yml@refs/heads/main"}
    stored = checkout / "state" / "cadence.json"

    first = measure_bare(checkout, env)

    assert first.returncode == 0, first.stderr
    assert "17 min apart typically, 3 h 5 min at worst (the last 60 scheduled runs); kept in state/cadence.json" in first.stdout
    kept = json.loads(stored.read_text())
    assert set(kept) == {"typical_gap", "worst_gap", "runs", "measured_at"} and kept["worst_gap"] == 3 * 3600 + 5 * 60
    assert gh.token not in first.stdout + first.stderr

    # Measured a little apart from this figure before (a minute, 6 %): no reason to change state/.
    stored.write_text(json.dumps({**kept, "typical_gap": kept["typical_gap"] - 60}) + "\n")
    written = stored.read_bytes()
    again = measure_bare(checkout, env)
    assert again.returncode == 0 and "state/cadence.json unchanged" in again.stdout
    assert stored.read_bytes() == written  # so save-state has nothing to commit for it

    stored.write_text(json.dumps({**kept, "typical_gap": 600}) + "\n")  # as if measured when runs came every 10 minutes
    moved_on = measure_bare(checkout, env)
    assert "moved: updated state/cadence.json" in moved_on.stdout
    assert json.loads(stored.read_text())["typical_gap"] == pytest.approx(17 * 60, abs=30)


def test_the_measuring_step_warns_but_never_stops_the_run(gh, checkout: Path) -> None:
    gh.can_read_actions = False
    (checkout / "state").mkdir()
    (checkout / "state" / "cadence.json").write_text('{"typical_gap": 1020, "worst_gap": 1500, "runs": 70, "measured_at": 1}\n')
    env = {"GITHUB_ACTIONS": "true", "GITHUB_REPOSITORY": gh.repository, "GITHUB_TOKEN": gh.token, "GITHUB_API_URL": gh.url}

    result = measure_bare(checkout, env)

    assert result.returncode == 0
    assert "::warning::GitHub answered 403" in result.stdout and "'actions: read' to the job's permissions" in result.stdout
    assert json.loads((checkout / "state" / "cadence.json").read_text())["typical_gap"] == 1020  # the figure kept before
    assert gh.token not in result.stdout + result.stderr


# ---------------------------------------------------------------------------- what people and the owner see


def keep(state_dir: Path, typical: float, worst: float, runs: int = 60) -> None:
    StateStore(state_dir).save_cadence(Cadence(typical=typical, worst=worst, runs=runs, measured_at=NOW.timestamp()))


def test_once_measured_the_greeting_and_help_say_the_measured_wait(telegram, make_job, state_dir: Path) -> None:
    keep(state_dir, typical=17 * MINUTE, worst=3 * HOUR + 5 * MINUTE)
    telegram.user_says("/start", chat_id=1)
    telegram.user_says("/help", chat_id=2)

    make_job().run_once()

    measured = "My answers usually come within about 20 minutes, but they have taken up to about 3 hours."
    [greeting], [help_text] = telegram.sent(1), telegram.sent(2)
    assert greeting["text"] == f"Hi! I answer with a language model. {measured} Just ask me anything."
    assert help_text["text"].startswith(f"Write me a question and I'll answer it. {measured} Reply to one of my messages")
    assert "every 10 minutes" not in greeting["text"] + help_text["text"]  # the cron's words would promise what GitHub did not keep


def test_until_measured_the_greeting_says_the_crons_words_as_before(telegram, make_job) -> None:
    telegram.user_says("/start", chat_id=1)
    make_job().run_once()
    assert [m["text"] for m in telegram.sent(1)] == [GREETING_AS_TODAY]


def test_an_owners_own_text_with_schedule_keeps_working_once_measured(telegram, make_job, state_dir: Path) -> None:
    keep(state_dir, typical=17 * MINUTE, worst=25 * MINUTE)
    telegram.user_says("/start", chat_id=1)
    reply = dataclasses.replace(ReplySettings(), greeting="Hello! I look for messages {schedule}. {wait}")
    make_job(Config(reply=reply)).run_once()
    assert [m["text"] for m in telegram.sent(1)] == [
        "Hello! I look for messages every 10 minutes. My answers usually come within about 20 minutes."
    ]


def test_each_runs_summary_shows_the_measured_cadence_and_warns_of_a_long_gap(telegram, env, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, tmp_path / ".github" / "workflows" / "bot.yml")  # every 10 minutes
    keep(tmp_path / "state", typical=17 * MINUTE, worst=3 * HOUR + 5 * MINUTE)
    summary = tmp_path / "summary.md"
    telegram.user_says("/start", chat_id=1)

    code = main(["run"], env={**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})

    out = capsys.readouterr().out
    assert code == 0
    [greeting] = telegram.sent(1)
    assert "My answers usually come within about 20 minutes, but they have taken up to about 3 hours." in greeting["text"]
    markdown = summary.read_text()
    assert "| GitHub's schedule, measured | 17 min apart typically, 3 h 5 min at worst (the last 60 scheduled runs) |" in markdown
    assert "⚠️ GitHub left 3 h 5 min between two scheduled runs lately, 18 times the 10 min the schedule asks for" in markdown
    assert "::warning::GitHub left 3 h 5 min between two scheduled runs lately" in out


def test_a_gap_near_telegrams_limit_is_a_warning_whatever_the_schedule(telegram, env, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # no workflow file here: nothing to compare with
    keep(tmp_path / "state", typical=40 * MINUTE, worst=13 * HOUR)
    summary = tmp_path / "summary.md"

    main(["run"], env={**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})

    assert "Telegram deletes what waits 24 hours" in summary.read_text()
    assert "::warning::GitHub left 13 h between two scheduled runs" in capsys.readouterr().out


def test_without_a_figure_the_summary_says_nothing_of_it_and_the_greeting_the_crons_words(telegram, env, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    shutil.copy(WORKFLOW, tmp_path / ".github" / "workflows" / "bot.yml")
    summary = tmp_path / "summary.md"
    keep(tmp_path / "elsewhere", typical=17 * MINUTE, worst=13 * HOUR)  # another folder's figure is not this bot's
    telegram.user_says("/start", chat_id=1)

    assert main(["run"], env={**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}) == 0

    assert "measured" not in summary.read_text() and "::warning::" not in capsys.readouterr().out
    assert [m["text"] for m in telegram.sent(1)] == [GREETING_AS_TODAY]


# ---------------------------------------------------------------------------- settings and redirects


@pytest.mark.parametrize(
    ("setting", "error"),
    [
        ({"GITHUB_REPOSITORY": "botjob"}, "error: GITHUB_REPOSITORY is not owner/name — set it to the repository's owner and name"),
        ({"GITHUB_API_URL": "api.github.com"}, "error: GITHUB_API_URL is not an http:// or https:// address with a host"),
        ({"GH_TOKEN": "ghp_one two three four"}, "error: GH_TOKEN holds spaces or characters a token never has"),
    ],
)
def test_a_setting_that_cannot_work_is_one_line_after_the_cron_part(gh, gh_env, capsys, setting, error) -> None:
    code = main(["schedule", "--workflow", str(WORKFLOW)], env={**gh_env, **setting})
    printed = capsys.readouterr()
    assert code == 2 and '"3-59/10 * * * *"' in printed.out
    assert len(printed.err.strip().splitlines()) == 1 and printed.err.startswith(error)
    assert gh.requests() == [] and "one two" not in printed.out + printed.err


def test_the_token_follows_a_redirect_on_githubs_host_only(gh, gh_env, capsys) -> None:
    the_seventeen_minute_story(gh, datetime.now(timezone.utc))
    runs = "/repos/owner/botjob/actions/workflows/bot.yml/runs?event=schedule&per_page=100"
    gh.fail(301, "Moved Permanently", headers={"Location": gh.url + runs})  # a renamed repository
    assert len(github.scheduled_runs(github.access(gh_env), "bot.yml")) == 60
    assert {r.headers.get("Authorization") for r in gh.requests()} == {f"Bearer {gh.token}"}

    with GitHubSandbox() as elsewhere:
        gh.fail(301, "Moved Permanently", headers={"Location": elsewhere.url.replace("127.0.0.1", "localhost") + runs})
        assert main(["schedule", "--workflow", str(WORKFLOW)], env=gh_env) == 1
        assert elsewhere.requests() == []
    assert "error: GitHub's API sent the request on to another host, localhost; the token was not sent there" in capsys.readouterr().err
