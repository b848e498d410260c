"""Load one processed batch into the warehouse in one transaction, idempotently.

The loader reads what the warehouse already knows about the batch's records (identities
and stored source records), assigns publication ids with :mod:`transforms.dedupe`, merges
every publication's source records field by field with :mod:`transforms.merge`, has the
caller's classifier label the merged rows, and upserts everything keyed on natural keys.
Re-loading the same batch changes nothing: unchanged records are detected by content hash.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, func, select

from transforms.canonical import CANONICAL_COLUMNS, CANONICAL_SCHEMA, ndjson_lines
from transforms.dedupe import IDENTITY_SCHEMA, assign_publications, title_key_expr
from transforms.merge import merge_source_records, single_source_publications
from warehouse import schema as s
from warehouse.upsert import chunks, delete_where_in, delete_where_pairs, upsert_rows

Classifier = Callable[[pl.DataFrame], pl.DataFrame]

#: Match rules meaning "merged into a publication another record already gave".
MERGE_RULES = ("doi", "pmid", "title")

PUBLICATION_FIELDS = (
    "doi", "pmid", "openalex_id", "title", "title_zh", "abstract", "abstract_zh", "language",
    "journal_issn", "journal_title", "volume", "issue", "pages", "section", "published_date",
    "date_precision", "received_date", "online_date", "url",
)


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


def _records_json(frame: pl.DataFrame) -> list[str]:
    if frame.height == 0:
        return []
    return ndjson_lines(frame.select(CANONICAL_COLUMNS))


def _records_from_json(lines: Sequence[str]) -> pl.DataFrame:
    if not lines:
        return pl.DataFrame(schema=CANONICAL_SCHEMA)
    data = "\n".join(lines).encode("utf-8")
    return pl.read_ndjson(data, schema=CANONICAL_SCHEMA)


def read_identities(conn: Connection) -> pl.DataFrame:
    """Every known source record with its publication's matching keys."""
    sr, p = s.source_records, s.publications
    query = select(
        p.c.pub_id, sr.c.source, sr.c.source_id, p.c.doi, p.c.pmid, p.c.title, p.c.title_zh,
        p.c.pub_year, p.c.journal_issn, p.c.journal_title, sr.c.content_hash, sr.c.match_rule,
    ).select_from(sr.join(p, sr.c.pub_id == p.c.pub_id))
    rows = conn.execute(query).all()
    schema = {"pub_id": pl.String, "source": pl.String, "source_id": pl.String,
              "doi": pl.String, "pmid": pl.String, "title": pl.String, "title_zh": pl.String,
              "pub_year": pl.Int32, "journal_issn": pl.String, "journal_title": pl.String,
              "content_hash": pl.String, "match_rule": pl.String}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    key = title_key_expr  # the same keys the batch side gets from with_match_keys
    return frame.with_columns(
        pl.coalesce(key("title_zh"), key("title")).alias("title_key"),
        pl.coalesce(pl.col("journal_issn"), key("journal_title")).alias("journal_key"),
    )


def _other_records(conn: Connection, pub_ids: Sequence[str],
                   batch_keys: set[tuple[str, str]]) -> pl.DataFrame:
    lines: list[str] = []
    pubs: list[str] = []
    for part in chunks(list(pub_ids), 900):
        q = select(s.source_records.c.pub_id, s.source_records.c.source,
                   s.source_records.c.source_id, s.source_records.c.record).where(
            s.source_records.c.pub_id.in_(part))
        for pub_id, source, source_id, record in conn.execute(q):
            if (source, source_id) not in batch_keys and record:
                lines.append(record)
                pubs.append(pub_id)
    others = _records_from_json(lines)
    return others.with_columns(pl.Series("pub_id", pubs, dtype=pl.String))


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
            columns, one row per source record.
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
        with engine.begin() as conn:
            _start_run(conn, run, now)
            identities = read_identities(conn)
            assigned = assign_publications(records, identities.select(list(IDENTITY_SCHEMA)))
            stored = identities.select("source", "source_id", "content_hash", "match_rule")
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
            result.publications_written = _write_publications(conn, live, classify, now)
            _write_source_records(conn, live, run, now)
            _delete_source_records(conn, deleted)
            result.matches = _write_matches(conn, live, now)
            _write_quarantine(conn, quarantine_rows, run, now)
            _finish_run(conn, run, result, status="succeeded", message=None)
    except Exception as exc:
        msg = f"loading batch {run.batch_id} ({run.source}) failed and was rolled back: {exc}"
        raise LoadError(msg) from exc
    return result


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


def _write_source_records(conn: Connection, live: pl.DataFrame, run: RunInfo,
                          now: datetime) -> None:
    if live.height == 0:
        return
    payloads = _records_json(live)
    rows = [
        {"source": src, "source_id": sid, "pub_id": pub, "raw_ref": ref, "batch_id": run.batch_id,
         "run_id": run.run_id, "content_hash": h, "match_rule": rule, "match_score": score,
         "record": payload, "first_seen_at": now, "updated_at": now}
        for (src, sid, pub, ref, h, rule, score), payload in zip(
            live.select("source", "source_id", "pub_id", "raw_ref", "content_hash",
                        "match_rule", "match_score").iter_rows(), payloads, strict=True)
    ]
    update = [c for c in rows[0] if c not in ("source", "source_id", "first_seen_at")]
    upsert_rows(conn, s.source_records, rows, keys=["source", "source_id"], update=update)


