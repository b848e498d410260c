"""Publication keys, within-batch deduplication and cross-source matching (pure).

A record's key is its DOI, else its PMID, else a hash of its normalised title (Chinese or
English), year and journal. Matching against the warehouse goes: the same source record
seen before ("self"), DOI, PMID, exact title key, then fuzzy title within the same year and
journal ("title", with the rapidfuzz ratio as score).
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
from rapidfuzz import fuzz, process

TITLE_THRESHOLD = 93.0

#: Columns of the identity frame the warehouse hands to :func:`assign_publications`.
IDENTITY_SCHEMA: dict[str, pl.DataType] = {
    "pub_id": pl.String(),
    "source": pl.String(),
    "source_id": pl.String(),
    "doi": pl.String(),
    "pmid": pl.String(),
    "title_key": pl.String(),
    "pub_year": pl.Int32(),
    "journal_key": pl.String(),
}

MATCH_COLUMNS = ("pub_id", "match_rule", "match_score", "matched_source", "matched_source_id")


def title_key_expr(column: str) -> pl.Expr:
    """The matching key of a title-like column: NFKC, lower-case, letters and digits only."""
    return (
        pl.col(column).str.normalize("NFKC").str.to_lowercase()
        .str.replace_all(r"[^\p{L}\p{N}]", "")
    )


def publication_key_exprs() -> tuple[pl.Expr, pl.Expr]:
    """``title_key`` and ``journal_key`` of a publication row, as the warehouse stores them.

    From the merged fields: Chinese title first, then the title; the ISSN, else the journal
    title's key.
    """
    return (
        pl.coalesce(title_key_expr("title_zh"), title_key_expr("title")).alias("title_key"),
        pl.coalesce(pl.col("journal_issn"), title_key_expr("journal_title"))
        .alias("journal_key"),
    )


def with_match_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Add ``title_key``, ``pub_year``, ``journal_key`` and ``pub_key`` to a canonical frame."""
    title_key = pl.coalesce(title_key_expr("title_zh"), title_key_expr("title"))
    out = frame.with_columns(
        pl.when(title_key.str.len_chars() > 0).then(title_key).alias("title_key"),
        pl.col("published_date").dt.year().cast(pl.Int32).alias("pub_year"),
        pl.coalesce(pl.col("journal_issn"), title_key_expr("journal_title"),
                    title_key_expr("journal_title_zh")).alias("journal_key"),
    )
    hashed = pl.concat_str(
        [pl.col("title_key").fill_null(""), pl.col("pub_year").cast(pl.String).fill_null(""),
         pl.col("journal_key").fill_null("")], separator="|",
    )
    return out.with_columns(
        pl.when(pl.col("doi").is_not_null()).then(pl.lit("doi:") + pl.col("doi"))
        .when(pl.col("pmid").is_not_null()).then(pl.lit("pmid:") + pl.col("pmid"))
        .when(pl.col("title_key").is_not_null()).then(pl.lit("title:") + hashed)
        .otherwise(pl.lit("record:") + pl.col("source") + ":" + pl.col("source_id"))
        .alias("pub_key")
    )


def _completeness(frame: pl.DataFrame) -> pl.Expr:
    scalar = [c for c, t in frame.schema.items() if not isinstance(t, pl.List | pl.Struct)]
    return pl.sum_horizontal([pl.col(c).is_not_null().cast(pl.Int32) for c in scalar])


