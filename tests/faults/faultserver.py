"""A small HTTP server on 127.0.0.1 that misbehaves on purpose, per route and per request.

Each route is a path (plus optional query parameters that must match) and a script: the
n-th request to the route gets the n-th :class:`Reply`; once the script is used up the last
reply is repeated. A reply can be a normal answer, an error status (JSON or an HTML page),
a 429 with ``Retry-After``, a hang (the client times out), a truncated body (a
``Content-Length`` larger than what is sent, then the connection is closed), the wrong
content type or encoding, an expired Crossref cursor, or a spent OpenAlex budget.

Every request is logged with its path, query and headers, so a test can check what the
client sent (e.g. that the API key did reach the provider).
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

JSON = "application/json;charset=utf-8"
HTML = "text/html; charset=utf-8"
XML = "application/xml; charset=utf-8"
ATOM = "application/atom+xml; charset=utf-8"

#: The body Crossref sends when a deep-paging cursor expired (a real recorded body).
CROSSREF_CURSOR_EXPIRED = (
    b'{"status":"failed","message-type":"resource-failure","message":[{"type":"cursor-invalid",'
    b'"value":"thing","message":"Cursor specified but it is invalid"}]}'
)


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        status: HTTP status.
        body: Bytes sent after the headers.
        content_type: ``Content-Type`` header (None: no header at all).
        headers: Extra headers.
        hang: Seconds to wait before answering (the client should time out first).
        declared_length: ``Content-Length`` to announce instead of the real length; when it
            is larger than the body, the body is cut short and the connection closed.
        chunked: Send the body with ``Transfer-Encoding: chunked`` (no ``Content-Length``),
            so a client only learns its size by reading it.
        echo: Replace ``{request}`` in the body with the request's path and query, and
            ``{agent}`` with its User-Agent (error pages that quote the request).
    """

    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: float = 0.0
    declared_length: int | None = None
    chunked: bool = False
    echo: bool = False


