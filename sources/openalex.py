"""OpenAlex ``/works``: filtered or searched lists, cursor-paged, within a daily budget.

``per_page`` <= 100, ``cursor=*`` then ``meta.next_cursor`` until it is null or a page is
empty. Incremental runs add ``from_updated_date:`` to the filter. The API key (required
since February 2026) travels as the ``api_key`` query parameter and is a secret: it is
never written to manifests, logs or error messages.

Two kinds of 429: "too fast" (more than the per-second limit; back off and retry, honouring
Retry-After; :func:`sources.http.fetch` does that) and "daily budget spent"
(``X-RateLimit-Remaining: 0`` or a body that says so): :func:`is_budget_exhausted` tells
them apart and :class:`~sources.http.RateLimitExhaustedError` is raised with the reset time
so the flow stops until then instead of burning retries.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import requests

from sources.http import FetchedResponse, FetchError, Throttle, fetch, no_throttle, redact_text

BASE_URL = "https://api.openalex.org"
KIND = "works"
MAX_PER_PAGE = 100
FIRST_CURSOR = "*"
#: Words in a 429 body that mean the period's budget (not the per-second rate) is spent.
BUDGET_WORDS: tuple[str, ...] = ("daily", "budget", "credit", "per day", "quota", "insufficient")
_EPOCH_THRESHOLD = 1_000_000_000  # an X-RateLimit-Reset above this is a Unix timestamp


class OpenAlexResponseError(FetchError):
    """A 200 answer that is not a usable OpenAlex page (not JSON, an error body)."""


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _json_body(response: requests.Response) -> dict[str, Any]:
    try:
        data = json.loads(response.content.decode("utf-8", "replace"))
    except (RuntimeError, ValueError, AttributeError):  # RuntimeError: stream consumed
        return {}
    return data if isinstance(data, dict) else {}


def _parse_when(value: Any, now: datetime) -> datetime | None:
    """A reset given as epoch seconds, seconds from now, ISO 8601 or an HTTP date."""
    number = _number(value)
    if number is not None:
        if number >= _EPOCH_THRESHOLD:
            return datetime.fromtimestamp(number, UTC)
        return now + timedelta(seconds=max(0.0, number))
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def next_utc_midnight(now: datetime) -> datetime:
    """OpenAlex daily budgets reset at midnight UTC."""
    return (now.astimezone(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)


def is_budget_exhausted(
    response: requests.Response, *, now: datetime | None = None
) -> datetime | None:
    """For a 429, the reset time when the daily budget is spent; None when merely too fast.

    Budget spent: ``X-RateLimit-Remaining`` is 0 (or below), or the JSON body speaks of a
    daily budget/credits/quota. The reset comes from ``X-RateLimit-Reset`` (epoch seconds,
    seconds to go, or a date), the body's ``resets_at``/``resets_in_seconds``, Retry-After,
    or else the next midnight UTC.

    Args:
        response: The 429 response.
        now: Injected for tests.

    Returns:
        When the budget resets, or None (a "slow down" 429, or not a 429 at all).
    """
    if response.status_code != 429:
        return None
    now = now or datetime.now(UTC)
    headers = response.headers
    remaining = _number(headers.get("X-RateLimit-Remaining"))
    body = _json_body(response)
    limits = body.get("rate_limit") if isinstance(body.get("rate_limit"), dict) else body
    text = " ".join(str(body.get(k, "")) for k in ("error", "message")).lower()
    exhausted = (remaining is not None and remaining <= 0) or any(w in text for w in BUDGET_WORDS)
    if not exhausted:
        return None
    for candidate in (headers.get("X-RateLimit-Reset"), limits.get("resets_at"),
                      limits.get("resets_in_seconds"), headers.get("Retry-After")):
        when = _parse_when(candidate, now)
        if when is not None:
            return when
    return next_utc_midnight(now)


def _page(response: FetchedResponse, secrets: tuple[str, ...]) -> tuple[list[Any], str | None]:
    try:
        data = json.loads(response.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        snippet = redact_text(response.body[:200].decode("utf-8", "replace"), secrets)
        msg = f"GET {response.url}: answer is not OpenAlex JSON: {snippet!r}"
        raise OpenAlexResponseError(msg, status=response.status, body=response.body) from exc
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, list):
        summary = redact_text(response.body[:300].decode("utf-8", "replace"), secrets)
        msg = f"GET {response.url}: not an OpenAlex results page: {summary!r}"
        raise OpenAlexResponseError(msg, status=response.status, body=response.body)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    next_cursor = meta.get("next_cursor")
    return results, str(next_cursor) if next_cursor else None


def iter_openalex_works(
    session: requests.Session,
    *,
    base_url: str = BASE_URL,
    filter: str | None = None,  # the API's own parameter name
    search: str | None = None,
    per_page: int = MAX_PER_PAGE,
    api_key: str | None,
    mailto: str | None,
    from_updated_date: date | None = None,
    throttle: Throttle,
    max_pages: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FetchedResponse]:
    """Yield every ``/works`` page of a filter or search, unchanged.

    Args:
        session: HTTP session.
        base_url: API root (tests point it at 127.0.0.1).
        filter: OpenAlex filter, e.g. ``"primary_location.source.issn:0021-9746"``.
        search: Full-text search (costs more budget than a filter).
        per_page: Page size, 1..100.
        api_key: OpenAlex API key (a secret), or None for the tiny keyless allowance.
        mailto: Contact address (a secret too).
        from_updated_date: Incremental lower bound (``from_updated_date:`` filter).
        throttle: Shared rate limit, called before every request.
        max_pages: Stop after this many pages.
        sleep: Injected for tests (retry waits).

    Yields:
        One response per page (``kind="works"``), the last one possibly empty.

    Raises:
        ValueError: ``per_page`` out of range or nothing to select by.
        RateLimitExhaustedError: The daily budget is spent (``reset_at`` says until when).
        OpenAlexResponseError: A 200 answer that is not a results page.
        FetchError: The request failed for good.
    """
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
    if not filter and not search:
        raise ValueError("give a filter or a search: an open /works harvest is all of OpenAlex")
    filters = [f for f in (filter,) if f]
    if from_updated_date is not None:
        filters.append(f"from_updated_date:{from_updated_date.isoformat()}")
    params: dict[str, str | int] = {"per_page": per_page}
    if filters:
        params["filter"] = ",".join(filters)
    if search:
        params["search"] = search
    if api_key:
        params["api_key"] = api_key
    if mailto:
        params["mailto"] = mailto
    secrets = tuple(s for s in (api_key, mailto) if s)
    url = base_url.rstrip("/") + "/works"
    cursor = FIRST_CURSOR
    pages = 0
    while max_pages is None or pages < max_pages:
        response = fetch(session, url, params={**params, "cursor": cursor}, kind=KIND,
                         throttle=throttle, secrets=secrets,
                         is_budget_exhausted=is_budget_exhausted, sleep=sleep)
        results, next_cursor = _page(response, secrets)
        yield response
        pages += 1
        if not results or not next_cursor:
            return
        cursor = next_cursor


def fetch_rate_limit_status(
    session: requests.Session,
    *,
    base_url: str = BASE_URL,
    api_key: str | None,
    throttle: Throttle = no_throttle,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The key's budget from ``/rate-limit`` (free to call).

    Returns:
        The ``rate_limit`` object, e.g. ``{"daily_budget_usd": 1.0, "daily_remaining_usd":
        0.998, "resets_at": "2026-03-03T00:00:00Z", ...}``; the echoed key is dropped.

    Raises:
        FetchError: 401 for a missing/invalid key, or a body that is not the status JSON.
    """
    secrets = tuple(s for s in (api_key,) if s)
    params = {"api_key": api_key} if api_key else {}
    response = fetch(session, base_url.rstrip("/") + "/rate-limit", params=params,
                     kind="rate-limit", throttle=throttle, secrets=secrets, sleep=sleep)
    try:
        data = json.loads(response.body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        msg = f"GET {response.url}: rate-limit answer is not JSON"
        raise OpenAlexResponseError(msg, status=response.status, body=response.body) from exc
    status = data.get("rate_limit") if isinstance(data, Mapping) else None
    if not isinstance(status, Mapping):
        msg = f"GET {response.url}: rate-limit answer has no 'rate_limit' object"
        raise OpenAlexResponseError(msg, status=response.status, body=response.body)
    return {k: v for k, v in status.items() if k != "api_key"}
