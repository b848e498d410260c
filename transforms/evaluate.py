"""Evaluation of the classifier against labelled gold records (pure functions, no I/O).

Typical use::

    gold = read_gold_jsonl(Path("gold/dev.jsonl").read_bytes())
    predicted = classify_topics(gold, load_taxonomy())
    print(format_report(evaluate_predictions(gold, predicted)))

Topic metrics are multi-label and computed over all records: a record's gold and predicted
topic sets are compared (both are empty for negatives), so relevance errors also count as
topic errors. Macro averages are means over the topics that occur in the gold labels or the
predictions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

#: Fields of a gold record (the gold README) and the canonical-ish column each becomes.
GOLD_FIELDS: dict[str, str] = {
    "id": "id",
    "title": "title",
    "title_zh": "title_zh",
    "abstract": "abstract",
    "abstract_zh": "abstract_zh",
    "keywords": "keywords",
    "journal": "journal_title",
    "issn": "journal_issn",
    "year": "year",
    "lang": "language",
    "is_ai_education": "is_ai_education",
    "topics": "topics",
    "note": "note",
}
GOLD_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(),
    "title": pl.String(),
    "title_zh": pl.String(),
    "abstract": pl.String(),
    "abstract_zh": pl.String(),
    "keywords": pl.List(pl.String),
    "journal_title": pl.String(),
    "journal_issn": pl.String(),
    "year": pl.Int32(),
    "language": pl.String(),
    "is_ai_education": pl.Boolean(),
    "topics": pl.List(pl.String),
    "note": pl.String(),
}
_REQUIRED = ("id", "is_ai_education", "topics")
_TEXT = ("title", "title_zh", "abstract", "abstract_zh", "journal", "issn", "lang", "note")


class GoldFormatError(ValueError):
    """The gold file is malformed; the message lists the offending lines or values."""


class EvaluationError(ValueError):
    """Gold and predictions cannot be compared (missing ids, unknown topics, columns)."""


@dataclass(frozen=True)
class Metrics:
    """Precision, recall and F1 with their counts (F1 is 0 when undefined)."""

    precision: float
    recall: float
    f1: float
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def support(self) -> int:
        """Number of gold positives."""
        return self.tp + self.fn

    @property
    def predicted(self) -> int:
        """Number of predicted positives."""
        return self.tp + self.fp


@dataclass(frozen=True)
class TopicMismatch:
    """A record whose predicted topic set differs from its gold topic set."""

    id: str
    gold: tuple[str, ...]
    predicted: tuple[str, ...]


@dataclass(frozen=True)
class EvaluationReport:
    """Evaluation of predictions against gold labels.

    Attributes:
        records: Number of gold records evaluated.
        relevance: Metrics of ``is_ai_education``.
        topics: Per-topic metrics, by slug.
        micro: Micro-averaged topic metrics (pooled counts).
        macro: Macro-averaged topic metrics (mean precision, recall and F1 over topics).
        false_positives: Ids predicted AI-in-education that are not.
        false_negatives: Ids that are AI-in-education but were not predicted so.
        topic_mismatches: Records whose topic sets differ.
    """

    records: int
    relevance: Metrics
    topics: dict[str, Metrics]
    micro: Metrics
    macro: Metrics
    false_positives: tuple[str, ...] = ()
    false_negatives: tuple[str, ...] = ()
    topic_mismatches: tuple[TopicMismatch, ...] = field(default=())

    @property
    def misclassified_ids(self) -> tuple[str, ...]:
        """Every id with a relevance error or a topic mismatch, sorted."""
        ids = set(self.false_positives) | set(self.false_negatives)
        ids |= {m.id for m in self.topic_mismatches}
        return tuple(sorted(ids))


def read_gold_jsonl(data: bytes) -> pl.DataFrame:
    """Parse gold JSON Lines into a frame that :func:`classify_topics` can run on.

    Args:
        data: The bytes of a gold ``.jsonl`` file (UTF-8, one object per line).

    Returns:
        A frame with :data:`GOLD_SCHEMA` (``journal`` becomes ``journal_title``, ``issn``
        ``journal_issn``, ``lang`` ``language``); ``is_ai_education`` and ``topics`` hold the
        gold labels.

    Raises:
        GoldFormatError: If the bytes are not UTF-8, or lines are not JSON objects, lack ``id``
            or the labels, have wrong types, or repeat an id; every bad line is listed.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GoldFormatError(f"gold file is not UTF-8: {exc}") from exc
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not JSON ({exc.msg})")
            continue
        problem = _gold_problem(record)
        if problem:
            problems.append(f"line {number}: {problem}")
            continue
        rows.append({GOLD_FIELDS[k]: record.get(k) for k in GOLD_FIELDS})
    ids = [r["id"] for r in rows]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        problems.append(f"duplicate ids: {', '.join(dupes)}")
    if problems:
        raise GoldFormatError("malformed gold records: " + "; ".join(problems))
    return pl.DataFrame(rows, schema=GOLD_SCHEMA)


