"""AI-in-education relevance and topic classification (DESIGN: "Classification (taxonomy v1)").

Vectorised in polars, no Python loop per record. The per-row string work (steps 1–3) runs as
lazy plans over row chunks executed in parallel (``pl.collect_all``); the relational
post-processing runs once on all hits:

1. Each text field is normalised once (punctuation to spaces, full-width forms to ASCII,
   padded with spaces; Chinese fields get their Latin tokens appended space-separated, so
   "AI辅助" still yields the whole word "AI").
2. A gate (``str.contains_any`` with the AI patterns, Aho–Corasick) keeps the records that
   contain an AI term; the others cannot be AI-in-education and skip the rest.
3. One ``str.extract_many`` pass per field (Aho–Corasick over all taxonomy patterns, plus a
   small case-sensitive pass for acronyms such as AI, ML, NLP, LLM, GPT) lists the matches,
   which become integer (record, field, rule) rows joined to the compiled taxonomy and
   aggregated per record.

Scoring (weights and thresholds live in the taxonomy file):

* A term counts once per field, ``term weight x field weight``; when a longer term of the same
  group also matched in the field, only the longer counts ("automated essay scoring", not also
  "essay scoring"); the English and Chinese versions of a field count once (the stronger).
* AI signal ``A`` = AI terms (lookalike-cancelled terms count 0) plus "future work" hedges;
  education context ``C`` = education terms plus clinical-only evidence (negative). Each
  becomes ``1 - 0.5 ** (raw / half)``; ``ai_score = min(score(A), score(C))`` and
  ``is_ai_education = ai_score >= relevance_threshold``.
* Topics use their own field weights; a topic is kept when its score reaches 0.5 (raw evidence
  reaches ``topic_half``), at most ``max_topics``; when none does, the best topic alone.

Evidence: ``ai_evidence`` lists AI terms (weight > 0, or 0 when a lookalike cancelled them),
``lookalike:<term>`` lookalikes that fired (weight 0) and ``negative:<term>`` negative evidence
(weight < 0), strongest first, then the strongest ``context:<term>`` education terms;
``topics[].evidence`` lists the topic's terms. Records without any AI term get no evidence.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from transforms.taxonomy import CHAR_MAP, FIELDS, Taxonomy, TaxonomyError, load_taxonomy

EVIDENCE_DTYPE = pl.List(
    pl.Struct({"term": pl.String, "field": pl.String, "weight": pl.Float64})
)
TOPICS_DTYPE = pl.List(
    pl.Struct({"topic": pl.String, "score": pl.Float64, "evidence": EVIDENCE_DTYPE})
)
#: Columns added by :func:`classify_topics`.
OUTPUT_SCHEMA: dict[str, pl.DataType] = {
    "is_ai_education": pl.Boolean(),
    "ai_score": pl.Float64(),
    "ai_evidence": EVIDENCE_DTYPE,
    "topics": TOPICS_DTYPE,
    "taxonomy_version": pl.String(),
}
#: How many education-context terms ``ai_evidence`` keeps per record (the strongest).
CONTEXT_EVIDENCE_LIMIT = 5
#: Rows per parallel chunk are at least this many (small frames run as one chunk).
MIN_CHUNK_ROWS = 20_000
#: Large frames are classified in batches of this many rows (bounds memory).
BATCH_ROWS = 200_000

#: Fields that may hold Chinese text (Latin tokens inside them need word boundaries rebuilt).
_CJK_FIELDS = frozenset({"title_zh", "abstract_zh", "keywords", "section", "subjects"})
#: A Latin word with the digit groups that follow it ("GPT 4", "GPT 3 5" after normalisation).
_LATIN_TOKEN = r"[A-Za-z][A-Za-z0-9]*(?: [0-9][A-Za-z0-9]*)*"
#: English and Chinese versions of a field are one slot: a translation is not extra evidence.
_SLOT = {"title": 0, "title_zh": 0, "abstract": 1, "abstract_zh": 1, "keywords": 2,
         "section": 3, "subjects": 4}
_FIELD_ID = {name: i for i, name in enumerate(FIELDS)}
_ROW = "__aied_row"
_KIND_ID = {"ai": 0, "context": 1, "negative": 2, "lookalike": 3, "topic": 4}
_PREFIX = {"ai": "", "context": "context:", "negative": "negative:", "lookalike": "lookalike:",
           "topic": ""}

__all__ = [
    "CONTEXT_EVIDENCE_LIMIT", "EVIDENCE_DTYPE", "OUTPUT_SCHEMA", "TOPICS_DTYPE",
    "ClassificationInputError", "TaxonomyError", "classify_topics", "load_taxonomy",
]


class ClassificationInputError(ValueError):
    """The input frame cannot be classified (wrong column types, clashing columns)."""


def classify_topics(
    frame: pl.DataFrame, taxonomy: Taxonomy, *, chunk_rows: int | None = None
) -> pl.DataFrame:
    """Flag AI-in-education records and assign taxonomy topics, with evidence.

    Args:
        frame: Records with (some of) ``title``, ``title_zh``, ``abstract``, ``abstract_zh``,
            ``keywords`` (list of str), ``section`` and ``subjects`` (list of str); missing
            columns count as null. Other columns are passed through unchanged.
        taxonomy: A taxonomy from :func:`load_taxonomy`.
        chunk_rows: Rows per parallel chunk of the text matching; default: the frame split
            evenly over polars' threads, at least :data:`MIN_CHUNK_ROWS` rows per chunk.

    Returns:
        ``frame`` with the columns of :data:`OUTPUT_SCHEMA` added (replaced if present), in
        the same row order. ``topics`` is empty when ``is_ai_education`` is false.

    Raises:
        ClassificationInputError: If a text column has a non-text type.
    """
    base = frame.drop([c for c in OUTPUT_SCHEMA if c in frame.columns])
    if _ROW in base.columns:
        raise ClassificationInputError(f"input frame must not have a column named {_ROW!r}")
    fields = _present_fields(base)
    if base.height == 0 or not fields:
        return _with_results(base, None, taxonomy)
    compiled = _Compiled(taxonomy)
    texts = base.select(fields).with_row_index(_ROW)
    results = [
        _classify_batch(texts.slice(start, BATCH_ROWS), fields, taxonomy, compiled,
                        chunk_rows=chunk_rows)
        for start in range(0, texts.height, BATCH_ROWS)
    ]
    return _with_results(base, pl.concat(results), taxonomy)


def _classify_batch(
    texts: pl.DataFrame,
    fields: list[str],
    taxonomy: Taxonomy,
    compiled: _Compiled,
    *,
    chunk_rows: int | None,
) -> pl.DataFrame:
    """Classify one batch of rows: the text matching runs over parallel row chunks."""
    size = chunk_rows or max(MIN_CHUNK_ROWS, -(-texts.height // pl.thread_pool_size()))
    plans = [
        _match(texts.slice(offset, size).lazy(), fields, compiled)
        for offset in range(0, texts.height, size)
    ]
    hits = _weigh(pl.concat(pl.collect_all(plans)), compiled)
    relevance = _relevance(hits, taxonomy, compiled)
    topics = _topics(hits, relevance, taxonomy, compiled)
    return relevance.join(topics, on=_ROW, how="left")


def _with_results(
    base: pl.DataFrame, results: pl.DataFrame | None, taxonomy: Taxonomy
) -> pl.DataFrame:
    """Attach per-record results (by row number) to the input; defaults where none."""
    if results is None:
        out = base.with_columns(
            pl.lit(False, dtype=pl.Boolean).alias("is_ai_education"),
            pl.lit(0.0, dtype=pl.Float64).alias("ai_score"),
            pl.lit([], dtype=EVIDENCE_DTYPE).alias("ai_evidence"),
            pl.lit([], dtype=TOPICS_DTYPE).alias("topics"),
        )
    else:
        out = (
            base.with_row_index(_ROW)
            .join(results, on=_ROW, how="left", maintain_order="left")
            .drop(_ROW)
            .with_columns(
                pl.col("is_ai_education").fill_null(False),
                pl.col("ai_score").fill_null(0.0),
                pl.col("ai_evidence").fill_null(pl.lit([], dtype=EVIDENCE_DTYPE)),
                pl.col("topics").fill_null(pl.lit([], dtype=TOPICS_DTYPE)),
            )
        )
    return out.with_columns(pl.lit(taxonomy.version, dtype=pl.String).alias("taxonomy_version"))


def _present_fields(frame: pl.DataFrame) -> list[str]:
    """Text fields present in the frame and not entirely null; checks their types."""
    fields = []
    bad = []
    for name in FIELDS:
        if name not in frame.columns:
            continue
        dtype = frame.schema[name]
        if dtype == pl.Null:
            continue
        if dtype != pl.String and dtype != pl.List(pl.String):
            bad.append(f"{name}: {dtype}")
            continue
        if frame[name].null_count() < frame.height:
            fields.append(name)
    if bad:
        msg = f"text columns must be String or List(String): {', '.join(bad)}"
        raise ClassificationInputError(msg)
    return fields


def _field_text(dtype: pl.DataType, name: str) -> pl.Expr:
    """The normalised, space-padded text of one field, ready for pattern matching."""
    col = pl.col(name)
    if dtype == pl.List(pl.String):
        col = col.list.join(" ; ")
    patterns, replacements = CHAR_MAP
    normalised = col.str.replace_many(patterns, replacements, leftmost=True)
    parts = [pl.lit(" "), normalised, pl.lit(" ")]
    if name in _CJK_FIELDS:
        parts += [normalised.str.extract_all(_LATIN_TOKEN).list.join(" "), pl.lit(" ")]
    return pl.concat_str(parts)


class _Compiled:
    """Pattern lists and rule tables derived from a taxonomy (cheap: built per call)."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        rules = taxonomy.rules
        self.ci = sorted({r.pattern for r in rules if not r.case_sensitive})
        self.cs = sorted({r.pattern for r in rules if r.case_sensitive})
        pid = {("ci", p): i for i, p in enumerate(self.ci)}
        pid |= {("cs", p): len(self.ci) + i for i, p in enumerate(self.cs)}
        # The gate is one case-insensitive pass: acronyms lower-cased make it a superset.
        self.gate = sorted({r.pattern.lower() for r in rules if r.kind == "ai"})
        self.slugs = list(taxonomy.slugs)
        tid = {slug: i for i, slug in enumerate(self.slugs)}
        term_rid: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            if r.kind == "ai":
                term_rid.setdefault(r.term, []).append(i)
        self.rules = pl.DataFrame(
            {
                "pid": [pid["cs" if r.case_sensitive else "ci", r.pattern] for r in rules],
                "rid": list(range(len(rules))),
                "kind": [_KIND_ID[r.kind] for r in rules],
                "tid": [tid.get(r.topic or "", 0) for r in rules],
                "to_ai": [r.kind == "ai" or (r.kind == "negative" and r.target == "ai")
                          for r in rules],
                "to_context": [r.kind == "context"
                               or (r.kind == "negative" and r.target == "context")
                               for r in rules],
                "weight": [r.weight for r in rules],
            },
            schema={"pid": pl.UInt32, "rid": pl.UInt32, "kind": pl.UInt8, "tid": pl.UInt8,
                    "to_ai": pl.Boolean, "to_context": pl.Boolean, "weight": pl.Float64},
        )
        self.labels = {i: _PREFIX[r.kind] + r.term for i, r in enumerate(rules)}
        self.cancels = pl.DataFrame(
            [(i, c) for i, r in enumerate(rules) for t in r.cancels for c in term_rid[t]],
            schema={"rid": pl.UInt32, "cancelled": pl.UInt32},
            orient="row",
        )
        self.containments = pl.DataFrame(
            list(taxonomy.containments), schema={"rid": pl.UInt32, "long": pl.UInt32},
            orient="row",
        )
        self.n_rules = len(rules)
        self.field_weight = _by_field_id(taxonomy.field_weights)
        self.topic_field_weight = _by_field_id(taxonomy.topic_field_weights)


