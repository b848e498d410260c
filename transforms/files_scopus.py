"""Scopus CSV exports (the "CSV" export of scopus.com, UTF-8 with a byte-order mark).

Column names are Scopus's own. Lists inside a cell are joined with ``"; "``; "Author full
names" adds the Scopus author id in brackets (``Smith, John (57190000001)``); "Authors with
affiliations" repeats each short name followed by its affiliation.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

from transforms.bibliographic import join_pages
from transforms.files_records import BadRecord, Draft, split_authors
from transforms.parsing import PayloadError

REQUIRED_COLUMNS: tuple[str, ...] = ("Title",)
_AUTHOR_ID = re.compile(r"\s*\(\d+\)\s*$")
_PAYLOAD_CHARS = 4000


def read_scopus_csv(text: str) -> Iterator[Draft | BadRecord]:
    """Drafts of every data row (bad rows as :class:`BadRecord`), in file order.

    Raises:
        PayloadError: The header lacks the columns every Scopus export has.
    """
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration as exc:
        raise PayloadError("Scopus CSV is empty: no header row") from exc
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        msg = (f"not a Scopus CSV export: missing column(s) {', '.join(missing)}; "
               f"header has {', '.join(header[:12]) or 'nothing'}")
        raise PayloadError(msg)
    position = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield BadRecord(position, f"unreadable CSV from row {position + 2} on: {exc}", "")
            return
        if not any(c.strip() for c in cells):
            continue
        payload = ",".join(cells)[:_PAYLOAD_CHARS]
        if len(cells) != len(header):
            reason = (f"row {position + 2} has {len(cells)} fields, "
                      f"the header has {len(header)}")
            yield BadRecord(position, reason, payload)
        else:
            yield _draft(dict(zip(header, cells, strict=True)), position, payload)
        position += 1


def _cell(row: dict[str, str], name: str) -> str | None:
    value = (row.get(name) or "").strip()
    return value or None


def _authors(row: dict[str, str]) -> list[dict]:
    full = _cell(row, "Author full names")
    names = ([_AUTHOR_ID.sub("", n) for n in full.split(";")] if full
             else (_cell(row, "Authors") or "").split(";"))
    names = [n.strip() for n in names if n.strip() and n.strip() != "[No author name available]"]
    authors = split_authors(names)
    with_places = [p.strip() for p in (_cell(row, "Authors with affiliations") or "").split(";")
                   if p.strip()]
    if len(with_places) == len(authors):
        for author, entry in zip(authors, with_places, strict=True):
            _, _, place = entry.partition(", ")
            author["affiliation"] = place.strip() or None
    return authors


def _draft(row: dict[str, str], position: int, payload: str) -> Draft:
    def one(*names: str) -> list[str]:
        return [v for n in names if (v := _cell(row, n))]

    return Draft(
        position=position,
        payload=payload,
        titles=one("Title"),
        abstracts=[a for a in one("Abstract") if a != "[No abstract available]"],
        authors=_authors(row),
        keywords=one("Author Keywords"),
        subjects=one("Index Keywords"),
        journals=one("Source title", "Abbreviated Source Title"),
        dates=one("Year"),
        dois=one("DOI"),
        issns=one("ISSN"),
        urls=one("Link"),
        languages=one("Language of Original Document"),
        volume=_cell(row, "Volume"),
        issue=_cell(row, "Issue"),
        pages=join_pages(_cell(row, "Page start"), _cell(row, "Page end"))
        or _cell(row, "Art. No."),
        pmid=_cell(row, "PubMed ID"),
    )

