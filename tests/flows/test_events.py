"""The event-driven chain end to end, with real Prefect (a test server and ``serve_all``).

Each test emits an event the way the pipeline does and waits for the deployment the trigger
starts; the served flows run in subprocesses against the same temporary warehouse. The delay
from emit to the downstream run is printed (run with ``-s`` to see it).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select
from werkzeug import Request, Response

from flows import runtime as rt
from flows.deploy import (
    IMPORT_DEPLOYMENT,
    NOTIFY_DEPLOYMENT,
    PROCESS_DEPLOYMENT,
    RECLASSIFY_DEPLOYMENT,
    REPORT_DEPLOYMENT,
)
from flows.settings import ProjectConfig
from tests.flows.conftest import (
    ISSN,
    Served,
    Site,
    delays,
    emit_batch_landed,
    land_fixture_batch,
    wait_for_runs,
    wait_until_idle,
)
from warehouse import schema as s

pytestmark = pytest.mark.events

SAMPLE = ["works_list_sample10_mixed_languages.json"]
ECOLOGY = ["works_list_query_ecology_rows2_plain_abstract.json"]
RIS_EXPORT = """TY  - JOUR
TI  - A large language model chatbot as a tutor for medical students: a randomised trial
AU  - Wang, Li
PY  - 2025
JO  - Medical Teacher
SN  - 0142-159X
DO  - 10.5555/aied-test.2025.0001
AB  - We compared a generative AI tutor with usual teaching in undergraduate medical education.
ER  -
"""


def report(label: str, run: Any, emitted: datetime) -> None:
    created, started = delays(run, emitted)
    start_text = f"{started:.2f}s" if started is not None else "n/a"
    print(f"\n[event delay] {label}: run created {created:.2f}s after the emit, "
          f"flow started {start_text} after it")


def for_batch(batch_id: str) -> Any:
    return lambda run: run.parameters.get("batch_id") == batch_id


def batch_rows(batch_id: str) -> dict[str, int]:
    """What the warehouse holds for one batch: runs, lineage rows, publications."""
    engine = rt.open_runtime().engine
    with engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(s.etl_runs).where(
            s.etl_runs.c.batch_id == batch_id, s.etl_runs.c.status == "succeeded")).scalar_one()
        lineage = conn.execute(select(func.count()).select_from(s.source_records).where(
            s.source_records.c.raw_ref.like(f"%{batch_id}%"))).scalar_one()
        pubs = conn.execute(select(func.count()).select_from(s.publications)).scalar_one()
    return {"runs": runs, "lineage": lineage, "publications": pubs}


@pytest.fixture(scope="module")
def started(served: Served, aied_env: dict[str, str]) -> dict[str, Any]:
    """Independent chains set off at once, as in service; the tests then wait for each.

    A crossref batch is announced; a failed quality gate, a taxonomy change and a file
    dropped into the inbox follow straight away.
    """
    data = aied_env["AIED_DATA_DIR"]
    batch_id, path = land_fixture_batch(data, "crossref", SAMPLE)
    inbox = Path(data) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    events: dict[str, Any] = {"a": {"batch_id": batch_id, "path": path}, "inbox": inbox}
    events["a"]["emitted"] = emit_batch_landed(batch_id, path)
    events["quality"] = datetime.now(UTC)
    rt.emit(rt.EVENT_QUALITY_FAILED, resource_id="aied.batch.bad-batch-1",
            payload={"batch_id": "bad-batch-1", "source": "crossref",
                     "failures": ["doi: 97% of rows do not match the DOI pattern"]})
    events["taxonomy"] = datetime.now(UTC)
    rt.emit(rt.EVENT_TAXONOMY_CHANGED, resource_id="aied.taxonomy.v1", payload={})
    events["dropped"] = datetime.now(UTC)
    (inbox / "export.ris").write_text(RIS_EXPORT, encoding="utf-8")
    return events


def test_batch_landed_runs_process_for_that_batch(started: dict[str, Any],
                                                  served: Served) -> None:
    batch = started["a"]
    runs = wait_for_runs(PROCESS_DEPLOYMENT, where=for_batch(batch["batch_id"]), served=served)
    report("aied.batch.landed -> aied-process", runs[0], batch["emitted"])
    assert len(runs) == 1
    assert runs[0].state.is_completed(), runs[0].state
    assert runs[0].parameters["batch_path"] == str(batch["path"])
    counts = batch_rows(batch["batch_id"])
    assert counts["runs"] == 1
    assert counts["lineage"] == 10  # the fixture page holds ten works
    assert counts["publications"] >= 10


def test_warehouse_loaded_refreshes_the_report(started: dict[str, Any], served: Served,
                                               aied_env: dict[str, str]) -> None:
    process = wait_for_runs(PROCESS_DEPLOYMENT, where=for_batch(started["a"]["batch_id"]),
                            served=served)[0]
    runs = wait_for_runs(REPORT_DEPLOYMENT, after=process.end_time, served=served)
    report("aied.warehouse.loaded -> aied-report (from the process run's end)", runs[0],
           process.end_time)
    assert runs[0].state.is_completed(), runs[0].state
    page = Path(aied_env["AIED_DATA_DIR"]) / "report" / "index.html"
    assert page.exists()
    assert page.stat().st_mtime >= process.end_time.timestamp()


def test_quality_failed_is_posted_to_the_webhook(started: dict[str, Any], served: Served,
                                                 site: Site) -> None:
    runs = wait_for_runs(NOTIFY_DEPLOYMENT, after=started["quality"], served=served)
    report("aied.quality.failed -> aied-notify", runs[0], started["quality"])
    assert runs[0].state.is_completed(), runs[0].state
    assert runs[0].parameters["payload"]["batch_id"] == "bad-batch-1"
    posted = [p for p in site.webhook_posts if "bad-batch-1" in p.get("text", "")]
    assert len(posted) == 1
    assert "aied.quality.failed" in posted[0]["text"]
    assert "97% of rows" in posted[0]["text"]


def test_taxonomy_changed_reclassifies(started: dict[str, Any], served: Served) -> None:
    runs = wait_for_runs(RECLASSIFY_DEPLOYMENT, after=started["taxonomy"], served=served)
    report("aied.taxonomy.changed -> aied-reclassify", runs[0], started["taxonomy"])
    assert runs[0].state.is_completed(), runs[0].state
    assert runs[0].parameters["taxonomy_path"] == ""


def test_file_dropped_in_the_inbox_is_imported(started: dict[str, Any],
                                               served: Served) -> None:
    inbox = started["inbox"]
    runs = wait_for_runs(IMPORT_DEPLOYMENT, after=started["dropped"], served=served)
    report("file dropped -> aied-import (includes the watcher's settle time)", runs[0],
           started["dropped"])
    assert runs[0].state.is_completed(), runs[0].state
    claimed = Path(runs[0].parameters["paths"][0])
    assert claimed.parent == inbox / "claimed"
    assert not (inbox / "export.ris").exists()
    engine = rt.open_runtime().engine
    with engine.connect() as conn:
        doi = conn.execute(select(s.publications.c.doi).where(
            s.publications.c.doi == "10.5555/aied-test.2025.0001")).scalar_one_or_none()
    assert doi == "10.5555/aied-test.2025.0001"


def test_a_duplicate_event_does_not_duplicate_rows(served: Served,
                                                   aied_env: dict[str, str]) -> None:
    """The same batch announced twice back to back: two runs, one load.

    The second run waits for the first (process-batch runs one at a time), then finds the
    batch processed and skips it: the path a later redelivery takes too.
    """
    batch_id, path = land_fixture_batch(aied_env["AIED_DATA_DIR"], "crossref", ECOLOGY)
    first = emit_batch_landed(batch_id, path)
    emit_batch_landed(batch_id, path)
    runs = wait_for_runs(PROCESS_DEPLOYMENT, count=2, where=for_batch(batch_id),
                         served=served)
    report("aied.batch.landed twice at once -> aied-process (first run)", runs[0], first)
    report("aied.batch.landed twice at once -> aied-process (second run)", runs[1], first)
    assert all(r.state.is_completed() for r in runs), [r.state for r in runs]
    counts = batch_rows(batch_id)
    assert counts["runs"] == 1
    assert counts["lineage"] == 2


def test_new_issue_check_triggers_the_journal_ingest(served: Served, site: Site) -> None:
    from flows.magtech_watch import WATCH_STATE_SOURCE, magtech_watch_flow
    from warehouse.state import get_watermark

    site.issue = (2026, 46, 1)
    started = datetime.now(UTC)
    first = magtech_watch_flow(ISSN)
    again = magtech_watch_flow(ISSN)
    assert first["new"] is True and first["current"] == [2026, 46, 1]
    assert again["new"] is False
    runs = wait_for_runs(f"aied-ingest/ingest-magtech-{ISSN}", after=started, served=served)
    report("aied.magtech.issue.detected -> aied-ingest (magtech; from the first check's start)",
           runs[0], started)
    assert len(runs) == 1
    assert runs[0].parameters == {"source": "magtech", "scope": ISSN, "base_url": site.base_url,
                                  "max_issues": 1}
    assert runs[0].state.is_completed(), runs[0].state
    site.issue = (2026, 46, 2)
    later = magtech_watch_flow(ISSN)
    assert later["new"] is True and later["previous"] == [2026, 46, 1]
    _, state = get_watermark(rt.open_runtime().engine, WATCH_STATE_SOURCE, ISSN)
    assert state["last_issue"] == [2026, 46, 2]


def test_shared_rate_limit_holds_for_two_ingests_at_once(prefect_api: str,
                                                         httpserver: HTTPServer) -> None:
    from sources.http import build_session, fetch

    rate, per_thread = 5.0, 5
    config = ProjectConfig(journals=(), sources={"ratetest": {"rate_per_second": rate}})
    limits = {x["name"]: x for x in rt.ensure_limits(config, ["ratetest"])}
    burst = limits[rt.rate_limit_name("ratetest")]["limit"]
    seen: list[float] = []
    lock = threading.Lock()

    def handler(_request: Request) -> Response:
        with lock:
            seen.append(time.monotonic())
        return Response(b"{}", content_type="application/json")

    httpserver.expect_request("/works").respond_with_handler(handler)

    def ingest(name: str) -> None:
        session, throttle = build_session(), rt.prefect_throttle("ratetest")
        for i in range(per_thread):
            fetch(session, httpserver.url_for("/works"), params={"who": name, "i": str(i)},
                  kind="works", throttle=throttle)

    threads = [threading.Thread(target=ingest, args=(f"ingest-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == 2 * per_thread
    # A token bucket of `burst` slots refilled at `rate`/s: no window may hold more requests
    # than burst + rate * its length (0.1 s of slack for the HTTP round trip).
    times = sorted(seen)
    worst = max((j - i + 1) - (burst + rate * (times[j] - times[i] + 0.1))
                for i in range(len(times)) for j in range(i, len(times)))
    span = times[-1] - times[0]
    print(f"\n[rate limit] {len(times)} requests from two threads in {span:.2f}s "
          f"(limit {rate}/s, burst {burst}); worst window excess {worst:.2f}")
    assert worst <= 0


def test_ingest_concurrency_limit_lets_one_ingest_run_at_a_time(prefect_api: str) -> None:
    from prefect.concurrency.sync import concurrency

    config = ProjectConfig(journals=(), sources={
        "conctest": {"rate_per_second": 10.0, "max_concurrent_ingests": 1}})
    rt.ensure_limits(config, ["conctest"])
    spans: list[tuple[float, float]] = []

    def ingest() -> None:
        with concurrency(rt.ingest_limit_name("conctest"), occupy=1, strict=True):
            start = time.monotonic()
            time.sleep(0.3)
            spans.append((start, time.monotonic()))

    threads = [threading.Thread(target=ingest) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    first, second = sorted(spans)
    assert len(spans) == 2
    assert second[0] >= first[1]


def test_event_while_nothing_serves_runs_when_serving_resumes(
        served: Served, aied_env: dict[str, str]) -> None:
    # Stop once no batch is being loaded (a report refresh may be cut off: harmless).
    wait_until_idle(served, deployment=PROCESS_DEPLOYMENT)
    served.stop()
    batch_id, path = land_fixture_batch(
        aied_env["AIED_DATA_DIR"], "crossref",
        ["works_single_10.1371_journal.pone.0033693.json"], kind="work")
    emitted = emit_batch_landed(batch_id, path)
    waiting = wait_for_runs(PROCESS_DEPLOYMENT, final=False, where=for_batch(batch_id))
    assert waiting[0].state.is_scheduled(), waiting[0].state
    served.start()
    runs = wait_for_runs(PROCESS_DEPLOYMENT, where=for_batch(batch_id), served=served)
    report("aied.batch.landed while down -> aied-process after restart", runs[0], emitted)
    assert runs[0].state.is_completed(), runs[0].state
    assert batch_rows(batch_id)["lineage"] == 1
