"""HTTP faults during a harvest: nothing lost, nothing doubled, every failure visible.

Each test lands a harvest from the fault server with the real source client and
:func:`flows.extract.land_stream`, processes it with :func:`flows.steps.process_batch` into a
SQLite warehouse, and compares the warehouse with a fault-free run of the same pages.
A fault that heals within the retries must leave exactly the clean warehouse; a fault that
does not heal must fail the harvest loudly, leave no complete batch, and a later harvest
must load every record exactly once.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from flows.extract import land_stream, open_stream
from sources.crossref import CrossrefResponseError, CursorExpiredError
from sources.http import FetchError, build_session, no_throttle
from sources.landing import LandingError, list_batches
from tests.faults.conftest import (
    CROSSREF_PATH,
    OPENALEX_PATH,
    CleanRun,
    contents,
    crossref_pages,
    crossref_request,
    etl_runs,
    harvest_crossref,
    harvest_magtech,
    harvest_openalex,
    openalex_pages,
    process,
    quarantine_rows,
    serve_magtech_site,
    serve_pages,
    short_timeout_session,
)
from tests.faults.faultserver import (
    HTML,
    JSON,
    FaultServer,
    Reply,
    bogus_gzip,
    budget_exhausted,
    cursor_expired,
    error,
    gzipped,
    hang,
    ok,
    too_many_requests,
    truncated,
    wrong_content_type,
)
from warehouse.load import LoadResult

PAGES = crossref_pages()


def assert_like_clean(engine: Engine, result: LoadResult, clean: CleanRun) -> None:
    """Same counts as the clean run, reconciled, one succeeded etl_runs row, same tables."""
    r = result
    assert r.is_reconciled, vars(r)
    assert (r.fetched, r.loaded, r.quarantined, r.duplicates) == (
        clean.fetched, clean.loaded, clean.quarantined, clean.duplicates)
    runs = etl_runs(engine)
    assert [(x.status, x.fetched, x.loaded, x.quarantined, x.duplicates) for x in runs] == [
        ("succeeded", clean.fetched, clean.loaded, clean.quarantined, clean.duplicates)]
    assert contents(engine) == clean.contents


def assert_failure_logged(caplog: pytest.LogCaptureFixture, error: BaseException) -> None:
    """The failed harvest is in the log as an error, with its reason (not only raised)."""
    reason = str(error)[:60]
    assert any(r.levelno >= logging.ERROR and reason in r.getMessage()
               for r in caplog.records), f"no ERROR log says {reason!r}"


def assert_nothing_complete(data_dir: Path, engine: Engine) -> None:
    """A failed harvest leaves an incomplete batch that nothing can process."""
    assert list_batches(data_dir) == []
    incomplete = list_batches(data_dir, include_incomplete=True)
    assert len(incomplete) == 1
    with pytest.raises(LandingError, match="incomplete"):
        process(incomplete[0], data_dir, engine)
    assert etl_runs(engine) == []


def heal_and_reharvest_crossref(data_dir: Path, engine: Engine, clean: CleanRun) -> None:
    """The provider is healthy again: the next harvest loads every record exactly once."""
    with FaultServer() as healthy:
        serve_pages(healthy, CROSSREF_PATH, PAGES)
        batch = harvest_crossref(healthy, data_dir)
    (complete,) = list_batches(data_dir)
    assert complete == batch.path
    assert_like_clean(engine, process(batch.path, data_dir, engine).result, clean)


# ------------------------------------------------------------------ transient faults


TRANSIENT = {
    "429-retry-after": ([too_many_requests("1")], "answered 429; waiting 1.0s", [1.0]),
    "500-html": ([error(500, html=True)], "answered 500", None),
    "502-html": ([error(502, html=True)], "answered 502", None),
    "503-html-retry-after": ([error(503, html=True, retry_after="0")], "answered 503", [0.0]),
    "504-html": ([error(504, html=True)], "answered 504", None),
    "503-json": ([error(503)], "answered 503", None),
    "truncated": ([truncated(PAGES.bodies[1])], "IncompleteRead", None),
    "hang": ([hang(5)], "ReadTimeout", None),
    "four-in-a-row": ([error(503, html=True), too_many_requests("0"), truncated(PAGES.bodies[1]),
                       hang(5)], "ReadTimeout", None),
}


@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_crossref_transient_fault_is_retried_and_the_load_equals_a_clean_run(
    fault: str, server: FaultServer, data_dir: Path, sqlite_engine: Engine,
    crossref_clean: CleanRun, caplog: pytest.LogCaptureFixture,
) -> None:
    replies, logged, retry_waits = TRANSIENT[fault]
    page = 1
    caplog.set_level(logging.INFO)
    serve_pages(server, CROSSREF_PATH, PAGES, faults={page: replies})
    sleeps: list[float] = []
    batch = harvest_crossref(server, data_dir, sleeps=sleeps, session=short_timeout_session())

    hits = [r for r in server.requests_to(CROSSREF_PATH)
            if r.query["cursor"] == PAGES.cursors[page]]
    assert len(hits) == len(replies) + 1, "one request per fault, then the good answer"
    assert batch.count == 3 and batch.statuses == {200: 3}
    assert logged in caplog.text, "the fault shows in the log"
    # Retry waits are whole seconds (Retry-After or 1, 2, 4, 8 s of backoff); the polite
    # pacing between pages waits what is left of its interval, never a whole second.
    retry_sleeps = [w for w in sleeps if w in (0.0, 1.0, 2.0, 4.0, 8.0)]
    assert len(retry_sleeps) == len(replies), f"one wait per fault: {sleeps}"
    if retry_waits is not None:
        assert retry_sleeps == retry_waits, f"Retry-After honoured: {sleeps}"
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


def test_faults_on_the_first_and_the_last_page(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, crossref_clean: CleanRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    serve_pages(server, CROSSREF_PATH, PAGES, faults={
        0: [too_many_requests("1"), truncated(PAGES.bodies[0])],
        2: [hang(5), error(504, html=True)]})
    batch = harvest_crossref(server, data_dir, session=short_timeout_session())
    for logged in ("answered 429", "IncompleteRead", "ReadTimeout", "answered 504"):
        assert logged in caplog.text
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


def test_retries_back_off_exponentially_without_retry_after(
    server: FaultServer, data_dir: Path
) -> None:
    serve_pages(server, CROSSREF_PATH, PAGES,
                faults={0: [error(503, html=True), error(502, html=True), error(500)]})
    sleeps: list[float] = []
    harvest_crossref(server, data_dir, sleeps=sleeps)
    assert sleeps[:3] == [1.0, 2.0, 4.0]


def test_crossref_through_open_stream_with_retry_after_zero(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, crossref_clean: CleanRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The extract wiring (open_stream) over the same faults, with zero-second waits."""
    caplog.set_level(logging.INFO)
    serve_pages(server, CROSSREF_PATH, PAGES,
                faults={0: [too_many_requests("0")],
                        1: [error(503, html=True, retry_after="0")],
                        2: [error(504, html=True, retry_after="0")]})
    request = crossref_request(server, contact_email="fault-suite@example.org")
    batch = land_stream(open_stream(request, build_session(), no_throttle),
                        data_dir=data_dir, request=request)
    assert batch.statuses == {200: 3}
    for logged in ("answered 429", "answered 503", "answered 504"):
        assert logged in caplog.text
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


