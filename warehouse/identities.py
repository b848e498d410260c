"""What the warehouse already knows that a batch's records can match (read in keyed lookups).

A load needs, for its records: the stored source records they are (same source and id: their
publication, content hash and match rule), and the publications they could be merged into:
those with one of their DOIs or PMIDs, and those in one of their (journal, year) blocks,
where exact and fuzzy title matching looks. Each set is read by joining a temporary table of
the batch's keys to an index (``source_records``' primary key, ``publications.doi``,
``publications.pmid``, and the covering ``ix_publications_match_keys``), so a load reads
what its records can match, not the whole warehouse.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    null,
    select,
)

from transforms.dedupe import IDENTITY_SCHEMA
from warehouse import schema as s
from warehouse.upsert import insert_frame

#: Identity rows as :func:`read_candidates` returns them.
CANDIDATE_SCHEMA: dict[str, pl.DataType] = {
    **IDENTITY_SCHEMA, "content_hash": pl.String(), "match_rule": pl.String(),
}

_names = itertools.count()


@contextmanager
def temp_rows(conn: Connection, frame: pl.DataFrame, *, prefix: str) -> Iterator[Table]:
    """A temporary table holding ``frame``'s rows for the duration of the block.

    Dropped when the block ends; if the block fails, the transaction's rollback removes it.
    Integer columns stay integers; everything else is text.
    """
    columns = [Column(c, Integer if frame.schema[c].is_integer() else Text)
               for c in frame.columns]
    table = Table(f"aied_tmp_{prefix}_{next(_names)}", MetaData(), *columns,
                  prefixes=["TEMPORARY"])
    table.create(conn)
    insert_frame(conn, table, frame)
    yield table
    table.drop(conn)


def _frame(conn: Connection, query: Select[Any]) -> pl.DataFrame:
    return pl.DataFrame(fetch_tuples(conn, query), schema=CANDIDATE_SCHEMA, orient="row")


def fetch_tuples(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """The rows of a query of text and integer columns, as plain tuples.

    On SQLite the compiled statement runs on the driver's cursor (same connection, same
    transaction): hundreds of thousands of candidate rows skip SQLAlchemy's row objects.
    """
    if conn.dialect.name != "sqlite":
        return [tuple(row) for row in conn.execute(query)]
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    params = [compiled.params[name] for name in compiled.positiontup or ()]
    cursor = conn.connection.driver_connection.cursor()
    try:
        return cursor.execute(str(compiled), params).fetchall()
    finally:
        cursor.close()


def _publication_columns(*, with_pmid: bool = True) -> list[Any]:
    """A publication as a candidate identity (no source record, no stored hash or rule).

    Without ``with_pmid`` only what ``ix_publications_match_keys`` holds is read, so the
    query is answered from the index without the (wide) publication rows.
    """
    p = s.publications
    return [p.c.pub_id, null().label("source"), null().label("source_id"), p.c.doi,
            p.c.pmid if with_pmid else null().label("pmid"), p.c.title_key, p.c.pub_year,
            p.c.journal_key, null().label("content_hash"), null().label("match_rule")]


def read_candidates(conn: Connection, batch: pl.DataFrame) -> pl.DataFrame:
    """Stored identities the batch's records can match (:data:`CANDIDATE_SCHEMA`).

    First one row per stored source record of the batch (with its content hash and rule),
    then one row per publication sharing a DOI, a PMID or a (journal, year) block with a
    record; those rows carry no source record (``source`` is null) and, when they come from
    a block, no PMID (a publication with the record's PMID is read by the PMID lookup).

    Args:
        batch: Records with :func:`transforms.dedupe.with_match_keys` columns.
    """
    sr, p = s.source_records, s.publications
    parts = []
    keys = batch.select("source", "source_id").unique()
    with temp_rows(conn, keys, prefix="records") as t:
        parts.append(_frame(conn, select(
            sr.c.pub_id, sr.c.source, sr.c.source_id, p.c.doi, p.c.pmid, p.c.title_key,
            p.c.pub_year, p.c.journal_key, sr.c.content_hash, sr.c.match_rule,
        ).select_from(
            t.join(sr, and_(sr.c.source == t.c.source, sr.c.source_id == t.c.source_id))
            .join(p, p.c.pub_id == sr.c.pub_id))))
    for column in ("doi", "pmid"):
        values = batch.select(pl.col(column).drop_nulls().unique())
        if values.height == 0:
            continue
        with temp_rows(conn, values, prefix=column) as t:
            parts.append(_frame(conn, select(*_publication_columns()).select_from(
                t.join(p, p.c[column] == t.c[column]))))
    blocks = batch.filter(pl.col("title_key").is_not_null() & pl.col("pub_year").is_not_null()
                          ).select("journal_key", "pub_year").unique()
    in_journal = blocks.filter(pl.col("journal_key").is_not_null())
    if in_journal.height:
        with temp_rows(conn, in_journal, prefix="blocks") as t:
            in_block = and_(p.c.journal_key == t.c.journal_key, p.c.pub_year == t.c.pub_year)
            parts.append(_frame(conn, select(*_publication_columns(with_pmid=False))
                                .select_from(t.join(p, in_block))))
    years = blocks.filter(pl.col("journal_key").is_null()).get_column("pub_year").to_list()
    if years:
        parts.append(_frame(conn, select(*_publication_columns(with_pmid=False)).where(
            p.c.journal_key.is_(None), p.c.pub_year.in_(years))))
    return pl.concat(parts, how="vertical_relaxed")


def representative_records(conn: Connection, pub_ids: list[str]) -> pl.DataFrame:
    """One stored source record per publication: the first by (source, source_id).

    Returns:
        ``pub_id``, ``source``, ``source_id``.
    """
    schema = {"pub_id": pl.String, "source": pl.String, "source_id": pl.String}
    if not pub_ids:
        return pl.DataFrame(schema=schema)
    sr = s.source_records
    ids = pl.DataFrame({"pub_id": pub_ids}, schema={"pub_id": pl.String}).unique()
    with temp_rows(conn, ids, prefix="pubs") as t:
        rows = fetch_tuples(conn, select(sr.c.pub_id, sr.c.source, sr.c.source_id)
                            .select_from(t.join(sr, sr.c.pub_id == t.c.pub_id)))
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.sort("pub_id", "source", "source_id").unique("pub_id", keep="first")
