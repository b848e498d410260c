"""Provider rate limits are Prefect global rate limits shared by every ingest of a provider.

Two harvests of the same provider at once, over real HTTP on 127.0.0.1, must together stay
within the configured rate, measured where it matters: the request times the server saw.
The shared limit is a leaky bucket (``ensure_limits``: ``limit = int(rate)`` slots that
drain at ``rate`` per second), so in any window of W seconds the server may see at most
``limit + rate * W`` requests (one more for the jitter between taking a slot and the request
arriving). A 429 storm must end in success with every page landed once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug import Request, Response

from flows.demo import _demo_config
from flows.settings import PACKAGED_CONFIG, get_settings, load_config
from tests.conftest import FIXTURES

RATE = 3.0  # requests per second (Crossref's polite pool since December 2025)
BURST = int(RATE)  # slots of the shared limit (ensure_limits: max(1, int(rate)))
JITTER = 1  # a request may arrive a little after its slot was taken
REPLAY = FIXTURES / "replay" / "crossref"
PAGE_1 = (REPLAY / "works_list_cursor_page1_query_widget.json").read_bytes()
PAGE_2 = (REPLAY / "works_list_cursor_page2_query_widget.json").read_bytes()
LAST_PAGE = (REPLAY / "journals_1803-2427_works.json").read_bytes()
PEERJ_PAGE = (FIXTURES / "crossref"
              / "journals_2167-8359_works_filter_journal-article_query_fish.json").read_bytes()
CURSOR_1 = "DnF1ZXJ5VGhlbkZldGNoJAAAAAFNehBy"  # prefixes of the recorded next-cursors
CURSOR_2 = "DnF1ZXJ5VGhlbkZldGNoJAAAAAAd55AF"


class RequestTimes:
    """Server-side arrival times (monotonic) of the requests, thread-safe."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.lock = threading.Lock()

    def record(self) -> int:
        with self.lock:
            self.times.append(time.monotonic())
            return len(self.times)

    def worst_window(self, seconds: float) -> int:
        """The most requests that arrived within any window of ``seconds``."""
        times = sorted(self.times)
        return max((sum(1 for t in times[i:] if t - start <= seconds)
                    for i, start in enumerate(times)), default=0)

    def overall_rate(self) -> float:
        """Requests per second after the initial burst the bucket allows."""
        times = sorted(self.times)
        return (len(times) - BURST) / (times[-1] - times[0])


WINDOWS = (0.5, 1.0, 2.0, 3.0)


def assert_within_shared_rate(seen: RequestTimes) -> None:
    worst = {window: seen.worst_window(window) for window in WINDOWS}
    print(f"\n{len(seen.times)} requests; most in a window of W s: {worst}; "
          f"{seen.overall_rate():.2f}/s after the burst (limit {BURST} + {RATE}/s)")
    for window, count in worst.items():
        assert count <= BURST + RATE * window + JITTER, (window, count)
    assert seen.overall_rate() <= RATE * 1.1


@pytest.fixture
def crossref_limits(prefect_harness, fresh_aied_env) -> dict[str, Any]:
    """Crossref at RATE, two ingests allowed at once, recorded page size; limits created."""
    from flows.runtime import ensure_limits, rate_limit_name

    config_path = get_settings().config_path
    _demo_config(config_path, PACKAGED_CONFIG, overrides={"crossref": {
        "rate_per_second": RATE, "max_concurrent_ingests": 2, "rows": 20}})
    made = ensure_limits(load_config(config_path), ["crossref"])
    return {limit["name"]: limit for limit in made}[rate_limit_name("crossref")]


