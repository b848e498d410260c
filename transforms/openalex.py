"""OpenAlex ``/works`` bodies (cursor pages or a single work) to canonical rows.

Pure: bytes in, :class:`~transforms.parsing.ParsedPayload` out. ``{"error", "message"}``
bodies, group-by answers and bodies that are not JSON raise
:class:`~transforms.parsing.PayloadError`; a work without an OpenAlex id or a title becomes
a :class:`~transforms.parsing.Reject`.

Field choices worth knowing:

- ``abstract`` is rebuilt from ``abstract_inverted_index`` (word -> positions); a leading
  "Abstract" word that publishers prepend is dropped, and stray markup is stripped.
- ``published_date`` is ``publication_date`` (precision ``day``) except that OpenAlex pads
  year-only dates to ``YYYY-01-01``: a 1 January date is kept with precision ``year``.
  Without ``publication_date``, ``publication_year`` gives precision ``year``.
- ``subjects``: primary topic, topics, MeSH descriptor names, and concepts with
  ``score >= CONCEPT_MIN_SCORE``, de-duplicated case-insensitively in that order.
- ``journal_*`` come from ``primary_location.source`` (``issn_l``, else the first valid
  ``issn``); a work hosted only in a repository gets the repository's name as its venue.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from transforms.crossref import RecordError, decode_json_body, rows_and_rejects
from transforms.jats import jats_to_text, strip_inline_markup
from transforms.normalise import normalise_doi, normalise_issn, normalise_orcid, parse_partial_date
from transforms.parsing import ParsedPayload, PayloadError

SOURCE = "openalex"
KINDS: frozenset[str] = frozenset({"works", "work"})
CONCEPT_MIN_SCORE = 0.5
#: Upper bound on positions in an inverted index (a corrupt index must not eat memory).
MAX_ABSTRACT_WORDS = 50_000
_WORK_ID = re.compile(r"(?:^|/)(W\d+)$", re.I)
_PMID = re.compile(r"(\d+)/?$")
_LEADING_ABSTRACT = re.compile(r"^(?:abstract|summary)\s*[:.]?\s+(?=\S)", re.I)


def work_id(value: Any) -> str | None:
    """``https://openalex.org/W2741809807`` -> ``W2741809807``."""
    if not isinstance(value, str):
        return None
    match = _WORK_ID.search(value.strip())
    return match.group(1).upper() if match else None


def pmid_from_url(value: Any) -> str | None:
    """``https://pubmed.ncbi.nlm.nih.gov/29456894`` -> ``29456894``."""
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        return None
    match = _PMID.search(value.strip())
    return match.group(1) if match else None


def rebuild_abstract(index: Any) -> str | None:
    """Invert ``abstract_inverted_index`` back into text.

    Entries whose positions are not non-negative integers are ignored (a position given twice
    keeps its first word); None when nothing usable is left.
    """
    if not isinstance(index, dict):
        return None
    # ``type(...) is int`` keeps JSON integers and leaves out booleans.
    pairs = [(position, word) for word, positions in index.items()
             if type(word) is str and type(positions) is list
             for position in positions
             if type(position) is int and 0 <= position < MAX_ABSTRACT_WORDS]
    if not pairs:
        return None
    placed = dict(reversed(pairs))  # the first word given for a position wins
    text = " ".join([placed[p] for p in sorted(placed)])
    text = jats_to_text(text, paragraph_separator=" ")
    if text:
        text = _LEADING_ABSTRACT.sub("", text, count=1)
    return text or None


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise RecordError(f"expected text, got {type(value).__name__}")


def _names(entries: Any, *, key: str = "display_name") -> list[str]:
    names = []
    for entry in entries or []:
        value = entry.get(key) if isinstance(entry, dict) else entry
        if isinstance(value, str) and value.strip():
            names.append(value.strip())
    return names


