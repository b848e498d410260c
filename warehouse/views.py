"""Analyst views and the stored derived tables behind them.

The views are plain SQL that runs on SQLite and PostgreSQL (per-dialect text where the two
differ). Their definitions are versioned: migration ``0001`` creates :data:`VIEWS_0001`; a
later change adds ``VIEWS_0002`` here and a migration that replaces the views, so old
migrations keep producing what they produced. :data:`CURRENT_VIEWS` is what the newest
migration creates (the data dictionary and the analyst role read it).

Two derived tables are stored rather than computed on every query, and recomputed from scratch
by :func:`refresh_derived_tables` (one transaction):

- ``topic_bursts`` (read by the ``emerging_topics`` view): Kleinberg two-state burst detection
  over ``topic_trends`` (see :mod:`warehouse.bursts`);
- ``keyword_cooccurrence``: pair counts of the most frequent keywords of AI-in-education
  publications.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Connection, Engine, delete, insert, text

from warehouse.bursts import DEFAULT_GAMMA, DEFAULT_S, detect_topic_bursts
from warehouse.schema import keyword_cooccurrence, topic_bursts

#: How many keywords enter the co-occurrence table by default.
DEFAULT_TOP_KEYWORDS = 50


@dataclass(frozen=True)
class ViewDefinition:
    """One analyst view.

    Attributes:
        name: View name.
        description: What a row is and what the view is for (data dictionary, COMMENT ON).
        columns: Column name -> description, in the view's column order.
        sql: Dialect name -> SELECT text; the ``default`` entry serves every other dialect.
    """

    name: str
    description: str
    columns: Mapping[str, str]
    sql: Mapping[str, str] = field(repr=False)

    def sql_for(self, dialect: str) -> str:
        """Return the SELECT for a dialect (``sqlite``, ``postgresql``)."""
        return self.sql.get(dialect, self.sql["default"])


# --- shared SQL fragments (version 0001) -------------------------------------------------

_LABELS_0001 = """labels AS (
    SELECT t.topic, MAX(t.label_en) AS label_en, MAX(t.label_zh) AS label_zh
    FROM topics t
    WHERE t.taxonomy_version IN (
        SELECT DISTINCT taxonomy_version FROM publications WHERE taxonomy_version IS NOT NULL
    )
    GROUP BY t.topic
)"""

_SHARE = "CAST({num} AS DOUBLE PRECISION) / {den}"

_TOPIC_TRENDS_0001 = f"""WITH ai AS (
    SELECT p.pub_id, p.pub_year, p.taxonomy_version
    FROM publications p
    WHERE p.is_ai_education AND p.pub_year IS NOT NULL
),
year_totals AS (
    SELECT pub_year, COUNT(*) AS ai_publications FROM ai GROUP BY pub_year
),
counts AS (
    SELECT pt.topic, ai.pub_year, COUNT(*) AS publications
    FROM ai
    JOIN publication_topics pt
      ON pt.pub_id = ai.pub_id AND pt.taxonomy_version = ai.taxonomy_version
    GROUP BY pt.topic, ai.pub_year
),
{_LABELS_0001}
SELECT c.topic AS topic,
       l.label_en AS label_en,
       l.label_zh AS label_zh,
       c.pub_year AS year,
       c.publications AS publications,
       y.ai_publications AS ai_publications,
       {_SHARE.format(num="c.publications", den="y.ai_publications")} AS share
FROM counts c
JOIN year_totals y ON y.pub_year = c.pub_year
LEFT JOIN labels l ON l.topic = c.topic"""

_TOPIC_TRENDS_MONTHLY_0001 = f"""WITH ai AS (
    SELECT p.pub_id, p.pub_year, p.pub_month, p.taxonomy_version
    FROM publications p
    WHERE p.is_ai_education AND p.pub_year IS NOT NULL AND p.pub_month IS NOT NULL
),
month_totals AS (
    SELECT pub_year, pub_month, COUNT(*) AS ai_publications
    FROM ai GROUP BY pub_year, pub_month
),
counts AS (
    SELECT pt.topic, ai.pub_year, ai.pub_month, COUNT(*) AS publications
    FROM ai
    JOIN publication_topics pt
      ON pt.pub_id = ai.pub_id AND pt.taxonomy_version = ai.taxonomy_version
    GROUP BY pt.topic, ai.pub_year, ai.pub_month
),
{_LABELS_0001}
SELECT c.topic AS topic,
       l.label_en AS label_en,
       l.label_zh AS label_zh,
       c.pub_year AS year,
       c.pub_month AS month,
       c.publications AS publications,
       m.ai_publications AS ai_publications,
       {_SHARE.format(num="c.publications", den="m.ai_publications")} AS share
