"""Every source through the whole pipeline into ONE warehouse, offline (issue 3).

The demo plan (tests/fixtures/demo.json) says which recorded conversations the replay
server serves and how each source is run; this test runs the plan's sources with
``run_pipeline_flow`` against one ReplayServer on 127.0.0.1 (real HTTP, real clients,
real Prefect flow runs, real rate limits), imports the exported files, and checks the
warehouse: reconciliation, per-source counts, the cross-source merge, and that a second,
incremental run (watermark minus overlap, no --full) loads nothing and changes nothing.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from flows.demo import FILES_SOURCE, _demo_config, demo_plan, http_steps, step_base_url
from flows.extract import DEFAULT_OVERLAP_DAYS
from flows.replay import ReplayServer, load_routes
from flows.settings import PACKAGED_CONFIG, get_settings
from tests.conftest import FIXTURES
from warehouse import schema as s
from warehouse.db import create_warehouse_engine

PLAN = demo_plan(FIXTURES)
SEED_DOI = "10.3760/cma.j.cn115259-20250317-00283"
CROSSREF_DOI = "10.2478/v10285-012-0015-2"  # a Crossref fixture work, also on the OpenAlex page
#: (fetched, loaded, duplicates, quarantined) of the first run, per source.
FIRST_RUN = {
    "magtech": (10, 8, 0, 2),  # a 404 article and a page without metadata are quarantined
    # 3 cursor pages; two book chapters share titles but have their own DOIs: kept apart
    "crossref": (60, 60, 0, 0),
    "openalex": (42, 39, 2, 1),  # 4 cursor pages; seed + Crossref work merge; one untitled
    "pubmed": (5, 5, 0, 0),  # esearch + 4 efetch pages from the history server
    "arxiv": (20, 20, 0, 0),  # 2 pages, max_records 20
    # 3 resumption pages; 2 header-only deleted records retire (nothing to retire yet);
    # 2 DSpace records repeat another record's title, year and repository: merged
    "oai": (87, 85, 2, 0),
    FILES_SOURCE: (21, 9, 12, 0),  # 7 exports; the same works in several formats
}
SKIP_COLUMNS = {"first_seen_at", "updated_at", "classified_at", "created_at", "run_id",
                "batch_id", "raw_ref", "computed_at", "refreshed_at", "matched_at"}


@pytest.fixture
def replay():
    routes = load_routes(FIXTURES, [step["folder"] for step in http_steps(PLAN)],
                         mounts=PLAN["mounts"])
    with ReplayServer(routes) as server:
        yield server


def contents(engine) -> dict[str, list[tuple[str, ...]]]:
    """Every warehouse row except run bookkeeping, timestamps and landing references.

    A quarantine row keeps pointing at the latest landed copy of its input: its ``raw_ref``
    moves with each run, in the column and inside a validation payload (the record's JSON).
    """
    with engine.connect() as conn:
        tables = {name: [row._asdict() for row in conn.execute(
                      select(*[c for c in table.c if c.name not in SKIP_COLUMNS]))]
                  for name, table in s.metadata.tables.items()
                  if name not in {"etl_runs", "source_state"}}
    for row in tables["quarantine"]:
        if row["stage"] == "validate":
            row["payload"] = {k: v for k, v in json.loads(row["payload"]).items()
                              if k != "raw_ref"}
    return {name: sorted(tuple(map(str, row.values())) for row in rows)
            for name, rows in tables.items()}


def run_every_source(server: ReplayServer, *, report_dir: str | None) -> dict[str, dict]:
    """One pass of the plan (incremental: no --full), with each source's request log.

    With a ``report_dir`` each source runs as ``aied run`` does (``run_pipeline_flow``:
    ingest, process, report); without, as ingest then process (the report is left out to
    keep the test short: it rewrites every chart, ~4 s per run).
    """
    from flows.inbox import import_files_flow
    from flows.ingest import ingest_flow
    from flows.pipeline import run_pipeline_flow
    from flows.process import process_flow

    outcomes = {}
    for step in PLAN["steps"]:
        if step["source"] == FILES_SOURCE:
            paths = [str(FIXTURES / step["folder"] / name) for name in step["files"]]
            outcomes[FILES_SOURCE] = {"process": import_files_flow(paths), "log": []}
            continue
        first = len(server.log.entries)
        base_url = step_base_url(server.url, step, PLAN["mounts"])
        if report_dir is not None:
            result = run_pipeline_flow(step["source"], scope=step.get("scope"),
                                       base_url=base_url, report_dir=report_dir)
        else:
            landed = ingest_flow(step["source"], scope=step.get("scope"), base_url=base_url,
                                 emit_event=False)
            result = {"ingest": landed, "process": process_flow(
                landed["batch_path"], batch_id=landed["batch_id"], emit_event=False)}
        outcomes[step["source"]] = {**result, "log": server.log.entries[first:],
                                    "rate": server.log.rate(start=first)}
    return outcomes


def counts(process: dict) -> tuple[int, int, int, int]:
    return (process["fetched"], process["loaded"], process["duplicates"],
            process["quarantined"])


def test_every_source_into_one_warehouse(prefect_harness, fresh_aied_env, replay, tmp_path):
    settings = get_settings()  # fresh_aied_env: a new data folder and SQLite warehouse
    _demo_config(settings.config_path, PACKAGED_CONFIG, overrides=PLAN["config"])
    report_dir = tmp_path / "report"

    first = run_every_source(replay, report_dir=str(report_dir))

    assert {src: counts(o["process"]) for src, o in first.items()} == FIRST_RUN
    assert all(o["process"]["reconciled"] for o in first.values())
    statuses = {src: {status for _, _, status, _ in o["log"]} for src, o in first.items()}
    assert statuses == {"magtech": {200, 404}, "crossref": {200}, "openalex": {200},
                        "pubmed": {200}, "arxiv": {200}, "oai": {200}, FILES_SOURCE: set()}
    paths = {src: [path for path, _, _, _ in o["log"]] for src, o in first.items()}
    assert paths["crossref"] == ["/replay/crossref/journals/1803-2427/works"] * 3
    assert paths["openalex"] == ["/replay/openalex/works"] * 4
    assert paths["pubmed"] == ["/replay/pubmed/esearch.fcgi"] + ["/replay/pubmed/efetch.fcgi"] * 4
    assert paths["arxiv"] == ["/replay/arxiv/api/query"] * 2
    assert paths["oai"] == ["/replay/oai/oai2d"] * 3
    efetch_starts = [parse_qs(q)["retstart"][0] for p, q, _, _ in first["pubmed"]["log"]
                     if p.endswith("efetch.fcgi")]
    assert efetch_starts == ["0", "10", "20", "30"]
    oai_queries = [parse_qs(q) for _, q, _, _ in first["oai"]["log"]]
    assert all(set(q) == {"verb", "resumptionToken"} for q in oai_queries[1:]), \
        "a resumptionToken is sent alone with verb"

    engine = create_warehouse_engine(settings.warehouse_url)
    with engine.connect() as conn:
        for doi, sources, other, other_id, new_id in (
            (SEED_DOI, "magtech,openalex", "magtech", SEED_DOI, "W9900000001"),
            (CROSSREF_DOI, "crossref,openalex", "crossref", CROSSREF_DOI, "W9900000002"),
        ):
            pub = conn.execute(select(s.publications).where(s.publications.c.doi == doi)).one()
            assert pub.sources == sources and pub.openalex_id == new_id
            field_sources = json.loads(pub.field_sources)
            assert set(field_sources.values()) == set(sources.split(","))
            assert field_sources["openalex_id"] == "openalex"
            assert field_sources["title"] == other
            records = conn.execute(select(s.source_records.c.source, s.source_records.c.source_id)
                                   .where(s.source_records.c.pub_id == pub.pub_id)).all()
            assert sorted(records) == sorted([(other, other_id), ("openalex", new_id)])
            match = conn.execute(select(s.publication_matches).where(
                s.publication_matches.c.pub_id == pub.pub_id)).one()
            assert (match.source, match.source_id, match.matched_source, match.matched_source_id,
                    match.rule, match.score) == ("openalex", new_id, other, other_id, "doi", 1.0)
        seed = conn.execute(select(s.publications).where(s.publications.c.doi == SEED_DOI)).one()
        assert seed.title_zh and seed.section == "人工智能在医学教育中的应用"
        runs = conn.execute(select(s.etl_runs.c.source, s.etl_runs.c.status)).all()
        assert sorted(runs) == sorted((src, "succeeded") for src in FIRST_RUN)
        lineage = dict(conn.execute(select(s.source_records.c.source, func.count())
                                    .group_by(s.source_records.c.source)).all())
        # Lineage for every record loaded or matched (a deletion retires its record); the
        # exports repeat works across files: the repeats are dropped before the load.
        assert lineage == {src: o["process"]["loaded"] + o["process"]["duplicates"]
                           - o["process"]["deleted"] for src, o in first.items()} | {
            FILES_SOURCE: first[FILES_SOURCE]["process"]["loaded"]}
        # Every publication an arXiv record feeds names its (versionless) arXiv id.
        arxiv = conn.execute(select(s.source_records.c.source_id, s.publications.c.arxiv_id)
                             .join(s.publications)
                             .where(s.source_records.c.source == "arxiv")).all()
        assert len(arxiv) == FIRST_RUN["arxiv"][0] and all(a == b for a, b in arxiv)
        publications = conn.execute(select(func.count()).select_from(s.publications)).scalar()
        assert publications == conn.execute(
            select(func.count(s.source_records.c.pub_id.distinct()))).scalar()
        # The loader writes without row-by-row key checks on SQLite: every key must hold.
        assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
    before = contents(engine)
    assert (report_dir / "index.html").exists()

    second = run_every_source(replay, report_dir=None)

    watermark = date.fromisoformat(first["crossref"]["ingest"]["watermark"])
    window_start = (watermark - timedelta(days=DEFAULT_OVERLAP_DAYS)).isoformat()
    for source, outcome in second.items():
        process = outcome["process"]
        assert process["reconciled"], (source, process)
        # The same records are counted the same way as the first time, and all are unchanged.
        if source == "magtech":  # known article pages are not fetched again
            assert process["loaded"] == 0 and process["fetched"] < FIRST_RUN[source][0]
        else:
            assert counts(process) == FIRST_RUN[source], (source, process)
        live = process["loaded"] + process["duplicates"] - process["deleted"]
        assert process["loaded"] - process["deleted"] <= process["unchanged"] <= live, source
        assert process["publications_written"] == 0, (source, process)
        if source != FILES_SOURCE:
            assert outcome["ingest"]["since"] == window_start, source
    sent = {src: " ".join(q for _, q, _, _ in o["log"]) for src, o in second.items()}
    assert f"from-index-date%3A{window_start}" in sent["crossref"]
    assert f"from_updated_date%3A{window_start}" in sent["openalex"]
    assert f"mindate={date.fromisoformat(window_start):%Y%%2F%m%%2F%d}" in sent["pubmed"]
    assert f"submittedDate%3A%5B{window_start.replace('-', '')}0000" in sent["arxiv"]
    assert f"from={window_start}" in sent["oai"]
    assert contents(engine) == before

    print("\nrequests per second reached against the replay server (first, second run):")
    for source in first:
        if source != FILES_SOURCE:
            print(f"  {source:9} {len(first[source]['log']):3} requests "
                  f"{first[source]['rate'] or 0:7.2f}/s, {len(second[source]['log']):3} "
                  f"requests {second[source]['rate'] or 0:7.2f}/s")


def test_demo_plan_serves_nested_folders_and_sets_recorded_page_sizes(tmp_path):
    from flows.replay import RouteFileError
    from flows.settings import load_config

    routes = load_routes(FIXTURES, [step["folder"] for step in http_steps(PLAN)],
                         mounts=PLAN["mounts"])
    prefixes = {route.path.split("/")[1] for route in routes}
    assert {"replay", "CN", "EN", "robots.txt"} <= prefixes  # the site is mounted at /
    assert {route.path for route in routes if route.path.startswith("/replay/oai")} == {
        "/replay/oai/oai2d"}
    with pytest.raises(RouteFileError, match="no routes.json"):
        load_routes(FIXTURES, ["files"])

    config = load_config(_demo_config(tmp_path / "aied.toml", PACKAGED_CONFIG, overrides={
        **PLAN["config"], "crossref": {"rows": 20, "rate_per_second": 2.5},
        "files": {"format": "auto"}}))
    assert config.source("crossref")["rows"] == 20
    assert config.source("crossref")["rate_per_second"] == 2.5  # replaced, not repeated
    assert config.source("pubmed")["batch_size"] == 10
    assert config.source("arxiv")["max_records"] == 20
    assert config.source("files") == {"format": "auto"}  # a section the base lacks
