"""BibTeX exports (``.bib``), read one entry at a time so a broken entry does not sink the file.

A small reader for the BibTeX that reference managers and databases export:
``@type{key, field = {…} | "…" | 2024 | macro # …, …}``, ``@string`` macros (plus the
standard month macros), ``@comment``/``@preamble`` skipped, text outside entries ignored (as
BibTeX does). LaTeX accents and escapes become Unicode with bibtexparser's
``latex_to_unicode``. bibtexparser's own parser is not used: it silently drops entries it
cannot read and takes ~10 ms per entry, far too slow for exports of thousands of records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import pairwise

from bibtexparser.latexenc import latex_to_unicode

from transforms.bibliographic import join_pages
from transforms.files_records import BadRecord, Draft, split_authors

_ENTRY_START = re.compile(r"^\s*@", re.M)
_ENTRY_HEAD = re.compile(r"\s*@\s*([A-Za-z]+)\s*([{(])")
_KEY = re.compile(r"\s*([^,\s{}()=]*)\s*,")
_NAME = re.compile(r"\s*([A-Za-z][\w:.+/-]*)\s*")
_NUMBER = re.compile(r"\d+")
_SKIPPED_TYPES = frozenset({"comment", "preamble"})
_PAYLOAD_CHARS = 4000
MONTH_MACROS: dict[str, str] = {
    "jan": "January", "feb": "February", "mar": "March", "apr": "April", "may": "May",
    "jun": "June", "jul": "July", "aug": "August", "sep": "September", "oct": "October",
    "nov": "November", "dec": "December",
}


class _EntryError(ValueError):
    """One entry cannot be read (the reason is the message)."""


def _balanced(text: str) -> bool:
    depth = 0
    for ch in re.sub(r"\\[{}]", "", text):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def _delimited(text: str, i: int, closer: str) -> tuple[str, int]:
    """The text from ``i`` (just after an opening ``{`` or ``"``) to ``closer`` at depth 0."""
    depth = 0
    start = i
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == closer and depth == 0:
            return text[start:i], i + 1
        depth += {"{": 1, "}": -1}.get(ch, 0)
        i += 1
    raise _EntryError(f"value opened at offset {start - 1} is never closed")


def _value(text: str, i: int, macros: dict[str, str]) -> tuple[str, int]:
    """A field value: pieces (``{…}``, ``"…"``, number, macro) joined by ``#``."""
    parts: list[str] = []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        ch = text[i] if i < len(text) else ""
        if ch in "{\"":
            part, i = _delimited(text, i + 1, "}" if ch == "{" else '"')
        elif (number := _NUMBER.match(text, i)) is not None:
            part, i = number.group(0), number.end()
        elif (name := _NAME.match(text, i)) is not None:
            macro = name.group(1).lower()
            if macro not in macros:
                raise _EntryError(f"uses an undefined @string macro {macro!r}")
            part, i = macros[macro], name.end()
        else:
            raise _EntryError(f"expected a value at offset {i}")
        parts.append(part)
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "#":
            i += 1
            continue
        return "".join(parts), i


def _fields(text: str, i: int, closer: str, macros: dict[str, str]) -> dict[str, str]:
    """``name = value`` pairs from ``i`` up to the entry's closing character."""
    out: dict[str, str] = {}
    while True:
        while i < len(text) and (text[i].isspace() or text[i] == ","):
            i += 1
        if i >= len(text):
            raise _EntryError(f"is not closed by {closer!r}")
        if text[i] == closer:
            return out
        name = _NAME.match(text, i)
        if name is None or not text.startswith("=", name.end()):
            raise _EntryError(f"expected 'field = value' at offset {i}")
        value, i = _value(text, name.end() + 1, macros)
        out[name.group(1).lower()] = value


def _parse(chunk: str, macros: dict[str, str]) -> tuple[str, dict[str, str]]:
    head = _ENTRY_HEAD.match(chunk)
    if head is None:
        raise _EntryError("has no '@type{' header")
    kind, closer = head.group(1).lower(), "}" if head.group(2) == "{" else ")"
    i = head.end()
    if kind not in {"string", *_SKIPPED_TYPES}:
        key = _KEY.match(chunk, i)
        if key is None:
            raise _EntryError("has no citation key followed by ','")
        i = key.end()
    return kind, _fields(chunk, i, closer, macros)


def _plain(value: str | None) -> str | None:
    """LaTeX to Unicode, without the braces that protect capitals (``{AI}``)."""
    if not value:
        return None
    text = re.sub(r"[{}]", "", latex_to_unicode(value))
    return re.sub(r"\s+", " ", text).strip() or None


def read_bibtex(text: str) -> Iterator[Draft | BadRecord]:
    """Drafts of every entry (bad entries as :class:`BadRecord`), in file order."""
    starts = [m.start() for m in _ENTRY_START.finditer(text)]
    macros = dict(MONTH_MACROS)
    position = 0
    for a, b in pairwise([*starts, len(text)]):
        chunk = text[a:b].strip()
        head = _ENTRY_HEAD.match(chunk)
        kind = head.group(1).lower() if head else "?"
        if kind in _SKIPPED_TYPES:
            continue
        try:
            if not _balanced(chunk):
                raise _EntryError("has unbalanced braces")
            kind, fields = _parse(chunk, macros)
        except _EntryError as exc:
            if kind != "string":
                reason = f"BibTeX @{kind} entry {exc}"
                yield BadRecord(position, reason, chunk[:_PAYLOAD_CHARS])
                position += 1
            continue
        if kind == "string":
            macros.update(fields)
            continue
        yield _draft(fields, position, chunk[:_PAYLOAD_CHARS])
        position += 1


def _draft(entry: dict[str, str], position: int, payload: str) -> Draft:
    def get(name: str) -> str | None:
        return _plain(entry.get(name))

    def raw(name: str) -> str | None:
        """Identifiers and numbers: no LaTeX conversion (it would turn ``--`` into a dash)."""
        return re.sub(r"[{}]", "", entry.get(name) or "").strip() or None

    year, month = raw("year") or "", get("month") or ""
    dates = []
    if year and month:
        numeric = month.isascii() and month.isdigit()
        dates.append(f"{year}-{int(month):02d}" if numeric else f"{year} {month}")
    dates.append(year)
    start, _, end = (raw("pages") or "").partition("-")
    return Draft(
        position=position,
        payload=payload,
        titles=[t for t in (get("title"),) if t],
        abstracts=[a for a in (get("abstract"),) if a],
        authors=split_authors([a for a in re.split(r"\s+and\s+", get("author") or "")
                               if a.strip()]),
        # BibTeX keyword lists are comma-separated by convention.
        keywords=re.split(r"[,;]", get("keywords") or ""),
        journals=[j for j in (get("journal"), get("booktitle")) if j],
        dates=dates,
        dois=[d for d in (raw("doi"),) if d],
        issns=[i for i in (raw("issn"),) if i],
        urls=[u for u in (raw("url"),) if u],
        languages=[x for x in (get("language"),) if x],
        volume=raw("volume"),
        issue=raw("number"),
        pages=join_pages(start.strip("-"), end.strip("-")) or None,
        pmid=raw("pmid"),
    )
