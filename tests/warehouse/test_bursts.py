"""Kleinberg two-state burst detection (pure functions)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import polars as pl
import pytest

from warehouse.bursts import (
    BurstInputError,
    burst_intervals,
    detect_topic_bursts,
    kleinberg_states,
    method_name,
)


def _brute_force(r: np.ndarray, d: np.ndarray, s: float, gamma: float) -> float:
    """Cheapest total cost over every state sequence, straight from the model's definition."""
    p0 = r.sum() / d.sum()
    p1 = min(s * p0, 0.9999)
    n = len(r)

    def cost(p: float, rt: int, dt: int) -> float:
        hit = rt * math.log(p) if rt else 0.0
        miss = (dt - rt) * math.log(1 - p) if dt - rt else 0.0
        return -(hit + miss)

    best = math.inf
    for seq in itertools.product((0, 1), repeat=n):
        total, prev = 0.0, 0
        for t, q in enumerate(seq):
            if q > prev:
                total += gamma * math.log(n)
            total += cost(p1 if q else p0, int(r[t]), int(d[t]))
            prev = q
        best = min(best, total)
    return best


def _cost_of(states: np.ndarray, r: np.ndarray, d: np.ndarray, s: float, gamma: float) -> float:
    p0 = r.sum() / d.sum()
    p1 = min(s * p0, 0.9999)
    total, prev = 0.0, 0
    for t, q in enumerate(states):
        p = p1 if q else p0
        if q > prev:
            total += gamma * math.log(len(r))
        hit = r[t] * math.log(p) if r[t] else 0.0
        miss = (d[t] - r[t]) * math.log(1 - p) if d[t] - r[t] else 0.0
        total -= hit + miss
        prev = q
    return total


def test_obvious_burst_is_found_with_its_strength() -> None:
    d = np.array([20] * 10)
    r = np.array([1, 1, 1, 1, 1, 1, 8, 10, 9, 1])
    assert kleinberg_states(r, d).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 0]
    (burst,) = burst_intervals(r, d)
    assert (burst.start, burst.end) == (6, 8)
    p0 = r.sum() / d.sum()
    p1 = 2 * p0
    saved = sum(
        (r[t] * math.log(p1) + (d[t] - r[t]) * math.log(1 - p1))
        - (r[t] * math.log(p0) + (d[t] - r[t]) * math.log(1 - p0))
        for t in range(6, 9)
    )
    assert burst.strength == pytest.approx(saved)
    assert burst.strength > 0


@pytest.mark.parametrize("seed", range(12))
def test_viterbi_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    d = rng.integers(1, 30, size=n)
    r = np.array([int(rng.integers(0, di + 1)) for di in d])
    if r.sum() == 0:
        r[0] = 1
    gamma = float(rng.choice([0.5, 1.0, 2.0]))
    states = kleinberg_states(r, d, s=2.0, gamma=gamma)
    assert _cost_of(states, r, d, 2.0, gamma) == pytest.approx(_brute_force(r, d, 2.0, gamma))


def test_higher_gamma_gives_fewer_burst_years() -> None:
    d = np.array([30] * 8)
    r = np.array([2, 3, 7, 2, 3, 9, 10, 3])
    low = kleinberg_states(r, d, gamma=0.1).sum()
    high = kleinberg_states(r, d, gamma=5.0).sum()
    assert low >= high


def test_flat_or_absent_topic_has_no_burst() -> None:
    d = np.array([10, 10, 10, 10])
    assert kleinberg_states(np.array([2, 2, 2, 2]), d).tolist() == [0, 0, 0, 0]
    assert kleinberg_states(np.array([0, 0, 0, 0]), d).tolist() == [0, 0, 0, 0]
    assert burst_intervals(np.array([0, 0, 0, 0]), d) == []
    # A topic in every publication cannot rise: the burst rate would exceed 1.
    assert kleinberg_states(d, d).tolist() == [0, 0, 0, 0]


def test_empty_years_cost_nothing() -> None:
    d = np.array([10, 0, 10, 10, 10])
    r = np.array([1, 0, 1, 8, 9])
    assert kleinberg_states(r, d).tolist() == [0, 0, 0, 1, 1]


def test_inconsistent_counts_fail_with_the_positions() -> None:
    with pytest.raises(BurstInputError, match="t=1: r=5, d=3"):
        kleinberg_states(np.array([1, 5]), np.array([3, 3]))
    with pytest.raises(BurstInputError, match="same length"):
        kleinberg_states(np.array([1]), np.array([3, 3]))
    with pytest.raises(BurstInputError, match="s > 1"):
        kleinberg_states(np.array([1]), np.array([3]), s=1.0)


def test_detect_topic_bursts_fills_missing_years_and_is_deterministic() -> None:
    years = list(range(2015, 2025))
    totals = pl.DataFrame({"year": years, "ai_publications": [20] * 10})
    trends = pl.DataFrame(
        {
            "topic": ["genai-llm"] * 4 + ["assessment"] * 9,
            "year": [2021, 2022, 2023, 2024] + [y for y in years if y != 2020],
            "publications": [8, 10, 9, 1] + [2] * 9,
        }
    )
    first = detect_topic_bursts(trends, totals)
    second = detect_topic_bursts(trends.reverse(), totals.reverse())
    assert first.equals(second)
    assert first.height == 20
    genai = first.filter(pl.col("topic") == "genai-llm")
    assert genai["year"].to_list() == years
    assert genai["publications"].to_list() == [0] * 6 + [8, 10, 9, 1]
    burst = genai.filter(pl.col("in_burst"))
    assert burst["year"].to_list() == [2021, 2022, 2023]
    assert set(burst["burst_start"].to_list()) == {2021}
    assert set(burst["burst_end"].to_list()) == {2023}
    assert burst["burst_strength"].n_unique() == 1
    assert not first.filter(pl.col("topic") == "assessment")["in_burst"].any()
    assert set(first["method"].to_list()) == {method_name()} == {"kleinberg-2state(s=2,gamma=1)"}
    assert genai.filter(pl.col("year") == 2022)["share"].item() == pytest.approx(0.5)


def test_detect_topic_bursts_on_empty_input() -> None:
    empty = pl.DataFrame(schema={"topic": pl.String, "year": pl.Int64, "publications": pl.Int64})
    totals = pl.DataFrame(schema={"year": pl.Int64, "ai_publications": pl.Int64})
    assert detect_topic_bursts(empty, totals).is_empty()


def test_detect_topic_bursts_names_the_topic_on_bad_counts() -> None:
    trends = pl.DataFrame({"topic": ["x"], "year": [2020], "publications": [5]})
    totals = pl.DataFrame({"year": [2020], "ai_publications": [2]})
    with pytest.raises(BurstInputError, match="topic 'x'"):
        detect_topic_bursts(trends, totals)
