"""Crossref source over real HTTP (pytest-httpserver) with recorded Crossref bodies."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer

from sources.crossref import (
    CrossrefResponseError,
    CursorExpiredError,
    iter_crossref_works,
    parse_rate_limit_headers,
)
from sources.http import FetchError, build_session, no_throttle
from sources.landing import BatchWriter, iter_bodies, read_manifest

FIXTURES = Path(__file__).parent.parent / "fixtures" / "crossref"
MAILTO = "harvester@example.org"
JSON = "application/json;charset=utf-8"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def next_cursor(name: str) -> str:
    return json.loads(body(name))["message"]["next-cursor"]


@pytest.fixture(autouse=True)
def _unmatched_requests_fail_fast(httpserver: HTTPServer) -> None:
    httpserver.no_handler_status_code = 418  # not retried, so a wrong request fails at once


@pytest.fixture
def session() -> requests.Session:
    return build_session()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def widget_pages(httpserver: HTTPServer, *, headers: dict[str, str] | None = None) -> None:
    """page 1 -> page 2 -> empty page, each chosen by the cursor the previous one returned."""
    base = {"query": "widget", "rows": "20", "mailto": MAILTO}
    page1 = "works_list_cursor_page1_query_widget.json"
    page2 = "works_list_cursor_page2_query_widget.json"
    for cursor, name in (("*", page1), (next_cursor(page1), page2),
                         (next_cursor(page2), "works_list_query_adfaaf_zero_results.json")):
        httpserver.expect_ordered_request(
            "/works", method="GET", query_string={**base, "cursor": cursor},
        ).respond_with_data(body(name), content_type=JSON, headers=headers or {})


def test_cursor_paging_follows_next_cursor_until_an_empty_page(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    widget_pages(httpserver)
    pages = list(iter_crossref_works(
        session, base_url=httpserver.url_for("/"), query="widget", rows=20, mailto=MAILTO,
        throttle=no_throttle, sleep=sleeps.append,
    ))
    httpserver.check_assertions()
    assert [len(json.loads(p.body)["message"]["items"]) for p in pages] == [20, 20, 0]
    assert pages[0].body == body("works_list_cursor_page1_query_widget.json")  # unchanged
    assert {p.kind for p in pages} == {"works"}
    assert {p.status for p in pages} == {200}
    for page in pages:
        assert MAILTO not in page.url and "mailto" not in page.url
        assert "query=widget" in page.url and "cursor=" in page.url
    # polite-pool pacing (3 req/s) between the three requests
    assert len(sleeps) == 2 and all(0 < s <= 1 / 3 for s in sleeps)


def test_rate_limit_headers_slow_the_pace(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    widget_pages(httpserver, headers={"X-Rate-Limit-Limit": "1", "X-Rate-Limit-Interval": "1s"})
    pages = list(iter_crossref_works(
        session, base_url=httpserver.url_for("/"), query="widget", rows=20, mailto=MAILTO,
        throttle=no_throttle, sleep=sleeps.append,
    ))
    assert len(pages) == 3
    assert len(sleeps) == 2 and all(1 / 3 < s <= 1.0 for s in sleeps)


def test_throttle_is_called_before_every_request(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    widget_pages(httpserver)
    calls: list[int] = []
    pages = list(iter_crossref_works(
        session, base_url=httpserver.url_for("/"), query="widget", rows=20, mailto=MAILTO,
        throttle=lambda: calls.append(1), sleep=lambda _: None,
    ))
    assert len(calls) == len(pages) == 3


def test_journal_works_with_filters_and_incremental_date(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    httpserver.expect_request(
        "/journals/1803-2427/works",
        query_string={"rows": "1000", "cursor": "*",
                      "filter": "type:journal-article,from-index-date:2026-02-01"},
    ).respond_with_data(body("journals_1803-2427_works.json"), content_type=JSON)
    pages = list(iter_crossref_works(
        session, base_url=httpserver.url_for("/"), issn="18032427",
        filters={"type": "journal-article"}, from_index_date=date(2026, 2, 1),
        throttle=no_throttle, sleep=sleeps.append,
    ))
    # 20 items < rows=1000: the last page, although total-results is 49
    assert len(pages) == 1 and len(httpserver.log) == 1
    assert "/journals/1803-2427/works" in pages[0].url
    assert sleeps == []


def test_max_pages_stops_early(httpserver: HTTPServer, session: requests.Session) -> None:
    widget_pages(httpserver)
    pages = list(iter_crossref_works(
        session, base_url=httpserver.url_for("/"), query="widget", rows=20, mailto=MAILTO,
        throttle=no_throttle, max_pages=1, sleep=lambda _: None,
    ))
    assert len(pages) == 1 and len(httpserver.log) == 1


def test_expired_cursor_raises_cursor_expired(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    page1 = "works_list_cursor_page1_query_widget.json"
    httpserver.expect_ordered_request("/works", query_string={
        "query": "widget", "rows": "20", "mailto": MAILTO, "cursor": "*",
    }).respond_with_data(body(page1), content_type=JSON)
    httpserver.expect_ordered_request("/works", query_string={
        "query": "widget", "rows": "20", "mailto": MAILTO, "cursor": next_cursor(page1),
    }).respond_with_data(body("error_404_works_bad_cursor.json"), status=404, content_type=JSON)
    landed = []
    with pytest.raises(CursorExpiredError, match="restart the harvest from the watermark") as info:
        for page in iter_crossref_works(
            session, base_url=httpserver.url_for("/"), query="widget", rows=20, mailto=MAILTO,
            throttle=no_throttle, sleep=lambda _: None,
        ):
            landed.append(page)
    assert len(landed) == 1
    assert info.value.status == 404
    assert isinstance(info.value, FetchError)
    assert MAILTO not in str(info.value) and MAILTO not in str(info.value.__cause__)


def test_unknown_journal_404_plain_text_is_a_clear_fetch_error(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/journals/1673-677X/works").respond_with_data(
        body("error_404_works_notarealdoi.txt"), status=404, content_type="text/plain")
    with pytest.raises(FetchError, match="HTTP 404: 'Resource not found.'") as info:
        list(iter_crossref_works(
            session, base_url=httpserver.url_for("/"), issn="1673-677x", mailto=MAILTO,
            throttle=no_throttle, sleep=lambda _: None,
        ))
    assert not isinstance(info.value, CursorExpiredError)
    assert info.value.status == 404
    assert MAILTO not in str(info.value)
    assert len(httpserver.log) == 1  # a 404 is not retried


def test_validation_failure_400_names_the_problem_without_the_mailto(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/works").respond_with_data(
        body("error_400_works_sample_200.json"), status=400, content_type=JSON)
    with pytest.raises(FetchError, match="HTTP 400: .*validation-failure") as info:
        list(iter_crossref_works(
            session, base_url=httpserver.url_for("/"), query="x", mailto=MAILTO,
            throttle=no_throttle, sleep=lambda _: None,
        ))
    assert MAILTO not in str(info.value)


def test_500_with_stack_trace_is_retried_then_fails(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    httpserver.expect_request("/works").respond_with_data(
        body("error_500_works_cursor_5_exception.json"), status=500, content_type=JSON)
    with pytest.raises(FetchError, match="failed after 5 attempts: HTTP 500") as info:
        list(iter_crossref_works(
            session, base_url=httpserver.url_for("/"), query="x", mailto=MAILTO,
            throttle=no_throttle, sleep=sleeps.append,
        ))
    assert len(httpserver.log) == 5
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    assert MAILTO not in str(info.value)


def test_nginx_504_html_is_retried_then_succeeds(
    httpserver: HTTPServer, session: requests.Session, sleeps: list[float]
) -> None:
    httpserver.expect_oneshot_request("/works").respond_with_data(
        body("error_504_gateway_timeout_journals_facet.html"), status=504,
        content_type="text/html")
    httpserver.expect_request("/works").respond_with_data(
        body("works_list_query_ecology_rows2_plain_abstract.json"), content_type=JSON)
    pages = list(iter_crossref_works(
        session, base_url=httpserver.url_for("/"), query="ecology", mailto=MAILTO,
        throttle=no_throttle, sleep=sleeps.append,
    ))
    assert len(pages) == 1 and pages[0].attempts == 2
    assert sleeps == [1.0]


def test_200_that_is_not_crossref_json_is_a_clear_error(
    httpserver: HTTPServer, session: requests.Session
) -> None:
    httpserver.expect_request("/works").respond_with_data(
        body("error_504_gateway_timeout_journals_facet.html"), content_type="text/html")
    with pytest.raises(CrossrefResponseError, match="not Crossref JSON: '<html>"):
        list(iter_crossref_works(
            session, base_url=httpserver.url_for("/"), query="x", mailto=MAILTO,
            throttle=no_throttle, sleep=lambda _: None,
        ))


def test_secrets_never_reach_the_landing_manifest(
    httpserver: HTTPServer, session: requests.Session, tmp_path: Path
) -> None:
    widget_pages(httpserver)
    with BatchWriter(tmp_path, "crossref", params={"query": "widget", "mailto": MAILTO}) as batch:
        for page in iter_crossref_works(
            session, base_url=httpserver.url_for("/"), query="widget", rows=20, mailto=MAILTO,
            throttle=no_throttle, sleep=lambda _: None,
        ):
            batch.add(page)
    manifest_text = (batch.path / "manifest.json").read_text()
    assert MAILTO not in manifest_text and "mailto" not in manifest_text
    assert len(list(iter_bodies(batch.path, read_manifest(batch.path)))) == 3


@pytest.mark.parametrize(
    "kwargs",
    [{"query": "x", "rows": 1001}, {"query": "x", "rows": 0}, {},
     {"issn": "1673-6770"}, {"issn": "not an issn"}],
)
def test_bad_arguments_fail_before_any_request(
    httpserver: HTTPServer, session: requests.Session, kwargs: dict
) -> None:
    with pytest.raises(ValueError):
        next(iter_crossref_works(session, base_url=httpserver.url_for("/"),
                                 throttle=no_throttle, **kwargs))
    assert httpserver.log == []


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Rate-Limit-Limit": "50", "X-Rate-Limit-Interval": "1s"}, 50.0),
        ({"x-rate-limit-limit": "3", "x-rate-limit-interval": "1s"}, 3.0),
        ({"x-rate-limit-limit": "60", "x-rate-limit-interval": "1m"}, 1.0),
        ({"x-rate-limit-limit": "5"}, 5.0),
        ({"x-rate-limit-limit": "5", "x-rate-limit-interval": "500ms"}, 10.0),
        ({}, None),
        ({"x-rate-limit-limit": "many", "x-rate-limit-interval": "1s"}, None),
        ({"x-rate-limit-limit": "0", "x-rate-limit-interval": "1s"}, None),
        ({"x-rate-limit-limit": "5", "x-rate-limit-interval": "soon"}, None),
        ({"x-rate-limit-limit": "5", "x-rate-limit-interval": "0s"}, None),
    ],
)
def test_parse_rate_limit_headers(headers: dict[str, str], expected: float | None) -> None:
    assert parse_rate_limit_headers(headers) == expected
