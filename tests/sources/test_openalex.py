"""OpenAlex source over real HTTP (pytest-httpserver) with recorded OpenAlex bodies."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer

from sources.http import FetchError, RateLimitExhaustedError, build_session, no_throttle
from sources.landing import BatchWriter
from sources.openalex import (
    OpenAlexResponseError,
    fetch_rate_limit_status,
    is_budget_exhausted,
    iter_openalex_works,
    next_utc_midnight,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openalex"
API_KEY = "oa-secret-key-0123456789"
MAILTO = "harvester@example.org"
JSON = "application/json"
FILTER = "openalex:W3045921891|W3046863325"
PAGE1 = "works_list_filter_openalex_ids_cursor_page1.json"
LAST = "works_list_cursor_last_page_empty_results.json"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(autouse=True)
def _unmatched_requests_fail_fast(httpserver: HTTPServer) -> None:
    httpserver.no_handler_status_code = 418


@pytest.fixture
def session() -> requests.Session:
    return build_session()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def query(cursor: str, **extra: str) -> dict[str, str]:
    return {"filter": FILTER, "per_page": "100", "api_key": API_KEY, "mailto": MAILTO,
            "cursor": cursor, **extra}


def works(session: requests.Session, httpserver: HTTPServer, sleep: object, **kwargs: object):
    options = {"filter": FILTER, "api_key": API_KEY, "mailto": MAILTO, **kwargs}
    return list(iter_openalex_works(session, base_url=httpserver.url_for("/"),
                                    throttle=no_throttle, sleep=sleep, **options))


def test_cursor_paging_until_the_empty_last_page(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    cursor = json.loads(body(PAGE1))["meta"]["next_cursor"]
    httpserver.expect_ordered_request("/works", query_string=query("*")).respond_with_data(
        body(PAGE1), content_type=JSON)
    httpserver.expect_ordered_request("/works", query_string=query(cursor)).respond_with_data(
        body(LAST), content_type=JSON)
    pages = works(session, httpserver, sleeps.append)
    httpserver.check_assertions()
    assert [len(json.loads(p.body)["results"]) for p in pages] == [2, 0]
    assert pages[0].body == body(PAGE1)
    assert {p.kind for p in pages} == {"works"}
    for page in pages:
        assert API_KEY not in page.url and "api_key" not in page.url
        assert MAILTO not in page.url
    assert sleeps == []


def test_incremental_filter_and_search(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/works", query_string={
        "filter": "type:article,from_updated_date:2026-02-01", "search": "medical education",
        "per_page": "50", "api_key": API_KEY, "cursor": "*",
    }).respond_with_data(body(LAST), content_type=JSON)
    pages = works(session, httpserver, lambda _: None, filter="type:article",
                  search="medical education", per_page=50, mailto=None,
                  from_updated_date=date(2026, 2, 1))
    assert len(pages) == 1 and len(httpserver.log) == 1


def test_max_pages(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_request("/works").respond_with_data(body(PAGE1), content_type=JSON)
    assert len(works(session, httpserver, lambda _: None, max_pages=1)) == 1
    assert len(httpserver.log) == 1


def test_too_fast_429_waits_retry_after_then_succeeds(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    httpserver.expect_oneshot_request("/works").respond_with_json(
        {"error": "Too many requests", "message": "Slow down: max 100 requests per second"},
        status=429, headers={"Retry-After": "7", "X-RateLimit-Remaining": "9000"})
    httpserver.expect_request("/works").respond_with_data(body(LAST), content_type=JSON)
    pages = works(session, httpserver, sleeps.append)
    assert len(pages) == 1 and pages[0].attempts == 2
    assert sleeps == [7.0]


def test_429_without_headers_backs_off(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    httpserver.expect_oneshot_request("/works").respond_with_data("Too Many Requests", status=429)
    httpserver.expect_request("/works").respond_with_data(body(LAST), content_type=JSON)
    assert len(works(session, httpserver, sleeps.append)) == 1
    assert sleeps == [1.0]


def test_budget_exhausted_429_stops_without_retrying(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    httpserver.expect_request("/works").respond_with_json(
        {"error": "Rate limit exceeded", "message": f"api_key={API_KEY} used its daily budget"},
        status=429, headers={"X-RateLimit-Limit": "1.0", "X-RateLimit-Remaining": "0",
                             "X-RateLimit-Reset": "1772496000"})
    with pytest.raises(RateLimitExhaustedError) as info:
        works(session, httpserver, sleeps.append)
    assert info.value.reset_at == datetime(2026, 3, 3, tzinfo=UTC)
    assert info.value.status == 429
    assert len(httpserver.log) == 1 and sleeps == []
    assert API_KEY not in str(info.value) and MAILTO not in str(info.value)
    assert "budget exhausted until 2026-03-03" in str(info.value)


def test_400_invalid_filter_is_a_clear_error_without_the_key(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/works").respond_with_data(
        body("error_400_works_invalid_filter_field.json"), status=400, content_type=JSON)
    with pytest.raises(FetchError, match="HTTP 400: .*Invalid query parameters") as info:
        works(session, httpserver, lambda _: None, filter="DOESNTEXIST:1")
    assert info.value.status == 400
    assert API_KEY not in str(info.value) and MAILTO not in str(info.value)
    assert len(httpserver.log) == 1


def test_200_that_is_not_a_results_page(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_request("/works").respond_with_data(
        body("works_group_by_type.json"), content_type=JSON)
    with pytest.raises(OpenAlexResponseError, match="not an OpenAlex results page"):
        works(session, httpserver, lambda _: None)


def test_secrets_never_reach_the_landing_manifest(
    httpserver: HTTPServer, session: requests.Session, tmp_path: Path
) -> None:
    httpserver.expect_request("/works").respond_with_data(body(LAST), content_type=JSON)
    with BatchWriter(tmp_path, "openalex", params={"filter": FILTER, "api_key": API_KEY}) as batch:
        for page in works(session, httpserver, lambda _: None):
            batch.add(page)
    text = (batch.path / "manifest.json").read_text()
    assert API_KEY not in text and MAILTO not in text and "api_key" not in text


@pytest.mark.parametrize(
    "kwargs",
    [{"per_page": 101}, {"per_page": 0}, {"filter": None}, {"filter": ""}],
)
def test_bad_arguments_fail_before_any_request(
    httpserver: HTTPServer, session: requests.Session, kwargs: dict
) -> None:
    with pytest.raises(ValueError):
        works(session, httpserver, lambda _: None, **kwargs)
    assert httpserver.log == []


def test_rate_limit_status(httpserver: HTTPServer, session: requests.Session) -> None:
    httpserver.expect_request("/rate-limit", query_string={"api_key": API_KEY}).respond_with_data(
        body("rate_limit_status_200.json"), content_type=JSON)
    status = fetch_rate_limit_status(session, base_url=httpserver.url_for("/"), api_key=API_KEY)
    assert status["daily_remaining_usd"] == 0.998
    assert status["resets_at"] == "2026-03-03T00:00:00Z"
    assert "api_key" not in status


def test_rate_limit_status_with_a_bad_key(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/rate-limit").respond_with_data(
        body("error_401_rate_limit_invalid_api_key.json"), status=401, content_type=JSON)
    with pytest.raises(FetchError, match="HTTP 401: .*Invalid or missing API key") as info:
        fetch_rate_limit_status(session, base_url=httpserver.url_for("/"), api_key=API_KEY)
    assert API_KEY not in str(info.value)


NOW = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def _served(httpserver: HTTPServer, status: int, headers: dict[str, str],
            payload: dict | None) -> requests.Response:
    """A real response from the test server (read fully, so the body is available)."""
    handler = httpserver.expect_oneshot_request("/probe")
    if payload is None:
        handler.respond_with_data("", status=status, headers=headers)
    else:
        handler.respond_with_json(payload, status=status, headers=headers)
    return requests.get(httpserver.url_for("/probe"), timeout=5)


@pytest.mark.parametrize(
    ("status", "headers", "payload", "expected"),
    [
        (200, {"X-RateLimit-Remaining": "0"}, None, None),
        (429, {}, None, None),
        (429, {"Retry-After": "2"}, {"error": "Rate limit exceeded"}, None),
        (429, {"X-RateLimit-Remaining": "5"}, None, None),
        (429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1772496000"}, None,
         datetime(2026, 3, 3, tzinfo=UTC)),
        (429, {"X-RateLimit-Remaining": "0.0000", "X-RateLimit-Reset": "120"}, None,
         NOW + timedelta(seconds=120)),
        (429, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "Tue, 03 Mar 2026 00:00:00 GMT"},
         None, datetime(2026, 3, 3, tzinfo=UTC)),
        (429, {"X-RateLimit-Remaining": "0"}, None, datetime(2026, 3, 3, tzinfo=UTC)),
        (429, {}, {"error": "Rate limit exceeded", "message": "Daily budget of $1 exhausted",
                   "resets_at": "2026-03-03T00:00:00Z"}, datetime(2026, 3, 3, tzinfo=UTC)),
        (429, {}, {"error": "Insufficient credits", "resets_in_seconds": 60},
         NOW + timedelta(seconds=60)),
    ],
)
def test_is_budget_exhausted(httpserver: HTTPServer, status: int, headers: dict[str, str],
                             payload: dict | None, expected: datetime | None) -> None:
    response = _served(httpserver, status, headers, payload)
    assert is_budget_exhausted(response, now=NOW) == expected


def test_next_utc_midnight() -> None:
    assert next_utc_midnight(datetime(2026, 3, 2, 23, 59, tzinfo=UTC)) == datetime(
        2026, 3, 3, tzinfo=UTC)
