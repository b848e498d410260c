"""The publications quality gate, run through both engines (great-expectations and polars)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from expectations import build_suites
from expectations.validate import (
    SUITE_PATH,
    SuiteError,
    UnsupportedExpectationError,
    ValidationInputError,
    ValidationOutcome,
    validate_publications,
)
from transforms.canonical import CANONICAL_COLUMNS, to_canonical_frame

TODAY = date(2026, 3, 1)
TOPICS = frozenset({
    "genai-llm", "adaptive-learning", "assessment", "simulation-vr", "learning-analytics",
    "curriculum-literacy", "teaching-transformation", "ethics-policy", "research-synthesis",
})  # fmt: skip
TOPIC_DTYPE = pl.List(pl.Struct({"topic": pl.String, "score": pl.Float64, "evidence": pl.String}))
ENGINES = ["gx", "polars", "hybrid"]

DOI = "expect_column_values_to_match_regex(doi)"
ISSN = "expect_column_values_to_match_regex(journal_issn)"
TITLE = "expect_column_values_to_be_in_set(has_title)"
LANGUAGE = "expect_column_values_to_be_in_set(language)"
PRECISION = "expect_column_values_to_be_in_set(dated_precision)"
PUBLISHED = "expect_column_values_to_be_between(published_date)"
YEAR = "expect_column_values_to_be_between(pub_year)"
RECEIVED = "expect_column_pair_values_a_to_be_greater_than_b(received_limit, received_date)"
TOPIC = "expect_column_values_to_be_null(unknown_topic_slugs)"
SCORE = "expect_column_values_to_be_between(ai_score)"
SOURCE = "expect_column_values_to_not_be_null(source)"
SOURCE_ID = "expect_column_values_to_not_be_null(source_id)"


@pytest.fixture(scope="module", autouse=True)
def _gx_imported() -> None:
    """Pay great-expectations' ~4 s import (and context set-up) once for the module."""
    tiny = frame_of([good_row("warm-up")])
    validate_publications(tiny, allowed_topics=TOPICS, today=TODAY, engine="gx")


def good_row(key: str, **overrides: Any) -> dict[str, Any]:
    """A row that meets every expectation; overrides make it bad on purpose."""
    row = {
        "pub_key": key,
        "source": "crossref",
        "source_id": f"W-{key}",
        "doi": f"10.1016/j.nedt.2024.{key}",
        "title": "Large language models as tutors in medical education",
        "abstract": "We evaluated an LLM tutor with 120 medical students.",
        "journal_issn": "0260-6917",
        "language": "en",
        "published_date": date(2024, 5, 1),
        "date_precision": "day",
        "received_date": date(2024, 1, 10),
        "is_ai_education": True,
        "ai_score": 0.9,
        "topics": [{"topic": "genai-llm", "score": 0.8, "evidence": "title: LLM"}],
    }
    row.update(overrides)
    return row