def _unique(values: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for value in values:
        if value.casefold() not in seen:
            seen.add(value.casefold())
            out.append(value)
    return out


def _authors(work: Mapping[str, Any]) -> list[dict[str, str | None]]:
    authors = []
    for authorship in work.get("authorships") or []:
        if not isinstance(authorship, dict):
            continue
        author = authorship.get("author") or {}
        name = _text(author.get("display_name")) or _text(authorship.get("raw_author_name"))
        if not name:
            continue
        institutions = _names(authorship.get("institutions"))
        raw_affiliations = _names(authorship.get("raw_affiliation_strings"), key="")
        orcid = author.get("orcid")
        authors.append({
            "name": name,
            "name_zh": None,
            "orcid": normalise_orcid(orcid) if isinstance(orcid, str) else None,
            "affiliation": (institutions or raw_affiliations or [None])[0],
        })
    return authors


def _journal(work: Mapping[str, Any]) -> tuple[str | None, str | None]:
    location = work.get("primary_location") or {}
    source = location.get("source") if isinstance(location, dict) else None
    if not isinstance(source, dict):
        return None, None
    issns = [source.get("issn_l"), *(source.get("issn") or [])]
    issn = next((n for n in (normalise_issn(i) for i in issns if isinstance(i, str)) if n), None)
    return issn, _text(source.get("display_name"))


def _pages(biblio: Mapping[str, Any]) -> str | None:
    first, last = _text(biblio.get("first_page")), _text(biblio.get("last_page"))
    if first and last and first != last:
        return f"{first}-{last}"
    return first or last


def _published(work: Mapping[str, Any]) -> tuple[date | None, str | None]:
    raw = work.get("publication_date")
    when, precision = parse_partial_date(raw) if isinstance(raw, str) else (None, None)
    if when is not None:
        if precision == "day" and (when.month, when.day) == (1, 1):
            precision = "year"
        return when, precision
    year = work.get("publication_year")
    if isinstance(year, int) and not isinstance(year, bool):
        return parse_partial_date(str(year))
    return None, None


def _subjects(work: Mapping[str, Any]) -> list[str]:
    primary = work.get("primary_topic")
    names = _names([primary]) if isinstance(primary, dict) else []
    names += _names(work.get("topics"))
    names += _names(work.get("mesh"), key="descriptor_name")
    names += _names(
        c for c in work.get("concepts") or []
        if isinstance(c, dict) and isinstance(c.get("score"), int | float)
        and c["score"] >= CONCEPT_MIN_SCORE
    )
    return _unique(names)


def _keywords(work: Mapping[str, Any]) -> list[str]:
    keywords = []
    for entry in work.get("keywords") or []:
        if isinstance(entry, dict):
            entry = entry.get("display_name") or entry.get("keyword")
        if isinstance(entry, str) and entry.strip():
            keywords.append(entry.strip())
    return _unique(keywords)


def work_to_row(work: Any) -> dict[str, Any]:
    """One OpenAlex work to a canonical row (without ``raw_ref``).

    Raises:
        RecordError: No OpenAlex id, no title, or a field with an impossible type.
    """
    if not isinstance(work, dict):
        raise RecordError(f"work is a {type(work).__name__}, not an object")
    ids = work.get("ids")
    if not isinstance(ids, dict):
        ids = {}
    openalex_id = work_id(work.get("id")) or work_id(ids.get("openalex"))
    if not openalex_id:
        raise RecordError(f"work has no OpenAlex W-id ({work.get('id')!r})")
    title = strip_inline_markup(_text(work.get("title")) or _text(work.get("display_name")))
    if not title:
        raise RecordError(f"work {openalex_id} has no title")
    raw_doi = work.get("doi") or ids.get("doi")
    doi = normalise_doi(raw_doi) if isinstance(raw_doi, str) else None
    issn, journal_title = _journal(work)
    biblio = work.get("biblio")
    if not isinstance(biblio, dict):
        biblio = {}
    published_date, precision = _published(work)
    language = _text(work.get("language"))
    location = work.get("primary_location")
    if not isinstance(location, dict):
        location = {}
    url = (_text(location.get("landing_page_url"))
           or (f"https://doi.org/{doi}" if doi else f"https://openalex.org/{openalex_id}"))
    return {
        "source": SOURCE,
        "source_id": openalex_id,
        "openalex_id": openalex_id,
        "doi": doi,
        "pmid": pmid_from_url(ids.get("pmid")),
        "title": title,
        "abstract": rebuild_abstract(work.get("abstract_inverted_index")),
        "keywords": _keywords(work),
        "subjects": _subjects(work),
        "authors": _authors(work),
        "journal_issn": issn,
        "journal_title": journal_title,
        "volume": _text(biblio.get("volume")),
        "issue": _text(biblio.get("issue")),
        "pages": _pages(biblio),
        "language": language.lower() if language else None,
        "published_date": published_date,
        "date_precision": precision,
        "url": url,
    }


def work_list(body: Any, *, url: str) -> list[Any]:
    """The works inside an OpenAlex answer.

    Raises:
        PayloadError: For error bodies, group-by answers and unknown shapes.
    """
    if not isinstance(body, dict):
        kind = type(body).__name__
        raise PayloadError(f"OpenAlex body from {url} is a JSON {kind}, not an object")
    if "error" in body and "results" not in body:
        message = str(body.get("message") or "")[:300]
        raise PayloadError(f"OpenAlex error from {url}: {body.get('error')}: {message}")
    if "results" in body:
        results = body["results"]
        if not isinstance(results, list):
            raise PayloadError(f"OpenAlex body from {url} has 'results' that is not a list")
        return results
    if "group_by" in body:
        raise PayloadError(f"OpenAlex body from {url} is a group_by (counts) answer, not works")
    if "id" in body:
        return [body]
    keys = ", ".join(sorted(map(str, body))[:10])
    raise PayloadError(f"OpenAlex body from {url} is not a works answer (keys: {keys})")


def parse_openalex(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one landed OpenAlex body.

    Args:
        body: The response body exactly as landed.
        kind: What the source said the body is (``works`` or ``work``).
        url: The (redacted) request URL, for messages.
        raw_ref: The landed file reference; ``#<position>`` is appended per work.

    Returns:
        Canonical rows and rejected works; empty for an empty last cursor page.

    Raises:
        PayloadError: Unknown ``kind``, a body that is not JSON, an error body, or a body
            that holds no works.
    """
    if kind not in KINDS:
        msg = f"OpenAlex parser got kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}"
        raise PayloadError(msg)
    data, is_valid_text = decode_json_body(body, provider="OpenAlex", url=url)
    return rows_and_rejects(work_list(data, url=url), raw_ref=raw_ref, to_row=work_to_row,
                            check_text=not is_valid_text)
