"""Exported-file parsers: RIS, BibTeX, MEDLINE, WoS, Scopus CSV and CNKI (hand-made files)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from transforms.canonical import CANONICAL_SCHEMA
from transforms.files import FORMATS, UnknownFormatError, decode_body, detect_format, parse_file
from transforms.parsing import ParsedPayload, PayloadError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "files"
DOI_A = "10.1186/s12909-024-05123-4"
DOI_B = "10.1097/acm.0000000000005432"
DOI_C = "10.2196/48291"
DOI_D = "10.1016/j.jsurg.2024.01.012"
DOI_F = "10.3760/cma.j.cn115259-20250610-00712"
DOI_G = "10.3760/cma.j.cn115259-20241120-01345"
GOOD_FILES = {
    "records.ris": ("ris", 4),
    "records.bib": ("bibtex", 2),
    "records.nbib": ("nbib", 3),
    "wos_records.txt": ("wos", 3),
    "scopus.csv": ("scopus_csv", 3),
    "cnki_refworks.txt": ("cnki_refworks", 3),
    "cnki_endnote_gbk.txt": ("cnki_endnote", 3),
}


def parse(name: str, kind: str = "auto") -> ParsedPayload:
    body = (FIXTURES / name).read_bytes()
    return parse_file(body, kind=kind, url=f"file:///data/inbox/{name}",
                      raw_ref=f"landing/files/b/{name}")


def by_doi(name: str, doi: str) -> dict:
    (row,) = parse(name).records.filter(pl.col("doi") == doi).to_dicts()
    return row


def names(row: dict) -> list[str]:
    return [a["name"] for a in row["authors"]]


@pytest.mark.parametrize(("name", "expected"), GOOD_FILES.items())
def test_every_format_parses_cleanly(name: str, expected: tuple[str, int]) -> None:
    fmt, count = expected
    body = (FIXTURES / name).read_bytes()
    assert detect_format(body, name) == fmt
    for kind in ("auto", fmt):
        parsed = parse(name, kind)
        assert parsed.rejects == []
        frame = parsed.records
        assert frame.schema == pl.Schema(CANONICAL_SCHEMA)
        assert frame.height == count
        assert set(frame["source"]) == {"files"}
        assert frame["raw_ref"].to_list() == [f"landing/files/b/{name}#{i}" for i in range(count)]
        assert frame.select(pl.coalesce("title", "title_zh").null_count()).item() == 0


def test_dois_overlap_across_formats_and_share_a_source_id() -> None:
    dois = {name: set(parse(name).records["doi"].drop_nulls()) for name in GOOD_FILES}
    assert {n for n, d in dois.items() if DOI_A in d} == {
        "records.ris", "records.bib", "records.nbib", "scopus.csv"}
    assert {n for n, d in dois.items() if DOI_B in d} == {
        "records.ris", "records.nbib", "wos_records.txt", "scopus.csv"}
    assert {n for n, d in dois.items() if DOI_F in d} == {
        "cnki_refworks.txt", "cnki_endnote_gbk.txt"}
    assert by_doi("records.ris", DOI_A)["source_id"] == by_doi("scopus.csv", DOI_A)["source_id"]
    assert by_doi("records.nbib", DOI_B)["source_id"] == DOI_B


def test_ris_fields() -> None:
    row = by_doi("records.ris", DOI_A)
    assert row["title"].startswith("Large language models as virtual patients")
    assert row["journal_title"] == "BMC Medical Education"
    assert (row["published_date"], row["date_precision"]) == (date(2024, 3, 12), "day")
    assert (row["volume"], row["issue"], row["pages"]) == ("24", "1", "268")
    assert row["journal_issn"] == "1472-6920"
    assert row["language"] == "en"
    assert row["keywords"] == ["Large language models", "Virtual patients", "Medical education",
                               "ChatGPT", "Clinical reasoning"]
    # Untagged lines continue the abstract.
    assert "Methods: 120 third-year students" in row["abstract"]
    assert row["abstract"].endswith("objective structured clinical examination.")
    assert row["url"].startswith("https://bmcmededuc.biomedcentral.com/")
    # One AD for two authors: it cannot be told whose it is, so nobody gets it.
    assert [a["affiliation"] for a in row["authors"]] == [None, None]
    row = by_doi("records.ris", DOI_B)  # DO carried a resolver prefix and capitals
    assert (row["published_date"], row["date_precision"]) == (date(2023, 6, 1), "month")
    assert row["pages"] == "712-719"
    assert row["url"] == f"https://doi.org/{DOI_B}"


def test_record_without_doi_gets_a_stable_format_specific_id() -> None:
    first = parse("records.ris").records.filter(pl.col("doi").is_null())
    again = parse("records.ris").records.filter(pl.col("doi").is_null())
    (source_id,) = first["source_id"].to_list()
    assert source_id.startswith("ris:") and len(source_id) == len("ris:") + 20
    assert again["source_id"].to_list() == [source_id]
    assert first["pages"].to_list() == ["103489"]
    gbk = parse("cnki_endnote_gbk.txt").records.filter(pl.col("doi").is_null())
    also = parse("malformed_cnki_endnote.txt").records
    assert gbk["source_id"].to_list() == also["source_id"].to_list()
    assert gbk["source_id"][0].startswith("cnki_endnote:")


def test_bibtex_fields() -> None:
    row = by_doi("records.bib", DOI_A)
    assert row["journal_title"] == "BMC Medical Education"  # from the @string macro
    assert (row["published_date"], row["date_precision"]) == (date(2024, 3, 1), "month")
    assert names(row) == ["Chen, Li", "Smith, Anna J."]
    row = by_doi("records.bib", DOI_C)  # doi field carried https://doi.org/
    assert row["title"] == "ChatGPT performance on a national medical licensing examination"
    assert names(row) == ["Müller, Katrin", "Rossi, Marco"]
    assert (row["published_date"], row["date_precision"]) == (date(2023, 8, 1), "month")
    assert row["keywords"] == ["ChatGPT", "generative AI", "assessment"]
    assert row["pages"] == "e48291"
    assert row["language"] == "en"


def test_medline_fields() -> None:
    row = by_doi("records.nbib", DOI_A)
    assert row["pmid"] == "38471001"
    # Continuation lines joined; NLM's closing period dropped.
    assert row["title"] == ("Large language models as virtual patients in undergraduate "
                            "medical education: a randomised controlled trial")
    assert "history-taking skills of undergraduate medical students" in row["abstract"]
    assert row["authors"] == [
        {"name": "Chen, Li", "name_zh": None, "orcid": None,
         "affiliation": "Peking University Health Science Center, Beijing, China."},
        {"name": "Smith, Anna J", "name_zh": None, "orcid": "0000-0002-1825-0097",
         "affiliation": "Department of Medicine, University of Toronto, Toronto, Canada."},
    ]
    assert row["subjects"] == ["Humans", "Education, Medical, Undergraduate",
                               "Artificial Intelligence"]
    assert row["keywords"] == ["Large language models", "Virtual patients"]
    assert row["journal_title"] == "BMC medical education"
    assert (row["published_date"], row["date_precision"]) == (date(2024, 3, 12), "day")
    row = by_doi("records.nbib", DOI_B)
    assert row["journal_issn"] == "1040-2446"  # the Linking ISSN, not the first (Electronic)
    assert row["pages"] == "712-719"  # PG 712-9
    row = by_doi("records.nbib", DOI_C)
    assert (row["published_date"], row["date_precision"]) == (date(2023, 1, 1), "year")


def test_wos_fields() -> None:
    row = by_doi("wos_records.txt", DOI_B)
    assert row["title"] == ("Machine learning prediction of at-risk students in a medical "
                            "school: a learning analytics study")
    assert row["pmid"] == "37012345"
    assert row["keywords"] == ["Learning analytics", "Machine learning",
                               "Academic performance", "Early warning"]
    assert row["subjects"] == ["STUDENTS", "PERFORMANCE", "MEDICAL-EDUCATION"]
    assert [(a["name"], a["affiliation"], a["orcid"]) for a in row["authors"]] == [
        ("Garcia, Maria", "Univ Michigan, Sch Med, Ann Arbor, MI 48109 USA.",
         "0000-0002-1825-0097"),
        ("Okafor, Chinedu", "Univ Lagos, Coll Med, Lagos, Nigeria.", None),
        ("Kim, Soo-Jin", "Univ Michigan, Sch Med, Ann Arbor, MI 48109 USA.",
         "0000-0001-5109-3700"),
    ]
    assert (row["published_date"], row["date_precision"]) == (date(2023, 6, 1), "month")
    assert (row["volume"], row["issue"], row["pages"]) == ("98", "6", "712-719")
    assert row["journal_issn"] == "1040-2446"
    row = by_doi("wos_records.txt", DOI_C)
    assert row["pages"] == "e48291"  # AR article number
    assert {a["affiliation"] for a in row["authors"]} == {
        "Univ Bologna, Dept Med & Surg, Bologna, Italy."}
    row = by_doi("wos_records.txt", DOI_D)
    assert (row["published_date"], row["date_precision"]) == (date(2024, 3, 15), "day")


def test_scopus_fields() -> None:
    frame = parse("scopus.csv").records
    row = by_doi("scopus.csv", DOI_A)
    assert names(row) == ["Chen, Li", "Smith, Anna J."]  # Scopus author ids stripped
    assert [a["affiliation"] for a in row["authors"]] == [
        "Peking University Health Science Center, Beijing, China",
        "Department of Medicine, University of Toronto, Toronto, Canada",
    ]
    assert row["journal_issn"] == "1472-6920"
    assert row["pmid"] == "38471001"
    assert row["pages"] == "268"  # Art. No.
    assert row["subjects"] == ["Artificial Intelligence", "Education, Medical, Undergraduate",
                               "Humans"]
    assert (row["published_date"], row["date_precision"]) == (date(2024, 1, 1), "year")
    row = by_doi("scopus.csv", DOI_B)
    assert row["abstract"] is None  # "[No abstract available]"
    # Two affiliation entries for three authors: not matched by position.
    assert [a["affiliation"] for a in row["authors"]] == [None, None, None]
    assert row["pages"] == "712-719"
    assert frame["language"].to_list() == ["en", "en", "en"]


def test_scopus_bom_is_not_part_of_the_first_column() -> None:
    body = (FIXTURES / "scopus.csv").read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")
    text, encoding = decode_body(body)
    assert encoding == "utf-8" and text.startswith('"Authors"')
    assert names(by_doi("scopus.csv", DOI_C)) == ["Müller, Katrin", "Rossi, Marco"]


def test_cnki_refworks_chinese_fields() -> None:
    row = by_doi("cnki_refworks.txt", DOI_F)
    # Chinese text always fills the *_zh columns; title and journal_title fall back to it
    # (as for every source), the English-only abstract column does not.
    assert row["title_zh"] == row["title"] == "人工智能在医学教育中的应用现状与展望"
    assert row["abstract"] is None and row["abstract_zh"].startswith("目的 梳理人工智能技术")
    assert row["journal_title_zh"] == row["journal_title"] == "中华医学教育杂志"
    assert row["keywords"] == ["人工智能", "医学教育", "大语言模型", "教学改革"]
    assert names(row) == ["王建国", "李晓明", "张伟"]
    assert [a["name_zh"] for a in row["authors"]] == ["王建国", "李晓明", "张伟"]
    # CNKI lists the union of institutions: a single one belongs to every author.
    assert {a["affiliation"] for a in row["authors"]} == {
        "北京大学医学部医学教育研究所，北京 100191"}
    assert (row["volume"], row["issue"], row["pages"]) == ("46", "1", "1-6")  # "vo", "IS 01"
    assert row["journal_issn"] == "1673-677X"
    assert row["language"] == "zh"
    assert (row["published_date"], row["date_precision"]) == (date(2026, 1, 1), "year")
    row = by_doi("cnki_refworks.txt", "10.3969/j.issn.2096-045x.2023.02.005")
    assert row["keywords"] == ["智能导学系统", "病理学", "个性化学习"]  # joined with ，
    assert row["abstract_zh"].endswith("used by 86 students in a pathology course.")
    assert [a["affiliation"] for a in row["authors"]] == [None, None]  # two institutions


def test_cnki_endnote_gbk() -> None:
    body = (FIXTURES / "cnki_endnote_gbk.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    assert decode_body(body)[1] == "gb18030"
    row = by_doi("cnki_endnote_gbk.txt", DOI_G)
    assert row["title_zh"] == "基于大语言模型的虚拟标准化病人在临床技能教学中的应用"
    assert names(row) == ["刘洋", "陈静"]
    assert {a["affiliation"] for a in row["authors"]} == {"复旦大学上海医学院"}
    assert row["keywords"] == ["大语言模型", "虚拟标准化病人", "临床技能", "医学生"]
    assert (row["volume"], row["issue"], row["pages"]) == ("45", "8", "601-605")
    assert row["journal_issn"] == "1673-677X"
    assert row["language"] == "zh"
    # The same work from the RefWorks export carries the same identity.
    assert row["source_id"] == by_doi("cnki_refworks.txt", DOI_G)["source_id"]


@pytest.mark.parametrize(("name", "good", "rejects"), [
    ("malformed.ris", [DOI_A], {
        0: "text outside any RIS record",
        2: "record has no title",
        3: "RIS record starting on line 15 is not closed by ER (truncated file?)",
    }),
    ("malformed.bib", [DOI_C, DOI_D], {
        1: "BibTeX @article entry has unbalanced braces",
        2: "record has no title",
    }),
    ("malformed.nbib", [DOI_C], {
        1: "line 8 is not a MEDLINE field: 'this line has lost its six-space indent'",
        2: "record has no title",
    }),
    ("malformed_wos.txt", [DOI_D, DOI_C], {
        0: "Web of Science record starting on line 3 is not closed by ER (truncated file?)",
        2: "record has no title",
    }),
    ("malformed_scopus.csv", [DOI_C], {
        1: "row 3 has 10 fields, the header has 31",
        2: "record has no title",
    }),
    ("malformed_cnki_refworks.txt", [DOI_G], {
        0: "text outside any RefWorks record",
        1: "record has no title",
    }),
    ("malformed_cnki_endnote.txt", [None], {0: "record has no title"}),
])
def test_bad_records_are_rejected_and_the_rest_go_on(name: str, good: list,
                                                     rejects: dict[int, str]) -> None:
    parsed = parse(name)
    assert parsed.records["doi"].to_list() == good
    assert {r.raw_ref: r.reason for r in parsed.rejects} == {
        f"landing/files/b/{name}#{pos}": reason for pos, reason in rejects.items()}
    assert all(r.payload for r in parsed.rejects)


def test_unknown_content_is_an_unknown_format_error_listing_formats() -> None:
    body = (FIXTURES / "unknown_format.txt").read_bytes()
    with pytest.raises(UnknownFormatError, match="supported formats: ris, bibtex, nbib"):
        detect_format(body, "unknown_format.txt")
    with pytest.raises(PayloadError, match="cnki_endnote"):
        parse("unknown_format.txt")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(UnknownFormatError, match="unknown export format 'endnote_xml'"):
        parse("records.ris", kind="endnote_xml")


def test_wrong_kind_is_a_payload_error_not_an_empty_file() -> None:
    with pytest.raises(PayloadError, match="no Web of Science records"):
        parse("records.ris", kind="wos")
    with pytest.raises(PayloadError, match="not a Scopus CSV export: missing column"):
        parse("records.ris", kind="scopus_csv")
    with pytest.raises(PayloadError, match="no bibtex records"):
        parse("records.nbib", kind="bibtex")


@pytest.mark.parametrize(("body", "filename", "expected"), [
    (b"", "export.RIS", "ris"),
    (b"", "savedrecs.bib", "bibtex"),
    (b"", "scopus_export.csv", "scopus_csv"),
    (b"PMID- 1\nTI  - x\n", "pubmed-export.txt", "nbib"),
    ("RT Journal Article\nT1 标题\n".encode("gbk"), "CNKI-导出.txt", "cnki_refworks"),
    (b"PT J\nTI x\nER\n", "savedrecs.txt", "wos"),
])
def test_detect_format(body: bytes, filename: str, expected: str) -> None:
    assert detect_format(body, filename) == expected


def test_content_wins_over_a_misleading_extension() -> None:
    body = (FIXTURES / "records.nbib").read_bytes()
    assert detect_format(body, "export.ris") == "nbib"


def test_auto_uses_the_file_name_in_a_file_url() -> None:
    body = b"@article{k, title={AI tutors}, year={2024}}"
    parsed = parse_file(body, kind="auto", url="file:///inbox/%E5%AF%BC%E5%87%BA.bib",
                        raw_ref="r")
    assert parsed.records["title"].to_list() == ["AI tutors"]


def test_empty_file_of_a_known_extension_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="no RIS records"):
        parse_file(b"", kind="auto", url="/inbox/empty.ris", raw_ref="r")


def test_undecodable_bytes_are_a_payload_error() -> None:
    with pytest.raises(PayloadError, match="neither UTF-8 nor GB18030"):
        parse_file(b"TY  - JOUR\n\x80\x80\xff\n", kind="ris", url="x.ris", raw_ref="r")


def test_utf16_with_bom_is_decoded() -> None:
    text = (FIXTURES / "records.ris").read_text("utf-8")
    body = b"\xff\xfe" + text.encode("utf-16-le")
    assert parse_file(body, kind="auto", url="x.ris", raw_ref="r").records.height == 4


def test_formats_constant_lists_every_reader() -> None:
    assert set(FORMATS) == {fmt for fmt, _ in GOOD_FILES.values()}


def test_undefined_bibtex_macro_rejects_only_that_entry() -> None:
    body = (b"@article{a, title={AI tutors}, journal=nosuchmacro, year={2024}}\n"
            b"@article{b, title={Chatbots in anatomy}, year={2023}}\n")
    parsed = parse_file(body, kind="bibtex", url="x.bib", raw_ref="r")
    assert parsed.records["title"].to_list() == ["Chatbots in anatomy"]
    assert [(r.raw_ref, r.reason) for r in parsed.rejects] == [
        ("r#0", "BibTeX @article entry uses an undefined @string macro 'nosuchmacro'")]


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.iterdir() if p.suffix != ".md"))
def test_truncated_or_damaged_files_never_crash(name: str) -> None:
    body = (FIXTURES / name).read_bytes()
    kinds = ("auto", GOOD_FILES.get(name, ("ris",))[0], "bibtex", "scopus_csv")
    step = max(1, len(body) // 15)
    for cut in range(0, len(body), step):
        for damaged in (body[:cut], body[cut:], body[:cut] + body[cut + 7:]):
            for kind in kinds:
                try:
                    parsed = parse_file(damaged, kind=kind, url=name, raw_ref="r")
                except PayloadError:
                    continue
                assert parsed.records.schema == pl.Schema(CANONICAL_SCHEMA)


@pytest.mark.parametrize("header", [
    '"Authors","Author full names","Title","Year","Source title","EID"',
    "Title,Year,Source title,DOI",
    '\ufeff"Authors","Title","Year"',
])
def test_scopus_header_variants_are_detected(header: str) -> None:
    assert detect_format(f"{header}\n".encode(), "export") == "scopus_csv"


def test_a_csv_that_is_not_scopus_is_not_detected() -> None:
    with pytest.raises(UnknownFormatError):
        detect_format(b"name,score\nann,3\n", "grades")


def test_bibtex_syntax_variants() -> None:
    body = (b'@article(k1, title = "Chatbots {in} " # "anatomy: " # jan, pages = "101 -- 108",\n'
            b"  month = 3, date-added = {2024-01-01}, year = 2020)\n"
            b"@misc{k2, title = {Only a title}}\n"
            b"Free text between entries is a comment in BibTeX.\n"
            b"@article{k3 title = {no comma after the key}}\n")
    parsed = parse_file(body, kind="bibtex", url="x.bib", raw_ref="r")
    assert parsed.records.select("title", "pages", "published_date").to_dicts() == [
        {"title": "Chatbots in anatomy: January", "pages": "101-108",
         "published_date": date(2020, 3, 1)},
        {"title": "Only a title", "pages": None, "published_date": None},
    ]
    assert [(r.raw_ref, r.reason) for r in parsed.rejects] == [
        ("r#2", "BibTeX @article entry has no citation key followed by ','")]
