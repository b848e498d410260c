"""Field helpers shared by the OAI-PMH and exported-file parsers.

Both kinds of input carry loosely structured bibliographic text: repeated titles in several
languages, keyword strings joined with assorted separators, free-form language labels and
dates. These helpers turn them into canonical values; they are pure and hold no state.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from transforms.normalise import clean_text, has_cjk, key_text, parse_partial_date

_LEADING_YEAR = re.compile(r"^\s*(\d{4})\b")
_TERM_SEPARATORS = re.compile(r"[;；，、]")
_TERM_SEPARATORS_WITH_COMMA = re.compile(r"[;；，、,]")


@cache
def language_codes() -> dict[str, str]:
    """The reviewed language-label map (``transforms/data/languages.json``)."""
    text = resources.files("transforms.data").joinpath("languages.json").read_text("utf-8")
    return json.loads(text)["codes"]


def normalise_language(values: Iterable[str | None]) -> str | None:
    """ISO 639-1 code of the first label the reviewed map knows, else the first label as given.

    Args:
        values: Language labels in source order (``eng``, ``en_US``, ``中文``, ``Chinese`` ...).

    Returns:
        ``"en"``, ``"zh"`` ... when a label is known; an unknown label unchanged (stripped);
        None when there is no label at all.
    """
    labels = [v.strip() for v in values if v and v.strip()]
    codes = language_codes()
    for label in labels:
        for part in _TERM_SEPARATORS.split(label):
            code = codes.get(part.strip().lower())
            if code:
                return code
    return labels[0] if labels else None


def split_terms(values: Iterable[str | None]) -> list[str]:
    """Split keyword strings on ``;`` and Chinese separators (``；，、``), trimmed, de-duplicated.

    ASCII commas split only Chinese text (CNKI joins Chinese keywords with them); English
    terms such as "Education, Medical" keep theirs.
    """
    out: list[str] = []
    seen: set[str] = set()
    for value in values:
        text = clean_text(value)
        if not text:
            continue
        pattern = _TERM_SEPARATORS_WITH_COMMA if has_cjk(text) else _TERM_SEPARATORS
        for term in pattern.split(text):
            term = term.strip(" .")
            if term and term.lower() not in seen:
                seen.add(term.lower())
                out.append(term)
    return out


def by_script(values: Iterable[str | None]) -> tuple[str | None, str | None]:
    """First non-Chinese and first Chinese text among ``values`` (cleaned).

    Returns:
        ``(other, chinese)``: e.g. ``(title, title_zh)``; either may be None.
    """
    other: str | None = None
    chinese: str | None = None
    for value in values:
        text = clean_text(value)
        if not text:
            continue
        if has_cjk(text):
            chinese = chinese or text
        else:
            other = other or text
    return other, chinese


def make_author(name: str | None, *, affiliation: str | None = None,
                orcid: str | None = None) -> dict[str, Any] | None:
    """An author struct; ``name`` as given, also in ``name_zh`` when written in Chinese."""
    text = clean_text(name)
    if not text:
        return None
    text = text.strip(" ;,")
    return {
        "name": text,
        "name_zh": text if has_cjk(text) else None,
        "orcid": orcid,
        "affiliation": clean_text(affiliation),
    }


def first_date(*candidates: str | None) -> tuple[date | None, str | None]:
    """The first candidate that parses as a (partial) date, with its precision.

    When none parses, a leading four-digit year (``2023 Spring``, ``2024 SPR``) gives a
    year-precision date.
    """
    for candidate in candidates:
        parsed, precision = parse_partial_date(candidate)
        if parsed is not None:
            return parsed, precision
    for candidate in candidates:
        match = _LEADING_YEAR.match(candidate or "")
        if match:
            parsed, precision = parse_partial_date(match.group(1))
            if parsed is not None:
                return parsed, precision
    return None, None


def join_pages(start: str | None, end: str | None) -> str | None:
    """``"12-18"`` from a first and last page; the first page alone when there is no end."""
    start = (start or "").strip() or None
    end = (end or "").strip() or None
    if start and end and end != start:
        return f"{start}-{end}"
    return start or end


def stable_id(*parts: object) -> str:
    """A short stable hash of the given parts (for records without a natural identifier)."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def title_key(title: str | None, title_zh: str | None) -> str:
    """Matching key of the Chinese title, else the other title (see :func:`key_text`)."""
    return key_text(title_zh) or key_text(title) or ""