def _delete_source_records(conn: Connection, deleted: pl.DataFrame) -> None:
    if deleted.height == 0:
        return
    pairs = list(deleted.select("source", "source_id").iter_rows())
    delete_where_pairs(conn, s.source_records, ("source", "source_id"), pairs)
    orphan = select(s.publications.c.pub_id).where(
        ~s.publications.c.pub_id.in_(select(s.source_records.c.pub_id).distinct()))
    orphans = [r[0] for r in conn.execute(orphan)]
    for table in (s.publication_authors, s.publication_keywords, s.publication_topics,
                  s.publication_classifications, s.publication_matches):
        delete_where_in(conn, table, "pub_id", orphans)
    delete_where_in(conn, s.publications, "pub_id", orphans)


def _write_publications(conn: Connection, live: pl.DataFrame, classify: Classifier,
                        now: datetime) -> int:
    if live.height == 0:
        return 0
    pub_ids = live.get_column("pub_id").unique().to_list()
    keys = set(live.select("source", "source_id").iter_rows())
    others = _other_records(conn, pub_ids, keys)
    together = pl.concat(
        [live.select("pub_id", *CANONICAL_COLUMNS), others.select("pub_id", *CANONICAL_COLUMNS)],
        how="vertical_relaxed",
    )
    counts = together.group_by("pub_id").len()
    multi = counts.filter(pl.col("len") > 1).get_column("pub_id")
    single_rows = together.filter(~pl.col("pub_id").is_in(multi.implode()))
    multi_rows = together.filter(pl.col("pub_id").is_in(multi.implode()))
    parts = [single_source_publications(single_rows)]
    if multi_rows.height:
        parts.append(merge_source_records(multi_rows).select(parts[0].columns))
    pubs = pl.concat(parts, how="vertical_relaxed")
    pubs = classify(pubs)
    _write_journals(conn, pubs, now)
    _write_publication_rows(conn, pubs, now)
    _write_people_and_keywords(conn, pubs)
    write_classification(conn, pubs, now)
    return pubs.height


def _write_journals(conn: Connection, pubs: pl.DataFrame, now: datetime) -> None:
    journals = (
        pubs.filter(pl.col("journal_issn").is_not_null())
        .group_by("journal_issn", maintain_order=True)
        .agg(pl.col("journal_title").drop_nulls().first(),
             pl.col("journal_title_zh").drop_nulls().first())
    )
    rows = [{"issn": i, "title": t, "title_zh": tz, "updated_at": now}
            for i, t, tz in journals.iter_rows()]
    if not rows:
        return
    # Keep titles a journal already has (e.g. from aied.toml); fill the missing ones.
    existing = {r.issn: r for r in conn.execute(select(s.journals).where(
        s.journals.c.issn.in_([r["issn"] for r in rows[:30000]])))} if len(rows) <= 30000 else {}
    for row in rows:
        old = existing.get(row["issn"])
        if old is not None:
            row["title"] = old.title or row["title"]
            row["title_zh"] = old.title_zh or row["title_zh"]
    upsert_rows(conn, s.journals, rows, keys=["issn"], update=["title", "title_zh", "updated_at"])


def _write_publication_rows(conn: Connection, pubs: pl.DataFrame, now: datetime) -> None:
    frame = pubs.with_columns(
        pl.col("published_date").dt.year().alias("pub_year"),
        pl.when(pl.col("date_precision").is_in(["day", "month"]))
        .then(pl.col("published_date").dt.month()).alias("pub_month"),
    )
    cols = ["pub_id", *PUBLICATION_FIELDS, "pub_year", "pub_month", "is_ai_education",
            "ai_score", "taxonomy_version", "sources", "field_sources"]
    rows = frame.select(cols).to_dicts()
    # The DOI is unique: a DOI given to another publication's row stays where it was.
    for row in rows:
        row["content_hash"] = hashlib.sha256(
            json.dumps(row, default=str, sort_keys=True).encode("utf-8")).hexdigest()
        row["first_seen_at"] = now
        row["updated_at"] = now
    update = [c for c in rows[0] if c not in ("pub_id", "first_seen_at")]
    upsert_rows(conn, s.publications, rows, keys=["pub_id"], update=update)


def _hash_id(prefix: str, value: str) -> str:
    return prefix + hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


