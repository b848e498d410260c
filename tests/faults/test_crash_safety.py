"""Crash safety and redelivery: a killed load leaves nothing half-done; redelivery adds nothing.

* A subprocess processes a synthetic batch of a few thousand Crossref works and is killed
  with SIGKILL in the middle of the load transaction (SQLite: once the worker has written
  its publications, which it says on stdout; PostgreSQL: once its backend holds a write lock
  on ``publications``). The ``running`` etl_runs row is written inside that transaction, so
  no other connection can see it. SQLite keeps the transaction's pages in its cache until
  the commit (the WAL stays empty), so the worker's own word is the sign to act on.
  Processing the batch again must leave a warehouse identical to a clean run's.
* The same landed batch processed twice, overlapping incremental windows and a page
  delivered twice within one batch must leave the warehouse of a single delivery.
* A load the warehouse refuses midway (a lock timeout) is rolled back and visible.
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from flows.extract import land_stream, open_stream
from sources.http import FetchedResponse, build_session, no_throttle
from sources.landing import BatchWriter, list_batches
from tests.faults.conftest import (
    CROSSREF,
    CROSSREF_PAGE_FILES,
    CROSSREF_PATH,
    CleanRun,
    contents,
    crossref_page,
    crossref_pages,
    crossref_request,
    etl_runs,
    harvest_crossref,
    new_sqlite_warehouse,
    process,
    serve_pages,
)
from tests.faults.faultserver import FaultServer
from tests.pg import fresh_database
from warehouse.db import create_warehouse_engine
from warehouse.load import LoadError, count_rows

ROOT = Path(__file__).resolve().parents[2]
RECORDS = 2000
PAGE_SIZE = 500
WORKER_NAME = "aied-crash-worker"
KILL_DEADLINE = 120.0

#: Processes one batch; the test kills it. The hook only pauses between write statements of
#: the load transaction, to widen the window in which the kill lands; it changes no data.
WORKER = r"""
import sys, time, uuid
from pathlib import Path
from sqlalchemy import event
from flows.steps import process_batch
from warehouse.db import create_warehouse_engine
from warehouse.load import RunInfo

batch, data_dir, url, batch_id = sys.argv[1:5]
engine = create_warehouse_engine(url)

@event.listens_for(engine, "after_cursor_execute")
def _pause(conn, cursor, statement, parameters, context, executemany):
    if conn.in_transaction() and statement.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
        if statement.lstrip().upper().startswith("INSERT INTO PUBLICATIONS "):
            print("PUBLICATIONS WRITTEN", flush=True)
        time.sleep(0.05)

print("STARTED", flush=True)
process_batch(Path(batch), data_dir=Path(data_dir), engine=engine,
              run=RunInfo(run_id=uuid.uuid4().hex, source="crossref", batch_id=batch_id),
              validation_engine="polars")
