"""OAI-PMH oai_dc parser: recorded DSpace and Zenodo responses, errors and bad records."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from transforms.canonical import CANONICAL_SCHEMA
from transforms.oai import OaiEnvelopeError, parse_oai, read_envelope
from transforms.parsing import PayloadError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oaipmh"
DSPACE = "dspace_eur_2004_ListRecords_oai_dc_81_records_compact.xml"


def parse(name: str, raw_ref: str = "landing/oai/b/00000.xml"):
    body = (FIXTURES / name).read_bytes()
    return parse_oai(body, kind="oai", url="http://127.0.0.1/oai", raw_ref=raw_ref)


def one(frame: pl.DataFrame, source_id: str) -> dict:
    (row,) = frame.filter(pl.col("source_id") == source_id).to_dicts()
    return row


def wrap(records: str) -> bytes:
    """A ListRecords envelope around hand-written records (for cases no recording shows)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/">'
        "<responseDate>2026-01-01T00:00:00Z</responseDate>"
        '<request verb="ListRecords">http://127.0.0.1/oai</request>'
        f"<ListRecords>{records}</ListRecords></OAI-PMH>"
    ).encode()


def dc_record(identifier: str, fields: str) -> str:
    return (
        f"<record><header><identifier>{identifier}</identifier>"
        "<datestamp>2026-01-01</datestamp></header><metadata>"
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/">{fields}</oai_dc:dc>'
        "</metadata></record>"
    )


def test_dspace_81_records_with_two_deleted() -> None:
    parsed = parse(DSPACE)
    frame = parsed.records

    assert frame.schema == pl.Schema(CANONICAL_SCHEMA)
    assert frame.height == 81
    assert parsed.rejects == []
    assert frame.filter("is_deleted")["source_id"].to_list() == ["hdl:1765/1160",
                                                                  "hdl:1765/1161"]
    assert frame.filter(~pl.col("is_deleted"))["title"].null_count() == 0
    assert set(frame["source"]) == {"oai"}
    assert frame["raw_ref"][0] == "landing/oai/b/00000.xml#0"
    assert frame["raw_ref"][80] == "landing/oai/b/00000.xml#80"
    assert frame["content_hash"].null_count() == 0


def test_dspace_deleted_record_is_a_tombstone() -> None:
    row = one(parse(DSPACE).records, "hdl:1765/1160")
    assert row["is_deleted"] is True
    assert row["title"] is None
    assert row["authors"] == []


def test_dspace_fields_of_first_record() -> None:
    row = one(parse(DSPACE).records, "hdl:1765/9")
    assert row["title"] == "The Causality of Supply Relationships"
    assert row["abstract"].startswith("This study examines the 'logic'")
    assert [a["name"] for a in row["authors"]] == ["Jong, G. de", "Nooteboom, B."]
    assert row["url"] == "http://hdl.handle.net/1765/9"
    assert row["doi"] is None
    # dc:language "en" and "en_US" both map to en.
    assert row["language"] == "en"
    assert (row["published_date"], row["date_precision"]) == (date(2001, 1, 4), "day")


def test_dspace_issued_year_wins_over_repository_timestamps() -> None:
    # dc:date values: 2003-07-14T10:28:26Z (twice, accession) and 1997 (issued).
    row = one(parse(DSPACE).records, "hdl:1765/633")
    assert (row["published_date"], row["date_precision"]) == (date(1997, 1, 1), "year")


def test_dspace_unknown_language_label_kept_raw() -> None:
    counts = dict(parse(DSPACE).records["language"].value_counts().iter_rows())
    assert counts == {"en": 56, "other": 23, None: 2}


def test_dspace_longest_description_is_the_abstract() -> None:
    # Three descriptions each: a Dutch abstract, an English one and a shorter series note.
    frame = parse(DSPACE).records
    row = one(frame, "hdl:1765/1133")
    assert row["abstract"].startswith("This PhD thesis deals with the performance of clusters")
    assert row["title"].startswith("The Performance of Seaport Clusters")
    row = one(frame, "hdl:1765/1132")
    assert row["abstract"].startswith("In the past, supply chains were busy")


