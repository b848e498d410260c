"""The canonical publication record every parser produces (DESIGN: "The canonical record").

Parsers build rows as plain dicts with any subset of these columns and call
:func:`to_canonical_frame`; missing columns become nulls, unknown columns fail loudly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl
import pyarrow as pa

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


_CANONICAL = frozenset(CANONICAL_COLUMNS)


def check_columns(rows: Iterable[Mapping[str, Any]]) -> None:
    """Fail loudly when a parser row has keys outside the canonical record.

    Raises:
        UnknownColumnsError: With the unknown keys listed.
    """
    unknown = {k for row in rows if not _CANONICAL.issuperset(row) for k in row} - _CANONICAL
    if unknown:
        msg = f"parser produced non-canonical columns: {', '.join(sorted(unknown))}"
        raise UnknownColumnsError(msg)


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
    check_columns(rows)
    if not rows:
        return empty_canonical_frame()
    # Column by column: several times faster than polars reading a list of dicts.
    frame = pl.DataFrame([
        column_series(column, [row.get(column) for row in rows], dtype)
        for column, dtype in CANONICAL_SCHEMA.items()
    ])
    return with_content_hash(conform(frame))


def column_series(name: str, values: list[Any], dtype: pl.DataType) -> pl.Series:
    """A column from Python values, as ``pl.Series(..., strict=False)`` builds it.

    Lists of strings and lists of author structs, when every value has the expected type,
    are assembled from flat Arrow buffers instead (polars converts nested Python values one
    list at a time); anything else takes polars' own conversion.
    """
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        fields = tuple(f.name for f in inner.fields) if isinstance(inner, pl.Struct) else None
        if inner == pl.String or fields is not None:
            built = _nested_series(name, values, fields)
            if built is not None:
                return built.cast(dtype)
    return pl.Series(name, values, dtype=dtype, strict=False)


def _nested_series(name: str, values: list[Any],
                   fields: tuple[str, ...] | None) -> pl.Series | None:
    """Lists of strings (``fields`` None) or of string-field structs; None on any other type."""
    offsets = [0]
    is_null: list[bool] = []
    flat: list[Any] = []
    end = 0
    for value in values:
        if value is None:
            is_null.append(True)
        elif type(value) is list:
            is_null.append(False)
            flat += value
            end += len(value)
        else:
            return None
        offsets.append(end)
    if fields is None:
        if not all(type(v) is str or v is None for v in flat):
            return None
        items = pa.array(flat, type=pa.string())
    else:
        allowed = set(fields)
        columns: dict[str, list[Any]] = {f: [] for f in fields}
        item_null: list[bool] = []
        for item in flat:
            if item is None:
                item_null.append(True)
                for f in fields:
                    columns[f].append(None)
                continue
            if type(item) is not dict or not allowed.issuperset(item):
                return None
            item_null.append(False)
            for f in fields:
                columns[f].append(item.get(f))
        if not all(type(v) is str or v is None for c in columns.values() for v in c):
            return None
        items = pa.StructArray.from_arrays(
            [pa.array(columns[f], type=pa.string()) for f in fields], names=list(fields),
            mask=pa.array(item_null, type=pa.bool_()) if any(item_null) else None)
    array = pa.ListArray.from_arrays(
        pa.array(offsets, type=pa.int32()), items,
        mask=pa.array(is_null, type=pa.bool_()) if any(is_null) else None)
    return pl.Series(name, array)


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
    """Fill ``content_hash`` with a stable sha256 of the record's visible fields.

    The hashed text is the record's JSON line (``HASHED_COLUMNS``, in order) as polars
    writes it: one pass in Rust, then one sha256 per line.
    """
    if frame.height == 0:
        return frame
    sha256 = hashlib.sha256
    hashes = [sha256(line.encode("utf-8")).hexdigest()
              for line in ndjson_lines(frame.select(HASHED_COLUMNS))]
    return frame.with_columns(pl.Series("content_hash", hashes, dtype=pl.String))


def ndjson_lines(frame: pl.DataFrame) -> list[str]:
    """One JSON object per row, as polars writes them.

    Split on ``\n`` only: JSON escapes it inside strings, but not U+2028, U+2029 or U+0085,
    which ``str.splitlines`` would also break a line at.
    """
    if frame.height == 0:
        return []
    return frame.write_ndjson().split("\n")[:-1]
