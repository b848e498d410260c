"""OAI-PMH responses (ListRecords / GetRecord with ``oai_dc``) to canonical records.

The envelope reader (:func:`read_envelope`) is shared with ``sources.oai``, which needs the
error code and the resumption token to page. Records become one canonical row each; a
``status="deleted"`` header becomes a row with ``is_deleted`` set so the loader retires it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from lxml import etree

from transforms.bibliographic import (
    by_script,
    make_author,
    normalise_language,
    split_terms,
)
from transforms.normalise import (
    clean_text,
    has_cjk,
    normalise_doi,
    normalise_issn,
    parse_partial_date,
)
from transforms.parsing import ParsedPayload, PayloadError, Reject

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
NS = {"oai": OAI_NS, "oai_dc": OAI_DC_NS, "dc": DC_NS}

#: An OAI error that only says "nothing matched": an empty harvest, not a failure.
NO_RECORDS_MATCH = "noRecordsMatch"
SOURCE = "oai"
_REJECT_PAYLOAD_CHARS = 2000

_DOI_LINK = re.compile(r"^(?:https?://(?:dx\.)?doi\.org/|doi:|info:doi/)", re.I)
_BARE_DOI = re.compile(r"^10\.\d{4,9}/\S+$")
_ISSN_TEXT = re.compile(r"^\s*(?:e?issn[:\s]*)?(\d{4}-?\d{3}[\dXx])\s*$", re.I)
_VOLUME = re.compile(r"\bvol(?:ume)?\b\.?\s*(\w+)", re.I)
_ISSUE = re.compile(r"\b(?:no|num|issue|iss)\b\.?\s*(\w+)", re.I)
_PAGES = re.compile(r"(?:^|[\s:;,])p{0,2}\.?\s*(\d+\s*[-–]\s*\d+)\s*$")
_VOL_ISSUE_PAREN = re.compile(r",\s*(\w+)\s*\((\w+)\)")
_TIME_PART = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d")


class OaiEnvelopeError(PayloadError):
    """A body is not an OAI-PMH response (HTML, malformed XML, another XML vocabulary)."""


@dataclass(frozen=True)
class OaiEnvelope:
    """What a harvester needs from one OAI-PMH response."""

    errors: tuple[tuple[str, str], ...]  # (code, message) pairs, in document order
    resumption_token: str | None  # None when absent or empty: the list is complete
    complete_list_size: int | None
    root: etree._Element

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(code for code, _ in self.errors)

    @property
    def is_no_records_match(self) -> bool:
        return self.error_codes == (NO_RECORDS_MATCH,)


_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
    remove_comments=True,
)


def read_envelope(body: bytes) -> OaiEnvelope:
    """Parse an OAI-PMH response safely and read its errors and resumption token.

    Raises:
        OaiEnvelopeError: The body is not well-formed XML or not an OAI-PMH document.
    """
    text = body.lstrip()
    if not text:
        raise OaiEnvelopeError("empty body: not an OAI-PMH response")
    try:
        root = etree.fromstring(text, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        start = text[:80].decode("utf-8", "replace")
        hint = " (looks like HTML)" if re.match(r"(?is)\s*<(!doctype html|html)", start) else ""
        msg = f"not an OAI-PMH response: body is not well-formed XML{hint}: {exc}; starts {start!r}"
        raise OaiEnvelopeError(msg) from exc
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        names = ", ".join(sorted(e.name for e in dtd.iterentities()))
        msg = (f"not an OAI-PMH response we accept: it declares DTD entities ({names}); "
               "refused (OAI-PMH never needs them; they are how XXE and entity bombs start)")
        raise OaiEnvelopeError(msg)
    if root.tag != f"{{{OAI_NS}}}OAI-PMH":
        msg = f"not an OAI-PMH response: root element is {root.tag!r}, expected OAI-PMH"
        raise OaiEnvelopeError(msg)
    errors = tuple(
        (el.get("code") or "unknown", (el.text or "").strip())
        for el in root.iterfind("oai:error", NS)
    )
    token_el = root.find("oai:*/oai:resumptionToken", NS)
    token = (token_el.text or "").strip() if token_el is not None else ""
    size = token_el.get("completeListSize") if token_el is not None else None
    return OaiEnvelope(
        errors=errors,
        resumption_token=token or None,
        complete_list_size=int(size) if size and size.isdigit() else None,
        root=root,
    )


def parse_oai(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one OAI-PMH body (ListRecords or GetRecord, ``oai_dc``) into canonical rows.

    Args:
        body: The landed response body.
        kind: What the body was to the harvester (recorded, not interpreted).
        url: The request URL (for messages).
        raw_ref: The landed file reference; ``#<position>`` is appended per record.

    Returns:
        One row per ``<record>`` (deleted ones with ``is_deleted``), rejects for records that
        cannot be read. ``noRecordsMatch`` gives an empty payload.

    Raises:
        PayloadError: The body is not OAI-PMH, or it is an OAI error other than
            ``noRecordsMatch`` (the error code and message are in the message).
    """
    envelope = read_envelope(body)
    if envelope.is_no_records_match:
        return ParsedPayload()
    if envelope.errors:
        listed = "; ".join(f"{code}: {message}" if message else code
                           for code, message in envelope.errors)
        msg = f"OAI-PMH error response from {url} ({kind}): {listed}"
        raise PayloadError(msg)
    rows: list[dict] = []
    rejects: list[Reject] = []
    records = envelope.root.iterfind("oai:ListRecords/oai:record", NS)
    for position, record in enumerate(
        [*records, *envelope.root.iterfind("oai:GetRecord/oai:record", NS)]
    ):
        ref = f"{raw_ref}#{position}"
        try:
            rows.append(_record_row(record, ref))
        except _RecordError as exc:
            payload = etree.tostring(record, encoding="unicode")[:_REJECT_PAYLOAD_CHARS]
            rejects.append(Reject(raw_ref=ref, reason=str(exc), payload=payload))
    return ParsedPayload.from_rows(rows, rejects)


