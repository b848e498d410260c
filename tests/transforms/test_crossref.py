"""Crossref bodies to canonical rows, on real recorded responses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from transforms.canonical import CANONICAL_SCHEMA
from transforms.crossref import date_from_parts, parse_crossref
from transforms.parsing import PayloadError, get_parser

FIXTURES = Path(__file__).parent.parent / "fixtures" / "crossref"
URL = "https://api.crossref.org/works?query=widget"
REF = "landing/crossref/2026-03-01/batch/00000.json"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(data: bytes, kind: str = "works") -> Any:
    return parse_crossref(data, kind=kind, url=URL, raw_ref=REF)


def by_doi(frame: pl.DataFrame, doi: str) -> dict[str, Any]:
    rows = frame.filter(pl.col("doi") == doi).to_dicts()
    assert len(rows) == 1, doi
    return rows[0]


def test_registered_in_parser_registry() -> None:
    assert get_parser("crossref") is parse_crossref


def test_single_work_with_structured_jats_abstract() -> None:
    parsed = parse(body("works_single_10.1136_jclinpath-2020-206745_jats_abstract.json"), "work")
    assert parsed.rejects == []
    assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)
    row = parsed.records.row(0, named=True)
    assert row["source"] == "crossref"
    assert row["doi"] == row["source_id"] == "10.1136/jclinpath-2020-206745"
    assert row["title"] == ("Construction of a reference material panel for detecting KRAS / NRAS"
                            " / EGFR / BRAF / MET mutations in plasma ctDNA")
    assert row["abstract"].startswith("Background: The absence of high-quality")
    assert "\nObjective: This study aimed" in row["abstract"]
    assert "<" not in row["abstract"]
    assert len(row["authors"]) == 15
    assert row["authors"][0] == {
        "name": "Jun Xu", "name_zh": None, "orcid": None,
        "affiliation": ("Department of Neurosurgery, China-Japan Friendship Hospital, "
                        "Beijing, China"),
    }
    assert row["authors"][13]["orcid"] == "0000-0002-3513-6501"
    assert row["journal_issn"] == "0021-9746"  # print preferred over electronic 1472-4146
    assert row["journal_title"] == "Journal of Clinical Pathology"
    assert (row["volume"], row["issue"], row["pages"]) == ("74", "5", "314-320")
    # issued (= published-online) 2020-08-17 wins over published-print 2021-05
    assert (row["published_date"], row["date_precision"]) == (date(2020, 8, 17), "day")
    assert row["online_date"] == date(2020, 8, 17)
    assert row["language"] == "en"
    assert row["url"] == "https://doi.org/10.1136/jclinpath-2020-206745"
    assert row["raw_ref"] == f"{REF}#0"
    assert len(row["content_hash"]) == 64


def test_inline_markup_in_title_and_null_dates_in_sample() -> None:
    records = parse(body("works_list_sample10_mixed_languages.json")).records
    assert records.height == 10
    styrene = by_doi(records, "10.1246/bcsj.36.278")
    assert styrene["title"] == ("The Cationic Copolymerization of Styrene and p-Brornostyrene in "
                                "Liquid Sulfur Dioxide")
    no_date = by_doi(records, "10.1007/978-3-531-91346-9_6")  # issued [[null]]
    assert no_date["published_date"] is None and no_date["date_precision"] is None
    assert no_date["language"] == "de"
    month = by_doi(records, "10.1016/s1532-0464(03)00128-x")
    assert (month["published_date"], month["date_precision"]) == (date(2003, 8, 1), "month")
    assert sorted(records["language"].drop_nulls().unique()) == ["de", "en"]
    assert records["raw_ref"].to_list() == [f"{REF}#{i}" for i in range(10)]


def test_proceedings_article_without_any_date() -> None:
    records = parse(body(
        "works_single_10.1109_icdcsw.2003.1203662_proceedings_no_language.json"), "work").records
    row = records.row(0, named=True)
    assert row["published_date"] is None and row["date_precision"] is None
    assert row["language"] is None and row["journal_issn"] is None
    assert row["pages"] == "877-882"


def test_cursor_page_with_two_null_dates_and_books() -> None:
    records = parse(body("works_list_cursor_page1_query_widget.json")).records
    assert records.height == 20
    assert records["published_date"].null_count() == 2
    year_only = by_doi(records, "10.1007/978-1-4842-6700-4_5")
    assert (year_only["published_date"], year_only["date_precision"]) == (date(2020, 1, 1), "year")


def test_padded_print_only_dates_are_year_precision() -> None:
    records = parse(body("journals_1803-2427_works.json")).records
    assert records.height == 20
    assert set(records["date_precision"]) == {"year"}
    assert set(records["journal_issn"]) == {"1803-2427"}
    first = by_doi(records, "10.2478/v10285-012-0015-2")
    # the abstract repeated the article title as its heading: dropped
    assert first["abstract"].startswith("Have we still got time for sustainability")
    assert records["language"].null_count() == 20


def test_peerj_escaped_entities_and_newline_title() -> None:
    records = parse(body("journals_2167-8359_works_filter_journal-article_query_fish.json")).records
    assert records.height == 20
    row = by_doi(records, "10.7717/peerj.15141")
    assert "(p < 0.01)" in row["abstract"] and "&lt;" not in row["abstract"]
    title = by_doi(records, "10.7717/peerj.14688")["title"]
    assert title.startswith("Feeding habits of four-finger threadfin fish, Eleutheronema "
                            "tetradactylum, and its diet")
    assert "\n" not in title and "  " not in title
    assert by_doi(records, "10.7717/peerj.5956")["authors"][0]["orcid"] == "0000-0002-0989-4587"


def test_portuguese_jats_orcids_and_glued_doi_prefix() -> None:
    records = parse(body("works_list_publisher_UFSM_portuguese_jats.json")).records
    assert records.height == 20
    glued = by_doi(records, "10.5902/2179460x14555")
    assert glued["abstract"].startswith("By teaching Analytic Geometry")
    editorial = by_doi(records, "10.5902/2526629264582")
    assert editorial["title"] == "EDITORIAL" and editorial["abstract"] is None
    first = by_doi(records, "10.5902/2175497775344")
    assert first["authors"][0]["orcid"] == "0000-0003-2035-6832"
    assert first["journal_issn"] == "1677-907X"  # print ISSN, upper-case check character


def test_plain_text_abstracts_and_select_fields() -> None:
    plain = parse(body("works_list_query_ecology_rows2_plain_abstract.json")).records
    assert plain["abstract"].str.starts_with("Communication is perhaps").to_list()[0]
    selected = parse(body("works_list_select_DOI_title.json")).records
    assert selected.height == 20
    assert selected["journal_issn"].null_count() == 20
    assert selected["authors"].list.len().sum() == 0


def test_sparse_and_peer_review_records() -> None:
    sparse = parse(body("works_single_10.3892_ijo_00000353_sparse_metadata.json"), "work").records
    assert sparse.row(0, named=True)["authors"][0]["name"] == "Stravopodis"
    review = parse(body(
        "works_single_10.7287_peerj.3819v0.1_reviews_2_peer-review_escaped_slashes.json"),
        "work").records
    assert review["doi"].to_list() == ["10.7287/peerj.3819v0.1/reviews/2"]


def test_online_only_publication() -> None:
    row = parse(body("works_single_10.1371_journal.pone.0033693.json"), "work").records.row(
        0, named=True)
    assert (row["published_date"], row["date_precision"]) == (date(2012, 3, 21), "day")
    assert row["journal_issn"] == "1932-6203" and row["pages"] == "e33693"


def test_zero_results_is_an_empty_payload() -> None:
    parsed = parse(body("works_list_query_adfaaf_zero_results.json"))
    assert parsed.records.height == 0 and parsed.rejects == []
    assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)


def _mutated(name: str, change: Any) -> bytes:
    envelope = json.loads(body(name))
    change(envelope["message"]["items"])
    return json.dumps(envelope).encode()


def test_items_without_doi_or_title_are_rejected_not_fatal() -> None:
    def damage(items: list[Any]) -> None:
        del items[0]["DOI"]
        items[1]["title"] = []
        items[2] = "not an object"
        items[3]["volume"] = {"weird": True}
        items[4]["subject"] = ["Education", " ", "Artificial Intelligence"]

    parsed = parse(_mutated("works_list_cursor_page1_query_widget.json", damage))
    assert parsed.records.height == 16
    reasons = {r.raw_ref: r.reason for r in parsed.rejects}
    assert set(reasons) == {f"{REF}#0", f"{REF}#1", f"{REF}#2", f"{REF}#3"}
    assert "no usable DOI" in reasons[f"{REF}#0"]
    assert "no title" in reasons[f"{REF}#1"]
    assert "not an object" in reasons[f"{REF}#2"]
    assert "expected text" in reasons[f"{REF}#3"]
    assert '"Widget Mania' in parsed.rejects[0].payload
    assert parsed.records.row(0, named=True)["keywords"] == ["Education", "Artificial Intelligence"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("error_400_works_sample_200.json", "validation-failure: integer-not-valid"),
        ("error_404_works_bad_cursor.json", "cursor-invalid"),
        ("error_500_works_cursor_5_exception.json", "status 'error', exception"),
        ("error_404_works_notarealdoi.txt", "not JSON"),
        ("error_504_gateway_timeout_journals_facet.html", "504 Gateway Time-out"),
        ("journals_single_1803-2427.json", "message-type 'journal'; supported: work, work-list"),
        ("transform_csl_json_10.1126_science.169.3946.635.json", "not an API envelope"),
    ],
)
def test_error_and_foreign_bodies_raise_payload_error(name: str, expected: str) -> None:
    with pytest.raises(PayloadError, match="Crossref") as info:
        parse(body(name))
    assert expected in str(info.value)


def test_stack_trace_is_not_copied_into_the_message() -> None:
    with pytest.raises(PayloadError) as info:
        parse(body("error_500_works_cursor_5_exception.json"))
    assert "clojure.core$ex_info" not in str(info.value)


@pytest.mark.parametrize("data", [b"", b"\xff\xfe\x00{", b"[1, 2]", b'{"status": "ok"}',
                                  b'{"status": "weird", "message-type": "work-list"}'])
def test_malformed_bodies_raise_payload_error(data: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(data)


def test_utf8_bom_is_tolerated() -> None:
    parsed = parse(b"\xef\xbb\xbf" + body("works_list_query_ecology_rows2_plain_abstract.json"))
    assert parsed.records.height == 2


def test_unknown_kind_fails_loudly_with_known_kinds() -> None:
    with pytest.raises(PayloadError, match="known kinds: work, works"):
        parse(body("works_list_query_adfaaf_zero_results.json"), kind="journal")


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ({"date-parts": [[2021, 5]]}, (date(2021, 5, 1), "month")),
        ({"date-parts": [[2020]]}, (date(2020, 1, 1), "year")),
        ({"date-parts": [[None]]}, (None, None)),
        ({"date-parts": [["2019", "02", "30"]]}, (date(2019, 2, 1), "month")),
        ({"date-parts": []}, (None, None)),
        (None, (None, None)),
    ],
)
def test_date_parts(parts: Any, expected: tuple[date | None, str | None]) -> None:
    assert date_from_parts(parts) == expected
