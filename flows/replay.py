"""A replay server on 127.0.0.1 for recorded or hand-made responses (demos and tests).

Each folder under the fixtures root (nested folders too, e.g. ``replay/crossref``) may hold
a ``routes.json``: either an object mapping ``"/path?query"`` (or ``"/path"``) to a
response, or a list of routes ``{"path": ..., "params": {...}, "file": ..., "status": 200,
"content_type": ..., "headers": {...}}`` (bare, or as ``{"routes": [...]}`` next to other
keys) where ``params`` must be a subset of the request's query. Folders are mounted at
``/<folder path>/`` unless the routes file says ``"mount": "/"`` (a journal site).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit


class RouteFileError(ValueError):
    """A routes.json is malformed or points at a missing file."""


@dataclass(frozen=True)
class Route:
    path: str
    params: tuple[tuple[str, str], ...]
    body_file: Path
    status: int
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass
class RequestLog:
    """Requests the server answered (path, query, status, monotonic time)."""

    entries: list[tuple[str, str, int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, path: str, query: str, status: int) -> None:
        with self.lock:
            self.entries.append((path, query, status, time.monotonic()))

    def rate(self, *, start: int = 0) -> float | None:
        """Requests per second actually reached by the requests from index ``start`` on."""
        times = [t for _, _, _, t in self.entries[start:]]
        if len(times) < 2 or times[-1] == times[0]:
            return None
        return (len(times) - 1) / (times[-1] - times[0])


def _parse_routes(folder: Path, mount: str, raw: Any) -> list[Route]:
    items: list[dict[str, Any]] = []
    if isinstance(raw, dict) and "routes" in raw:
        raw = raw["routes"]
    if isinstance(raw, dict):
        for key, spec in raw.items():
            if key == "mount":
                continue
            path, _, query = key.partition("?")
            items.append({**spec, "path": path, "params": dict(parse_qsl(query))})
    elif isinstance(raw, list):
        items = raw
    else:
        raise RouteFileError(f"{folder}/routes.json must be an object or a list")
    routes = []
    for item in items:
        body = folder / item["file"]
        if not body.exists():
            raise RouteFileError(f"{folder}/routes.json names a missing file {item['file']}")
        path = item["path"] if mount == "/" else mount.rstrip("/") + item["path"]
        routes.append(Route(
            path=path, params=tuple(sorted((item.get("params") or {}).items())),
            body_file=body, status=int(item.get("status", 200)),
            content_type=item.get("content_type", "text/html; charset=utf-8"),
            headers=tuple((item.get("headers") or {}).items()),
        ))
    return routes


def load_routes(root: Path, providers: list[str] | None = None, *,
                mounts: dict[str, str] | None = None) -> list[Route]:
    """Routes of every folder under ``root`` with a routes.json (or only ``providers``).

    A folder is named by its path relative to ``root`` (``"magtech"``,
    ``"replay/crossref"``) and served at ``/<that path>`` unless its routes file or
    ``mounts`` says otherwise (e.g. ``{"magtech": "/"}`` for a journal site).

    Raises:
        RouteFileError: A named folder has no routes.json, or a routes file is malformed.
    """
    mounts = mounts or {}
    if providers is None:
        routes_files = sorted(root.glob("**/routes.json"))
    else:
        routes_files = [root / folder / "routes.json" for folder in dict.fromkeys(providers)]
        missing = [str(f) for f in routes_files if not f.is_file()]
        if missing:
            raise RouteFileError(f"no routes.json for {', '.join(missing)}")
    routes: list[Route] = []
    for routes_file in routes_files:
        folder = routes_file.parent
        name = folder.relative_to(root).as_posix()
        try:
            raw = json.loads(routes_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise RouteFileError(f"{routes_file} is not valid JSON: {exc}") from exc
        default = f"/{name}"
        mount = raw.get("mount", default) if isinstance(raw, dict) else default
        mount = mounts.get(name, mount)
        routes += _parse_routes(folder, mount, raw)
    return routes


def match_route(routes: list[Route], path: str, query: dict[str, str]) -> Route | None:
    """The most specific route for a request (most matching params wins)."""
    best: Route | None = None
    for route in routes:
        if route.path != path:
            continue
        if all(query.get(k) == v for k, v in route.params) and (
                best is None or len(route.params) > len(best.params)):
            best = route
    return best


class ReplayServer:
    """Serve routes on 127.0.0.1 in a background thread; use as a context manager."""

    def __init__(self, routes: list[Route], *, port: int = 0) -> None:
        self.routes = routes
        self.log = RequestLog()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server API
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                route = match_route(server.routes, parts.path, query)
                if route is None:
                    body, status, ctype, headers = b"Not found", 404, "text/plain", ()
                else:
                    body, status = route.body_file.read_bytes(), route.status
                    ctype, headers = route.content_type, route.headers
                server.log.add(parts.path, parts.query, status)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers:
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> ReplayServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
