"""What a load writes, table by table, as frames built from the batch's frames (no I/O).

Each function takes the merged publications (or the batch's source records) and returns the
rows of one or two warehouse tables with their columns named as in :mod:`warehouse.schema`;
:mod:`warehouse.load` writes them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

import polars as pl

from transforms.canonical import CANONICAL_COLUMNS, CANONICAL_SCHEMA, ndjson_lines
from transforms.dedupe import publication_key_exprs

#: Match rules meaning "merged into a publication another record already gave".
MERGE_RULES = ("doi", "pmid", "title")

PUBLICATION_FIELDS = (
    "doi", "pmid", "openalex_id", "title", "title_zh", "abstract", "abstract_zh", "language",
    "journal_issn", "journal_title", "volume", "issue", "pages", "section", "published_date",
    "date_precision", "received_date", "online_date", "url",
)


def records_json(frame: pl.DataFrame) -> list[str]:
    """Each canonical record as the JSON line ``source_records.record`` keeps."""
    if frame.height == 0:
        return []
    return ndjson_lines(frame.select(CANONICAL_COLUMNS))


def records_from_json(lines: Sequence[str]) -> pl.DataFrame:
    """Canonical records back from their stored JSON lines."""
    if not lines:
        return pl.DataFrame(schema=CANONICAL_SCHEMA)
    return pl.read_ndjson("\n".join(lines).encode("utf-8"), schema=CANONICAL_SCHEMA)


def journal_rows(pubs: pl.DataFrame) -> pl.DataFrame:
    """One row per ISSN the publications name: ``issn``, ``title``, ``title_zh``."""
    return (
        pubs.filter(pl.col("journal_issn").is_not_null())
        .group_by("journal_issn", maintain_order=True)
        .agg(pl.col("journal_title").drop_nulls().first(),
             pl.col("journal_title_zh").drop_nulls().first())
        .rename({"journal_issn": "issn", "journal_title": "title",
                 "journal_title_zh": "title_zh"})
    )


def arxiv_ids(records: pl.DataFrame) -> pl.DataFrame:
    """``pub_id``, ``arxiv_id``: the arXiv id of each publication an arXiv record feeds.

    The arXiv source id is already versionless (:func:`transforms.arxiv.split_arxiv_id`); a
    publication fed by two arXiv records (a rare duplicate) takes the smaller id.
    """
    return (records.filter(pl.col("source") == "arxiv")
            .group_by("pub_id").agg(pl.col("source_id").min().alias("arxiv_id")))


def publication_rows(pubs: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """``publications`` rows: fields, year and month, labels, sources, hash and match keys.

    ``pubs`` carries ``arxiv_id`` (joined from :func:`arxiv_ids`; null for the rest).
    """
    cols = ["pub_id", *PUBLICATION_FIELDS, "arxiv_id", "pub_year", "pub_month",
            "is_ai_education", "ai_score", "taxonomy_version", "sources", "field_sources"]
    frame = pubs.with_columns(
        pl.col("published_date").dt.year().alias("pub_year"),
        pl.when(pl.col("date_precision").is_in(["day", "month"]))
        .then(pl.col("published_date").dt.month()).alias("pub_month"),
    ).select(cols)
    sha256 = hashlib.sha256
    hashes = [sha256(line.encode("utf-8")).hexdigest() for line in ndjson_lines(frame)]
    return frame.with_columns(
        pl.Series("content_hash", hashes, dtype=pl.String),
        pl.lit(now).alias("first_seen_at"), pl.lit(now).alias("updated_at"),
        *publication_key_exprs(),
    )


def hash_id(prefix: str, value: str) -> str:
    """A stable id: ``prefix`` + the first 16 hex digits of the value's sha1."""
    return prefix + hashlib.sha1(value.encode("utf-8")).hexdigest()[:16]


def _hashed_ids(keys: pl.Series, prefix: str) -> pl.Series:
    """:func:`hash_id` of each key (hashed once per distinct key)."""
    distinct = keys.unique()
    table = pl.DataFrame({"_key": distinct, "_id": [hash_id(prefix, k) for k in distinct]})
    return pl.DataFrame({"_key": keys}).join(table, on="_key", how="left",
                                             maintain_order="left").get_column("_id")