def test_dspace_subjects_split_into_keywords_and_codes() -> None:
    row = one(parse(DSPACE).records, "hdl:1765/633")
    assert row["keywords"] == ["Social Stratification", "Social Inequality", "Social Class"]
    frame = parse(DSPACE).records
    keywords = set(frame["keywords"].explode().drop_nulls())
    codes = set(frame["subjects"].explode().drop_nulls())
    assert {"5001-6182", "M 11", "85.00"} <= codes
    assert "bedrijfskunde" in keywords and "bedrijfskunde" not in codes


def test_zenodo_page1_doi_url_and_double_escaped_html() -> None:
    frame = parse("zenodo_ListRecords_oai_dc_page1_resumptionToken.xml").records
    row = one(frame, "oai:zenodo.org:8435696")
    assert row["doi"] == "10.5281/zenodo.8435696"  # the record's own, not the dc:relation one
    assert row["url"] == "https://doi.org/10.5281/zenodo.8435696"
    assert row["abstract"].startswith("A configuration layer for the analysis of CMS data")
    assert "<p>" not in row["abstract"] and "&lt;" not in row["abstract"]
    assert row["title"] == "PocketCoffea: a configuration layer for CMS analyses with Coffea"
    assert frame["doi"].null_count() == 0


def test_zenodo_page2_deleted_record_keeps_its_metadata() -> None:
    frame = parse("zenodo_ListRecords_oai_dc_resumptionToken_page2_cursor50_deleted.xml").records
    deleted = one(frame, "oai:zenodo.org:8433364")
    assert deleted["is_deleted"] is True
    assert deleted["doi"] == "10.5281/zenodo.8433364"
    live = one(frame, "oai:zenodo.org:8333281")
    assert live["is_deleted"] is False
    assert live["language"] == "en"  # dc:language "eng"
    # dc:source "Cell Reports, 42(10), (2023-10-12)"
    assert (live["journal_title"], live["volume"], live["issue"]) == ("Cell Reports", "42", "10")
    assert live["keywords"] == ["Stomach", "spatial transcriptome", "Intestinal metaplasia",
                                "CosMx"]


def test_zenodo_full_page_of_50() -> None:
    parsed = parse("zenodo_ListRecords_oai_dc_set_software_50_records.xml")
    assert parsed.records.height == 50
    assert parsed.rejects == []
    assert parsed.records["doi"].null_count() == 0
    assert parsed.records["published_date"].null_count() == 0


def test_zenodo_get_record_non_ascii_creators() -> None:
    frame = parse("zenodo_GetRecord_oai_dc_10357859.xml").records
    assert frame.height == 1
    names = [a["name"] for a in frame["authors"][0]]
    assert len(names) == 9
    assert "Schröder, Max" in names and "Martínez Muñoz, David" in names


def test_get_record_deleted() -> None:
    frame = parse("dspace_eur_2004_GetRecord_deleted_record.xml", raw_ref="r.xml").records
    assert frame.select("source_id", "is_deleted", "raw_ref").to_dicts() == [
        {"source_id": "hdl:1765/1160", "is_deleted": True, "raw_ref": "r.xml#0"}
    ]


def test_no_records_match_is_an_empty_payload() -> None:
    parsed = parse("zenodo_error_422_noRecordsMatch.xml")
    assert parsed.records.height == 0
    assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)
    assert parsed.rejects == []


@pytest.mark.parametrize(("name", "code"), [
    ("zenodo_error_422_badResumptionToken.xml", "badResumptionToken"),
    ("zenodo_error_422_badArgument_metadataPrefix.xml", "badArgument"),
    ("zenodo_error_422_idDoesNotExist.xml", "idDoesNotExist"),
])
def test_other_oai_errors_are_payload_errors(name: str, code: str) -> None:
    with pytest.raises(PayloadError, match=code):
        parse(name)


def test_html_is_a_payload_error() -> None:
    with pytest.raises(OaiEnvelopeError, match="looks like HTML") as info:
        parse("not_oai_html_response_to_Identify.html")
    assert isinstance(info.value, PayloadError)