def _by_field_id(weights: Mapping[str, float]) -> dict[int, float]:
    return {_FIELD_ID[name]: weight for name, weight in weights.items()}


def _gate(fields: list[str], compiled: _Compiled) -> pl.Expr:
    """True for records where some field contains an AI pattern (a superset of positives)."""
    if not compiled.gate:
        return pl.lit(False)
    tests = [
        pl.col(name).str.contains_any(compiled.gate, ascii_case_insensitive=True)
        for name in fields
    ]
    return pl.any_horizontal(tests).fill_null(False)


def _match(texts: pl.LazyFrame, fields: list[str], compiled: _Compiled) -> pl.LazyFrame:
    """Per-row string work for one chunk: normalise, gate, extract, join the matched rules.

    Returns:
        Hits as integer rows: (row, fid, rid, kind, tid, to_ai, to_context, weight).
    """
    schema = texts.collect_schema()
    candidates = texts.select(
        _ROW, *[_field_text(schema[name], name).alias(name) for name in fields]
    ).filter(_gate(fields, compiled))
    enum_ci = pl.Enum(compiled.ci)
    parts = []
    for name in fields:
        text = pl.col(name)
        lists = [
            text.str.to_lowercase()
            .str.extract_many(compiled.ci, overlapping=True)
            .list.unique()
            .list.eval(pl.element().cast(enum_ci).to_physical())
        ]
        if compiled.cs:
            lists.append(
                text.str.extract_many(compiled.cs, overlapping=True)
                .list.unique()
                .list.eval(
                    pl.element().cast(pl.Enum(compiled.cs)).to_physical() + len(compiled.ci)
                )
            )
        parts.append(
            candidates.select(
                _ROW,
                pl.concat_list(lists).alias("pid"),
                pl.lit(_FIELD_ID[name], dtype=pl.UInt8).alias("fid"),
            )
        )
    return (
        pl.concat(parts)
        .explode("pid")
        .drop_nulls("pid")
        .with_columns(pl.col("pid").cast(pl.UInt32))
        .join(compiled.rules.lazy(), on="pid", how="inner")
        .drop("pid")
    )


