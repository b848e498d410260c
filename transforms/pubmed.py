"""PubMed E-utilities payloads (esearch envelopes, efetch PubmedArticleSet XML) to canonical rows.

Rules worth knowing (DESIGN "Sources" row for pubmed):

- Only ``MedlineCitation/PMID`` and ``PubmedData/ArticleIdList`` are read for identifiers:
  ``CommentsCorrections`` and ``ReferenceList`` carry PMIDs and DOIs of *other* works.
- Titles: the bracketed English translation PubMed gives for non-English articles
  (``[Title].``) loses its brackets. ``VernacularTitle`` goes to ``title_zh`` only when it is
  Chinese; any other vernacular title is kept out, except as the title when the record has no
  ``ArticleTitle`` text at all.
- Dates: ``PubDate`` Year/Month/Day gives day or month precision. A ``Season`` that starts with
  a month name ("Jan-Mar", "Nov-Dec") gives month precision on that first month; a named season
  ("Spring", "Winter") gives year precision, because seasons straddle years ("Winter") and
  hemispheres ("Spring" in Brazil is September). ``MedlineDate`` ("1998 Dec-1999 Jan") gives the
  start of the range with the precision of its start ("1998-12", month). Without a PubDate the
  electronic ``ArticleDate`` is used.
- ``journal_issn`` prefers ``ISSNLinking`` (ISSN-L: one ISSN for all media of a journal, the
  one other registries key journals on) and falls back to ``Journal/ISSN``.
- Authors are named "ForeName LastName Suffix" (display order) or by ``CollectiveName``;
  ``ValidYN="N"`` authors and editor lists are skipped; the first affiliation is kept with
  e-mail addresses removed.
- Errata, comments and retractions stay rows: their ``PublicationType`` is in ``subjects`` so
  the classifier and analysts can tell them apart. A "Retracted Publication" is marked
  ``is_deleted`` (the loader retires it, as for OAI-PMH deletions). ``DeleteCitation``
  entries become ``is_deleted`` rows keyed by PMID.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from transforms.normalise import (
    MONTHS,
    has_cjk,
    nfkc_latin,
    normalise_doi,
    normalise_issn,
    normalise_orcid,
    parse_partial_date,
)
from transforms.parsing import ParsedPayload, PayloadError, Reject

SOURCE = "pubmed"
RECORD_URL = "https://pubmed.ncbi.nlm.nih.gov/{pmid}/"
KINDS: frozenset[str] = frozenset({"esearch", "efetch"})
MATHML_NS = "http://www.w3.org/1998/Math/MathML"
MAX_REJECT_PAYLOAD = 100_000

#: Reviewed map of the NLM/MARC language codes used in ``<Language>`` to ISO 639-1.
#: Codes not listed are kept as given (lower-case); "und" (undetermined) becomes null.
LANGUAGE_CODES: Mapping[str, str | None] = {
    "afr": "af", "alb": "sq", "amh": "am", "ara": "ar", "arm": "hy", "aze": "az",
    "ben": "bn", "bos": "bs", "bul": "bg", "cat": "ca", "chi": "zh", "cze": "cs",
    "dan": "da", "dut": "nl", "eng": "en", "epo": "eo", "est": "et", "fin": "fi",
    "fre": "fr", "geo": "ka", "ger": "de", "gla": "gd", "gle": "ga", "glg": "gl",
    "gre": "el", "hau": "ha", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu",
    "ibo": "ig", "ice": "is", "ind": "id", "ita": "it", "jpn": "ja", "kaz": "kk",
    "kin": "rw", "kor": "ko", "lat": "la", "lav": "lv", "lit": "lt", "mac": "mk",
    "mal": "ml", "mao": "mi", "may": "ms", "mol": "ro", "mon": "mn", "nep": "ne",
    "nno": "nn", "nob": "nb", "nor": "no", "per": "fa", "pol": "pl", "por": "pt",
    "pus": "ps", "rum": "ro", "rus": "ru", "san": "sa", "scc": "sr", "scr": "hr",
    "sin": "si", "slo": "sk", "slv": "sl", "som": "so", "spa": "es", "srp": "sr",
    "swa": "sw", "swe": "sv", "tam": "ta", "tgl": "tl", "tha": "th", "tur": "tr",
    "ukr": "uk", "urd": "ur", "uzb": "uz", "vie": "vi", "wel": "cy", "yid": "yi",
    "yor": "yo", "zul": "zu", "und": None,
}

#: Publication types that mean "this record is withdrawn": the loader retires it.
RETIRED_PUBLICATION_TYPES: frozenset[str] = frozenset({"Retracted Publication"})

_EMAIL = re.compile(
    r"(?:\s*Electronic address:)?\s*[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\.?", re.I
)
_BRACKETED = re.compile(r"^\[(.+)\]\.?$", re.S)
_MEDLINE_DATE = re.compile(r"(\d{4})(?:\s+([A-Za-z]{3})[A-Za-z]*\.?(?:\s+(\d{1,2})\b)?)?")


# --------------------------------------------------------------------------- XML


def parse_xml(body: bytes, *, what: str) -> etree._Element:
    """Parse an untrusted XML body without network, DTD loading or entity expansion.

    Args:
        body: The raw bytes.
        what: What the body should be, for the error message.

    Returns:
        The root element.

    Raises:
        PayloadError: The body is not well-formed XML, or its DTD declares entities
            (entity expansion bombs are refused, not expanded).
    """
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
        remove_comments=True, remove_pis=True,
    )
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        msg = f"{what} is not well-formed XML: {exc}"
        raise PayloadError(msg) from exc
    if root is None:
        msg = f"{what} is empty"
        raise PayloadError(msg)
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        names = ", ".join(sorted(e.name for e in dtd.iterentities()))
        msg = f"{what} declares DTD entities ({names}); refused"
        raise PayloadError(msg)
    return root


def inline_text(element: etree._Element | None) -> str | None:
    """Text of an element with inline markup (<i>, <sup>, MathML) flattened to plain text.

    MathML is rendered by concatenating its tokens (pre-scripts before their base, so
    ``<mmultiscripts>He ... 3`` reads "3He"); whitespace is collapsed and NFKC applied to
    Latin text. Undeclared named entities (``&nbsp;``) are mapped like HTML entities.
    """
    if element is None:
        return None
    if len(element) == 0:  # no markup inside (most fields): the text itself
        return _clean(element.text or "")
    parts: list[str] = []
    _walk(element, parts)
    return _clean("".join(parts))


def _walk(element: etree._Element, parts: list[str]) -> None:
    parts.append(element.text or "")
    for child in element:
        if child.tag is etree.Entity:
            decoded = html.unescape(child.text or "")
            parts.append("" if decoded == child.text else decoded)
        elif isinstance(child.tag, str):
            if etree.QName(child).localname == "math":
                parts.append(_math_text(child))
            else:
                _walk(child, parts)
        parts.append(child.tail or "")


def _math_text(element: etree._Element) -> str:
    if not isinstance(element.tag, str):
        return ""
    name = etree.QName(element).localname
    if name in {"mi", "mn", "mo", "ms"}:
        return (element.text or "").strip()
    if name == "mtext":
        text = element.text or ""
        return " " if text and not text.strip() else text.strip()
    children = [c for c in element if isinstance(c.tag, str)]
    if name == "mmultiscripts":
        names = [etree.QName(c).localname for c in children]
        split = names.index("mprescripts") if "mprescripts" in names else len(children)
        pre = children[split + 1:]
        ordered = pre + children[:split]
        return "".join(_math_text(c) for c in ordered)
    return "".join(_math_text(c) for c in children)


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(nfkc_latin(text).split())  # the same whitespace as r"\s+"
    return cleaned or None


def _text(element: etree._Element | None, path: str | None = None) -> str | None:
    target = element.find(path) if element is not None and path else element
    return inline_text(target) if target is not None else None


# --------------------------------------------------------------------------- esearch


@dataclass(frozen=True)
class ESearchResult:
    """What paging needs from an esearch response."""

    count: int
    webenv: str | None
    query_key: str | None
    errors: tuple[str, ...] = ()  # ErrorList entries, e.g. "PhraseNotFound: abcXYZ"
    warnings: tuple[str, ...] = ()  # WarningList entries
    error: str | None = None  # a top-level <ERROR>: the search itself failed


def read_esearch(body: bytes) -> ESearchResult:
    """Read Count, WebEnv, QueryKey and error lists from an esearch XML body.

    Raises:
        PayloadError: The body is not an eSearchResult, or has neither Count nor ERROR.
    """
    root = parse_xml(body, what="esearch response")
    if root.tag != "eSearchResult":
        msg = f"esearch response has root <{root.tag}>, expected <eSearchResult>"
        raise PayloadError(msg)
    error = _text(root, "ERROR")
    count_text = _text(root, "Count")
    if count_text is None and error is None:
        msg = "esearch response has no <Count> and no <ERROR>"
        raise PayloadError(msg)
    try:
        count = int(count_text) if count_text is not None else 0
    except ValueError as exc:
        msg = f"esearch <Count> is not a number: {count_text!r}"
        raise PayloadError(msg) from exc
    return ESearchResult(
        count=count,
        webenv=_text(root, "WebEnv"),
        query_key=_text(root, "QueryKey"),
        errors=_list_entries(root.find("ErrorList")),
        warnings=_list_entries(root.find("WarningList")),
        error=error,
    )


def _list_entries(element: etree._Element | None) -> tuple[str, ...]:
    if element is None:
        return ()
    return tuple(f"{child.tag}: {inline_text(child) or ''}" for child in element
                 if isinstance(child.tag, str))


# --------------------------------------------------------------------------- efetch


class RecordError(ValueError):
    """One PubmedArticle cannot become a canonical row (the reason is the message)."""


def parse_pubmed(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one landed PubMed body.

    Args:
        body: The landed bytes.
        kind: "esearch" (paging envelope: no records) or "efetch" (PubmedArticleSet).
        url: The request URL (redacted); unused, part of the parser contract.
        raw_ref: Landing reference of the body; each record gets ``#<position>``.

    Returns:
        One row per PubmedArticle (and per DeleteCitation PMID); records that cannot be
        read become rejects with a reason.

    Raises:
        PayloadError: Unknown kind, malformed XML, or a body that is not a PubmedArticleSet.
    """
    del url
    if kind not in KINDS:
        msg = f"unknown pubmed body kind {kind!r}; known: {', '.join(sorted(KINDS))}"
        raise PayloadError(msg)
    if kind == "esearch":
        return ParsedPayload()
    root = parse_xml(body, what="efetch response")
    if root.tag != "PubmedArticleSet":
        detail = _text(root, "ERROR") or ""
        msg = f"efetch response has root <{root.tag}>, expected <PubmedArticleSet> {detail}"
        raise PayloadError(msg.strip())
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for position, element in enumerate(c for c in root if isinstance(c.tag, str)):
        ref = f"{raw_ref}#{position}"
        try:
            rows.extend(_record_rows(element, ref))
        except (RecordError, ValueError, TypeError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, RecordError) else f"{type(exc).__name__}: {exc}"
            payload = etree.tostring(element, encoding="unicode")[:MAX_REJECT_PAYLOAD]
            rejects.append(Reject(raw_ref=ref, reason=reason, payload=payload))
    return ParsedPayload.from_rows(rows, rejects)


