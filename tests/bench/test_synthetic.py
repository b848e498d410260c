"""The synthetic generator lands what it claims, and the bench runs end to end (tiny size)."""

from __future__ import annotations

import json
import uuid
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from bench.__main__ import BenchError, main, prepare_workdir
from bench.synthetic import SyntheticSpecError, generate
from flows.steps import parse_batch, process_batch
from sources.landing import list_batches, read_manifest
from warehouse.db import create_warehouse_engine, upgrade_warehouse
from warehouse.load import RunInfo, count_rows

TODAY = date(2026, 1, 20)
JSON_KEYS = {"records", "total_seconds", "records_per_second", "stages", "peak_rss_mb",
             "ratio_vs_naive", "ratio_vs_dlt_load", "noop_seconds"}


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    data = tmp_path_factory.mktemp("synthetic") / "data"
    return data, generate(data, records=3000, seed=7, today=TODAY, batch_records=1200)


def test_generator_lands_complete_batches_per_source(landed: tuple[Path, object]) -> None:
    data, generated = landed
    assert generated.batches == list_batches(data)
    by_source: dict[str, int] = {}
    for path in generated.batches:
        manifest = read_manifest(path)
        by_source[manifest.source] = by_source.get(manifest.source, 0) + 1
        assert all(f.status == 200 for f in manifest.files)
    # 1200 records per batch: Crossref and OpenAlex (1350 each) land two batches.
    assert by_source == {"crossref": 2, "openalex": 2, "pubmed": 1}
    assert generated.expected.by_source == {"crossref": 1350, "openalex": 1350, "pubmed": 300}


def test_parsers_read_every_record_and_reject_exactly_the_bad_ones(
        landed: tuple[Path, object]) -> None:
    data, generated = landed
    expected = generated.expected
    parsed = [parse_batch(path, data) for path in generated.batches]
    frames = pl.concat([p.records for p in parsed])
    rejects = [q for p in parsed for q in p.quarantine]
    fetched = {s: sum(p.fetched for p in parsed if p.source == s) for s in expected.by_source}
    assert fetched == expected.by_source
    assert len(rejects) == expected.parse_rejects
    reasons = " | ".join(q["reason"] for q in rejects)
    assert "has no usable DOI" in reasons and "has no title" in reasons
    assert "has no valid PMID" in reasons
    unique = frames.unique(["source", "source_id"])
    assert frames.height - unique.height == expected.repeats
    # What the generator says about the good records holds for the parsed ones.
    good = unique.filter(pl.col("published_date").dt.year() <= TODAY.year)
    assert unique.height - good.height == expected.validation_rejects
    chinese = good.filter(pl.col("title").str.contains(r"[\u4e00-\u9fff]")
                          | pl.col("title_zh").is_not_null())
    assert chinese.height == expected.chinese_records > 0
    no_abstract = good.filter(pl.col("abstract").is_null() & pl.col("abstract_zh").is_null())
    assert no_abstract.height == expected.records_without_abstract > 0
    precision = good.get_column("date_precision").value_counts()
    counts = dict(zip(precision["date_precision"], precision["count"], strict=True))
    assert counts["year"] == expected.year_precision_records > 0
    assert counts["month"] == expected.month_precision_records > 0
    # The same work in several sources: the same DOI in Crossref and OpenAlex.
    dois = good.filter(pl.col("doi").is_not_null()).group_by("doi").agg(
        pl.col("source").n_unique().alias("n"))
    assert dois.filter(pl.col("n") > 1).height > 0
    pubmed_zh = good.filter((pl.col("source") == "pubmed") & pl.col("title_zh").is_not_null())
    assert pubmed_zh.height > 0 and pubmed_zh.get_column("abstract_zh").drop_nulls().len() > 0


def test_same_seed_same_bodies_other_seed_other_bodies(tmp_path: Path) -> None:
    def digests(seed: int, folder: str) -> list[str]:
        out = generate(tmp_path / folder, records=400, seed=seed, today=TODAY)
        return [f.sha256 for path in out.batches for f in read_manifest(path).files]

    assert digests(3, "a") == digests(3, "b")
    assert digests(3, "a2") != digests(4, "c")


def test_generator_refuses_unknown_sources(tmp_path: Path) -> None:
    with pytest.raises(SyntheticSpecError, match="unknown sources"):
        generate(tmp_path, records=500, sources=["crossref", "scopus"])


def test_workdir_that_the_bench_did_not_make_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(BenchError, match="refusing"):
        prepare_workdir(tmp_path)
    assert (tmp_path / "precious.txt").exists()


def test_bench_end_to_end_reconciles_and_matches_process_batch(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "bench"
    main(["--records", "2000", "--seed", "11", "--validation-engine", "polars",
          "--naive-records", "500", "--workdir", str(workdir), "--keep-workdir"])
    out = capsys.readouterr().out.strip().splitlines()
    line = json.loads(out[-1])
    assert set(line) >= JSON_KEYS
    assert list(line["stages"]) == ["parse", "normalise", "deduplicate", "classify",
                                    "validate", "load"]
    assert all(seconds > 0 for seconds in line["stages"].values()), line["stages"]
    assert line["records"] == 2000
    counts, expected = line["counts"], line["expected"]
    assert line["reconciled"] is True
    assert counts["fetched"] == counts["loaded"] + counts["duplicates"] + counts["quarantined"]
    assert (counts["loaded"], counts["duplicates"], counts["quarantined"]) == (
        expected["publications"], expected["duplicates"], expected["quarantined"])
    assert line["warehouse_publications"] == expected["publications"]
    assert line["reprocess_unchanged"] == counts["fetched"] - counts["quarantined"] \
        - expected["repeats"]
    assert line["naive"]["records"] >= 500 and line["naive"]["note"]
    assert line["dlt"]["records"] == counts["fetched"] - counts["quarantined"] \
        - expected["repeats"]
    assert "stage" in "\n".join(out[:-1]) and "peers" in "\n".join(out[:-1])
    # The bench calls the steps exactly as process_batch does: same warehouse.
    url = f"sqlite:///{tmp_path / 'direct.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    data = workdir / "data"
    for path in list_batches(data):
        manifest = read_manifest(path)
        process_batch(path, data_dir=data, engine=engine, validation_engine="polars",
                      run=RunInfo(run_id=uuid.uuid4().hex, source=manifest.source,
                                  batch_id=manifest.batch_id))
    direct = count_rows(engine)
    engine.dispose()
    bench_engine = create_warehouse_engine(f"sqlite:///{workdir / 'warehouse.sqlite'}")
    benched = count_rows(bench_engine)
    bench_engine.dispose()
    # The bench also ran every batch a second time (forced) and wrote the topics table.
    benched["etl_runs"] //= 2
    direct["topics"] = benched["topics"]
    assert benched == direct
