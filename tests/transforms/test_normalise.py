from datetime import date

import polars as pl
import pytest

from transforms.canonical import to_canonical_frame
from transforms.normalise import (
    InvalidIdentifierError,
    clean_text,
    key_text,
    normalise_doi,
    normalise_issn,
    normalise_orcid,
    normalise_records,
    parse_partial_date,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("https://doi.org/10.3760/CMA.J.cn115259-20250317-00283",
     "10.3760/cma.j.cn115259-20250317-00283"),
    ("doi: 10.1371/journal.pone.0033693.", "10.1371/journal.pone.0033693"),
    ("http://dx.doi.org/10.1136/JCLINPATH-2020-206745", "10.1136/jclinpath-2020-206745"),
    ("not a doi", None),
    (None, None),
])
def test_normalise_doi(raw, expected):
    assert normalise_doi(raw) == expected


def test_normalise_issn_checks_the_check_digit():
    assert normalise_issn("1673677x") == "1673-677X"
    assert normalise_issn("0142-159X") == "0142-159X"
    assert normalise_issn("1673-6771") is None
    with pytest.raises(InvalidIdentifierError, match="check digit"):
        normalise_issn("1673-6771", strict=True)
    with pytest.raises(InvalidIdentifierError, match="malformed"):
        normalise_issn("ABC", strict=True)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2025-03-17", (date(2025, 3, 17), "day")),
    ("2025-03", (date(2025, 3, 1), "month")),
    ("2025", (date(2025, 1, 1), "year")),
    ("2025年3月17日", (date(2025, 3, 17), "day")),
    ("2013 Spring", (date(2013, 1, 1), "year")),
    ("1998 Dec-1999 Jan", (date(1998, 12, 1), "month")),
    ("2018-12-17-08:00", (date(2018, 12, 17), "day")),
    ("17 Mar 2020", (date(2020, 3, 17), "day")),
    ("2021-02-30", (date(2021, 2, 1), "month")),
    ("sometime", (None, None)),
])
def test_parse_partial_date_keeps_precision(raw, expected):
    assert parse_partial_date(raw) == expected


def test_clean_text_and_keys():
    assert clean_text("A &amp;amp; <i>B</i>\n  C") == "A & B C"
    assert clean_text("人工智能（AI）在医学教育中的应用") == "人工智能（AI）在医学教育中的应用"
    assert clean_text("ＡＩ ｔｕｔｏｒ") == "AI tutor"
    assert key_text("Application Progress, and Trends!") == key_text("application progress and trends")
    assert key_text("应用，进展") == "应用进展"
    assert normalise_orcid("https://orcid.org/0000-0002-1825-009x") == "0000-0002-1825-009X"


def test_normalise_records_frame():
    frame = to_canonical_frame([{
        "source": "x", "source_id": "1", "doi": " https://doi.org/10.1/ABC. ",
        "journal_issn": "1673677x", "title": " A  <b>title</b> ", "language": "EN",
        "keywords": [" AI ", "", "AI", "education"],
    }])
    row = normalise_records(frame).row(0, named=True)
    assert row["doi"] == "10.1/abc"
    assert row["journal_issn"] == "1673-677X"
    assert row["title"] == "A title"
    assert row["language"] == "en"
    assert row["keywords"] == ["AI", "education"]
    assert normalise_records(normalise_records(frame)).equals(normalise_records(frame))
    assert isinstance(normalise_records(frame).schema["published_date"], pl.Date)


def test_comparisons_in_abstracts_are_not_taken_for_tags():
    text = "lower (p<0.05) in group A; scores >3 were common <i>in vivo</i>"
    frame = to_canonical_frame([{"source": "x", "source_id": "1", "abstract": text}])
    assert normalise_records(frame).item(0, "abstract") == (
        "lower (p<0.05) in group A; scores >3 were common in vivo")
    assert clean_text(text) == "lower (p<0.05) in group A; scores >3 were common in vivo"


def test_language_labels_map_to_iso_639_1():
    frame = to_canonical_frame([
        {"source": "x", "source_id": str(i), "language": lang}
        for i, lang in enumerate(["eng", "EN_us", "chi", "ger", "nor", "ng", "und", "klingon"])
    ])
    assert normalise_records(frame).get_column("language").to_list() == [
        "en", "en", "zh", "de", "no", None, None, "klingon"]
