"""Field-by-field merge of the source records that describe one publication (pure).

The precedence lives in ``transforms/data/merge_precedence.json``; every merged field
records which source gave it (``field_sources``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

import polars as pl

from transforms.canonical import CANONICAL_SCHEMA

#: Publication fields produced by a merge (published_date and date_precision travel together).
MERGED_FIELDS: tuple[str, ...] = (
    "doi", "pmid", "openalex_id", "title", "title_zh", "abstract", "abstract_zh", "keywords",
    "authors", "journal_issn", "journal_title", "journal_title_zh", "volume", "issue",
    "pages", "section", "language", "published_date", "received_date", "online_date", "url",
    "subjects",
)


_PRECISION_RANK = {"day": 0, "month": 1, "year": 2}


class PrecedenceError(ValueError):
    """The precedence file names an unknown field."""


@cache
def load_precedence() -> tuple[tuple[str, ...], dict[str, tuple[str, ...]]]:
    """The packaged merge precedence: (default order, per-field order).

    Raises:
        PrecedenceError: A field in the file is not a mergeable field.
    """
    raw = json.loads(
        resources.files("transforms.data").joinpath("merge_precedence.json").read_text("utf-8")
    )
    unknown = sorted(set(raw["fields"]) - set(MERGED_FIELDS))
    if unknown:
        msg = f"merge precedence names unknown fields: {', '.join(unknown)}"
        raise PrecedenceError(msg)
    return tuple(raw["default"]), {k: tuple(v) for k, v in raw["fields"].items()}


def _rank_expr(order: tuple[str, ...], default: tuple[str, ...]) -> pl.Expr:
    full = list(order) + [s for s in default if s not in order]
    mapping = {s: i for i, s in enumerate(full)}
    return pl.col("source").replace_strict(mapping, default=len(full), return_dtype=pl.Int32)


def _present(field: str) -> pl.Expr:
    dtype = CANONICAL_SCHEMA[field]
    if isinstance(dtype, pl.List):
        return pl.col(field).is_not_null() & (pl.col(field).list.len() > 0)
    return pl.col(field).is_not_null()


def merge_source_records(records: pl.DataFrame) -> pl.DataFrame:
    """Merge source records sharing a ``pub_id`` into one row per publication.

    Args:
        records: Canonical records with ``pub_id`` (one row per source record).

    Returns:
        One row per ``pub_id`` with :data:`MERGED_FIELDS`, ``date_precision``, ``sources``
        (sorted, comma-separated) and ``field_sources`` (JSON: field -> source).
    """
    default, fields = load_precedence()
    aggs: list[pl.Expr] = []
    for field in MERGED_FIELDS:
        rank = _rank_expr(fields.get(field, default), default)
        if field == "published_date":
            # A more precise date beats a padded one, then the source order decides.
            rank = pl.col("date_precision").replace_strict(
                _PRECISION_RANK, default=3, return_dtype=pl.Int32) * 100 + rank
        present = _present(field)
        ordered = pl.col(field).filter(present).sort_by(rank.filter(present))
        src = pl.col("source").filter(present).sort_by(rank.filter(present))
        aggs.append(ordered.first().alias(field))
        aggs.append(src.first().alias(f"_src_{field}"))
        if field == "published_date":
            aggs.append(pl.col("date_precision").filter(present).sort_by(rank.filter(present))
                        .first().alias("date_precision"))
    aggs.append(pl.col("source").unique().sort().str.join(",").alias("sources"))
    merged = records.group_by("pub_id", maintain_order=True).agg(aggs)
    src_cols = [f"_src_{f}" for f in MERGED_FIELDS]
    field_sources = [
        json.dumps({f: s for f, s in zip(MERGED_FIELDS, row, strict=True) if s is not None},
                   sort_keys=True)
        for row in merged.select(src_cols).iter_rows()
    ]
    empty = {f: pl.col(f).fill_null(pl.lit([], dtype=CANONICAL_SCHEMA[f]))
             for f in MERGED_FIELDS if isinstance(CANONICAL_SCHEMA[f], pl.List)}
    return merged.drop(src_cols).with_columns(
        pl.Series("field_sources", field_sources, dtype=pl.String),
        **empty,
    )


def single_source_publications(records: pl.DataFrame) -> pl.DataFrame:
    """The fast path when each ``pub_id`` has exactly one source record (vectorised)."""
    parts = [
        pl.when(_present(f)).then(pl.lit(f'"{f}": "') + pl.col("source") + pl.lit('"'))
        for f in sorted(MERGED_FIELDS)
    ]
    joined = pl.concat_list(parts).list.drop_nulls().list.join(", ")
    field_sources = pl.lit("{") + joined + pl.lit("}")
    return records.select(
        "pub_id", *MERGED_FIELDS, "date_precision",
        pl.col("source").alias("sources"), field_sources.alias("field_sources"),
    )
