import json
from datetime import date

import polars as pl

from transforms.canonical import to_canonical_frame
from transforms.merge import MERGED_FIELDS, merge_source_records, single_source_publications


def _pub(rows):
    return to_canonical_frame(rows).with_columns(pl.lit("pub_1").alias("pub_id"))


def test_merge_follows_the_written_precedence():
    frame = _pub([
        {"source": "crossref", "source_id": "10.3760/x", "doi": "10.3760/x", "title": "English T",
         "published_date": date(2025, 1, 1), "date_precision": "year",
         "authors": [{"name": "Wen Deliang", "name_zh": None, "orcid": None, "affiliation": None}]},
        {"source": "magtech", "source_id": "10.3760/x", "doi": "10.3760/x", "title": "T (site)",
         "title_zh": "中文标题", "abstract_zh": "中文摘要", "section": "人工智能在医学教育中的应用",
         "published_date": date(2025, 12, 31), "date_precision": "day", "keywords": ["人工智能"]},
        {"source": "openalex", "source_id": "W9", "openalex_id": "W9", "doi": "10.3760/x",
         "abstract": "An abstract", "pmid": "123"},
    ])
    row = merge_source_records(frame).row(0, named=True)
    assert row["title"] == "English T"  # crossref first for English titles
    assert row["title_zh"] == "中文标题" and row["section"] == "人工智能在医学教育中的应用"
    assert row["abstract"] == "An abstract"  # any abstract beats none
    assert row["openalex_id"] == "W9" and row["pmid"] == "123"
    assert (row["published_date"], row["date_precision"]) == (date(2025, 12, 31), "day")
    assert row["sources"] == "crossref,magtech,openalex"
    given = json.loads(row["field_sources"])
    assert given["title_zh"] == "magtech" and given["abstract"] == "openalex"
    assert given["published_date"] == "magtech" and given["authors"] == "crossref"


def test_single_source_fast_path_matches_the_general_merge():
    frame = to_canonical_frame([
        {"source": "magtech", "source_id": "a", "doi": "10.1/a", "title": "A", "keywords": ["k"]},
        {"source": "pubmed", "source_id": "b", "pmid": "2", "title": "B"},
    ]).with_columns(pl.Series("pub_id", ["p1", "p2"]))
    fast = single_source_publications(frame)
    slow = merge_source_records(frame).select(fast.columns)
    assert fast.select(MERGED_FIELDS).equals(slow.select(MERGED_FIELDS))
    for a, b in zip(fast["field_sources"], slow["field_sources"], strict=True):
        assert json.loads(a) == json.loads(b)