@pytest.mark.parametrize("body", [
    b"", b"   ", b"<OAI-PMH xmlns='http://www.openarchives.org/OAI/2.0/'><ListRecords>",
])
def test_empty_or_truncated_body_is_a_payload_error(body: bytes) -> None:
    with pytest.raises(PayloadError, match="not an OAI-PMH response"):
        parse_oai(body, kind="oai", url="u", raw_ref="r")


def test_truncated_recorded_page_is_a_payload_error() -> None:
    body = (FIXTURES / DSPACE).read_bytes()
    with pytest.raises(PayloadError, match="not well-formed"):
        parse_oai(body[: len(body) // 2], kind="oai", url="u", raw_ref="r")


def test_envelope_reads_token_and_list_size() -> None:
    envelope = read_envelope(
        (FIXTURES / "zenodo_ListRecords_oai_dc_page1_resumptionToken.xml").read_bytes())
    assert envelope.resumption_token.startswith(".eJwlzEuOgjAAANC7")
    assert envelope.complete_list_size == 8091628
    assert envelope.errors == ()
    last = read_envelope(
        (FIXTURES / "zenodo_ListIdentifiers_last_page_no_resumptionToken.xml").read_bytes())
    assert last.resumption_token is None


def test_bad_records_are_rejected_and_the_rest_go_on() -> None:
    good = dc_record("oai:x:1", "<dc:title>AI tutors in anatomy teaching</dc:title>")
    no_identifier = ("<record><header><datestamp>2026-01-01</datestamp></header>"
                     "<metadata/></record>")
    marc = ("<record><header><identifier>oai:x:2</identifier></header><metadata>"
            "<marc:record xmlns:marc='http://www.loc.gov/MARC21/slim'/></metadata></record>")
    no_title = dc_record("oai:x:3", "<dc:creator>Li, Wei</dc:creator>")
    no_metadata = "<record><header><identifier>oai:x:4</identifier></header></record>"

    parsed = parse_oai(wrap(good + no_identifier + marc + no_title + no_metadata),
                       kind="oai", url="u", raw_ref="r.xml")

    assert parsed.records["source_id"].to_list() == ["oai:x:1"]
    reasons = {r.raw_ref: r.reason for r in parsed.rejects}
    assert reasons == {
        "r.xml#1": "record header has no <identifier>",
        "r.xml#2": "record oai:x:2: metadata is '{http://www.loc.gov/MARC21/slim}record', "
                   "only oai_dc is supported",
        "r.xml#3": "record oai:x:3 has no dc:title",
        "r.xml#4": "record oai:x:4 has no <metadata> and is not deleted",
    }
    assert "oai:x:3" in parsed.rejects[2].payload


def test_chinese_only_title_fills_both_title_columns() -> None:
    body = wrap(dc_record("oai:x:1", "<dc:title>智能导学系统在病理学教学中的应用</dc:title>"))
    row = parse_oai(body, kind="oai", url="u", raw_ref="r").records.row(0, named=True)
    assert row["title"] == row["title_zh"] == "智能导学系统在病理学教学中的应用"


def test_chinese_ojs_record() -> None:
    fields = (
        "<dc:title>Large language models in clinical teaching</dc:title>"
        "<dc:title>大语言模型在临床教学中的应用</dc:title>"
        "<dc:creator>张三</dc:creator><dc:creator>Wang, Fang</dc:creator>"
        "<dc:subject>人工智能；医学教育</dc:subject>"
        "<dc:subject>ChatGPT; medical education</dc:subject>"
        "<dc:description>目的 探讨大语言模型在医学教育中的应用。</dc:description>"
        "<dc:description>Objective To explore large language models.</dc:description>"
        "<dc:date>2025-03</dc:date>"
        "<dc:identifier>https://journal.example.cn/index.php/j/article/view/12</dc:identifier>"
        "<dc:identifier>doi:10.3760/CMA.J.CN115259-20250101-00001</dc:identifier>"
        "<dc:language>chi</dc:language>"
        "<dc:source>中华医学教育杂志; Vol. 45 No. 3 (2025); 161-166</dc:source>"
        "<dc:source>1673677X</dc:source>"
    )
    (row,) = parse_oai(wrap(dc_record("oai:j:12", fields)), kind="oai", url="u",
                       raw_ref="r").records.to_dicts()

    assert row["title"] == "Large language models in clinical teaching"
    assert row["title_zh"] == "大语言模型在临床教学中的应用"
    assert row["abstract_zh"] == "目的 探讨大语言模型在医学教育中的应用。"
    assert row["abstract"] == "Objective To explore large language models."
    assert row["keywords"] == ["人工智能", "医学教育", "ChatGPT", "medical education"]
    assert row["authors"][0] == {"name": "张三", "name_zh": "张三", "orcid": None,
                                 "affiliation": None}
    assert row["doi"] == "10.3760/cma.j.cn115259-20250101-00001"
    assert row["url"] == "https://journal.example.cn/index.php/j/article/view/12"
    assert row["language"] == "zh"
    assert (row["published_date"], row["date_precision"]) == (date(2025, 3, 1), "month")
    assert row["journal_title_zh"] == row["journal_title"] == "中华医学教育杂志"
    assert (row["volume"], row["issue"], row["pages"]) == ("45", "3", "161-166")
    assert row["journal_issn"] == "1673-677X"


@pytest.mark.parametrize(("identifiers", "expected"), [
    ("<dc:identifier>10.1000/ABC.1</dc:identifier>", "10.1000/abc.1"),
    ("<dc:identifier>https://dx.doi.org/10.1000/x</dc:identifier>", "10.1000/x"),
    ("<dc:identifier>info:doi/10.1000/y</dc:identifier>", "10.1000/y"),
    ("<dc:relation>https://doi.org/10.1000/rel</dc:relation>", "10.1000/rel"),
    ("<dc:identifier>ISBN 90-5539-071-1</dc:identifier>", None),
])
def test_doi_forms(identifiers: str, expected: str | None) -> None:
    body = wrap(dc_record("oai:x:1", f"<dc:title>T</dc:title>{identifiers}"))
    assert parse_oai(body, kind="oai", url="u", raw_ref="r").records["doi"][0] == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2024", (date(2024, 1, 1), "year")),
    ("2024-05", (date(2024, 5, 1), "month")),
    ("2024-05-17", (date(2024, 5, 17), "day")),
    ("2024-05-17T08:00:00Z", (date(2024, 5, 17), "day")),
    ("not a date", (None, None)),
])
def test_date_precisions(value: str, expected: tuple) -> None:
    body = wrap(dc_record("oai:x:1", f"<dc:title>T</dc:title><dc:date>{value}</dc:date>"))
    row = parse_oai(body, kind="oai", url="u", raw_ref="r").records.row(0, named=True)
    assert (row["published_date"], row["date_precision"]) == expected


def test_external_entities_are_not_resolved() -> None:
    body = (
        '<?xml version="1.0"?><!DOCTYPE OAI-PMH [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        + wrap(dc_record("oai:x:1", "<dc:title>T &x;</dc:title>")).decode().split("?>", 1)[1]
    ).encode()
    with pytest.raises(PayloadError, match="declares DTD entities") as refused:
        parse_oai(body, kind="oai", url="u", raw_ref="r")
    assert "root:" not in str(refused.value)


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix != ".md"))
def test_truncated_or_damaged_bodies_never_crash(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    step = max(1, len(body) // 40)
    for cut in range(0, len(body), step):
        for damaged in (body[:cut], body[:cut] + body[cut + 5:]):
            try:
                parsed = parse_oai(damaged, kind="oai", url="u", raw_ref="r")
            except PayloadError:
                continue
            assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)


def test_markup_inside_dc_elements_is_kept_as_text() -> None:
    fields = "<dc:title>Deep <i xmlns='http://www.w3.org/1999/xhtml'>learning</i> tutors</dc:title>"
    body = wrap(dc_record("oai:x:1", fields))
    assert parse_oai(body, kind="oai", url="u", raw_ref="r").records["title"][0] == (
        "Deep learning tutors")
