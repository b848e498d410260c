"""Tests of gold-file parsing and classifier evaluation (hand-computed metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from transforms.evaluate import (
    GOLD_SCHEMA,
    EvaluationError,
    GoldFormatError,
    evaluate_predictions,
    format_report,
    read_gold_jsonl,
)

GOLD = Path(__file__).resolve().parent.parent / "fixtures" / "gold"


def _jsonl(*records: dict) -> bytes:
    return "\n".join(json.dumps(r, ensure_ascii=False) for r in records).encode("utf-8")


def _gold(*rows: tuple[str, bool, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"id": i, "is_ai_education": flag, "topics": topics} for i, flag, topics in rows],
        schema={"id": pl.String, "is_ai_education": pl.Boolean, "topics": pl.List(pl.String)},
    )


RECORD = {
    "id": "x1", "journal": "Chinese Journal of Medical Education", "issn": "1673-677X",
    "year": 2024, "lang": "zh+en", "title": "ChatGPT in teaching",
    "title_zh": "ChatGPT在教学中的应用",
    "abstract": None, "abstract_zh": None, "keywords": ["ChatGPT", "教学"],
    "is_ai_education": True, "topics": ["genai-llm"], "note": "example",
}


# --- read_gold_jsonl -----------------------------------------------------------------------


def test_read_gold_maps_fields_to_canonical_columns():
    frame = read_gold_jsonl(b"\xef\xbb\xbf" + _jsonl(RECORD) + b"\n\n")
    assert frame.schema == pl.Schema(GOLD_SCHEMA)
    row = frame.row(0, named=True)
    assert row["journal_title"] == "Chinese Journal of Medical Education"
    assert row["journal_issn"] == "1673-677X"
    assert row["language"] == "zh+en"
    assert row["year"] == 2024
    assert row["keywords"] == ["ChatGPT", "教学"]
    assert row["topics"] == ["genai-llm"]


def test_read_gold_reads_the_fixture_files():
    dev = read_gold_jsonl((GOLD / "dev.jsonl").read_bytes())
    holdout = read_gold_jsonl((GOLD / "holdout.jsonl").read_bytes())
    assert dev.height == 120
    assert dev["is_ai_education"].sum() == 72
    assert holdout.height >= 40
    assert set(holdout["language"]) == {"en", "zh", "zh+en"}
    assert not set(dev["id"]) & set(holdout["id"])


def test_read_gold_lists_every_bad_line():
    data = b"\n".join([
        _jsonl(RECORD),
        b"{not json",
        _jsonl({"id": "x2", "is_ai_education": "yes", "topics": []}),
        _jsonl({"id": "x3", "topics": []}),
        _jsonl({"id": "x4", "is_ai_education": False, "topics": ["genai-llm"]}),
        _jsonl({"id": "x5", "is_ai_education": True, "topics": "genai-llm"}),
        _jsonl({**RECORD, "id": "x6", "year": "2024"}),
        b"[1, 2]",
        _jsonl(RECORD),
    ])
    with pytest.raises(GoldFormatError) as info:
        read_gold_jsonl(data)
    message = str(info.value)
    assert "line 2: not JSON" in message
    assert "line 3: is_ai_education must be true or false, got 'yes'" in message
    assert "line 4: missing is_ai_education" in message
    assert "line 5: topics ['genai-llm'] on a record that is not AI-in-education" in message
    assert "line 6: topics must be a list of strings" in message
    assert "line 7: year must be an integer" in message
    assert "duplicate ids: x1" in message
    assert "line 8: not a JSON object" in message


def test_read_gold_rejects_non_utf8():
    with pytest.raises(GoldFormatError, match="not UTF-8"):
        read_gold_jsonl("标题".encode("gb18030"))


# --- evaluate_predictions ------------------------------------------------------------------


GOLD_ROWS = _gold(
    ("a", True, ["genai-llm", "assessment"]),
    ("b", True, ["genai-llm"]),
    ("c", False, []),
    ("d", True, ["ethics-policy"]),
    ("e", False, []),
)


def test_metrics_are_computed_by_hand():
    predicted = _gold(
        ("a", True, ["genai-llm"]),                  # assessment missed
        ("b", True, ["genai-llm", "assessment"]),    # assessment extra
        ("c", True, ["ethics-policy"]),              # false positive
        ("d", False, []),                            # false negative
        ("e", False, []),
        ("z", True, ["genai-llm"]),                  # not in gold: ignored
    )
    report = evaluate_predictions(GOLD_ROWS, predicted)
    assert report.records == 5
    rel = report.relevance
    assert (rel.tp, rel.fp, rel.fn) == (2, 1, 1)
    assert rel.precision == pytest.approx(2 / 3)
    assert rel.recall == pytest.approx(2 / 3)
    assert rel.f1 == pytest.approx(2 / 3)
    genai = report.topics["genai-llm"]
    assert (genai.tp, genai.fp, genai.fn, genai.f1) == (2, 0, 0, 1.0)
    assessment = report.topics["assessment"]
    assert (assessment.tp, assessment.fp, assessment.fn, assessment.f1) == (0, 1, 1, 0.0)
    ethics = report.topics["ethics-policy"]
    assert (ethics.tp, ethics.fp, ethics.fn) == (0, 1, 1)
    # micro: tp 2, fp 2, fn 2
    assert report.micro.precision == pytest.approx(0.5)
    assert report.micro.f1 == pytest.approx(0.5)
    # macro: mean of per-topic F1 over the three topics that occur
    assert report.macro.f1 == pytest.approx(1 / 3)
    assert report.false_positives == ("c",)
    assert report.false_negatives == ("d",)
    assert [m.id for m in report.topic_mismatches] == ["a", "b", "c", "d"]
    assert report.misclassified_ids == ("a", "b", "c", "d")


def test_predicted_topics_may_be_classifier_structs():
    predicted = pl.DataFrame(
        {"id": ["a", "b", "c", "d", "e"],
         "is_ai_education": [True, True, False, True, False],
         "topics": [
             [{"topic": "genai-llm", "score": 0.9, "evidence": []},
              {"topic": "assessment", "score": 0.6, "evidence": []}],
             [{"topic": "genai-llm", "score": 0.8, "evidence": []}],
             [], [{"topic": "ethics-policy", "score": 0.7, "evidence": []}], [],
         ]},
    )
    report = evaluate_predictions(GOLD_ROWS, predicted)
    assert report.relevance.f1 == 1.0
    assert report.micro.f1 == 1.0
    assert report.macro.f1 == 1.0
    assert report.misclassified_ids == ()


def test_known_topics_add_rows_and_reject_unknown_slugs():
    perfect = evaluate_predictions(GOLD_ROWS, GOLD_ROWS, topics=["genai-llm", "assessment",
                                                                  "ethics-policy", "simulation-vr"])
    assert perfect.topics["simulation-vr"].support == 0
    assert perfect.macro.f1 == 1.0  # a topic nobody used does not drag the macro average
    with pytest.raises(EvaluationError, match="unknown topic slugs: assessment, ethics-policy"):
        evaluate_predictions(GOLD_ROWS, GOLD_ROWS, topics=["genai-llm"])


def test_missing_predictions_and_columns_fail_loudly():
    with pytest.raises(EvaluationError, match="2 gold ids have no prediction: d, e"):
        evaluate_predictions(GOLD_ROWS, GOLD_ROWS.head(3))
    with pytest.raises(EvaluationError, match="predicted frame lacks columns: topics"):
        evaluate_predictions(GOLD_ROWS, GOLD_ROWS.drop("topics"))
    with pytest.raises(EvaluationError, match="repeats id 'a'"):
        evaluate_predictions(GOLD_ROWS, pl.concat([GOLD_ROWS, GOLD_ROWS.head(1)]))


def test_format_report_is_a_readable_table():
    predicted = _gold(
        ("a", True, ["genai-llm"]), ("b", True, ["genai-llm"]), ("c", True, []),
        ("d", True, ["ethics-policy"]), ("e", False, []),
    )
    text = format_report(evaluate_predictions(GOLD_ROWS, predicted))
    lines = text.splitlines()
    assert lines[0] == "Records: 5"
    assert "precision" in lines[2] and "recall" in lines[2] and "F1" in lines[2]
    assert any(line.startswith("relevance") and line.rstrip().endswith("0.857")
               for line in lines)
    assert any(line.startswith("assessment") for line in lines)
    assert any(line.startswith("topics (micro)") for line in lines)
    assert any(line.startswith("topics (macro)") for line in lines)
    assert "False positives (1): c" in text
    assert "False negatives (0): -" in text
    assert "  a: gold [assessment, genai-llm] predicted [genai-llm]" in text
    assert "Topic mismatches" not in format_report(
        evaluate_predictions(GOLD_ROWS, predicted), show_mismatches=False
    )