def _gold_problem(record: Any) -> str | None:
    if not isinstance(record, dict):
        return "not a JSON object"
    missing = [k for k in _REQUIRED if k not in record]
    if missing:
        return f"missing {', '.join(missing)}"
    if not isinstance(record["id"], str) or not record["id"]:
        return f"id must be a non-empty string, got {record['id']!r}"
    if not isinstance(record["is_ai_education"], bool):
        return f"is_ai_education must be true or false, got {record['is_ai_education']!r}"
    for key in ("topics", "keywords"):
        value = record.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return f"{key} must be a list of strings, got {value!r}"
    if not record["is_ai_education"] and record["topics"]:
        return f"topics {record['topics']!r} on a record that is not AI-in-education"
    for key in _TEXT:
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{key} must be a string or null, got {record[key]!r}"
    year = record.get("year")
    if year is not None and (not isinstance(year, int) or isinstance(year, bool)):
        return f"year must be an integer or null, got {year!r}"
    return None


def evaluate_predictions(
    gold: pl.DataFrame,
    predicted: pl.DataFrame,
    *,
    topics: Sequence[str] | None = None,
    id_column: str = "id",
) -> EvaluationReport:
    """Compare predictions with gold labels.

    Args:
        gold: Frame with ``id``, ``is_ai_education`` and ``topics`` (list of slugs).
        predicted: Frame with ``id``, ``is_ai_education`` and ``topics`` as returned by
            :func:`classify_topics` (list of structs with ``topic``) or as a list of slugs.
            Extra rows (ids not in gold) are ignored.
        topics: The known topic slugs. When given, slugs outside it are an error and every
            listed topic gets a row in the report; default: the slugs seen in either frame.
        id_column: Name of the key column in both frames.

    Returns:
        The :class:`EvaluationReport`.

    Raises:
        EvaluationError: If a column is missing, a gold id has no prediction, or a slug is
            unknown.
    """
    gold_rows = _label_rows(gold, id_column, "gold")
    pred_rows = _label_rows(predicted, id_column, "predicted")
    missing = [i for i in gold_rows if i not in pred_rows]
    if missing:
        shown = ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else "")
        raise EvaluationError(f"{len(missing)} gold ids have no prediction: {shown}")
    seen = sorted({t for g, _ in gold_rows.values() for t in g}
                  | {t for i in gold_rows for t in pred_rows[i][0]})
    if topics is not None:
        unknown = sorted(set(seen) - set(topics))
        if unknown:
            raise EvaluationError(f"unknown topic slugs: {', '.join(unknown)}")
        universe = list(topics)
    else:
        universe = seen
    relevance = _count(
        (gold_rows[i][1], pred_rows[i][1]) for i in gold_rows
    )
    per_topic = {
        slug: _count((slug in gold_rows[i][0], slug in pred_rows[i][0]) for i in gold_rows)
        for slug in universe
    }
    micro = _metrics(
        sum(m.tp for m in per_topic.values()),
        sum(m.fp for m in per_topic.values()),
        sum(m.fn for m in per_topic.values()),
    )
    scored = [m for m in per_topic.values() if m.tp + m.fp + m.fn > 0]
    macro = Metrics(
        precision=_mean([m.precision for m in scored]),
        recall=_mean([m.recall for m in scored]),
        f1=_mean([m.f1 for m in scored]),
    )
    return EvaluationReport(
        records=len(gold_rows),
        relevance=relevance,
        topics=per_topic,
        micro=micro,
        macro=macro,
        false_positives=tuple(i for i in gold_rows if pred_rows[i][1] and not gold_rows[i][1]),
        false_negatives=tuple(i for i in gold_rows if gold_rows[i][1] and not pred_rows[i][1]),
        topic_mismatches=tuple(
            TopicMismatch(i, tuple(sorted(gold_rows[i][0])), tuple(sorted(pred_rows[i][0])))
            for i in gold_rows
            if gold_rows[i][0] != pred_rows[i][0]
        ),
    )


