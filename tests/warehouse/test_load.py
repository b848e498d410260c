"""The batch loader on SQLite and PostgreSQL: idempotent, atomic, merging, reconciled."""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest
from sqlalchemy import Engine, select

from transforms.canonical import to_canonical_frame
from transforms.dedupe import drop_repeated_records, with_match_keys
from transforms.normalise import normalise_records
from warehouse import schema as s
from warehouse.load import LoadError, RunInfo, count_rows, load_batch

EVIDENCE = pl.List(pl.Struct({"term": pl.String, "field": pl.String, "weight": pl.Float64}))


def label(pubs: pl.DataFrame) -> pl.DataFrame:
    """A fixed, explicit labelling for loader tests: AI iff the title mentions 'AI'."""
    is_ai = pl.coalesce(pl.col("title"), pl.lit("")).str.contains(r"\bAI\b")
    return pubs.with_columns(
        is_ai.alias("is_ai_education"),
        pl.when(is_ai).then(0.9).otherwise(0.1).alias("ai_score"),
        pl.when(is_ai).then(pl.lit([{"term": "AI", "field": "title", "weight": 1.0}],
                                   dtype=EVIDENCE))
        .otherwise(pl.lit([], dtype=EVIDENCE)).alias("ai_evidence"),
        pl.when(is_ai).then(pl.lit(
            [{"topic": "genai-llm", "score": 0.8,
              "evidence": [{"term": "AI", "field": "title", "weight": 1.0}]}],
            dtype=pl.List(pl.Struct({"topic": pl.String, "score": pl.Float64,
                                     "evidence": EVIDENCE}))))
        .otherwise(pl.lit([], dtype=pl.List(pl.Struct({"topic": pl.String, "score": pl.Float64,
                                                        "evidence": EVIDENCE}))))
        .alias("topics"),
        pl.lit("t1").alias("taxonomy_version"),
    )


def prepare(rows):
    frame = with_match_keys(normalise_records(to_canonical_frame(rows)))
    kept, dropped = drop_repeated_records(frame)
    return kept, dropped.height


AUTHOR = {"name": "Wen Deliang", "name_zh": "闻德亮", "orcid": None,
          "affiliation": "China Medical University"}
MAGTECH = [
    {"source": "magtech", "source_id": "10.3760/cma.j.cn115259-20250317-00283",
     "doi": "10.3760/cma.j.cn115259-20250317-00283", "journal_issn": "1673-677X",
     "journal_title": "Chinese Journal of Medical Education", "journal_title_zh": "中华医学教育杂志",
     "title": "Application progress and future trends of AI in medical education",
     "title_zh": "人工智能在医学教育中的应用进展与未来趋势", "abstract_zh": "摘要",
     "keywords": ["Artificial intelligence", "人工智能"], "authors": [AUTHOR],
     "published_date": date(2025, 12, 31), "date_precision": "day",
     "received_date": date(2025, 3, 17), "section": "人工智能在医学教育中的应用",
     "raw_ref": "landing/magtech/x/00001.html"},
    {"source": "magtech", "source_id": "10.3760/cma.j.cn115259-20250101-00001",
     "doi": "10.3760/cma.j.cn115259-20250101-00001", "journal_issn": "1673-677X",
     "title": "Flipped classroom in anatomy", "published_date": date(2025, 12, 31),
     "date_precision": "day", "raw_ref": "landing/magtech/x/00002.html"},
]


def snapshot(engine: Engine) -> dict[str, list]:
    """Table contents without load timestamps (what a rerun must leave identical)."""
    skip = {"first_seen_at", "updated_at", "classified_at", "matched_at", "created_at",
            "run_id", "started_at", "finished_at"}
    out = {}
    with engine.connect() as conn:
        for name, table in s.metadata.tables.items():
            if name == "etl_runs":
                continue
            cols = [c for c in table.c if c.name not in skip]
            out[name] = sorted(tuple(map(str, r)) for r in conn.execute(select(*cols)))
    return out


def run(name: str, source: str = "magtech") -> RunInfo:
    return RunInfo(run_id=name, source=source, batch_id=f"batch-{name}")


def test_load_writes_every_table_and_reconciles(warehouse_engine):
    records, repeats = prepare(MAGTECH + [MAGTECH[1]])
    quarantine = [{"stage": "parse", "reason": "no citation meta tags", "expectation": None,
                   "raw_ref": "landing/magtech/x/00003.html", "payload": "<html>",
                   "source_id": None}]
    result = load_batch(warehouse_engine, records, run=run("r1"), classify=label,
                        quarantine_rows=quarantine, repeats=repeats)
    assert (result.fetched, result.loaded, result.duplicates, result.quarantined) == (4, 2, 1, 1)
    assert result.is_reconciled
    counts = count_rows(warehouse_engine)
    assert counts["publications"] == 2 and counts["source_records"] == 2
    assert counts["quarantine"] == 1 and counts["journals"] == 1
    assert counts["publication_topics"] == 1 and counts["publication_keywords"] == 2
    with warehouse_engine.connect() as conn:
        pub = conn.execute(select(s.publications).where(
            s.publications.c.doi == "10.3760/cma.j.cn115259-20250317-00283")).one()
        assert pub.title_zh == "人工智能在医学教育中的应用进展与未来趋势"
        assert (pub.pub_year, pub.pub_month, pub.is_ai_education) == (2025, 12, True)
        assert json.loads(pub.field_sources)["title_zh"] == "magtech"
        author = conn.execute(select(s.authors.c.name_zh, s.publication_authors.c.affiliation)
                              .join(s.publication_authors)).one()
        assert author == ("闻德亮", "China Medical University")
        run_row = conn.execute(select(s.etl_runs)).one()
        assert (run_row.status, run_row.fetched, run_row.loaded) == ("succeeded", 4, 2)
        lineage = conn.execute(select(s.source_records.c.raw_ref)).scalars().all()
        assert sorted(lineage) == ["landing/magtech/x/00001.html", "landing/magtech/x/00002.html"]