FROM counts c
JOIN month_totals m ON m.pub_year = c.pub_year AND m.pub_month = c.pub_month
LEFT JOIN labels l ON l.topic = c.topic"""

_AI_FLAG = "CASE WHEN p.is_ai_education THEN 1 ELSE 0 END"

_YEARLY_TRENDS_0001 = f"""SELECT p.pub_year AS year,
       COUNT(*) AS publications,
       SUM({_AI_FLAG}) AS ai_publications,
       {_SHARE.format(num=f"SUM({_AI_FLAG})", den="COUNT(*)")} AS ai_share,
       SUM(CASE WHEN p.is_ai_education AND p.language = 'zh' THEN 1 ELSE 0 END)
           AS ai_publications_zh,
       SUM(CASE WHEN p.is_ai_education AND (p.language IS NULL OR p.language <> 'zh')
           THEN 1 ELSE 0 END) AS ai_publications_other
FROM publications p
WHERE p.pub_year IS NOT NULL
GROUP BY p.pub_year"""

_JOURNAL_TRENDS_0001 = f"""SELECT p.journal_issn AS journal_issn,
       COALESCE(MAX(j.title), MAX(p.journal_title)) AS journal_title,
       MAX(j.title_zh) AS journal_title_zh,
       p.pub_year AS year,
       COUNT(*) AS publications,
       SUM({_AI_FLAG}) AS ai_publications,
       {_SHARE.format(num=f"SUM({_AI_FLAG})", den="COUNT(*)")} AS ai_share
FROM publications p
LEFT JOIN journals j ON j.issn = p.journal_issn
WHERE p.journal_issn IS NOT NULL AND p.pub_year IS NOT NULL
GROUP BY p.journal_issn, p.pub_year"""

_LAG_0001 = """WITH lags AS (
    SELECT p.journal_issn, p.pub_year, {days} AS days
    FROM publications p
    WHERE p.journal_issn IS NOT NULL AND p.pub_year IS NOT NULL
      AND p.received_date IS NOT NULL AND p.published_date IS NOT NULL
      AND p.published_date >= p.received_date
),
ranked AS (
    SELECT journal_issn, pub_year, days,
           ROW_NUMBER() OVER (PARTITION BY journal_issn, pub_year ORDER BY days) AS rn,
           COUNT(*) OVER (PARTITION BY journal_issn, pub_year) AS n
    FROM lags
),
titles AS (
    SELECT p.journal_issn, COALESCE(MAX(j.title), MAX(p.journal_title)) AS journal_title
    FROM publications p
    LEFT JOIN journals j ON j.issn = p.journal_issn
    WHERE p.journal_issn IS NOT NULL
    GROUP BY p.journal_issn
)
SELECT r.journal_issn AS journal_issn,
       MAX(t.journal_title) AS journal_title,
       r.pub_year AS year,
       COUNT(*) AS publications,
       CAST(AVG(r.days) AS DOUBLE PRECISION) AS mean_days,
       CAST(AVG(CASE WHEN r.rn IN ((r.n + 1) / 2, (r.n + 2) / 2) THEN r.days END)
            AS DOUBLE PRECISION) AS median_days,
       MIN(r.days) AS min_days,
       MAX(r.days) AS max_days
FROM ranked r
LEFT JOIN titles t ON t.journal_issn = r.journal_issn
GROUP BY r.journal_issn, r.pub_year"""

_EMERGING_0001 = f"""WITH {_LABELS_0001}
SELECT b.topic AS topic,
       l.label_en AS label_en,
       l.label_zh AS label_zh,
       b.year AS year,
       b.publications AS publications,
       b.ai_publications AS ai_publications,
       b.share AS share,
       b.burst_start AS burst_start,
       b.burst_end AS burst_end,
       b.burst_strength AS burst_strength,
       b.method AS method,
       b.computed_at AS computed_at
