"""Crossref REST API bodies (``work-list`` pages and single ``work`` answers) to canonical rows.

Pure: bytes in, :class:`~transforms.parsing.ParsedPayload` out. Error envelopes and bodies
that are not Crossref JSON raise :class:`~transforms.parsing.PayloadError`; a work that
cannot become a row (no DOI, no title, malformed fields) becomes a
:class:`~transforms.parsing.Reject` and the rest of the page goes on.

Field choices worth knowing:

- ``published_date``: the first usable date of ``issued``, ``published``,
  ``published-print``, ``published-online``, ``posted``; precision from the number of
  date-parts (``[[null]]`` means no date). Crossref pads year-only print dates to
  ``YYYY-01-01``: a 1 January date with no ``published-online`` is kept with precision
  ``year``. ``online_date`` is ``published-online`` when it has a day.
- ``journal_issn``: print ISSN, else electronic (``issn-type``), else the first valid one
  of ``ISSN``; always ``NNNN-NNNX`` with a valid check digit.
- ``abstract``: JATS to text; a repeated article title or "Abstract" heading is dropped,
  and a leading ``http://dx.doi.org/<own DOI>`` glued to the text is removed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

import orjson

from transforms.jats import jats_to_text, strip_inline_markup
from transforms.normalise import (
    normalise_doi,
    normalise_issn,
    normalise_orcid,
    parse_partial_date,
)
from transforms.parsing import ParsedPayload, PayloadError, Reject

SOURCE = "crossref"
#: ``kind`` values the Crossref source lands.
KINDS: frozenset[str] = frozenset({"works", "work"})
#: Date fields tried in order for ``published_date``.
DATE_FIELDS: tuple[str, ...] = ("issued", "published", "published-print", "published-online",
                                "posted")
SUPPORTED_MESSAGE_TYPES: tuple[str, ...] = ("work", "work-list")
ERROR_STATUSES: frozenset[str] = frozenset({"failed", "error"})
_REJECT_PAYLOAD_CHARS = 20_000


class RecordError(ValueError):
    """One work cannot become a canonical row."""


_BOM = b"\xef\xbb\xbf"
#: Digits to ``0``, every other byte to a space: a run of 20 zeros is a number orjson would
#: read as a float (it keeps integers only up to 64 bits).
_DIGIT_RUNS = bytes(b"0"[0] if chr(i).isdigit() and i < 128 else b" "[0] for i in range(256))
_LONG_NUMBER = b"0" * 20


def decode_json_body(body: bytes, *, provider: str, url: str) -> tuple[Any, bool]:
    """Decode a JSON body (UTF-8, BOM tolerated); also say whether its text is valid Unicode.

    orjson reads almost every body; what it refuses (lone surrogates such as ``"\\ud800"``,
    ``NaN``, invalid UTF-8) or would read differently (integers beyond 64 bits) is read by
    the standard library, which decides as before.

    Returns:
        (the decoded value, True when orjson read it: then no string in it holds a lone
        surrogate and :func:`rows_and_rejects` need not look for one).

    Raises:
        PayloadError: When the bytes are not UTF-8 JSON, with the start of the body shown.
    """
    if _LONG_NUMBER not in body.translate(_DIGIT_RUNS):
        try:
            return orjson.loads(body[3:] if body.startswith(_BOM) else body), True
        except orjson.JSONDecodeError:
            pass
    try:
        return json.loads(body.decode("utf-8-sig")), False
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        snippet = body[:120].decode("utf-8", "replace")
        msg = f"{provider} body from {url} is not JSON ({exc}); it starts with {snippet!r}"
        raise PayloadError(msg) from exc


def _envelope_messages(message: Any) -> str:
    """Readable text of a Crossref error ``message`` (a list of problems or an exception)."""
    if isinstance(message, list):
        parts = [
            f"{m.get('type', '?')}: {m.get('message', '')}".strip() if isinstance(m, dict)
            else str(m)
            for m in message
        ]
        return "; ".join(parts)
    if isinstance(message, dict):  # an exception: name/description/message/stack
        return str(message.get("description") or message.get("message") or message.get("name"))
    return str(message)[:300]


def work_items(envelope: Any, *, url: str) -> list[Any]:
    """The works inside a Crossref envelope.

    Raises:
        PayloadError: For error envelopes, unknown statuses/message types, or a missing
            ``items`` list.
    """
    if not isinstance(envelope, dict) or "message-type" not in envelope:
        msg = (f"Crossref body from {url} is not an API envelope "
               f"(no status/message-type; CSL-JSON or another format?)")
        raise PayloadError(msg)
    status = envelope.get("status")
    message_type = envelope.get("message-type")
    if status in ERROR_STATUSES:
        detail = _envelope_messages(envelope.get("message"))
        msg = f"Crossref error envelope from {url}: status {status!r}, {message_type}: {detail}"
        raise PayloadError(msg)
    if status != "ok":
        msg = (f"Crossref body from {url} has unknown status {status!r}; "
               "expected 'ok', 'failed' or 'error'")
        raise PayloadError(msg)
    if message_type not in SUPPORTED_MESSAGE_TYPES:
        msg = (f"Crossref body from {url} has message-type {message_type!r}; supported: "
               f"{', '.join(SUPPORTED_MESSAGE_TYPES)}")
        raise PayloadError(msg)
    message = envelope.get("message")
    if message_type == "work":
        return [message]
    items = message.get("items") if isinstance(message, dict) else None
    if not isinstance(items, list):
        raise PayloadError(f"Crossref work-list from {url} has no 'items' list")
    return items


#: A resolver prefix glued to the start of an abstract (the DOI itself is compared as text:
#: a pattern per DOI would be compiled for every record).
_GLUED_DOI_PREFIX = re.compile(r"(?i)^\s*(?:https?://(?:dx\.)?doi\.org/|doi:\s*)")
_BARE_DOI = re.compile(r"^10\.\d{4,9}/\S+$")


def bare_doi(value: Any) -> str | None:
    """A DOI field that is already bare (Crossref ``DOI``) lower-cased as is; else normalised.

    SICI DOIs contain ``<``, ``>`` and ``#``; they must not be cut at those characters.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text.lower() if _BARE_DOI.match(text) else normalise_doi(text)


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return value.strip() or None
    raise RecordError(f"expected text, got {type(value).__name__}")