print("FINISHED", flush=True)
"""

# --------------------------------------------------------------------- the batch

_WORDS = ("learning", "medical", "students", "artificial", "intelligence", "model", "tutoring",
          "assessment", "curriculum", "clinical", "simulation", "feedback", "language", "large",
          "generative", "analytics", "virtual", "patient", "ethics", "survey", "review",
          "nursing", "residents", "competency", "chatbot")


def synthetic_items(count: int) -> list[dict]:
    """``count`` Crossref works cloned from real recorded ones, each with its own DOI/title.

    Every 250th work is delivered twice (a repeat inside the batch) and every 333rd has no
    title (quarantined), so the comparison covers duplicates and quarantine rows too.
    """
    templates = json.loads((CROSSREF / "journals_2167-8359_works_filter_journal-article_"
                            "query_fish.json").read_bytes())["message"]["items"]
    rng = random.Random(20260301)
    items: list[dict] = []
    for i in range(count):
        item = {k: v for k, v in templates[i % len(templates)].items() if k != "reference"}
        item["DOI"] = f"10.5555/crash.{i:05d}"
        words = " ".join(rng.choice(_WORDS) for _ in range(9))
        item["title"] = [] if i % 333 == 0 else [f"{words.capitalize()} (cohort {i})"]
        item["abstract"] = (f"<jats:p>We studied {words} in cohort {i}.</jats:p>"
                            if i % 4 == 0 else None)
        if item["abstract"] is None:
            item.pop("abstract")
        items.append(item)
        if i % 250 == 0:
            items.append(json.loads(json.dumps(item)))
    return items


def land_synthetic_batch(data_dir: Path, count: int = RECORDS) -> Path:
    """Land the synthetic works as Crossref pages of :data:`PAGE_SIZE` (no network)."""
    envelope = json.loads(crossref_page("journals_1803-2427_works.json", None))
    items = synthetic_items(count)
    with BatchWriter(data_dir, "crossref", params={"scope": "synthetic"}) as writer:
        for start in range(0, len(items), PAGE_SIZE):
            envelope["message"]["items"] = items[start:start + PAGE_SIZE]
            writer.add(FetchedResponse(
                url=f"http://127.0.0.1/works?offset={start}", status=200,
                headers={"Content-Type": "application/json"},
                body=json.dumps(envelope).encode("utf-8"), fetched_at=datetime.now(UTC),
                kind="works"))
    return writer.path


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(data_dir, batch path) of the synthetic batch."""
    data_dir = tmp_path_factory.mktemp("synthetic") / "data"
    return data_dir, land_synthetic_batch(data_dir)


# -------------------------------------------------------------------- the crash


def start_worker(batch: Path, data_dir: Path, url: str) -> subprocess.Popen[str]:
    batch_id = batch.name
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(batch), str(data_dir), url, batch_id],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kill_when(worker: subprocess.Popen[str], ready: Callable[[], bool]) -> None:
    """SIGKILL the worker as soon as ``ready()`` says the load transaction is under way."""
    deadline = time.monotonic() + KILL_DEADLINE
    while not ready():
        if worker.poll() is not None:
            out, err = worker.communicate()
            pytest.fail(f"the worker ended (exit {worker.returncode}) before the load could be "
                        f"interrupted:\n{out}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            worker.kill()
            pytest.fail("the load never started within the deadline")
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    out, _ = worker.communicate(timeout=30)
    assert worker.returncode == -signal.SIGKILL
    assert "FINISHED" not in out


def assert_same_as_clean(engine: Engine, clean_engine: Engine) -> None:
    """Table contents equal, and exactly one succeeded run with the clean run's counts."""
    assert contents(engine) == contents(clean_engine)
    counts = ("status", "fetched", "loaded", "quarantined", "duplicates")
    runs = [tuple(getattr(r, c) for c in counts) for r in etl_runs(engine)]
    clean_runs = [tuple(getattr(r, c) for c in counts) for r in etl_runs(clean_engine)]
    assert runs == clean_runs and len(runs) == 1 and runs[0][0] == "succeeded"


def test_sqlite_load_killed_mid_transaction_then_rerun_equals_a_clean_run(
    synthetic: tuple[Path, Path], tmp_path: Path, sqlite_template: Path,
) -> None:
    data_dir, batch = synthetic
    crashed_file = tmp_path / "crashed.sqlite"
    new_sqlite_warehouse(crashed_file, sqlite_template).dispose()
    wal = crashed_file.with_name(crashed_file.name + "-wal")

    worker = start_worker(batch, data_dir, f"sqlite:///{crashed_file}")
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(iter(worker.stdout.readline, "")),
                              daemon=True)
    reader.start()
    deadline = time.monotonic() + KILL_DEADLINE
    while "PUBLICATIONS WRITTEN\n" not in said:
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            pytest.fail(f"the load was not under way in time: {said}\n{worker.stderr.read()}")
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=30)
    reader.join(timeout=30)
    assert worker.returncode == -signal.SIGKILL and "FINISHED\n" not in said
    assert not wal.exists() or wal.stat().st_size == 0, "the kill landed before any commit"

    crashed = create_warehouse_engine(f"sqlite:///{crashed_file}")
    clean = new_sqlite_warehouse(tmp_path / "clean.sqlite", sqlite_template)
    try:
        with crashed.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        left = count_rows(crashed)
        assert left["etl_runs"] == 0 and left["publications"] == 0, (
            f"the kill must land inside the load transaction and leave nothing: {left}")

        again = process(batch, data_dir, crashed).result
        expected = process(batch, data_dir, clean).result
        assert again.is_reconciled and again.counts == expected.counts
        assert expected.loaded > RECORDS * 0.9 and expected.duplicates > 0 and expected.quarantined > 0
        assert_same_as_clean(crashed, clean)
    finally:
        crashed.dispose()
        clean.dispose()