FROM topic_bursts b
LEFT JOIN labels l ON l.topic = b.topic
WHERE b.in_burst"""

_LABEL_COLUMNS = {
    "topic": "Topic slug (topics.topic)",
    "label_en": "English topic label (taxonomy version in use)",
    "label_zh": "Chinese topic label (taxonomy version in use)",
}

VIEWS_0001: tuple[ViewDefinition, ...] = (
    ViewDefinition(
        name="topic_trends",
        description=(
            "AI-in-education publications per topic and publication year, under each "
            "publication's current taxonomy version (publications.taxonomy_version), with the "
            "topic's share of that year's AI-in-education publications. Topics are "
            "multi-label, so shares of one year can add up to more than 1. Topic-years "
            "without publications have no row."
        ),
        columns={
            **_LABEL_COLUMNS,
            "year": "Publication year (publications.pub_year)",
            "publications": "AI-in-education publications labelled with the topic that year",
            "ai_publications": "All AI-in-education publications that year",
            "share": "publications / ai_publications (0..1)",
        },
        sql={"default": _TOPIC_TRENDS_0001},
    ),
    ViewDefinition(
        name="topic_trends_monthly",
        description=(
            "Like topic_trends per year and month, for publications whose month is known "
            "(date precision month or day); the share is of that month's AI-in-education "
            "publications with a known month."
        ),
        columns={
            **_LABEL_COLUMNS,
            "year": "Publication year",
            "month": "Publication month 1..12 (publications.pub_month)",
            "publications": "AI-in-education publications labelled with the topic that month",
            "ai_publications": "AI-in-education publications with a known month that month",
            "share": "publications / ai_publications (0..1)",
        },
        sql={"default": _TOPIC_TRENDS_MONTHLY_0001},
    ),
    ViewDefinition(
        name="yearly_trends",
        description=(
            "All publications and AI-in-education publications per publication year, with "
            "the Chinese-language (language = 'zh') and other AI-in-education counts side by "
            "side. Unclassified publications count as not AI-in-education."
        ),
        columns={
            "year": "Publication year",
            "publications": "Publications in the warehouse that year",
            "ai_publications": "Publications classified as AI-in-education that year",
            "ai_share": "ai_publications / publications (0..1)",
            "ai_publications_zh": "AI-in-education publications in Chinese (language = 'zh')",
            "ai_publications_other": "AI-in-education publications in other or unknown languages",
        },
        sql={"default": _YEARLY_TRENDS_0001},
    ),
    ViewDefinition(
        name="journal_trends",
        description=(
            "Publications per journal and year, how many of them are AI-in-education, and "
            "the AI share. Publications without a journal ISSN (e.g. preprints) are left out; "
            "unclassified publications count as not AI-in-education."
        ),
        columns={
            "journal_issn": "Journal ISSN (journals.issn)",
            "journal_title": "Journal title (journals.title, else as the source gave it)",
            "journal_title_zh": "Chinese journal title, when known",
            "year": "Publication year",
            "publications": "Publications of the journal that year",
            "ai_publications": "Of which classified as AI-in-education",
            "ai_share": "ai_publications / publications (0..1)",
        },
        sql={"default": _JOURNAL_TRENDS_0001},
    ),
    ViewDefinition(
        name="publication_lag",
        description=(
            "Days from manuscript received to publication per journal and year, over "
            "publications that have both dates (and a publication date not before the "
            "received date). published_date is padded to the 1st when only the month is "
            "known, so month-precision lags run up to 30 days short."
        ),
        columns={
            "journal_issn": "Journal ISSN",
            "journal_title": "Journal title",
            "year": "Publication year",
            "publications": "Publications with both dates",
            "mean_days": "Mean days received -> published",
            "median_days": "Median days received -> published",
            "min_days": "Shortest lag in days",
            "max_days": "Longest lag in days",
        },
        sql={
            "default": _LAG_0001.format(days="(p.published_date - p.received_date)"),
            "sqlite": _LAG_0001.format(
                days="CAST(julianday(p.published_date) - julianday(p.received_date) AS INTEGER)"
            ),
        },
    ),
    ViewDefinition(
        name="emerging_topics",
        description=(
            "Topic-years in a burst: the years where Kleinberg's two-state burst model "
            "(the burst detection CiteSpace uses) puts a topic's share of AI-in-education "
            "publications in the elevated state, with the burst's span and strength. Read "
            "from the stored table topic_bursts; refresh with "
            "warehouse.views.refresh_emerging_topics (or refresh_derived_tables)."
        ),
        columns={
            **_LABEL_COLUMNS,
            "year": "Publication year inside the burst",
            "publications": "AI-in-education publications with the topic that year",
            "ai_publications": "All AI-in-education publications that year",
            "share": "publications / ai_publications",
            "burst_start": "First year of the burst",
            "burst_end": "Last year of the burst",
            "burst_strength": "Burst weight (cost the burst state saves; higher is stronger)",
            "method": "Method and parameters, e.g. kleinberg-2state(s=2,gamma=1)",
            "computed_at": "When topic_bursts was refreshed (UTC)",
        },
        sql={"default": _EMERGING_0001},
    ),
)

#: The views the newest migration creates.
CURRENT_VIEWS: tuple[ViewDefinition, ...] = VIEWS_0001
VIEW_NAMES: tuple[str, ...] = tuple(v.name for v in CURRENT_VIEWS)


def create_view_statements(views: tuple[ViewDefinition, ...], dialect: str) -> list[str]:
    """Return the DDL creating ``views`` (and, on PostgreSQL, their comments).

    Args:
        views: View definitions, in dependency order.
        dialect: ``sqlite`` or ``postgresql``.
    """
    statements: list[str] = []
    for view in views:
        statements.append(f"CREATE VIEW {view.name} AS\n{view.sql_for(dialect)}")
        if dialect == "postgresql":
            statements.append(f"COMMENT ON VIEW {view.name} IS {_literal(view.description)}")
            statements.extend(
                f"COMMENT ON COLUMN {view.name}.{col} IS {_literal(desc)}"
                for col, desc in view.columns.items()
            )
    return statements


def drop_view_statements(views: tuple[ViewDefinition, ...]) -> list[str]:
    """Return the DDL dropping ``views`` (in reverse order)."""
    return [f"DROP VIEW IF EXISTS {view.name}" for view in reversed(views)]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# --- refreshing the stored derived tables ------------------------------------------------


@contextlib.contextmanager
def _transaction(bind: Engine | Connection) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            yield conn
    else:
        yield bind


_TOPIC_TRENDS_FOR_BURSTS = (
    "SELECT topic, year, publications, ai_publications FROM topic_trends ORDER BY topic, year"
)

_YEAR_TOTALS = """SELECT p.pub_year AS year, COUNT(*) AS ai_publications
FROM publications p
WHERE p.is_ai_education AND p.pub_year IS NOT NULL
GROUP BY p.pub_year
ORDER BY p.pub_year"""


def refresh_emerging_topics(
    bind: Engine | Connection, *, s: float = DEFAULT_S, gamma: float = DEFAULT_GAMMA
) -> int:
    """Recompute ``topic_bursts`` (behind the ``emerging_topics`` view) from ``topic_trends``.

    The table is emptied and refilled; the same data gives the same rows (only
    ``computed_at`` differs).

    Args:
        bind: Engine (a transaction is opened) or Connection (the caller's transaction).
        s: Ratio of the burst state's rate to the baseline rate.
        gamma: Cost of entering a burst (higher means fewer, stronger bursts).

    Returns:
        The number of rows stored.
    """
    with _transaction(bind) as conn:
        trends = pl.DataFrame(
            [dict(r) for r in conn.execute(text(_TOPIC_TRENDS_FOR_BURSTS)).mappings()],
            schema={"topic": pl.String, "year": pl.Int64, "publications": pl.Int64,
                    "ai_publications": pl.Int64},
            orient="row",
        )
        totals = pl.DataFrame(
            [dict(r) for r in conn.execute(text(_YEAR_TOTALS)).mappings()],
            schema={"year": pl.Int64, "ai_publications": pl.Int64},
            orient="row",
        )
        bursts = detect_topic_bursts(trends, totals, s=s, gamma=gamma)
        conn.execute(delete(topic_bursts))
        if bursts.height:
            now = datetime.now(UTC)
            rows = [{**row, "computed_at": now} for row in bursts.to_dicts()]
            conn.execute(insert(topic_bursts), rows)
        return bursts.height


_COOCCURRENCE = """WITH ai_kw AS (
    SELECT pk.pub_id, pk.keyword_id
    FROM publication_keywords pk
    JOIN publications p ON p.pub_id = pk.pub_id
    WHERE p.is_ai_education
),
freq AS (
    SELECT keyword_id, COUNT(*) AS n FROM ai_kw GROUP BY keyword_id
),
top_kw AS (
    SELECT f.keyword_id, f.n, k.keyword
    FROM freq f JOIN keywords k ON k.keyword_id = f.keyword_id
    ORDER BY f.n DESC, k.keyword, f.keyword_id
    LIMIT :top_n
),
pairs AS (
    SELECT a.keyword_id AS ka, b.keyword_id AS kb, COUNT(*) AS both_n
    FROM ai_kw a
    JOIN ai_kw b ON b.pub_id = a.pub_id AND a.keyword_id < b.keyword_id
    WHERE a.keyword_id IN (SELECT keyword_id FROM top_kw)
      AND b.keyword_id IN (SELECT keyword_id FROM top_kw)
    GROUP BY a.keyword_id, b.keyword_id
)
SELECT pairs.ka AS keyword_id_a, pairs.kb AS keyword_id_b,
       ta.keyword AS keyword_a, tb.keyword AS keyword_b,
       pairs.both_n AS publications, ta.n AS publications_a, tb.n AS publications_b
FROM pairs
JOIN top_kw ta ON ta.keyword_id = pairs.ka
JOIN top_kw tb ON tb.keyword_id = pairs.kb
ORDER BY pairs.both_n DESC, pairs.ka, pairs.kb"""


def refresh_keyword_cooccurrence(
    bind: Engine | Connection, *, top_n: int = DEFAULT_TOP_KEYWORDS
) -> int:
    """Recompute ``keyword_cooccurrence`` for the ``top_n`` most frequent keywords.

    Keywords are ranked by how many AI-in-education publications carry them (ties by
    keyword text); every pair of them that shares at least one such publication gets a row.

    Args:
        bind: Engine (a transaction is opened) or Connection (the caller's transaction).
        top_n: How many keywords take part.

    Returns:
        The number of pairs stored.
    """
    with _transaction(bind) as conn:
        rows = [dict(r) for r in conn.execute(text(_COOCCURRENCE), {"top_n": top_n}).mappings()]
        conn.execute(delete(keyword_cooccurrence))
        if rows:
            now = datetime.now(UTC)
            for row in rows:
                union = row["publications_a"] + row["publications_b"] - row["publications"]
                row["jaccard"] = row["publications"] / union
                row["computed_at"] = now
            conn.execute(insert(keyword_cooccurrence), rows)
        return len(rows)


@dataclass(frozen=True)
class RefreshCounts:
    """Rows stored by :func:`refresh_derived_tables`."""

    topic_bursts: int
    keyword_cooccurrence: int


def refresh_derived_tables(
    bind: Engine | Connection, *, top_keywords: int = DEFAULT_TOP_KEYWORDS
) -> RefreshCounts:
    """Recompute every stored derived table in one transaction.

    Args:
        bind: Engine (one transaction is opened for all) or Connection (the caller's).
        top_keywords: How many keywords enter ``keyword_cooccurrence``.

    Returns:
        The row counts stored per table.
    """
    with _transaction(bind) as conn:
        return RefreshCounts(
            topic_bursts=refresh_emerging_topics(conn),
            keyword_cooccurrence=refresh_keyword_cooccurrence(conn, top_n=top_keywords),
        )
