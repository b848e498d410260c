"""The analyst views and derived tables on a small hand-made dataset (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, insert, select, text

from tests.warehouse import data
from warehouse import schema as s
from warehouse.bursts import method_name
from warehouse.views import (
    refresh_derived_tables,
    refresh_emerging_topics,
    refresh_keyword_cooccurrence,
)


def _rows(engine: Engine, sql: str) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(sql))]


def _assert_rows(actual: Sequence[tuple[Any, ...]], expected: Sequence[tuple[Any, ...]]) -> None:
    assert len(actual) == len(expected), actual
    for got, want in zip(actual, expected, strict=True):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            if isinstance(w, float):
                assert g == pytest.approx(w), (got, want)
            else:
                assert g == w, (got, want)
                assert type(g) is type(w) or w is None, (got, want)


@pytest.fixture
def loaded(warehouse_engine: Engine) -> Engine:
    data.insert_dataset(warehouse_engine)
    return warehouse_engine


def test_topic_trends(loaded: Engine) -> None:
    rows = _rows(
        loaded,
        "SELECT topic, label_en, label_zh, year, publications, ai_publications, share "
        "FROM topic_trends ORDER BY topic, year",
    )
    _assert_rows(rows, data.EXPECTED_TOPIC_TRENDS)


def test_topic_trends_monthly(loaded: Engine) -> None:
    rows = _rows(
        loaded,
        "SELECT topic, year, month, publications, ai_publications, share "
        "FROM topic_trends_monthly ORDER BY topic, year, month",
    )
    _assert_rows(rows, data.EXPECTED_TOPIC_TRENDS_MONTHLY)


def test_yearly_trends(loaded: Engine) -> None:
    rows = _rows(loaded, "SELECT * FROM yearly_trends ORDER BY year")
    _assert_rows(rows, data.EXPECTED_YEARLY_TRENDS)


def test_journal_trends(loaded: Engine) -> None:
    rows = _rows(loaded, "SELECT * FROM journal_trends ORDER BY journal_issn, year")
    _assert_rows(rows, data.EXPECTED_JOURNAL_TRENDS)


def test_publication_lag_mean_and_median(loaded: Engine) -> None:
    rows = _rows(loaded, "SELECT * FROM publication_lag ORDER BY journal_issn, year")
    _assert_rows(rows, data.EXPECTED_PUBLICATION_LAG)


def test_views_follow_the_current_taxonomy_version(loaded: Engine) -> None:
    """Reclassifying p4 under version 2 moves it to version 2's topics."""
    with loaded.begin() as conn:
        conn.execute(
            insert(s.topics),
            [{"topic": "assessment", "taxonomy_version": "2",
              "label_en": "AI for assessment and evaluation", "label_zh": "智能评价与考核"}],
        )
        conn.execute(
            insert(s.publication_topics),
            [{"pub_id": "p4", "topic": "assessment", "taxonomy_version": "2"}],
        )
        conn.execute(
            s.publications.update().where(s.publications.c.pub_id == "p4")
            .values(taxonomy_version="2")
        )
    rows = _rows(loaded, "SELECT topic, publications FROM topic_trends WHERE year = 2024 "
                         "ORDER BY topic")
    assert rows == [("assessment", 1), ("genai-llm", 2)]


def test_keyword_cooccurrence_top_keywords(loaded: Engine) -> None:
    assert refresh_keyword_cooccurrence(loaded, top_n=3) == 3
    rows = _rows(
        loaded,
        "SELECT c.keyword_a, c.keyword_b, c.publications, c.publications_a, c.publications_b, "
        "c.jaccard FROM keyword_cooccurrence c "
        "ORDER BY c.publications DESC, c.keyword_id_a, c.keyword_id_b",
    )
    _assert_rows(rows, data.EXPECTED_COOCCURRENCE_TOP3)
    ids = _rows(loaded, "SELECT keyword_id_a, keyword_id_b FROM keyword_cooccurrence")
    assert all(a < b for a, b in ids)
    # All keywords: kw4 joins with its two partners from p2.
    assert refresh_keyword_cooccurrence(loaded, top_n=50) == 5