def _worker_holds_publications_lock(observer: Engine) -> bool:
    """The worker's backend has written to ``publications`` (a lock held until commit).

    ``observer`` is connected to the worker's database (relation ids are per database).
    """
    query = text("""
        SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE a.application_name = :name AND a.datname = current_database()
          AND l.relation = 'publications'::regclass AND l.mode = 'RowExclusiveLock'""")
    with observer.connect() as conn:
        return conn.execute(query, {"name": WORKER_NAME}).scalar_one() > 0


def _wait_backend_gone(admin: Engine, database: str) -> None:
    query = text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :name "
                 "AND datname = :db")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with admin.connect() as conn:
            if conn.execute(query, {"name": WORKER_NAME, "db": database}).scalar_one() == 0:
                return
        time.sleep(0.05)
    pytest.fail("the killed worker's PostgreSQL backend never went away")


@pytest.fixture
def two_pg_warehouses(postgres_server_url: str,
                      postgres_warehouse_template: str) -> Iterator[tuple[str, str]]:
    with fresh_database(postgres_server_url, template=postgres_warehouse_template) as a, \
            fresh_database(postgres_server_url, template=postgres_warehouse_template) as b:
        yield a, b


@pytest.mark.postgres
def test_postgres_load_killed_mid_transaction_then_rerun_equals_a_clean_run(
    synthetic: tuple[Path, Path], two_pg_warehouses: tuple[str, str], postgres_server_url: str,
) -> None:
    data_dir, batch = synthetic
    crashed_url, clean_url = two_pg_warehouses
    database = str(make_url(crashed_url).database)
    worker_url = make_url(crashed_url).update_query_dict({"application_name": WORKER_NAME})
    admin = create_engine(make_url(postgres_server_url).set(drivername="postgresql+psycopg"))
    observer = create_warehouse_engine(crashed_url)
    try:
        worker = start_worker(batch, data_dir, worker_url.render_as_string(hide_password=False))
        kill_when(worker, lambda: _worker_holds_publications_lock(observer))
        _wait_backend_gone(admin, database)
    finally:
        admin.dispose()
        observer.dispose()

    crashed = create_warehouse_engine(crashed_url)
    clean = create_warehouse_engine(clean_url)
    try:
        left = count_rows(crashed)
        assert left["etl_runs"] == 0 and left["publications"] == 0, left
        again = process(batch, data_dir, crashed).result
        expected = process(batch, data_dir, clean).result
        assert again.is_reconciled and again.counts == expected.counts
        assert_same_as_clean(crashed, clean)
    finally:
        crashed.dispose()
        clean.dispose()


# ------------------------------------------------------- the warehouse says no midway