def test_gzip_encoded_pages_are_read(server: FaultServer, data_dir: Path,
                                     sqlite_engine: Engine, crossref_clean: CleanRun) -> None:
    """Control for the bad-encoding tests: a correct gzip answer is just a page."""
    for body, cursor in zip(PAGES.bodies, PAGES.cursors, strict=True):
        server.route(CROSSREF_PATH, gzipped(body), query={"cursor": cursor})
    batch = harvest_crossref(server, data_dir)
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


def test_a_garbled_content_encoding_is_retried_like_a_broken_transfer(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, crossref_clean: CleanRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``Content-Encoding: gzip`` on a body that is not gzip (a proxy mangled it once)."""
    serve_pages(server, CROSSREF_PATH, PAGES, faults={1: [bogus_gzip(PAGES.bodies[1])]})
    batch = harvest_crossref(server, data_dir)
    assert "gzip" in caplog.text.lower() or "decod" in caplog.text.lower()
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


def test_a_json_page_labelled_html_still_loads_every_record(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, crossref_clean: CleanRun
) -> None:
    serve_pages(server, CROSSREF_PATH, PAGES)
    server.route(CROSSREF_PATH, wrong_content_type(PAGES.bodies[1], HTML),
                 query={"cursor": PAGES.cursors[1]})
    server.route(CROSSREF_PATH, wrong_content_type(PAGES.bodies[2], "application/octet-stream"),
                 query={"cursor": PAGES.cursors[2]})
    batch = harvest_crossref(server, data_dir)
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


# ------------------------------------------------------------------ faults that stay


PERSISTENT = {
    "503-html-forever": (1, error(503, html=True), FetchError, "failed after 5 attempts: HTTP 503",
                         5, "answered 503"),
    "hang-forever": (2, hang(5), FetchError, "ReadTimeout", 5, "ReadTimeout"),
    "truncated-forever": (1, truncated(PAGES.bodies[1]), FetchError, "IncompleteRead", 5,
                          "IncompleteRead"),
    "404-not-retried": (0, error(404), FetchError, "answered HTTP 404", 1, None),
    "html-page-instead-of-json": (
        1, Reply(200, b"<html><body><h1>Maintenance</h1></body></html>", HTML),
        CrossrefResponseError, "not Crossref JSON", 1, None),
    "json-error-envelope-with-200": (
        1, ok(b'{"status":"error","message-type":"exception","message":"boom"}'),
        CrossrefResponseError, "not an 'ok' Crossref work-list", 1, None),
    "utf16-body": (1, Reply(200, PAGES.bodies[1].decode("utf-8").encode("utf-16"),
                            "application/json; charset=utf-16"),
                   CrossrefResponseError, "not Crossref JSON", 1, None),
    "latin1-bytes-labelled-utf8": (
        1, Reply(200, PAGES.bodies[1].decode("utf-8").encode("latin-1", "replace"), JSON),
        CrossrefResponseError, "not Crossref JSON", 1, None),
    "garbled-gzip-forever": (1, bogus_gzip(PAGES.bodies[1]), FetchError,
                             "content-encoding: gzip", 5, "ContentDecodingError"),
    "cursor-expired": (1, cursor_expired(), CursorExpiredError,
                       "restart the harvest from the watermark", 1, None),
}


@pytest.mark.parametrize("fault", list(PERSISTENT))
def test_crossref_fault_that_does_not_heal_fails_loudly_and_a_rerun_loads_everything_once(
    fault: str, server: FaultServer, data_dir: Path, sqlite_engine: Engine,
    crossref_clean: CleanRun, caplog: pytest.LogCaptureFixture,
) -> None:
    page, reply, error_type, message, requests_made, logged = PERSISTENT[fault]
    caplog.set_level(logging.INFO)
    serve_pages(server, CROSSREF_PATH, PAGES, faults={page: [reply]}, then=reply)
    with pytest.raises(error_type, match=message) as raised:
        harvest_crossref(server, data_dir, session=short_timeout_session())
    assert isinstance(raised.value, FetchError), "every harvest failure is a FetchError"
    hits = [r for r in server.requests_to(CROSSREF_PATH)
            if r.query["cursor"] == PAGES.cursors[page]]
    if requests_made is not None:
        assert len(hits) == requests_made
    if logged is not None:
        assert logged in caplog.text
    assert_failure_logged(caplog, raised.value)
    assert_nothing_complete(data_dir, sqlite_engine)
    heal_and_reharvest_crossref(data_dir, sqlite_engine, crossref_clean)


def test_a_partial_harvest_then_the_restart_never_doubles_records(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, crossref_clean: CleanRun
) -> None:
    """Cursor expired on the last page; the restart fetches pages 1-2 again: still 60 once."""
    serve_pages(server, CROSSREF_PATH, PAGES, faults={2: [cursor_expired()]})
    with pytest.raises(CursorExpiredError):
        harvest_crossref(server, data_dir)
    (incomplete,) = list_batches(data_dir, include_incomplete=True)
    assert len(list(incomplete.glob("0000*.json"))) == 2, "two pages landed before the expiry"
    batch = harvest_crossref(server, data_dir)  # the server now answers the cursor again
    assert list_batches(data_dir) == [batch.path]
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      crossref_clean)


# ------------------------------------------------------------------------ OpenAlex


def test_openalex_too_fast_429_is_retried_after_retry_after(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, openalex_clean: CleanRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    pages = openalex_pages()
    slow_down = too_many_requests("1", **{"X-RateLimit-Remaining": "40000"})
    serve_pages(server, OPENALEX_PATH, pages, faults={1: [slow_down, error(503, html=True)]})
    sleeps: list[float] = []
    batch = harvest_openalex(server, data_dir, sleeps=sleeps, api_key="k")
    assert sleeps == [1.0, 2.0], "Retry-After for the 429, then backoff for the 503"
    assert "answered 429" in caplog.text and "answered 503" in caplog.text
    assert_like_clean(sqlite_engine, process(batch.path, data_dir, sqlite_engine).result,
                      openalex_clean)


def test_openalex_spent_budget_stops_at_once_until_the_reset(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, openalex_clean: CleanRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    pages = openalex_pages()
    serve_pages(server, OPENALEX_PATH, pages, faults={1: [budget_exhausted("3600")]},
                then=budget_exhausted("3600"))
    before = datetime.now(UTC)
    sleeps: list[float] = []
    caplog.set_level(logging.WARNING)
    partial = harvest_openalex(server, data_dir, sleeps=sleeps, api_key="k")
    reset = partial.budget_exhausted_until
    assert reset is not None
    assert before + timedelta(minutes=59) < reset < datetime.now(UTC) + timedelta(minutes=61)
    page2 = [r for r in server.requests_to(OPENALEX_PATH) if r.query["cursor"] == pages.cursors[1]]
    assert len(page2) == 1 and sleeps == [], "no retries burned against a spent budget"
    # The page before the spent budget is a complete batch; the pause is visible in the log.
    assert partial.count == 1 and list_batches(data_dir) == [partial.path]
    assert any(r.levelno >= logging.WARNING and "budget spent" in r.getMessage()
               for r in caplog.records)
    first = process(partial.path, data_dir, sqlite_engine).result
    assert first.is_reconciled and first.loaded > 0

    with FaultServer() as after_reset:
        serve_pages(after_reset, OPENALEX_PATH, pages)
        batch = harvest_openalex(after_reset, data_dir, api_key="k")
    assert batch.budget_exhausted_until is None
    second = process(batch.path, data_dir, sqlite_engine).result
    assert second.is_reconciled and second.unchanged >= first.loaded
    assert contents(sqlite_engine) == openalex_clean.contents


# ------------------------------------------------------------------------- Magtech

SEED = "/CN/10.3760/cma.j.cn115259-20250317-00283"
GBK = "/CN/10.3760/cma.j.cn115259-20250509-00512"
OLD_ISSUE = "/CN/abstract/abstract2318.shtml"


def test_magtech_crawl_with_faults_loads_what_a_clean_crawl_loads(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine, magtech_clean: CleanRun,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Article pages that fail and recover; the site's own 404 stays quarantined, visibly."""
    caplog.set_level(logging.INFO)
    seed = (Path(__file__).parents[1] / "fixtures/magtech/a2026_01_p1_seed.html").read_bytes()
    serve_magtech_site(server, faults={
        SEED: [error(503, html=True), truncated(seed, content_type=HTML)],
        GBK: [hang(5)],
        OLD_ISSUE: [too_many_requests("0"), error(502, html=True)],
        "/EN/1673-677X/current.shtml": [error(500, html=True)],
    })
    batch = harvest_magtech(server, data_dir, session=short_timeout_session())
    for logged in ("answered 503", "IncompleteRead", "ReadTimeout", "answered 429",
                   "answered 502", "answered 500"):
        assert logged in caplog.text
    outcome = process(batch.path, data_dir, sqlite_engine)
    assert_like_clean(sqlite_engine, outcome.result, magtech_clean)
    reasons = {(q.stage, q.reason) for q in quarantine_rows(sqlite_engine)}
    assert any(stage == "fetch" and "HTTP 404" in reason for stage, reason in reasons)
    (run,) = etl_runs(sqlite_engine)
    assert run.quarantined == outcome.result.quarantined >= 1
    assert "answered HTTP 404; quarantined" in caplog.text


def test_magtech_listing_that_never_answers_fails_the_crawl(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    serve_magtech_site(server, faults={"/EN/1673-677X/current.shtml": [error(503, html=True)] * 5})
    with pytest.raises(FetchError, match="HTTP 503") as raised:
        harvest_magtech(server, data_dir)
    assert caplog.text.count("answered 503") == 5
    assert_failure_logged(caplog, raised.value)
    assert_nothing_complete(data_dir, sqlite_engine)