def _record_rows(element: etree._Element, ref: str) -> list[dict[str, Any]]:
    if element.tag == "PubmedArticle":
        return [article_row(element, raw_ref=ref)]
    if element.tag == "DeleteCitation":
        pmids = [p for p in (_text(e) for e in element.findall("PMID")) if p]
        return [{"source": SOURCE, "source_id": p, "pmid": p, "is_deleted": True,
                 "url": RECORD_URL.format(pmid=p), "raw_ref": ref} for p in pmids]
    msg = f"unsupported record <{element.tag}> (only PubmedArticle and DeleteCitation)"
    raise RecordError(msg)


def article_row(article: etree._Element, *, raw_ref: str) -> dict[str, Any]:
    """Build the canonical row dict for one ``<PubmedArticle>``.

    Raises:
        RecordError: The record has no PMID or no title.
    """
    citation = article.find("MedlineCitation")
    if citation is None:
        msg = "PubmedArticle has no MedlineCitation"
        raise RecordError(msg)
    pmid = _text(citation, "PMID")
    if not pmid or not pmid.isdigit():
        msg = f"PubmedArticle has no valid PMID ({pmid!r})"
        raise RecordError(msg)
    art = citation.find("Article")
    if art is None:
        msg = f"PMID {pmid} has no Article element"
        raise RecordError(msg)
    journal = art.find("Journal")
    issue = journal.find("JournalIssue") if journal is not None else None
    title, title_zh = _titles(art)
    if not title and not title_zh:
        msg = f"PMID {pmid} has no title"
        raise RecordError(msg)
    abstract, abstract_zh = _abstracts(citation, art)
    published, precision = _published(issue, art)
    publication_types = _texts(art.iterfind("PublicationTypeList/PublicationType"))
    languages = _texts(art.iterfind("Language"))
    return {
        "source": SOURCE,
        "source_id": pmid,
        "pmid": pmid,
        "doi": _doi(article, art),
        "title": title,
        "title_zh": title_zh,
        "abstract": abstract,
        "abstract_zh": abstract_zh,
        "keywords": _unique(_texts(citation.iterfind("KeywordList/Keyword"))),
        "authors": _authors(art),
        "journal_issn": _issn(citation, journal),
        "journal_title": _text(journal, "Title"),
        "volume": _text(issue, "Volume"),
        "issue": _text(issue, "Issue"),
        "pages": _text(art, "Pagination/MedlinePgn"),
        "language": language_code(languages[0]) if languages else None,
        "published_date": published,
        "date_precision": precision,
        "received_date": _history_date(article, "received"),
        "online_date": _day_date(art.find("ArticleDate[@DateType='Electronic']")),
        "url": RECORD_URL.format(pmid=pmid),
        "subjects": _unique(
            _texts(citation.iterfind("MeshHeadingList/MeshHeading/DescriptorName"))
            + publication_types
        ),
        "is_deleted": bool(RETIRED_PUBLICATION_TYPES.intersection(publication_types)),
        "raw_ref": raw_ref,
    }


