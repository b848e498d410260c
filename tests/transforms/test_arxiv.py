"""parse_arxiv on real arXiv API Atom pages (tests/fixtures/arxiv)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from transforms.arxiv import (
    ArxivFeedError,
    EntryError,
    parse_arxiv,
    read_feed,
    split_arxiv_id,
)
from transforms.canonical import CANONICAL_SCHEMA
from transforms.parsing import PayloadError, get_parser

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
REF = "landing/arxiv/2026-01-01/b1/00000.xml"


def _body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _parse(body: bytes, kind: str = "atom"):
    return parse_arxiv(body, kind=kind, url="https://example.test/api/query", raw_ref=REF)


def _row(name: str) -> dict:
    parsed = _parse(_body(name))
    assert parsed.rejects == []
    assert parsed.records.height == 1
    return parsed.records.row(0, named=True)


def test_registry_points_at_this_parser() -> None:
    assert get_parser("arxiv") is parse_arxiv


def test_old_style_id_with_journal_ref_and_affiliations() -> None:
    row = _row("query_id_list_astro-ph_0601001_old_id_journal_ref_affiliation.xml")
    assert row["source"] == "arxiv"
    assert row["source_id"] == "astro-ph/0601001"
    assert row["url"] == "https://arxiv.org/abs/astro-ph/0601001"
    assert [(a["name"], a["affiliation"]) for a in row["authors"]] == [
        ("Andrew Gould", "Ohio State"), ("Susan Dorsher", "Ohio State"),
        ("B. Scott Gaudi", "CfA"), ("Andrzej Udalski", "Warsaw University Observatory")]
    # journal_ref is stored nowhere; a preprint has no journal title.
    assert row["journal_title"] is None
    assert "ActaAstron" not in repr(row)
    assert row["abstract"].startswith("We derive the frequencies of hot Jupiters")
    assert "limit of V_max<17.5. Hence" in row["abstract"]
    assert "(1/310)(1^{+1.39}_{-0.59})" in row["abstract"]
    assert (row["published_date"], row["date_precision"]) == (date(2006, 1, 2), "day")
    assert row["subjects"] == ["astro-ph"]
    assert row["language"] == "en"
    assert row["doi"] is None
    assert row["raw_ref"] == f"{REF}#0"


def test_versioned_new_style_id_keeps_the_version_out_and_latex_as_text() -> None:
    row = _row("query_id_list_2104.12255v1_versioned_latex.xml")
    assert row["source_id"] == "2104.12255"
    assert row["url"] == "https://arxiv.org/abs/2104.12255"
    assert "v1" not in row["source_id"] + row["url"]
    assert row["title"] == "0"
    assert "awarded $35,000 in total" in row["abstract"]
    assert row["subjects"] == ["cs.CR"]
    assert row["authors"][0]["name"] == "Quan Thoi Minh Nguyen"


def test_versioned_old_style_id_and_category_order() -> None:
    row = _row("query_id_list_quant-ph_0201082v1_versioned_old_id.xml")
    assert row["source_id"] == "quant-ph/0201082"
    assert row["subjects"] == ["quant-ph", "cs.PL"]  # primary first, then the others
    assert row["published_date"] == date(2002, 1, 18)


def test_non_ascii_author_and_many_authors() -> None:
    row = _row("query_id_list_1707.08567_non_ascii_author.xml")
    names = [a["name"] for a in row["authors"]]
    assert len(names) == 34
    assert "Dirk Wübben" in names
    assert all(a["affiliation"] is None and a["orcid"] is None for a in row["authors"])


def test_search_page_with_dois_and_accents() -> None:
    parsed = _parse(_body("query_search_testing_start0_max10_page1.xml"))
    frame = parsed.records
    assert frame.height == 10 and parsed.rejects == []
    assert frame.schema == pl.Schema(CANONICAL_SCHEMA)
    first = frame.row(0, named=True)
    assert first["source_id"] == "2202.12139"
    assert first["doi"] == "10.1109/icstw55395.2022.00035"
    assert first["subjects"] == ["cs.SE", "cs.LG"]
    assert frame["journal_title"].null_count() == 10
    assert frame["raw_ref"].to_list()[-1] == f"{REF}#9"
    names = {a["name"] for authors in frame["authors"].to_list() for a in authors}
    assert {"Aurora Ramírez", "José Raúl Romero"} <= names
    assert frame["content_hash"].n_unique() == 10


def test_second_page_keeps_greek_letters_in_latex() -> None:
    frame = _parse(_body("query_search_testing_start10_max10_page2.xml")).records
    assert frame.height == 10
    first = frame.row(0, named=True)
    assert first["source_id"] == "2403.16981"
    assert "type-I error at most $α$" in first["abstract"]
    assert "\n" not in first["abstract"]
    assert frame.filter(pl.col("doi") == "10.1145/3679006.3685071").height == 1


def test_id_list_with_one_missing_id_gives_the_one_entry() -> None:
    row = _row("query_id_list_two_ids_one_missing.xml")
    assert row["source_id"] == "1707.08567"


def test_zero_results_feed_is_empty() -> None:
    parsed = _parse(_body("query_id_list_0000.0000_zero_results.xml"))
    assert parsed.records.height == 0 and parsed.rejects == []


def test_error_feed_is_a_payload_error_with_the_message() -> None:
    with pytest.raises(ArxivFeedError, match="incorrect id format for abc"):
        _parse(_body("error_400_query_id_list_abc_incorrect_id_format.xml"))


def test_bad_entry_is_rejected_and_the_others_kept() -> None:
    body = _body("query_search_testing_start0_max10_page1.xml").replace(
        b"<id>http://arxiv.org/abs/2202.12139v1</id>", b"<id>http://arxiv.org/abs/nonsense</id>")
    parsed = _parse(body)
    assert parsed.records.height == 9
    [reject] = parsed.rejects
    assert reject.raw_ref == f"{REF}#0"
    assert "not an arXiv identifier" in reject.reason
    assert "Testing Deep Learning Models" in reject.payload


def test_entry_without_published_date_is_rejected() -> None:
    body = _body("query_id_list_1605.08386_single.xml").replace(
        b"<published>2016-05-26T17:59:46Z</published>", b"")
    parsed = _parse(body)
    assert parsed.records.height == 0
    assert "no readable <published>" in parsed.rejects[0].reason


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_body("query_id_list_1605.08386_single.xml")[:900], "not well-formed"),
        (b"<rss><channel/></rss>", "expected an Atom <feed>"),
        (b'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x "xx"><!ENTITY y "&x;&x;">]>'
         b'<feed xmlns="http://www.w3.org/2005/Atom">&y;</feed>', "declares DTD entities"),
    ],
    ids=["truncated", "not-atom", "entity-bomb"],
)
def test_unparseable_bodies_raise_payload_error(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        _parse(body)


def test_unknown_kind_fails_with_known_kinds_listed() -> None:
    with pytest.raises(PayloadError, match="known: atom"):
        _parse(_body("query_id_list_1605.08386_single.xml"), kind="rss")


def test_read_feed_totals() -> None:
    page = read_feed(_body("query_search_testing_start10_max10_page2.xml"))
    assert (page.total, page.start, page.entries) == (214881, 10, 10)
    empty = read_feed(_body("handmade_query_search_testing_start10_empty_page.xml"))
    assert (empty.total, empty.start, empty.entries) == (214881, 10, 0)
    with pytest.raises(ArxivFeedError):
        read_feed(_body("error_400_query_id_list_abc_incorrect_id_format.xml"))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://arxiv.org/abs/2104.12255v1", ("2104.12255", 1)),
        ("https://arxiv.org/abs/2405.13786v12", ("2405.13786", 12)),
        ("0704.0001", ("0704.0001", None)),
        ("http://arxiv.org/abs/astro-ph/0601001v1", ("astro-ph/0601001", 1)),
        ("math.CO/0309136v2", ("math.CO/0309136", 2)),
        ("quant-ph/0201082", ("quant-ph/0201082", None)),
    ],
)
def test_split_arxiv_id(value: str, expected: tuple[str, int | None]) -> None:
    assert split_arxiv_id(value) == expected


@pytest.mark.parametrize("value", ["abc", "https://arxiv.org/api/errors#x", "2104.123", ""])
def test_split_arxiv_id_rejects_non_ids(value: str) -> None:
    with pytest.raises(EntryError):
        split_arxiv_id(value)
