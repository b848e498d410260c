"""Kleinberg two-state burst detection for topic shares (pure: numpy and polars, no I/O).

This is the batched form of Kleinberg's model (J. Kleinberg, "Bursty and hierarchical
structure in streams", KDD 2002 / DMKD 2003, section 4), the burst detection CiteSpace uses
for keywords and terms. Each year ``t`` is a batch of ``d_t`` AI-in-education publications,
``r_t`` of them carrying the topic. The baseline state emits topic publications at the rate
``p0 = sum(r) / sum(d)``, the burst state at ``p1 = s * p0`` (capped below 1). The cost of a
year in state ``i`` is the negative log-likelihood ``-(r_t ln p_i + (d_t - r_t) ln(1 - p_i))``
(the binomial coefficient is the same for both states and left out); entering the burst state
costs ``gamma * ln(n)`` with ``n`` the number of years, leaving it costs nothing; the sequence
starts in the baseline state. The cheapest state sequence (Viterbi) marks the burst years, and
a burst's strength is the cost it saves: ``sum over its years of cost_0(t) - cost_1(t)``.

Defaults ``s = 2`` and ``gamma = 1`` are Kleinberg's and CiteSpace's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

DEFAULT_S = 2.0
DEFAULT_GAMMA = 1.0
#: Upper bound of the burst state's rate (a rate of 1 would make every miss infinitely costly).
MAX_BURST_RATE = 0.9999

BURSTS_SCHEMA: dict[str, pl.DataType] = {
    "topic": pl.String(),
    "year": pl.Int64(),
    "publications": pl.Int64(),
    "ai_publications": pl.Int64(),
    "share": pl.Float64(),
    "in_burst": pl.Boolean(),
    "burst_start": pl.Int64(),
    "burst_end": pl.Int64(),
    "burst_strength": pl.Float64(),
    "method": pl.String(),
}


class BurstInputError(ValueError):
    """The counts given to the burst model are inconsistent."""


@dataclass(frozen=True)
class Burst:
    """One burst: positions ``start..end`` (inclusive) of the series and its strength."""

    start: int
    end: int
    strength: float


def method_name(*, s: float = DEFAULT_S, gamma: float = DEFAULT_GAMMA) -> str:
    """Return the method label stored with the results, e.g. ``kleinberg-2state(s=2,gamma=1)``."""
    return f"kleinberg-2state(s={s:g},gamma={gamma:g})"


def _validate(r: np.ndarray, d: np.ndarray, s: float, gamma: float) -> None:
    if r.shape != d.shape or r.ndim != 1:
        msg = f"r and d must be 1-D arrays of the same length, got {r.shape} and {d.shape}"
        raise BurstInputError(msg)
    bad = np.flatnonzero((r < 0) | (d < 0) | (r > d))
    if bad.size:
        pairs = ", ".join(f"t={i}: r={r[i]}, d={d[i]}" for i in bad[:10])
        msg = f"need 0 <= r_t <= d_t at every position; violated at {pairs}"
        raise BurstInputError(msg)
    if s <= 1 or gamma < 0:
        msg = f"need s > 1 and gamma >= 0, got s={s}, gamma={gamma}"
        raise BurstInputError(msg)


def _costs(r: np.ndarray, d: np.ndarray, p: float) -> np.ndarray:
    """Negative log-likelihood of each batch under rate ``p`` (0 * log 0 taken as 0)."""
    hits = np.where(r > 0, r * math.log(p) if p > 0 else -np.inf, 0.0)
    misses = np.where(d - r > 0, (d - r) * math.log1p(-p) if p < 1 else -np.inf, 0.0)
    return -(hits + misses)


def _rates(r: np.ndarray, d: np.ndarray, s: float) -> tuple[float, float] | None:
    total_d = float(d.sum())
    if total_d == 0:
        return None
    p0 = float(r.sum()) / total_d
    p1 = min(s * p0, MAX_BURST_RATE)
    if p0 <= 0 or p1 <= p0:
        return None
    return p0, p1


def kleinberg_states(
    r: np.ndarray, d: np.ndarray, *, s: float = DEFAULT_S, gamma: float = DEFAULT_GAMMA
) -> np.ndarray:
    """Return the optimal state (0 baseline, 1 burst) of every batch.

    Args:
        r: Relevant counts per batch (topic publications per year).
        d: Batch sizes (all AI-in-education publications per year).
        s: Burst rate as a multiple of the baseline rate (> 1).
        gamma: Weight of the cost of entering the burst state (>= 0).

    Returns:
        An int array of 0/1, one per batch; all zeros when the topic never occurs.

    Raises:
        BurstInputError: shapes differ or some ``r_t`` is outside ``0..d_t``.
    """
    r = np.asarray(r, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    _validate(r, d, s, gamma)
    n = r.size
    rates = _rates(r, d, s)
    if n == 0 or rates is None:
        return np.zeros(n, dtype=np.int64)
    cost = np.vstack([_costs(r, d, rates[0]), _costs(r, d, rates[1])])
    enter = gamma * math.log(n) if n > 1 else 0.0
    # Viterbi over two states; ties prefer the baseline state (state 0 listed first).
    total = np.array([cost[0, 0], enter + cost[1, 0]])
    back = np.zeros((n, 2), dtype=np.int64)
    for t in range(1, n):
        from0 = total[0]
        stay1, up = total[1], total[0] + enter
        to0 = min(from0, total[1])
        back[t, 0] = 0 if from0 <= total[1] else 1
        back[t, 1] = 0 if up < stay1 else 1
        total = np.array([to0 + cost[0, t], min(up, stay1) + cost[1, t]])
    states = np.zeros(n, dtype=np.int64)
    states[-1] = 0 if total[0] <= total[1] else 1
    for t in range(n - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states


def burst_intervals(
    r: np.ndarray, d: np.ndarray, *, s: float = DEFAULT_S, gamma: float = DEFAULT_GAMMA
) -> list[Burst]:
    """Return the bursts of a series with their strengths (positions are 0-based).

    Args:
        r: Relevant counts per batch.
        d: Batch sizes.
        s: Burst rate multiple.
        gamma: Entry cost weight.
    """
    r = np.asarray(r, dtype=np.int64)
    d = np.asarray(d, dtype=np.int64)
    states = kleinberg_states(r, d, s=s, gamma=gamma)
    rates = _rates(r, d, s)
    if rates is None or not states.any():
        return []
    saved = _costs(r, d, rates[0]) - _costs(r, d, rates[1])
    bursts: list[Burst] = []
    t, n = 0, states.size
    while t < n:
        if states[t] == 1:
            start = t
            while t + 1 < n and states[t + 1] == 1:
                t += 1
            bursts.append(Burst(start, t, float(saved[start : t + 1].sum())))
        t += 1
    return bursts


def detect_topic_bursts(
    trends: pl.DataFrame,
    totals: pl.DataFrame,
    *,
    s: float = DEFAULT_S,
    gamma: float = DEFAULT_GAMMA,
) -> pl.DataFrame:
    """Run burst detection for every topic over every year from first to last.

    Args:
        trends: ``topic, year, publications`` (e.g. the ``topic_trends`` view); missing
            topic-years count as 0.
        totals: ``year, ai_publications``: all AI-in-education publications per year (the
            batch sizes); years missing between the first and last year count as 0.
        s: Burst rate multiple.
        gamma: Entry cost weight.

    Returns:
        One row per topic and year (:data:`BURSTS_SCHEMA`), sorted by topic and year.

    Raises:
        BurstInputError: a topic count exceeds its year's total.
    """
    if trends.is_empty() or totals.is_empty():
        return pl.DataFrame(schema=BURSTS_SCHEMA)
    first = int(min(trends["year"].min(), totals["year"].min()))  # type: ignore[arg-type]
    last = int(max(trends["year"].max(), totals["year"].max()))  # type: ignore[arg-type]
    years = np.arange(first, last + 1, dtype=np.int64)
    d_map = dict(zip(totals["year"].to_list(), totals["ai_publications"].to_list(), strict=True))
    d = np.array([int(d_map.get(int(y), 0)) for y in years], dtype=np.int64)
    method = method_name(s=s, gamma=gamma)
    parts: list[pl.DataFrame] = []
    for topic in sorted(trends["topic"].unique().to_list()):
        sub = trends.filter(pl.col("topic") == topic)
        r_map = dict(zip(sub["year"].to_list(), sub["publications"].to_list(), strict=True))
        r = np.array([int(r_map.get(int(y), 0)) for y in years], dtype=np.int64)
        try:
            bursts = burst_intervals(r, d, s=s, gamma=gamma)
        except BurstInputError as exc:
            msg = f"topic {topic!r}: {exc}"
            raise BurstInputError(msg) from exc
        start = [None] * years.size
        end = [None] * years.size
        strength: list[float | None] = [None] * years.size
        for burst in bursts:
            for t in range(burst.start, burst.end + 1):
                start[t] = int(years[burst.start])
                end[t] = int(years[burst.end])
                strength[t] = burst.strength
        parts.append(
            pl.DataFrame(
                {
                    "topic": [topic] * years.size,
                    "year": years,
                    "publications": r,
                    "ai_publications": d,
                    "share": [float(ri) / di if di else None for ri, di in zip(r, d, strict=True)],
                    "in_burst": [s_ is not None for s_ in start],
                    "burst_start": start,
                    "burst_end": end,
                    "burst_strength": strength,
                    "method": [method] * years.size,
                },
                schema=BURSTS_SCHEMA,
            )
        )
    return pl.concat(parts).sort("topic", "year")