def language_code(value: str) -> str | None:
    """ISO 639-1 code for a PubMed ``<Language>`` value; unknown codes are kept as given."""
    code = value.strip().lower()
    return LANGUAGE_CODES.get(code, code or None)


def _texts(elements: Iterable[etree._Element]) -> list[str]:
    return [t for t in (inline_text(e) for e in elements) if t]


def _unique(values: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        if value.lower() not in seen:
            seen.add(value.lower())
            out.append(value)
    return out


def _titles(art: etree._Element) -> tuple[str | None, str | None]:
    title = _text(art, "ArticleTitle")
    if title:
        title = unbracket_title(title)
    vernacular = _text(art, "VernacularTitle")
    title_zh = vernacular if has_cjk(vernacular) else None
    if not title and vernacular and not title_zh:
        title = vernacular
    return title, title_zh


def unbracket_title(title: str) -> str:
    """Drop the brackets PubMed puts around translated titles ("[Title]." -> "Title").

    Only a bracket pair that encloses the whole title is removed ("[A] and [B]." is kept).
    """
    match = _BRACKETED.match(title)
    if not match:
        return title
    depth = 0
    for char in match.group(1):
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth < 0:
            return title
    return match.group(1).strip() if depth == 0 else title


def _abstracts(citation: etree._Element, art: etree._Element) -> tuple[str | None, str | None]:
    abstract = _abstract_text(art.find("Abstract"))
    abstract_zh = None
    for other in citation.iterfind("OtherAbstract"):
        text = _abstract_text(other)
        if text and (other.get("Language") == "chi" or has_cjk(text)):
            abstract_zh = text
            break
    return abstract, abstract_zh


def _abstract_text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    paragraphs: list[str] = []
    for section in element.iterfind("AbstractText"):
        text = inline_text(section)
        if not text:
            continue
        label = _clean(section.get("Label"))
        paragraphs.append(f"{label}: {text}" if label else text)
    return "\n\n".join(paragraphs) or None


def _doi(article: etree._Element, art: etree._Element) -> str | None:
    for element in article.iterfind("PubmedData/ArticleIdList/ArticleId[@IdType='doi']"):
        doi = normalise_doi(_text(element))
        if doi:
            return doi
    for element in art.iterfind("ELocationID[@EIdType='doi']"):
        if element.get("ValidYN", "Y") != "N":
            doi = normalise_doi(_text(element))
            if doi:
                return doi
    return None


def _issn(citation: etree._Element, journal: etree._Element | None) -> str | None:
    candidates = [_text(citation, "MedlineJournalInfo/ISSNLinking")]
    if journal is not None:
        candidates += [_text(e) for e in journal.iterfind("ISSN")]
    for candidate in candidates:
        issn = normalise_issn(candidate)
        if issn:
            return issn
    return None


def _authors(art: etree._Element) -> list[dict[str, str | None]]:
    authors: list[dict[str, str | None]] = []
    for author_list in art.iterfind("AuthorList"):
        if author_list.get("Type", "authors") != "authors":
            continue
        for author in author_list.iterfind("Author"):
            if author.get("ValidYN", "Y") == "N":
                continue
            parts = _children(author)
            name = inline_text(parts.get("CollectiveName")) or _person_name(parts)
            if not name:
                continue
            orcid = None
            for ident in author.iterfind("Identifier[@Source='ORCID']"):
                orcid = normalise_orcid(_text(ident))
                if orcid:
                    break
            affiliation = (_affiliation(_text(author, "AffiliationInfo/Affiliation"))
                           if "AffiliationInfo" in parts else None)
            authors.append({"name": name, "name_zh": None, "orcid": orcid,
                            "affiliation": affiliation})
    return authors


def _children(element: etree._Element) -> dict[str, etree._Element]:
    """The first child element of each tag (what ``element.find(tag)`` would return)."""
    first: dict[str, etree._Element] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag not in first:
            first[tag] = child
    return first


def _person_name(parts: dict[str, etree._Element]) -> str | None:
    fore = inline_text(parts.get("ForeName")) or inline_text(parts.get("Initials"))
    names = [fore, inline_text(parts.get("LastName")), inline_text(parts.get("Suffix"))]
    return " ".join(p for p in names if p) or None


def _affiliation(value: str | None) -> str | None:
    if not value:
        return None
    return _clean(_EMAIL.sub("", value).strip(" ;,"))


def _published(issue: etree._Element | None, art: etree._Element) -> tuple[date | None, str | None]:
    pub = issue.find("PubDate") if issue is not None else None
    if pub is not None:
        found = pub_date(pub)
        if found[0] is not None:
            return found
    electronic = _day_date(art.find("ArticleDate[@DateType='Electronic']"))
    return (electronic, "day") if electronic else (None, None)


def pub_date(pub: etree._Element) -> tuple[date | None, str | None]:
    """Date and precision of a ``<PubDate>`` (Year/Month/Day, Season or MedlineDate)."""
    year = _text(pub, "Year")
    if year and year.isdigit():
        month = _month(_text(pub, "Month"))
        day = _text(pub, "Day")
        if month is None:
            month = _season_month(_text(pub, "Season"))
        if month is None:
            return parse_partial_date(year)
        if day and day.isdigit():
            return parse_partial_date(f"{year}-{month:02d}-{int(day):02d}")
        return parse_partial_date(f"{year}-{month:02d}")
    return medline_date(_text(pub, "MedlineDate"))


def medline_date(value: str | None) -> tuple[date | None, str | None]:
    """Start of a free-text MedlineDate ("1998 Dec-1999 Jan", "2000 Spring", "1975-1976")."""
    if not value:
        return None, None
    match = _MEDLINE_DATE.search(value)
    if not match:
        return None, None
    year, month_name, day = match.groups()
    month = _month(month_name)
    if month is None:
        return parse_partial_date(year)
    if day:
        return parse_partial_date(f"{year}-{month:02d}-{int(day):02d}")
    return parse_partial_date(f"{year}-{month:02d}")


def _month(value: str | None) -> int | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        number = int(value)
        return number if 1 <= number <= 12 else None
    return MONTHS.get(value[:3].lower())


def _season_month(season: str | None) -> int | None:
    """First month of a Season written with month names ("Jan-Mar"); None for "Spring"."""
    if not season:
        return None
    return MONTHS.get(season.strip()[:3].lower())


def _day_date(element: etree._Element | None) -> date | None:
    if element is None:
        return None
    year, month, day = (_text(element, p) for p in ("Year", "Month", "Day"))
    if not (year and month and day and year.isdigit() and day.isdigit()):
        return None
    month_number = _month(month)
    if month_number is None:
        return None
    found, precision = parse_partial_date(f"{year}-{month_number:02d}-{int(day):02d}")
    return found if precision == "day" else None


def _history_date(article: etree._Element, status: str) -> date | None:
    return _day_date(article.find(f"PubmedData/History/PubMedPubDate[@PubStatus='{status}']"))
