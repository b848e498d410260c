"""The format-neutral draft every export reader fills, and its turn into a canonical row.

Readers (``files_tagged``, ``files_bibtex``, ``files_scopus``) only know where each format
keeps a value; everything about what a value means (script, DOI and ISSN forms, dates, the
record's identity) is decided here, once for all formats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from transforms.bibliographic import (
    by_script,
    first_date,
    make_author,
    normalise_language,
    split_terms,
    stable_id,
    title_key,
)
from transforms.normalise import clean_text, has_cjk, normalise_doi, normalise_issn

SOURCE = "files"
_ISSN_IN_TEXT = re.compile(r"\b(\d{4}-?\d{3}[\dXx])\b")
_AUTHOR_SEPARATORS = re.compile(r"[;；]")
_CJK_AUTHOR_SEPARATORS = re.compile(r"[;；,，、]")
_PMID = re.compile(r"^\d{1,9}$")


class RecordError(ValueError):
    """One exported record cannot become a canonical row (the reason is the message)."""


@dataclass(frozen=True)
class BadRecord:
    """A record a reader could not even split into fields."""

    position: int
    reason: str
    payload: str


@dataclass
class Draft:
    """Raw values of one exported record, as the reader found them (not yet normalised)."""

    position: int
    payload: str
    titles: list[str] = field(default_factory=list)
    abstracts: list[str] = field(default_factory=list)
    authors: list[dict[str, Any]] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)
    journals: list[str] = field(default_factory=list)
    dates: list[str] = field(default_factory=list)
    dois: list[str] = field(default_factory=list)
    issns: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    volume: str | None = None
    issue: str | None = None
    pages: str | None = None
    pmid: str | None = None


def split_authors(values: list[str], *, affiliations: list[str] | None = None,
                  shared_affiliation: bool = False) -> list[dict]:
    """Author structs from name strings; one string may hold several names (``张三;李四``).

    Args:
        values: Name strings in author order.
        affiliations: The record's affiliation strings (not tied to authors).
        shared_affiliation: The format lists the union of the authors' institutions (CNKI),
            so a single affiliation belongs to every author. Otherwise affiliations are
            kept only for a single-author record, the one case where they cannot be
            given to the wrong person.
    """
    names: list[str] = []
    for value in values:
        pattern = _CJK_AUTHOR_SEPARATORS if has_cjk(value) else _AUTHOR_SEPARATORS
        names.extend(n.strip() for n in pattern.split(value) if n.strip())
    places = [p.strip() for v in affiliations or [] for p in _AUTHOR_SEPARATORS.split(v)
              if p.strip()]
    shared = None
    if len(names) == 1 and places:
        shared = "; ".join(places)
    elif shared_affiliation and len(places) == 1:
        shared = places[0]
    return [a for n in names if (a := make_author(n, affiliation=shared))]


def expand_page_range(pages: str | None) -> str | None:
    """``700-7`` (MEDLINE style) to ``700-707``; other ranges with a plain hyphen."""
    text = clean_text(pages)
    if not text:
        return None
    text = re.sub(r"\s*[-–—~～]+\s*", "-", text)
    match = re.fullmatch(r"(\d+)-(\d+)", text)
    if match and len(match.group(2)) < len(match.group(1)):
        start, end = match.groups()
        return f"{start}-{start[: len(start) - len(end)]}{end}"
    return text


def _number(value: str | None) -> str | None:
    """Volume/issue text; ``"01"`` becomes ``"1"`` (CNKI pads issue numbers)."""
    text = clean_text(value)
    return str(int(text)) if text and text.isascii() and text.isdigit() else text


def finish_row(draft: Draft, *, fmt: str, raw_ref: str) -> dict[str, Any]:
    """Turn a draft into a canonical row dict.

    Raises:
        RecordError: The record has no title in any language.
    """
    title, title_zh = by_script(draft.titles)
    if not (title or title_zh):
        raise RecordError("record has no title")
    abstract, abstract_zh = by_script(draft.abstracts)
    journal, journal_zh = by_script(draft.journals)
    doi = next((d for v in draft.dois if (d := normalise_doi(v))), None)
    issn = next((i for v in draft.issns for m in _ISSN_IN_TEXT.findall(v)
                 if (i := normalise_issn(m))), None)
    published, precision = first_date(*draft.dates)
    language = normalise_language(draft.languages)
    if language is None and title_zh and not title:
        language = "zh"
    # As for every source: ``title``/``journal_title`` fall back to the Chinese text so
    # they are never empty; the ``*_zh`` columns always hold the Chinese text.
    title = title or title_zh
    journal = journal or journal_zh
    pmid = (draft.pmid or "").strip()
    url = next((u.strip() for u in draft.urls if u.strip()), None)
    if url is None and doi:
        url = f"https://doi.org/{doi}"
    year = published.year if published else None
    return {
        "source": SOURCE,
        "source_id": doi or f"{fmt}:{stable_id(fmt, title_key(title, title_zh), year)}",
        "doi": doi,
        "pmid": pmid if _PMID.match(pmid) else None,
        "title": title,
        "title_zh": title_zh,
        "abstract": abstract,
        "abstract_zh": abstract_zh,
        "keywords": split_terms(draft.keywords),
        "subjects": split_terms(draft.subjects),
        "authors": draft.authors,
        "journal_issn": issn,
        "journal_title": journal,
        "journal_title_zh": journal_zh,
        "volume": _number(draft.volume),
        "issue": _number(draft.issue),
        "pages": expand_page_range(draft.pages),
        "language": language,
        "published_date": published,
        "date_precision": precision,
        "url": url,
        "raw_ref": raw_ref,
    }