def author_rows(pubs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``authors`` rows, ``publication_authors`` rows); an author is keyed on the ORCID,
    else on the letters of the name and the Chinese name."""
    authors = (
        pubs.select("pub_id", "authors").explode("authors")
        .filter(pl.col("authors").is_not_null())
        .with_columns(pl.int_range(1, pl.len() + 1).over("pub_id").alias("position"))
        .unnest("authors")
        .filter(pl.col("name").is_not_null() | pl.col("name_zh").is_not_null())
        .with_columns(
            pl.coalesce(
                pl.when(pl.col("orcid").is_not_null()).then(pl.lit("orcid:") + pl.col("orcid")),
                pl.lit("name:") + pl.concat_str(
                    [pl.col("name").str.to_lowercase().str.replace_all(r"[^\p{L}]", "")
                     .fill_null(""), pl.col("name_zh").fill_null("")], separator="|"),
            ).alias("_key")
        )
    )
    authors = authors.with_columns(_hashed_ids(authors.get_column("_key"), "au_")
                                   .alias("author_id"))
    people = authors.unique("author_id", keep="first", maintain_order=True).select(
        "author_id", "name", "name_zh", "orcid")
    links = authors.unique(["pub_id", "position"], maintain_order=True).select(
        "pub_id", "position", "author_id", "affiliation")
    return people, links


def keyword_rows(pubs: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``keywords`` rows, ``publication_keywords`` rows): NFKC, trimmed, lower-cased."""
    words = (
        pubs.select("pub_id", "keywords").explode("keywords")
        .filter(pl.col("keywords").is_not_null())
        .with_columns(pl.col("keywords").str.normalize("NFKC").str.strip_chars()
                      .str.to_lowercase().alias("keyword"))
        .filter(pl.col("keyword").str.len_chars() > 0)
    )
    words = words.with_columns(
        _hashed_ids(words.get_column("keyword"), "kw_").alias("keyword_id"),
        pl.when(pl.col("keyword").str.contains(r"[\u3400-\u9fff]")).then(pl.lit("zh"))
        .otherwise(pl.lit("en")).alias("language"),
    )
    keywords = words.unique("keyword_id", maintain_order=True).select(
        "keyword_id", "keyword", "language")
    links = words.unique(["pub_id", "keyword_id"], maintain_order=True).select(
        "pub_id", "keyword_id")
    return keywords, links


def _evidence_text(column: str) -> pl.Expr:
    """A list of evidence structs as its JSON array text."""
    inner = pl.col(column).list.eval(pl.element().struct.json_encode()).list.join(",")
    return pl.lit("[") + inner.fill_null("") + pl.lit("]")


def classification_rows(pubs: pl.DataFrame,
                        now: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(``publication_classifications`` rows, ``publication_topics`` rows)."""
    classes = pubs.select(
        "pub_id", "taxonomy_version", "is_ai_education", "ai_score",
        _evidence_text("ai_evidence").alias("evidence"), pl.lit(now).alias("classified_at"))
    topics = (
        pubs.select("pub_id", "taxonomy_version", "topics").explode("topics")
        .filter(pl.col("topics").is_not_null()).unnest("topics")
        .select("pub_id", "topic", "taxonomy_version", "score",
                _evidence_text("evidence").alias("evidence"))
    )
    return classes, topics


def source_record_rows(live: pl.DataFrame, *, batch_id: str, run_id: str,
                       now: datetime) -> pl.DataFrame:
    """``source_records`` rows (lineage, match, and the record itself as JSON)."""
    return live.select(
        "source", "source_id", "pub_id", "raw_ref",
        pl.lit(batch_id, dtype=pl.String).alias("batch_id"),
        pl.lit(run_id, dtype=pl.String).alias("run_id"),
        "content_hash", "match_rule", "match_score",
        pl.Series("record", records_json(live), dtype=pl.String),
        pl.lit(now).alias("first_seen_at"), pl.lit(now).alias("updated_at"),
    )


def match_rows(live: pl.DataFrame, now: datetime) -> pl.DataFrame:
    """``publication_matches`` rows: records merged into a publication another gave."""
    is_other = ((pl.col("matched_source") != pl.col("source"))
                | (pl.col("matched_source_id") != pl.col("source_id")))
    return live.filter(
        pl.col("match_rule").is_in(MERGE_RULES) & pl.col("matched_source").is_not_null()
        & is_other
    ).select(
        "pub_id", "source", "source_id", "matched_source", "matched_source_id",
        pl.col("match_rule").alias("rule"), pl.col("match_score").alias("score"),
        pl.lit(now).alias("matched_at"),
    )
