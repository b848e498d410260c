"""Crossref REST API: works of a journal (by ISSN) or of a query, deep-paged with cursors.

``/journals/{issn}/works`` (or ``/works`` with ``query``/``filter``), ``rows`` <= 1000,
``cursor=*`` then ``message.next-cursor`` until a page holds fewer items than ``rows``.
Incremental runs pass ``from_index_date`` (the stored watermark minus an overlap window).

Politeness: the ``mailto`` parameter puts requests in the polite pool; it is a secret
(never in manifests, logs or errors). Since December 2025 list queries are limited to about
3 requests/s in the polite pool and 1/s in the public pool; on top of the shared
``throttle``, pages are paced by that default or by the ``x-rate-limit-limit`` /
``x-rate-limit-interval`` headers when they ask for less.

Cursor expiry: a cursor left idle for ~5 minutes stops working and Crossref answers 404
with a ``cursor-invalid`` envelope. :class:`CursorExpiredError` is raised; the caller must
restart the harvest from its watermark (``from_index_date``), not resume: pages already
landed are simply fetched again and deduplicated downstream.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

import requests

from sources.http import FetchedResponse, FetchError, Throttle, fetch, redact_text
from transforms.normalise import normalise_issn

BASE_URL = "https://api.crossref.org"
KIND = "works"
MAX_ROWS = 1000
FIRST_CURSOR = "*"
#: Seconds between list requests when the headers say nothing stricter.
POLITE_INTERVAL = 1 / 3
PUBLIC_INTERVAL = 1.0
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$", re.I)
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


class CrossrefResponseError(FetchError):
    """A 200 answer that is not a usable Crossref work-list page (not JSON, error envelope)."""


class CursorExpiredError(FetchError):
    """The deep-paging cursor expired or became invalid mid-harvest.

    Restart the harvest from the watermark (``from_index_date``); a cursor cannot be renewed.
    """


def parse_rate_limit_headers(headers: Mapping[str, str]) -> float | None:
    """Requests per second allowed by ``x-rate-limit-limit`` / ``x-rate-limit-interval``.

    Args:
        headers: Response headers (any case), e.g. ``{"X-Rate-Limit-Limit": "50",
            "X-Rate-Limit-Interval": "1s"}``.

    Returns:
        ``limit / interval-seconds``, or None when the headers are absent or malformed.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    limit_text = lowered.get("x-rate-limit-limit")
    interval_text = lowered.get("x-rate-limit-interval", "1s")
    try:
        limit = float(limit_text) if limit_text is not None else None
    except ValueError:
        return None
    match = _INTERVAL.match(interval_text or "")
    if limit is None or limit <= 0 or not match:
        return None
    seconds = float(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    return limit / seconds if seconds > 0 else None


@dataclass
class _Pacer:
    """Keeps at least ``interval`` seconds between request starts (within one harvest)."""

    interval: float
    sleep: Callable[[float], None]
    clock: Callable[[], float] = time.monotonic
    last: float | None = None

    def wait(self) -> None:
        if self.last is not None:
            remaining = self.last + self.interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self.last = self.clock()

    def allow(self, rate: float | None, floor: float) -> None:
        """Adopt the provider's advertised rate, never faster than ``floor`` seconds."""
        self.interval = max(floor, 1.0 / rate) if rate else floor


def _filter_param(filters: Mapping[str, str] | None, from_index_date: date | None) -> str | None:
    parts = [f"{key}:{value}" for key, value in (filters or {}).items()]
    if from_index_date is not None:
        parts.append(f"from-index-date:{from_index_date.isoformat()}")
    return ",".join(parts) or None


def _is_cursor_failure(exc: FetchError) -> bool:
    if exc.status not in (400, 404) or not exc.body:
        return False
    try:
        envelope = json.loads(exc.body.decode("utf-8", "replace"))
    except ValueError:
        return False
    problems = envelope.get("message") if isinstance(envelope, dict) else None
    if not isinstance(problems, list):
        return False
    return any(isinstance(p, dict) and "cursor" in str(p.get("type", "")).lower()
               for p in problems)


def _page_message(response: FetchedResponse, secrets: tuple[str, ...]) -> dict[str, Any]:
    try:
        envelope = json.loads(response.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        snippet = redact_text(response.body[:200].decode("utf-8", "replace"), secrets)
        msg = f"GET {response.url}: answer is not Crossref JSON: {snippet!r}"
        raise CrossrefResponseError(msg, status=response.status, body=response.body) from exc
    message = envelope.get("message") if isinstance(envelope, dict) else None
    if (not isinstance(envelope, dict) or envelope.get("status") != "ok"
            or envelope.get("message-type") != "work-list" or not isinstance(message, dict)):
        summary = redact_text(response.body[:300].decode("utf-8", "replace"), secrets)
        msg = f"GET {response.url}: not an 'ok' Crossref work-list: {summary!r}"
        raise CrossrefResponseError(msg, status=response.status, body=response.body)
    return message


def iter_crossref_works(
    session: requests.Session,
    *,
    base_url: str = BASE_URL,
    issn: str | None = None,
    query: str | None = None,
    filters: dict[str, str] | None = None,
    from_index_date: date | None = None,
    rows: int = MAX_ROWS,
    mailto: str | None = None,
    throttle: Throttle,
    max_pages: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FetchedResponse]:
    """Yield every work-list page of a journal or query, unchanged.

    Args:
        session: HTTP session (its User-Agent carries the contact address).
        base_url: API root (tests point it at 127.0.0.1).
        issn: Journal ISSN: pages ``/journals/{issn}/works``; else ``/works``.
        query: Free-text ``query``.
        filters: Crossref filters, e.g. ``{"type": "journal-article"}``.
        from_index_date: Incremental lower bound (``from-index-date`` filter).
        rows: Page size, 1..1000.
        mailto: Polite-pool contact address (a secret: never logged).
        throttle: Shared rate limit, called before every request.
        max_pages: Stop after this many pages (None: until the end).
        sleep: Injected for tests (retries and pacing).

    Yields:
        One response per page (``kind="works"``), the last one possibly empty.

    Raises:
        ValueError: ``rows`` out of range, a malformed ISSN, or nothing to select by.
        CursorExpiredError: The cursor expired mid-harvest; restart from the watermark.
        CrossrefResponseError: A 200 answer that is not a Crossref work-list.
        FetchError: The request failed for good (after retries for 429/5xx).
    """
    if not 1 <= rows <= MAX_ROWS:
        raise ValueError(f"rows must be between 1 and {MAX_ROWS}, got {rows}")
    if issn is None and query is None and not filters:
        msg = "give an issn, a query or filters: an open /works harvest is all of Crossref"
        raise ValueError(msg)
    path = "/works"
    if issn is not None:
        path = f"/journals/{quote(str(normalise_issn(issn, strict=True)))}/works"
    params: dict[str, str | int] = {"rows": rows}
    if query:
        params["query"] = query
    filter_value = _filter_param(filters, from_index_date)
    if filter_value:
        params["filter"] = filter_value
    if mailto:
        params["mailto"] = mailto
    secrets = tuple(s for s in (mailto,) if s)
    floor = POLITE_INTERVAL if mailto else PUBLIC_INTERVAL
    pacer = _Pacer(interval=floor, sleep=sleep)
    url = base_url.rstrip("/") + path
    cursor = FIRST_CURSOR
    pages = 0
    while max_pages is None or pages < max_pages:
        pacer.wait()
        try:
            response = fetch(session, url, params={**params, "cursor": cursor}, kind=KIND,
                             throttle=throttle, secrets=secrets, sleep=sleep)
        except FetchError as exc:
            if cursor != FIRST_CURSOR and _is_cursor_failure(exc):
                msg = (f"Crossref cursor expired or invalid after {pages} page(s) of {url}; "
                       "restart the harvest from the watermark")
                raise CursorExpiredError(msg, status=exc.status, body=exc.body) from exc
            raise
        pacer.allow(parse_rate_limit_headers(response.headers), floor)
        message = _page_message(response, secrets)
        yield response
        pages += 1
        items = message.get("items") or []
        next_cursor = message.get("next-cursor")
        if len(items) < rows or not next_cursor:
            return
        cursor = str(next_cursor)
