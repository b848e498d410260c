"""parse_pubmed on real efetch/esearch bodies (tests/fixtures/pubmed) and their edge cases."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
from lxml import etree

from transforms.canonical import CANONICAL_SCHEMA
from transforms.parsing import PayloadError, get_parser
from transforms.pubmed import (
    language_code,
    medline_date,
    parse_pubmed,
    pub_date,
    read_esearch,
    unbracket_title,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pubmed"


def _body(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def _parse(body: bytes, kind: str = "efetch"):
    return parse_pubmed(body, kind=kind, url="https://example.test/efetch.fcgi",
                        raw_ref="landing/pubmed/2026-01-01/b1/00001.xml")


def _row(name: str) -> dict:
    parsed = _parse(_body(name))
    assert parsed.rejects == []
    assert parsed.records.height == 1
    return parsed.records.row(0, named=True)


def test_registry_points_at_this_parser() -> None:
    assert get_parser("pubmed") is parse_pubmed


def test_esearch_bodies_carry_no_records() -> None:
    parsed = _parse(_body("esearch_pubmed_hart_rk_author_usehistory.xml"), kind="esearch")
    assert parsed.records.height == 0
    assert parsed.rejects == []


def test_unknown_kind_fails_with_known_kinds_listed() -> None:
    with pytest.raises(PayloadError, match="esummary.*known: efetch, esearch"):
        _parse(b"<x/>", kind="esummary")


def test_empty_articleset_gives_an_empty_canonical_frame() -> None:
    parsed = _parse(_body("efetch_pubmed_37909814_empty_articleset.xml"))
    assert parsed.records.height == 0
    assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)
    assert parsed.rejects == []


def test_two_articles_named_season_gives_year_precision_and_positions() -> None:
    parsed = _parse(_body("efetch_pubmed_2articles_season_pubdate_compact.xml"))
    rows = parsed.records.to_dicts()
    assert [r["pmid"] for r in rows] == ["12091962", "9997"]
    spring, dated = rows
    # <Year>1990</Year><Season>Spring</Season>: a named season is year precision.
    assert (spring["published_date"], spring["date_precision"]) == (date(1990, 1, 1), "year")
    assert spring["abstract"] is None
    assert spring["doi"] is None
    assert spring["keywords"] == ["Health Care and Public Health", "Legal Approach"]
    assert spring["authors"] == [{"name": "J Michael Olivero", "name_zh": None, "orcid": None,
                                  "affiliation": None}]
    assert spring["pages"] == "113-25"
    assert (dated["published_date"], dated["date_precision"]) == (date(1976, 9, 28), "day")
    assert dated["doi"] == "10.1016/0005-2795(76)90109-4"
    assert [r["raw_ref"] for r in rows] == [
        "landing/pubmed/2026-01-01/b1/00001.xml#0", "landing/pubmed/2026-01-01/b1/00001.xml#1"]
    assert all(r["content_hash"] for r in rows)


def test_month_range_season_and_labelled_structured_abstract() -> None:
    row = _row("efetch_pubmed_23657305_season_pubdate_structured_abstract.xml")
    # <Season>Jan-Mar</Season>: month precision on the first month.
    assert (row["published_date"], row["date_precision"]) == (date(2013, 1, 1), "month")
    paragraphs = row["abstract"].split("\n\n")
    assert [p.split(":")[0] for p in paragraphs] == [
        "CONTEXT", "OBJECTIVES", "METHODS", "RESULTS", "CONCLUSION"]
    assert paragraphs[3].startswith("RESULTS: ALD patients had significantly higher serum")
    assert "(both P<0.05)" in paragraphs[3]
    assert row["received_date"] == date(2012, 8, 17)
    assert row["doi"] == "10.1590/s0004-28032013000100008"
    assert row["journal_issn"] == "0004-2803"  # ISSNLinking before the electronic ISSN
    assert row["journal_title"] == "Arquivos de gastroenterologia"
    first = row["authors"][0]
    assert first["name"] == "Luís Costa-Matos"
    # The e-mail address at the end of the affiliation is not kept.
    assert first["affiliation"] == (
        "Faculty of Medicine of the University of Coimbra, 3004-504 Coimbra, Portugal.")


def test_structured_labels_without_nlmcategory_and_inline_italics() -> None:
    row = _row("efetch_pubmed_27797938_structured_abstract_labels.xml")
    assert row["title"] == ("Leucocyte telomere length, genetic variants at the TERT gene "
                            "region and risk of pancreatic cancer.")
    assert row["abstract"].startswith("OBJECTIVE: Telomere shortening occurs")
    assert "\n\nDESIGN: We measured" in row["abstract"]
    assert "linkage disequilibrium r2<0.25" in row["abstract"]
    assert "<" not in row["title"]
    assert (row["published_date"], row["date_precision"]) == (date(2017, 6, 1), "month")
    assert row["online_date"] == date(2016, 10, 21)


def test_nlmcategory_labels_in_data_review_has_keywords_but_no_mesh() -> None:
    row = _row("efetch_pubmed_28775130_nlmcategory_in-data-review.xml")
    assert row["abstract"].startswith("OBJECTIVES: Animal studies")
    assert "(TSH >4.5 mIU/L) compared with normal TSH (0.4-<4.5 mIU/L)" in row["abstract"]
    assert "ORQ3=4.15" in row["abstract"]
    assert row["keywords"] == ["agriculture", "hypothyroidism", "pesticides",
                               "thyroid disease", "thyroid stimulating hormone"]
    assert row["subjects"] == ["Journal Article"]


def test_inline_italic_mathml_and_entities() -> None:
    row = _row("efetch_pubmed_30108519_inline_italic_mathml_entities.xml")
    assert row["title"].startswith('A "Blood Relationship" Between the Overlooked Minimum')
    abstract = row["abstract"]
    assert 'the disused "Minimum Lactate Equivalent" (LEmin)' in abstract
    assert "maximal oxygen uptake ( V.O2max ) 67.6 ± 4.1 ml·kg-1·min-1]" in abstract
    assert "(P < 0.001; ES: 3.54)" in abstract
    assert "mml" not in abstract and "\n" not in abstract
    assert (row["published_date"], row["date_precision"]) == (date(2018, 1, 1), "year")
    assert row["journal_issn"] == "1664-042X"
    assert row["issue"] is None


def test_mathml_prescripts_collective_name_and_orcid_urls() -> None:
    row = _row("efetch_pubmed_29963580_collectivename_references_mathml.xml")
    assert "included: (1) inhaled 3He/129Xe MRI ventilation and apparent" in row["abstract"]
    assert "ultrashort echo-time 1H MRI proton density" in row["abstract"]
    authors = row["authors"]
    assert authors[-1] == {"name": "Canadian Respiratory Research Network", "name_zh": None,
                           "orcid": None, "affiliation": None}
    assert authors[1]["orcid"] == "0000-0002-4590-7461"  # given as https://orcid.org/...
    # Only the first of three AffiliationInfo elements is kept.
    assert authors[0]["affiliation"] == (
        "University of Western Ontario, Robarts Research Institute, London, Ontario, Canada.")
    assert row["doi"] == "10.1117/1.jmi.5.2.026002"
    assert row["keywords"][2] == "image processing, biomarkers"


def test_references_do_not_leak_their_ids_into_the_record() -> None:
    row = _row("efetch_pubmed_29915538_systematic_review_keywords_refs.xml")
    assert row["pmid"] == "29915538"
    assert row["doi"] == "10.3389/fphar.2018.00576"
    assert row["abstract"].startswith("Background: Semaglutide, a newly once-weekly")
    assert "kg/m2" in row["abstract"]
    assert "semaglutide" in row["keywords"]


def test_reference_dois_never_stand_in_for_a_missing_doi() -> None:
    # The real record with its own DOI (ArticleIdList and ELocationID) removed: its 45
    # references still carry DOIs, none of which may become the record's DOI.
    body = _body("efetch_pubmed_29915538_systematic_review_keywords_refs.xml")
    body = body.replace(b'<ArticleId IdType="doi">10.3389/fphar.2018.00576</ArticleId>', b"")
    body = body.replace(b'<ELocationID EIdType="doi" ValidYN="Y">10.3389/fphar.2018.00576'
                        b"</ELocationID>", b"")
    assert b"10.3389/fphar.2018.00576" not in body
    row = _parse(body).records.row(0, named=True)
    assert row["doi"] is None


def test_corrected_article_pmid_never_stands_in_for_a_missing_pmid() -> None:
    body = _body("efetch_pubmed_38833988_published_erratum.xml").replace(
        b'<PMID Version="1">38833988</PMID>', b"")
    parsed = _parse(body)
    assert parsed.records.height == 0
    assert "no valid PMID" in parsed.rejects[0].reason


def test_non_chinese_vernacular_title_is_kept_out() -> None:
    row = _row("efetch_pubmed_36987902_eng_nor_vernacular_numeric_char_refs.xml")
    assert row["title"] == ("Patients over 75 years admitted to the National Burn Centre, "
                            "Haukeland University Hospital, 2000-19.")
    assert row["title_zh"] is None
    assert "Pasienter" not in str(row)
    assert row["language"] == "en"  # first of <Language>eng</Language><Language>nor</Language>
    # &#x2265;&#xa0;75: the no-break space is NFKC-normalised to a plain space.
    assert "All patients ≥ 75 years admitted" in row["abstract"]
    assert row["abstract"].split("\n\n")[1].startswith("MATERIAL AND METHOD: ")
    assert row["authors"][0]["name"] == "Øyvind Bruserud"
    assert row["authors"][0]["orcid"] == "0000-0001-7093-6988"
    assert row["pages"] is None
    assert (row["published_date"], row["date_precision"]) == (date(2023, 3, 28), "day")


def test_bracketed_translated_title_german_editorial_without_abstract() -> None:
    row = _row("efetch_pubmed_38048813_german_vernacular_title_no_abstract.xml")
    assert row["title"] == "A Broader Scope - Bio-Psycho-Social Medicine In Global Focus"
    assert row["title_zh"] is None
    assert row["abstract"] is None
    assert row["language"] == "de"
    assert "Editorial" in row["subjects"]
    assert row["authors"][0]["affiliation"] == (
        "Abteilung Psychosomatische Medizin und Psychotherapie, Medizinische "
        "Universitätsklinik Tübingen.")


def test_chinese_vernacular_title_and_other_abstract_become_zh_fields() -> None:
    # Derived at test time from the real German record: no Chinese PubMed record was found
    # (shared MANIFEST "Not found"), so its language and vernacular title are swapped.
    body = _body("efetch_pubmed_38048813_german_vernacular_title_no_abstract.xml")
    body = body.replace(b"<Language>ger</Language>", b"<Language>chi</Language>")
    body = body.replace(
        b"A Broader Scope &#x2013; Bio-psycho-soziale Medizin im globalen Fokus.",
        "人工智能在医学教育中的应用。".encode())
    body = body.replace(
        b"<CoiStatement>",
        '<OtherAbstract Type="Publisher" Language="chi"><AbstractText>目的：探讨人工智能。'
        "</AbstractText></OtherAbstract><CoiStatement>".encode())
    parsed = _parse(body)
    row = parsed.records.row(0, named=True)
    assert row["title_zh"] == "人工智能在医学教育中的应用。"
    assert row["title"] == "A Broader Scope - Bio-Psycho-Social Medicine In Global Focus"
    assert row["abstract_zh"] == "目的：探讨人工智能。"
    assert row["language"] == "zh"


def test_record_without_abstract_from_1976() -> None:
    row = _row("efetch_pubmed_1234567_no_abstract_1976.xml")
    assert row["abstract"] is None
    assert (row["published_date"], row["date_precision"]) == (date(1975, 1, 1), "year")
    assert (row["volume"], row["issue"], row["pages"]) == ("3", None, "94-104")
    assert row["url"] == "https://pubmed.ncbi.nlm.nih.gov/1234567/"
    assert row["source"] == "pubmed" and row["source_id"] == "1234567"


def test_published_erratum_stays_a_row_flagged_by_its_publication_type() -> None:
    row = _row("efetch_pubmed_38833988_published_erratum.xml")
    assert row["pmid"] == "38833988"  # not the PMID 33279609 in CommentsCorrections
    assert row["doi"] == "10.1016/j.bbamcr.2024.119767"
    assert row["subjects"] == ["Published Erratum"]
    assert row["is_deleted"] is False
    assert row["abstract"] is None
    last = row["authors"][-1]["affiliation"]
    assert "@" not in last and last.endswith("Buenos Aires, Argentina.")


def test_medical_education_record() -> None:
    row = _row("efetch_pubmed_31789841_acad_med_medical_education.xml")
    assert row["title"] == "The Positivism Paradigm of Research."
    assert row["doi"] == "10.1097/acm.0000000000003093"
    assert row["journal_issn"] == "1040-2446"
    assert [a["name"] for a in row["authors"]] == [
        "Yoon Soo Park", "Lars Konge", "Anthony R Artino Jr"]
    assert (row["published_date"], row["date_precision"]) == (date(2020, 5, 1), "month")
    assert row["subjects"] == ["Humans", "Knowledge", "Research Design", "Journal Article"]


def test_retracted_publication_is_marked_deleted() -> None:
    body = _body("efetch_pubmed_31789841_acad_med_medical_education.xml").replace(
        b'<PublicationType UI="D016428">Journal Article</PublicationType>',
        b'<PublicationType UI="D016441">Retracted Publication</PublicationType>')
    row = _parse(body).records.row(0, named=True)
    assert row["is_deleted"] is True


def test_bad_record_is_rejected_and_the_rest_of_the_body_kept() -> None:
    # The real two-article body with the first record's PMID element removed.
    body = _body("efetch_pubmed_2articles_season_pubdate_compact.xml").replace(
        b'<PMID Version="1">12091962</PMID>', b"", 1)
    parsed = _parse(body)
    assert parsed.records["pmid"].to_list() == ["9997"]
    assert parsed.records["raw_ref"].to_list() == ["landing/pubmed/2026-01-01/b1/00001.xml#1"]
    [reject] = parsed.rejects
    assert reject.raw_ref.endswith("#0")
    assert "no valid PMID" in reject.reason
    assert reject.payload.startswith("<PubmedArticle>")


def test_record_without_title_is_rejected() -> None:
    body = _body("efetch_pubmed_1234567_no_abstract_1976.xml").replace(
        b"The effect of castration and peroral estrogen therapy on some psychological "
        b"functions.", b"")
    parsed = _parse(body)
    assert parsed.records.height == 0
    assert parsed.rejects[0].reason == "PMID 1234567 has no title"


def test_unsupported_record_types_are_rejected_and_deletions_kept() -> None:
    body = (b"<PubmedArticleSet><PubmedBookArticle><BookDocument><PMID>1</PMID>"
            b"</BookDocument></PubmedBookArticle><DeleteCitation><PMID>11</PMID>"
            b"<PMID>12</PMID></DeleteCitation></PubmedArticleSet>")
    parsed = _parse(body)
    assert parsed.records.select("pmid", "is_deleted").rows() == [("11", True), ("12", True)]
    assert "unsupported record <PubmedBookArticle>" in parsed.rejects[0].reason


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (_body("efetch_pubmed_31789841_acad_med_medical_education.xml")[:2000],
         "not well-formed"),
        (b"", "not well-formed|empty"),
        (b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>",
         "expected <PubmedArticleSet> Unable to obtain query #1"),
        (_body("esearch_pubmed_biopython_retmax20.xml"), "root <eSearchResult>"),
    ],
    ids=["truncated", "empty", "efetch-error", "esearch-as-efetch"],
)
def test_unparseable_bodies_raise_payload_error(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        _parse(body)


def test_dtd_entity_bomb_is_refused_not_expanded() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE PubmedArticleSet [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;">]>'
            b"<PubmedArticleSet><PubmedArticle>&c;</PubmedArticle></PubmedArticleSet>")
    with pytest.raises(PayloadError, match="declares DTD entities"):
        _parse(bomb)


def test_undeclared_html_entity_is_mapped_not_fatal() -> None:
    body = _body("efetch_pubmed_1234567_no_abstract_1976.xml").replace(
        b"some psychological", b"some&nbsp;psychological")
    row = _parse(body).records.row(0, named=True)
    assert row["title"].endswith("on some psychological functions.")


def test_read_esearch_history_envelope() -> None:
    result = read_esearch(_body("esearch_pubmed_hart_rk_author_usehistory.xml"))
    assert (result.count, result.webenv, result.query_key) == (
        34, "MCID_6934533c4c5abba8c303da1d", "1")
    assert result.errors == () and result.error is None


def test_read_esearch_phrase_not_found_is_count_zero() -> None:
    result = read_esearch(_body("esearch_protein_no_results_phrasenotfound_errorlist.xml"))
    assert result.count == 0
    assert result.errors == ("PhraseNotFound: abcXYZ",)
    assert result.warnings == ("OutputMessage: No items found.",)
    assert result.error is None


def test_read_esearch_top_level_error_and_garbage() -> None:
    result = read_esearch(b"<eSearchResult><ERROR>Invalid query</ERROR></eSearchResult>")
    assert result.error == "Invalid query"
    with pytest.raises(PayloadError, match="no <Count>"):
        read_esearch(b"<eSearchResult></eSearchResult>")
    with pytest.raises(PayloadError, match="expected <eSearchResult>"):
        read_esearch(_body("efetch_pubmed_37909814_empty_articleset.xml"))


def _pubdate(inner: str) -> tuple[date | None, str | None]:
    return pub_date(etree.fromstring(f"<PubDate>{inner}</PubDate>"))


@pytest.mark.parametrize(
    ("inner", "expected"),
    [
        ("<Year>2024</Year><Month>Sep</Month><Day>5</Day>", (date(2024, 9, 5), "day")),
        ("<Year>2024</Year><Month>09</Month>", (date(2024, 9, 1), "month")),
        ("<Year>2024</Year><Month>February</Month><Day>30</Day>", (date(2024, 2, 1), "month")),
        ("<Year>2013</Year><Season>Jan-Mar</Season>", (date(2013, 1, 1), "month")),
        ("<Year>2019</Year><Season>Nov-Dec</Season>", (date(2019, 11, 1), "month")),
        ("<Year>1990</Year><Season>Spring</Season>", (date(1990, 1, 1), "year")),
        ("<Year>2001</Year><Season>Winter</Season>", (date(2001, 1, 1), "year")),
        ("<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", (date(1998, 12, 1), "month")),
        ("<MedlineDate>2000 Spring</MedlineDate>", (date(2000, 1, 1), "year")),
        ("<MedlineDate>1975-1976</MedlineDate>", (date(1975, 1, 1), "year")),
        ("<MedlineDate>1999 Dec 23-30</MedlineDate>", (date(1999, 12, 23), "day")),
        ("<MedlineDate>undated</MedlineDate>", (None, None)),
        ("", (None, None)),
    ],
)
def test_pub_date_rules(inner: str, expected: tuple[date | None, str | None]) -> None:
    assert _pubdate(inner) == expected


def test_medline_date_none() -> None:
    assert medline_date(None) == (None, None)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("eng", "en"), ("chi", "zh"), ("ger", "de"), ("nor", "no"), ("ENG", "en"),
     ("und", None), ("xyz", "xyz")],
)
def test_language_codes(code: str, expected: str | None) -> None:
    assert language_code(code) == expected


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("[A Broader Scope].", "A Broader Scope"),
        ("[Nested [sic] title]", "Nested [sic] title"),
        ("[A] and [B].", "[A] and [B]."),
        ("Plain title [with note].", "Plain title [with note]."),
    ],
)
def test_unbracket_title(title: str, expected: str) -> None:
    assert unbracket_title(title) == expected
