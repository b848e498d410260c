"""Load one processed batch into the warehouse in one transaction, idempotently.

The loader reads what the warehouse already knows that the batch's records can match
(:mod:`warehouse.identities`: their stored source records, and publications sharing an
identifier or a journal-year block), assigns publication ids with :mod:`transforms.dedupe`,
merges every publication's source records field by field with :mod:`transforms.merge`, has
the caller's classifier label merged rows (a publication of one record keeps the labels its
record came with, when it came with them), and upserts everything keyed on natural keys,
frame by frame (:func:`warehouse.upsert.upsert_frame`). Re-loading the same batch changes
nothing: unchanged records are detected by content hash.

On SQLite the load's connection does not check foreign keys row by row (a third of the
insert time): the loader writes parents before children by construction, PostgreSQL checks
every key of the same loads in the test suite, and the SQLite tests run
``PRAGMA foreign_key_check`` after theirs. Every other connection checks them.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, Table, exists, func, select

from transforms.canonical import CANONICAL_COLUMNS
from transforms.classify import OUTPUT_SCHEMA as CLASSIFICATION_SCHEMA
from transforms.dedupe import IDENTITY_SCHEMA, assign_publications
from transforms.merge import merge_source_records, single_source_publications
from transforms.perf import paused_gc
from warehouse import rows
from warehouse import schema as s
from warehouse.db import unchecked_foreign_keys
from warehouse.identities import fetch_tuples, read_candidates, representative_records, temp_rows
from warehouse.rows import MERGE_RULES
from warehouse.upsert import delete_where_pairs, upsert_frame, upsert_rows
from warehouse.writer import BackgroundWriter, background_writes

Classifier = Callable[[pl.DataFrame], pl.DataFrame]


class LoadError(RuntimeError):
    """A batch could not be loaded; the transaction was rolled back, nothing changed."""


@dataclass(frozen=True)
class RunInfo:
    """Identifies the processing run that loads a batch."""

    run_id: str
    source: str
    batch_id: str
    flow_run_id: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    watermark: str | None = None


@dataclass
class LoadResult:
    """What a load did; ``fetched == loaded + duplicates + quarantined`` always holds."""

    fetched: int = 0
    loaded: int = 0
    duplicates: int = 0
    quarantined: int = 0
    unchanged: int = 0
    deleted: int = 0
    publications_written: int = 0
    matches: int = 0
    #: Wall and CPU seconds spent finding each record's publication (candidates, matching).
    match_seconds: float = 0.0
    match_cpu_seconds: float = 0.0

    @property
    def counts(self) -> dict[str, int]:
        """The counts alone (what two loads of the same records must agree on)."""
        return {k: v for k, v in vars(self).items() if not k.endswith("_seconds")}

    @property
    def is_reconciled(self) -> bool:
        return self.fetched == self.loaded + self.duplicates + self.quarantined


def quarantine_id(stage: str, subject: str | None, expectation: str | None, reason: str) -> str:
    """The same failure of the same input is stored once, whatever the batch or run.

    ``subject`` names the input: the source record (``source:source_id``) when known, else
    the landed file reference.
    """
    key = "|".join([stage, subject or "", expectation or "", reason])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def _now() -> datetime:
    return datetime.now(UTC)


def _other_records(conn: Connection, pub_ids: pl.Series,
                   batch_keys: pl.DataFrame) -> pl.DataFrame:
    """The stored source records of these publications that the batch does not bring again."""
    sr = s.source_records
    ids = pl.DataFrame({"pub_id": pub_ids}).unique()
    with temp_rows(conn, ids, prefix="merge") as t:
        found = fetch_tuples(conn, select(sr.c.pub_id, sr.c.source, sr.c.source_id,
                                          sr.c.record)
                             .select_from(t.join(sr, sr.c.pub_id == t.c.pub_id)))
    stored = pl.DataFrame(found, schema={"pub_id": pl.String, "source": pl.String,
                                         "source_id": pl.String, "record": pl.String},
                          orient="row")
    stored = stored.join(batch_keys, on=["source", "source_id"], how="anti").filter(
        pl.col("record").is_not_null())
    others = rows.records_from_json(stored.get_column("record").to_list())
    return others.with_columns(stored.get_column("pub_id"))


def load_batch(
    engine: Engine,
    records: pl.DataFrame,
    *,
    run: RunInfo,
    classify: Classifier,
    quarantine_rows: Sequence[dict[str, Any]] = (),
    quarantined: int | None = None,
    fetched: int | None = None,
    repeats: int = 0,
) -> LoadResult:
    """Load validated canonical records (with match keys) and quarantine rows atomically.

    Args:
        engine: Warehouse engine (migrated).
        records: Validated canonical records with :func:`transforms.dedupe.with_match_keys`
            columns, one row per source record; with the classifier's columns when they
            were classified already (a publication of one record then keeps them).
        run: The processing run.
        classify: Labels merged publication rows (adds classifier columns).
        quarantine_rows: Dicts with stage, reason, expectation, raw_ref, payload, source_id.
        quarantined: Records quarantined (a record failing several expectations has several
            quarantine rows); defaults to the number of rows.
        fetched: Records read from the batch (defaults to rows + repeats + quarantined).
        repeats: Repeated source records dropped within the batch (counted as duplicates).

    Returns:
        The counts of the load.

    Raises:
        LoadError: Anything failed; the transaction is rolled back.
    """
    now = _now()
    result = LoadResult(
        quarantined=quarantined if quarantined is not None else len(quarantine_rows))
    result.fetched = fetched if fetched is not None else (
        records.height + repeats + result.quarantined)
    try:
        with paused_gc(), engine.connect() as conn, unchecked_foreign_keys(conn), conn.begin():
            _start_run(conn, run, now)
            started, started_cpu = time.perf_counter(), time.process_time()
            identities = read_candidates(conn, records)
            assigned = assign_publications(records, identities.select(list(IDENTITY_SCHEMA)))
            assigned = _with_matched_records(conn, assigned)
            result.match_seconds = time.perf_counter() - started
            result.match_cpu_seconds = time.process_time() - started_cpu
            stored = identities.filter(pl.col("source").is_not_null()).select(
                "source", "source_id", "content_hash", "match_rule")
            assigned = assigned.join(
                stored.rename({"content_hash": "_stored_hash", "match_rule": "_stored_rule"}),
                on=["source", "source_id"], how="left",
            ).with_columns(  # a record seen again keeps the rule that first placed it
                pl.when((pl.col("match_rule") == "self") & pl.col("_stored_rule").is_not_null())
                .then(pl.col("_stored_rule")).otherwise(pl.col("match_rule"))
                .alias("match_rule")
            )
            is_unchanged = pl.col("_stored_hash") == pl.col("content_hash")
            unchanged = assigned.filter(is_unchanged.fill_null(False))
            changed = assigned.filter(~is_unchanged.fill_null(False))
            result.unchanged = unchanged.height
            merges = assigned.filter(pl.col("match_rule").is_in(MERGE_RULES)).height
            result.duplicates = repeats + merges
            result.loaded = records.height - merges
            deleted = changed.filter(pl.col("is_deleted"))
            live = changed.filter(~pl.col("is_deleted"))
            result.deleted = deleted.height
            with background_writes() as writes:
                result.publications_written = _write_publications(conn, writes, live,
                                                                  classify, now)
                lineage = rows.source_record_rows(live, batch_id=run.batch_id,
                                                  run_id=run.run_id, now=now)
                keys = ["source", "source_id"]
                writes.submit(upsert_frame, conn, s.source_records, lineage, keys=keys,
                              update=_updated_columns(lineage, keys))
                writes.submit(_delete_source_records, conn, deleted)
                matches = rows.match_rows(live, now)
                result.matches = matches.height
                writes.submit(upsert_frame, conn, s.publication_matches, matches,
                              keys=_MATCH_KEYS)
                writes.submit(_write_quarantine, conn, quarantine_rows, run, now)
                writes.submit(_finish_run, conn, run, result, status="succeeded",
                              message=None)
    except Exception as exc:
        msg = f"loading batch {run.batch_id} ({run.source}) failed and was rolled back: {exc}"
        raise LoadError(msg) from exc
    return result


def _updated_columns(frame: pl.DataFrame, keys: Sequence[str]) -> list[str]:
    """What a row seen again overwrites: everything but its keys and ``first_seen_at``."""
    return [c for c in frame.columns if c not in (*keys, "first_seen_at")]


_MATCH_KEYS = ("source", "source_id", "matched_source", "matched_source_id")


def _with_matched_records(conn: Connection, assigned: pl.DataFrame) -> pl.DataFrame:
    """Name a stored source record for merges into a publication found by its keys alone."""
    missing = (pl.col("match_rule").is_in(MERGE_RULES) & pl.col("matched_source").is_null())
    pub_ids = assigned.filter(missing).get_column("pub_id").unique().to_list()
    if not pub_ids:
        return assigned
    found = representative_records(conn, pub_ids).rename(
        {"source": "_rep_source", "source_id": "_rep_source_id"})
    return assigned.join(found, on="pub_id", how="left", maintain_order="left").with_columns(
        pl.when(missing).then(pl.col("_rep_source")).otherwise(pl.col("matched_source"))
        .alias("matched_source"),
        pl.when(missing).then(pl.col("_rep_source_id")).otherwise(pl.col("matched_source_id"))
        .alias("matched_source_id"),
    ).drop("_rep_source", "_rep_source_id")


def _start_run(conn: Connection, run: RunInfo, now: datetime) -> None:
    upsert_rows(conn, s.etl_runs, [{
        "run_id": run.run_id, "flow_run_id": run.flow_run_id, "source": run.source,
        "batch_id": run.batch_id, "started_at": run.started_at, "finished_at": None,
        "status": "running", "fetched": None, "loaded": None, "quarantined": None,
        "duplicates": None, "unchanged": None, "watermark": run.watermark, "message": None,
    }], keys=["run_id"])


def _finish_run(conn: Connection, run: RunInfo, result: LoadResult, *, status: str,
                message: str | None) -> None:
    conn.execute(s.etl_runs.update().where(s.etl_runs.c.run_id == run.run_id).values(
        finished_at=_now(), status=status, fetched=result.fetched, loaded=result.loaded,
        quarantined=result.quarantined, duplicates=result.duplicates,
        unchanged=result.unchanged, watermark=run.watermark, message=message,
    ))


def record_failed_run(engine: Engine, run: RunInfo, message: str, *,
                      counts: LoadResult | None = None) -> None:
    """Write (in its own transaction) an etl_runs row for a run that failed."""
    with engine.begin() as conn:
        _start_run(conn, run, _now())
        _finish_run(conn, run, counts or LoadResult(), status="failed", message=message[:4000])


def _delete_source_records(conn: Connection, deleted: pl.DataFrame) -> None:
    if deleted.height == 0:
        return
    pairs = list(deleted.select("source", "source_id").iter_rows())
    delete_where_pairs(conn, s.source_records, ("source", "source_id"), pairs)
    sr, p = s.source_records, s.publications
    ids = deleted.select(pl.col("pub_id").drop_nulls().unique())
    with temp_rows(conn, ids, prefix="retired") as t:
        orphans = [r[0] for r in conn.execute(select(t.c.pub_id).where(
            ~exists().where(sr.c.pub_id == t.c.pub_id)))]
    if not orphans:
        return
    doomed = pl.DataFrame({"pub_id": orphans}, schema={"pub_id": pl.String})
    with temp_rows(conn, doomed, prefix="orphans") as t:
        _delete_rows_of(conn, t, (s.publication_authors, s.publication_keywords,
                                  s.publication_topics, s.publication_classifications,
                                  s.publication_matches, p))


def _delete_rows_of(conn: Connection, ids: Table, tables: Sequence[Table]) -> None:
    """Delete the rows of ``tables`` whose ``pub_id`` is in the temporary table ``ids``."""
    for table in tables:
        conn.execute(table.delete().where(table.c.pub_id.in_(select(ids.c.pub_id))))


def _delete_topics(conn: Connection, ids: Table, versions: Sequence[str]) -> None:
    """Delete the topics of ``versions`` of the publications in the temporary table ``ids``."""
    pt = s.publication_topics
    for version in versions:
        conn.execute(pt.delete().where(pt.c.pub_id.in_(select(ids.c.pub_id)),
                                       pt.c.taxonomy_version == version))


def _write_publications(conn: Connection, writes: BackgroundWriter, live: pl.DataFrame,
                        classify: Classifier, now: datetime) -> int:
    """Merge each publication's records, label them and queue their rows; returns how many.

    Reads happen here, before anything is queued; every write goes through ``writes``.
    """
    if live.height == 0:
        return 0
    others = _other_records(conn, live.get_column("pub_id"), live.select("source", "source_id"))
    together = pl.concat(
        [live.select("pub_id", *CANONICAL_COLUMNS), others.select("pub_id", *CANONICAL_COLUMNS)],
        how="vertical_relaxed",
    )
    is_multi = pl.len().over("pub_id") > 1
    single = single_source_publications(together.filter(~is_multi))
    labels = list(CLASSIFICATION_SCHEMA)
    if set(labels) <= set(live.columns):  # one record: its labels are the publication's
        single = single.join(live.select("pub_id", *labels), on="pub_id", how="left",
                             maintain_order="left")
    else:
        single = classify(single)
    parts = [single]
    multi_rows = together.filter(is_multi)
    if multi_rows.height:
        parts.append(classify(merge_source_records(multi_rows)).select(single.columns))
    pubs = pl.concat(parts, how="vertical_relaxed").join(
        rows.arxiv_ids(together), on="pub_id", how="left", maintain_order="left")
    p = s.publications
    with temp_rows(conn, pubs.select("pub_id"), prefix="written") as written:
        stored = conn.execute(select(p.c.pub_id).select_from(
            written.join(p, p.c.pub_id == written.c.pub_id))).scalars().all()
    versions = pubs.get_column("taxonomy_version").drop_nulls().unique().to_list()
    # Only publications stored before have authors, keywords and labels to replace.
    writes.submit(_delete_replaced, conn, stored, versions)
    writes.submit(_write_journals, conn, rows.journal_rows(pubs), now)
    publications = rows.publication_rows(pubs, now)
    writes.submit(upsert_frame, conn, p, publications, keys=["pub_id"],
                  update=_updated_columns(publications, ["pub_id"]))
    people, authorships = rows.author_rows(pubs)
    writes.submit(upsert_frame, conn, s.authors, people, keys=["author_id"], update=[])
    writes.submit(upsert_frame, conn, s.publication_authors, authorships,
                  keys=["pub_id", "position"])
    keywords, tagged = rows.keyword_rows(pubs)
    writes.submit(upsert_frame, conn, s.keywords, keywords, keys=["keyword_id"], update=[])
    writes.submit(upsert_frame, conn, s.publication_keywords, tagged,
                  keys=["pub_id", "keyword_id"], update=[])
    classes, topics = rows.classification_rows(pubs, now)
    writes.submit(_write_labels, conn, classes, topics)
    return pubs.height


def _delete_replaced(conn: Connection, pub_ids: Sequence[str], versions: Sequence[str]) -> None:
    """Delete the authorships, keywords and ``versions`` topics of stored publications."""
    if not pub_ids:
        return
    ids = pl.DataFrame({"pub_id": list(pub_ids)}, schema={"pub_id": pl.String})
    with temp_rows(conn, ids, prefix="replaced") as t:
        _delete_rows_of(conn, t, (s.publication_authors, s.publication_keywords))
        _delete_topics(conn, t, versions)


def _write_journals(conn: Connection, journals: pl.DataFrame, now: datetime) -> None:
    """Upsert journals, keeping the titles a journal already has (e.g. from aied.toml)."""
    if journals.height == 0:
        return
    j = s.journals
    with temp_rows(conn, journals.select("issn"), prefix="journals") as t:
        found = fetch_tuples(conn, select(j.c.issn, j.c.title, j.c.title_zh).select_from(
            t.join(j, j.c.issn == t.c.issn)))
    existing = pl.DataFrame(found, schema={"issn": pl.String, "_title": pl.String,
                                           "_title_zh": pl.String}, orient="row")
    journals = journals.join(existing, on="issn", how="left").select(
        "issn", pl.coalesce("_title", "title").alias("title"),
        pl.coalesce("_title_zh", "title_zh").alias("title_zh"),
        pl.lit(now).alias("updated_at"))
    upsert_frame(conn, s.journals, journals, keys=["issn"],
                 update=["title", "title_zh", "updated_at"])


def _write_labels(conn: Connection, classes: pl.DataFrame, topics: pl.DataFrame) -> None:
    upsert_frame(conn, s.publication_classifications, classes,
                 keys=["pub_id", "taxonomy_version"])
    upsert_frame(conn, s.publication_topics, topics,
                 keys=["pub_id", "topic", "taxonomy_version"])


def write_classification(conn: Connection, pubs: pl.DataFrame, now: datetime) -> None:
    """Replace the publications' labels of their taxonomy version (topics and relevance)."""
    if pubs.height == 0:
        return
    versions = pubs.get_column("taxonomy_version").drop_nulls().unique().to_list()
    with temp_rows(conn, pubs.select("pub_id").unique(), prefix="labelled") as t:
        _delete_topics(conn, t, versions)
    _write_labels(conn, *rows.classification_rows(pubs, now))


