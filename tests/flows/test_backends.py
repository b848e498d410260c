"""The same landed input fills SQLite and PostgreSQL identically (same rows per table)."""

from __future__ import annotations

import pytest

from flows.replay import ReplayServer, load_routes
from tests.conftest import FIXTURES
from tests.pg import fresh_database
from warehouse.db import create_warehouse_engine
from warehouse.load import count_rows


@pytest.mark.postgres
def test_sqlite_and_postgresql_get_the_same_rows(prefect_harness, fresh_aied_env,
                                                 postgres_server_url, monkeypatch, tmp_path):
    from flows.demo import _demo_config, demo_plan
    from flows.pipeline import run_pipeline_flow
    from flows.process import process_flow
    from flows.settings import PACKAGED_CONFIG

    # The page sizes the recordings were made with (as the offline demo uses them).
    config = _demo_config(tmp_path / "aied.toml", PACKAGED_CONFIG,
                          overrides=demo_plan(FIXTURES).get("config"))
    monkeypatch.setenv("AIED_CONFIG", str(config))

    routes = load_routes(FIXTURES, ["magtech", "replay/crossref"], mounts={"magtech": "/"})
    with ReplayServer(routes) as server:
        magtech = run_pipeline_flow("magtech", scope="1673-677X", base_url=server.url,
                                    full=True, report=False)
        crossref = run_pipeline_flow("crossref", scope="1803-2427",
                                     base_url=server.url + "/replay/crossref", full=True,
                                     report_dir=str(tmp_path / "report-sqlite"))
    sqlite_counts = count_rows(create_warehouse_engine(
        str(fresh_aied_env["AIED_WAREHOUSE_URL"])))

    with fresh_database(postgres_server_url) as pg_url:
        monkeypatch.setenv("AIED_WAREHOUSE_URL", pg_url)
        for landed in (magtech["ingest"], crossref["ingest"]):  # the same landed batches
            process_flow(landed["batch_path"], batch_id=landed["batch_id"], emit_event=False)
        from flows.report import report_flow

        report_flow(str(tmp_path / "report-pg"))
        engine = create_warehouse_engine(pg_url)
        pg_counts = count_rows(engine)
        engine.dispose()
    assert sqlite_counts["publications"] > 0
    # Watermarks are written by the ingest, which ran once (into SQLite); the PostgreSQL
    # warehouse was filled from the same landed batches.
    assert sqlite_counts.pop("source_state") == 2 and pg_counts.pop("source_state") == 0
    assert pg_counts == sqlite_counts
