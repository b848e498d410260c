"""arXiv API Atom feeds to canonical rows.

Choices: ``source_id`` is the arXiv id without its version ("2104.12255",
"astro-ph/0601001"); the version is not stored. Title and summary keep their LaTeX as text
with whitespace collapsed. ``published_date`` is the first version's submission day (UTC).
``journal_title`` stays null: a preprint is not a journal article, and ``arxiv:journal_ref``
is a free-text citation ("ActaAstron.56:1-50,2006") that is neither a journal title nor a
classification signal, so it is stored nowhere (it stays in the landed body; the published
version is matched through ``arxiv:doi``). ``subjects`` are the categories, primary first.
An error feed (HTTP 400 bodies: one entry titled "Error") is a :class:`ArxivFeedError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from transforms.normalise import normalise_doi
from transforms.parsing import ParsedPayload, PayloadError, Reject

# The safe XML policy (no network, no DTD, entity declarations refused) and the inline-text
# flattening are shared with the PubMed parser.
from transforms.pubmed import inline_text, parse_xml

SOURCE = "arxiv"
KINDS: frozenset[str] = frozenset({"atom"})
ABS_URL = "https://arxiv.org/abs/{id}"
LANGUAGE = "en"
NS = {
    "a": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "os": "http://a9.com/-/spec/opensearch/1.1/",
}
MAX_REJECT_PAYLOAD = 100_000

_NEW_ID = re.compile(r"^(\d{4}\.\d{4,5})(?:v(\d+))?$")
_OLD_ID = re.compile(r"^([a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(?:v(\d+))?$")
_ERROR_ID = re.compile(r"^https?://arxiv\.org/api/errors", re.I)


class ArxivFeedError(PayloadError):
    """The feed is arXiv's error report (e.g. "incorrect id format for abc")."""


class EntryError(ValueError):
    """One entry cannot become a canonical row (the reason is the message)."""


@dataclass(frozen=True)
class FeedPage:
    """What paging needs from one Atom page."""

    total: int
    start: int
    entries: int


def read_feed(body: bytes) -> FeedPage:
    """Read opensearch totals and the entry count of one API page.

    Raises:
        ArxivFeedError: The body is arXiv's error feed (message = the error summary).
        PayloadError: Not an Atom feed, or totalResults is missing.
    """
    root = _feed_root(body)
    total = _int(root.findtext("os:totalResults", namespaces=NS), "totalResults")
    start_text = root.findtext("os:startIndex", namespaces=NS)
    start = _int(start_text, "startIndex") if start_text is not None else 0
    return FeedPage(total=total, start=start, entries=len(root.findall("a:entry", NS)))


def parse_arxiv(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one landed arXiv Atom page into canonical rows.

    Args:
        body: The landed bytes.
        kind: "atom".
        url: The request URL; unused, part of the parser contract.
        raw_ref: Landing reference of the body; each entry gets ``#<position>``.

    Raises:
        ArxivFeedError: The body is an error feed.
        PayloadError: Unknown kind, malformed XML or not an Atom feed.
    """
    del url
    if kind not in KINDS:
        msg = f"unknown arxiv body kind {kind!r}; known: {', '.join(sorted(KINDS))}"
        raise PayloadError(msg)
    root = _feed_root(body)
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for position, entry in enumerate(root.iterfind("a:entry", NS)):
        ref = f"{raw_ref}#{position}"
        try:
            rows.append(entry_row(entry, raw_ref=ref))
        except (EntryError, ValueError, TypeError, AttributeError) as exc:
            reason = str(exc) if isinstance(exc, EntryError) else f"{type(exc).__name__}: {exc}"
            payload = etree.tostring(entry, encoding="unicode")[:MAX_REJECT_PAYLOAD]
            rejects.append(Reject(raw_ref=ref, reason=reason, payload=payload))
    return ParsedPayload.from_rows(rows, rejects)


def split_arxiv_id(value: str) -> tuple[str, int | None]:
    """Split an arXiv id or abs URL into (id without version, version).

    Raises:
        EntryError: Neither a new-style (2104.12255) nor an old-style (astro-ph/0601001) id.
    """
    text = value.strip()
    if "/abs/" in text:
        text = text.split("/abs/", 1)[1]
    for pattern in (_NEW_ID, _OLD_ID):
        match = pattern.match(text)
        if match:
            return match.group(1), int(match.group(2)) if match.group(2) else None
    msg = f"not an arXiv identifier: {value!r}"
    raise EntryError(msg)


def entry_row(entry: etree._Element, *, raw_ref: str) -> dict[str, Any]:
    """Build the canonical row dict for one Atom ``<entry>``.

    Raises:
        EntryError: No usable id, no title, or an unreadable published date.
    """
    raw_id = entry.findtext("a:id", namespaces=NS)
    if not raw_id:
        msg = "entry has no <id>"
        raise EntryError(msg)
    arxiv_id, _version = split_arxiv_id(raw_id)
    title = inline_text(entry.find("a:title", NS))
    if not title:
        msg = f"arXiv {arxiv_id} has no title"
        raise EntryError(msg)
    return {
        "source": SOURCE,
        "source_id": arxiv_id,
        "doi": normalise_doi(entry.findtext("arxiv:doi", namespaces=NS)),
        "title": title,
        "abstract": inline_text(entry.find("a:summary", NS)),
        "authors": [_author(a) for a in entry.iterfind("a:author", NS)
                    if inline_text(a.find("a:name", NS))],
        "language": LANGUAGE,
        "published_date": _day(entry.findtext("a:published", namespaces=NS), arxiv_id),
        "date_precision": "day",
        "url": ABS_URL.format(id=arxiv_id),
        "subjects": _categories(entry),
        "raw_ref": raw_ref,
    }


def _feed_root(body: bytes) -> etree._Element:
    root = parse_xml(body, what="arXiv API response")
    if root.tag != f"{{{NS['a']}}}feed":
        msg = f"arXiv API response has root <{root.tag}>, expected an Atom <feed>"
        raise PayloadError(msg)
    for entry in root.iterfind("a:entry", NS):
        entry_id = entry.findtext("a:id", default="", namespaces=NS)
        if _ERROR_ID.match(entry_id.strip()):
            summary = inline_text(entry.find("a:summary", NS)) or entry_id
            msg = f"arXiv API error: {summary}"
            raise ArxivFeedError(msg)
    return root


def _int(value: str | None, name: str) -> int:
    try:
        return int((value or "").strip())
    except ValueError as exc:
        msg = f"arXiv feed has no numeric opensearch:{name} ({value!r})"
        raise PayloadError(msg) from exc


def _author(author: etree._Element) -> dict[str, str | None]:
    return {
        "name": inline_text(author.find("a:name", NS)),
        "name_zh": None,
        "orcid": None,
        "affiliation": inline_text(author.find("arxiv:affiliation", NS)),
    }


def _categories(entry: etree._Element) -> list[str]:
    primary = entry.find("arxiv:primary_category", NS)
    terms = [primary.get("term")] if primary is not None else []
    terms += [c.get("term") for c in entry.iterfind("a:category", NS)]
    seen: list[str] = []
    for term in terms:
        if term and term.strip() and term.strip() not in seen:
            seen.append(term.strip())
    return seen


def _day(value: str | None, arxiv_id: str) -> date:
    try:
        return date.fromisoformat((value or "").strip()[:10])
    except ValueError as exc:
        msg = f"arXiv {arxiv_id} has no readable <published> ({value!r})"
        raise EntryError(msg) from exc