def _weigh(hits: pl.DataFrame, compiled: _Compiled) -> pl.DataFrame:
    """Drop contained terms, cancel lookalike-matched AI terms, apply field weights."""
    hits = _apply_lookalikes(_drop_contained(hits, compiled), compiled)
    field_weight = (
        pl.when(pl.col("kind") == _KIND_ID["topic"])
        .then(pl.col("fid").replace_strict(compiled.topic_field_weight, return_dtype=pl.Float64))
        .otherwise(pl.col("fid").replace_strict(compiled.field_weight, return_dtype=pl.Float64))
    )
    slot_of = {_FIELD_ID[f]: s for f, s in _SLOT.items()}
    return hits.with_columns(
        w=pl.when(pl.col("cancelled")).then(0.0).otherwise(pl.col("weight")) * field_weight,
        slot=pl.col("fid").replace_strict(slot_of, return_dtype=pl.UInt8),
    )


def _drop_contained(hits: pl.DataFrame, compiled: _Compiled) -> pl.DataFrame:
    """Longest match wins: drop a term when a longer term of its group matched in the field."""
    n_rules = compiled.n_rules
    rid = pl.col("rid").cast(pl.UInt64)
    place = (pl.col(_ROW).cast(pl.UInt64) * len(FIELDS) + pl.col("fid")) * n_rules
    hits = hits.with_columns(code=place + rid)
    shorter = compiled.containments.get_column("rid").unique().implode()
    contained = (
        hits.filter(pl.col("rid").is_in(shorter))
        .select("code", "rid", (pl.col("code") - rid).alias("place"))
        .join(compiled.containments, on="rid")
        .filter((pl.col("place") + pl.col("long")).is_in(hits.get_column("code").implode()))
        .get_column("code")
    )
    return hits.filter(~pl.col("code").is_in(contained.implode())).drop("code")


