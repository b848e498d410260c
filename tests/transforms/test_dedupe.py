from datetime import date

import polars as pl

from transforms.canonical import to_canonical_frame
from transforms.dedupe import (
    IDENTITY_SCHEMA,
    assign_publications,
    drop_repeated_records,
    new_pub_id,
    with_match_keys,
)
from transforms.normalise import normalise_records


def _records(rows):
    return with_match_keys(normalise_records(to_canonical_frame(rows)))


def _identities(rows):
    return pl.DataFrame(rows, schema=IDENTITY_SCHEMA)


SEED = {"title_zh": "人工智能在医学教育中的应用进展与未来趋势",
        "title": "Application progress and future trends of artificial intelligence in medical education",
        "published_date": date(2025, 12, 31), "date_precision": "day",
        "journal_issn": "1673-677X"}


def test_keys_prefer_doi_then_pmid_then_title():
    frame = _records([
        {"source": "a", "source_id": "1", "doi": "10.1/X", "pmid": "5", **SEED},
        {"source": "a", "source_id": "2", "pmid": "5", **SEED},
        {"source": "a", "source_id": "3", **SEED},
        {"source": "a", "source_id": "4"},
    ])
    keys = frame.get_column("pub_key").to_list()
    assert keys[0] == "doi:10.1/x"
    assert keys[1] == "pmid:5"
    assert keys[2].startswith("title:人工智能在医学教育中的应用进展与未来趋势|2025|1673-677X")
    assert keys[3] == "record:a:4"


def test_drop_repeated_records_keeps_most_complete():
    frame = _records([
        {"source": "crossref", "source_id": "10.1/x", "doi": "10.1/x", "title": "T"},
        {"source": "crossref", "source_id": "10.1/x", "doi": "10.1/x", "title": "T",
         "abstract": "with abstract"},
        {"source": "crossref", "source_id": "10.1/y", "doi": "10.1/y", "title": "U"},
    ])
    kept, dropped = drop_repeated_records(frame)
    assert kept.height == 2 and dropped.height == 1
    assert kept.filter(pl.col("source_id") == "10.1/x").item(0, "abstract") == "with abstract"


def test_assign_new_records_get_stable_ids():
    frame = _records([{"source": "magtech", "source_id": "10.3760/a", "doi": "10.3760/A", **SEED}])
    out = assign_publications(frame, _identities([]))
    assert out.item(0, "pub_id") == new_pub_id("doi:10.3760/a")
    assert out.item(0, "match_rule") == "new"


def test_assign_matches_self_then_doi_then_pmid_then_title():
    identities = _identities([
        {"pub_id": "pub_self", "source": "crossref", "source_id": "10.1/self", "doi": "10.1/self",
         "pmid": None, "title_key": None, "pub_year": 2020, "journal_key": None},
        {"pub_id": "pub_doi", "source": "magtech", "source_id": "m1", "doi": "10.1/doi",
         "pmid": None, "title_key": None, "pub_year": 2020, "journal_key": None},
        {"pub_id": "pub_pmid", "source": "pubmed", "source_id": "77", "doi": None, "pmid": "77",
         "title_key": None, "pub_year": 2020, "journal_key": None},
        {"pub_id": "pub_title", "source": "magtech", "source_id": "m2", "doi": None,
         "pmid": None, "title_key": "applicationprogressandfuturetrendsofartificialintelligenceinmedicaleducation",
         "pub_year": 2025, "journal_key": "1673-677X"},
    ])
    frame = _records([
        {"source": "crossref", "source_id": "10.1/self", "doi": "10.1/self"},
        {"source": "crossref", "source_id": "10.1/doi", "doi": "10.1/doi"},
        {"source": "openalex", "source_id": "W1", "pmid": "77"},
        {"source": "files", "source_id": "f1", **{**SEED, "title_zh": None,
         "title": "Application progress and future trend of artificial intelligence in medical education"}},
        {"source": "files", "source_id": "f2", "title": "Something else entirely",
         "published_date": date(2025, 1, 1), "journal_issn": "1673-677X"},
    ])
    out = assign_publications(frame, identities)
    rules = dict(zip(out["source_id"], zip(out["pub_id"], out["match_rule"], strict=True), strict=True))
    assert rules["10.1/self"] == ("pub_self", "self")
    assert rules["10.1/doi"] == ("pub_doi", "doi")
    assert rules["W1"] == ("pub_pmid", "pmid")
    assert rules["f1"] == ("pub_title", "title")
    assert rules["f2"][1] == "new"
    fuzzy = out.filter(pl.col("source_id") == "f1")
    assert 0.93 <= fuzzy.item(0, "match_score") < 1.0
    assert fuzzy.item(0, "matched_source") == "magtech"