def _label_rows(
    frame: pl.DataFrame, id_column: str, name: str
) -> dict[str, tuple[frozenset[str], bool]]:
    """``{id: (topic set, is_ai_education)}`` from a gold or predicted frame."""
    missing = [c for c in (id_column, "is_ai_education", "topics") if c not in frame.columns]
    if missing:
        raise EvaluationError(f"{name} frame lacks columns: {', '.join(missing)}")
    topics = pl.col("topics")
    inner = frame.schema["topics"]
    if isinstance(inner, pl.List) and isinstance(inner.inner, pl.Struct):
        topics = topics.list.eval(pl.element().struct.field("topic"))
    elif inner != pl.List(pl.String):
        raise EvaluationError(
            f"{name} topics must be a list of slugs or of {{topic, ...}} structs, got {inner}"
        )
    rows = frame.select(
        pl.col(id_column).cast(pl.String), topics.alias("topics"), pl.col("is_ai_education")
    ).rows()
    out: dict[str, tuple[frozenset[str], bool]] = {}
    for key, slugs, flag in rows:
        if key in out:
            raise EvaluationError(f"{name} frame repeats id {key!r}")
        out[key] = (frozenset(slugs or ()), bool(flag))
    return out


def _count(pairs: Any) -> Metrics:
    tp = fp = fn = 0
    for truth, guess in pairs:
        tp += truth and guess
        fp += guess and not truth
        fn += truth and not guess
    return _metrics(tp, fp, fn)


def _metrics(tp: int, fp: int, fn: int) -> Metrics:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Metrics(precision=precision, recall=recall, f1=f1, tp=tp, fp=fp, fn=fn)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def format_report(report: EvaluationReport, *, show_mismatches: bool = True) -> str:
    """Render a report as a plain-text table.

    Args:
        report: The report from :func:`evaluate_predictions`.
        show_mismatches: Also list the misclassified ids and topic mismatches.

    Returns:
        Multi-line text.
    """
    rel = report.relevance
    lines = [
        f"Records: {report.records}",
        "",
        f"{'':<26}{'support':>8}{'predicted':>10}{'precision':>11}{'recall':>8}{'F1':>8}",
        _row("relevance", rel),
        "",
    ]
    lines += [_row(slug, m) for slug, m in report.topics.items()]
    lines += [
        _row("topics (micro)", report.micro),
        f"{'topics (macro)':<26}{'':>8}{'':>10}"
        f"{report.macro.precision:>11.3f}{report.macro.recall:>8.3f}{report.macro.f1:>8.3f}",
    ]
    if show_mismatches:
        lines += ["", f"False positives ({len(report.false_positives)}): "
                  + (", ".join(report.false_positives) or "-")]
        lines += [f"False negatives ({len(report.false_negatives)}): "
                  + (", ".join(report.false_negatives) or "-")]
        lines += [f"Topic mismatches ({len(report.topic_mismatches)}):"]
        lines += [
            f"  {m.id}: gold [{', '.join(m.gold)}] predicted [{', '.join(m.predicted)}]"
            for m in report.topic_mismatches
        ]
    return "\n".join(lines)


def _row(name: str, m: Metrics) -> str:
    return (f"{name:<26}{m.support:>8}{m.predicted:>10}"
            f"{m.precision:>11.3f}{m.recall:>8.3f}{m.f1:>8.3f}")
