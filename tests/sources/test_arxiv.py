"""iter_arxiv against real recorded arXiv API pages served over HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sources.arxiv import (
    DEFAULT_QUERY,
    ArxivError,
    iter_arxiv,
    with_submitted_window,
)
from sources.http import build_session, no_throttle
from transforms.arxiv import parse_arxiv

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
PAGE1 = (FIXTURES / "query_search_testing_start0_max10_page1.xml").read_bytes()
PAGE2 = (FIXTURES / "query_search_testing_start10_max10_page2.xml").read_bytes()
EMPTY_AT_10 = (FIXTURES / "handmade_query_search_testing_start10_empty_page.xml").read_bytes()
SINGLE = (FIXTURES / "query_id_list_1605.08386_single.xml").read_bytes()
ZERO = (FIXTURES / "query_id_list_0000.0000_zero_results.xml").read_bytes()
ERROR_400 = (FIXTURES / "error_400_query_id_list_abc_incorrect_id_format.xml").read_bytes()
ATOM = "application/atom+xml; charset=UTF-8"
PATH = "/api/query"


def _serve(httpserver: HTTPServer, pages: dict[str, bytes]) -> list[dict[str, str]]:
    """Answer each request with the page for its ``start``; record the query args."""
    calls: list[dict[str, str]] = []

    def respond(request: Request) -> Response:
        args = request.args.to_dict()
        calls.append(args)
        return Response(pages[args["start"]], content_type=ATOM)

    httpserver.expect_request(PATH).respond_with_handler(respond)
    return calls


def _run(httpserver: HTTPServer, **kwargs):
    params = {"throttle": no_throttle, "sleep": lambda _s: None, **kwargs}
    return list(iter_arxiv(build_session(), base_url=httpserver.url_for(PATH), **params))


def test_two_pages_then_max_records_stops(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, {"0": PAGE1, "10": PAGE2})
    responses = _run(httpserver, search_query="all:testing", max_results_per_call=10,
                     max_records=20)
    assert [r.body for r in responses] == [PAGE1, PAGE2]
    assert {r.kind for r in responses} == {"atom"}
    assert [(c["start"], c["max_results"]) for c in calls] == [("0", "10"), ("10", "10")]
    assert calls[0] == {"search_query": "all:testing", "start": "0", "max_results": "10",
                        "sortBy": "submittedDate", "sortOrder": "ascending"}
    ids = [parse_arxiv(r.body, kind=r.kind, url=r.url, raw_ref="x").records["source_id"]
           .to_list() for r in responses]
    assert len(set(ids[0]) | set(ids[1])) == 20


def test_paging_stops_at_total_results(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, {"0": SINGLE})
    responses = _run(httpserver)
    assert [r.body for r in responses] == [SINGLE]
    assert calls[0]["search_query"] == DEFAULT_QUERY
    assert calls[0]["max_results"] == "200"


def test_zero_results_is_trusted_without_retries(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, {"0": ZERO})
    waits: list[float] = []
    responses = _run(httpserver, sleep=waits.append)
    assert [r.body for r in responses] == [ZERO]
    assert len(calls) == 1 and waits == []


def test_transient_empty_page_is_retried_then_succeeds(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH, query_string={
        "search_query": "all:testing", "start": "10", "max_results": "10",
        "sortBy": "submittedDate", "sortOrder": "ascending",
    }).respond_with_response(Response(EMPTY_AT_10, content_type=ATOM))
    calls = _serve(httpserver, {"0": PAGE1, "10": PAGE2})
    waits: list[float] = []
    responses = _run(httpserver, search_query="all:testing", max_results_per_call=10,
                     max_records=20, sleep=waits.append, empty_page_wait=3.0)
    # The transient empty body is not yielded; the good page after it is.
    assert [r.body for r in responses] == [PAGE1, PAGE2]
    assert waits == [3.0]
    assert [c["start"] for c in calls] == ["0", "10"]  # + the one-shot empty answer
    assert len(httpserver.log) == 3


def test_persistent_empty_page_is_trusted_after_the_retries(
        httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    calls = _serve(httpserver, {"0": PAGE1, "10": EMPTY_AT_10})
    waits: list[float] = []
    with caplog.at_level(logging.WARNING, logger="sources.arxiv"):
        responses = _run(httpserver, search_query="all:testing", max_results_per_call=10,
                         empty_page_retries=2, empty_page_wait=1.5, sleep=waits.append)
    assert [r.body for r in responses] == [PAGE1, EMPTY_AT_10]
    assert [c["start"] for c in calls] == ["0", "10", "10", "10"]
    assert waits == [1.5, 3.0]
    assert "still empty after 2 retries; stopping" in caplog.text


def test_error_feed_with_http_400_is_a_clear_error_and_not_retried(
        httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_response(
        Response(ERROR_400, status=400, content_type=ATOM))
    with pytest.raises(ArxivError, match=r"rejected the query \(HTTP 400\): .*"
                                         r"incorrect id format for abc") as caught:
        _run(httpserver, search_query="id:abc")
    assert caught.value.status == 400
    assert len(httpserver.log) == 1


def test_error_feed_served_with_200_is_also_an_error(httpserver: HTTPServer) -> None:
    _serve(httpserver, {"0": ERROR_400})
    with pytest.raises(ArxivError, match="incorrect id format for abc"):
        _run(httpserver)


def test_unavailable_server_is_retried_by_the_http_edge(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(PATH).respond_with_response(
        Response(b"busy", status=503, headers={"Retry-After": "7"}))
    _serve(httpserver, {"0": SINGLE})
    waits: list[float] = []
    responses = _run(httpserver, sleep=waits.append)
    assert [r.body for r in responses] == [SINGLE]
    assert waits == [7.0] and responses[0].attempts == 2


def test_throttle_runs_before_every_request(httpserver: HTTPServer) -> None:
    _serve(httpserver, {"0": PAGE1, "10": PAGE2})
    ticks: list[int] = []
    _run(httpserver, max_results_per_call=10, max_records=20, throttle=lambda: ticks.append(1))
    assert len(ticks) == 2


def test_submitted_window_goes_into_the_query(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, {"0": SINGLE})
    _run(httpserver, search_query="cat:cs.CY", submitted_from=date(2024, 1, 1),
         submitted_until=date(2024, 1, 31))
    assert calls[0]["search_query"] == (
        "(cat:cs.CY) AND submittedDate:[202401010000 TO 202401312359]")


def test_with_submitted_window_open_ends() -> None:
    assert with_submitted_window("q", None, None) == "q"
    assert with_submitted_window("q", date(2025, 3, 1), None) == (
        "(q) AND submittedDate:[202503010000 TO 999912312359]")
    with pytest.raises(ValueError, match="before"):
        with_submitted_window("q", date(2025, 3, 1), date(2025, 2, 1))


@pytest.mark.parametrize(
    "kwargs",
    [{"max_results_per_call": 2001}, {"max_results_per_call": 0}, {"start": -1},
     {"max_records": -5}],
)
def test_bad_arguments_fail_before_any_request(httpserver: HTTPServer, kwargs: dict) -> None:
    calls = _serve(httpserver, {"0": SINGLE})
    with pytest.raises(ValueError):
        _run(httpserver, **kwargs)
    assert calls == []
