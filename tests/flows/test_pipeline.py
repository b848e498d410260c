"""End to end: the seed journal's site over real HTTP on 127.0.0.1, real Prefect flow runs."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from flows.replay import ReplayServer, load_routes
from tests.conftest import FIXTURES
from warehouse import schema as s
from warehouse.db import create_warehouse_engine
from warehouse.load import count_rows

SEED_DOI = "10.3760/cma.j.cn115259-20250317-00283"


@pytest.fixture
def journal_site():
    with ReplayServer(load_routes(FIXTURES, ["magtech"], mounts={"magtech": "/"})) as server:
        yield server


def contents(engine):
    skip = {"first_seen_at", "updated_at", "classified_at", "created_at", "run_id",
            "batch_id", "raw_ref", "computed_at", "refreshed_at"}
    with engine.connect() as conn:
        return {name: sorted(tuple(map(str, row)) for row in conn.execute(
                    select(*[c for c in table.c if c.name not in skip])))
                for name, table in s.metadata.tables.items()
                if name not in {"etl_runs", "source_state"}}


def test_seed_journal_end_to_end_and_idempotent(prefect_harness, fresh_aied_env, journal_site,
                                                tmp_path):
    from flows.pipeline import run_pipeline_flow

    result = run_pipeline_flow("magtech", scope="1673-677X", base_url=journal_site.url,
                               full=True, report_dir=str(tmp_path / "report"))
    process = result["process"]
    assert process["reconciled"] is True
    assert (process["fetched"], process["loaded"], process["quarantined"]) == (10, 8, 2)
    engine = create_warehouse_engine(fresh_aied_env["AIED_WAREHOUSE_URL"])
    with engine.connect() as conn:
        seed = conn.execute(select(s.publications).where(s.publications.c.doi == SEED_DOI)).one()
        assert seed.title_zh and seed.title.startswith("Application progress and future trends")
        assert seed.section == "人工智能在医学教育中的应用"
        assert (seed.volume, seed.issue, seed.pages) == ("46", "1", "1-7")
        assert seed.is_ai_education is True
        topics = conn.execute(select(s.publication_topics.c.topic).where(
            s.publication_topics.c.pub_id == seed.pub_id)).scalars().all()
        assert topics, "the seed article gets at least one topic"
        lineage = conn.execute(select(s.source_records.c.raw_ref).where(
            s.source_records.c.pub_id == seed.pub_id)).scalar_one()
        assert (fresh_aied_env["AIED_DATA_DIR"] / lineage.split("#")[0]).exists()
        reasons = conn.execute(select(s.quarantine.c.stage, s.quarantine.c.reason)).all()
        assert {stage for stage, _ in reasons} == {"fetch", "parse"}
        assert any("404" in reason for _, reason in reasons)
        trends = conn.exec_driver_sql("SELECT topic, year, publications FROM topic_trends").all()
        assert trends
    assert (tmp_path / "report" / "index.html").exists()
    before = contents(engine)

    again = run_pipeline_flow("magtech", scope="1673-677X", base_url=journal_site.url,
                              full=True, report_dir=str(tmp_path / "report"))
    assert again["process"]["unchanged"] == 8 and again["process"]["reconciled"]
    assert contents(engine) == before

    requests_before = len(journal_site.log.entries)
    incremental = run_pipeline_flow("magtech", scope="1673-677X", base_url=journal_site.url,
                                    report_dir=str(tmp_path / "report"))
    article_requests = [p for p, _, _, _ in journal_site.log.entries[requests_before:]
                        if "/CN/10." in p]
    assert incremental["process"]["loaded"] == 0
    assert article_requests == ["/CN/10.3760/cma.j.cn115259-20250415-00402"] or \
        len(article_requests) <= 2, "known articles are not fetched again"
    assert contents(engine) == before
    counts = count_rows(engine)
    assert counts["etl_runs"] == 3 and counts["publications"] == 8
    manifests = list(fresh_aied_env["AIED_DATA_DIR"].rglob("manifest.json"))
    assert len(manifests) == 3
    assert {json.loads(m.read_text())["source"] for m in manifests} == {"magtech"}