def _write_people_and_keywords(conn: Connection, pubs: pl.DataFrame) -> None:
    pub_ids = pubs.get_column("pub_id").to_list()
    delete_where_in(conn, s.publication_authors, "pub_id", pub_ids)
    delete_where_in(conn, s.publication_keywords, "pub_id", pub_ids)
    authors = (
        pubs.select("pub_id", "authors").explode("authors")
        .filter(pl.col("authors").is_not_null())
        .with_columns(pl.int_range(1, pl.len() + 1).over("pub_id").alias("position"))
        .unnest("authors")
        .filter(pl.col("name").is_not_null() | pl.col("name_zh").is_not_null())
        .with_columns(
            pl.coalesce(
                pl.when(pl.col("orcid").is_not_null()).then(pl.lit("orcid:") + pl.col("orcid")),
                pl.lit("name:") + pl.concat_str(
                    [pl.col("name").str.to_lowercase().str.replace_all(r"[^\p{L}]", "")
                     .fill_null(""), pl.col("name_zh").fill_null("")], separator="|"),
            ).alias("_key")
        )
    )
    if authors.height:
        authors = authors.with_columns(
            pl.col("_key").map_elements(lambda k: _hash_id("au_", k), return_dtype=pl.String)
            .alias("author_id"))
        people = authors.unique("author_id", keep="first").select(
            "author_id", "name", "name_zh", "orcid").to_dicts()
        upsert_rows(conn, s.authors, people, keys=["author_id"], update=[])
        links = authors.unique(["pub_id", "position"]).select(
            "pub_id", "position", "author_id", "affiliation").to_dicts()
        upsert_rows(conn, s.publication_authors, links, keys=["pub_id", "position"])
    words = (
        pubs.select("pub_id", "keywords").explode("keywords")
        .filter(pl.col("keywords").is_not_null())
        .with_columns(pl.col("keywords").str.normalize("NFKC").str.strip_chars()
                      .str.to_lowercase().alias("keyword"))
        .filter(pl.col("keyword").str.len_chars() > 0)
        .with_columns(
            pl.col("keyword").map_elements(lambda k: _hash_id("kw_", k), return_dtype=pl.String)
            .alias("keyword_id"),
            pl.when(pl.col("keyword").str.contains(r"[\u3400-\u9fff]")).then(pl.lit("zh"))
            .otherwise(pl.lit("en")).alias("language"),
        )
    )
    if words.height:
        upsert_rows(conn, s.keywords, words.unique("keyword_id").select(
            "keyword_id", "keyword", "language").to_dicts(), keys=["keyword_id"], update=[])
        upsert_rows(conn, s.publication_keywords, words.unique(["pub_id", "keyword_id"]).select(
            "pub_id", "keyword_id").to_dicts(), keys=["pub_id", "keyword_id"], update=[])


def _evidence_json(column: pl.Expr) -> pl.Expr:
    return column.map_elements(
        lambda v: json.dumps(list(v) if v is not None else [], ensure_ascii=False),
        return_dtype=pl.String,
    )


def write_classification(conn: Connection, pubs: pl.DataFrame, now: datetime) -> None:
    version = pubs.get_column("taxonomy_version").drop_nulls().unique().to_list()
    pub_ids = pubs.get_column("pub_id").to_list()
    for v in version:
        for part in chunks(pub_ids, 900):
            conn.execute(s.publication_topics.delete().where(
                s.publication_topics.c.pub_id.in_(part),
                s.publication_topics.c.taxonomy_version == v))
    classes = pubs.select(
        "pub_id", "taxonomy_version", "is_ai_education", "ai_score",
        pl.col("ai_evidence").list.eval(pl.element().struct.json_encode())
        .list.join(",").alias("_ev"),
    ).with_columns((pl.lit("[") + pl.col("_ev").fill_null("") + pl.lit("]")).alias("evidence"))
    rows = classes.drop("_ev").with_columns(pl.lit(now).alias("classified_at")).to_dicts()
    upsert_rows(conn, s.publication_classifications, rows, keys=["pub_id", "taxonomy_version"])
    topics = (
        pubs.select("pub_id", "taxonomy_version", "topics").explode("topics")
        .filter(pl.col("topics").is_not_null()).unnest("topics")
    )
    if topics.height:
        topics = topics.with_columns(
            (pl.lit("[") + pl.col("evidence").list.eval(pl.element().struct.json_encode())
             .list.join(",") + pl.lit("]")).alias("evidence"))
        upsert_rows(conn, s.publication_topics, topics.select(
            "pub_id", "topic", "taxonomy_version", "score", "evidence").to_dicts(),
            keys=["pub_id", "topic", "taxonomy_version"])


def _write_matches(conn: Connection, live: pl.DataFrame, now: datetime) -> int:
    is_other = ((pl.col("matched_source") != pl.col("source"))
                | (pl.col("matched_source_id") != pl.col("source_id")))
    matched = live.filter(pl.col("match_rule").is_in(MERGE_RULES)
                          & pl.col("matched_source").is_not_null() & is_other)
    rows = [
        {"pub_id": p, "source": a, "source_id": b, "matched_source": c, "matched_source_id": d,
         "rule": r, "score": sc, "matched_at": now}
        for p, a, b, c, d, r, sc in matched.select(
            "pub_id", "source", "source_id", "matched_source", "matched_source_id",
            "match_rule", "match_score").iter_rows()
    ]
    upsert_rows(conn, s.publication_matches, rows,
                keys=["source", "source_id", "matched_source", "matched_source_id"])
    return len(rows)


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