class _RecordError(ValueError):
    """One record cannot become a canonical row."""


def _texts(parent: etree._Element, name: str) -> list[str]:
    return [t for el in parent.iterfind(f"dc:{name}", NS) if (t := "".join(el.itertext()).strip())]


def _record_row(record: etree._Element, ref: str) -> dict:
    header = record.find("oai:header", NS)
    if header is None:
        raise _RecordError("record has no <header>")
    identifier = (header.findtext("oai:identifier", default="", namespaces=NS) or "").strip()
    if not identifier:
        raise _RecordError("record header has no <identifier>")
    deleted = header.get("status") == "deleted"
    row: dict = {"source": SOURCE, "source_id": identifier, "is_deleted": deleted,
                 "raw_ref": ref}
    metadata = record.find("oai:metadata", NS)
    dc = None if metadata is None else next(
        (child for child in metadata if isinstance(child.tag, str)), None)
    if dc is None:
        if deleted:
            return row
        raise _RecordError(f"record {identifier} has no <metadata> and is not deleted")
    if dc.tag != f"{{{OAI_DC_NS}}}dc":
        msg = f"record {identifier}: metadata is {dc.tag!r}, only oai_dc is supported"
        raise _RecordError(msg)
    row.update(_dc_fields(dc))
    if not deleted and not (row.get("title") or row.get("title_zh")):
        raise _RecordError(f"record {identifier} has no dc:title")
    return row


