"""The canonical publication record every parser produces (DESIGN: "The canonical record").

Parsers build rows as plain dicts with any subset of these columns and call
:func:`to_canonical_frame`; missing columns become nulls, unknown columns fail loudly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

AUTHOR_DTYPE = pl.Struct(
    {
        "name": pl.String,
        "name_zh": pl.String,
        "orcid": pl.String,
        "affiliation": pl.String,
    }
)

CANONICAL_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_id": pl.String(),
    "doi": pl.String(),
    "pmid": pl.String(),
    "openalex_id": pl.String(),
    "title": pl.String(),
    "title_zh": pl.String(),
    "abstract": pl.String(),
    "abstract_zh": pl.String(),
    "keywords": pl.List(pl.String),
    "authors": pl.List(AUTHOR_DTYPE),
    "journal_issn": pl.String(),
    "journal_title": pl.String(),
    "journal_title_zh": pl.String(),
    "volume": pl.String(),
    "issue": pl.String(),
    "pages": pl.String(),
    "section": pl.String(),
    "language": pl.String(),
    "published_date": pl.Date(),
    "date_precision": pl.String(),
    "received_date": pl.Date(),
    "online_date": pl.Date(),
    "url": pl.String(),
    # Extra classification signals from the provider (MeSH terms, OpenAlex topics,
    # arXiv categories, dc:subject); not shown as keywords.
    "subjects": pl.List(pl.String),
    # OAI-PMH deletions and retractions: the row tells the loader to retire the record.
    "is_deleted": pl.Boolean(),
    "raw_ref": pl.String(),
    "content_hash": pl.String(),
}

CANONICAL_COLUMNS: tuple[str, ...] = tuple(CANONICAL_SCHEMA)

#: Columns that make up the content hash (everything a reader sees; not lineage).
HASHED_COLUMNS: tuple[str, ...] = tuple(
    c for c in CANONICAL_COLUMNS if c not in {"raw_ref", "content_hash", "source"}
)

DATE_PRECISIONS: frozenset[str] = frozenset({"day", "month", "year"})


class UnknownColumnsError(ValueError):
    """A parser produced columns that are not part of the canonical record."""


def empty_canonical_frame() -> pl.DataFrame:
    """Return an empty frame with the canonical schema."""
    return pl.DataFrame(schema=CANONICAL_SCHEMA)


def to_canonical_frame(rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    """Build a canonical frame from parser rows.

    Args:
        rows: Dicts keyed by canonical column names; absent keys become null.

    Returns:
        A frame with exactly :data:`CANONICAL_SCHEMA`, with ``content_hash`` filled.

    Raises:
        UnknownColumnsError: If a row carries a key outside the canonical record.
    """
    rows = list(rows)
    unknown = sorted({k for row in rows for k in row} - set(CANONICAL_COLUMNS))
    if unknown:
        msg = f"parser produced non-canonical columns: {', '.join(unknown)}"
        raise UnknownColumnsError(msg)
    if not rows:
        return empty_canonical_frame()
    frame = pl.DataFrame(
        [{c: row.get(c) for c in CANONICAL_COLUMNS} for row in rows],
        schema=CANONICAL_SCHEMA,
        strict=False,
    )
    return with_content_hash(conform(frame))


def conform(frame: pl.DataFrame) -> pl.DataFrame:
    """Add missing canonical columns as nulls, cast, and order them canonically.

    Raises:
        UnknownColumnsError: If the frame carries columns outside the canonical record.
    """
    unknown = sorted(set(frame.columns) - set(CANONICAL_COLUMNS))
    if unknown:
        msg = f"frame has non-canonical columns: {', '.join(unknown)}"
        raise UnknownColumnsError(msg)
    exprs = [
        pl.col(c).cast(dtype) if c in frame.columns else pl.lit(None, dtype=dtype).alias(c)
        for c, dtype in CANONICAL_SCHEMA.items()
    ]
    return frame.select(exprs).with_columns(
        pl.col("keywords").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("subjects").fill_null(pl.lit([], dtype=pl.List(pl.String))),
        pl.col("authors").fill_null(pl.lit([], dtype=pl.List(AUTHOR_DTYPE))),
        pl.col("is_deleted").fill_null(False),
    )


def with_content_hash(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill ``content_hash`` with a stable sha256 of the record's visible fields."""
    if frame.height == 0:
        return frame
    encoded = frame.select(HASHED_COLUMNS).with_columns(
        pl.col(pl.Date).cast(pl.String)
    )
    hashes = [
        hashlib.sha256(repr(row).encode("utf-8")).hexdigest()
        for row in encoded.iter_rows()
    ]
    return frame.with_columns(pl.Series("content_hash", hashes, dtype=pl.String))
