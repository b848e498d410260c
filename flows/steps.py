"""The pipeline's steps as plain functions (no Prefect here): flows call them as tasks.

Each step takes plain arguments, so the same code runs from a flow, the CLI or a test.
"""

from __future__ import annotations

import json
import logging
import os
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from datetime import date
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy import Engine

from sources.http import redact_text
from sources.landing import LandedFile, Manifest, iter_bodies, raw_ref, read_manifest
from transforms.canonical import CANONICAL_COLUMNS, ndjson_lines, to_canonical_frame
from transforms.dedupe import drop_repeated_records, with_match_keys
from transforms.normalise import normalise_records
from transforms.parsing import ParsedPayload, PayloadError, get_parser
from transforms.perf import paused_gc
from warehouse.load import LoadError, LoadResult, RunInfo, load_batch, record_failed_run

log = logging.getLogger(__name__)

#: Landed kinds that carry navigation, not records (a listing page has no record in it).
NAVIGATION_KINDS = frozenset({"robots", "listing", "esearch", "identify"})
#: A batch with at least this many landed bytes is parsed by several processes.
PARALLEL_PARSE_MIN_BYTES = 32 * 2**20
MAX_PARSE_WORKERS = 8
#: Parsed rows of consecutive bodies become one frame per this many rows.
ROWS_PER_FRAME = 20_000