def page_handler(seen: RequestTimes, *, storm: int = 0) -> Callable[[Request], Response]:
    """Crossref's journal works pages by cursor; the first ``storm`` requests get 429."""

    def handle(request: Request) -> Response:
        number = seen.record()
        if number <= storm:
            return Response('{"status":"error","message":"too many requests"}', status=429,
                            headers={"Retry-After": str(number % 2)},
                            content_type="application/json")
        cursor = request.args.get("cursor", "")
        if "2167-8359" in request.path:
            body = PEERJ_PAGE
        elif cursor.startswith(CURSOR_1):
            body = PAGE_2
        elif cursor.startswith(CURSOR_2):
            body = LAST_PAGE
        else:
            body = PAGE_1
        return Response(body, content_type="application/json")

    return handle


def test_two_harvests_share_the_provider_rate(crossref_limits, httpserver):
    from flows.runtime import prefect_throttle
    from sources.crossref import iter_crossref_works
    from sources.http import build_session

    assert (crossref_limits["limit"], crossref_limits["slot_decay_per_second"]) == (BURST, RATE)
    seen = RequestTimes()

    def endless_pages(_request: Request) -> Response:
        seen.record()
        return Response(PAGE_1, content_type="application/json")  # always a next-cursor

    httpserver.expect_request("/journals/1803-2427/works").respond_with_handler(endless_pages)
    pages = 8

    def harvest(_: int) -> int:
        # The polite pool: each harvest alone paces itself at 3 requests/s, so two at once
        # would send 6/s; only the shared Prefect limit keeps them at RATE together.
        return len(list(iter_crossref_works(
            build_session(), base_url=httpserver.url_for("/").rstrip("/"), issn="1803-2427",
            rows=20, mailto="aied@example.org", throttle=prefect_throttle("crossref"),
            max_pages=pages)))

    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(harvest, range(2))) == [pages, pages]

    assert len(seen.times) == 2 * pages
    assert_within_shared_rate(seen)


def test_429_storm_two_ingests_land_every_page_once(crossref_limits, httpserver):
    from flows.ingest import ingest_flow
    from flows.process import process_flow
    from sources.landing import read_manifest
    from warehouse import schema as s
    from warehouse.db import create_warehouse_engine

    storm = 4  # fetch retries 4 times: even one harvest meeting the whole storm succeeds
    seen = RequestTimes()
    handler = page_handler(seen, storm=storm)
    for issn in ("1803-2427", "2167-8359"):
        httpserver.expect_request(f"/journals/{issn}/works").respond_with_handler(handler)
    base_url = httpserver.url_for("/").rstrip("/")

    def ingest(issn: str) -> dict[str, Any]:
        return ingest_flow("crossref", scope=issn, base_url=base_url, full=True,
                           emit_event=False)

    with ThreadPoolExecutor(max_workers=2) as pool:
        landed = dict(zip(("journal", "peerj"), pool.map(ingest, ["1803-2427", "2167-8359"]),
                          strict=True))

    assert len(seen.times) == storm + 3 + 1, "each page fetched once after the storm"
    assert_within_shared_rate(seen)
    manifests = {name: read_manifest(batch["batch_path"]) for name, batch in landed.items()}
    assert {name: (m.source, len(m.files), {f.status for f in m.files})
            for name, m in manifests.items()} == {
        "journal": ("crossref", 3, {200}), "peerj": ("crossref", 1, {200})}
    assert {name: batch["count"] for name, batch in landed.items()} == {"journal": 3, "peerj": 1}

    processed = {name: process_flow(batch["batch_path"], batch_id=batch["batch_id"],
                                    emit_event=False) for name, batch in landed.items()}
    assert {name: (p["fetched"], p["reconciled"]) for name, p in processed.items()} == {
        "journal": (60, True), "peerj": (20, True)}
    engine = create_warehouse_engine(get_settings().warehouse_url)
    with engine.connect() as conn:
        lineage = conn.execute(select(s.source_records.c.source_id)).scalars().all()
        publications = conn.execute(select(func.count()).select_from(s.publications)).scalar()
    assert len(lineage) == len(set(lineage)) == 80, "every record once, none lost"
    assert publications == 80 - processed["journal"]["duplicates"]
