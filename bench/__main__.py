"""End-to-end benchmark: synthetic landed batches to a fresh SQLite warehouse, against peers.

The real stages run on every landed batch, without Prefect, in the order
:func:`flows.steps.process_batch` runs them, each timed: parse (``parse_batch``), normalise
(``prepare_records``: normalisation, match keys, repeated records dropped; then
``oversize_quarantine``), classify (``classify_topics``), validate (``validate_records``) and
load (``load_batch``: matching, merging, classification of merged publications and the upserts,
one transaction per batch).
Then the same batches again: first as ``process_flow`` does it (a batch already loaded is
skipped: the no-op), then forced through every stage (every record unchanged). Peers on the same
records: a naive pandas + ORM pipeline and dlt's SQLAlchemy destination.

Usage::

    .venv/bin/python -m bench --records 100000
    .venv/bin/python -m bench --records 1000000 --validation-engine polars --skip-dlt

The last line printed is one JSON object (records, total_seconds, records_per_second, stages,
peak_rss_mb, ratio_vs_naive, ratio_vs_dlt_load, noop_seconds, and more).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from bench.synthetic import DEFAULT_BATCH_RECORDS, SOURCES, GeneratedSet, generate
from flows.steps import (
    oversize_quarantine,
    parse_batch,
    prepare_records,
    topic_rows,
    validate_records,
)
from sources.landing import read_manifest
from transforms.classify import classify_topics, load_taxonomy
from warehouse.db import create_warehouse_engine, upgrade_warehouse
from warehouse.load import LoadResult, RunInfo, count_rows, load_batch, upsert_topics
from warehouse.state import processed_batches

#: Stages in the order of the issue's list; "deduplicate" (finding each record's publication
#: among the warehouse's and the batch's) runs inside the load's transaction and is timed there.
STAGES: tuple[str, ...] = ("parse", "normalise", "deduplicate", "classify", "validate", "load")
MARKER = ".aied-bench"
#: Targets on the 2-core reference machine (1M records).
TARGET_SECONDS_1M = 120.0
TARGET_NOOP_SECONDS = 5.0
TARGET_NAIVE_RATIO = 10.0


class BenchError(RuntimeError):
    """The benchmark cannot run (workdir in use, a batch failed its quality gate...)."""


@dataclass
class RunTimings:
    """Seconds per stage and the summed load counts of one pass over the batches."""

    stages: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    cpu: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    counts: LoadResult = field(default_factory=LoadResult)
    batches: int = 0
    failed: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return sum(self.stages.values())


class _Clock:
    """Adds the wall and CPU time (all threads) of each ``with clock(stage):`` block."""

    def __init__(self, stages: dict[str, float], cpu: dict[str, float]) -> None:
        self.stages = stages
        self.cpu = cpu

    def __call__(self, stage: str) -> _Clock:
        self._stage = stage
        return self

    def __enter__(self) -> None:
        self._start = time.perf_counter()
        self._cpu = time.process_time()

    def __exit__(self, *_: object) -> None:
        self.stages[self._stage] += time.perf_counter() - self._start
        self.cpu[self._stage] += time.process_time() - self._cpu


def run_batches(batches: Sequence[Path], *, data_dir: Path, engine: Any, today: date,
                validation_engine: str,
                keep: Callable[[pl.DataFrame], None] | None = None) -> RunTimings:
    """Process every batch with the pipeline's own step functions, timing each stage.

    The calls and their order are those of :func:`flows.steps.process_batch`; ``keep``
    receives the frame each load is given (the peers load the same records).

    Raises:
        BenchError: A batch failed its batch-level quality gate.
    """
    timings = RunTimings()
    clock = _Clock(timings.stages, timings.cpu)
    taxonomy = load_taxonomy()
    allowed = frozenset(t.slug for t in taxonomy.topics)
    for path in batches:
        manifest = read_manifest(path)
        run = RunInfo(run_id=uuid.uuid4().hex, source=manifest.source,
                      batch_id=manifest.batch_id, watermark=manifest.params.get("since"))
        with clock("parse"):
            parsed = parse_batch(path, data_dir)
        with clock("normalise"):
            records, repeats = prepare_records(parsed.records)
            records, oversize = oversize_quarantine(records)
        with clock("classify"):
            classified = classify_topics(records, taxonomy)
        with clock("validate"):
            passed, bad, failures, _ = validate_records(
                classified, allowed_topics=allowed, today=today, engine_name=validation_engine)
        if failures:
            raise BenchError(f"batch {manifest.batch_id} failed the quality gate: {failures}")
        failed_records = len({row["source_id"] for row in bad + oversize})
        to_load = passed
        with clock("load"):
            result = load_batch(
                engine, to_load, run=run,
                classify=lambda pubs: classify_topics(pubs, taxonomy),
                quarantine_rows=parsed.quarantine + oversize + bad,
                quarantined=len(parsed.quarantine) + failed_records,
                repeats=repeats, fetched=parsed.fetched,
            )
        _move(timings.stages, "load", "deduplicate", result.match_seconds)
        _move(timings.cpu, "load", "deduplicate", result.match_cpu_seconds)
        if keep is not None:
            keep(to_load.select(records.columns))
        _add(timings.counts, result)
        timings.batches += 1
    return timings


def _move(stages: dict[str, float], source: str, target: str, seconds: float) -> None:
    stages[source] -= seconds
    stages[target] += seconds


def _add(total: LoadResult, part: LoadResult) -> None:
    for name in ("fetched", "loaded", "duplicates", "quarantined", "unchanged", "deleted",
                 "publications_written", "matches"):
        setattr(total, name, getattr(total, name) + getattr(part, name))


def _spill(folder: Path, paths: list[Path]) -> Callable[[pl.DataFrame], None]:
    folder.mkdir(parents=True, exist_ok=True)

    def keep(frame: pl.DataFrame) -> None:
        path = folder / f"{len(paths):04d}.parquet"
        frame.write_parquet(path)
        paths.append(path)

    return keep


def noop_pass(batches: Sequence[Path], engine: Any) -> tuple[float, int]:
    """What ``process_flow`` does with batches seen again: skip the ones already loaded.

    Returns:
        (seconds, batches that would have been processed).
    """
    start = time.perf_counter()
    done = processed_batches(engine)
    todo = [p for p in batches if read_manifest(p).batch_id not in done]
    return time.perf_counter() - start, len(todo)


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (MiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def prepare_workdir(workdir: Path | None) -> Path:
    """A fresh working directory; one left by an earlier bench run is emptied.

    Raises:
        BenchError: The directory exists, is not empty and was not made by the bench.
    """
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="aied-bench-"))
    elif workdir.exists() and any(workdir.iterdir()):
        if not (workdir / MARKER).exists():
            msg = f"workdir {workdir} is not empty and was not made by the bench; refusing"
            raise BenchError(msg)
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / MARKER).write_text("made by python -m bench; emptied on the next run\n")
    return workdir


# --------------------------------------------------------------------------- reporting


def _fmt_rate(records: int, seconds: float) -> str:
    return f"{records / seconds:>12,.0f}" if seconds > 0 else f"{'-':>12}"


def render_table(summary: dict[str, Any]) -> str:
    """The human-readable report."""
    n = summary["records"]
    lines = [
        "",
        f"aied-trends bench: {n:,} records ({', '.join(summary['sources'])}), "
        f"{summary['batches']} batches, validation engine {summary['validation_engine']}, "
        f"seed {summary['seed']}",
        f"generated in {summary['generate_seconds']:.1f} s "
        f"({summary['landed_mb']:,.0f} MB landed, {summary['bodies']:,} bodies); "
        f"load average before/after {summary['loadavg_before']} / {summary['loadavg_after']}",
        "",
        f"{'stage':<12}{'seconds':>10}{'rec/s':>13}{'share':>8}{'CPU s':>10}   (first run)",
    ]
    total = summary["total_seconds"]
    for stage, seconds in summary["stages"].items():
        lines.append(f"{stage:<12}{seconds:>10.2f}{_fmt_rate(n, seconds)}"
                     f"{seconds / total:>8.0%}{summary['stages_cpu'][stage]:>10.2f}")
    lines.append(f"{'total':<12}{total:>10.2f}{_fmt_rate(n, total)}{1:>8.0%}"
                 f"{sum(summary['stages_cpu'].values()):>10.2f}")
    c = summary["counts"]
    e = summary["expected"]
    lines += [
        "",
        f"counts: fetched {c['fetched']:,} = loaded {c['loaded']:,} + duplicates "
        f"{c['duplicates']:,} + quarantined {c['quarantined']:,}: "
        f"{'reconciled' if summary['reconciled'] else 'NOT RECONCILED'}",
        f"expected: loaded {e['publications']:,}, duplicates {e['duplicates']:,}, quarantined "
        f"{e['quarantined']:,}; warehouse has {summary['warehouse_publications']:,} "
        f"publications ({summary['ai_education']:,} AI-in-education)",
        f"peak RSS {summary['peak_rss_mb']:,.0f} MB (pipeline), "
        f"{summary['peak_rss_final_mb']:,.0f} MB (with peers)",
        "",
        f"no-op (process_flow on the same batches: already loaded, skipped): "
        f"{summary['noop_seconds']:.3f} s",
    ]
    if summary.get("reprocess_seconds") is not None:
        stages = ", ".join(f"{k} {v:.1f}" for k, v in summary["reprocess_stages"].items())
        lines.append(f"forced reprocess (every record unchanged): "
                     f"{summary['reprocess_seconds']:.1f} s ({stages}); "
                     f"{summary['reprocess_unchanged']:,} unchanged")
    naive, dlt = summary.get("naive"), summary.get("dlt")
    lines += ["", "peers (same records):"]
    if naive:
        lines.append(
            f"  naive pandas apply + ORM per row: {naive['records']:,} records in "
            f"{naive['seconds']:.1f} s"
            + (f", extrapolated linearly to {n:,}: {naive['extrapolated_seconds']:.0f} s"
               if naive["records"] < n else "")
            + f" -> ours {summary['ratio_vs_naive']:.2f}x (naive seconds / ours)")
    else:
        lines.append("  naive: skipped")
    if dlt:
        lines.append(
            f"  dlt {dlt['version']} sqlalchemy/sqlite ({dlt['write_disposition']}): "
            f"{dlt['records']:,} records, extract {dlt['extract_seconds']:.1f} s + normalize "
            f"{dlt['normalize_seconds']:.1f} s + load {dlt['load_seconds']:.1f} s = "
            f"{dlt['seconds']:.1f} s; our deduplicate + load "
            f"{summary['stages']['deduplicate'] + summary['stages']['load']:.1f} s -> "
            f"ours {summary['ratio_vs_dlt_load']:.2f}x (dlt run) / "
            f"{summary['ratio_vs_dlt_load_step']:.2f}x (dlt load step alone)")
    else:
        lines.append("  dlt: skipped")
    targets = summary["targets"]
    lines += ["", "targets (1M records, 2 cores): "
              + "; ".join(f"{k} {'met' if v else 'MISSED'}" for k, v in targets.items()
                          if v is not None)]
    return "\n".join(lines)


def _targets(summary: dict[str, Any]) -> dict[str, bool | None]:
    scale = 1_000_000 / summary["records"]
    return {
        f"<= {TARGET_SECONDS_1M:.0f} s at 1M (linear)":
            summary["total_seconds"] * scale <= TARGET_SECONDS_1M,
        f">= {TARGET_NAIVE_RATIO:.0f}x naive":
            None if summary["ratio_vs_naive"] is None
            else summary["ratio_vs_naive"] >= TARGET_NAIVE_RATIO,
        "load faster than dlt":
            None if summary["ratio_vs_dlt_load"] is None else summary["ratio_vs_dlt_load"] > 1,
        f"no-op <= {TARGET_NOOP_SECONDS:.0f} s": summary["noop_seconds"] <= TARGET_NOOP_SECONDS,
    }


# --------------------------------------------------------------------------- main


def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run everything the arguments ask for; return the summary."""
    workdir = prepare_workdir(args.workdir)
    data_dir = workdir / "data"
    today = date.today()
    loadavg_before = tuple(round(x, 2) for x in os.getloadavg())
    generated: GeneratedSet = generate(data_dir, records=args.records, seed=args.seed,
                                       sources=args.sources, batch_records=args.batch_records,
                                       today=today)
    print(f"generated {args.records:,} records in {generated.seconds:.1f} s", file=sys.stderr)
    url = f"sqlite:///{workdir / 'warehouse.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    taxonomy = load_taxonomy()
    upsert_topics(engine, topic_rows(taxonomy.version, taxonomy.topics))
    # What each load was given, kept on disk for dlt (so it does not inflate our peak RSS).
    loaded_frames: list[Path] = []
    keep = None if args.skip_peers or args.skip_dlt else _spill(workdir / "frames", loaded_frames)
    first = run_batches(generated.batches, data_dir=data_dir, engine=engine, today=today,
                        validation_engine=args.validation_engine, keep=keep)
    pipeline_peak = peak_rss_mb()
    print(f"pipeline: {first.total:.1f} s", file=sys.stderr)
    noop_seconds, todo = noop_pass(generated.batches, engine)
    if todo:
        raise BenchError(f"{todo} batches were not recorded as processed")
    reprocess = None
    if not args.skip_reprocess:
        reprocess = run_batches(generated.batches, data_dir=data_dir, engine=engine,
                                today=today, validation_engine=args.validation_engine)
    tables = count_rows(engine)
    with engine.connect() as conn:
        from sqlalchemy import text

        ai = conn.execute(text("SELECT count(*) FROM publications WHERE is_ai_education"))
        ai_education = int(ai.scalar_one())
    engine.dispose()
    naive = dlt = None
    if not args.skip_peers:
        from bench import peers

        naive = peers.run_naive(generated.batches, data_dir=data_dir,
                                db_path=workdir / "naive.sqlite",
                                limit=min(args.naive_records, args.records),
                                total_records=args.records)
        print(f"naive: {naive.seconds:.1f} s", file=sys.stderr)
        if not args.skip_dlt:
            dlt = peers.run_dlt(loaded_frames, workdir=workdir / "dlt")
            print(f"dlt: {dlt.seconds:.1f} s", file=sys.stderr)
    loaded_frames.clear()
    c = first.counts
    # dlt's merge finds each row's stored twin by key too: its load is set against ours with
    # the deduplicate stage, which runs inside our load's transaction.
    our_load = first.stages["load"] + first.stages["deduplicate"]
    summary: dict[str, Any] = {
        "records": args.records,
        "total_seconds": round(first.total, 3),
        "records_per_second": round(args.records / first.total, 1),
        "stages": {k: round(v, 3) for k, v in first.stages.items()},
        "stages_cpu": {k: round(v, 3) for k, v in first.cpu.items()},
        "peak_rss_mb": round(pipeline_peak, 1),
        "ratio_vs_naive": round(naive.extrapolated_seconds / first.total, 2) if naive else None,
        "ratio_vs_dlt_load": round(dlt.seconds / our_load, 2) if dlt else None,
        "noop_seconds": round(noop_seconds, 4),
        "ratio_vs_dlt_load_step": round(dlt.load_seconds / our_load, 2)
        if dlt else None,
        "reprocess_seconds": round(reprocess.total, 3) if reprocess else None,
        "reprocess_stages": {k: round(v, 3) for k, v in reprocess.stages.items()}
        if reprocess else None,
        "reprocess_unchanged": reprocess.counts.unchanged if reprocess else None,
        "peak_rss_final_mb": round(peak_rss_mb(), 1),
        "validation_engine": args.validation_engine,
        "seed": args.seed,
        "sources": list(args.sources),
        "batches": first.batches,
        "bodies": generated.bodies,
        "landed_mb": round(generated.bytes / 2**20, 1),
        "generate_seconds": round(generated.seconds, 2),
        "counts": {"fetched": c.fetched, "loaded": c.loaded, "duplicates": c.duplicates,
                   "quarantined": c.quarantined, "unchanged": c.unchanged,
                   "matches": c.matches},
        "reconciled": c.is_reconciled,
        "expected": generated.expected.as_dict(),
        "warehouse_publications": tables["publications"],
        "warehouse_rows": sum(tables.values()),
        "ai_education": ai_education,
        "naive": naive.as_dict() if naive else None,
        "dlt": dlt.as_dict() if dlt else None,
        "loadavg_before": loadavg_before,
        "loadavg_after": tuple(round(x, 2) for x in os.getloadavg()),
        "workdir": str(workdir),
    }
    summary["targets"] = _targets(summary)
    if not args.keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    return summary


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Landing-to-warehouse benchmark on synthetic batches, with peers.",
        epilog="example: python -m bench --records 100000 --validation-engine polars",
    )
    parser.add_argument("--records", type=int, default=100_000,
                        help="source records to generate and process (default 100000)")
    parser.add_argument("--seed", type=int, default=42, help="generator seed (default 42)")
    parser.add_argument("--sources", default=",".join(SOURCES),
                        type=lambda v: [s.strip() for s in v.split(",") if s.strip()],
                        help="comma-separated sources (default crossref,openalex,pubmed)")
    parser.add_argument("--batch-records", type=int, default=DEFAULT_BATCH_RECORDS,
                        help=f"records per landed batch (default {DEFAULT_BATCH_RECORDS})")
    parser.add_argument("--validation-engine", choices=("hybrid", "gx", "polars"),
                        default="hybrid", help="expectation engine (default hybrid, as the flows)")
    parser.add_argument("--skip-peers", action="store_true", help="run no peer")
    parser.add_argument("--skip-dlt", action="store_true", help="run the naive peer only")
    parser.add_argument("--skip-reprocess", action="store_true",
                        help="skip the forced second pass through every stage")
    parser.add_argument("--naive-records", type=int, default=50_000,
                        help="records the naive peer processes before extrapolating "
                             "(default 50000)")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="working directory (default: a new temporary one)")
    parser.add_argument("--keep-workdir", action="store_true",
                        help="keep landed batches and databases after the run")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the table and, last, the JSON line."""
    args = parse_args(argv)
    summary = bench(args)
    print(render_table(summary))
    keys = ("records", "total_seconds", "records_per_second", "stages", "peak_rss_mb",
            "ratio_vs_naive", "ratio_vs_dlt_load", "noop_seconds")
    line = {k: summary[k] for k in keys}
    line.update({k: v for k, v in summary.items() if k not in keys and k != "targets"})
    line["targets"] = {k: v for k, v in summary["targets"].items()}
    print(json.dumps(line, ensure_ascii=False, default=str))
    return summary


if __name__ == "__main__":
    main()