def test_emerging_topics_from_a_burst(warehouse_engine: Engine) -> None:
    totals = {year: 10 for year in range(2015, 2025)}
    counts = {2015: 1, 2016: 1, 2017: 1, 2018: 1, 2019: 1, 2020: 1, 2021: 6, 2022: 7,
              2023: 6, 2024: 1}
    data.insert_burst_series(warehouse_engine, topic="genai-llm", counts=counts, totals=totals)
    with warehouse_engine.begin() as conn:
        conn.execute(insert(s.topics), data.TOPICS)
    assert refresh_emerging_topics(warehouse_engine) == 10
    rows = _rows(
        warehouse_engine,
        "SELECT topic, label_en, year, publications, ai_publications, burst_start, burst_end, "
        "method FROM emerging_topics ORDER BY topic, year",
    )
    label = "Generative AI and large language models"
    method = method_name()
    assert rows == [
        ("genai-llm", label, 2021, 6, 10, 2021, 2023, method),
        ("genai-llm", label, 2022, 7, 10, 2021, 2023, method),
        ("genai-llm", label, 2023, 6, 10, 2021, 2023, method),
    ]
    strength = _rows(warehouse_engine, "SELECT DISTINCT burst_strength FROM emerging_topics")
    assert len(strength) == 1
    assert strength[0][0] > 0


def test_emerging_topics_refresh_is_reproducible(loaded: Engine) -> None:
    data.insert_burst_series(
        loaded, topic="assessment", counts={2018: 0, 2019: 1, 2020: 5, 2021: 6},
        totals={2018: 8, 2019: 8, 2020: 8, 2021: 8},
    )
    columns = [c for c in s.topic_bursts.c if c.name != "computed_at"]
    query = select(*columns).order_by(s.topic_bursts.c.topic, s.topic_bursts.c.year)
    refresh_emerging_topics(loaded)
    with loaded.connect() as conn:
        first = conn.execute(query).all()
    refresh_emerging_topics(loaded)
    with loaded.connect() as conn:
        second = conn.execute(query).all()
    assert first == second
    assert len(first) > 0
    # Topic-years are complete from the first to the last year, zeros included.
    years = sorted({r.year for r in first})
    assert years == list(range(2018, 2025))
    assert len(first) == len(years) * 3


def test_refresh_derived_tables_on_empty_warehouse(warehouse_engine: Engine) -> None:
    counts = refresh_derived_tables(warehouse_engine)
    assert (counts.topic_bursts, counts.keyword_cooccurrence) == (0, 0)
    assert _rows(warehouse_engine, "SELECT * FROM emerging_topics") == []


def test_refresh_derived_tables_is_one_transaction(loaded: Engine) -> None:
    """A failure inside the refresh leaves the previous derived rows in place."""
    counts = refresh_derived_tables(loaded)
    assert counts.keyword_cooccurrence == 5
    assert counts.topic_bursts > 0
    before = _rows(loaded, "SELECT COUNT(*) FROM topic_bursts")

    class BoomError(RuntimeError):
        pass

    with pytest.raises(BoomError), loaded.begin() as conn:
        refresh_derived_tables(conn)
        assert _rows_in(conn, "SELECT COUNT(*) FROM keyword_cooccurrence") == [(5,)]
        conn.execute(s.topic_bursts.delete())
        raise BoomError
    assert _rows(loaded, "SELECT COUNT(*) FROM topic_bursts") == before


def _rows_in(conn: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(text(sql))]


def test_demo_dataset_shows_the_generative_ai_burst(warehouse_engine: Engine) -> None:
    data.insert_demo_dataset(warehouse_engine, scale=0.5)
    refresh_derived_tables(warehouse_engine)
    rows = _rows(
        warehouse_engine,
        "SELECT DISTINCT burst_start, burst_end FROM emerging_topics WHERE topic = 'genai-llm'",
    )
    assert len(rows) == 1
    start, end = rows[0]
    assert 2023 <= start <= 2024
    assert end == 2025
    steady = _rows(
        warehouse_engine, "SELECT COUNT(*) FROM emerging_topics WHERE topic = 'assessment'"
    )
    assert steady == [(0,)]
