"""AI-in-education relevance and topic classification (DESIGN: "Classification (taxonomy v1)").

Vectorised in polars, no Python loop per record. The per-row string work (steps 1–4) runs as
lazy plans over row chunks executed in parallel (``pl.collect_all``); the relational
post-processing (step 5) runs once per batch on the hits, as integer columns:

1. A pre-gate tests the raw text with regular expressions that match whenever the normalised
   text could contain an AI term (see :func:`_pregate_patterns` for why it is a superset of
   the gate of step 3), so only records that can hit are normalised: in journal feeds most
   records are not about AI.
2. Each text field of those records is normalised (punctuation to spaces, full-width forms to
   ASCII, padded with spaces; Chinese fields get their Latin tokens appended space-separated,
   so "AI辅助" still yields the whole word "AI").
3. The gate (``str.contains_any`` with the AI patterns, Aho–Corasick) keeps the records that
   contain an AI term; the others cannot be AI-in-education and skip the rest.
4. One ``str.extract_many`` pass per field (Aho–Corasick over all taxonomy patterns, plus a
   small case-sensitive pass for acronyms such as AI, ML, NLP, LLM, GPT) lists the matched
   pattern ids, which become integer (record, field, rule) hits.
5. Hits are weighed through small lookup tables built once per call from the taxonomy: every
   (rule, field, cancelled) combination has its weight, its evidence struct and its place in
   the evidence order precomputed, so ordering the hits is one sort of one integer key, the
   evidence lists are gathers from those tables, and topic hits are only processed for the
   records found to be AI-in-education.

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

Sums of weights are Kahan sums (as polars' grouped ``sum``) taken in a fixed order: within a
field in evidence order, over slots strongest first. Results do not depend on thread
scheduling or chunking, and equal evidence gives equal scores, so tied topics keep the
taxonomy order (summed in a varying order, ties used to differ in the last bit and swap).

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
_N_FIELDS = len(FIELDS)
_FIELD_ID = {name: i for i, name in enumerate(FIELDS)}
_ROW = "__aied_row"
_KIND_ID = {"ai": 0, "context": 1, "negative": 2, "lookalike": 3, "topic": 4}
_PREFIX = {"ai": "", "context": "context:", "negative": "negative:", "lookalike": "lookalike:",
           "topic": ""}
#: Characters that normalise to ASCII letters or digits (full-width forms): a record holding
#: one skips the pre-gate (its raw text does not show the words the normalised text has).
_FULL_WIDTH_ALNUM = "[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]"
#: Separators that the Rust regex syntax lets (and requires) us to escape.
_REGEX_META = frozenset("\\.+*?()|[]{}^$#&-~")

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
        results = _attach(base.height, _DEFAULTS.clear(), _TOPIC_DEFAULTS.clear())
    else:
        compiled = _Compiled(taxonomy)
        texts = base.select(fields)
        results = pl.concat([
            _classify_batch(texts.slice(start, BATCH_ROWS), fields, taxonomy, compiled,
                            chunk_rows=chunk_rows)
            for start in range(0, texts.height, BATCH_ROWS)
        ])
    return base.hstack(results).with_columns(
        pl.lit(taxonomy.version, dtype=pl.String).alias("taxonomy_version")
    )


def _classify_batch(
    texts: pl.DataFrame,
    fields: list[str],
    taxonomy: Taxonomy,
    compiled: _Compiled,
    *,
    chunk_rows: int | None,
) -> pl.DataFrame:
    """Classify one batch of rows: the text matching runs over parallel row chunks.

    Returns:
        The result columns of :data:`OUTPUT_SCHEMA` except the version, one row per input row.
    """
    texts = texts.with_row_index(_ROW)
    size = chunk_rows or max(MIN_CHUNK_ROWS, -(-texts.height // pl.thread_pool_size()))
    plans = [
        _match(texts.slice(offset, size).lazy(), fields, compiled)
        for offset in range(0, texts.height, size)
    ]
    hits = pl.concat(pl.collect_all(plans), rechunk=True)
    is_topic = pl.col("kind") == _KIND_ID["topic"]
    # Containment is within a group (kind and topic), so relevance and topic hits are apart;
    # only the topic hits of AI-in-education records are needed.
    relevance = _relevance(_drop_contained(hits.filter(~is_topic), compiled), taxonomy, compiled)
    positive = pl.repeat(False, texts.height, dtype=pl.Boolean, eager=True).scatter(
        relevance.filter(pl.col("is_ai_education")).get_column(_ROW), True
    )
    topic_hits = hits.filter(is_topic & pl.lit(positive).gather(_ROW))
    topics = _topics(_drop_contained(topic_hits, compiled), taxonomy, compiled)
    return _attach(texts.height, relevance, topics)


#: Results of a record without relevance evidence, and of one without topics.
_DEFAULTS = pl.DataFrame(
    {"is_ai_education": [False], "ai_score": [0.0], "ai_evidence": [[]]},
    schema={"is_ai_education": pl.Boolean, "ai_score": pl.Float64,
            "ai_evidence": EVIDENCE_DTYPE},
)
_TOPIC_DEFAULTS = pl.DataFrame({"topics": [[]]}, schema={"topics": TOPICS_DTYPE})


def _attach(height: int, relevance: pl.DataFrame, topics: pl.DataFrame) -> pl.DataFrame:
    """Per-record results (rows ``_ROW`` of ``relevance`` and ``topics``) for all ``height``
    rows, in row order: one gather per column, pointing rows without results at defaults."""
    columns = []
    for results, defaults in ((relevance, _DEFAULTS), (topics, _TOPIC_DEFAULTS)):
        table = pl.concat([results.select(defaults.columns), defaults], rechunk=True)
        position = pl.repeat(results.height, height, dtype=pl.UInt32, eager=True)
        if results.height:
            position = position.scatter(
                results.get_column(_ROW),
                pl.int_range(results.height, dtype=pl.UInt32, eager=True),
            )
        columns += table.select(pl.all().gather(position)).get_columns()
    return pl.DataFrame(columns)


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


def _raw_text(dtype: pl.DataType, name: str) -> pl.Expr:
    """The text of one field before normalisation (list fields joined)."""
    col = pl.col(name)
    return col.list.join(" ; ") if dtype == pl.List(pl.String) else col


def _field_text(dtype: pl.DataType, name: str) -> pl.Expr:
    """The normalised, space-padded text of one field, ready for pattern matching."""
    patterns, replacements = CHAR_MAP
    normalised = _raw_text(dtype, name).str.replace_many(patterns, replacements, leftmost=True)
    parts = [pl.lit(" "), normalised, pl.lit(" ")]
    if name in _CJK_FIELDS:
        parts += [normalised.str.extract_all(_LATIN_TOKEN).list.join(" "), pl.lit(" ")]
    return pl.concat_str(parts)


# --- pre-gate: the raw-text superset of the gate --------------------------------------------


def _regex_word(word: str) -> str:
    """A regex for one pattern word: ASCII letters either case (the gate ignores ASCII case)."""
    out = []
    for ch in word:
        if ch.isascii() and ch.isalpha():
            out.append(f"[{ch.lower()}{ch.upper()}]")
        elif ch in _REGEX_META:
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def _pregate_patterns(gate: list[str]) -> tuple[str, str, str]:
    """Regexes over raw text that match whenever the normalised text contains a gate pattern.

    Why they are a superset: normalisation only replaces punctuation/space runs by one space
    and full-width letters and digits by ASCII (records holding those always pass), so each
    word of a pattern occurs in the raw text, the words separated by runs of non-letters
    (non-empty; digits and Chinese can sit between the Latin tokens that Chinese fields append
    space-separated), a leading pattern space becomes "start or a non-letter before" and a
    trailing one "end or a non-alphanumeric after". Unpadded one-word (Chinese) patterns occur
    in the raw text as they are. A pattern can also straddle the end of a Chinese field's text
    and its appended tokens: then its first words end the raw text (``tail``).

    Args:
        gate: Lower-cased AI patterns (the gate of :func:`_gate`).

    Returns:
        ``(words, han, tail)``: the Latin patterns (and full-width letters and digits); the
        unpadded one-word patterns; pattern beginnings that end a text ("" when none).
    """
    sep, before, after = "[^A-Za-z]+", "(?:^|[^A-Za-z])", "(?:[^A-Za-z0-9]|$)"
    words_alts, han_alts, tails = [_FULL_WIDTH_ALNUM], [], set()
    for pattern in gate:
        words = [_regex_word(w) for w in pattern.split(" ") if w]
        start = before if pattern.startswith(" ") else ""
        end = after if pattern.endswith(" ") else ""
        if len(words) == 1 and not start and not end:
            han_alts.append(words[0])
            continue
        words_alts.append(start + sep.join(words) + end)
        tails.update(start + sep.join(words[:j]) + "$" for j in range(1, len(words)))
    return "|".join(words_alts), "|".join(han_alts), "|".join(sorted(tails))


def _pregate(fields: list[str], schema: Mapping[str, pl.DataType], compiled: _Compiled) -> pl.Expr:
    """True for records whose raw text could pass :func:`_gate` (a superset of it).

    The fields are tested joined by newlines (one regex call per record is much cheaper than
    one per field; a pattern spanning two fields only makes the superset a little larger).
    """
    words_rx, han_rx, tail_rx = compiled.pregate
    raw = pl.concat_str(
        [_raw_text(schema[name], name) for name in fields], separator="\n", ignore_nulls=True
    )
    test = raw.str.contains(words_rx)
    if han_rx:
        test = test | raw.str.contains(han_rx)
    tails = [_raw_text(schema[name], name).str.contains(tail_rx)
             for name in fields if name in _CJK_FIELDS and tail_rx]
    return pl.any_horizontal(test, *tails).fill_null(False)


# --- compiled taxonomy: pattern lists and lookup tables -------------------------------------


class _Compiled:
    """Pattern lists and lookup tables derived from a taxonomy (cheap: built per call).

    Rules are numbered by their index in ``taxonomy.rules`` (``rid``), patterns by their
    position in ``ci + cs`` (``pid``). A relevance *combo* ``(rid * 7 + fid) * 2 + cancelled``
    and a topic combo ``rid * 7 + fid`` index tables of weights, evidence structs and ranks
    (the position of the hit in the evidence order).
    """

    def __init__(self, taxonomy: Taxonomy) -> None:
        rules = taxonomy.rules
        n_rules = len(rules)
        self.n_rules = n_rules
        self.ci = sorted({r.pattern for r in rules if not r.case_sensitive})
        self.cs = sorted({r.pattern for r in rules if r.case_sensitive})
        pid = {("ci", p): i for i, p in enumerate(self.ci)}
        pid |= {("cs", p): len(self.ci) + i for i, p in enumerate(self.cs)}
        rids_by_pid: list[list[int]] = [[] for _ in range(len(pid))]
        for i, r in enumerate(rules):
            rids_by_pid[pid["cs" if r.case_sensitive else "ci", r.pattern]].append(i)
        self.rids_by_pid = pl.Series(rids_by_pid, dtype=pl.List(pl.UInt32))
        # The gate is one case-insensitive pass: acronyms lower-cased make it a superset.
        self.gate = sorted({r.pattern.lower() for r in rules if r.kind == "ai"})
        self.pregate = _pregate_patterns(self.gate)
        self.slugs = list(taxonomy.slugs)
        self.n_topics = len(self.slugs)
        tid = {slug: i for i, slug in enumerate(self.slugs)}
        self.kind = pl.Series([_KIND_ID[r.kind] for r in rules], dtype=pl.UInt8)
        self.tid = pl.Series([tid.get(r.topic or "", 0) for r in rules], dtype=pl.UInt8)
        term_rid: dict[str, list[int]] = {}
        for i, r in enumerate(rules):
            if r.kind == "ai":
                term_rid.setdefault(r.term, []).append(i)
        self.cancels = pl.DataFrame(
            [(i, c) for i, r in enumerate(rules) for t in r.cancels for c in term_rid[t]],
            schema={"rid": pl.UInt32, "cancelled": pl.UInt32},
            orient="row",
        )
        self.containments = pl.DataFrame(
            list(taxonomy.containments), schema={"rid": pl.UInt32, "long": pl.UInt32},
            orient="row",
        )
        self._build_combos(taxonomy)

    def _build_combos(self, taxonomy: Taxonomy) -> None:
        """Weights, evidence structs and evidence ranks of every (rule, field[, cancelled])."""
        rules = taxonomy.rules
        labels = [_PREFIX[r.kind] + r.term for r in rules]
        combos = pl.DataFrame(
            {
                "rid": [i for i in range(len(rules)) for _ in range(_N_FIELDS)],
                "fid": [f for _ in rules for f in range(_N_FIELDS)],
            },
            schema={"rid": pl.UInt32, "fid": pl.UInt8},
        ).with_columns(
            kind=pl.lit(self.kind).gather("rid"),
            weight=pl.lit(pl.Series([r.weight for r in rules], dtype=pl.Float64)).gather("rid"),
            to_ai=pl.lit(pl.Series([r.kind == "ai" or (r.kind == "negative" and r.target == "ai")
                                    for r in rules])).gather("rid"),
            to_context=pl.lit(pl.Series([r.kind == "context"
                                         or (r.kind == "negative" and r.target == "context")
                                         for r in rules])).gather("rid"),
            field_weight=pl.col("fid").replace_strict(
                _by_field_id(taxonomy.field_weights), return_dtype=pl.Float64),
            topic_field_weight=pl.col("fid").replace_strict(
                _by_field_id(taxonomy.topic_field_weights), return_dtype=pl.Float64),
        )
        rank_bits = max(1, (2 * combos.height - 1).bit_length())
        self.rank_bits = rank_bits
        # Relevance: index (rid * 7 + fid) * 2 + cancelled; order AI, lookalike and negative
        # terms first, then context terms, each by weight (strongest first), field, rule.
        rel = (
            pl.concat([combos.with_columns(cancelled=pl.lit(c)) for c in (False, True)])
            .with_columns(
                w=pl.when(pl.col("cancelled")).then(0.0).otherwise(pl.col("weight"))
                * pl.col("field_weight"),
                is_context=pl.col("kind") == _KIND_ID["context"],
            )
            .with_columns(
                ai=pl.when(pl.col("to_ai")).then(pl.col("w")).otherwise(0.0),
                context=pl.when(pl.col("to_context")).then(pl.col("w")).otherwise(0.0),
                evidence=_evidence_struct(labels),
            )
            .with_columns(rank=_rank(["is_context", "w", "fid", "rid", "cancelled"],
                                     descending=[False, True, False, False, False]))
            .sort((pl.col("rid").cast(pl.UInt32) * _N_FIELDS + pl.col("fid")) * 2
                  + pl.col("cancelled").cast(pl.UInt32))
        )
        self.rel_rank = rel.get_column("rank")
        self.rel_ai = rel.get_column("ai")
        self.rel_context = rel.get_column("context")
        self.rel_evidence = rel.get_column("evidence")
        # Topics: index rid * 7 + fid; order by weight (strongest first), field, rule.
        top = (
            combos.with_columns(w=pl.col("weight") * pl.col("topic_field_weight"))
            .with_columns(evidence=_evidence_struct(labels))
            .with_columns(rank=_rank(["w", "fid", "rid"], descending=[True, False, False]))
        )
        self.topic_rank = top.get_column("rank")
        self.topic_w = top.get_column("w")
        self.topic_evidence = top.get_column("evidence")


def _by_field_id(weights: Mapping[str, float]) -> dict[int, float]:
    return {_FIELD_ID[name]: weight for name, weight in weights.items()}


def _rank(keys: list[str], *, descending: list[bool]) -> pl.Expr:
    """0-based position of each row in the order of ``keys`` (all distinct)."""
    in_order = pl.int_range(pl.len(), dtype=pl.UInt32).sort_by(keys, descending=descending)
    return in_order.arg_sort().cast(pl.UInt64)


def _evidence_struct(labels: list[str]) -> pl.Expr:
    """The evidence struct of a hit, with term and field names filled in."""
    return pl.struct(
        pl.lit(pl.Series(labels, dtype=pl.String)).gather("rid").alias("term"),
        pl.lit(pl.Series(FIELDS, dtype=pl.String)).gather("fid").alias("field"),
        pl.col("w").round(4).alias("weight"),
    )


# --- per-chunk text matching ----------------------------------------------------------------


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
    """Per-row string work for one chunk: pre-gate, normalise, gate, extract pattern ids.

    Returns:
        Hits as integer rows ``(_ROW, fid, rid)``: each rule whose pattern occurs in a field,
        once per field.
    """
    if not compiled.gate:
        return texts.select(
            pl.col(_ROW), pl.lit(0, dtype=pl.UInt8).alias("fid"),
            pl.lit(0, dtype=pl.UInt32).alias("rid"), pl.lit(0, dtype=pl.UInt8).alias("kind"),
        ).clear()
    schema = texts.collect_schema()
    candidates = (
        texts.filter(_pregate(fields, schema, compiled))
        .select(_ROW, *[_field_text(schema[name], name).alias(name) for name in fields])
        .filter(_gate(fields, compiled))
    )
    parts = []
    for name in fields:
        text = pl.col(name)
        lists = []
        offset = 0
        for patterns, lower in ((compiled.ci, True), (compiled.cs, False)):
            if patterns:
                found = (text.str.to_lowercase() if lower else text).str.extract_many(
                    patterns, overlapping=True
                )
                lists.append(found.list.eval(
                    pl.element().cast(pl.Enum(patterns)).to_physical().cast(pl.UInt32) + offset
                ))
            offset += len(patterns)
        parts.append(
            candidates.select(
                _ROW,
                pl.concat_list(lists).list.unique().alias("pid"),
                pl.lit(_FIELD_ID[name], dtype=pl.UInt8).alias("fid"),
            )
        )
    return (
        pl.concat(parts)
        .explode("pid")
        .drop_nulls("pid")
        .select(_ROW, "fid", pl.lit(compiled.rids_by_pid).gather("pid").alias("rid"))
        .explode("rid")
        .with_columns(kind=pl.lit(compiled.kind).gather("rid"))
    )


# --- relational post-processing --------------------------------------------------------------


def _drop_contained(hits: pl.DataFrame, compiled: _Compiled) -> pl.DataFrame:
    """Longest match wins: drop a term when a longer term of its group matched in the field."""
    containments = compiled.containments
    if containments.height == 0 or hits.height == 0:
        return hits
    place = (pl.col(_ROW).cast(pl.UInt64) * _N_FIELDS + pl.col("fid")) * compiled.n_rules
    longs = hits.filter(pl.col("rid").is_in(containments.get_column("long").unique().implode()))
    contained = (
        hits.filter(pl.col("rid").is_in(containments.get_column("rid").unique().implode()))
        .join(containments, on="rid")
        .filter((place + pl.col("long")).is_in(longs.select(place + pl.col("rid")).to_series()
                                               .implode()))
        .select(place + pl.col("rid"))
        .to_series()
    )
    if contained.len() == 0:
        return hits
    return hits.filter(~(place + pl.col("rid")).is_in(contained.implode()))


def _cancelled(hits: pl.DataFrame, compiled: _Compiled) -> pl.Expr:
    """True for AI terms cancelled by a lookalike found anywhere in the record."""
    n_rules = compiled.n_rules
    cancelled = (
        hits.filter(pl.col("kind") == _KIND_ID["lookalike"])
        .select(_ROW, "rid")
        .join(compiled.cancels, on="rid")
        .select(pl.col(_ROW).cast(pl.UInt64) * n_rules + pl.col("cancelled"))
        .to_series()
    )
    return (pl.col(_ROW).cast(pl.UInt64) * n_rules + pl.col("rid")).is_in(cancelled.implode())


def _half_score(raw: pl.Expr, half: float) -> pl.Expr:
    if half <= 0:
        return pl.when(raw > 0).then(1.0).otherwise(0.0)
    return 1.0 - pl.lit(0.5) ** (raw.clip(lower_bound=0.0) / half)


def _field_sums(values: dict[str, str]) -> list[pl.Expr]:
    """Aggregations: per field, the sum of each value column and whether the field has hits."""
    aggs = []
    for fid in range(_N_FIELDS):
        in_field = pl.col("fid") == fid
        aggs.append(in_field.any().alias(f"has_{fid}"))
        aggs += [pl.col(col).filter(in_field).sum().alias(f"{out}_{fid}")
                 for out, col in values.items()]
    return aggs


def _with_slot_totals(frame: pl.DataFrame, outs: list[str]) -> pl.DataFrame:
    """Add, per ``out``, the evidence total: over slots, the stronger language version of each
    field with hits (``has_<fid>``, ``<out>_<fid>`` from :func:`_field_sums`), summed.

    The slot values are sorted (a sorting network of max/min, absent slots last) and summed
    strongest first with Kahan compensation, as polars' grouped ``sum`` does: equal evidence
    gives equal totals whatever fields it came from, so ties between topics are exact.
    """
    plan = frame.lazy()
    absent = float("-inf")
    for out in outs:
        slots: dict[int, list[pl.Expr]] = {}
        for name, slot in _SLOT.items():
            fid = _FIELD_ID[name]
            slots.setdefault(slot, []).append(
                pl.when(pl.col(f"has_{fid}")).then(pl.col(f"{out}_{fid}"))
            )
        names = [f"_slot{i}" for i in range(len(slots))]
        plan = plan.with_columns(
            (pl.max_horizontal(v) if len(v) > 1 else v[0]).fill_null(absent).alias(name)
            for name, (_, v) in zip(names, sorted(slots.items()), strict=True)
        )
        for i in range(len(names)):
            for j in range(len(names) - 1 - i):
                a, b = pl.col(names[j]), pl.col(names[j + 1])
                plan = plan.with_columns(
                    pl.max_horizontal(a, b).alias(names[j]),
                    pl.min_horizontal(a, b).alias(names[j + 1]),
                )
        total, carry = pl.col(out), pl.col("_carry")
        plan = plan.with_columns(pl.lit(0.0).alias(out), pl.lit(0.0).alias("_carry"))
        for name in names:
            value = pl.col(name)
            present = value > absent
            step = value - carry
            new_total = total + step
            plan = plan.with_columns(
                pl.when(present).then(new_total).otherwise(total).alias(out),
                pl.when(present).then((new_total - total) - step).otherwise(carry)
                .alias("_carry"),
            )
        plan = plan.drop(*names, "_carry")
    return plan.collect()


def _relevance(hits: pl.DataFrame, taxonomy: Taxonomy, compiled: _Compiled) -> pl.DataFrame:
    """Per record with relevance hits (no topic hits): is_ai_education, ai_score, ai_evidence."""
    scoring = taxonomy.scoring
    bits = compiled.rank_bits
    cancelled = _cancelled(hits, compiled).cast(pl.UInt32)
    combo = (pl.col("rid") * _N_FIELDS + pl.col("fid")) * 2 + cancelled
    # Evidence order within a record: one integer key (record, then the combo's rank).
    ordered = (
        hits.select(pl.col("fid"), combo.alias("combo"), pl.col(_ROW))
        .with_columns(
            key=pl.col(_ROW).cast(pl.UInt64) * (1 << bits)
            + pl.lit(compiled.rel_rank).gather("combo")
        )
        .sort("key")
        .with_columns(
            pl.col(_ROW).set_sorted(),
            ai=pl.lit(compiled.rel_ai).gather("combo"),
            context=pl.lit(compiled.rel_context).gather("combo"),
            evidence=pl.lit(compiled.rel_evidence).gather("combo"),
            not_context=pl.lit(compiled.kind).gather(pl.col("combo") // (2 * _N_FIELDS))
            != _KIND_ID["context"],
        )
    )
    per_record = ordered.group_by(_ROW, maintain_order=True).agg(
        pl.col("evidence"),
        pl.col("not_context").sum().alias("n_strong"),
        *_field_sums({"ai": "ai", "ctx": "context"}),
    )
    ai_score = pl.min_horizontal(
        _half_score(pl.col("ai"), scoring.ai_half),
        _half_score(pl.col("ctx"), scoring.context_half),
    ).round(4)
    # AI, lookalike and negative terms first, then the strongest context terms.
    return _with_slot_totals(per_record, ["ai", "ctx"]).select(
        _ROW,
        (ai_score >= scoring.relevance_threshold).alias("is_ai_education"),
        ai_score.alias("ai_score"),
        pl.col("evidence").list.head(pl.col("n_strong") + CONTEXT_EVIDENCE_LIMIT)
        .cast(EVIDENCE_DTYPE).alias("ai_evidence"),
    )


def _topics(hits: pl.DataFrame, taxonomy: Taxonomy, compiled: _Compiled) -> pl.DataFrame:
    """Per record with topic hits: the selected topics with score and evidence."""
    scoring = taxonomy.scoring
    bits = compiled.rank_bits
    n_topics = compiled.n_topics
    combo = pl.col("rid") * _N_FIELDS + pl.col("fid")
    group = pl.col(_ROW).cast(pl.UInt64) * n_topics + pl.lit(compiled.tid).gather("rid")
    ordered = (
        hits.select(pl.col("fid"), combo.alias("combo"), group.alias("group"))
        .with_columns(
            key=pl.col("group") * (1 << bits) + pl.lit(compiled.topic_rank).gather("combo")
        )
        .sort("key")
        .with_columns(
            pl.col("group").set_sorted(),
            w=pl.lit(compiled.topic_w).gather("combo"),
            evidence=pl.lit(compiled.topic_evidence).gather("combo"),
        )
    )
    per_topic = _with_slot_totals(
        ordered.group_by("group", maintain_order=True)
        .agg(pl.col("evidence"), *_field_sums({"raw": "w"})),
        ["raw"],
    ).select(
        (pl.col("group") // n_topics).cast(pl.UInt32).alias(_ROW),
        (pl.col("group") % n_topics).cast(pl.UInt8).alias("tid"),
        "raw",
        "evidence",
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
    topic_struct = pl.struct(
        pl.lit(pl.Series(compiled.slugs, dtype=pl.String)).gather("tid").alias("topic"),
        _half_score(raw, scoring.topic_half).round(4).alias("score"),
        pl.col("evidence").cast(EVIDENCE_DTYPE),
    )
    return (
        selected.group_by(_ROW, maintain_order=True)
        .agg(topic_struct.alias("topics"))
        .with_columns(pl.col("topics").cast(TOPICS_DTYPE))
    )


def _first_of_run(*keys: str) -> pl.Expr:
    """True on the first row of each run of equal ``keys`` (the frame is sorted by them)."""
    changed = [pl.col(k) != pl.col(k).shift(1) for k in keys]
    return (pl.int_range(pl.len()) == 0) | pl.any_horizontal(changed)


def _rank_in_run(*keys: str) -> pl.Expr:
    """1-based position within each run of equal ``keys`` (no window functions)."""
    index = pl.int_range(pl.len(), dtype=pl.UInt32)
    return index - pl.when(_first_of_run(*keys)).then(index).forward_fill() + 1