def _clip(value: str | None, length: int | None) -> str | None:
    if value is None or length is None or len(value) <= length:
        return value
    return value[:length - 1] + "…"


def _write_quarantine(conn: Connection, rows: Sequence[dict[str, Any]], run: RunInfo,
                      now: datetime) -> None:
    out = []
    for row in rows:
        if row.get("source_id"):
            subject = f"{run.source}:{row['source_id']}"
        elif row.get("payload"):
            subject = "payload:" + hashlib.sha256(row["payload"].encode("utf-8")).hexdigest()
        else:
            subject = row.get("raw_ref")
        out.append({
            "quarantine_id": quarantine_id(row["stage"], subject,
                                           row.get("expectation"), row["reason"]),
            "run_id": run.run_id, "batch_id": run.batch_id, "source": run.source,
            # The subject may be a page URL (a Crossref cursor is ~1.5k characters): clipped
            # to the column, or PostgreSQL refuses the whole batch. The id keeps it whole.
            "source_id": _clip(row.get("source_id"), s.quarantine.c.source_id.type.length),
            "stage": row["stage"], "reason": row["reason"],
            "expectation": row.get("expectation"), "raw_ref": row.get("raw_ref"),
            "payload": row.get("payload"), "created_at": now,
        })
    # A failure seen again points at its latest raw input; the row is not duplicated.
    upsert_rows(conn, s.quarantine, out, keys=["quarantine_id"],
                update=["run_id", "batch_id", "raw_ref", "payload"])


def upsert_topics(engine: Engine, rows: Sequence[dict[str, Any]]) -> None:
    """Write the taxonomy's topics (topic, taxonomy_version, label_en, label_zh, description)."""
    with engine.begin() as conn:
        upsert_rows(conn, s.topics, list(rows), keys=["topic", "taxonomy_version"])


def count_rows(engine: Engine) -> dict[str, int]:
    """Row count of every warehouse table (for reports, tests and the closing note)."""
    with engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in s.metadata.tables.items()}
