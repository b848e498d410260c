"""Normalisation of identifiers, text and dates, as scalar helpers and as a frame pass.

Scalar helpers are used by parsers while building rows; :func:`normalise_records` is the
vectorised pass every parsed frame goes through before deduplication.
"""

from __future__ import annotations

import html
import json
import re
import unicodedata
from datetime import date
from functools import cache
from importlib import resources

import polars as pl

_DOI_PREFIX = re.compile(r"^\s*(?:https?://(?:dx\.)?doi\.org/|doi:\s*|info:doi/)", re.I)
_DOI_IN_TEXT = re.compile(r"\b(10\.\d{4,9}/[^\s\"'<>]+)", re.I)
_ISSN = re.compile(r"^(\d{4})-?(\d{3}[\dXx])$")
#: A markup tag (not "p<0.05 ... >3"): a letter right after '<' or '</', no '<' inside.
_TAG_PATTERN = r"</?[A-Za-z][A-Za-z0-9:_-]*(?:\s[^<>]*)?/?>"
_TAG = re.compile(_TAG_PATTERN)
_SPACE = re.compile(r"\s+")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ORCID = re.compile(r"(\d{4}-\d{4}-\d{4}-\d{3}[\dX])", re.I)

#: Full-width punctuation kept as CJK punctuation in Chinese text but mapped for keys.
_FULLWIDTH_KEY_MAP = str.maketrans({
    "，": ",", "。": ".", "：": ":", "；": ";", "（": "(", "）": ")", "“": '"', "”": '"',
    "‘": "'", "’": "'", "、": ",", "《": "<", "》": ">", "【": "[", "】": "]", "－": "-",
    "—": "-", "–": "-", "″": '"', "′": "'",
})

MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}


class InvalidIdentifierError(ValueError):
    """An identifier (DOI, ISSN) cannot be normalised."""


def normalise_doi(value: str | None) -> str | None:
    """Lower-case DOI without resolver prefix; None when there is no DOI in the value."""
    if not value:
        return None
    value = html.unescape(value.strip())
    value = _DOI_PREFIX.sub("", value)
    match = _DOI_IN_TEXT.search(value)
    if not match:
        return None
    return match.group(1).rstrip(".,;)").lower()


def issn_check_digit(first7: str) -> str:
    """The ISSN check character for the first seven digits."""
    total = sum(int(d) * w for d, w in zip(first7, range(8, 1, -1), strict=True))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def normalise_issn(value: str | None, *, strict: bool = False) -> str | None:
    """ISSN as NNNN-NNNX. Returns None (or raises with ``strict``) when malformed.

    Raises:
        InvalidIdentifierError: With ``strict``, for a malformed ISSN or a wrong check digit.
    """
    if not value:
        return None
    match = _ISSN.match(value.strip())
    if not match:
        if strict:
            raise InvalidIdentifierError(f"malformed ISSN {value!r}")
        return None
    digits = match.group(1) + match.group(2).upper()
    if issn_check_digit(digits[:7]) != digits[7]:
        if strict:
            raise InvalidIdentifierError(f"ISSN {value!r} has a wrong check digit")
        return None
    return f"{digits[:4]}-{digits[4:]}"


def normalise_orcid(value: str | None) -> str | None:
    """ORCID iD without URL, upper-case X."""
    if not value:
        return None
    match = _ORCID.search(value)
    return match.group(1).upper() if match else None


def clean_text(value: str | None) -> str | None:
    """NFKC-free cleanup for display text: unescape entities, strip tags, collapse spaces.

    Chinese full-width punctuation is kept (it is correct in Chinese text); NFKC is applied
    only to Latin compatibility characters via :func:`nfkc_latin`.
    """
    if value is None:
        return None
    text = html.unescape(html.unescape(value)) if "&" in value else value
    text = _TAG.sub(" ", text)
    text = nfkc_latin(text)
    text = _SPACE.sub(" ", text).strip()
    return text or None


def nfkc_latin(text: str) -> str:
    """NFKC for everything except CJK punctuation (，。：；（） stay full width in Chinese)."""
    if text.isascii():  # NFKC leaves ASCII as it is
        return text
    if not _CJK.search(text):
        return unicodedata.normalize("NFKC", text)
    keep = set("，。：；（）“”‘’、《》【】！？")
    return "".join(ch if ch in keep else unicodedata.normalize("NFKC", ch) for ch in text)


def has_cjk(value: str | None) -> bool:
    """True when the text contains Chinese characters."""
    return bool(value) and bool(_CJK.search(value))


def key_text(value: str | None) -> str | None:
    """A matching key for titles: NFKC, full-width to ASCII, lower-case, only letters/digits."""
    if not value:
        return None
    text = unicodedata.normalize("NFKC", value.translate(_FULLWIDTH_KEY_MAP)).lower()
    text = "".join(ch for ch in text if ch.isalnum())
    return text or None