class QualityGateError(RuntimeError):
    """A batch failed a batch-level expectation; nothing was loaded."""

    def __init__(self, message: str, *, failures: list[str]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class ParsedBatch:
    """Every canonical record of a landed batch, and what could not be parsed."""

    source: str
    batch_id: str
    records: pl.DataFrame
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    bodies: int = 0

    @property
    def fetched(self) -> int:
        return self.records.height + len(self.quarantine)


def parse_batch(batch_path: Path, data_dir: Path, *, secrets: tuple[str, ...] = (),
                workers: int | None = None,
                parallel_min_bytes: int = PARALLEL_PARSE_MIN_BYTES) -> ParsedBatch:
    """Parse every landed body of a complete batch with its source's parser.

    A body that answered an error status, or that its parser cannot read, becomes one
    quarantine row; a record the parser rejects becomes one quarantine row; the rest of
    the batch goes on. Error pages often quote the request (its query, the User-Agent with
    the contact address): their snippet is stored with ``secrets``, secret query parameters
    and e-mail addresses redacted.

    A batch of at least ``parallel_min_bytes`` landed bytes is split into runs of bodies
    parsed at once by ``workers`` processes (this one included; default: one per CPU); the
    result is the same frame, in the same order, as parsing body after body.
    """
    manifest = read_manifest(batch_path)
    get_parser(manifest.source)  # an unknown source fails here, before any work starts
    landed_bytes = sum(f.bytes for f in manifest.files)
    count = parse_workers(workers) if landed_bytes >= parallel_min_bytes else 1
    runs = [replace(manifest, files=run) for run in split_files(manifest.files, count)]
    parts = _parse_runs(batch_path, data_dir, runs, secrets)
    frames = [part.records for part in parts if part.records is not None]
    quarantine = [row for part in parts for row in part.quarantine]
    for part in parts:  # logged here, so that what workers saw reaches this run's log
        for level, message in part.notes:
            log.log(level, redact_text(message, secrets))
    if frames:
        records = pl.concat(frames, how="vertical_relaxed")
    else:
        from transforms.canonical import empty_canonical_frame

        records = empty_canonical_frame()
    return ParsedBatch(source=manifest.source, batch_id=manifest.batch_id, records=records,
                       quarantine=quarantine, bodies=len(manifest.files))


def _parse_runs(batch_path: Path, data_dir: Path, runs: list[Manifest],
                secrets: tuple[str, ...]) -> list[ParsedFiles]:
    """Parse each run of bodies: the first here, the others in worker processes at once.

    A worker that dies (out of memory, killed) breaks the pool: the runs it had not given
    back are parsed here, and the next batch starts a new pool.
    """
    futures: list[Future[ParsedFiles] | None] = [None] * len(runs)
    if len(runs) > 1:
        try:
            pool = worker_pool(len(runs) - 1)
            for i, run in enumerate(runs[1:], start=1):
                futures[i] = pool.submit(parse_files, batch_path, data_dir, run, secrets)
        except BrokenProcessPool:
            reset_worker_pool()
    parts = []
    for run, future in zip(runs, futures, strict=True):
        if future is not None:
            try:
                parts.append(future.result())
                continue
            except BrokenProcessPool:
                reset_worker_pool()
        if run is not runs[0]:
            log.warning("batch %s: a parse worker died; parsing its %d bodies here",
                        run.batch_id, len(run.files))
        parts.append(parse_files(batch_path, data_dir, run, secrets))
    return parts


def parse_workers(workers: int | None) -> int:
    """Processes that parse a large batch: ``workers`` if given (at least 1), else one per CPU."""
    if workers is not None and workers > 0:
        return workers
    return max(1, min(os.cpu_count() or 1, MAX_PARSE_WORKERS))


def split_files(files: list[LandedFile], count: int) -> list[list[LandedFile]]:
    """Split files into at most ``count`` consecutive runs of about equal bytes."""
    if count <= 1 or len(files) <= 1:
        return [files]
    total = sum(f.bytes for f in files) or 1
    runs: list[list[LandedFile]] = [[]]
    done = 0
    for landed in files:
        if runs[-1] and done >= total * len(runs) / count and len(runs) < count:
            runs.append([])
        runs[-1].append(landed)
        done += landed.bytes
    return runs


_POOL: ProcessPoolExecutor | None = None
_POOL_SIZE = 0


def worker_pool(size: int) -> ProcessPoolExecutor:
    """The process pool kept for parsing (started once per process, grown when asked).

    Workers are spawned, not forked: this process may hold threads (Prefect, polars) that a
    fork would copy in an undefined state.
    """
    global _POOL, _POOL_SIZE
    if _POOL is None or size > _POOL_SIZE:
        if _POOL is not None:
            _POOL.shutdown(wait=True)
        _POOL = ProcessPoolExecutor(max_workers=size, mp_context=get_context("spawn"))
        _POOL_SIZE = size
    return _POOL


@dataclass
class ParsedFiles:
    """What :func:`parse_files` read: records, quarantine rows and the log lines to write."""

    records: pl.DataFrame | None
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    notes: list[tuple[int, str]] = field(default_factory=list)


def reset_worker_pool() -> None:
    """Forget the pool (after a worker died); the next parallel parse starts a new one."""
    global _POOL, _POOL_SIZE
    if _POOL is not None:
        _POOL.shutdown(wait=False, cancel_futures=True)
    _POOL, _POOL_SIZE = None, 0


def parse_files(batch_path: Path, data_dir: Path, manifest: Manifest,
                secrets: tuple[str, ...]) -> ParsedFiles:
    """Parse the bodies ``manifest`` lists (in this process or a worker).

    Row dicts of consecutive bodies become one frame per :data:`ROWS_PER_FRAME` rows (a
    frame per body of a hundred records costs more than the rows themselves); if such a
    frame cannot be built, each body's rows are built apart and a body that still fails is
    quarantined like a body its parser crashed on.
    """
    parse = get_parser(manifest.source)
    frames: list[pl.DataFrame] = []
    pending: list[tuple[ParsedPayload, LandedFile, bytes, str]] = []
    out = ParsedFiles(records=None)
    with paused_gc():
        for landed, body in iter_bodies(batch_path, manifest):
            ref = raw_ref(batch_path, data_dir, landed.name)
            parsed = _parse_body(parse, landed, body, manifest, out, secrets, ref=ref)
            if parsed is None:
                continue
            pending.append((parsed, landed, body, ref))
            if sum(p.count for p, *_ in pending) >= ROWS_PER_FRAME:
                frames += _frames_of(pending, manifest, out, secrets)
                pending = []
        frames += _frames_of(pending, manifest, out, secrets)
        frames = [f for f in frames if f.height]
        out.records = pl.concat(frames, how="vertical_relaxed") if frames else None
    return out


def _frames_of(pending: list[tuple[ParsedPayload, LandedFile, bytes, str]],
               manifest: Manifest, out: ParsedFiles,
               secrets: tuple[str, ...]) -> list[pl.DataFrame]:
    """One frame for the rows of all ``pending`` bodies (body by body if that fails)."""
    if all(p.rows is not None for p, *_ in pending) and len(pending) > 1:
        rows = [row for p, *_ in pending for row in p.rows or ()]
        try:
            return [to_canonical_frame(rows)]
        except Exception:  # the body at fault is found below, one by one, and quarantined
            pass
    frames = []
    for parsed, landed, body, ref in pending:
        try:
            frames.append(parsed.records)
        except Exception as exc:  # a parser bug must not sink the other bodies
            _quarantine_crash(out, exc, landed, body, manifest, secrets, ref=ref)
    return frames


def _quarantine_crash(out: ParsedFiles, exc: Exception, landed: LandedFile, body: bytes,
                      manifest: Manifest, secrets: tuple[str, ...], *, ref: str) -> None:
    reason = f"parser crashed: {type(exc).__name__}: {exc}"
    out.quarantine.append({
        "stage": "parse", "raw_ref": ref, "expectation": None,
        "reason": redact_text(reason, secrets)[:4000],
        "payload": redact_text(body[:2000].decode("utf-8", "replace"), secrets),
        "source_id": landed.url,
    })
    out.notes.append((logging.ERROR, (
        f"batch {manifest.batch_id}: the {manifest.source} parser crashed on {ref}; body "
        f"quarantined\n{traceback.format_exc()}")))


def _parse_body(parse: Callable[..., Any], landed: LandedFile, body: bytes, manifest: Manifest,
                out: ParsedFiles, secrets: tuple[str, ...], *, ref: str) -> ParsedPayload | None:
    """One body's parsed payload; what cannot be read goes to ``out.quarantine``/``notes``."""
    quarantine = out.quarantine
    if landed.kind in NAVIGATION_KINDS:
        return None
    if landed.status >= 400:
        quarantine.append({
            "stage": "fetch", "raw_ref": ref, "expectation": None,
            "reason": f"HTTP {landed.status} for {landed.url}",
            "payload": redact_text(body[:2000].decode("utf-8", "replace"), secrets),
            "source_id": landed.url,
        })
        out.notes.append((logging.WARNING, f"batch {manifest.batch_id}: {landed.url} answered "
                                           f"HTTP {landed.status}; quarantined"))
        return None
    try:
        parsed = parse(body, kind=landed.kind, url=landed.url, raw_ref=ref)
    except PayloadError as exc:
        quarantine.append({
            "stage": "parse", "raw_ref": ref, "expectation": None,
            "reason": redact_text(str(exc), secrets),
            "payload": redact_text(body[:2000].decode("utf-8", "replace"), secrets),
            "source_id": landed.url,
        })
        out.notes.append((logging.WARNING,
                          f"batch {manifest.batch_id}: cannot parse {ref}: {exc}"))
        return None
    except Exception as exc:  # a parser bug must not sink the other bodies of the batch
        _quarantine_crash(out, exc, landed, body, manifest, secrets, ref=ref)
        return None
    quarantine.extend(
        {"stage": "parse", "raw_ref": r.raw_ref, "expectation": None, "reason": r.reason,
         "payload": r.payload[:4000],
         "source_id": landed.url if len(parsed.rejects) == 1 and parsed.count == 0
         else None}
        for r in parsed.rejects
    )
    return parsed


def column_limits() -> dict[str, int]:
    """Canonical columns stored in a bounded warehouse column, with that bound (characters).

    PostgreSQL enforces ``VARCHAR(n)`` (SQLite does not): a longer value would fail the whole
    batch's transaction, so such a record is quarantined before the load instead.
    """
    from sqlalchemy import String

    from warehouse import schema as s

    limits: dict[str, int] = {}
    for table in (s.publications, s.source_records):
        for name in CANONICAL_COLUMNS:
            column = table.c.get(name)
            if column is not None and isinstance(column.type, String) and column.type.length:
                limits[name] = min(limits.get(name, column.type.length), column.type.length)
    return limits


def oversize_quarantine(records: pl.DataFrame) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
    """Split off records with a value longer than its warehouse column allows.

    Returns:
        (records that fit, quarantine rows: one per record and offending column).
    """
    limits = {c: n for c, n in column_limits().items()
              if c in records.columns and records.schema[c] == pl.String}
    if records.height == 0 or not limits:
        return records, []
    lengths = records.select(
        *[pl.col(c).str.len_chars().fill_null(0).alias(c) for c in limits])
    too_long = pl.any_horizontal(*[pl.col(c) > n for c, n in limits.items()])
    mask = lengths.select(too_long.alias("bad")).get_column("bad")
    if not mask.any():
        return records, []
    bad = records.filter(mask)
    payloads = ndjson_lines(bad.select(CANONICAL_COLUMNS))
    rows: list[dict[str, Any]] = []
    for row, sizes, payload in zip(bad.iter_rows(named=True),
                                   lengths.filter(mask).iter_rows(named=True), payloads,
                                   strict=True):
        for column, size in sizes.items():
            if size > limits[column]:
                rows.append({
                    "stage": "validate", "raw_ref": row["raw_ref"],
                    "expectation": "value_length_within_column",
                    "reason": (f"{column} is {size} characters long; the warehouse column "
                               f"holds {limits[column]}"),
                    "payload": payload, "source_id": row["source_id"],
                })
    return records.filter(~mask), rows


def prepare_records(records: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Normalise, key and drop repeated source records. Returns (records, repeats)."""
    keyed = with_match_keys(normalise_records(records))
    kept, dropped = drop_repeated_records(keyed)
    return kept, dropped.height


def validation_quarantine(records: pl.DataFrame, failed: pl.DataFrame) -> list[dict[str, Any]]:
    """Quarantine rows for records that failed row-level expectations (one per failure)."""
    if failed.height == 0:
        return []
    keyed = records.with_columns(
        (pl.col("source") + ":" + pl.col("source_id")).alias("_row_key"))
    joined = failed.join(keyed, left_on="pub_key", right_on="_row_key", how="left")
    # The payload is the record itself, without lineage that changes from batch to batch.
    payloads = ndjson_lines(joined.select([c for c in CANONICAL_COLUMNS if c != "raw_ref"]))
    return [
        {"stage": "validate", "raw_ref": ref, "expectation": exp, "reason": reason,
         "payload": payload, "source_id": sid}
        for (ref, exp, reason, sid), payload in zip(
            joined.select("raw_ref", "expectation", "reason", "source_id").iter_rows(),
            payloads, strict=True)
    ]


def validate_records(records: pl.DataFrame, *, allowed_topics: frozenset[str],
                     today: date | None = None, engine_name: str = "hybrid"
                     ) -> tuple[pl.DataFrame, list[dict[str, Any]], list[str], list[dict]]:
    """Run the publications suite on classified records.

    Returns:
        (passed records, quarantine rows, batch-level failures, expectation summaries).
    """
    from expectations.validate import validate_publications

    if records.height == 0:
        return records, [], [], []
    # A deletion (OAI deleted header, PubMed DeleteCitation) has no fields to check.
    deletions = records.filter(pl.col("is_deleted"))
    frame = records.filter(~pl.col("is_deleted")).rename({"pub_key": "_pub_key"}).with_columns(
        (pl.col("source") + ":" + pl.col("source_id")).alias("pub_key"))
    if frame.height == 0:
        return deletions, [], [], []
    outcome = validate_publications(frame, allowed_topics=allowed_topics, today=today,
                                    engine=engine_name)
    passed = pl.concat([outcome.passed.drop("pub_key").rename({"_pub_key": "pub_key"})
                        .select(records.columns), deletions], how="vertical_relaxed")
    quarantine = validation_quarantine(records, outcome.failed)
    summaries = [vars(r) if hasattr(r, "__dict__") else dict(r) for r in outcome.results]
    failures = list(outcome.batch_failures) if outcome.is_batch_failed else []
    return passed, quarantine, failures, summaries


@dataclass
class ProcessOutcome:
    """What processing one batch did."""

    source: str
    batch_id: str
    result: LoadResult
    quality: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        r = self.result
        return {"source": self.source, "batch_id": self.batch_id, "fetched": r.fetched,
                "loaded": r.loaded, "duplicates": r.duplicates, "quarantined": r.quarantined,
                "unchanged": r.unchanged, "deleted": r.deleted,
                "publications_written": r.publications_written, "matches": r.matches,
                "reconciled": r.is_reconciled}


def process_batch(batch_path: Path, *, data_dir: Path, engine: Engine, run: RunInfo,
                  today: date | None = None, validation_engine: str = "hybrid",
                  secrets: tuple[str, ...] = (),
                  on_stage: Callable[[str], None] = lambda _stage: None) -> ProcessOutcome:
    """Parse, normalise, deduplicate, classify, validate and load one landed batch.

    ``on_stage`` is told each stage as it starts (the CLI shows it to a person watching).

    Raises:
        QualityGateError: A batch-level expectation failed (the run is recorded as failed).
        LoadError: The load failed and was rolled back (the run is recorded as failed).
    """
    from transforms.classify import classify_topics, load_taxonomy

    taxonomy = load_taxonomy()
    on_stage("parse")
    parsed = parse_batch(batch_path, data_dir, secrets=secrets)
    on_stage(f"normalise and deduplicate {parsed.records.height:,} records")
    records, repeats = prepare_records(parsed.records)
    records, oversize = oversize_quarantine(records)
    on_stage(f"classify {records.height:,} records")
    classified = classify_topics(records, taxonomy)
    on_stage("validate")
    allowed = frozenset(t.slug for t in taxonomy.topics)
    try:
        passed, bad, failures, summaries = validate_records(
            classified, allowed_topics=allowed, today=today, engine_name=validation_engine)
    except RuntimeError as exc:  # GX failed, or GX and polars disagree: nothing is loaded
        record_failed_run(engine, run, f"batch {parsed.batch_id} was not validated: {exc}")
        raise
    if failures:
        message = f"batch {parsed.batch_id} failed the quality gate: {'; '.join(failures)}"
        record_failed_run(engine, run, message)
        raise QualityGateError(message, failures=failures)
    # A record failing several expectations is one quarantined record with several rows.
    failed_records = len({row["source_id"] for row in bad + oversize})
    on_stage(f"load {passed.height:,} records in one transaction")
    try:
        result = load_batch(
            engine, passed, run=run,
            classify=lambda pubs: classify_topics(pubs, taxonomy),
            quarantine_rows=parsed.quarantine + oversize + bad,
            quarantined=len(parsed.quarantine) + failed_records,
            repeats=repeats, fetched=parsed.fetched,
        )
    except LoadError as exc:
        log.error("batch %s (%s): %s", parsed.batch_id, parsed.source, exc)
        try:
            record_failed_run(engine, run, str(exc))
        except Exception:  # the warehouse may be the thing that is down
            log.exception("batch %s: could not record the failed run", parsed.batch_id)
        raise
    return ProcessOutcome(source=parsed.source, batch_id=parsed.batch_id, result=result,
                          quality=summaries)


def topic_rows(version: str, topics: list[Any]) -> list[dict[str, Any]]:
    """Rows for the topics table from taxonomy topic definitions."""
    return [{"topic": t.slug, "taxonomy_version": version, "label_en": t.label_en,
             "label_zh": t.label_zh, "description": t.description} for t in topics]


def dumps(value: Any) -> str:
    """JSON for artifacts and logs (dates as ISO strings, Chinese kept readable)."""
    return json.dumps(value, ensure_ascii=False, default=str, indent=2)