def _first_text(values: Any) -> str | None:
    """First non-empty string of a Crossref list field (``title``, ``container-title``)."""
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list):
        return None
    for value in values:
        text = strip_inline_markup(value) if isinstance(value, str) else None
        if text:
            return text
    return None


def date_from_parts(value: Any) -> tuple[date | None, str | None]:
    """A Crossref date object (``{"date-parts": [[2021, 5]]}``) to (date, precision).

    ``[[null]]``, empty or non-numeric parts give ``(None, None)``.
    """
    if not isinstance(value, dict):
        return None, None
    parts = value.get("date-parts")
    if not (isinstance(parts, list) and parts and isinstance(parts[0], list)):
        return None, None
    numbers: list[int] = []
    for part in parts[0][:3]:
        try:
            numbers.append(int(part))
        except (TypeError, ValueError):
            break
    if not numbers:
        return None, None
    return parse_partial_date("-".join(f"{n:02d}" if i else str(n) for i, n in enumerate(numbers)))


def published(item: Mapping[str, Any]) -> tuple[date | None, str | None, date | None]:
    """``(published_date, date_precision, online_date)`` of a work."""
    online, online_precision = date_from_parts(item.get("published-online"))
    online_date = online if online_precision == "day" else None
    for field in DATE_FIELDS:
        when, precision = date_from_parts(item.get(field))
        if when is None:
            continue
        if precision == "day" and (when.month, when.day) == (1, 1) and online is None:
            precision = "year"  # print-only 1 January: a padded year
        return when, precision, online_date
    return None, None, online_date


def pick_issn(item: Mapping[str, Any]) -> str | None:
    """Print ISSN, else electronic, else the first valid ``ISSN`` entry."""
    typed: dict[str, str] = {}
    for entry in item.get("issn-type") or []:
        if isinstance(entry, dict) and isinstance(entry.get("value"), str):
            typed.setdefault(str(entry.get("type")), entry["value"])
    candidates = [typed.get("print"), typed.get("electronic"), *typed.values(),
                  *(v for v in item.get("ISSN") or [] if isinstance(v, str))]
    for candidate in candidates:
        issn = normalise_issn(candidate)
        if issn:
            return issn
    return None


def _authors(item: Mapping[str, Any]) -> list[dict[str, str | None]]:
    authors = []
    for person in item.get("author") or []:
        if not isinstance(person, dict):
            continue
        given, family = _text(person.get("given")), _text(person.get("family"))
        name = " ".join(p for p in (given, family) if p) or _text(person.get("name"))
        if not name:
            continue
        affiliation = None
        for aff in person.get("affiliation") or []:
            affiliation = _text(aff.get("name")) if isinstance(aff, dict) else None
            if affiliation:
                break
        orcid = person.get("ORCID")
        authors.append({
            "name": name,
            "name_zh": None,
            "orcid": normalise_orcid(orcid) if isinstance(orcid, str) else None,
            "affiliation": affiliation,
        })
    return authors


