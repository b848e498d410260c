"""The peers the benchmark compares the pipeline with, on the same records.

* :func:`run_naive`: the pipeline as it is often written: each landed body read into a pandas
  frame, fields pulled out with row-wise ``apply``, a keyword classification with
  ``apply(axis=1)``, ``drop_duplicates`` on the DOI, and one SQLAlchemy ORM object per row
  (``session.add``), committed at the end, into SQLite. It does far less than the pipeline (no
  validation, lineage, merge, authors or keywords tables), so the ratio is conservative. On large
  sizes it runs on the first ``limit`` records (each source's share) and the time is extrapolated
  linearly, as the report says.
* :func:`run_dlt`: dlt (its own normal API: a pipeline with the ``sqlalchemy`` destination on a
  SQLite file, ``write_disposition="merge"`` on ``(source, source_id)``, Arrow tables in) loading
  the frames our load stage was given. Telemetry is off and the pipeline directory is local.
"""

from __future__ import annotations

import json
import os
import re
import time
import warnings
import xml.etree.ElementTree as ET  # noqa: N817 - trusted local synthetic bodies only
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
from sqlalchemy import Boolean, Integer, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from sources.landing import iter_bodies, read_manifest

AI_TERMS = ("artificial intelligence", "machine learning", "deep learning", "chatgpt", "gpt-4",
            "large language model", "generative ai", "chatbot", "natural language processing",
            "intelligent tutoring", "neural network", "learning analytics", "人工智能",
            "机器学习", "深度学习", "大语言模型", "生成式")
EDU_TERMS = ("education", "students", "teaching", "curriculum", "learners", "training",
             "residents", "assessment", "classroom", "教学", "学生", "教育", "培训")


class PeerError(RuntimeError):
    """A peer could not run."""


@dataclass
class PeerResult:
    """What one peer did and how long it took."""

    name: str
    records: int
    seconds: float
    extrapolated_seconds: float
    note: str = ""
    extract_seconds: float = 0.0
    normalize_seconds: float = 0.0
    load_seconds: float = 0.0
    write_disposition: str = ""
    version: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {k: round(v, 3) if isinstance(v, float) else v for k, v in asdict(self).items()}


# --------------------------------------------------------------------------- naive


class _Base(DeclarativeBase):
    pass


class NaivePublication(_Base):
    """The one table the naive pipeline writes."""

    __tablename__ = "publications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[str] = mapped_column(String(200))
    doi: Mapped[str | None] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(Text)
    abstract: Mapped[str | None] = mapped_column(Text)
    journal: Mapped[str | None] = mapped_column(Text)
    issn: Mapped[str | None] = mapped_column(String(9))
    year: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str | None] = mapped_column(String(8))
    is_ai_education: Mapped[bool] = mapped_column(Boolean)


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else None


def _strip_tags(value: Any) -> Any:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", value)).strip() \
        if isinstance(value, str) else None


def _invert(index: Any) -> Any:
    if not isinstance(index, dict):
        return None
    words = sorted((p, w) for w, ps in index.items() for p in ps)
    return " ".join(w for _, w in words)


def _crossref_frame(body: bytes) -> pd.DataFrame:
    df = pd.DataFrame(json.loads(body)["message"]["items"])
    out = pd.DataFrame()
    out["source_id"] = df["DOI"].apply(lambda d: d.lower() if isinstance(d, str) else None)
    out["doi"] = out["source_id"]
    out["title"] = df["title"].apply(_first)
    out["abstract"] = df["abstract"].apply(_strip_tags) if "abstract" in df else None
    out["journal"] = df["container-title"].apply(_first)
    out["issn"] = df["ISSN"].apply(_first)
    out["year"] = df["issued"].apply(lambda d: d["date-parts"][0][0])
    out["language"] = df.get("language")
    out["source"] = "crossref"
    return out


def _openalex_frame(body: bytes) -> pd.DataFrame:
    df = pd.DataFrame(json.loads(body)["results"])
    out = pd.DataFrame()
    out["source_id"] = df["id"].apply(lambda v: v.rsplit("/", 1)[-1])
    out["doi"] = df["doi"].apply(
        lambda d: d.replace("https://doi.org/", "").lower() if isinstance(d, str) else None)
    out["title"] = df["title"]
    out["abstract"] = df["abstract_inverted_index"].apply(_invert)
    out["journal"] = df["primary_location"].apply(
        lambda loc: (loc.get("source") or {}).get("display_name"))
    out["issn"] = df["primary_location"].apply(lambda loc: (loc.get("source") or {}).get("issn_l"))
    out["year"] = df["publication_year"]
    out["language"] = df["language"]
    out["source"] = "openalex"
    return out


def _pubmed_frame(body: bytes) -> pd.DataFrame:
    rows = []
    for article in ET.fromstring(body).iter("PubmedArticle"):
        cit = article.find("MedlineCitation")
        art = cit.find("Article")
        doi = article.find("PubmedData/ArticleIdList/ArticleId[@IdType='doi']")
        rows.append({
            "source_id": cit.findtext("PMID"),
            "doi": doi.text.lower() if doi is not None else None,
            "title": art.findtext("ArticleTitle"),
            "abstract": " ".join(t.text or "" for t in art.iterfind("Abstract/AbstractText")),
            "journal": art.findtext("Journal/Title"),
            "issn": art.findtext("Journal/ISSN"),
            "year": art.findtext("Journal/JournalIssue/PubDate/Year"),
            "language": art.findtext("Language"),
        })
    out = pd.DataFrame(rows)
    out["source"] = "pubmed"
    return out