@dataclass(frozen=True)
class Received:
    """One request the server answered."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    status: int
    raw_path: str


@dataclass
class Route:
    """A path, the query parameters it requires, and its script of replies."""

    path: str
    query: dict[str, str]
    replies: list[Reply]
    hits: int = 0

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        return path == self.path and all(query.get(k) == v for k, v in self.query.items())

    def next_reply(self) -> Reply:
        reply = self.replies[min(self.hits, len(self.replies) - 1)]
        self.hits += 1
        return reply


# ----------------------------------------------------------------------- reply helpers


def ok(body: bytes | Path, content_type: str = JSON, **headers: str) -> Reply:
    """A 200 answer (``body`` may be a fixture path)."""
    data = body.read_bytes() if isinstance(body, Path) else body
    return Reply(200, data, content_type, dict(headers))


def error(status: int, *, html: bool = False, retry_after: str | None = None,
          body: bytes | None = None) -> Reply:
    """A 4xx/5xx answer: a JSON envelope, or an nginx-like HTML page where JSON is expected."""
    if body is None:
        body = (f"<html><head><title>{status}</title></head><body><center><h1>{status} Error"
                f"</h1></center><hr><center>nginx</center></body></html>\n").encode() if html \
            else json.dumps({"status": "error", "message": f"HTTP {status}"}).encode()
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return Reply(status, body, HTML if html else JSON, headers)


def too_many_requests(retry_after: str = "0", **headers: str) -> Reply:
    """A "slow down" 429 with ``Retry-After``."""
    return Reply(429, b'{"error":"Too Many Requests"}', JSON,
                 {"Retry-After": retry_after, **headers})


def hang(seconds: float) -> Reply:
    """Say nothing for ``seconds`` (the client's read timeout should fire first)."""
    return Reply(200, b"", JSON, {}, hang=seconds)


def truncated(body: bytes | Path, *, keep: float = 0.5, content_type: str = JSON) -> Reply:
    """Announce the full length, send only the first ``keep`` share, then hang up."""
    data = body.read_bytes() if isinstance(body, Path) else body
    return Reply(200, data[: int(len(data) * keep)], content_type, declared_length=len(data))


def streamed(body: bytes | Path, content_type: str = JSON) -> Reply:
    """The body in chunks, without a ``Content-Length``."""
    data = body.read_bytes() if isinstance(body, Path) else body
    return Reply(200, data, content_type, chunked=True)


def wrong_content_type(body: bytes | Path, content_type: str = HTML) -> Reply:
    """The right bytes under the wrong ``Content-Type``."""
    data = body.read_bytes() if isinstance(body, Path) else body
    return Reply(200, data, content_type)


def bogus_gzip(body: bytes | Path, content_type: str = JSON) -> Reply:
    """``Content-Encoding: gzip`` on a body that is not gzip."""
    data = body.read_bytes() if isinstance(body, Path) else body
    return Reply(200, data, content_type, {"Content-Encoding": "gzip"})


def gzipped(body: bytes | Path, content_type: str = JSON) -> Reply:
    """A correctly gzip-encoded answer (the control for :func:`bogus_gzip`)."""
    data = body.read_bytes() if isinstance(body, Path) else body
    return Reply(200, gzip.compress(data), content_type, {"Content-Encoding": "gzip"})


def cursor_expired() -> Reply:
    """Crossref's 404 ``cursor-invalid`` envelope."""
    return Reply(404, CROSSREF_CURSOR_EXPIRED, JSON)


def budget_exhausted(reset: str = "3600") -> Reply:
    """OpenAlex: the daily budget is spent (``X-RateLimit-Remaining: 0`` and a reset)."""
    body = json.dumps({"error": "Rate limit exceeded",
                       "message": "You have exceeded your daily budget."}).encode()
    return Reply(429, body, JSON, {"X-RateLimit-Limit": "100000",
                                   "X-RateLimit-Remaining": "0",
                                   "X-RateLimit-Reset": reset, "Retry-After": reset})


# ----------------------------------------------------------------------------- server


class _QuietServer(ThreadingHTTPServer):
    """Clients that time out or hang up mid-answer are the point here, not noise to print."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        return


class FaultServer:
    """Serve scripted routes on 127.0.0.1 in a background thread (a context manager)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.httpd = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.02}, daemon=True)

    # -- configuration

    def route(self, path: str, replies: Reply | Iterable[Reply], *,
              query: Mapping[str, str] | None = None) -> Route:
        """Add a route; the n-th matching request gets ``replies[n]`` (the last repeats).

        The most specific route (most required query parameters) wins.
        """
        script = [replies] if isinstance(replies, Reply) else list(replies)
        if not script:
            raise ValueError("a route needs at least one reply")
        route = Route(path=path, query=dict(query or {}), replies=script)
        with self._lock:
            self.routes.append(route)
        return route

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def requests_to(self, path: str) -> list[Received]:
        """Requests received for ``path`` (in arrival order)."""
        with self._lock:
            return [r for r in self.received if r.path == path]

    # -- lifecycle

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    # -- request handling

    def _pick(self, path: str, query: Mapping[str, str]) -> Reply:
        with self._lock:
            candidates = [r for r in self.routes if r.matches(path, query)]
            if not candidates:
                return Reply(418, b"no route for this request", "text/plain")
            best = max(candidates, key=lambda r: len(r.query))
            return best.next_reply()

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stall per answer

            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                reply = server._pick(parts.path, query)
                server._record(Received(path=parts.path, query=query,
                                        headers={k: v for k, v in self.headers.items()},
                                        status=reply.status, raw_path=self.path))
                if reply.echo:
                    reply = replace(reply, body=reply.body.replace(
                        b"{request}", self.path.encode("latin-1")).replace(
                        b"{agent}", self.headers.get("User-Agent", "").encode("latin-1")))
                if reply.hang and server._stopping.wait(reply.hang):
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                if reply.content_type is not None:
                    self.send_header("Content-Type", reply.content_type)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.chunked:
                    self._send_chunked(reply.body)
                    return
                length = reply.declared_length if reply.declared_length is not None \
                    else len(reply.body)
                self.send_header("Content-Length", str(length))
                cut = reply.declared_length is not None and reply.declared_length > len(reply.body)
                if cut:
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass
                if cut:
                    self.close_connection = True

            def _send_chunked(self, body: bytes, size: int = 65536) -> None:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for start in range(0, len(body), size):
                        part = body[start:start + size]
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            def log_message(self, fmt: str, *args: Any) -> None:
                return

        return Handler
