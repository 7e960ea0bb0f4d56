"""GitHub's REST API, for one question: when did the bot workflow's scheduled runs really come?
Standard library only: the workflow asks it on the runner's bare python3, before anything is installed.

``GET /repos/{owner}/{repo}/actions/workflows/{file}/runs`` lists a workflow's
runs newest first (the file name serves as the workflow's id); it needs a token
that may read the repository's Actions (``actions: read``).
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit

from .environment import check_address
from .errors import BotjobError, ConfigError, Failure

DEFAULT_API_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
PER_PAGE = 100  # the most GitHub lists at once: the last day or so of a busy schedule
TOKEN_VARIABLES = ("GH_TOKEN", "GITHUB_TOKEN")  # gh's order: GH_TOKEN wins
HOW_TO_MEASURE = "export GITHUB_REPOSITORY=owner/name GH_TOKEN=$(gh auth token)   # or a fine-grained token with Actions: read"
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")
_NOT_IN_A_BEARER_TOKEN = re.compile(r"[^\x21-\x7e]")


class GitHubError(BotjobError):
    """GitHub's API refused the question or did not answer; ``status`` is None without an answer."""

    def __init__(self, message: str, *, status: int | None, hint: str | None = None, kind: Failure | None = None) -> None:
        super().__init__(message, hint=hint, kind=kind)
        self.status = status


@dataclass(frozen=True)
class Access:
    """Which repository to ask about, with which token, at which API (GitHub Enterprise has its own)."""

    repository: str
    token: str
    api_url: str = DEFAULT_API_URL

    def __repr__(self) -> str:  # never the token, wherever the object is shown
        return f"Access(repository={self.repository!r}, api_url={self.api_url!r})"


def access(env: Mapping[str, str]) -> Access | None:
    """The repository and token from the environment; None when either is missing (then the
    figure cannot be had, and ``HOW_TO_MEASURE`` says how to get it)."""
    repository = env.get("GITHUB_REPOSITORY", "").strip()
    name, token = next(((n, env[n].strip()) for n in TOKEN_VARIABLES if env.get(n, "").strip()), ("", ""))
    if not (repository and token):
        return None
    if not _REPOSITORY.fullmatch(repository):
        raise ConfigError("GITHUB_REPOSITORY is not owner/name", hint="set it to the repository's owner and name, e.g. octocat/botjob")
    if _NOT_IN_A_BEARER_TOKEN.search(token):  # it goes into a header: a line break there would be refused, token shown
        raise ConfigError(f"{name} holds spaces or characters a token never has", hint="copy the token again and paste it alone")
    api_url = env.get("GITHUB_API_URL", "").strip() or DEFAULT_API_URL
    check_address("GITHUB_API_URL", api_url, example=DEFAULT_API_URL)
    return Access(repository, token, api_url.rstrip("/"))


def workflow_file(env: Mapping[str, str], default: str) -> str:
    """The workflow's file name, GitHub's id for it: inside a run, the running workflow's own file
    (GITHUB_WORKFLOW_REF, "owner/name/.github/workflows/bot.yml@refs/heads/main"), else ``default``'s."""
    ref = env.get("GITHUB_WORKFLOW_REF", "").partition("@")[0]
    return (ref or default).rstrip("/").rpartition("/")[2]


def scheduled_runs(where: Access, workflow: str, *, timeout: float = 15.0) -> list[datetime]:
    """When GitHub fired the workflow's recent scheduled runs, oldest first (up to ``PER_PAGE``)."""
    owner, name = where.repository.split("/")
    path = f"/repos/{quote(owner)}/{quote(name)}/actions/workflows/{quote(workflow, safe='')}/runs"
    url = f"{where.api_url}{path}?{urlencode({'event': 'schedule', 'per_page': PER_PAGE})}"
    request = urllib.request.Request(url, headers={
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "Authorization": f"Bearer {where.token}",
        "User-Agent": "botjob",  # GitHub refuses requests without one
    })
    try:
        with _opener.open(request, timeout=timeout) as response:
            answer = json.load(response)
    except urllib.error.HTTPError as error:
        raise _refused(error, where, workflow) from None
    except (OSError, ValueError, http.client.HTTPException) as error:  # no network, a timeout, not JSON
        raise GitHubError(
            f"GitHub's API did not answer at {urlsplit(where.api_url).netloc} ({type(error).__name__})",
            status=None, kind=Failure.TRANSIENT, hint="check the network (and GITHUB_API_URL, if you set it), then try again",
        ) from None
    return scheduled_times(answer)