def frame_of(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Canonical frame plus the classification columns added upstream."""
    canonical = to_canonical_frame(
        [{k: v for k, v in row.items() if k in CANONICAL_COLUMNS} for row in rows]
    )
    return canonical.with_columns(
        pl.Series("pub_key", [r["pub_key"] for r in rows], dtype=pl.String),
        pl.Series("is_ai_education", [r.get("is_ai_education") for r in rows], dtype=pl.Boolean),
        pl.Series("ai_score", [r.get("ai_score") for r in rows], dtype=pl.Float64),
        pl.Series("topics", [r.get("topics", []) for r in rows], dtype=TOPIC_DTYPE),
        pl.lit("v1").alias("taxonomy_version"),
    )


def good_rows() -> list[dict[str, Any]]:
    """Valid rows covering the lenient cases: Chinese-only, partial dates, online-first."""
    return [
        good_row("g1"),
        good_row(
            "g2", source="magtech", doi="10.3760/cma.j.cn115259-20250310-00301", title=None,
            title_zh="生成式人工智能在医学教育中的应用", abstract=None, abstract_zh="目的 探讨",
            journal_issn="1673-677X", language="zh", published_date=date(2026, 1, 1),
            date_precision="month", received_date=date(2025, 3, 10),
            topics=[{"topic": "assessment", "score": 0.5, "evidence": "智能评价"},
                    {"topic": "ethics-policy", "score": 0.4, "evidence": "伦理"}],
        ),
        # received within the published month: month precision means "by the month's end"
        good_row("g3", published_date=date(2025, 6, 1), date_precision="month",
                 received_date=date(2025, 6, 15)),
        # online first: received before the online date, which precedes the issue date
        good_row("g4", online_date=date(2025, 2, 3), published_date=date(2025, 3, 1),
                 received_date=date(2025, 2, 1)),
        good_row("g5", published_date=date(2025, 1, 1), date_precision="year",
                 received_date=date(2025, 8, 1), journal_issn="2054-107X"),
        # no DOI, ISSN, language, dates, abstract or topics: nothing to object to
        good_row("g6", source="arxiv", doi=None, journal_issn=None, language=None,
                 published_date=None, date_precision=None, received_date=None,
                 abstract=None, is_ai_education=False, ai_score=0.0, topics=[]),
        # later this year, and the issue dated ahead within a year
        good_row("g7", published_date=date(2026, 12, 1), received_date=date(2026, 2, 1)),
        good_row("g8", ai_score=1.0, language="de", doi="10.1007/s40670-025-02311-4"),
    ]


def failures(outcome: ValidationOutcome) -> set[tuple[str, str]]:
    return set(outcome.failed.select("pub_key", "expectation").iter_rows())


@pytest.mark.parametrize("engine", ENGINES)
def test_good_frame_passes_entirely(engine: str) -> None:
    frame = frame_of(good_rows())

    outcome = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)

    assert outcome.failed.is_empty()
    assert outcome.failed.columns == ["pub_key", "expectation", "reason"]
    assert outcome.passed.equals(frame)
    assert not outcome.is_batch_failed and outcome.batch_failures == []
    row_level = [r for r in outcome.results if "has_abstract" not in r.expectation]
    assert len(outcome.results) == 13
    assert all(r.success and r.unexpected_count == 0 for r in row_level)
    assert all(r.element_count == frame.height for r in outcome.results)


BAD_CASES = {
    "resolver-prefix-doi": ({"doi": "https://doi.org/10.1/X"}, {DOI}, "https://doi.org/10.1/X"),
    "upper-case-doi": ({"doi": "10.1016/J.NEDT.2024.1"}, {DOI}, "10.1016/J.NEDT.2024.1"),
    "bad-issn": ({"journal_issn": "1673677X"}, {ISSN}, "1673677X"),
    "no-title": ({"title": None, "title_zh": None}, {TITLE}, "title and title_zh"),
    "blank-title": ({"title": "   "}, {TITLE}, "has_title=false"),
    "unknown-language": ({"language": "eng"}, {LANGUAGE}, "language=eng"),
    "unknown-topic": (
        {"topics": [{"topic": "genai-llm", "score": 0.8, "evidence": "x"},
                    {"topic": "blockchain", "score": 0.3, "evidence": "y"}]},
        {TOPIC}, "unknown_topic_slugs=blockchain",
    ),
    "received-after-published": (
        {"published_date": date(2024, 5, 1), "received_date": date(2024, 5, 2)},
        {RECEIVED}, "received_date=2024-05-02",
    ),
    "received-after-online": (
        {"online_date": date(2024, 4, 1), "published_date": date(2024, 5, 1),
         "received_date": date(2024, 4, 10)},
        {RECEIVED}, "received_limit=2024-04-01",
    ),
    "published-far-future": (
        {"published_date": date(2028, 1, 1)}, {PUBLISHED, YEAR}, "published_date=2028-01-01",
    ),
    "pub-year-next-year": ({"published_date": date(2027, 2, 1)}, {YEAR}, "pub_year=2027"),
    "published-before-1900": (
        {"published_date": date(1899, 12, 31), "received_date": None}, {PUBLISHED, YEAR},
        "allowed 1900-01-01..2027-03-01",
    ),
    "precision-missing": ({"date_precision": None}, {PRECISION}, "dated_precision=(missing)"),
    "precision-unknown": ({"date_precision": "week"}, {PRECISION}, "dated_precision=week"),
    "score-above-one": ({"ai_score": 1.2}, {SCORE}, "ai_score=1.2"),
    "score-negative": ({"ai_score": -0.1}, {SCORE}, "ai_score=-0.1"),
    "no-source": ({"source": None}, {SOURCE}, "source=null"),
    "no-source-id": ({"source_id": None}, {SOURCE_ID}, "source_id=null"),
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_each_expectation_catches_its_bad_row(case: str, engine: str) -> None:
    overrides, expected, shown = BAD_CASES[case]
    frame = frame_of([*good_rows(), good_row("bad", **overrides)])

    outcome = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)

    assert failures(outcome) == {("bad", label) for label in expected}
    assert any(shown in reason for reason in outcome.failed["reason"])
    assert "bad" not in outcome.passed["pub_key"].to_list()
    assert outcome.passed.height == frame.height - 1
    assert outcome.passed.columns == frame.columns
    assert not outcome.is_batch_failed
    by_name = {r.expectation: r for r in outcome.results}
    assert all(not by_name[label].success for label in expected)
    assert all(by_name[label].unexpected_count == 1 for label in expected)


@pytest.mark.parametrize("engine", ENGINES)
def test_row_failing_several_expectations_is_listed_once_per_expectation(engine: str) -> None:
    frame = frame_of([
        *good_rows(),
        good_row("worse", doi="https://doi.org/10.1/X", ai_score=3.0, language="xx"),
        good_row("bad-issn", journal_issn="12345678"),
    ])

    outcome = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)

    assert failures(outcome) == {
        ("worse", DOI), ("worse", SCORE), ("worse", LANGUAGE), ("bad-issn", ISSN),
    }
    assert sorted(outcome.passed["pub_key"]) == sorted(r["pub_key"] for r in good_rows())


@pytest.mark.parametrize("engine", ENGINES)
def test_most_dois_broken_fails_the_batch(engine: str) -> None:
    rows = [good_row(f"ok{i}") for i in range(2)]
    rows += [good_row(f"x{i}", doi=f"doi:10.1016/X{i}") for i in range(3)]
    rows += [good_row(f"nodoi{i}", doi=None) for i in range(5)]  # not counted

    outcome = validate_publications(
        frame_of(rows), allowed_topics=TOPICS, today=TODAY, engine=engine
    )

    assert outcome.is_batch_failed
    assert len(outcome.batch_failures) == 1
    assert outcome.batch_failures[0].startswith("doi_pattern_broken")
    assert "3 of 5 rows" in outcome.batch_failures[0]


@pytest.mark.parametrize("engine", ENGINES)
def test_half_the_dois_broken_is_row_level_only(engine: str) -> None:
    rows = [good_row(f"ok{i}") for i in range(3)]
    rows += [good_row(f"x{i}", doi=f"https://doi.org/10.1016/x{i}") for i in range(3)]

    outcome = validate_publications(
        frame_of(rows), allowed_topics=TOPICS, today=TODAY, engine=engine
    )

    assert not outcome.is_batch_failed
    assert {k for k, _ in failures(outcome)} == {"x0", "x1", "x2"}


@pytest.mark.parametrize("engine", ENGINES)
def test_most_titles_missing_fails_the_batch(engine: str) -> None:
    rows = [good_row(f"ok{i}") for i in range(2)]
    rows += [good_row(f"untitled{i}", title=None) for i in range(3)]

    outcome = validate_publications(
        frame_of(rows), allowed_topics=TOPICS, today=TODAY, engine=engine
    )

    assert outcome.is_batch_failed
    assert [f.split(":")[0] for f in outcome.batch_failures] == ["titles_missing"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(
    ("rows", "without_abstract", "batch_failed"),
    [(20, 19, True), (20, 18, False), (19, 19, False)],
    ids=["95%-of-20", "90%-of-20", "small-batch"],
)
def test_abstracts_missing_fails_only_large_batches(
    rows: int, without_abstract: int, batch_failed: bool, engine: str
) -> None:
    frame = frame_of([
        good_row(f"r{i}", abstract=None if i < without_abstract else "An abstract.")
        for i in range(rows)
    ])

    outcome = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)

    assert outcome.is_batch_failed is batch_failed
    assert outcome.failed.is_empty()  # a missing abstract never quarantines a row
    assert outcome.passed.height == rows
    if batch_failed:
        assert outcome.batch_failures[0].startswith("abstracts_missing")


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_frame_passes(engine: str) -> None:
    frame = frame_of([good_row("x")]).clear()

    outcome = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)

    assert outcome.passed.is_empty() and outcome.passed.columns == frame.columns
    assert outcome.failed.is_empty() and outcome.results == []
    assert not outcome.is_batch_failed


def test_repeated_or_missing_key_and_missing_columns_are_refused() -> None:
    frame = frame_of([good_row("a"), good_row("a"), good_row("b")])
    with pytest.raises(ValidationInputError, match="not unique.*: a$"):
        validate_publications(frame, allowed_topics=TOPICS, today=TODAY)
    with pytest.raises(ValidationInputError, match="topics"):
        validate_publications(frame.drop("topics"), allowed_topics=TOPICS, today=TODAY)
    nulls = frame_of([good_row("a")]).with_columns(pl.lit(None, pl.String).alias("pub_key"))
    with pytest.raises(ValidationInputError, match="null pub_key"):
        validate_publications(nulls, allowed_topics=TOPICS, today=TODAY)


def test_engines_agree_on_a_frame_with_bad_rows() -> None:
    rows = good_rows() + [
        good_row(f"bad-{case}", **overrides)
        for case, (overrides, _, _) in sorted(BAD_CASES.items())
    ] + [good_row("x-many", doi="DOI:10.1/x", ai_score=7.0, title=None, language="klingon")]
    frame = frame_of(rows)

    gx_out, pl_out, hybrid_out = (
        validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)
        for engine in ENGINES
    )
    assert hybrid_out.failed.equals(pl_out.failed) and hybrid_out.results == pl_out.results

    assert gx_out.failed.height == sum(len(exp) for _, exp, _ in BAD_CASES.values()) + 4
    assert gx_out.failed.equals(pl_out.failed)
    assert gx_out.passed.equals(pl_out.passed)
    assert gx_out.results == pl_out.results
    assert (gx_out.is_batch_failed, gx_out.batch_failures) == (
        pl_out.is_batch_failed, pl_out.batch_failures,
    )


def test_stored_suite_loads_in_gx_and_matches_its_python_definition() -> None:
    import great_expectations as gx

    data = json.loads(SUITE_PATH.read_text(encoding="utf-8"))
    suite = gx.ExpectationSuite(**data)

    assert "id" not in data
    assert len(suite.expectations) == len(data["expectations"]) == 13
    assert data["meta"]["batch_rules"][0]["max_unexpected_fraction"] == 0.5
    assert build_suites.render(build_suites.build_publications_suite()) == (
        SUITE_PATH.read_text(encoding="utf-8")
    )
    assert build_suites.stale_suites() == []


def edited_suite(tmp_path: Path, edit: Any) -> Path:
    data = json.loads(SUITE_PATH.read_text(encoding="utf-8"))
    edit(data)
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ENGINES)
def test_thresholds_and_tolerances_are_read_from_the_suite_file(
    tmp_path: Path, engine: str
) -> None:
    def loosen(data: dict[str, Any]) -> None:
        data["meta"]["parameters"]["received_tolerance_days"] = 3
        data["meta"]["batch_rules"][0]["max_unexpected_fraction"] = 0.9

    rows = [good_row("late", published_date=date(2024, 5, 1), received_date=date(2024, 5, 3))]
    rows += [good_row(f"x{i}", doi=f"https://doi.org/10.1/x{i}") for i in range(3)]

    outcome = validate_publications(
        frame_of(rows), allowed_topics=TOPICS, today=TODAY, engine=engine,
        suite_path=edited_suite(tmp_path, loosen),
    )

    assert not outcome.is_batch_failed  # 3 of 4 broken DOIs is under 90%
    assert failures(outcome) == {(f"x{i}", DOI) for i in range(3)}  # 'late' within 3 days


def test_broken_suite_files_fail_loudly(tmp_path: Path) -> None:
    frame = frame_of([good_row("a")])

    def unsupported(data: dict[str, Any]) -> None:
        data["expectations"].append({
            "type": "expect_column_values_to_be_unique", "kwargs": {"column": "doi"},
            "meta": {"level": "row", "description": "doi repeats"},
        })

    def rule_for_nothing(data: dict[str, Any]) -> None:
        data["meta"]["batch_rules"][0]["expectation"] = "expect_nothing(doi)"

    with pytest.raises(UnsupportedExpectationError, match="expect_column_values_to_be_unique"):
        validate_publications(
            frame, allowed_topics=TOPICS, today=TODAY, engine="polars",
            suite_path=edited_suite(tmp_path, unsupported),
        )
    with pytest.raises(SuiteError, match="unknown expectation expect_nothing"):
        validate_publications(
            frame, allowed_topics=TOPICS, today=TODAY,
            suite_path=edited_suite(tmp_path, rule_for_nothing),
        )


@pytest.mark.parametrize("engine", ENGINES)
def test_plain_slug_lists_are_checked_too(engine: str) -> None:
    frame = frame_of([good_row("a"), good_row("b")]).with_columns(
        pl.Series("topics", [["assessment"], ["assessment", "crypto"]], dtype=pl.List(pl.String))
    )

    outcome = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine=engine)

    assert failures(outcome) == {("b", TOPIC)}
    assert outcome.failed["reason"][0].endswith("unknown_topic_slugs=crypto")


# -- the hybrid engine: polars on every row, great-expectations on a stated sample ---------

from expectations.engines import HYBRID_SAMPLE_ROWS, KEY, hybrid_sample  # noqa: E402
from expectations.validate import EngineDisagreementError  # noqa: E402


def big_frame(bad_every: int) -> pl.DataFrame:
    rows = [good_row(f"r{i:05d}") if i % bad_every else
            good_row(f"r{i:05d}", doi=f"doi:10.1/{i}", ai_score=2.0)
            for i in range(HYBRID_SAMPLE_ROWS * 2 + 123)]
    return frame_of(rows)


def test_hybrid_equals_polars_on_a_batch_larger_than_its_sample() -> None:
    frame = big_frame(bad_every=97)
    hybrid = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine="hybrid")
    native = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine="polars")
    assert hybrid.failed.equals(native.failed) and hybrid.results == native.results
    assert failures(hybrid) == {(f"r{i:05d}", e) for i in range(0, frame.height, 97)
                                for e in (DOI, SCORE)}


def test_the_sample_holds_flagged_rows_then_others_in_hash_order() -> None:
    frame = big_frame(bad_every=3)  # a third flagged: more than half a sample
    flagged = frame.filter(pl.col("doi").str.starts_with("doi:")).get_column(KEY)
    sample = hybrid_sample(frame, flagged, HYBRID_SAMPLE_ROWS)
    keys = sample.get_column(KEY)
    assert sample.height == HYBRID_SAMPLE_ROWS and keys.n_unique() == HYBRID_SAMPLE_ROWS
    assert keys.is_in(flagged.implode()).sum() == HYBRID_SAMPLE_ROWS // 2
    assert hybrid_sample(frame, flagged, HYBRID_SAMPLE_ROWS).equals(sample)  # deterministic
    small = frame.head(10)
    assert hybrid_sample(small, flagged, HYBRID_SAMPLE_ROWS).equals(small)


def test_hybrid_fails_the_batch_when_the_engines_disagree() -> None:
    # A real difference of the two regex engines: Python's "$" also matches before a final
    # newline (great-expectations says the DOI is fine), Rust's does not (polars says bad).
    frame = frame_of([good_row("a"), good_row("b", doi="10.1016/j.nedt.2024.b\n")])
    native = validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine="polars")
    assert failures(native) == {("b", DOI)}
    with pytest.raises(EngineDisagreementError, match=r"disagree on expect_column_values_to_ma"
                                                      r"tch_regex\(doi\) for 1 of 2 .* b;"):
        validate_publications(frame, allowed_topics=TOPICS, today=TODAY, engine="hybrid")
