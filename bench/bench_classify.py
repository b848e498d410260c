"""Benchmark of :func:`transforms.classify.classify_topics` on synthetic records.

Each synthetic record is built (vectorised, deterministic) from one gold development record of
the wanted class — its titles, keywords and abstracts — with one sentence of another record of
the same class appended to each abstract, so lengths, the English/Chinese mix and the class of
every record are realistic. ``--ai-share`` sets the share of records drawn from AI-in-education
gold records: in journal feeds most records are not about AI (default 0.1); the gold set itself
is AI-rich (0.6).

Usage::

    .venv/bin/python -m bench.bench_classify                   # 100k and 1M records
    .venv/bin/python -m bench.bench_classify --records 100000  # one size
    .venv/bin/python -m bench.bench_classify --records 100000 --ai-share 0.6
    .venv/bin/python -m bench.bench_classify --records 1000000 --repeat 3  # best of three

Peak RSS is the process's (it includes the synthetic input, about 0.8 GB for a million
records, and earlier runs); the RSS before classifying is printed next to it.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import time
from pathlib import Path

import polars as pl

from transforms.classify import classify_topics, load_taxonomy

GOLD = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "gold" / "dev.jsonl"
_SENTENCE = re.compile(r"(?<=[.!?。])\s*")
_COLUMNS = ("title", "title_zh", "abstract", "abstract_zh", "keywords")


def _gold(path: Path) -> pl.DataFrame:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    frame = pl.DataFrame(
        [{c: r.get(c) for c in (*_COLUMNS, "is_ai_education")} for r in rows],
        schema={"title": pl.String, "title_zh": pl.String, "abstract": pl.String,
                "abstract_zh": pl.String, "keywords": pl.List(pl.String),
                "is_ai_education": pl.Boolean},
    )
    first = pl.col("abstract").str.split(". ").list.first()
    first_zh = pl.col("abstract_zh").str.split("。").list.first()
    return frame.with_columns(extra=first, extra_zh=first_zh)


def synthetic_records(n: int, *, ai_share: float = 0.1, seed: int = 42) -> pl.DataFrame:
    """``n`` synthetic canonical-like records; about ``ai_share`` of them AI-in-education."""
    gold = _gold(GOLD)
    parts = []
    counts = {True: round(n * ai_share), False: n - round(n * ai_share)}
    for label, count in counts.items():
        if count == 0:
            continue
        pool = gold.filter(pl.col("is_ai_education") == label)
        size = pool.height
        i = pl.int_range(count, dtype=pl.UInt64)
        main = pool.select(pl.all().gather((i * 2654435761 + seed) % size))
        other = pool.select(pl.all().gather((i * 40503 + seed * 7 + 1) % size))
        parts.append(
            main.select(
                "title", "title_zh", "keywords",
                pl.concat_str([pl.col("abstract"), pl.lit(" "), other["extra"]])
                .alias("abstract"),
                pl.concat_str([pl.col("abstract_zh"), other["extra_zh"], pl.lit("。")])
                .alias("abstract_zh"),
            )
        )
    frame = pl.concat(parts)
    # interleave the classes deterministically
    order = (pl.int_range(n, dtype=pl.UInt64) * 2654435761) % 4294967291
    return frame.with_columns(order=order).sort("order").drop("order")


def _current_rss_mb() -> float:
    """The resident set size now (Linux ``/proc``), else the peak so far."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, *, ai_share: float, repeat: int = 1) -> float:
    """Classify ``n`` synthetic records; print and return records per second (wall clock).

    With ``repeat`` > 1 the best of that many runs is reported (the machine may be shared).
    CPU time counts every thread of this process: it is the steadier figure when other
    processes compete for the cores, and wall / CPU shows how much of the run was parallel.
    """
    frame = synthetic_records(n, ai_share=ai_share)
    chars = frame.select(
        pl.sum_horizontal(
            pl.col(c).str.len_chars().fill_null(0) for c in _COLUMNS if c != "keywords"
        ).sum()
    ).item()
    taxonomy = load_taxonomy()
    before_mb = _current_rss_mb()
    best_wall = best_cpu = float("inf")
    for _ in range(max(1, repeat)):
        wall, cpu = time.perf_counter(), time.process_time()
        result = classify_topics(frame, taxonomy)
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    positives = int(result["is_ai_education"].sum())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{n:>9,} records, AI share {ai_share:.0%} ({chars / n:,.0f} chars each): "
        f"{best_wall:.2f} s wall = {n / best_wall:,.0f} records/s; "
        f"{best_cpu:.2f} s CPU = {n / best_cpu:,.0f} records/CPU-s; "
        f"{positives:,} classified AI-in-education; "
        f"peak RSS {peak_mb:,.0f} MB (RSS before classifying {before_mb:,.0f} MB)"
    )
    return n / best_wall


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--records", type=int, action="append",
        help="number of synthetic records (repeatable; default: 100000 and 1000000)",
    )
    parser.add_argument(
        "--ai-share", type=float, action="append",
        help="share of AI-in-education records (repeatable; default: 0.1 and 0.6)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per size and share; the best is reported"
    )
    args = parser.parse_args(argv)
    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads")
    for n in args.records or [100_000, 1_000_000]:
        for share in args.ai_share or [0.1, 0.6]:
            run(n, ai_share=share, repeat=args.repeat)


if __name__ == "__main__":
    main()
