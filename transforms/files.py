"""Exported files analysts already have, to canonical records.

Formats: RIS, BibTeX, PubMed MEDLINE, Web of Science plain text, Scopus CSV and CNKI's
RefWorks and EndNote exports. ``parse_file`` is the ``files`` source's parser: ``kind``
names the format, or ``"auto"`` to sniff it from the content and the file name at the end
of ``url``. Bytes are decoded by their byte-order mark, else as UTF-8, else as GB18030
(CNKI's GBK exports). One record that cannot be read becomes a
:class:`~transforms.parsing.Reject`; the others go on.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Callable, Iterator
from functools import partial
from urllib.parse import unquote, urlsplit

from transforms.files_bibtex import read_bibtex
from transforms.files_records import BadRecord, Draft, RecordError, finish_row
from transforms.files_scopus import read_scopus_csv
from transforms.files_tagged import TAGGED_FORMATS, read_tagged
from transforms.parsing import ParsedPayload, PayloadError, Reject

FORMATS: tuple[str, ...] = (
    "ris", "bibtex", "nbib", "wos", "scopus_csv", "cnki_refworks", "cnki_endnote",
)
AUTO = "auto"

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: Content signatures, checked in this order on the first lines of a file.
_SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ris", re.compile(r"^TY  ?- ", re.M)),
    ("nbib", re.compile(r"^PMID- ?\d", re.M)),
    ("wos", re.compile(r"^(?:FN (?:Clarivate|Thomson)|PT [A-Z]\s*$)", re.M)),
    ("cnki_endnote", re.compile(r"^%0 ", re.M)),
    ("cnki_refworks", re.compile(r"^RT \S", re.M)),
    ("bibtex", re.compile(r"^\s*@\s*[A-Za-z]+\s*[{(]", re.M)),
)
#: A CSV header with "Title" and one of these is a Scopus export.
_SCOPUS_MARKERS = frozenset({"Source title", "EID", "Authors", "Author full names"})
_EXTENSIONS = {".ris": "ris", ".bib": "bibtex", ".bibtex": "bibtex", ".nbib": "nbib",
               ".csv": "scopus_csv"}
_SNIFF_CHARS = 20000

Reader = Callable[[str], Iterator[Draft | BadRecord]]
_READERS: dict[str, Reader] = {
    "bibtex": read_bibtex,
    "scopus_csv": read_scopus_csv,
    **{fmt: partial(read_tagged, fmt=fmt) for fmt in TAGGED_FORMATS},
}


class UnknownFormatError(PayloadError):
    """The format of an exported file cannot be told (or was named wrongly)."""


def decode_body(body: bytes) -> tuple[str, str]:
    """Decode an exported file: BOM, then UTF-8, then GB18030 (a superset of GBK).

    Returns:
        The text and the encoding used.

    Raises:
        PayloadError: The bytes are none of these encodings.
    """
    for bom, encoding in _BOMS:
        if body.startswith(bom):
            try:
                return body[len(bom):].decode(encoding), encoding
            except UnicodeDecodeError as exc:
                msg = f"file starts with a {encoding} byte-order mark but is not {encoding}: {exc}"
                raise PayloadError(msg) from exc
    for encoding in ("utf-8", "gb18030"):
        try:
            return body.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    msg = "file is neither UTF-8 nor GB18030/GBK text (binary or another encoding?)"
    raise PayloadError(msg)


def detect_format(body: bytes, filename: str) -> str:
    """Tell an export's format from its first lines, else from the file extension.

    Args:
        body: The file's bytes.
        filename: Its name (only the extension is used, and only when the content is not
            recognised).

    Returns:
        One of :data:`FORMATS`.

    Raises:
        UnknownFormatError: Neither the content nor the extension says, with the supported
            formats listed.
        PayloadError: The bytes cannot be decoded.
    """
    return _detect(decode_body(body)[0], filename)


def _detect(text: str, filename: str) -> str:
    head = text[:_SNIFF_CHARS].replace("\r\n", "\n")
    for fmt, signature in _SIGNATURES:
        if signature.search(head):
            return fmt
    if _is_scopus_header(head.split("\n", 1)[0]):
        return "scopus_csv"
    suffix = re.search(r"\.[A-Za-z]+$", filename or "")
    if suffix and suffix.group(0).lower() in _EXTENSIONS:
        return _EXTENSIONS[suffix.group(0).lower()]
    msg = (f"cannot tell the export format of {filename or 'the file'!r} from its content or "
           f"name; supported formats: {', '.join(FORMATS)}")
    raise UnknownFormatError(msg)


def _is_scopus_header(line: str) -> bool:
    try:
        cells = {c.strip() for c in next(csv.reader([line]))}
    except (csv.Error, StopIteration):
        return False
    return "Title" in cells and bool(cells & _SCOPUS_MARKERS)


def _filename(url: str) -> str:
    path = urlsplit(url).path if "://" in url else url
    return unquote(path.replace("\\", "/").rsplit("/", 1)[-1])


def parse_file(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one exported file into canonical rows (``source="files"``).

    Args:
        body: The file's bytes as landed.
        kind: The format (one of :data:`FORMATS`) or ``"auto"``.
        url: Where the file came from (a path or ``file://`` URL); its name helps ``auto``.
        raw_ref: The landed file reference; ``#<position>`` is appended per record.

    Returns:
        One row per readable record (``source_id`` is the DOI, else a stable hash of
        format, title and year) and a reject per unreadable one.

    Raises:
        UnknownFormatError: ``kind`` is not a supported format, or ``auto`` cannot tell.
        PayloadError: The file cannot be decoded, or is not the named format at all.
    """
    if kind != AUTO and kind not in FORMATS:
        msg = f"unknown export format {kind!r}; supported: {', '.join(FORMATS)}, {AUTO}"
        raise UnknownFormatError(msg)
    text, _ = decode_body(body)
    fmt = _detect(text, _filename(url)) if kind == AUTO else kind
    rows: list[dict] = []
    rejects: list[Reject] = []
    for item in _READERS[fmt](text):
        ref = f"{raw_ref}#{item.position}"
        if isinstance(item, BadRecord):
            rejects.append(Reject(raw_ref=ref, reason=item.reason, payload=item.payload))
            continue
        try:
            rows.append(finish_row(item, fmt=fmt, raw_ref=ref))
        except RecordError as exc:
            rejects.append(Reject(raw_ref=ref, reason=str(exc), payload=item.payload))
    if not rows and not rejects:
        msg = f"no {fmt} records found in {_filename(url) or 'the file'}"
        raise PayloadError(msg)
    return ParsedPayload.from_rows(rows, rejects)
