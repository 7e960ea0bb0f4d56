"""Commits the bot's ``state/`` folder and pushes it back, from the workflow's save job.

Standard library only: it runs on the runner's bare ``python3`` before anything is installed.
The push token travels in git's environment (``GIT_CONFIG_*``), never in ``.git/config`` or argv.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from botjob.actions import repository_is_private
from botjob.errors import BotjobError, Failure
from botjob.redaction import redact
from botjob.state import OFFSET_FILE
from botjob.state_handover import take_state
from botjob.state_merge import merge_state_file

log = logging.getLogger(__name__)

BOT_NAME = "github-actions[bot]"
BOT_EMAIL = "41898282+github-actions[bot]@users.noreply.github.com"
HEARTBEAT_FILE = "heartbeat.json"
SKIP_CI = "[skip ci]"
NETWORK_TIMEOUT = 300  # seconds for one fetch or push; a hung connection must not eat the job
MIN_GIT_FOR_ENV_CONFIG = (2, 31)  # GIT_CONFIG_COUNT / _KEY_n / _VALUE_n

# A push refused because the branch moved on (someone pushed meanwhile): fetch, rebase, retry.
_RACE = re.compile(r"\[rejected\].*\((fetch first|non-fast-forward)\)|failed to update ref|cannot lock ref")


@dataclass(frozen=True)
class SaveResult:
    """What ``save_state`` did."""

    committed: bool  # a commit was made
    pushed: bool
    message: str  # the commit message, or why nothing was committed
    attempts: int  # push attempts made (0 when nothing to push)


class SaveStateError(BotjobError):
    """state/ could not be committed or pushed; ``hint`` says how to fix it."""

    kind = Failure.BOT_WIDE


class _Git:
    """Runs git in one checkout; every output it keeps is already scrubbed of the token."""

    def __init__(self, cwd: Path, secrets: list[str], auth_config: list[tuple[str, str]]) -> None:
        self.cwd = cwd
        self.secrets = secrets
        self.identity: list[str] = []  # "-c user.name=..." when the repo has no identity
        base = dict(os.environ)
        base.update(GIT_TERMINAL_PROMPT="0", GIT_EDITOR="true", GIT_MERGE_AUTOEDIT="no")
        self.env = base
        # Only fetch and push see the token, appended after any GIT_CONFIG_* the caller already set.
        self.auth_env = dict(base)
        count = int(base["GIT_CONFIG_COUNT"]) if base.get("GIT_CONFIG_COUNT", "").isdigit() else 0
        for key, value in auth_config:
            self.auth_env[f"GIT_CONFIG_KEY_{count}"] = key
            self.auth_env[f"GIT_CONFIG_VALUE_{count}"] = value
            count += 1
        self.auth_env["GIT_CONFIG_COUNT"] = str(count)

    def run(self, *args: str, check: bool = True, network: bool = False, what: str = "") -> subprocess.CompletedProcess[str]:
        argv = ["git", *self.identity, *args]
        try:
            done = subprocess.run(
                argv, cwd=self.cwd, env=self.auth_env if network else self.env,
                capture_output=True, text=True, encoding="utf-8", errors="replace",
                timeout=NETWORK_TIMEOUT if network else 120,
            )
        except FileNotFoundError:
            raise SaveStateError("git is not installed", hint="install git, or run save-state where git is on PATH") from None
        except subprocess.TimeoutExpired:
            done = subprocess.CompletedProcess(argv, 124, "", f"git {args[0]} timed out")
        done.stdout = redact(done.stdout or "", self.secrets)
        done.stderr = redact(done.stderr or "", self.secrets)
        if check and done.returncode != 0:
            raise SaveStateError(
                f"git {args[0]} failed ({what or 'saving state'}): {_last_lines(done.stderr or done.stdout)}",
                hint="see git's message above; run the same git command in the checkout to reproduce",
            )
        return done


def save_state(
    repo: str | os.PathLike[str] = ".",
    *,
    state_dir: str = "state",
    env: Mapping[str, str] | None = None,
    heartbeat_days: float = 45,
    now: datetime | None = None,
    push: bool = True,
    retries: int = 4,
    sleep: Callable[[float], None] = time.sleep,
    source: str | os.PathLike[str] | None = None,
) -> SaveResult:
    """Commit what changed under ``state_dir`` (and nothing else) and push it to the current branch.

    ``env`` holds the GitHub settings (``GITHUB_TOKEN``, ``GITHUB_REF_NAME``,
    ``GITHUB_SERVER_URL``, ``GITHUB_EVENT_PATH``); it defaults to ``os.environ``.
    git itself always runs with ``os.environ`` plus the token's header. With ``source``
    (the answer job's state/, handed on), its files are checked and taken into
    ``state_dir`` first (state_handover.py); anything amiss there saves nothing.
    """
    env = os.environ if env is None else env
    root = Path(repo)
    token = env.get("GITHUB_TOKEN", "")
    header = base64.b64encode(f"x-access-token:{token}".encode()).decode() if token else ""
    secrets = [s for s in (token, header) if s]
    auth_config: list[tuple[str, str]] = []
    if token:
        server = (env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        key = f"http.{server}/.extraheader"
        # The empty value first clears a header actions/checkout may have persisted, so only ours is sent.
        auth_config = [(key, ""), (key, f"AUTHORIZATION: basic {header}")]
    git, state, pathspec = _open_checkout(root, state_dir, secrets, auth_config)
    state_path = git.cwd / state

    branch = _branch(git, env) if push else ""
    if push and git.run("remote", "get-url", "origin", check=False).returncode != 0:
        raise SaveStateError(
            "the checkout has no remote named origin to push state/ to",
            hint="add one (git remote add origin <url>), or commit only: save-state --no-push",
        )
    if token:
        _require_env_config(git)
    if source is not None:
        take_state(Path(source), state_path)

    changed = _changed(git, pathspec) if state_path.is_dir() else []
    heartbeat = False
    if not changed:
        when = now or datetime.now(timezone.utc)
        if not _heartbeat_due(git, env, heartbeat_days, when):
            why = "state unchanged" if state_path.is_dir() else f"no {state}/ directory"
            return SaveResult(committed=False, pushed=False, message=f"nothing to save: {why}", attempts=0)
        if not state_path.is_dir():
            raise SaveStateError(
                f"a heartbeat commit is due but there is no {state}/ directory in {git.cwd}",
                hint=f"restore {state}/ (it holds offset.json) from the repository's history, or run the bot once",
            )
        _write_heartbeat(state_path / HEARTBEAT_FILE, when)
        heartbeat = True
        changed = _changed(git, pathspec)
        if not changed:
            return SaveResult(committed=False, pushed=False, message="nothing to save: heartbeat unchanged", attempts=0)

    _use_identity(git)
    message = "state: heartbeat " + SKIP_CI if heartbeat else _message(git, state_path / OFFSET_FILE, f"{state}/{OFFSET_FILE}")
    git.run("add", "-A", "--", *pathspec, what=f"staging {state}/")
    staged = [p for p in git.run("diff", "--cached", "--name-only", "-z", "--", *pathspec).stdout.split("\0") if p]
    if not staged:
        return SaveResult(committed=False, pushed=False, message="nothing to save: state unchanged", attempts=0)
    # "commit -- <paths>" commits only those paths and leaves whatever else is staged as it was.
    git.run("commit", "-q", "-m", message, "--", *pathspec, what=f"committing {state}/")
    commit = git.run("rev-parse", "--short", "HEAD").stdout.strip()
    log.info("committed %d file(s) under %s/ as %s", len(staged), state, commit)
    if not push:
        return SaveResult(committed=True, pushed=False, message=message, attempts=0)

    attempts = _push(git, branch, state, max(1, retries), sleep)
    return SaveResult(committed=True, pushed=True, message=message, attempts=attempts)


def pending_save(
    repo: str | os.PathLike[str] = ".",
    *,
    state_dir: str = "state",
    env: Mapping[str, str] | None = None,
    heartbeat_days: float = 45,
    now: datetime | None = None,
) -> str | None:
    """Why ``save_state`` would commit (state/ changed, or a heartbeat is due), or None. Reads only:
    no token, no remote, nothing written; the answer job asks it so that idle runs start no save job."""
    env = os.environ if env is None else env
    git, state, pathspec = _open_checkout(Path(repo), state_dir, [], [])
    if (git.cwd / state).is_dir():
        changed = _changed(git, pathspec)
        if changed:
            return f"{len(changed)} change(s) under {state}/"
    if _heartbeat_due(git, env, heartbeat_days, now or datetime.now(timezone.utc)):
        return "a heartbeat commit is due"
    return None


def _open_checkout(
    root: Path, state_dir: str, secrets: list[str], auth_config: list[tuple[str, str]]
) -> tuple[_Git, str, list[str]]:
    """git at the top of the checkout that holds ``root``, the state folder as git names it, and its pathspec."""
    if not root.is_dir():
        raise SaveStateError(f"{root} is not a directory", hint="run save-state from the repository's checkout")
    git = _Git(root, secrets, auth_config)

    inside = git.run("rev-parse", "--is-inside-work-tree", check=False)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise SaveStateError(
            f"{root.resolve()} is not a git checkout: {_last_lines(inside.stderr)}",
            hint="run save-state in the repository checked out by actions/checkout (or your clone)",
        )

    relative = PurePosixPath(Path(state_dir).as_posix())
    if relative.is_absolute() or relative.as_posix() in ("", ".") or ".." in relative.parts:
        raise SaveStateError(f"state_dir must be a folder inside the repository, not {state_dir!r}")
    # From here on git runs at the top of the checkout, so every path git prints matches ours.
    prefix = git.run("rev-parse", "--show-prefix").stdout.strip()
    git.cwd = Path(git.run("rev-parse", "--show-toplevel").stdout.strip())
    state = (PurePosixPath(prefix) / relative).as_posix()
    pathspec = [state, f":(exclude){state}/*.tmp"]  # temp files of atomic writes (.offset-*.tmp) stay out

    if (git.cwd / state).is_dir() and git.run("check-ignore", "-q", "--", f"{state}/{OFFSET_FILE}", check=False).returncode == 0:
        raise SaveStateError(
            f"{state}/ is ignored by a .gitignore, so the bot's state would never be saved",
            hint=f"remove the line that ignores {state}/ from .gitignore (keep ignoring {state}/*.tmp)",
        )
    return git, state, pathspec


def _branch(git: _Git, env: Mapping[str, str]) -> str:
    name = git.run("rev-parse", "--abbrev-ref", "HEAD", check=False).stdout.strip()
    if name and name != "HEAD":
        return name
    if env.get("GITHUB_REF_TYPE") == "tag":
        raise SaveStateError(
            "the workflow runs on a tag, and state/ can only be pushed to a branch",
            hint="run the workflow on the default branch",
        )
    name = env.get("GITHUB_REF_NAME", "").strip()
    if name:
        return name
    raise SaveStateError(
        "HEAD is detached and GITHUB_REF_NAME is not set, so there is no branch to push state/ to",
        hint="check out a branch (git switch main), or set GITHUB_REF_NAME to the branch to push to",
    )


def _require_env_config(git: _Git) -> None:
    found = re.search(r"(\d+)\.(\d+)", git.run("version").stdout)
    if found and (int(found[1]), int(found[2])) < MIN_GIT_FOR_ENV_CONFIG:
        raise SaveStateError(
            f"git {found[1]}.{found[2]} cannot take the push token from the environment (needs git 2.31+)",
            hint="use a newer runner image (ubuntu-latest has a recent git), or upgrade git",
        )


def _changed(git: _Git, pathspec: list[str]) -> list[str]:
    """Status entries under state/ that differ from HEAD: modified, staged, deleted or new (untracked)."""
    status = git.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *pathspec, what="reading status")
    return [entry for entry in status.stdout.split("\0") if entry]


def _heartbeat_due(git: _Git, env: Mapping[str, str], days: float, now: datetime) -> bool:
    if days <= 0:
        return False
    last = git.run("log", "-1", "--format=%ct", check=False).stdout.strip()
    if not last.isdigit():
        return False  # no commit yet: nothing to keep alive
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    age_days = (now.timestamp() - int(last)) / 86400
    if age_days < days:
        return False
    if _is_private(env):
        log.info("last commit is %.0f days old, but the repository is private: no heartbeat needed", age_days)
        return False
    log.info("last commit is %.0f days old (heartbeat after %g): writing a heartbeat", age_days, days)
    return True


def _is_private(env: Mapping[str, str]) -> bool:
    """Scheduled workflows are disabled after 60 quiet days only in public repositories."""
    return repository_is_private(env) is True


def _write_heartbeat(path: Path, now: datetime) -> None:
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    temp = path.with_name(f".{path.stem}-{os.getpid()}.tmp")
    temp.write_text(json.dumps({"last_heartbeat": now.astimezone(timezone.utc).date().isoformat()}) + "\n", encoding="utf-8")
    os.replace(temp, path)


def _use_identity(git: _Git) -> None:
    """The runner has no git identity: commit as github-actions[bot], without writing it to config."""
    name = git.run("config", "user.name", check=False).stdout.strip()
    email = git.run("config", "user.email", check=False).stdout.strip()
    if not (name and email):
        git.identity = ["-c", f"user.name={BOT_NAME}", "-c", f"user.email={BOT_EMAIL}"]


def _message(git: _Git, offset_path: Path, offset_in_repo: str) -> str:
    """What moved, and nothing else from the state files: the repo may be public."""
    before = _offset_of(git.run("show", f"HEAD:./{offset_in_repo}", check=False))
    try:
        after = _offset_from_text(offset_path.read_text(encoding="utf-8"))
    except OSError:
        after = None
    if after is not None and before is None:
        return f"state: offset set to {after} {SKIP_CI}"
    if after is not None and before is not None and after != before:
        return f"state: offset {before} -> {after} {SKIP_CI}"
    return f"state: update {SKIP_CI}"


def _offset_of(shown: subprocess.CompletedProcess[str]) -> int | None:
    return _offset_from_text(shown.stdout) if shown.returncode == 0 else None


def _offset_from_text(text: str) -> int | None:
    try:
        offset = json.loads(text).get("offset")
    except (ValueError, AttributeError):
        return None
    return offset if isinstance(offset, int) and not isinstance(offset, bool) else None


def _push(git: _Git, branch: str, state: str, tries: int, sleep: Callable[[float], None]) -> int:
    """Push HEAD to ``branch``; when the branch moved on, rebase onto it and try again. Never forces."""
    stderr = ""
    for attempt in range(1, tries + 1):
        pushed = git.run("push", "--porcelain", "origin", f"HEAD:refs/heads/{branch}", check=False, network=True)
        if pushed.returncode == 0:
            commit = git.run("rev-parse", "--short", "HEAD").stdout.strip()
            log.info("pushed %s to %s (attempt %d of %d)", commit, branch, attempt, tries)
            return attempt
        stderr = (pushed.stderr + "\n" + pushed.stdout).strip()
        race = bool(_RACE.search(stderr))
        log.warning(
            "push to %s refused (attempt %d of %d, %s): %s",
            branch, attempt, tries, "the branch moved on" if race else "not a race", _last_lines(stderr),
        )
        if attempt == tries:
            break
        sleep(float(2 ** (attempt - 1)))
        fetched = git.run(
            "fetch", "-q", "origin", f"+refs/heads/{branch}:refs/remotes/origin/{branch}", check=False, network=True
        )
        if fetched.returncode != 0:
            log.warning("fetch of %s failed: %s", branch, _last_lines(fetched.stderr))
            continue
        _rebase(git, f"origin/{branch}", state)

    race = bool(_RACE.search(stderr))
    if race:
        hint = (
            f"someone kept pushing to {branch} while the bot saved; the next run saves again "
            "(updates finished since the last saved offset may be answered once more)"
        )
    else:
        hint = (
            f"the remote refused the push itself, not because {branch} moved on: give the job "
            f"`permissions: contents: write`, and let github-actions[bot] push to {branch} "
            "(branch protection / rulesets)"
        )
    raise SaveStateError(
        f"state/ was committed but could not be pushed to {branch} after {tries} attempt(s)"
        f"{'' if race else ' (not a race: retrying did not help)'}: {_last_lines(stderr)}",
        hint=hint,
    )


def _rebase(git: _Git, upstream: str, state: str) -> None:
    """Replay our state commit onto ``upstream``, merging conflicting state files by their meaning.

    Not ``-X theirs``: that option settles conflicts in every file of every replayed commit, so a
    local commit outside state/ would silently overwrite the owner's change. Here only conflicts
    under state/ are settled: both versions merged where the file has a meaning to merge by
    (state_merge.py), else the replayed side ("theirs" in a rebase is the commit being replayed,
    i.e. ours), which also covers modify/delete; any other conflict stops.
    """
    done = git.run("rebase", "-q", "--autostash", upstream, check=False)
    unmerged: list[str] = []
    for _ in range(20):  # one round per replayed commit that stopped
        if done.returncode == 0:
            log.info("rebased the state commit onto %s", upstream)
            return
        listed = git.run("diff", "--name-only", "--diff-filter=U", "-z", check=False).stdout.split("\0")
        unmerged = [p for p in listed if p]
        if not unmerged or any(not (p == state or p.startswith(state + "/")) for p in unmerged):
            break
        for path in unmerged:
            listed = git.run("ls-files", "-u", "-z", "--", path).stdout
            stages = {entry.split("\t")[0].rsplit(" ", 1)[-1] for entry in listed.split("\0") if entry}
            merged = None
            if {"2", "3"} <= stages:  # both sides changed it: stage 2 is upstream's, 3 the replayed commit's
                upstream_text, replayed_text = (git.run("show", f":{stage}:{path}").stdout for stage in ("2", "3"))
                merged = merge_state_file(path.removeprefix(state + "/"), upstream_text, replayed_text)
            if merged is not None:
                (git.cwd / path).write_text(merged, encoding="utf-8")
                git.run("add", "--", path)
            elif "3" in stages:
                git.run("checkout", "--theirs", "--", path)
                git.run("add", "--", path)
            else:
                git.run("rm", "-q", "--", path)
        done = git.run("rebase", "--continue", check=False)
    git.run("rebase", "--abort", check=False)
    where = f"conflict in {', '.join(unmerged)}" if unmerged else _last_lines(done.stderr or done.stdout)
    raise SaveStateError(
        f"could not replay the local commits onto {upstream} ({where}); the state commit is still local",
        hint=f"in the checkout: git pull --rebase origin {upstream.split('/', 1)[-1]}, settle the conflict, git push",
    )


def _last_lines(text: str, lines: int = 6) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(kept[-lines:]) if kept else "(no output)"