def _abstract(item: Mapping[str, Any], *, title: str, doi: str) -> str | None:
    raw = item.get("abstract")
    if not isinstance(raw, str):
        return None
    text = jats_to_text(raw, skip_headings=(title,))
    if text:
        glued = _GLUED_DOI_PREFIX.match(text)
        end = glued.end() + len(doi) if glued else 0
        if glued and text[glued.end():end].lower() == doi.lower():
            text = text[end:].strip() or None
    return text


def _keywords(item: Mapping[str, Any]) -> list[str]:
    subjects = item.get("subject") or []
    return [s.strip() for s in subjects if isinstance(s, str) and s.strip()]


def work_to_row(item: Any) -> dict[str, Any]:
    """One Crossref work to a canonical row (without ``raw_ref``).

    Raises:
        RecordError: The work has no DOI or no title, or a field has an impossible type.
    """
    if not isinstance(item, dict):
        raise RecordError(f"work is a {type(item).__name__}, not an object")
    raw_doi = item.get("DOI")
    doi = bare_doi(raw_doi)
    if not doi:
        raise RecordError(f"work has no usable DOI ({raw_doi!r})")
    title = _first_text(item.get("title"))
    if not title:
        raise RecordError(f"work {doi} has no title")
    published_date, precision, online_date = published(item)
    language = _text(item.get("language"))
    url = _text(item.get("URL")) or f"https://doi.org/{doi}"
    return {
        "source": SOURCE,
        "source_id": doi,
        "doi": doi,
        "title": title,
        "abstract": _abstract(item, title=title, doi=doi),
        "keywords": _keywords(item),
        "authors": _authors(item),
        "journal_issn": pick_issn(item),
        "journal_title": _first_text(item.get("container-title")),
        "volume": _text(item.get("volume")),
        "issue": _text(item.get("issue")),
        "pages": _text(item.get("page")),
        "language": language.lower() if language else None,
        "published_date": published_date,
        "date_precision": precision,
        "online_date": online_date,
        "url": url,
    }


def _payload_text(item: Any) -> str:
    try:
        return json.dumps(item, ensure_ascii=False)[:_REJECT_PAYLOAD_CHARS]
    except (TypeError, ValueError):
        return repr(item)[:_REJECT_PAYLOAD_CHARS]


def _invalid_text(value: Any, path: str = "") -> str | None:
    """The field holding text that is not valid Unicode (a lone surrogate), or None.

    JSON may spell such text (``"\\ud800"``); it cannot be stored (polars, the databases and
    UTF-8 all refuse it), so the record is rejected rather than the whole body.
    """
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "value"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, inner in items:
        found = _invalid_text(inner, f"{path}.{key}" if path else str(key))
        if found:
            return found
    return None


def rows_and_rejects(
    items: Sequence[Any], *, raw_ref: str, to_row: Callable[[Any], dict[str, Any]],
    check_text: bool = True,
) -> ParsedPayload:
    """Apply ``to_row`` to every item; failures become rejects, never a crash.

    ``check_text=False`` skips the search for lone surrogates, for items known to hold none
    (decoded by orjson, see :func:`decode_json_body`).
    """
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for position, item in enumerate(items):
        ref = f"{raw_ref}#{position}"
        try:
            row = to_row(item)
        except RecordError as exc:
            rejects.append(Reject(raw_ref=ref, reason=str(exc), payload=_payload_text(item)))
            continue
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            reason = f"malformed record ({type(exc).__name__}: {exc})"
            rejects.append(Reject(raw_ref=ref, reason=reason, payload=_payload_text(item)))
            continue
        invalid = _invalid_text(row) if check_text else None
        if invalid:
            reason = f"text that is not valid Unicode (a lone surrogate) in {invalid}"
            payload = _payload_text(item).encode("utf-8", "backslashreplace").decode("utf-8")
            rejects.append(Reject(raw_ref=ref, reason=reason, payload=payload))
            continue
        row["raw_ref"] = ref
        rows.append(row)
    return ParsedPayload.from_rows(rows, rejects)


def parse_crossref(body: bytes, *, kind: str, url: str, raw_ref: str) -> ParsedPayload:
    """Parse one landed Crossref body.

    Args:
        body: The response body exactly as landed.
        kind: What the source said the body is (``works`` or ``work``).
        url: The (redacted) request URL, for messages.
        raw_ref: The landed file reference; ``#<position>`` is appended per work.

    Returns:
        Canonical rows and the works that were rejected; empty for a zero-result page.

    Raises:
        PayloadError: Unknown ``kind``, a body that is not JSON, an error envelope, or a
            message type other than ``work``/``work-list``.
    """
    if kind not in KINDS:
        msg = f"Crossref parser got kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}"
        raise PayloadError(msg)
    envelope, is_valid_text = decode_json_body(body, provider="Crossref", url=url)
    return rows_and_rejects(work_items(envelope, url=url), raw_ref=raw_ref, to_row=work_to_row,
                            check_text=not is_valid_text)