def _dc_fields(dc: etree._Element) -> dict:
    title, title_zh = by_script(_texts(dc, "title"))
    descriptions = [clean_text(d) for d in dict.fromkeys(_texts(dc, "description"))]
    latin = [d for d in descriptions if d and not has_cjk(d)]
    chinese = [d for d in descriptions if d and has_cjk(d)]
    identifiers = _texts(dc, "identifier")
    doi = _find_doi(identifiers) or _find_doi(_texts(dc, "relation"))
    published, precision = _publication_date(_texts(dc, "date"))
    subjects = split_terms(_texts(dc, "subject"))
    fields: dict = {
        # As for every source: ``title`` falls back to the Chinese title; ``title_zh``
        # always holds the Chinese one.
        "title": title or title_zh,
        "title_zh": title_zh,
        # Repositories repeat descriptions (abstract, notes, series statements): keep the
        # longest, which is the abstract in the records seen.
        "abstract": max(latin, key=len) if latin else None,
        "abstract_zh": max(chinese, key=len) if chinese else None,
        "authors": [a for n in _texts(dc, "creator") if (a := make_author(n))],
        "keywords": [s for s in subjects if _is_term(s)],
        "subjects": [s for s in subjects if not _is_term(s)],
        "doi": doi,
        "url": _find_url(identifiers, doi),
        "language": normalise_language(_texts(dc, "language")),
        "published_date": published,
        "date_precision": precision,
    }
    fields.update(_source_fields(_texts(dc, "source")))
    return fields


def _is_term(subject: str) -> bool:
    """Keywords have words; classification codes ("5001-6182", "M", "E 44") go to subjects."""
    return has_cjk(subject) or re.search(r"[^\W\d_]{3,}", subject) is not None


def _find_doi(values: list[str]) -> str | None:
    for value in values:
        text = value.strip()
        if _DOI_LINK.match(text) or _BARE_DOI.match(text):
            doi = normalise_doi(text)
            if doi:
                return doi
    return None


def _find_url(identifiers: list[str], doi: str | None) -> str | None:
    links = [i for i in identifiers if re.match(r"^https?://", i, re.I)]
    landing = [i for i in links if not _DOI_LINK.match(i)]
    if landing:
        return landing[0]
    if links:
        return links[0]
    return f"https://doi.org/{doi}" if doi else None


def _publication_date(values: list[str]) -> tuple[date | None, str | None]:
    """Date-only values are publication dates; datetimes are repository timestamps.

    DSpace lists accession and availability timestamps next to the issued date
    (``2003-07-14T10:28:26Z``, ``2003-07-14T10:28:26Z``, ``1997``): prefer the first
    value without a time, else the first value that parses.
    """
    ordered = [v for v in values if not _TIME_PART.match(v)] + [
        v for v in values if _TIME_PART.match(v)
    ]
    for value in ordered:
        parsed, precision = parse_partial_date(value)
        if parsed is not None:
            return parsed, precision
    return None, None


def _source_fields(sources: list[str]) -> dict:
    """Journal, ISSN, volume, issue and pages from ``dc:source``.

    OJS writes ``Journal; Vol. 12 No. 3 (2021); 45-56`` plus a separate ISSN value;
    Zenodo writes ``Cell Reports, 42(10), (2023-10-12)``.
    """
    out: dict = {}
    for value in sources:
        issn_match = _ISSN_TEXT.match(value)
        if issn_match:
            out.setdefault("journal_issn", normalise_issn(issn_match.group(1)))
            continue
        if "journal_title" in out:
            continue
        parts = [p.strip() for p in value.split(";") if p.strip()]
        if not parts:
            continue
        name, rest = parts[0], " ; ".join(parts[1:])
        paren = _VOL_ISSUE_PAREN.search(name)
        if paren:
            out["volume"], out["issue"] = paren.group(1), paren.group(2)
            name = name[: paren.start()]
        name = clean_text(name.strip(" ,")) or None
        out["journal_title"] = name
        if has_cjk(name):
            out["journal_title_zh"] = name
        if m := _VOLUME.search(rest):
            out.setdefault("volume", m.group(1))
        if m := _ISSUE.search(rest):
            out.setdefault("issue", m.group(1))
        if m := _PAGES.search(rest):
            out["pages"] = re.sub(r"\s*[-–]\s*", "-", m.group(1))
    return {k: v for k, v in out.items() if v is not None}