def _apply_lookalikes(hits: pl.DataFrame, compiled: _Compiled) -> pl.DataFrame:
    """Mark AI terms cancelled by a lookalike found anywhere in the record."""
    n_rules = compiled.n_rules
    code = pl.col(_ROW).cast(pl.UInt64) * n_rules + pl.col("rid")
    cancelled = (
        hits.filter(pl.col("kind") == _KIND_ID["lookalike"])
        .select(_ROW, "rid")
        .join(compiled.cancels, on="rid")
        .select(pl.col(_ROW).cast(pl.UInt64) * n_rules + pl.col("cancelled"))
        .to_series()
    )
    return hits.with_columns(cancelled=code.is_in(cancelled.implode()))


def _half_score(raw: pl.Expr, half: float) -> pl.Expr:
    if half <= 0:
        return pl.when(raw > 0).then(1.0).otherwise(0.0)
    return 1.0 - pl.lit(0.5) ** (raw.clip(lower_bound=0.0) / half)


def _slot_sums(frame: pl.DataFrame, group: pl.Expr, values: dict[str, pl.Expr]) -> pl.DataFrame:
    """Sum evidence per field, keep the stronger language version per slot, sum the slots.

    Args:
        frame: Hits with ``fid``, ``slot`` and ``w``.
        group: An integer expression identifying the group (record, or record and topic).
        values: Output column -> expression of the evidence weight to sum.

    Returns:
        One row per group: ``group`` and the summed ``values`` columns.
    """
    n_fields = len(FIELDS)
    per_field = (
        frame.select(
            (group.cast(pl.UInt64) * n_fields + pl.col("fid")).alias("gf"),
            pl.col("slot"),
            *[expr.alias(name) for name, expr in values.items()],
        )
        .group_by("gf", "slot")
        .agg(pl.col(name).sum() for name in values)
    )
    per_slot = (
        per_field.with_columns(pl.col("gf") // n_fields)
        .group_by("gf", "slot")
        .agg(pl.col(name).max() for name in values)
    )
    return per_slot.group_by("gf").agg(pl.col(name).sum() for name in values).rename(
        {"gf": "group"}
    )


def _evidence_struct(compiled: _Compiled) -> pl.Expr:
    """The evidence struct of one hit, with term and field names filled in."""
    return pl.struct(
        pl.col("rid").replace_strict(compiled.labels, return_dtype=pl.String).alias("term"),
        pl.col("fid").replace_strict(dict(enumerate(FIELDS)), return_dtype=pl.String)
        .alias("field"),
        pl.col("w").round(4).alias("weight"),
    )


def _first_of_run(*keys: str) -> pl.Expr:
    """True on the first row of each run of equal ``keys`` (the frame is sorted by them)."""
    changed = [pl.col(k) != pl.col(k).shift(1) for k in keys]
    return (pl.int_range(pl.len()) == 0) | pl.any_horizontal(changed)


def _rank_in_run(*keys: str) -> pl.Expr:
    """1-based position within each run of equal ``keys`` (no window functions)."""
    index = pl.int_range(pl.len(), dtype=pl.UInt32)
    return index - pl.when(_first_of_run(*keys)).then(index).forward_fill() + 1


def _relevance(hits: pl.DataFrame, taxonomy: Taxonomy, compiled: _Compiled) -> pl.DataFrame:
    """Per record: is_ai_education, ai_score, ai_evidence."""
    scoring = taxonomy.scoring
    rel = hits.filter(pl.col("kind") != _KIND_ID["topic"])
    w = pl.col("w")
    raws = _slot_sums(
        rel,
        pl.col(_ROW),
        {"ai_raw": pl.when(pl.col("to_ai")).then(w).otherwise(0.0),
         "ctx_raw": pl.when(pl.col("to_context")).then(w).otherwise(0.0)},
    ).select(pl.col("group").cast(pl.UInt32).alias(_ROW), "ai_raw", "ctx_raw")
    # AI, lookalike and negative terms first, then the strongest context terms.
    evidence = (
        rel.with_columns(is_context=pl.col("kind") == _KIND_ID["context"])
        .sort([_ROW, "is_context", "w", "fid", "rid"],
              descending=[False, False, True, False, False])
        .filter(~pl.col("is_context")
                | (_rank_in_run(_ROW, "is_context") <= CONTEXT_EVIDENCE_LIMIT))
        .group_by(_ROW, maintain_order=True)
        .agg(_evidence_struct(compiled).alias("ai_evidence"))
    )
    ai_score = pl.min_horizontal(
        _half_score(pl.col("ai_raw"), scoring.ai_half),
        _half_score(pl.col("ctx_raw"), scoring.context_half),
    ).round(4)
    return evidence.join(raws, on=_ROW, how="left").select(
        _ROW,
        (ai_score >= scoring.relevance_threshold).alias("is_ai_education"),
        ai_score.alias("ai_score"),
        pl.col("ai_evidence").cast(EVIDENCE_DTYPE),
    )


def _topics(
    hits: pl.DataFrame, relevance: pl.DataFrame, taxonomy: Taxonomy, compiled: _Compiled
) -> pl.DataFrame:
    """Per AI-in-education record: the selected topics with score and evidence."""
    scoring = taxonomy.scoring
    n_topics = len(compiled.slugs)
    positive = relevance.filter(pl.col("is_ai_education")).select(_ROW)
    topic_hits = hits.filter(pl.col("kind") == _KIND_ID["topic"]).join(
        positive, on=_ROW, how="semi"
    )
    group = pl.col(_ROW).cast(pl.UInt64) * n_topics + pl.col("tid")
    per_topic = _slot_sums(topic_hits, group, {"raw": pl.col("w")}).select(
        (pl.col("group") // n_topics).cast(pl.UInt32).alias(_ROW),
        (pl.col("group") % n_topics).cast(pl.UInt8).alias("tid"),
        "raw",
    )
    # Ranked by evidence within a record, the best topic is rank 1; when any topic reaches
    # the threshold the best one does, so the fallback is simply rank 1.
    raw = pl.col("raw")
    ranked = per_topic.sort([_ROW, "raw", "tid"], descending=[False, True, False]).with_columns(
        rank=_rank_in_run(_ROW),
        best=pl.when(_first_of_run(_ROW)).then(raw).forward_fill(),
    )
    keep = (raw >= scoring.topic_half) & (raw >= scoring.topic_relative * pl.col("best"))
    selected = ranked.filter(
        (keep & (pl.col("rank") <= scoring.max_topics))
        | ((pl.col("rank") == 1) & (raw >= scoring.min_topic_raw))
    )
    evidence = (
        topic_hits.join(selected.select(_ROW, "tid"), on=[_ROW, "tid"], how="semi")
        .sort([_ROW, "tid", "w", "fid", "rid"], descending=[False, False, True, False, False])
        .group_by(_ROW, "tid", maintain_order=True)
        .agg(_evidence_struct(compiled).alias("evidence"))
    )
    topic_struct = pl.struct(
        pl.col("tid").replace_strict(dict(enumerate(compiled.slugs)), return_dtype=pl.String)
        .alias("topic"),
        _half_score(raw, scoring.topic_half).round(4).alias("score"),
        pl.col("evidence").cast(EVIDENCE_DTYPE),
    )
    return (
        selected.join(evidence, on=[_ROW, "tid"], how="left")
        .sort(_ROW, "rank")
        .group_by(_ROW, maintain_order=True)
        .agg(topic_struct.alias("topics"))
        .with_columns(pl.col("topics").cast(TOPICS_DTYPE))
    )