@pytest.mark.postgres
def test_a_load_the_warehouse_refuses_midway_is_rolled_back_and_recorded_as_failed(
    two_pg_warehouses: tuple[str, str], server: FaultServer, data_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An analyst (or a migration) holds a lock: the load times out, nothing half-written,
    the failure is in etl_runs and the log; the retry loads every record once."""
    url, _ = two_pg_warehouses
    serve_pages(server, CROSSREF_PATH, crossref_pages())
    batch = harvest_crossref(server, data_dir)
    impatient = make_url(url).update_query_dict({"options": "-c lock_timeout=300"})
    engine = create_warehouse_engine(impatient)
    blocker = create_warehouse_engine(url)
    caplog.set_level(logging.INFO)
    try:
        with blocker.connect() as holder:
            holder.execute(text("LOCK TABLE publications IN ACCESS EXCLUSIVE MODE"))
            with pytest.raises(LoadError, match="lock timeout"):
                process(batch.path, data_dir, engine)
            holder.rollback()
        assert count_rows(engine)["publications"] == 0, "rolled back: nothing half-written"
        (failed,) = etl_runs(engine)
        assert failed.status == "failed" and "lock timeout" in (failed.message or "")
        assert any(r.levelno >= logging.ERROR and batch.batch_id in r.getMessage()
                   for r in caplog.records), "the failed load is logged"

        retry = process(batch.path, data_dir, engine).result
        assert retry.is_reconciled and retry.loaded == 60
        assert [r.status for r in etl_runs(engine)] == ["failed", "succeeded"]
    finally:
        engine.dispose()
        blocker.dispose()


# ------------------------------------------------------------------- redelivery


def test_the_same_batch_processed_twice_changes_nothing(
    warehouse_engine: Engine, server: FaultServer, data_dir: Path
) -> None:
    serve_pages(server, CROSSREF_PATH, crossref_pages())
    batch = harvest_crossref(server, data_dir)
    first = process(batch.path, data_dir, warehouse_engine).result
    once = contents(warehouse_engine)
    second = process(batch.path, data_dir, warehouse_engine).result
    assert first.is_reconciled and second.is_reconciled
    assert (first.loaded, second.loaded, second.unchanged, second.duplicates) == (60, 60, 60, 0)
    assert contents(warehouse_engine) == once
    assert count_rows(warehouse_engine)["publications"] == 60
    assert [(r.status, r.fetched) for r in etl_runs(warehouse_engine)] == [
        ("succeeded", 60), ("succeeded", 60)]


def test_overlapping_incremental_windows_load_each_record_once(
    warehouse_engine: Engine, server: FaultServer, data_dir: Path, crossref_clean: CleanRun,
) -> None:
    """Window 1 (full) gets pages 1-2; window 2 (``from-index-date``) gets pages 2-3."""
    first = crossref_pages(CROSSREF_PAGE_FILES[:2], prefix="w1-")
    second = crossref_pages(CROSSREF_PAGE_FILES[1:], prefix="w2-")
    since = date(2026, 2, 20)
    serve_pages(server, CROSSREF_PATH, first)
    serve_pages(server, CROSSREF_PATH, second,
                query={"filter": f"from-index-date:{since.isoformat()}"})
    batches = []
    for window in (None, since):  # the real extract wiring, as an incremental ingest runs it
        request = crossref_request(server, since=window, contact_email="ops@example.org")
        batches.append(land_stream(open_stream(request, build_session(), no_throttle),
                                   data_dir=data_dir, request=request))
    assert [(b.count, b.statuses) for b in batches] == [(2, {200: 2}), (2, {200: 2})]
    assert list_batches(data_dir) == sorted(b.path for b in batches)

    results = [process(b.path, data_dir, warehouse_engine).result for b in batches]
    assert all(r.is_reconciled for r in results)
    assert [(r.fetched, r.loaded, r.unchanged) for r in results] == [(40, 40, 0), (40, 40, 20)]
    assert count_rows(warehouse_engine)["publications"] == 60
    assert contents(warehouse_engine) == crossref_clean.contents


def test_a_page_delivered_twice_in_one_batch_counts_as_duplicates(
    sqlite_engine: Engine, server: FaultServer, data_dir: Path, crossref_clean: CleanRun,
) -> None:
    """A cursor that hands out page 1 again (provider glitch): 80 fetched, 60 loaded."""
    first, *rest = CROSSREF_PAGE_FILES
    again = crossref_pages((first, first, *rest), prefix="r")  # same works, other cursors
    serve_pages(server, CROSSREF_PATH, again)
    batch = harvest_crossref(server, data_dir)
    assert batch.count == 4
    result = process(batch.path, data_dir, sqlite_engine).result
    assert result.is_reconciled
    assert (result.fetched, result.loaded, result.duplicates) == (80, 60, 20)
    assert contents(sqlite_engine) == crossref_clean.contents
    (run,) = etl_runs(sqlite_engine)
    assert (run.fetched, run.loaded, run.duplicates) == (80, 60, 20)
