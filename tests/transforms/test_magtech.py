"""Magtech page parsing on the hand-made fixture pages (see tests/fixtures/magtech/README.md)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from transforms.canonical import CANONICAL_SCHEMA
from transforms.magtech import (
    UnknownKindError,
    decode_html,
    link_info,
    parse_article_links,
    parse_current_issue,
    parse_issue_links,
    parse_magtech,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magtech"
SITE = "http://zhyxjy.magtechjournal.com"
SEED_DOI = "10.3760/cma.j.cn115259-20250317-00283"


def page(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def seed_text_line(prefix: str) -> str:
    text = (FIXTURES / "seed_article_page.txt").read_text(encoding="utf-8")
    return next(x for x in text.splitlines() if x.startswith(prefix)).removeprefix(prefix)


def parse_one(body: bytes, url: str = f"{SITE}/CN/{SEED_DOI}") -> dict:
    payload = parse_magtech(body, kind="article", url=url, raw_ref="landing/b1/00003.html")
    assert payload.rejects == []
    assert payload.records.height == 1
    return payload.records.row(0, named=True)


def reject_reason(body: bytes) -> str:
    payload = parse_magtech(body, kind="article", url=f"{SITE}/CN/x", raw_ref="b/00001.html")
    assert payload.records.height == 0
    assert len(payload.rejects) == 1
    assert payload.rejects[0].raw_ref == "b/00001.html#0"
    return payload.rejects[0].reason


# --------------------------------------------------------------------------- the seed article


def test_seed_article_field_by_field() -> None:
    row = parse_one(page("a2026_01_p1_seed.html"))
    assert row["source"] == "magtech"
    assert row["source_id"] == SEED_DOI
    assert row["doi"] == SEED_DOI
    assert row["pmid"] is None and row["openalex_id"] is None
    assert row["title"] == (
        "Application progress and future trends of artificial intelligence in medical education")
    assert row["title_zh"] == "人工智能在医学教育中的应用进展与未来趋势"
    assert row["abstract"] == seed_text_line("Abstract: ")  # verbatim, ″ and “” kept
    assert row["abstract_zh"].startswith("医学教育作为“健康中国”与“教育强国”两大国家战略")
    assert row["abstract_zh"].endswith("迎接新时代的机遇与挑战。")
    assert row["keywords"] == [
        "教育，医学", "人工智能", "数智时代", "技术赋能",
        "Education, medical", "Artificial intelligence", "Digital and intelligent era",
        "Technological empowerment",
    ]
    affiliation = ("Institute of Health Professions Education Assessment and Reform, "
                   "China Medical University, Shenyang 110122, China")
    assert row["authors"] == [
        {"name": "Wen Deliang", "name_zh": "闻德亮", "orcid": None, "affiliation": affiliation},
        {"name": "Wei Xiaotong", "name_zh": "魏晓彤", "orcid": None, "affiliation": affiliation},
    ]
    assert row["journal_issn"] == "1673-677X"
    assert row["journal_title"] == "Chinese Journal of Medical Education"
    assert row["journal_title_zh"] == "中华医学教育杂志"
    assert (row["volume"], row["issue"], row["pages"]) == ("46", "1", "1-7")
    assert row["section"] == "人工智能在医学教育中的应用"
    assert row["language"] == "zh"
    # Magtech: "Online" is the issue date (出版日期), "Published" the web release (发布日期).
    assert (row["published_date"], row["date_precision"]) == (date(2026, 1, 1), "day")
    assert row["online_date"] == date(2025, 12, 31)
    assert row["received_date"] == date(2025, 3, 17)
    assert row["url"] == f"{SITE}/CN/{SEED_DOI}"
    assert row["raw_ref"] == "landing/b1/00003.html#0"
    assert len(row["content_hash"]) == 64


def test_seed_fixture_matches_the_rendered_seed_page() -> None:
    body = page("a2026_01_p1_seed.html").decode("utf-8")
    for line in ("Received:2025-03-17 Online:2026-01-01 Published:2025-12-31",
                 "• Applications of Artificial Intelligence in Medical Education •",
                 "Issue (1): 1-7.DOI: 10.3760/cma.j.cn115259-20250317-00283"):
        assert line in body


def test_frame_has_the_canonical_schema() -> None:
    payload = parse_magtech(page("a2026_01_p1_seed.html"), kind="article", url="u", raw_ref="r")
    assert payload.records.schema == pl.Schema(CANONICAL_SCHEMA)


def test_received_date_falls_back_to_the_doi() -> None:
    body = page("a2026_01_p1_seed.html")
    body = body.replace("收稿日期:2025-03-17 ".encode(), b"").replace(
        b"Received:2025-03-17 ", b"")
    assert b"2025-03-17" not in body
    assert parse_one(body)["received_date"] == date(2025, 3, 17)


def test_without_url_the_abstract_page_url_is_used() -> None:
    payload = parse_magtech(page("a2026_01_p1_seed.html"), kind="article", url="",
                            raw_ref="r")
    assert payload.records["url"].to_list() == [f"{SITE}/CN/{SEED_DOI}"]


# --------------------------------------------------------------------------- other articles


def test_html_entities_are_decoded() -> None:
    row = parse_one(page("a2026_01_p8_chatgpt_entities.html"))
    assert row["title_zh"] == "ChatGPT辅助案例教学在内科学见习中的应用：一项随机对照研究"
    assert "(the “ChatGPT + CBL” model)" in row["abstract"]
    assert "ChatGPT for case discussion and Q&A," in row["abstract"]
    assert "(P<0.05)" in row["abstract"]
    assert "（P<0.05）" in row["abstract_zh"]
    assert row["section"] == "人工智能在医学教育中的应用"  # bullets written as &bull;
    assert row["keywords"][:2] == ["ChatGPT", "大语言模型"]
    assert row["keywords"].count("ChatGPT") == 1  # same term in both languages: once
    assert [a["affiliation"] for a in row["authors"]] == [
        "Department of Education, Peking University First Hospital, Beijing 100034, China",
        "Institute of Medical Education, Peking University Health Science Center, "
        "Beijing 100191, China",
        "Department of Education, Peking University First Hospital, Beijing 100034, China",
    ]


def test_gbk_page_declared_gb2312_is_decoded() -> None:
    body = page("a2026_01_p20_assessment_gbk.html")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    with pytest.raises(UnicodeDecodeError):
        body.decode("gb2312")  # 喆 is GBK, not GB2312: the declared charset alone fails
    row = parse_one(body)
    assert row["title_zh"] == "大语言模型自动评分客观结构化临床考试病历书写的效度研究"
    assert [(a["name"], a["name_zh"]) for a in row["authors"]] == [
        ("Wang Zhe", "王喆"), ("Zhao Lijuan", "赵丽娟")]
    assert row["section"] == "人工智能在医学教育中的应用"
    assert row["pages"] == "20-25"


def test_no_xml_lang_tells_languages_apart_by_script() -> None:
    row = parse_one(page("a2026_01_p14_tutoring_nolang.html"))
    assert row["title"].startswith("Design and effectiveness of an intelligent tutoring")
    assert row["title_zh"] == "基于知识图谱的药理学智能导学系统的设计与应用效果评价"
    assert row["abstract"].startswith("Objective To build an intelligent tutoring system")
    assert row["abstract_zh"].startswith("目的 构建基于知识图谱的药理学智能导学系统")
    assert row["journal_title"] == "Chinese Journal of Medical Education"
    assert row["journal_title_zh"] == "中华医学教育杂志"
    assert row["authors"][0] == {
        "name": "Zhou Yaqin", "name_zh": "周雅琴", "orcid": None,
        "affiliation": "Department of Pharmacology, West China School of Basic Medical "
                       "Sciences & Forensic Medicine, Sichuan University, Chengdu 610041, China",
    }
    assert row["keywords"] == ["智能导学系统", "知识图谱", "药理学", "个性化学习",
                               "Intelligent tutoring system", "Knowledge graph",
                               "Pharmacology", "Personalized learning"]


def test_page_without_abstract_is_a_record_without_abstract() -> None:
    row = parse_one(page("a2026_01_p26_curriculum_noabstract.html"))
    assert row["abstract"] is None and row["abstract_zh"] is None
    assert row["title_zh"] == "本科临床医学专业整合课程改革的思考"
    assert row["section"] == "课程改革与发展"
    assert row["language"] == "zh"


def test_page_truncated_mid_tag_after_the_head_still_parses() -> None:
    body = page("a2026_01_p31_flipped_truncated.html")
    assert body.rstrip().endswith(b'<div class="en-bl')
    row = parse_one(body)
    assert row["title"].startswith("Application of the flipped classroom")
    assert row["abstract"].startswith("Objective To explore the effect of the flipped classroom")
    assert row["section"] == "课程改革与发展"
    assert row["received_date"] == date(2025, 3, 5)


def test_page_cut_inside_a_utf8_character_is_not_decoded_as_gb18030() -> None:
    body = page("a2026_01_p1_seed.html")
    cut = body.rindex("迎接新时代的机遇与挑战".encode()) + 4  # inside its 2nd character
    text, lossy = decode_html(body[:cut])
    assert not lossy
    assert text.endswith("发挥人工智能的引领作用，推动医学教育创新与变革，迎")
    row = parse_one(body[:cut])
    assert row["title_zh"] == "人工智能在医学教育中的应用进展与未来趋势"
    assert row["section"] == "人工智能在医学教育中的应用"


def test_page_truncated_inside_the_head_is_rejected() -> None:
    body = page("a2026_01_p1_seed.html")
    cut = body.index(b'<meta name="citation_volume"') + 20
    assert "truncated" in reject_reason(body[:cut])


def test_joined_keywords_and_past_issue_dates() -> None:
    row = parse_one(page("a2025_12_p1121_genai_survey.html"),
                    url=f"{SITE}/CN/abstract/abstract2318.shtml")
    assert row["keywords"] == ["生成式人工智能", "医学生", "人工智能素养", "学术诚信",
                               "Generative artificial intelligence", "Medical students",
                               "AI literacy", "Academic integrity"]
    assert (row["volume"], row["issue"], row["pages"]) == ("45", "12", "1121-1126")
    assert row["published_date"] == date(2025, 12, 1)
    assert row["online_date"] == date(2025, 11, 28)
    assert row["section"] == "调查研究"
    assert row["source_id"] == "10.3760/cma.j.cn115259-20250611-00655"
    assert row["url"] == f"{SITE}/CN/abstract/abstract2318.shtml"


def test_month_precision_publication_date() -> None:
    row = parse_one(page("a2025_12_p1127_blended_month.html"))
    assert (row["published_date"], row["date_precision"]) == (date(2025, 12, 1), "month")
    assert row["online_date"] is None
    assert row["received_date"] == date(2025, 5, 20)


def test_keywords_fall_back_to_the_visible_key_words_lines() -> None:
    body = page("a2026_01_p14_tutoring_nolang.html")
    lines = [x for x in body.split(b"\n") if b'name="citation_keywords"' not in x]
    row = parse_one(b"\n".join(lines))
    assert row["keywords"] == ["智能导学系统", "知识图谱", "药理学", "个性化学习",
                               "Intelligent tutoring system", "Knowledge graph",
                               "Pharmacology", "Personalized learning"]


def test_abstract_falls_back_to_the_visible_abstract() -> None:
    body = page("a2026_01_p1_seed.html")
    lines = [x for x in body.split(b"\n") if b'name="dc.description"' not in x]
    row = parse_one(b"\n".join(lines))
    assert row["abstract"] == seed_text_line("Abstract: ")
    assert row["abstract_zh"].startswith("医学教育作为")


def test_source_id_is_the_url_path_without_a_doi() -> None:
    body = page("a2025_12_p1127_blended_month.html")
    lines = [x for x in body.split(b"\n")
             if b"citation_doi" not in x and b"prism.doi" not in x and b"dc.identifier" not in x]
    body = b"\n".join(lines).replace(b"DOI: 10.3760/cma.j.cn115259-20250520-00563", b"")
    row = parse_one(body, url=f"{SITE}/CN/abstract/abstract2319.shtml")
    assert row["doi"] is None
    assert row["source_id"] == "/CN/abstract/abstract2319.shtml"


# --------------------------------------------------------------------------- rejects


def test_page_without_meta_tags_is_rejected() -> None:
    reason = reject_reason(page("a2025_12_p1132_pbl_nometa.html"))
    assert "citation_" in reason and "meta" in reason


def test_404_page_is_rejected() -> None:
    assert "citation_" in reject_reason(page("not_found_404.html"))


def test_empty_body_is_rejected() -> None:
    assert "empty" in reject_reason(b"  \n</html>")


def test_undecodable_bytes_are_rejected() -> None:
    body = page("a2026_01_p1_seed.html").replace(
        "人工智能在医学教育中的应用进展与未来趋势".encode(), b"\xff\xfe\xff bad")
    assert "undecodable" in reject_reason(body)


def test_unknown_kind_fails_loudly_and_plumbing_kinds_give_nothing() -> None:
    with pytest.raises(UnknownKindError, match="article, listing, robots"):
        parse_magtech(b"", kind="issue", url="u", raw_ref="r")
    for kind, name in (("listing", "en_current_2026_v46_i1.html"), ("robots", "robots.txt")):
        payload = parse_magtech(page(name), kind=kind, url="u", raw_ref="r")
        assert payload.records.height == 0 and payload.rejects == []


# --------------------------------------------------------------------------- decoding


def test_decode_html_order() -> None:
    gbk = "<meta charset='gbk'><p>中华医学教育杂志</p>".encode("gbk")
    assert decode_html(gbk) == ("<meta charset='gbk'><p>中华医学教育杂志</p>", False)
    # Mislabelled: declares gbk but is UTF-8; valid UTF-8 wins.
    utf8 = "<meta charset='gbk'><p>中华医学教育杂志</p>".encode()
    assert decode_html(utf8)[0].endswith("中华医学教育杂志</p>")
    # No meta: the HTTP charset decides before the GB18030 guess.
    big5 = "<p>醫學教育</p>".encode("big5")
    assert decode_html(big5, content_type="text/html; charset=big5")[0] == "<p>醫學教育</p>"
    assert decode_html(b"\xef\xbb\xbf<p>x</p>") == ("<p>x</p>", False)
    text, lossy = decode_html(b"<p>\xff\xff</p>")
    assert lossy and "\ufffd" in text


# --------------------------------------------------------------------------- links

CURRENT_LINKS = [f"{SITE}/CN/10.3760/cma.j.cn115259-{s}" for s in (
    "20250317-00283", "20250402-00361", "20250228-00197", "20250509-00512",
    "20250121-00076", "20250305-00244", "20250415-00402")]


def test_article_links_current_issue_one_cn_doi_url_per_article() -> None:
    url = f"{SITE}/EN/1673-677X/current.shtml"
    assert parse_article_links(page("en_current_2026_v46_i1.html"), url) == CURRENT_LINKS


def test_article_links_chinese_layout() -> None:
    url = f"{SITE}/CN/volumn/home.shtml"
    assert parse_article_links(page("cn_current_2026_v46_i1.html"), url) == CURRENT_LINKS


def test_article_links_table_layout_without_dois() -> None:
    url = f"{SITE}/EN/volumn/volumn_98.shtml"
    assert parse_article_links(page("en_volumn_98_2025_v45_i12.html"), url) == [
        f"{SITE}/CN/abstract/abstract{n}.shtml" for n in (2318, 2319, 2320)]


def test_listing_without_article_links() -> None:
    url = f"{SITE}/EN/volumn/volumn_97.shtml"
    assert parse_article_links(page("en_volumn_97_2025_v45_i11_empty.html"), url) == []
    assert parse_article_links(b"", url) == []


def test_entries_with_different_link_forms_are_kept_apart() -> None:
    """Entry 1 has DOI + page links, entry 2 only a DOI link, entry 3 only an abstract link."""
    body = b"""<html><body><ul>
    <li><a href="/CN/Y2026/V46/I1/1">One</a> <a href="/EN/10.3760/a-1">DOI</a></li>
    <li><a href="/EN/10.3760/a-2">Two</a></li>
    <li><a href="/CN/abstract/abstract77.shtml">Three</a></li>
    <li><a href="/CN/10.3760/A-1">One again, CN, upper case</a></li>
    <li><a href="http://elsewhere.example/CN/10.3760/a-9">Other host</a></li>
    <li><a href="/CN/article/downloadArticleFile.do?attachType=PDF&amp;id=1">PDF</a></li>
    </ul></body></html>"""
    assert parse_article_links(body, f"{SITE}/EN/volumn/volumn_1.shtml") == [
        f"{SITE}/CN/10.3760/a-1", f"{SITE}/CN/10.3760/a-2",
        f"{SITE}/CN/abstract/abstract77.shtml"]


def test_issue_links_and_archive_pages() -> None:
    url = f"{SITE}/EN/1673-677X/current.shtml"
    assert parse_issue_links(page("en_current_2026_v46_i1.html"), url) == [
        f"{SITE}/EN/1673-677X/current.shtml", f"{SITE}/EN/article/showOldVolumn.do",
        f"{SITE}/EN/volumn/volumn_98.shtml"]
    assert parse_issue_links(page("cn_home.html"), f"{SITE}/CN/1673-677X/home.shtml") == [
        f"{SITE}/CN/volumn/home.shtml", f"{SITE}/CN/article/showOldVolumn.do"]
    assert parse_issue_links(page("en_archive.html"), f"{SITE}/EN/article/showOldVolumn.do") == [
        f"{SITE}/EN/volumn/volumn_{n}.shtml" for n in (99, 98, 97)]


def test_current_issue_detection() -> None:
    assert parse_current_issue(page("en_current_2026_v46_i1.html")) == (2026, 46, 1)
    assert parse_current_issue(page("cn_current_2026_v46_i1.html")) == (2026, 46, 1)
    assert parse_current_issue(page("cn_home.html")) == (2026, 46, 1)
    assert parse_current_issue(page("en_volumn_98_2025_v45_i12.html")) == (2025, 45, 12)
    assert parse_current_issue(page("en_volumn_97_2025_v45_i11_empty.html")) == (2025, 45, 11)
    assert parse_current_issue(page("en_archive.html")) is None
    assert parse_current_issue(b"") is None


@pytest.mark.parametrize(("url", "kind", "canonical"), [
    (f"{SITE}/EN/10.3760/cma.j.cn115259-20250317-00283#abs", "article",
     f"{SITE}/CN/10.3760/cma.j.cn115259-20250317-00283"),
    (f"{SITE}/EN/abstract/abstract12.shtml", "article", f"{SITE}/CN/abstract/abstract12.shtml"),
    (f"{SITE}/en/Y2025/V45/I12/1121", "article", f"{SITE}/cn/Y2025/V45/I12/1121"),
    (f"{SITE}/CN/Y2025/V45/I12", "issue", f"{SITE}/CN/Y2025/V45/I12"),
    (f"{SITE}/EN/volumn/volumn_98.shtml", "issue", f"{SITE}/EN/volumn/volumn_98.shtml"),
    (f"{SITE}/CN/volumn/volumn_98_abs.shtml", "issue", f"{SITE}/CN/volumn/volumn_98_abs.shtml"),
    (f"{SITE}/CN/article/showTenYearVolumnDetail.do?nian=2025", "archive",
     f"{SITE}/CN/article/showTenYearVolumnDetail.do?nian=2025"),
    ("https://journal06.magtechjournal.com/Jwk3_x/EN/abstract/abstract5.shtml", "article",
     "https://journal06.magtechjournal.com/Jwk3_x/CN/abstract/abstract5.shtml"),
])
def test_link_info(url: str, kind: str, canonical: str) -> None:
    info = link_info(url)
    assert info is not None
    assert (info.kind, info.url) == (kind, canonical)


@pytest.mark.parametrize("url", [
    f"{SITE}/CN/article/downloadArticleFile.do?attachType=PDF&id=1",
    f"{SITE}/CN/1673-677X/home.shtml",
    f"{SITE}/EN/column/column1.shtml",
    "https://doi.org/10.3760/cma.j.cn115259-20250317-00283",
])
def test_link_info_ignores_other_pages(url: str) -> None:
    assert link_info(url) is None