def scheduled_times(answer: object) -> list[datetime]:
    """The ``created_at`` of each scheduled run in an API answer, oldest first.

    created_at is when GitHub fired the schedule, which is what its lateness and
    dropped ticks move. run_started_at is not: it is when the latest attempt
    started, so it moves on a re-run, and it includes the wait behind a running
    batch in the workflow's concurrency queue, which is our own doing, not GitHub's.
    Runs started some other way (by hand, a dispatch) are not the schedule; the
    query asks for scheduled runs only, and they are sorted out here again.
    """
    runs = answer.get("workflow_runs") if isinstance(answer, dict) else None
    if not isinstance(runs, list):
        raise GitHubError("GitHub's answer held no list of workflow runs", status=200, kind=Failure.TRANSIENT,
                          hint="check GITHUB_API_URL: it must be GitHub's REST API (https://api.github.com)")
    times = []
    for run in runs:
        if isinstance(run, dict) and run.get("event") == "schedule" and isinstance(run.get("created_at"), str):
            try:
                created = datetime.fromisoformat(run["created_at"].replace("Z", "+00:00"))
            except ValueError:
                continue
            if created.tzinfo is not None:
                times.append(created)
    return sorted(times)


def _refused(error: urllib.error.HTTPError, where: Access, workflow: str) -> GitHubError:
    said = _message(error)
    status = error.code
    shown = f"GitHub answered {status}" + (f" ({said})" if said else "")
    if status == 401:
        return GitHubError(f"{shown}: the token was refused", status=status,
                           hint="export a valid one as GH_TOKEN: $(gh auth token), or a fine-grained token with Actions: read")
    remaining = error.headers.get("x-ratelimit-remaining") if error.headers else None
    if status == 429 or (status == 403 and (remaining == "0" or "rate limit" in said.lower())):
        return GitHubError(f"{shown}: too many requests for now", status=status, kind=Failure.TRANSIENT,
                           hint="try again in an hour (GitHub's rate limit)")
    if status == 403:
        return GitHubError(f"{shown}: the token may not read this repository's Actions", status=status,
                           hint="give the token Actions: read (a fine-grained token), or in the workflow add "
                                "'actions: read' to the job's permissions")
    if status == 404:
        return GitHubError(f"{shown}: no workflow {workflow} in {where.repository} that this token can see", status=status,
                           hint="check GITHUB_REPOSITORY (owner/name) and --workflow; a private repository needs a token "
                                "that may read it")
    return GitHubError(f"{shown}", status=status, kind=Failure.TRANSIENT if status >= 500 else Failure.BOT_WIDE,
                       hint="try again later" if status >= 500 else "check GITHUB_API_URL and the token")


def _message(error: urllib.error.HTTPError) -> str:
    """GitHub's own words for a refusal ({"message": "Bad credentials", ...}), cut short."""
    try:
        answer = json.load(error)
    except (ValueError, OSError):
        return ""
    message = answer.get("message") if isinstance(answer, dict) else None
    return " ".join(str(message).split())[:120] if message else ""


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """GitHub redirects a renamed repository's address; the token may follow it on the same host
    only (urllib would send the Authorization header to any host a redirect names)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        host = urlsplit(newurl).hostname or "?"
        if urlsplit(newurl).netloc != urlsplit(req.full_url).netloc:
            fp.close()
            raise GitHubError(f"GitHub's API sent the request on to another host, {host}; the token was not sent there",
                              status=code, hint="if you trust that host, set GITHUB_API_URL to its address")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_SameHostRedirects)