def drop_repeated_records(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep one row per (source, source_id): the most complete, last seen on ties.

    Returns:
        (kept rows, dropped repeats) — the repeats count as merged duplicates.
    """
    if frame.height == 0:
        return frame, frame
    ranked = frame.with_row_index("_row").with_columns(_completeness(frame).alias("_filled"))
    best = (
        ranked.sort(["_filled", "_row"], descending=[True, True])
        .unique(subset=["source", "source_id"], keep="first", maintain_order=True)
        .sort("_row")
    )
    dropped = ranked.join(best.select("_row"), on="_row", how="anti")
    return best.drop("_row", "_filled"), dropped.drop("_row", "_filled")


def new_pub_id(pub_key: str) -> str:
    """The stable publication id given to a key seen for the first time."""
    return "pub_" + hashlib.sha1(pub_key.encode("utf-8")).hexdigest()[:16]


def assign_publications(
    batch: pl.DataFrame, identities: pl.DataFrame, *, title_threshold: float = TITLE_THRESHOLD
) -> pl.DataFrame:
    """Give every batch record a ``pub_id``, with the rule and score that chose it.

    Args:
        batch: Records with :func:`with_match_keys` columns, one row per source record.
        identities: Known source records (:data:`IDENTITY_SCHEMA`) from the warehouse.
        title_threshold: Minimum rapidfuzz ratio (0-100) for a fuzzy title match.

    Returns:
        ``batch`` with ``pub_id``, ``match_rule`` (self/doi/pmid/title/new),
        ``match_score`` (0..1) and ``matched_source``/``matched_source_id``.
    """
    identities = identities.select(
        [pl.col(c).cast(t) for c, t in IDENTITY_SCHEMA.items()]
    )
    out = batch.with_row_index("_row")
    found: list[pl.DataFrame] = []
    remaining = out

    def take(joined: pl.DataFrame, rule: str) -> None:
        nonlocal remaining
        hit = joined.filter(pl.col("m_pub_id").is_not_null()).unique("_row", keep="first")
        found.append(hit.select(
            "_row", pl.col("m_pub_id").alias("pub_id"), pl.lit(rule).alias("match_rule"),
            pl.col("m_score").cast(pl.Float64).alias("match_score"),
            pl.col("m_source").alias("matched_source"),
            pl.col("m_source_id").alias("matched_source_id"),
        ))
        remaining = remaining.join(hit.select("_row"), on="_row", how="anti")

    ident = identities.rename({c: f"m_{c}" for c in identities.columns})
    ident = ident.with_columns(pl.lit(1.0).alias("m_score"))
    self_join = remaining.join(
        ident, left_on=["source", "source_id"], right_on=["m_source", "m_source_id"],
        how="left",
    ).with_columns(pl.col("source").alias("m_source"), pl.col("source_id").alias("m_source_id"))
    take(self_join, "self")
    title_block = ["title_key", "pub_year", "journal_key"]
    for keys, rule in ((["doi"], "doi"), (["pmid"], "pmid"), (title_block, "title")):
        m_keys = [f"m_{k}" for k in keys]
        right = ident.filter(pl.all_horizontal(pl.col(m_keys).is_not_null())).unique(
            m_keys, keep="first")
        left = remaining.filter(pl.all_horizontal(pl.col(keys).is_not_null()))
        joined = left.join(right, left_on=keys, right_on=m_keys, how="left")
        if rule == "title":  # two different DOIs are two works, however alike the titles
            joined = joined.with_columns(
                pl.when(_doi_conflict("doi", "m_doi")).then(None)
                .otherwise(pl.col("m_pub_id")).alias("m_pub_id"))
        take(joined, rule)
    fuzzy = _fuzzy_title_matches(remaining, identities, title_threshold)
    if fuzzy.height:
        found.append(fuzzy)
        remaining = remaining.join(fuzzy.select("_row"), on="_row", how="anti")
    new = remaining.select(
        "_row",
        pl.col("pub_key").map_elements(new_pub_id, return_dtype=pl.String).alias("pub_id"),
        pl.lit("new").alias("match_rule"), pl.lit(1.0).alias("match_score"),
        pl.lit(None, dtype=pl.String).alias("matched_source"),
        pl.lit(None, dtype=pl.String).alias("matched_source_id"),
    )
    assigned = pl.concat([*found, new], how="vertical_relaxed")
    out = out.join(assigned, on="_row", how="left").sort("_row").drop("_row")
    return _unify_within_batch(out)


def _doi_conflict(left: str, right: str) -> pl.Expr:
    return (pl.col(left).is_not_null() & pl.col(right).is_not_null()
            & (pl.col(left) != pl.col(right)))


#: Probe rows compared with a block's candidates at once (bounds the score matrix).
FUZZY_PROBE_CHUNK = 2048
#: Scores closer than this are the same score (cdist and fuzz.ratio differ in the last bit).
_HAIR = 1e-9
#: Score matrices at least this large are computed on every core.
_PARALLEL_CELLS = 200_000


def _fuzzy_title_matches(remaining: pl.DataFrame, identities: pl.DataFrame,
                         threshold: float) -> pl.DataFrame:
    """Fuzzy title within the same year and journal (blocking keeps this near-linear).

    For each probe, the best rapidfuzz ``ratio`` over the candidates of its block whose DOI
    does not differ from its own (two different DOIs are two works, however alike the
    titles), at least ``threshold``; ties go to the candidate listed first. The scores of a
    block come from one ``process.cdist`` call (C++) instead of one ``extractOne`` per probe.
    """
    schema = {"_row": pl.UInt32, "pub_id": pl.String, "match_rule": pl.String,
              "match_score": pl.Float64, "matched_source": pl.String,
              "matched_source_id": pl.String}
    has_block = pl.col("title_key").is_not_null() & pl.col("pub_year").is_not_null()
    block = ["pub_year", "journal_key"]
    probes = remaining.filter(has_block).select("_row", "title_key", "doi", *block)
    candidates = identities.filter(has_block).select(
        "pub_id", "source", "source_id", "title_key", "doi", *block)
    if candidates.height == 0 or probes.height == 0:
        return pl.DataFrame(schema=schema)
    ids = probes.select(block).unique(maintain_order=True).with_row_index("_block")
    # Sorted by block; a block's candidates stay in the order they were listed.
    probes = probes.join(ids, on=block, nulls_equal=True).sort("_block", maintain_order=True)
    candidates = candidates.join(ids, on=block, nulls_equal=True).sort(
        "_block", maintain_order=True)
    if candidates.height == 0:
        return pl.DataFrame(schema=schema)
    probe_blocks = probes.get_column("_block").to_numpy()
    pool_blocks = candidates.get_column("_block").to_numpy()
    titles = probes.get_column("title_key").to_list()
    choices = candidates.get_column("title_key").to_list()
    probe_doi = probes.get_column("doi").to_numpy().astype(object)
    pool_doi = candidates.get_column("doi").to_numpy().astype(object)
    rows: list[int] = []
    picks: list[int] = []
    scores: list[float] = []
    starts = np.flatnonzero(np.r_[True, probe_blocks[1:] != probe_blocks[:-1]])
    ends = np.r_[starts[1:], len(probe_blocks)]
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        key = probe_blocks[start]
        low, high = np.searchsorted(pool_blocks, [key, key + 1])
        if low == high:
            continue
        for part in range(start, end, FUZZY_PROBE_CHUNK):
            stop = min(part + FUZZY_PROBE_CHUNK, end)
            _best_in_pool(titles, choices, probe_doi, pool_doi, (part, stop), (low, high),
                          threshold, out=(rows, picks, scores))
    if not rows:
        return pl.DataFrame(schema=schema)
    return pl.concat([
        probes.select("_row")[rows],
        candidates.select(pl.col("pub_id"), pl.lit("title").alias("match_rule"))[picks],
        pl.DataFrame({"match_score": scores}, schema={"match_score": pl.Float64}),
        candidates.select(pl.col("source").alias("matched_source"),
                          pl.col("source_id").alias("matched_source_id"))[picks],
    ], how="horizontal").cast(schema)  # type: ignore[arg-type]


def _best_in_pool(titles: list[str], choices: list[str], probe_doi: np.ndarray,
                  pool_doi: np.ndarray, probe_span: tuple[int, int],
                  pool_span: tuple[int, int], threshold: float, *,
                  out: tuple[list[int], list[int], list[float]]) -> None:
    """Append (probe, best candidate, score) to ``out`` for each probe of the span that has one.

    ``cdist`` may differ from a single ``fuzz.ratio`` call in the last bit of a score: it
    finds the candidates with a cutoff a hair lower, scores within that hair of a row's best
    count as equal (the first listed wins), and the chosen pair is scored again the way
    ``extractOne`` scores it, which decides the threshold and gives the stored score.
    """
    (p0, p1), (c0, c1) = probe_span, pool_span
    queries, pool = titles[p0:p1], choices[c0:c1]
    workers = -1 if len(queries) * len(pool) >= _PARALLEL_CELLS else 1
    matrix = process.cdist(queries, pool, scorer=fuzz.ratio, score_cutoff=threshold - _HAIR,
                           dtype=np.float64, workers=workers)
    top = matrix.max(axis=1)
    if not top.any():
        return
    dois, pool_dois = probe_doi[p0:p1], pool_doi[c0:c1]
    if any(d is not None for d in dois) and any(d is not None for d in pool_dois):
        conflict = ((dois[:, None] != pool_dois[None, :])
                    & (dois[:, None] != None)  # noqa: E711 - element-wise on objects
                    & (pool_dois[None, :] != None))  # noqa: E711
        matrix[conflict] = 0.0
        top = matrix.max(axis=1)
    best = (matrix >= top[:, None] - _HAIR).argmax(axis=1)  # the first of the best
    rows, picks, scores = out
    for i in np.flatnonzero(top > 0).tolist():
        pick = int(best[i])
        again = process.extractOne(queries[i], [pool[pick]], scorer=fuzz.ratio,
                                   score_cutoff=threshold)
        if again is not None:
            rows.append(p0 + i)
            picks.append(c0 + pick)
            scores.append(again[1] / 100.0)  # in Python: polars multiplies by 0.01


def _unify_within_batch(frame: pl.DataFrame) -> pl.DataFrame:
    """Records of one batch that share a DOI, PMID or title key share one pub_id.

    The first record of a publication in the batch keeps its rule; every later one is a
    merge into it (rule doi/pmid/title, matched_source/matched_source_id naming the first).
    """
    out = frame
    for cols in (["doi"], ["pmid"], ["title_key", "pub_year", "journal_key"]):
        first = (
            out.filter(pl.all_horizontal(pl.col(cols).is_not_null()))
            .group_by(cols, maintain_order=True)
            .agg(pl.col("pub_id").first().alias("_first"), pl.len().alias("_n"),
                 pl.col("doi").drop_nulls().n_unique().alias("_dois"))
            # Two different DOIs under one title are two works, however alike the titles.
            .filter((pl.col("_n") > 1) & (pl.col("_dois") <= 1))
            .drop("_dois")
        )
        if first.height == 0:
            continue
        out = out.join(first.select(*cols, "_first"), on=cols, how="left",
                       nulls_equal=False).with_columns(
            # A record already placed in the warehouse by its own match keeps its place.
            pl.when(pl.col("match_rule") == "new")
            .then(pl.coalesce(pl.col("_first"), pl.col("pub_id")))
            .otherwise(pl.col("pub_id")).alias("pub_id"),
        ).drop("_first")
    position = pl.int_range(pl.len()).over("pub_id")
    head = out.group_by("pub_id", maintain_order=True).agg(
        pl.col("source").first().alias("_h_source"),
        pl.col("source_id").first().alias("_h_source_id"),
        pl.col("doi").first().alias("_h_doi"), pl.col("pmid").first().alias("_h_pmid"),
    )
    out = out.join(head, on="pub_id", how="left", maintain_order="left")
    is_later = (position > 0) & pl.col("match_rule").is_in(["new", "self"])
    rule = (pl.when(pl.col("doi").is_not_null() & (pl.col("doi") == pl.col("_h_doi")))
            .then(pl.lit("doi"))
            .when(pl.col("pmid").is_not_null() & (pl.col("pmid") == pl.col("_h_pmid")))
            .then(pl.lit("pmid")).otherwise(pl.lit("title")))
    return out.with_columns(
        pl.when(is_later & (pl.col("match_rule") == "new")).then(rule)
        .otherwise(pl.col("match_rule")).alias("match_rule"),
        pl.when(is_later & (pl.col("match_rule") == "new")).then(pl.col("_h_source"))
        .otherwise(pl.col("matched_source")).alias("matched_source"),
        pl.when(is_later & (pl.col("match_rule") == "new")).then(pl.col("_h_source_id"))
        .otherwise(pl.col("matched_source_id")).alias("matched_source_id"),
    ).drop("_h_source", "_h_source_id", "_h_doi", "_h_pmid")