def test_fuzzy_title_needs_same_year_and_journal():
    identities = _identities([{
        "pub_id": "pub_t", "source": "magtech", "source_id": "m", "doi": None, "pmid": None,
        "title_key": "chatgptinmedicaleducationascopingreview", "pub_year": 2024,
        "journal_key": "1673-677X"}])
    frame = _records([
        {"source": "files", "source_id": "y", "title": "ChatGPT in medical education: a scoping review",
         "published_date": date(2023, 1, 1), "journal_issn": "1673-677X"},
        {"source": "files", "source_id": "j", "title": "ChatGPT in medical education: a scoping review",
         "published_date": date(2024, 1, 1), "journal_issn": "0142-159X"},
    ])
    out = assign_publications(frame, identities)
    assert out.get_column("match_rule").to_list() == ["new", "new"]


def test_records_of_one_batch_sharing_a_doi_share_a_publication():
    frame = _records([
        {"source": "files", "source_id": "ris-1", "doi": "10.1/z", "title": "Z"},
        {"source": "files", "source_id": "bib-1", "doi": "10.1/Z", "title": "Z"},
    ])
    out = assign_publications(frame, _identities([]))
    assert out.get_column("pub_id").n_unique() == 1


def test_later_records_of_a_batch_publication_are_merges_with_their_match():
    frame = _records([
        {"source": "oai", "source_id": "a", "title": "Same title", "published_date": date(2004, 1, 1),
         "journal_title": "Repository"},
        {"source": "oai", "source_id": "b", "title": "Same title", "published_date": date(2004, 1, 1),
         "journal_title": "Repository"},
        {"source": "oai", "source_id": "c", "doi": "10.1/q", "title": "Other"},
        {"source": "oai", "source_id": "d", "doi": "10.1/Q", "title": "Other"},
    ])
    out = assign_publications(frame, _identities([]))
    rows = {r["source_id"]: r for r in out.iter_rows(named=True)}
    assert rows["a"]["match_rule"] == "new" and rows["c"]["match_rule"] == "new"
    assert (rows["b"]["match_rule"], rows["b"]["matched_source_id"]) == ("title", "a")
    assert (rows["d"]["match_rule"], rows["d"]["matched_source_id"]) == ("doi", "c")
    assert rows["b"]["pub_id"] == rows["a"]["pub_id"]


def test_titles_never_merge_two_different_dois():
    same = {"title_zh": "人工智能在医学教育中的应用研究", "published_date": date(2024, 1, 1),
            "journal_issn": "1673-677X"}
    identities = _identities([{
        "pub_id": "pub_a", "source": "magtech", "source_id": "a", "doi": "10.3760/a",
        "pmid": None, "title_key": "人工智能在医学教育中的应用研究", "pub_year": 2024,
        "journal_key": "1673-677X"}])
    frame = _records([
        {"source": "crossref", "source_id": "10.3760/b", "doi": "10.3760/b", **same},
        {"source": "crossref", "source_id": "10.3760/c", "doi": "10.3760/c",
         **{**same, "title_zh": "人工智能在医学教育中的应用研宄"}},
        {"source": "files", "source_id": "f", **same},
    ])
    out = assign_publications(frame, identities)
    rows = {r["source_id"]: r for r in out.iter_rows(named=True)}
    assert rows["10.3760/b"]["match_rule"] == "new" and rows["10.3760/c"]["match_rule"] == "new"
    assert len({rows["10.3760/b"]["pub_id"], rows["10.3760/c"]["pub_id"], "pub_a"}) == 3
    assert (rows["f"]["match_rule"], rows["f"]["pub_id"]) == ("title", "pub_a")


# -- fuzzy matching: one cdist per block gives what one extractOne per probe gives ---------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rapidfuzz import fuzz, process  # noqa: E402

from transforms.dedupe import TITLE_THRESHOLD, _fuzzy_title_matches  # noqa: E402


