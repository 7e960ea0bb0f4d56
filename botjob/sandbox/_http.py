"""Shared plumbing for the sandboxes: a threaded HTTP server on 127.0.0.1 (an ephemeral port,
unless start() is given one) that hands every request to the owning sandbox's ``handle`` method."""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return Response(status, body, {"Content-Type": "application/json", **(headers or {})})


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so no keep-alive connection survives stop().
    protocol_version = "HTTP/1.0"
    sandbox: "LocalServer"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={k: v for k, v in self.headers.items()},
            body=body,
        )
        try:
            response = self.sandbox.handle(request)
        except Exception as exc:  # a sandbox bug must still produce an HTTP answer
            response = json_response(500, {"error": f"sandbox error: {exc!r}"})
        try:
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout fired); nothing to do

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    # The default listen backlog (5) resets connections when a bot sends from many threads.
    request_queue_size = 128
    daemon_threads = True


class LocalServer:
    """Base class: start()/stop()/context manager and ``url``; subclasses implement handle()."""

    def __init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0):
        """Serve on ``port`` (0: any free one); OSError when the port is taken."""
        if self._server is not None:
            return self
        self._stopping.clear()
        handler = type("Handler", (_Handler,), {"sandbox": self})
        server = _Server(("127.0.0.1", port), handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}-server", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        self._wake_waiters()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _sleep(self, seconds: float) -> None:
        """Sleep that ends early when the server stops, so stop() never waits on it."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _wake_waiters(self) -> None:
        """Hook for subclasses that block request threads on something other than _sleep."""

    def handle(self, request: Request) -> Response:
        raise NotImplementedError
