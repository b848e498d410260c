"""Initial warehouse schema: every table of warehouse.schema with comments, and the views.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Tables and indexes were generated from ``warehouse.schema.metadata`` and are frozen here (a
later schema change is a new revision). The views come from ``warehouse.views.VIEWS_0001``,
a frozen versioned definition; PostgreSQL also gets ``COMMENT ON VIEW``/``COLUMN``.
"""

# ruff: noqa: E501  (generated column comments are kept on one line)
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from warehouse.views import VIEWS_0001, create_view_statements, drop_view_statements

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the tables, their indexes and comments, then the views."""
    op.create_table(
        "authors",
        sa.Column(
            "author_id",
            sa.String(length=40),
            nullable=False,
            comment="Stable key: hash of ORCID, else of the normalised name",
        ),
        sa.Column("name", sa.Text(), nullable=True, comment="Name in Latin script"),
        sa.Column("name_zh", sa.Text(), nullable=True, comment="Name in Chinese"),
        sa.Column(
            "orcid", sa.String(length=19), nullable=True, comment="ORCID iD, 0000-0000-0000-0000"
        ),
        sa.PrimaryKeyConstraint("author_id", name=op.f("pk_authors")),
        comment="Authors, deduplicated by ORCID or normalised name",
    )
    op.create_index(op.f("ix_authors_orcid"), "authors", ["orcid"], unique=False)

    op.create_table(
        "etl_runs",
        sa.Column(
            "run_id",
            sa.String(length=64),
            nullable=False,
            comment="Run id (one per processed batch)",
        ),
        sa.Column(
            "flow_run_id", sa.String(length=64), nullable=True, comment="Prefect flow run id"
        ),
        sa.Column("source", sa.String(length=32), nullable=True, comment="Source name"),
        sa.Column("batch_id", sa.String(length=64), nullable=True, comment="Landing batch id"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True, comment="Start (UTC)"),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True, comment="End (UTC)"),
        sa.Column(
            "status", sa.String(length=16), nullable=True, comment="running / succeeded / failed"
        ),
        sa.Column(
            "fetched",
            sa.Integer(),
            nullable=True,
            comment="Records (and bodies) read from the batch",
        ),
        sa.Column(
            "loaded", sa.Integer(), nullable=True, comment="Records loaded as their own publication"
        ),
        sa.Column("quarantined", sa.Integer(), nullable=True, comment="Records sent to quarantine"),
        sa.Column(
            "duplicates", sa.Integer(), nullable=True, comment="Records merged into another record"
        ),
        sa.Column(
            "unchanged",
            sa.Integer(),
            nullable=True,
            comment="Loaded records identical to what was stored",
        ),
        sa.Column("watermark", sa.Text(), nullable=True, comment="Watermark the run advanced to"),
        sa.Column("message", sa.Text(), nullable=True, comment="Failure or note"),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_etl_runs")),
        comment="One row per processing run; fetched = loaded + duplicates + quarantined",
    )
    op.create_index(op.f("ix_etl_runs_batch_id"), "etl_runs", ["batch_id"], unique=False)
    op.create_index(op.f("ix_etl_runs_source"), "etl_runs", ["source"], unique=False)

    op.create_table(
        "journals",
        sa.Column(
            "issn", sa.String(length=9), nullable=False, comment="ISSN-L or print ISSN, NNNN-NNNX"
        ),
        sa.Column("title", sa.Text(), nullable=True, comment="Journal title (English or original)"),
        sa.Column(
            "title_zh",
            sa.Text(),
            nullable=True,
            comment="Chinese journal title, when the journal has one",
        ),
        sa.Column("publisher", sa.Text(), nullable=True, comment="Publisher name"),
        sa.Column(
            "platform",
            sa.String(length=32),
            nullable=True,
            comment="Hosting platform, e.g. magtech, crossref",
        ),
        sa.Column("site_url", sa.Text(), nullable=True, comment="Journal home page"),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When this row last changed (UTC)",
        ),
        sa.PrimaryKeyConstraint("issn", name=op.f("pk_journals")),
        comment="Journals the pipeline tracks or has seen publications from",
    )
    op.create_table(
        "keyword_cooccurrence",
        sa.Column(
            "keyword_id_a",
            sa.String(length=40),
            nullable=False,
            comment="keywords.keyword_id of the first keyword (the smaller id)",
        ),
        sa.Column(
            "keyword_id_b",
            sa.String(length=40),
            nullable=False,
            comment="keywords.keyword_id of the second keyword (the larger id)",
        ),
        sa.Column("keyword_a", sa.Text(), nullable=True, comment="Text of the first keyword"),
        sa.Column("keyword_b", sa.Text(), nullable=True, comment="Text of the second keyword"),
        sa.Column(
            "publications",
            sa.Integer(),
            nullable=False,
            comment="AI-in-education publications carrying both keywords",
        ),
        sa.Column(
            "publications_a",
            sa.Integer(),
            nullable=False,
            comment="AI-in-education publications carrying the first keyword",
        ),
        sa.Column(
            "publications_b",
            sa.Integer(),
            nullable=False,
            comment="AI-in-education publications carrying the second keyword",
        ),
        sa.Column(
            "jaccard",
            sa.Float(),
            nullable=False,
            comment="publications / (publications_a + publications_b - publications)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the row was computed (UTC)",
        ),
        sa.PrimaryKeyConstraint(
            "keyword_id_a", "keyword_id_b", name=op.f("pk_keyword_cooccurrence")
        ),
        comment="Co-occurrence of the most frequent keywords of AI-in-education publications; recomputed from scratch by refresh_keyword_cooccurrence",
    )
    op.create_table(
        "keywords",
        sa.Column(
            "keyword_id",
            sa.String(length=40),
            nullable=False,
            comment="Hash of the normalised keyword",
        ),
        sa.Column(
            "keyword", sa.Text(), nullable=False, comment="Keyword, NFKC, lower-case for Latin"
        ),
        sa.Column(
            "language",
            sa.String(length=8),
            nullable=True,
            comment="zh when it contains Chinese, else en",
        ),
        sa.PrimaryKeyConstraint("keyword_id", name=op.f("pk_keywords")),
        comment="Author keywords, normalised",
    )
    op.create_table(
        "quarantine",
        sa.Column(
            "quarantine_id",
            sa.String(length=64),
            nullable=False,
            comment="Hash of stage, raw_ref, expectation: the same failure is stored once",
        ),
        sa.Column("run_id", sa.String(length=64), nullable=True, comment="etl_runs.run_id"),
        sa.Column("batch_id", sa.String(length=64), nullable=True, comment="Landing batch id"),
        sa.Column("source", sa.String(length=32), nullable=True, comment="Source name"),
        sa.Column(
            "source_id",
            sa.String(length=255),
            nullable=True,
            comment="Record id at the source, when known",
        ),
        sa.Column(
            "stage", sa.String(length=16), nullable=False, comment="fetch / parse / validate / load"
        ),
        sa.Column("reason", sa.Text(), nullable=False, comment="Human-readable reason"),
        sa.Column(
            "expectation",
            sa.Text(),
            nullable=True,
            comment="The great-expectations expectation that failed",
        ),
        sa.Column(
            "raw_ref",
            sa.Text(),
            nullable=True,
            comment="Landing file and position of the raw input",
        ),
        sa.Column(
            "payload",
            sa.Text(),
            nullable=True,
            comment="The record or a snippet of the body (JSON or text)",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True, comment="When (UTC)"),
        sa.PrimaryKeyConstraint("quarantine_id", name=op.f("pk_quarantine")),
        comment="Inputs that did not load, with why; nothing is dropped silently",
    )
    op.create_index(op.f("ix_quarantine_run_id"), "quarantine", ["run_id"], unique=False)

    op.create_table(
        "source_state",
        sa.Column("source", sa.String(length=32), nullable=False, comment="Source name"),
        sa.Column(
            "scope",
            sa.String(length=255),
            nullable=False,
            comment="Journal ISSN, query or endpoint",
        ),
        sa.Column(
            "watermark",
            sa.Text(),
            nullable=True,
            comment="Last complete position (a date or a value)",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the watermark moved (UTC)",
        ),
        sa.Column(
            "state",
            sa.Text(),
            nullable=True,
            comment="JSON: provider-specific state (e.g. seen issues)",
        ),
        sa.PrimaryKeyConstraint("source", "scope", name=op.f("pk_source_state")),
        comment="Incremental watermarks per source and scope",
    )
    op.create_table(
        "topic_bursts",
        sa.Column(
            "topic", sa.String(length=40), nullable=False, comment="Topic slug (topic_trends.topic)"
        ),
        sa.Column("year", sa.Integer(), nullable=False, comment="Publication year"),
        sa.Column(
            "publications",
            sa.Integer(),
            nullable=False,
            comment="AI-in-education publications with this topic in this year (r_t)",
        ),
        sa.Column(
            "ai_publications",
            sa.Integer(),
            nullable=False,
            comment="All AI-in-education publications in this year (d_t)",
        ),
        sa.Column(
            "share",
            sa.Float(),
            nullable=True,
            comment="publications / ai_publications; null when the year has none",
        ),
        sa.Column(
            "in_burst",
            sa.Boolean(),
            nullable=False,
            comment="True when the burst model puts this year in the elevated state",
        ),
        sa.Column(
            "burst_start",
            sa.Integer(),
            nullable=True,
            comment="First year of the burst containing this year",
        ),
        sa.Column(
            "burst_end",
            sa.Integer(),
            nullable=True,
            comment="Last year of the burst containing this year",
        ),
        sa.Column(
            "burst_strength",
            sa.Float(),
            nullable=True,
            comment="Kleinberg weight of that burst: cost saved by the burst state (higher is stronger); null outside bursts",
        ),
        sa.Column(
            "method",
            sa.String(length=80),
            nullable=False,
            comment="Method and parameters, e.g. kleinberg-2state(s=2,gamma=1)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the row was computed (UTC)",
        ),
        sa.PrimaryKeyConstraint("topic", "year", name=op.f("pk_topic_bursts")),
        comment="Burst detection per topic and year over topic_trends (feeds the emerging_topics view); recomputed from scratch by refresh_emerging_topics",
    )
    op.create_table(
        "topics",
        sa.Column(
            "topic", sa.String(length=40), nullable=False, comment="Topic slug, e.g. genai-llm"
        ),
        sa.Column(
            "taxonomy_version", sa.String(length=16), nullable=False, comment="Taxonomy version"
        ),
        sa.Column("label_en", sa.Text(), nullable=True, comment="English label"),
        sa.Column("label_zh", sa.Text(), nullable=True, comment="Chinese label"),
        sa.Column("description", sa.Text(), nullable=True, comment="What the topic covers"),
        sa.PrimaryKeyConstraint("topic", "taxonomy_version", name=op.f("pk_topics")),
        comment="The topic taxonomy, one row per topic and taxonomy version",
    )
    op.create_table(
        "publications",
        sa.Column(
            "pub_id",
            sa.String(length=40),
            nullable=False,
            comment="Stable publication key assigned at first sight (pub_ + 16 hex)",
        ),
        sa.Column(
            "doi",
            sa.String(length=255),
            nullable=True,
            comment="DOI, lower-case, no resolver prefix",
        ),
        sa.Column("pmid", sa.String(length=16), nullable=True, comment="PubMed id"),
        sa.Column(
            "openalex_id", sa.String(length=32), nullable=True, comment="OpenAlex work id (W...)"
        ),
        sa.Column(
            "arxiv_id",
            sa.String(length=64),
            nullable=True,
            comment="arXiv id without version, for preprints",
        ),
        sa.Column(
            "title",
            sa.Text(),
            nullable=True,
            comment="English (or original-language non-Chinese) title",
        ),
        sa.Column("title_zh", sa.Text(), nullable=True, comment="Chinese title"),
        sa.Column(
            "abstract", sa.Text(), nullable=True, comment="English abstract, markup stripped"
        ),
        sa.Column("abstract_zh", sa.Text(), nullable=True, comment="Chinese abstract"),
        sa.Column(
            "language",
            sa.String(length=16),
            nullable=True,
            comment="Main language, ISO 639-1 (en, zh, ...)",
        ),
        sa.Column(
            "journal_issn",
            sa.String(length=9),
            nullable=True,
            comment="Journal ISSN (journals.issn)",
        ),
        sa.Column(
            "journal_title", sa.Text(), nullable=True, comment="Journal title as the source gave it"
        ),
        sa.Column("volume", sa.String(length=32), nullable=True, comment="Volume"),
        sa.Column("issue", sa.String(length=32), nullable=True, comment="Issue"),
        sa.Column("pages", sa.String(length=64), nullable=True, comment="Page range, e.g. 1-7"),
        sa.Column(
            "section", sa.Text(), nullable=True, comment="The journal's column heading (栏目)"
        ),
        sa.Column(
            "published_date",
            sa.Date(),
            nullable=True,
            comment="Publication date; padded to the 1st when less precise",
        ),
        sa.Column(
            "date_precision",
            sa.String(length=5),
            nullable=True,
            comment="Precision of published_date: day/month/year",
        ),
        sa.Column("pub_year", sa.Integer(), nullable=True, comment="Publication year"),
        sa.Column(
            "pub_month",
            sa.Integer(),
            nullable=True,
            comment="Publication month when known (month/day precision)",
        ),
        sa.Column(
            "received_date", sa.Date(), nullable=True, comment="Date the manuscript was received"
        ),
        sa.Column("online_date", sa.Date(), nullable=True, comment="Date first online"),
        sa.Column(
            "url",
            sa.Text(),
            nullable=True,
            comment="Landing page of the record (never a full-text PDF)",
        ),
        sa.Column(
            "is_ai_education",
            sa.Boolean(),
            nullable=True,
            comment="Classifier: about AI applied to education (current taxonomy)",
        ),
        sa.Column("ai_score", sa.Float(), nullable=True, comment="Classifier relevance score 0..1"),
        sa.Column(
            "taxonomy_version",
            sa.String(length=16),
            nullable=True,
            comment="Taxonomy version of the classification",
        ),
        sa.Column(
            "sources",
            sa.Text(),
            nullable=True,
            comment="Comma-separated sources that contributed the record",
        ),
        sa.Column(
            "field_sources",
            sa.Text(),
            nullable=True,
            comment="JSON object: field name -> source that gave the field's value",
        ),
        sa.Column(
            "content_hash",
            sa.String(length=64),
            nullable=True,
            comment="sha256 of the merged visible fields",
        ),
        sa.Column(
            "first_seen_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the pipeline first loaded it (UTC)",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the row last changed (UTC)",
        ),
        sa.ForeignKeyConstraint(
            ["journal_issn"], ["journals.issn"], name=op.f("fk_publications_journal_issn_journals")
        ),
        sa.PrimaryKeyConstraint("pub_id", name=op.f("pk_publications")),
        sa.UniqueConstraint("doi", name=op.f("uq_publications_doi")),
        comment="One row per publication after cross-source deduplication and merge",
    )
    op.create_index(
        op.f("ix_publications_is_ai_education"), "publications", ["is_ai_education"], unique=False
    )
    op.create_index(
        op.f("ix_publications_journal_issn"), "publications", ["journal_issn"], unique=False
    )
    op.create_index(
        op.f("ix_publications_openalex_id"), "publications", ["openalex_id"], unique=False
    )
    op.create_index(op.f("ix_publications_pmid"), "publications", ["pmid"], unique=False)
    op.create_index(op.f("ix_publications_pub_year"), "publications", ["pub_year"], unique=False)

    op.create_table(
        "publication_authors",
        sa.Column("pub_id", sa.String(length=40), nullable=False, comment="publications.pub_id"),
        sa.Column("position", sa.Integer(), nullable=False, comment="1-based author order"),
        sa.Column("author_id", sa.String(length=40), nullable=False, comment="authors.author_id"),
        sa.Column(
            "affiliation", sa.Text(), nullable=True, comment="Affiliation on this publication"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["authors.author_id"],
            name=op.f("fk_publication_authors_author_id_authors"),
        ),
        sa.ForeignKeyConstraint(
            ["pub_id"],
            ["publications.pub_id"],
            name=op.f("fk_publication_authors_pub_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pub_id", "position", name=op.f("pk_publication_authors")),
        comment="Authorship: who wrote which publication, in order, with affiliation",
    )
    op.create_index(
        op.f("ix_publication_authors_author_id"), "publication_authors", ["author_id"], unique=False
    )

    op.create_table(
        "publication_classifications",
        sa.Column("pub_id", sa.String(length=40), nullable=False, comment="publications.pub_id"),
        sa.Column(
            "taxonomy_version", sa.String(length=16), nullable=False, comment="Taxonomy version"
        ),
        sa.Column(
            "is_ai_education", sa.Boolean(), nullable=True, comment="Relevance under that version"
        ),
        sa.Column("ai_score", sa.Float(), nullable=True, comment="Relevance score 0..1"),
        sa.Column(
            "evidence",
            sa.Text(),
            nullable=True,
            comment="JSON list of {term, field, weight} for relevance",
        ),
        sa.Column(
            "classified_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When it was classified (UTC)",
        ),
        sa.ForeignKeyConstraint(
            ["pub_id"],
            ["publications.pub_id"],
            name=op.f("fk_publication_classifications_pub_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "pub_id", "taxonomy_version", name=op.f("pk_publication_classifications")
        ),
        comment="Relevance decision per publication and taxonomy version (for comparisons)",
    )
    op.create_table(
        "publication_keywords",
        sa.Column("pub_id", sa.String(length=40), nullable=False, comment="publications.pub_id"),
        sa.Column(
            "keyword_id", sa.String(length=40), nullable=False, comment="keywords.keyword_id"
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"],
            ["keywords.keyword_id"],
            name=op.f("fk_publication_keywords_keyword_id_keywords"),
        ),
        sa.ForeignKeyConstraint(
            ["pub_id"],
            ["publications.pub_id"],
            name=op.f("fk_publication_keywords_pub_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("pub_id", "keyword_id", name=op.f("pk_publication_keywords")),
        comment="Which keywords a publication carries",
    )
    op.create_index(
        op.f("ix_publication_keywords_keyword_id"),
        "publication_keywords",
        ["keyword_id"],
        unique=False,
    )

    op.create_table(
        "publication_matches",
        sa.Column(
            "pub_id",
            sa.String(length=40),
            nullable=False,
            comment="publications.pub_id both records belong to",
        ),
        sa.Column(
            "source", sa.String(length=32), nullable=False, comment="Source of the arriving record"
        ),
        sa.Column(
            "source_id", sa.String(length=255), nullable=False, comment="Id of the arriving record"
        ),
        sa.Column(
            "matched_source",
            sa.String(length=32),
            nullable=False,
            comment="Source of the record matched",
        ),
        sa.Column("matched_source_id", sa.String(length=255), nullable=False, comment="Its id"),
        sa.Column("rule", sa.String(length=16), nullable=False, comment="doi / pmid / title"),
        sa.Column(
            "score",
            sa.Float(),
            nullable=True,
            comment="1.0 for identifiers; fuzzy title ratio 0..1",
        ),
        sa.Column("matched_at", sa.DateTime(timezone=True), nullable=True, comment="When (UTC)"),
        sa.ForeignKeyConstraint(
            ["pub_id"],
            ["publications.pub_id"],
            name=op.f("fk_publication_matches_pub_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "source",
            "source_id",
            "matched_source",
            "matched_source_id",
            name=op.f("pk_publication_matches"),
        ),
        comment="Why two source records were merged into one publication",
    )
    op.create_table(
        "publication_topics",
        sa.Column("pub_id", sa.String(length=40), nullable=False, comment="publications.pub_id"),
        sa.Column("topic", sa.String(length=40), nullable=False, comment="Topic slug"),
        sa.Column(
            "taxonomy_version", sa.String(length=16), nullable=False, comment="Taxonomy version"
        ),
        sa.Column("score", sa.Float(), nullable=True, comment="Topic score"),
        sa.Column(
            "evidence",
            sa.Text(),
            nullable=True,
            comment="JSON list of {term, field, weight} that fired",
        ),
        sa.ForeignKeyConstraint(
            ["pub_id"],
            ["publications.pub_id"],
            name=op.f("fk_publication_topics_pub_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "pub_id", "topic", "taxonomy_version", name=op.f("pk_publication_topics")
        ),
        comment="Topic labels per publication; earlier taxonomy versions are kept",
    )
    op.create_index(
        "ix_publication_topics_version_topic",
        "publication_topics",
        ["taxonomy_version", "topic"],
        unique=False,
    )

    op.create_table(
        "source_records",
        sa.Column("source", sa.String(length=32), nullable=False, comment="Source name"),
        sa.Column(
            "source_id",
            sa.String(length=255),
            nullable=False,
            comment="Id of the record at the source",
        ),
        sa.Column(
            "pub_id", sa.String(length=40), nullable=False, comment="publications.pub_id it feeds"
        ),
        sa.Column(
            "raw_ref",
            sa.Text(),
            nullable=True,
            comment="Landing file and position the record came from",
        ),
        sa.Column("batch_id", sa.String(length=64), nullable=True, comment="Landing batch id"),
        sa.Column(
            "run_id",
            sa.String(length=64),
            nullable=True,
            comment="etl_runs.run_id that loaded it last",
        ),
        sa.Column(
            "content_hash",
            sa.String(length=64),
            nullable=True,
            comment="sha256 of the record's fields",
        ),
        sa.Column(
            "match_rule",
            sa.String(length=16),
            nullable=True,
            comment="How it was matched: new/doi/pmid/title/self",
        ),
        sa.Column(
            "match_score",
            sa.Float(),
            nullable=True,
            comment="Match score (1.0 for exact identifiers)",
        ),
        sa.Column(
            "record",
            sa.Text(),
            nullable=True,
            comment="JSON of the canonical record (for re-merging)",
        ),
        sa.Column(
            "first_seen_at", sa.DateTime(timezone=True), nullable=True, comment="First load (UTC)"
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=True, comment="Last change (UTC)"
        ),
        sa.ForeignKeyConstraint(
            ["pub_id"],
            ["publications.pub_id"],
            name=op.f("fk_source_records_pub_id_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source", "source_id", name=op.f("pk_source_records")),
        comment="Lineage: every source record and the publication it was merged into",
    )
    op.create_index(op.f("ix_source_records_pub_id"), "source_records", ["pub_id"], unique=False)

    for statement in create_view_statements(VIEWS_0001, op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    """Drop the views, then the tables."""
    for statement in drop_view_statements(VIEWS_0001):
        op.execute(statement)
    op.drop_index(op.f("ix_source_records_pub_id"), table_name="source_records")

    op.drop_table("source_records")
    op.drop_index("ix_publication_topics_version_topic", table_name="publication_topics")

    op.drop_table("publication_topics")
    op.drop_table("publication_matches")
    op.drop_index(op.f("ix_publication_keywords_keyword_id"), table_name="publication_keywords")

    op.drop_table("publication_keywords")
    op.drop_table("publication_classifications")
    op.drop_index(op.f("ix_publication_authors_author_id"), table_name="publication_authors")

    op.drop_table("publication_authors")
    op.drop_index(op.f("ix_publications_pub_year"), table_name="publications")
    op.drop_index(op.f("ix_publications_pmid"), table_name="publications")
    op.drop_index(op.f("ix_publications_openalex_id"), table_name="publications")
    op.drop_index(op.f("ix_publications_journal_issn"), table_name="publications")
    op.drop_index(op.f("ix_publications_is_ai_education"), table_name="publications")

    op.drop_table("publications")
    op.drop_table("topics")
    op.drop_table("topic_bursts")
    op.drop_table("source_state")
    op.drop_index(op.f("ix_quarantine_run_id"), table_name="quarantine")

    op.drop_table("quarantine")
    op.drop_table("keywords")
    op.drop_table("keyword_cooccurrence")
    op.drop_table("journals")
    op.drop_index(op.f("ix_etl_runs_source"), table_name="etl_runs")
    op.drop_index(op.f("ix_etl_runs_batch_id"), table_name="etl_runs")

    op.drop_table("etl_runs")
    op.drop_index(op.f("ix_authors_orcid"), table_name="authors")

    op.drop_table("authors")