_FRAMES = {"crossref": _crossref_frame, "openalex": _openalex_frame, "pubmed": _pubmed_frame}


def _classify(row: pd.Series) -> bool:
    text = f"{row['title'] or ''} {row['abstract'] or ''}".lower()
    return any(t in text for t in AI_TERMS) and any(t in text for t in EDU_TERMS)


#: How each source's body marks the start of one record.
_RECORD_MARKERS = {"crossref": b'"DOI":', "openalex": b'{"id":"https://openalex.org/W',
                   "pubmed": b"<PubmedArticle>"}


def _bodies(batches: Sequence[Path], limit: int) -> Iterator[tuple[str, bytes, int]]:
    """Landed bodies, each source up to its share of ``limit`` records."""
    from bench.synthetic import SOURCE_SHARES

    by_source: dict[str, list[Path]] = {}
    for path in batches:
        by_source.setdefault(read_manifest(path).source, []).append(path)
    total_share = sum(SOURCE_SHARES.get(s, 0.0) for s in by_source)
    for source, paths in by_source.items():
        quota = limit * SOURCE_SHARES.get(source, 0.0) / total_share
        taken = 0
        for path in paths:
            for _landed, body in iter_bodies(path):
                if taken >= quota:
                    break
                count = body.count(_RECORD_MARKERS[source])
                taken += count
                yield source, body, count


def run_naive(batches: Sequence[Path], *, data_dir: Path, db_path: Path, limit: int,
              total_records: int) -> PeerResult:
    """The naive pandas + ORM pipeline on up to ``limit`` records; extrapolated to the total.

    Args:
        batches: Landed batches (as the pipeline got them).
        data_dir: The data directory (unused beyond the batch paths; kept for symmetry).
        db_path: SQLite file to create.
        limit: Records to process before stopping (each source its share).
        total_records: Records of the whole run, for the linear extrapolation.
    """
    del data_dir
    db_path.unlink(missing_ok=True)
    start = time.perf_counter()
    engine = create_engine(f"sqlite:///{db_path}")
    _Base.metadata.create_all(engine)
    frames = []
    records = 0
    for source, body, count in _bodies(batches, limit):
        frames.append(_FRAMES[source](body))
        records += count
    df = pd.concat(frames, ignore_index=True)
    df = df[df["title"].apply(lambda t: isinstance(t, str) and t.strip() != "")]
    df["is_ai_education"] = df.apply(_classify, axis=1)
    with_doi = df[df["doi"].notna()].drop_duplicates(subset=["doi"])
    df = pd.concat([with_doi, df[df["doi"].isna()]], ignore_index=True)
    with Session(engine) as session:
        for _, row in df.iterrows():
            session.add(NaivePublication(
                source=row["source"], source_id=row["source_id"], doi=row["doi"],
                title=row["title"], abstract=row["abstract"], journal=row["journal"],
                issn=row["issn"],
                year=int(row["year"]) if pd.notna(row["year"]) else None,
                language=row["language"] if isinstance(row["language"], str) else None,
                is_ai_education=bool(row["is_ai_education"]),
            ))
        session.commit()
    engine.dispose()
    seconds = time.perf_counter() - start
    extrapolated = seconds * total_records / records if records else 0.0
    note = "" if records >= total_records else (
        f"measured on {records:,} of {total_records:,} records, extrapolated linearly")
    return PeerResult(name="naive", records=records, seconds=seconds,
                      extrapolated_seconds=extrapolated, note=note)


# --------------------------------------------------------------------------- dlt


def run_dlt(frames: Sequence[pl.DataFrame | Path], *, workdir: Path) -> PeerResult:
    """dlt loading the given frames (or Parquet files of them) into SQLite.

    Extract, normalize and load are timed apart; reading Parquet files counts as extract.

    Raises:
        PeerError: dlt is not installed (it is in the project's ``bench`` extra).
    """
    os.environ["RUNTIME__DLTHUB_TELEMETRY"] = "false"
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")
    try:
        import dlt
    except ImportError as exc:
        msg = "dlt is not installed: pip install 'dlt[sqlalchemy]' (the [bench] extra)"
        raise PeerError(msg) from exc
    workdir.mkdir(parents=True, exist_ok=True)
    records = sum(f.height if isinstance(f, pl.DataFrame) else pl.scan_parquet(f).select(
        pl.len()).collect().item() for f in frames)
    disposition = "merge"
    start = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="aied_bench", pipelines_dir=str(workdir / "pipelines"),
        destination=dlt.destinations.sqlalchemy(f"sqlite:///{workdir / 'dlt.sqlite'}"),
        dataset_name="main",
    )

    @dlt.resource(name="publications", write_disposition=disposition,
                  primary_key=("source", "source_id"))
    def publications() -> Iterator[Any]:
        for frame in frames:
            yield (frame if isinstance(frame, pl.DataFrame) else pl.read_parquet(frame)).to_arrow()

    with warnings.catch_warnings():  # dlt's own SQLAlchemy deprecation noise
        warnings.simplefilter("ignore")
        pipeline.extract(publications())
        extracted = time.perf_counter()
        pipeline.normalize()
        normalized = time.perf_counter()
        info = pipeline.load()
        loaded = time.perf_counter()
    if info.has_failed_jobs:
        raise PeerError(f"dlt load had failed jobs: {info}")
    return PeerResult(
        name="dlt", records=records, seconds=loaded - start, extrapolated_seconds=loaded - start,
        extract_seconds=extracted - start, normalize_seconds=normalized - extracted,
        load_seconds=loaded - normalized, write_disposition=disposition,
        version=dlt.__version__,
    )
