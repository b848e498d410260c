"""OpenAlex bodies to canonical rows, on real recorded responses."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from transforms.canonical import CANONICAL_SCHEMA
from transforms.openalex import parse_openalex, rebuild_abstract
from transforms.parsing import PayloadError, get_parser

FIXTURES = Path(__file__).parent.parent / "fixtures" / "openalex"
URL = "https://api.openalex.org/works?filter=cited_by:W3046863325"
REF = "landing/openalex/2026-03-01/batch/00001.json"


def body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(data: bytes, kind: str = "works") -> Any:
    return parse_openalex(data, kind=kind, url=URL, raw_ref=REF)


def by_id(frame: pl.DataFrame, openalex_id: str) -> dict[str, Any]:
    rows = frame.filter(pl.col("openalex_id") == openalex_id).to_dicts()
    assert len(rows) == 1, openalex_id
    return rows[0]


def test_registered_in_parser_registry() -> None:
    assert get_parser("openalex") is parse_openalex


def test_single_work_with_topics_concepts_and_inverted_abstract() -> None:
    parsed = parse(body("works_single_W2741809807_state_of_OA_topics_concepts_mesh.json"), "work")
    assert parsed.rejects == []
    assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)
    row = parsed.records.row(0, named=True)
    assert row["source"] == "openalex"
    assert row["openalex_id"] == row["source_id"] == "W2741809807"
    assert row["doi"] == "10.7717/peerj.4375"
    assert row["pmid"] == "29456894"
    assert row["title"] == ("The state of OA: a large-scale analysis of the prevalence and impact "
                            "of Open Access articles")
    assert row["abstract"].startswith("Despite growing interest in Open Access (OA) to scholarly "
                                      "literature, there is an unmet need")
    assert len(row["authors"]) == 9
    assert row["authors"][0] == {
        "name": "Heather Piwowar", "name_zh": None, "orcid": "0000-0003-1613-5981",
        "affiliation": "Impact Technology Development (United States)",
    }
    assert (row["journal_issn"], row["journal_title"]) == ("2167-8359", "PeerJ")
    assert (row["volume"], row["issue"], row["pages"]) == ("6", None, "e4375")
    assert (row["published_date"], row["date_precision"]) == (date(2018, 2, 13), "day")
    assert row["language"] == "en"
    assert row["keywords"] == ["Scholarly Communication", "Web of science", "Open Science",
                               "Citation analysis"]
    subjects = row["subjects"]
    assert subjects[0] == "scientometrics and bibliometrics research"  # primary topic first
    assert "Academic Publishing and Open Access" in subjects  # a topic
    assert {"Citation", "License", "Scholarly communication"} <= set(subjects)  # score >= 0.5
    envelope = json.loads(body("works_single_W2741809807_state_of_OA_topics_concepts_mesh.json"))
    low = [c["display_name"] for c in envelope["concepts"] if c["score"] < 0.5]
    assert low and not set(low) & set(subjects)
    assert row["url"] == "https://doi.org/10.7717/peerj.4375"
    assert row["raw_ref"] == f"{REF}#0"


def test_null_title_work_is_rejected() -> None:
    parsed = parse(body("works_single_W4234567890_null_title_language_ng.json"), "work")
    assert parsed.records.height == 0
    assert [(r.raw_ref, r.reason) for r in parsed.rejects] == [
        (f"{REF}#0", "work W4234567890 has no title")]
    assert '"id": "https://openalex.org/W4234567890"' in parsed.rejects[0].payload


def test_cited_by_list_mesh_missing_sources_and_empty_title() -> None:
    parsed = parse(body("works_list_filter_cited_by_per_page200_38_results.json"))
    assert parsed.records.height + len(parsed.rejects) == 38
    assert [r.raw_ref for r in parsed.rejects] == [f"{REF}#1"]  # title "" (BERT)
    records = parsed.records
    assert records["doi"].null_count() == 8
    assert records["abstract"].null_count() == 8
    altmetrics = by_id(records, "W1572136682")
    assert "Bibliometrics" in altmetrics["subjects"]  # a MeSH descriptor
    assert altmetrics["pmid"] == "23302843"
    assert (altmetrics["journal_issn"], altmetrics["journal_title"]) == ("0028-0836", "Nature")
    glove = by_id(records, "W2250539671")
    assert glove["journal_title"] is None  # primary_location.source is null
    assert glove["pages"] == "1532-1543"
    # OpenAlex pads year-only dates to 1 January
    assert (glove["published_date"], glove["date_precision"]) == (date(2014, 1, 1), "year")
    assert by_id(records, "W2166481425")["pages"] == "68"  # first == last page
    assert sorted(records["language"].drop_nulls().unique()) == ["de", "en"]


def test_cursor_page_with_repository_source() -> None:
    records = parse(body("works_list_filter_openalex_ids_cursor_page1.json")).records
    assert records["openalex_id"].to_list() == ["W3046863325", "W3045921891"]
    proceedings = by_id(records, "W3046863325")
    assert proceedings["journal_title"] is None and proceedings["pages"] == "503-504"
    preprint = by_id(records, "W3045921891")
    assert preprint["journal_title"] == "arXiv (Cornell University)"
    assert preprint["journal_issn"] is None
    assert preprint["url"] == "http://arxiv.org/abs/2007.14454"
    assert all(a and "  " not in a for a in records["abstract"])


def test_null_inverted_index_gives_no_abstract() -> None:
    row = parse(body("works_single_W2162348455_biodiversity_hotspots.json"), "work").records.row(
        0, named=True)
    assert row["abstract"] is None
    assert (row["journal_issn"], row["volume"], row["issue"], row["pages"]) == (
        "0028-0836", "403", "6772", "853-858")


def test_empty_last_page_is_an_empty_payload() -> None:
    parsed = parse(body("works_list_cursor_last_page_empty_results.json"))
    assert parsed.records.height == 0 and parsed.rejects == []


def test_ids_only_results_are_rejected_for_missing_title() -> None:
    parsed = parse(body("works_list_per_page1_select_ids_count.json"))
    assert parsed.records.height == 0
    assert "no title" in parsed.rejects[0].reason


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("error_400_works_invalid_filter_field.json",
         "Invalid query parameters error.: DOESNTEXIST is not a valid field"),
        ("error_400_works_invalid_select_field.json", "not a valid select field"),
        ("error_401_rate_limit_invalid_api_key.json", "Invalid or missing API key"),
        ("works_group_by_type.json", "group_by"),
        ("rate_limit_status_200.json", "not a works answer"),
    ],
)
def test_error_and_foreign_bodies_raise_payload_error(name: str, expected: str) -> None:
    with pytest.raises(PayloadError, match="OpenAlex") as info:
        parse(body(name))
    assert expected in str(info.value)
    assert len(str(info.value)) < 500  # the long list of valid fields is cut


@pytest.mark.parametrize("data", [b"", b"<html>502</html>", b"[]", b'{"results": {}}',
                                  b"\xff\xfe\x00{"])
def test_malformed_bodies_raise_payload_error(data: bytes) -> None:
    with pytest.raises(PayloadError):
        parse(data)


def test_bad_records_are_rejected_one_by_one() -> None:
    envelope = json.loads(body("works_list_filter_openalex_ids_cursor_page1.json"))
    good = envelope["results"][1]
    envelope["results"] = [
        {"title": "No id at all"},
        "a string",
        {**good, "biblio": {"volume": ["12"], "issue": None}},
        {**good, "abstract_inverted_index": {"Hello": [0], "world": ["x", -1, 1, True]},
         "authorships": "garbage", "keywords": ["plain string keyword"],
         "publication_date": None, "publication_year": 2021},
    ]
    parsed = parse(json.dumps(envelope).encode())
    reasons = [r.reason for r in parsed.rejects]
    assert len(reasons) == 3
    assert "no OpenAlex W-id" in reasons[0]
    assert "not an object" in reasons[1]
    assert "expected text" in reasons[2]
    row = parsed.records.row(0, named=True)
    assert row["raw_ref"] == f"{REF}#3"
    assert row["abstract"] == "Hello world"
    assert row["keywords"] == ["plain string keyword"]
    assert (row["published_date"], row["date_precision"]) == (date(2021, 1, 1), "year")


def test_unknown_kind_fails_loudly() -> None:
    with pytest.raises(PayloadError, match="known kinds: work, works"):
        parse(body("works_list_cursor_last_page_empty_results.json"), kind="authors")


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        ({"a": [0, 2], "b": [1]}, "a b a"),
        ({"Abstract": [0], "Background": [1], "text.": [2]}, "Background text."),
        ({"x": [5], "y": [10**9]}, "x"),
        ({"p": [0], "&lt;": [1], "0.05": [2]}, "p < 0.05"),
        ({}, None),
        (None, None),
        ([["a", 0]], None),
    ],
)
def test_rebuild_abstract(index: Any, expected: str | None) -> None:
    assert rebuild_abstract(index) == expected
