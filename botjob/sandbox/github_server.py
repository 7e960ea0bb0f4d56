"""A local stand-in for the part of GitHub's REST API that lists a workflow's runs:
GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs, as docs.github.com documents it.

It answers newest first, filtered by ``event``, paged by ``per_page`` (30 unless asked, at most 100)
and ``page``; the workflow is named by its file name or its numeric id, owner and repository in any
case. A wrong token is 401 "Bad credentials"; no token is 404 for a private repository (GitHub does
not say that a private one exists) and served for a public one; a token without ``actions: read``
is 403 "Resource not accessible by integration"; an unknown repository or workflow 404; an
``X-GitHub-Api-Version`` GitHub does not know, 400. Runs carry ``created_at`` (when GitHub fired the
event), ``run_started_at`` (when the latest attempt started: later after a wait in the concurrency
queue, and moved by a re-run) and ``run_attempt``.
Left out: every other endpoint, the other filters (actor, branch, status, created...), the Link header,
rate limits (``fail`` can answer one), and the many other fields of a run."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, unquote

from ._http import LocalServer, Request, Response, json_response

DEFAULT_TOKEN = "ghs_SandboxToken0123456789abcdefghijklmn"
DOCS = "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow"
API_VERSIONS = ("2022-11-28", "2026-03-10")
DEFAULT_PER_PAGE, MAX_PER_PAGE = 30, 100


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status: int, message: str, docs: str = DOCS) -> Response:
    return json_response(status, {"message": message, "documentation_url": docs, "status": str(status)})


class GitHubSandbox(LocalServer):
    """Serves one repository's workflows and their runs; ``url`` stands for https://api.github.com."""

    def __init__(self, token: str = DEFAULT_TOKEN, repository: str = "owner/botjob", *,
                 workflows: tuple[str, ...] = ("bot.yml", "check.yml", "ci.yml"), private: bool = True) -> None:
        super().__init__()
        self.token = token
        self.repository = repository
        self.private = private
        self.can_read_actions = True  # False: the token lacks actions: read
        self._workflows = {name: 161335 + i for i, name in enumerate(workflows)}  # file name -> workflow id
        self._lock = threading.Lock()
        self._runs: list[dict[str, Any]] = []
        self._faults: list[Response] = []
        self._requests: list[Request] = []

    # ----------------------------------------------------------------- scripting

    def add_run(self, created_at: datetime, *, event: str = "schedule", workflow: str = "bot.yml",
                queued: float = 0.0, reruns: int = 0) -> int:
        """A run GitHub fired at ``created_at``; it started ``queued`` seconds later, and was re-run
        ``reruns`` times (each an hour on), which moves run_started_at but not created_at. Its id."""
        started = created_at + timedelta(seconds=queued) + timedelta(hours=reruns)
        with self._lock:
            run_id = 9_000_000_000 + len(self._runs) + 1
            self._runs.append({
                "id": run_id, "name": workflow.rsplit(".", 1)[0], "path": f".github/workflows/{workflow}",
                "workflow_id": self._workflows[workflow], "event": event, "head_branch": "main",
                "status": "completed", "conclusion": "success", "run_number": len(self._runs) + 1,
                "run_attempt": 1 + reruns, "created_at": _stamp(created_at), "run_started_at": _stamp(started),
                "updated_at": _stamp(started + timedelta(minutes=1)),
                "html_url": f"https://github.com/{self.repository}/actions/runs/{run_id}",
            })
        return run_id

    def fail(self, status: int, message: str = "Server Error", headers: dict[str, str] | None = None) -> None:
        """The next request answers ``status`` with GitHub's error shape (e.g. a rate limit: 403 with
        ``x-ratelimit-remaining: 0``)."""
        with self._lock:
            self._faults.append(_error(status, message, "https://docs.github.com/rest"))
            self._faults[-1].headers.update(headers or {})

    def requests(self) -> list[Request]:
        """Every request received, in order (headers as sent: the token too)."""
        with self._lock:
            return list(self._requests)

    # ----------------------------------------------------------------- serving

    def handle(self, request: Request) -> Response:
        with self._lock:
            self._requests.append(request)
            if self._faults:
                return self._faults.pop(0)
        headers = {k.lower(): v for k, v in request.headers.items()}
        version = headers.get("x-github-api-version")
        if version is not None and version not in API_VERSIONS:
            return _error(400, f"Unsupported 'X-GitHub-Api-Version' header '{version}'. "
                               f"Supported versions are: {', '.join(API_VERSIONS)}", "https://docs.github.com/rest/overview/api-versions")
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if given and (scheme.lower() not in ("bearer", "token") or given.strip() != self.token):
            return _error(401, "Bad credentials", "https://docs.github.com/rest")
        parts = [unquote(p) for p in request.path.strip("/").split("/")]
        if request.method != "GET" or len(parts) != 7 or parts[0] != "repos" or parts[3:5] != ["actions", "workflows"] or parts[6] != "runs":
            return _error(404, "Not Found", "https://docs.github.com/rest")
        if f"{parts[1]}/{parts[2]}".lower() != self.repository.lower() or (not given and self.private):
            return _error(404, "Not Found", "https://docs.github.com/rest/repos/repos#get-a-repository")
        workflow_id = next((i for name, i in self._workflows.items() if parts[5] in (name, str(i))), None)
        if workflow_id is None:
            return _error(404, "Not Found")
        if given and not self.can_read_actions:
            return _error(403, "Resource not accessible by integration")
        query = {k: v[-1] for k, v in parse_qs(request.query).items()}
        try:
            per_page = min(MAX_PER_PAGE, max(1, int(query.get("per_page", DEFAULT_PER_PAGE))))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            return _error(422, "Invalid request.\n\nper_page and page must be integers.")
        with self._lock:
            runs = [r for r in self._runs if r["workflow_id"] == workflow_id and query.get("event", r["event"]) == r["event"]]
        runs.sort(key=lambda r: (r["created_at"], r["id"]), reverse=True)
        return json_response(200, {"total_count": len(runs), "workflow_runs": runs[(page - 1) * per_page:page * per_page]})
