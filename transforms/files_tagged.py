"""Tagged-line export formats to drafts.

RIS, PubMed MEDLINE (.nbib), Web of Science plain text and CNKI's RefWorks and EndNote
exports all write one field per line as ``<tag><separator><value>``; they differ in the
tag pattern, how a value continues on the next line, and how a record starts and ends. Those
facts and the tag-to-field maps are data (``transforms/data/file_formats.json``); this module
splits records, collects tag values and applies the few per-format rules that are not a
plain map (MEDLINE per-author affiliations, WoS address blocks and split dates).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from transforms.bibliographic import join_pages, make_author
from transforms.files_records import BadRecord, Draft, split_authors
from transforms.normalise import clean_text, normalise_orcid
from transforms.parsing import PayloadError

TAGGED_FORMATS: tuple[str, ...] = ("ris", "nbib", "wos", "cnki_refworks", "cnki_endnote")
_PAYLOAD_CHARS = 4000
_LABELS = {"ris": "RIS", "nbib": "MEDLINE", "wos": "Web of Science",
           "cnki_refworks": "RefWorks", "cnki_endnote": "EndNote"}


@cache
def format_specs() -> dict[str, dict[str, Any]]:
    """The reviewed tag maps (``transforms/data/file_formats.json``)."""
    text = resources.files("transforms.data").joinpath("file_formats.json").read_text("utf-8")
    return {k: v for k, v in json.loads(text).items() if not k.startswith("_")}


@dataclass
class _Open:
    position: int
    first_line: int
    lines: list[str] = field(default_factory=list)
    fields: list[list[str]] = field(default_factory=list)  # [tag, value] in file order
    error: str | None = None


def split_records(text: str, fmt: str) -> Iterator[_Open | BadRecord]:
    """Split an export into records of ``[tag, value]`` pairs.

    Yields:
        Records in file order; a :class:`BadRecord` for text outside any record, for a
        record with a line the format does not allow, and for a record that is not closed
        by its end tag (a truncated file).

    Raises:
        PayloadError: The text holds no record at all (not this format).
    """
    spec = format_specs()[fmt]
    label = _LABELS[fmt]
    line_re = re.compile(spec["line"])
    cont_re = None if spec["continuation"] == "any" else re.compile(spec["continuation"])
    start, end = spec["start"], spec["end"]
    file_tags = set(spec.get("file_tags", []))
    list_tags = set(spec.get("list_tags", []))
    known = None
    if spec.get("known_tags_only"):
        known = {t for tags in spec["fields"].values() for t in tags} | set(spec["ignored_tags"])
    position = 0
    opened = 0
    current: _Open | None = None
    stray: list[str] = []

    def close(record: _Open, *, terminated: bool) -> _Open | BadRecord:
        if end and not terminated and record.error is None:
            record.error = (f"{label} record starting on line {record.first_line} is not "
                            f"closed by {end} (truncated file?)")
        if record.error:
            return BadRecord(record.position, record.error, _payload(record.lines))
        return record

    def flush_stray() -> BadRecord | None:
        nonlocal position
        if not stray:
            return None
        bad = BadRecord(position, f"text outside any {label} record", _payload(stray))
        position += 1
        stray.clear()
        return bad

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        match = line_re.match(line)
        tag = match.group(1).upper() if match else None
        if known is not None and tag not in known:
            match, tag = None, None
        if tag == start or tag in file_tags:
            if current is not None:
                yield close(current, terminated=False)
                current = None
            if (bad := flush_stray()) is not None:
                yield bad
            if tag in file_tags:
                continue
            current = _Open(position=position, first_line=number)
            position += 1
            opened += 1
        if current is None:
            stray.append(line)
            continue
        current.lines.append(line)
        if match:
            if end and tag == end:
                yield close(current, terminated=True)
                current = None
            else:
                current.fields.append([tag, (match.group(2) or "").strip()])
            continue
        cont = cont_re.match(line) if cont_re else re.match(r"^\s*(.*)$", line)
        if cont is None or not current.fields:
            current.error = current.error or (
                f"line {number} is not a {label} field: {line[:80]!r}")
            continue
        text_part = cont.group(1).strip()
        last = current.fields[-1]
        if last[0] in list_tags:
            current.fields.append([last[0], text_part])
        else:
            last[1] = f"{last[1]} {text_part}".strip()
    if current is not None:
        yield close(current, terminated=False)
    if not opened:
        msg = f"no {label} records: no line starts with the {start} tag"
        raise PayloadError(msg)
    if (bad := flush_stray()) is not None:
        yield bad


def _payload(lines: list[str]) -> str:
    return "\n".join(lines)[:_PAYLOAD_CHARS]


def read_tagged(text: str, fmt: str) -> Iterator[Draft | BadRecord]:
    """Drafts (or bad records) of every record in a tagged export of format ``fmt``."""
    spec = format_specs()[fmt]
    for item in split_records(text, fmt):
        if isinstance(item, BadRecord):
            yield item
            continue
        yield _draft(item, spec, fmt)


def _draft(record: _Open, spec: dict[str, Any], fmt: str) -> Draft:
    values: dict[str, list[str]] = defaultdict(list)
    for tag, value in record.fields:
        if value:
            values[tag].append(value)
    fields: dict[str, list[str]] = spec["fields"]

    def collect(name: str) -> list[str]:
        return [v for tag in fields.get(name, []) for v in values.get(tag, [])]

    def first(name: str) -> str | None:
        found = collect(name)
        return found[0] if found else None

    author_tag = next((t for t in fields.get("authors", []) if values.get(t)), None)
    draft = Draft(
        position=record.position,
        payload=_payload(record.lines),
        titles=collect("title"),
        abstracts=collect("abstract"),
        authors=split_authors(values.get(author_tag, []) if author_tag else [],
                              affiliations=collect("affiliation"),
                              shared_affiliation=spec.get("shared_affiliation", False)),
        keywords=collect("keywords"),
        subjects=collect("subjects"),
        journals=collect("journal"),
        dates=collect("date"),
        dois=collect("doi"),
        issns=collect("issn"),
        urls=collect("url"),
        languages=collect("language"),
        volume=first("volume"),
        issue=first("issue"),
        pages=first("pages") or join_pages(first("start_page"), first("end_page"))
        or first("article_number"),
        pmid=first("pmid"),
    )
    hook = _HOOKS.get(fmt)
    if hook:
        hook(draft, record.fields, values)
    return draft


def _medline(draft: Draft, pairs: list[list[str]], values: dict[str, list[str]]) -> None:
    """MEDLINE specifics that are not a plain tag map.

    AD and AUID follow the author they belong to; only ``[doi]`` ids are DOIs; the linking
    ISSN names the journal; MeSH terms lose the major-topic star and the qualifiers; NLM's
    closing period on titles is dropped.
    """
    name_tag = "FAU" if values.get("FAU") else "AU"
    authors: list[dict[str, Any]] = []
    for tag, value in pairs:
        if tag == name_tag and (author := make_author(value)):
            authors.append(author)
        elif tag == "AD" and authors and not authors[-1]["affiliation"]:
            authors[-1]["affiliation"] = clean_text(value)
        elif tag == "AUID" and authors and value.upper().startswith("ORCID"):
            authors[-1]["orcid"] = normalise_orcid(value)
    draft.authors = authors
    draft.dois = [v for v in draft.dois if v.rstrip().endswith("[doi]")]
    rank = {"linking": 0, "print": 1}
    draft.issns = sorted(draft.issns, key=lambda v: next(
        (r for label, r in rank.items() if label in v.lower()), len(rank)))
    draft.subjects = [s.lstrip("*").split("/")[0].strip() for s in draft.subjects]
    draft.titles = [t[:-1] if t.endswith(".") and not t.endswith("..") else t
                    for t in draft.titles]


_C1_NAMED = re.compile(r"^\[(?P<names>[^\]]+)\]\s*(?P<address>.+)$")


def _wos(draft: Draft, pairs: list[list[str]], values: dict[str, list[str]]) -> None:
    """WoS: C1 address blocks name their authors; OI pairs names with ORCIDs; PY + PD."""
    addresses: dict[str, str] = {}
    unnamed: list[str] = []
    for value in values.get("C1", []):
        match = _C1_NAMED.match(value)
        if not match:
            unnamed.append(value)
            continue
        for name in match.group("names").split(";"):
            addresses.setdefault(name.strip().lower(), match.group("address").strip())
    orcids: dict[str, str] = {}
    for chunk in " ".join(values.get("OI", [])).split(";"):
        name, _, ident = chunk.rpartition("/")
        if name.strip() and (orcid := normalise_orcid(ident)):
            orcids[name.strip().lower()] = orcid
    for author in draft.authors:
        key = author["name"].lower()
        author["affiliation"] = addresses.get(key) or (
            unnamed[0] if len(unnamed) == 1 and not addresses else None)
        author["orcid"] = orcids.get(key)
    year = (values.get("PY") or [""])[0]
    day = (values.get("PD") or [""])[0]
    if year and day:
        draft.dates = [f"{year} {day}", *draft.dates]


_HOOKS: dict[str, Callable[[Draft, list[list[str]], dict[str, list[str]]], None]] = {
    "nbib": _medline,
    "wos": _wos,
}
