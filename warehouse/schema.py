"""The warehouse schema: the single definition Alembic and the code both use.

Every table and column carries a comment; PostgreSQL stores them (``COMMENT ON``), and
``aied db docs`` renders them into ``docs/data-dictionary.md``.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

TS = DateTime(timezone=True)

journals = Table(
    "journals",
    metadata,
    Column("issn", String(9), primary_key=True, comment="ISSN-L or print ISSN, NNNN-NNNX"),
    Column("title", Text, comment="Journal title (English or original)"),
    Column("title_zh", Text, comment="Chinese journal title, when the journal has one"),
    Column("publisher", Text, comment="Publisher name"),
    Column("platform", String(32), comment="Hosting platform, e.g. magtech, crossref"),
    Column("site_url", Text, comment="Journal home page"),
    Column("updated_at", TS, comment="When this row last changed (UTC)"),
    comment="Journals the pipeline tracks or has seen publications from",
)

publications = Table(
    "publications",
    metadata,
    Column("pub_id", String(40), primary_key=True,
           comment="Stable publication key assigned at first sight (pub_ + 16 hex)"),
    Column("doi", String(255), unique=True, comment="DOI, lower-case, no resolver prefix"),
    Column("pmid", String(16), index=True, comment="PubMed id"),
    Column("openalex_id", String(32), index=True, comment="OpenAlex work id (W...)"),
    Column("arxiv_id", String(64), comment="arXiv id without version, for preprints"),
    Column("title", Text, comment="English (or original-language non-Chinese) title"),
    Column("title_zh", Text, comment="Chinese title"),
    Column("abstract", Text, comment="English abstract, markup stripped"),
    Column("abstract_zh", Text, comment="Chinese abstract"),
    Column("language", String(16), comment="Main language, ISO 639-1 (en, zh, ...)"),
    Column("journal_issn", String(9), ForeignKey("journals.issn"), index=True,
           comment="Journal ISSN (journals.issn)"),
    Column("journal_title", Text, comment="Journal title as the source gave it"),
    Column("volume", String(32), comment="Volume"),
    Column("issue", String(32), comment="Issue"),
    Column("pages", String(64), comment="Page range, e.g. 1-7"),
    Column("section", Text, comment="The journal's column heading (栏目)"),
    Column("published_date", Date,
           comment="Publication date; padded to the 1st when less precise"),
    Column("date_precision", String(5), comment="Precision of published_date: day/month/year"),
    Column("pub_year", Integer, index=True, comment="Publication year"),
    Column("pub_month", Integer, comment="Publication month when known (month/day precision)"),
    Column("received_date", Date, comment="Date the manuscript was received"),
    Column("online_date", Date, comment="Date first online"),
    Column("url", Text, comment="Landing page of the record (never a full-text PDF)"),
    Column("is_ai_education", Boolean, index=True,
           comment="Classifier: about AI applied to education (current taxonomy)"),
    Column("ai_score", Float, comment="Classifier relevance score 0..1"),
    Column("taxonomy_version", String(16), comment="Taxonomy version of the classification"),
    Column("sources", Text, comment="Comma-separated sources that contributed the record"),
    Column("field_sources", Text,
           comment="JSON object: field name -> source that gave the field's value"),
    Column("content_hash", String(64), comment="sha256 of the merged visible fields"),
    Column("first_seen_at", TS, comment="When the pipeline first loaded it (UTC)"),
    Column("updated_at", TS, comment="When the row last changed (UTC)"),
    Column("title_key", Text,
           comment="Matching key of the title (Chinese title first): NFKC, lower-case, "
                   "letters and digits only"),
    Column("journal_key", Text,
           comment="Matching key of the journal: the ISSN, else the journal title's key"),
    Index("ix_publications_match_keys", "journal_key", "pub_year", "title_key", "doi",
          "pub_id"),
    comment="One row per publication after cross-source deduplication and merge",
)

authors = Table(
    "authors",
    metadata,
    Column("author_id", String(40), primary_key=True,
           comment="Stable key: hash of ORCID, else of the normalised name"),
    Column("name", Text, comment="Name in Latin script"),
    Column("name_zh", Text, comment="Name in Chinese"),
    Column("orcid", String(19), index=True, comment="ORCID iD, 0000-0000-0000-0000"),
    comment="Authors, deduplicated by ORCID or normalised name",
)

publication_authors = Table(
    "publication_authors",
    metadata,
    Column("pub_id", String(40), ForeignKey("publications.pub_id", ondelete="CASCADE"),
           nullable=False, comment="publications.pub_id"),
    Column("position", Integer, nullable=False, comment="1-based author order"),
    Column("author_id", String(40), ForeignKey("authors.author_id"), nullable=False,
           index=True, comment="authors.author_id"),
    Column("affiliation", Text, comment="Affiliation on this publication"),
    PrimaryKeyConstraint("pub_id", "position"),
    comment="Authorship: who wrote which publication, in order, with affiliation",
)

keywords = Table(
    "keywords",
    metadata,
    Column("keyword_id", String(40), primary_key=True, comment="Hash of the normalised keyword"),
    Column("keyword", Text, nullable=False, comment="Keyword, NFKC, lower-case for Latin"),
    Column("language", String(8), comment="zh when it contains Chinese, else en"),
    comment="Author keywords, normalised",
)

publication_keywords = Table(
    "publication_keywords",
    metadata,
    Column("pub_id", String(40), ForeignKey("publications.pub_id", ondelete="CASCADE"),
           nullable=False, comment="publications.pub_id"),
    Column("keyword_id", String(40), ForeignKey("keywords.keyword_id"), nullable=False,
           index=True, comment="keywords.keyword_id"),
    PrimaryKeyConstraint("pub_id", "keyword_id"),
    comment="Which keywords a publication carries",
)

topics = Table(
    "topics",
    metadata,
    Column("topic", String(40), nullable=False, comment="Topic slug, e.g. genai-llm"),
    Column("taxonomy_version", String(16), nullable=False, comment="Taxonomy version"),
    Column("label_en", Text, comment="English label"),
    Column("label_zh", Text, comment="Chinese label"),
    Column("description", Text, comment="What the topic covers"),
    PrimaryKeyConstraint("topic", "taxonomy_version"),
    comment="The topic taxonomy, one row per topic and taxonomy version",
)

publication_topics = Table(
    "publication_topics",
    metadata,
    Column("pub_id", String(40), ForeignKey("publications.pub_id", ondelete="CASCADE"),
           nullable=False, comment="publications.pub_id"),
    Column("topic", String(40), nullable=False, comment="Topic slug"),
    Column("taxonomy_version", String(16), nullable=False, comment="Taxonomy version"),
    Column("score", Float, comment="Topic score"),
    Column("evidence", Text, comment="JSON list of {term, field, weight} that fired"),
    PrimaryKeyConstraint("pub_id", "topic", "taxonomy_version"),
    Index("ix_publication_topics_version_topic", "taxonomy_version", "topic"),
    comment="Topic labels per publication; earlier taxonomy versions are kept",
)

publication_classifications = Table(
    "publication_classifications",
    metadata,
    Column("pub_id", String(40), ForeignKey("publications.pub_id", ondelete="CASCADE"),
           nullable=False, comment="publications.pub_id"),
    Column("taxonomy_version", String(16), nullable=False, comment="Taxonomy version"),
    Column("is_ai_education", Boolean, comment="Relevance under that version"),
    Column("ai_score", Float, comment="Relevance score 0..1"),
    Column("evidence", Text, comment="JSON list of {term, field, weight} for relevance"),
    Column("classified_at", TS, comment="When it was classified (UTC)"),
    PrimaryKeyConstraint("pub_id", "taxonomy_version"),
    comment="Relevance decision per publication and taxonomy version (for comparisons)",
)

etl_runs = Table(
    "etl_runs",
    metadata,
    Column("run_id", String(64), primary_key=True, comment="Run id (one per processed batch)"),
    Column("flow_run_id", String(64), comment="Prefect flow run id"),
    Column("source", String(32), index=True, comment="Source name"),
    Column("batch_id", String(64), index=True, comment="Landing batch id"),
    Column("started_at", TS, comment="Start (UTC)"),
    Column("finished_at", TS, comment="End (UTC)"),
    Column("status", String(16), comment="running / succeeded / failed"),
    Column("fetched", Integer, comment="Records (and bodies) read from the batch"),
    Column("loaded", Integer, comment="Records loaded as their own publication"),
    Column("quarantined", Integer, comment="Records sent to quarantine"),
    Column("duplicates", Integer, comment="Records merged into another record"),
    Column("unchanged", Integer, comment="Loaded records identical to what was stored"),
    Column("watermark", Text, comment="Watermark the run advanced to"),
    Column("message", Text, comment="Failure or note"),
    comment="One row per processing run; fetched = loaded + duplicates + quarantined",
)

source_state = Table(
    "source_state",
    metadata,
    Column("source", String(32), nullable=False, comment="Source name"),
    Column("scope", String(255), nullable=False, comment="Journal ISSN, query or endpoint"),
    Column("watermark", Text, comment="Last complete position (a date or a value)"),
    Column("updated_at", TS, comment="When the watermark moved (UTC)"),
    Column("state", Text, comment="JSON: provider-specific state (e.g. seen issues)"),
    PrimaryKeyConstraint("source", "scope"),
    comment="Incremental watermarks per source and scope",
)

source_records = Table(
    "source_records",
    metadata,
    Column("source", String(32), nullable=False, comment="Source name"),
    Column("source_id", String(255), nullable=False, comment="Id of the record at the source"),
    Column("pub_id", String(40), ForeignKey("publications.pub_id", ondelete="CASCADE"),
           nullable=False, index=True, comment="publications.pub_id it feeds"),
    Column("raw_ref", Text, comment="Landing file and position the record came from"),
    Column("batch_id", String(64), comment="Landing batch id"),
    Column("run_id", String(64), comment="etl_runs.run_id that loaded it last"),
    Column("content_hash", String(64), comment="sha256 of the record's fields"),
    Column("match_rule", String(16), comment="How it was matched: new/doi/pmid/title/self"),
    Column("match_score", Float, comment="Match score (1.0 for exact identifiers)"),
    Column("record", Text, comment="JSON of the canonical record (for re-merging)"),
    Column("first_seen_at", TS, comment="First load (UTC)"),
    Column("updated_at", TS, comment="Last change (UTC)"),
    PrimaryKeyConstraint("source", "source_id"),
    comment="Lineage: every source record and the publication it was merged into",
)

publication_matches = Table(
    "publication_matches",
    metadata,
    Column("pub_id", String(40), ForeignKey("publications.pub_id", ondelete="CASCADE"),
           nullable=False, comment="publications.pub_id both records belong to"),
    Column("source", String(32), nullable=False, comment="Source of the arriving record"),
    Column("source_id", String(255), nullable=False, comment="Id of the arriving record"),
    Column("matched_source", String(32), nullable=False, comment="Source of the record matched"),
    Column("matched_source_id", String(255), nullable=False, comment="Its id"),
    Column("rule", String(16), nullable=False, comment="doi / pmid / title"),
    Column("score", Float, comment="1.0 for identifiers; fuzzy title ratio 0..1"),
    Column("matched_at", TS, comment="When (UTC)"),
    PrimaryKeyConstraint("source", "source_id", "matched_source", "matched_source_id"),
    comment="Why two source records were merged into one publication",
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", String(64), primary_key=True,
           comment="Hash of stage, raw_ref, expectation: the same failure is stored once"),
    Column("run_id", String(64), index=True, comment="etl_runs.run_id"),
    Column("batch_id", String(64), comment="Landing batch id"),
    Column("source", String(32), comment="Source name"),
    Column("source_id", String(255), comment="Record id at the source, when known"),
    Column("stage", String(16), nullable=False, comment="fetch / parse / validate / load"),
    Column("reason", Text, nullable=False, comment="Human-readable reason"),
    Column("expectation", Text, comment="The great-expectations expectation that failed"),
    Column("raw_ref", Text, comment="Landing file and position of the raw input"),
    Column("payload", Text, comment="The record or a snippet of the body (JSON or text)"),
    Column("created_at", TS, comment="When (UTC)"),
    comment="Inputs that did not load, with why; nothing is dropped silently",
)

# --- Derived tables (refreshed by warehouse.views.refresh_derived_tables) -----------------

topic_bursts = Table(
    "topic_bursts",
    metadata,
    Column("topic", String(40), nullable=False, comment="Topic slug (topic_trends.topic)"),
    Column("year", Integer, nullable=False, comment="Publication year"),
    Column("publications", Integer, nullable=False,
           comment="AI-in-education publications with this topic in this year (r_t)"),
    Column("ai_publications", Integer, nullable=False,
           comment="All AI-in-education publications in this year (d_t)"),
    Column("share", Float, comment="publications / ai_publications; null when the year has none"),
    Column("in_burst", Boolean, nullable=False,
           comment="True when the burst model puts this year in the elevated state"),
    Column("burst_start", Integer, comment="First year of the burst containing this year"),
    Column("burst_end", Integer, comment="Last year of the burst containing this year"),
    Column("burst_strength", Float,
           comment="Kleinberg weight of that burst: cost saved by the burst state (higher is "
                   "stronger); null outside bursts"),
    Column("method", String(80), nullable=False,
           comment="Method and parameters, e.g. kleinberg-2state(s=2,gamma=1)"),
    Column("computed_at", TS, comment="When the row was computed (UTC)"),
    PrimaryKeyConstraint("topic", "year"),
    comment="Burst detection per topic and year over topic_trends (feeds the emerging_topics "
            "view); recomputed from scratch by refresh_emerging_topics",
)

keyword_cooccurrence = Table(
    "keyword_cooccurrence",
    metadata,
    Column("keyword_id_a", String(40), nullable=False,
           comment="keywords.keyword_id of the first keyword (the smaller id)"),
    Column("keyword_id_b", String(40), nullable=False,
           comment="keywords.keyword_id of the second keyword (the larger id)"),
    Column("keyword_a", Text, comment="Text of the first keyword"),
    Column("keyword_b", Text, comment="Text of the second keyword"),
    Column("publications", Integer, nullable=False,
           comment="AI-in-education publications carrying both keywords"),
    Column("publications_a", Integer, nullable=False,
           comment="AI-in-education publications carrying the first keyword"),
    Column("publications_b", Integer, nullable=False,
           comment="AI-in-education publications carrying the second keyword"),
    Column("jaccard", Float, nullable=False,
           comment="publications / (publications_a + publications_b - publications)"),
    Column("computed_at", TS, comment="When the row was computed (UTC)"),
    PrimaryKeyConstraint("keyword_id_a", "keyword_id_b"),
    comment="Co-occurrence of the most frequent keywords of AI-in-education publications; "
            "recomputed from scratch by refresh_keyword_cooccurrence",
)

#: Stored derived tables, recomputed from the base tables; analysts may read them.
DERIVED_TABLES: tuple[str, ...] = ("topic_bursts", "keyword_cooccurrence")

#: Tables an analyst role may read (quarantine payloads and lineage internals excluded).
ANALYST_TABLES: tuple[str, ...] = (
    "journals", "publications", "authors", "publication_authors", "keywords",
    "publication_keywords", "topics", "publication_topics", "publication_classifications",
    "etl_runs",
)
