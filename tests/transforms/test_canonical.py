"""The canonical frame builder: column by column, the same frame polars builds from dicts."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from transforms import crossref, openalex
from transforms.canonical import (
    CANONICAL_COLUMNS,
    CANONICAL_SCHEMA,
    UnknownColumnsError,
    conform,
    to_canonical_frame,
    with_content_hash,
)

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _reference(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """What polars makes of the same rows given as dicts (the builder's old way)."""
    frame = pl.DataFrame([{c: row.get(c) for c in CANONICAL_COLUMNS} for row in rows],
                         schema=CANONICAL_SCHEMA, strict=False)
    return with_content_hash(conform(frame))


def _rows(folder: str, items_of: Any, to_row: Any) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((FIXTURES / folder).glob("*.json")):
        try:
            body = json.loads(path.read_bytes())
        except ValueError:
            continue
        for position, item in enumerate(items_of(body)):
            try:
                row = to_row(item)
            except (crossref.RecordError, ValueError, TypeError, KeyError, AttributeError):
                continue
            row["raw_ref"] = f"{path.name}#{position}"
            rows.append(row)
    return rows


def _crossref_items(body: Any) -> list[Any]:
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, dict) and isinstance(message.get("items"), list):
        return message["items"]
    return [message] if isinstance(message, dict) and "DOI" in message else []


def _openalex_items(body: Any) -> list[Any]:
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return body["results"]
    return [body] if isinstance(body, dict) and "id" in body else []


@pytest.mark.parametrize(("folder", "items_of", "to_row"), [
    ("crossref", _crossref_items, crossref.work_to_row),
    ("openalex", _openalex_items, openalex.work_to_row),
])
def test_real_rows_give_the_frame_polars_builds_from_dicts(folder, items_of, to_row) -> None:
    rows = _rows(folder, items_of, to_row)
    assert len(rows) >= 20
    assert_frame_equal(to_canonical_frame(rows), _reference(rows))


def test_odd_values_are_cast_as_polars_casts_them() -> None:
    rows = [
        {"source": "x", "source_id": "1", "title": "T", "volume": 12, "keywords": None,
         "published_date": date(2020, 5, 1), "authors": [{"name": "A", "orcid": None}]},
        {"source": "x", "source_id": "2", "title": None, "issue": "3", "keywords": ["k"],
         "is_deleted": True, "authors": []},
        {"source": "x", "source_id": "3"},
    ]
    built = to_canonical_frame(rows)
    assert_frame_equal(built, _reference(rows))
    assert built.get_column("volume").to_list() == ["12", None, None]
    assert built.get_column("keywords").to_list() == [[], ["k"], []]
    assert built.get_column("content_hash").n_unique() == 3


def test_unknown_columns_fail_loudly_with_their_names() -> None:
    with pytest.raises(UnknownColumnsError, match="colour, flavour"):
        to_canonical_frame([{"source": "x", "flavour": 1, "colour": 2}])