def test_same_batch_twice_changes_nothing(warehouse_engine):
    records, repeats = prepare(MAGTECH)
    load_batch(warehouse_engine, records, run=run("r1"), classify=label, repeats=repeats)
    before = snapshot(warehouse_engine)
    again = load_batch(warehouse_engine, records, run=run("r2"), classify=label)
    assert again.unchanged == 2 and again.loaded == 2 and again.publications_written == 0
    assert snapshot(warehouse_engine) == before


def test_same_work_from_another_source_is_merged_and_recorded(warehouse_engine):
    records, _ = prepare(MAGTECH)
    load_batch(warehouse_engine, records, run=run("r1"), classify=label)
    crossref, _ = prepare([{
        "source": "openalex", "source_id": "W123", "openalex_id": "W123",
        "doi": "https://doi.org/10.3760/CMA.J.CN115259-20250317-00283",
        "title": "Application progress and future trends of AI in medical education",
        "abstract": "Medical education ... AI.", "published_date": date(2025, 1, 1),
        "date_precision": "year", "raw_ref": "landing/openalex/y/00000.json#0"}])
    result = load_batch(warehouse_engine, crossref, run=run("r2", "openalex"), classify=label)
    assert (result.fetched, result.loaded, result.duplicates) == (1, 0, 1)
    with warehouse_engine.connect() as conn:
        pubs = conn.execute(select(s.publications)).all()
        assert len(pubs) == 2
        merged = next(p for p in pubs if p.openalex_id == "W123")
        assert merged.abstract == "Medical education ... AI."
        assert merged.title_zh == "人工智能在医学教育中的应用进展与未来趋势"
        assert merged.published_date == date(2025, 12, 31)  # the precise date wins
        assert merged.sources == "magtech,openalex"
        match = conn.execute(select(s.publication_matches)).one()
        assert (match.rule, match.matched_source, match.source) == ("doi", "magtech", "openalex")


def test_a_crash_halfway_rolls_the_whole_batch_back(warehouse_engine):
    records, _ = prepare(MAGTECH)
    load_batch(warehouse_engine, records[:1], run=run("r1"), classify=label)
    before = snapshot(warehouse_engine)

    def explode(pubs: pl.DataFrame) -> pl.DataFrame:
        raise RuntimeError("classifier crashed")

    with pytest.raises(LoadError, match="rolled back"):
        load_batch(warehouse_engine, records, run=run("r2"), classify=explode)
    assert snapshot(warehouse_engine) == before
    load_batch(warehouse_engine, records, run=run("r3"), classify=label)
    assert count_rows(warehouse_engine)["publications"] == 2


def test_deleted_records_retire_their_publication(warehouse_engine):
    records, _ = prepare(MAGTECH)
    load_batch(warehouse_engine, records, run=run("r1"), classify=label)
    gone, _ = prepare([{**MAGTECH[1], "is_deleted": True}])
    result = load_batch(warehouse_engine, gone, run=run("r2"), classify=label)
    assert result.deleted == 1
    counts = count_rows(warehouse_engine)
    assert counts["publications"] == 1 and counts["source_records"] == 1


def test_keys_hold_after_loads_and_checking_is_back_on(warehouse_engine):
    records, _ = prepare(MAGTECH)
    load_batch(warehouse_engine, records, run=run("r1"), classify=label)
    other, _ = prepare([{**MAGTECH[0], "source": "openalex", "source_id": "W1"}])
    load_batch(warehouse_engine, other, run=run("r2"), classify=label)
    gone, _ = prepare([{**MAGTECH[1], "is_deleted": True}])
    load_batch(warehouse_engine, gone, run=run("r3"), classify=label)
    with warehouse_engine.connect() as conn:
        if warehouse_engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
        orphans = conn.execute(select(s.publication_authors.c.pub_id).where(
            ~s.publication_authors.c.pub_id.in_(select(s.publications.c.pub_id)))).all()
        assert orphans == []
        assert conn.execute(select(s.source_records.c.source)).scalars().all() == [
            "magtech", "openalex"]


ARXIV = {"source": "arxiv", "source_id": "2501.01234", "doi": None,
         "title": "Application progress and future trends of AI in medical education",
         "abstract": "A preprint.", "published_date": date(2025, 12, 31), "date_precision": "day",
         "url": "https://arxiv.org/abs/2501.01234", "raw_ref": "landing/arxiv/z/00000.xml#0"}


def test_a_preprint_keeps_its_arxiv_id_alone_and_once_merged(warehouse_engine):
    preprint, _ = prepare([ARXIV])
    load_batch(warehouse_engine, preprint, run=run("r1", "arxiv"), classify=label)
    with warehouse_engine.connect() as conn:
        alone = conn.execute(select(s.publications.c.arxiv_id, s.publications.c.doi)).all()
    assert alone == [("2501.01234", None)]
    # The journal version arrives later: the same title, year and no journal -> merged.
    journal, _ = prepare([{**MAGTECH[0], "journal_issn": None, "journal_title": None,
                           "journal_title_zh": None, "title_zh": None}])
    result = load_batch(warehouse_engine, journal, run=run("r2"), classify=label)
    assert result.duplicates == 1
    with warehouse_engine.connect() as conn:
        merged = conn.execute(select(s.publications.c.arxiv_id, s.publications.c.doi)).all()
    assert merged == [("2501.01234", MAGTECH[0]["doi"])]