def parse_partial_date(value: str | None) -> tuple[date | None, str | None]:
    """Parse '2025', '2025-03', '2025-03-17', '2025/3/17', '2025 Mar 17', '2018-12-17-08:00'.

    Returns:
        The date (padded to the first of the month/year) and its precision, or (None, None).
    """
    if not value:
        return None, None
    text = value.strip()
    m = re.match(r"^(\d{4})(?:[-/.年](\d{1,2})(?:[-/.月](\d{1,2}))?)?", text)
    if m and not re.match(r"^\d{4}\s+[A-Za-z]", text):
        year, month, day = int(m.group(1)), m.group(2), m.group(3)
        return _build_date(year, int(month) if month else None, int(day) if day else None)
    m = re.match(r"^(\d{4})\s+([A-Za-z]{3})[a-z]*\.?(?:\s+(\d{1,2}))?", text)
    if m and m.group(2).lower() in MONTHS:
        return _build_date(int(m.group(1)), MONTHS[m.group(2).lower()],
                           int(m.group(3)) if m.group(3) else None)
    m = re.match(r"^(\d{1,2})\s+([A-Za-z]{3})[a-z]*\.?\s+(\d{4})", text)
    if m and m.group(2).lower() in MONTHS:
        return _build_date(int(m.group(3)), MONTHS[m.group(2).lower()], int(m.group(1)))
    m = re.match(r"^([A-Za-z]{3})[a-z]*\.?\s+(\d{4})", text)
    if m and m.group(1).lower() in MONTHS:
        return _build_date(int(m.group(2)), MONTHS[m.group(1).lower()], None)
    m = re.match(r"^(\d{4})\b", text)  # "2013 Spring", "2013 Winter-2014": the year only
    if m:
        return _build_date(int(m.group(1)), None, None)
    return None, None


def _build_date(year: int, month: int | None, day: int | None) -> tuple[date | None, str | None]:
    if not 1000 <= year <= 2999:
        return None, None
    if month is None or not 1 <= month <= 12:
        return date(year, 1, 1), "year"
    if day is None:
        return date(year, month, 1), "month"
    try:
        return date(year, month, day), "day"
    except ValueError:
        return date(year, month, 1), "month"


@cache
def language_map() -> tuple[dict[str, str], frozenset[str]]:
    """The reviewed language-label map (``transforms/data/languages.json``) and the labels
    that mean "no language recorded"."""
    raw = json.loads(
        resources.files("transforms.data").joinpath("languages.json").read_text("utf-8"))
    return raw["codes"], frozenset(raw.get("unknown", []))


def normalise_records(frame: pl.DataFrame) -> pl.DataFrame:
    """Vectorised normalisation of a canonical frame (idempotent).

    DOI lower-case without resolver prefix; ISSN upper-case with hyphen; titles and
    abstracts with tags stripped and whitespace collapsed; empty strings to null;
    language labels mapped to ISO 639-1 with the reviewed map (unknown labels kept, so the
    expectations quarantine them visibly); keywords trimmed, de-duplicated and empties dropped.
    """
    text_cols = ["title", "title_zh", "abstract", "abstract_zh", "journal_title",
                 "journal_title_zh", "section", "volume", "issue", "pages"]
    exprs: list[pl.Expr] = [
        pl.col("doi").str.strip_chars()
        .str.replace(r"(?i)^(https?://(dx\.)?doi\.org/|doi:\s*|info:doi/)", "")
        .str.to_lowercase().str.strip_chars_end(".,;").alias("doi"),
        pl.col("journal_issn").str.strip_chars().str.to_uppercase()
        .str.replace(r"^(\d{4})(\d{3}[\dX])$", "$1-$2").alias("journal_issn"),
        pl.col("pmid").str.strip_chars().alias("pmid"),
    ]
    codes, unknown = language_map()
    language = pl.col("language").str.strip_chars().str.to_lowercase()
    exprs.append(
        pl.when(language.is_in(list(unknown))).then(None)
        .otherwise(language.replace(codes)).alias("language")
    )
    paragraphs = {"abstract", "abstract_zh"}  # keep paragraph breaks, fold other spaces
    exprs += [
        pl.col(c).str.replace_all(_TAG_PATTERN, " ")
        .str.replace_all(r"[ \t\r\f\v]*\n\s*" if c in paragraphs else r"\s+",
                         "\n" if c in paragraphs else " ")
        .str.replace_all(r"[ \t\r\f\v]+", " ")
        .str.strip_chars().alias(c)
        for c in text_cols
    ]
    out = frame.with_columns(exprs)
    out = out.with_columns(
        [pl.when(pl.col(c).str.len_chars() == 0).then(None).otherwise(pl.col(c)).alias(c)
         for c in ["doi", "journal_issn", "pmid", "language", *text_cols]]
    )
    return out.with_columns(
        pl.col("keywords").list.eval(
            pl.element().str.replace_all(r"\s+", " ").str.strip_chars()
            .filter(pl.element().str.len_chars() > 0)
        ).list.unique(maintain_order=True).alias("keywords"),
    )