def _fuzzy_reference(remaining, identities, threshold):
    """The rule as first written: a pool per block, extractOne per probe."""
    blocks = {}
    for pub_id, source, source_id, title_key, year, journal, doi in identities.filter(
            pl.col("title_key").is_not_null() & pl.col("pub_year").is_not_null()).select(
            "pub_id", "source", "source_id", "title_key", "pub_year", "journal_key",
            "doi").iter_rows():
        blocks.setdefault((year, journal), []).append((title_key, pub_id, source, source_id,
                                                       doi))
    rows = []
    for row, title_key, year, journal, doi in remaining.filter(
            pl.col("title_key").is_not_null() & pl.col("pub_year").is_not_null()).select(
            "_row", "title_key", "pub_year", "journal_key", "doi").iter_rows():
        pool = [p for p in blocks.get((year, journal), [])
                if doi is None or p[4] is None or p[4] == doi]
        if not pool:
            continue
        best = process.extractOne(title_key, [p[0] for p in pool], scorer=fuzz.ratio,
                                  score_cutoff=threshold)
        if best is not None:
            _, score, index = best
            rows.append((row, pool[index][1], "title", score / 100.0, pool[index][2],
                         pool[index][3]))
    return sorted(rows)


_TITLE_WORDS = ["ai", "tutor", "medical", "student", "learning", "chatgpt", "exam", "nurse"]
# Few distinct titles, so that equal best scores (ties between publications) are common.
_titles = st.one_of(
    st.lists(st.sampled_from(_TITLE_WORDS), min_size=3, max_size=9).map("".join),
    st.sampled_from(["aitutormedical", "aitutormedicals", "medicalstudentexam"]))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(_titles, st.sampled_from([2023, 2024, None]),
                       st.sampled_from(["j1", "j2", None]),
                       st.sampled_from([None, "10.1/a", "10.1/b"])), min_size=1, max_size=25),
    st.lists(st.tuples(_titles, st.sampled_from([2023, 2024, None]),
                       st.sampled_from(["j1", "j2", None]),
                       st.sampled_from([None, "10.1/a", "10.1/c"])), min_size=1, max_size=25),
    st.sampled_from([TITLE_THRESHOLD, 80.0]),
)
def test_block_cdist_matches_extract_one_per_probe(known, arriving, threshold):
    identities = pl.DataFrame(
        [{"pub_id": f"p{i % 11}", "source": "s", "source_id": str(i), "doi": doi,
          "pmid": None, "title_key": title, "pub_year": year, "journal_key": journal}
         for i, (title, year, journal, doi) in enumerate(known)], schema=IDENTITY_SCHEMA)
    remaining = pl.DataFrame(
        [{"_row": i, "title_key": title, "pub_year": year, "journal_key": journal, "doi": doi}
         for i, (title, year, journal, doi) in enumerate(arriving)],
        schema={"_row": pl.UInt32, "title_key": pl.String, "pub_year": pl.Int32,
                "journal_key": pl.String, "doi": pl.String})
    got = sorted(_fuzzy_title_matches(remaining, identities, threshold).iter_rows())
    assert got == _fuzzy_reference(remaining, identities, threshold)


def test_equal_fuzzy_scores_go_to_the_candidate_listed_first():
    identities = pl.DataFrame(
        [{"pub_id": p, "source": "s", "source_id": p, "doi": None, "pmid": None,
          "title_key": "aitutoringformedicalstudentsx", "pub_year": 2024, "journal_key": "j"}
         for p in ("p2", "p1", "p3")], schema=IDENTITY_SCHEMA)
    remaining = pl.DataFrame(
        {"_row": [0], "title_key": ["aitutoringformedicalstudentsy"], "pub_year": [2024],
         "journal_key": ["j"], "doi": [None]},
        schema={"_row": pl.UInt32, "title_key": pl.String, "pub_year": pl.Int32,
                "journal_key": pl.String, "doi": pl.String})
    got = _fuzzy_title_matches(remaining, identities, TITLE_THRESHOLD)
    assert got.get_column("pub_id").to_list() == ["p2"]
    assert got.item(0, "match_score") == fuzz.ratio("aitutoringformedicalstudentsx",
                                                    "aitutoringformedicalstudentsy") / 100
