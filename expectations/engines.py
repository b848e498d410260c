"""The two engines that evaluate a JSON expectation suite on a prepared frame.

Both return, per expectation label, an :class:`ExpectationSummary` and the ``pub_key`` of
every unexpected row; ``expectations.validate`` turns that into the gate's outcome. See its
docstring for what each engine does and costs.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

KEY = "pub_key"
ROW = "_row"
_NULLS_IGNORED = {
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_between",
}
_ALLOWED_KWARGS: dict[str, set[str]] = {
    "expect_column_values_to_not_be_null": {"column", "mostly"},
    "expect_column_values_to_be_null": {"column", "mostly"},
    "expect_column_values_to_match_regex": {"column", "regex", "mostly"},
    "expect_column_values_to_be_in_set": {"column", "value_set", "mostly"},
    "expect_column_values_to_be_between": {
        "column", "min_value", "max_value", "strict_min", "strict_max", "mostly",
    },
    "expect_column_pair_values_a_to_be_greater_than_b": {
        "column_A", "column_B", "or_equal", "ignore_row_if", "mostly",
    },
}  # fmt: skip


class SuiteError(ValueError):
    """The suite file is unreadable or breaks the suite conventions."""


class UnsupportedExpectationError(SuiteError):
    """The polars engine cannot evaluate an expectation type or argument."""


class GXExecutionError(RuntimeError):
    """great-expectations raised while computing an expectation."""


class EngineDisagreementError(RuntimeError):
    """great-expectations and the polars engine judged rows of the same sample differently."""


@dataclass(frozen=True)
class ExpectationSummary:
    """One expectation's result on a batch.

    ``unexpected_count`` counts failing rows; ``missing_count`` the rows the expectation
    ignored (nulls in the column, or pairs with a missing side).
    """

    expectation: str
    column: str
    success: bool
    unexpected_count: int
    element_count: int
    missing_count: int = 0


@dataclass(frozen=True)
class Evaluation:
    """One expectation's summary and the keys of its unexpected rows."""

    summary: ExpectationSummary
    keys: pl.Series  # pub_key of every unexpected row


def expectation_label(config: Mapping[str, Any]) -> str:
    """Stable name of an expectation, e.g. ``expect_column_values_to_match_regex(doi)``."""
    return f"{config['type']}({', '.join(columns_of(config['kwargs']))})"


def columns_of(kwargs: Mapping[str, Any]) -> list[str]:
    """The column(s) an expectation's kwargs name, in label order."""
    if "column" in kwargs:
        return [kwargs["column"]]
    return [kwargs["column_A"], kwargs["column_B"]]


def resolve_value(value: Any, params: Mapping[str, Any]) -> Any:
    """A bound as the engines compare it: ``$PARAMETER`` looked up, ISO strings as datetimes."""
    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return params[value["$PARAMETER"]]
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value


# --------------------------------------------------------------------------- gx engine


@functools.cache
def _gx_batch_definition() -> Any:
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("aied").add_dataframe_asset("publications")
    return asset.add_batch_definition_whole_dataframe("batch")


def run_gx(
    prepared: pl.DataFrame, suite: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Evaluation]:
    """Evaluate the suite with great-expectations on a pandas copy of the suite's columns.

    Raises:
        SuiteError: If GX drops an expectation of the suite as invalid.
        GXExecutionError: If GX raised while computing an expectation.
    """
    import great_expectations as gx

    gx_suite = gx.ExpectationSuite(**json.loads(json.dumps(suite)))
    if len(gx_suite.expectations) != len(suite["expectations"]):
        msg = "great-expectations rejected expectations of the suite (see the log above)"
        raise SuiteError(msg)
    columns = dict.fromkeys(c for e in suite["expectations"] for c in columns_of(e["kwargs"]))
    pandas_frame = (
        prepared.with_row_index(ROW)
        .select(ROW, *columns)
        .with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.Datetime("ns")))
        .to_pandas()
    )
    batch = _gx_batch_definition().get_batch(batch_parameters={"dataframe": pandas_frame})
    result = batch.validate(
        gx_suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [ROW]},
        expectation_parameters=dict(params),
    )
    evaluations: dict[str, Evaluation] = {}
    for res in result.results:
        config = {"type": res.expectation_config.type, "kwargs": res.expectation_config.kwargs}
        label = expectation_label(config)
        error = _gx_exception(res.exception_info)
        if error:
            msg = f"great-expectations failed on {label}: {error}"
            raise GXExecutionError(msg)
        stats = res.result
        rows = [row[ROW] for row in stats.get("unexpected_index_list") or []]
        keys = prepared.get_column(KEY).gather(rows)
        evaluations[label] = Evaluation(
            ExpectationSummary(
                expectation=label,
                column=", ".join(columns_of(config["kwargs"])),
                success=bool(res.success),
                unexpected_count=int(stats.get("unexpected_count", 0)),
                element_count=int(stats.get("element_count", prepared.height)),
                missing_count=int(stats.get("missing_count", 0)),
            ),
            keys,
        )
    return {expectation_label(e): evaluations[expectation_label(e)] for e in suite["expectations"]}


def _gx_exception(info: Any) -> str | None:
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message"))
    return None


# ----------------------------------------------------------------------- polars engine


def run_polars(
    prepared: pl.DataFrame, suite: Mapping[str, Any], params: Mapping[str, Any]
) -> dict[str, Evaluation]:
    """Evaluate the suite natively in polars, with GX's semantics for nulls and ``mostly``.

    Raises:
        UnsupportedExpectationError: For an expectation type or argument it cannot evaluate.
    """
    masks: list[pl.Expr] = []
    for i, config in enumerate(suite["expectations"]):
        unexpected, missing = _polars_condition(config, prepared.schema, params)
        masks += [unexpected.fill_null(False).alias(f"u{i}"), missing.alias(f"m{i}")]
    flags = prepared.select(pl.col(KEY), *masks)
    counts = flags.select(pl.exclude(KEY).sum()).row(0, named=True)
    evaluations = {}
    for i, config in enumerate(suite["expectations"]):
        label = expectation_label(config)
        unexpected, missing = int(counts[f"u{i}"]), int(counts[f"m{i}"])
        considered = prepared.height - missing
        mostly = config["kwargs"].get("mostly")
        success = unexpected == 0 or (
            mostly is not None and (considered - unexpected) / considered >= float(mostly)
        )
        keys = flags.filter(pl.col(f"u{i}")).get_column(KEY).cast(pl.String)
        evaluations[label] = Evaluation(
            ExpectationSummary(
                expectation=label,
                column=", ".join(columns_of(config["kwargs"])),
                success=success,
                unexpected_count=unexpected,
                element_count=prepared.height,
                missing_count=missing,
            ),
            keys,
        )
    return evaluations


def _polars_condition(
    config: Mapping[str, Any], schema: pl.Schema, params: Mapping[str, Any]
) -> tuple[pl.Expr, pl.Expr]:
    """Return (unexpected, ignored) boolean expressions for one expectation."""
    kind, kwargs = config["type"], config["kwargs"]
    allowed = _ALLOWED_KWARGS.get(kind)
    extra = sorted(set(kwargs) - (allowed or set()))
    if allowed is None or extra:
        what = f"arguments {', '.join(extra)} of {kind}" if allowed else f"expectation {kind}"
        msg = f"the polars engine cannot evaluate {what}; use engine='gx'"
        raise UnsupportedExpectationError(msg)
    if kind == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = pl.col(kwargs["column_A"]), pl.col(kwargs["column_B"])
        ignored = _pair_ignored(kwargs.get("ignore_row_if", "both_values_are_missing"), a, b)
        ok = a >= b if kwargs.get("or_equal") else a > b
        return ~ignored & ~ok.fill_null(False), ignored
    column = kwargs["column"]
    col = pl.col(column)
    ignored = col.is_null() if kind in _NULLS_IGNORED else pl.lit(False)
    if kind == "expect_column_values_to_not_be_null":
        return col.is_null(), ignored
    if kind == "expect_column_values_to_be_null":
        return col.is_not_null(), ignored
    if kind == "expect_column_values_to_match_regex":
        return ~col.cast(pl.String).str.contains(kwargs["regex"]), ignored
    if kind == "expect_column_values_to_be_in_set":
        return ~col.is_in(pl.Series(kwargs["value_set"]).implode()), ignored
    dtype = schema[column]
    low = _bound(resolve_value(kwargs.get("min_value"), params), dtype)
    high = _bound(resolve_value(kwargs.get("max_value"), params), dtype)
    inside = pl.lit(True)
    if low is not None:
        inside = inside & (col > low if kwargs.get("strict_min") else col >= low)
    if high is not None:
        inside = inside & (col < high if kwargs.get("strict_max") else col <= high)
    return ~inside, ignored


def _pair_ignored(rule: str, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    if rule == "either_value_is_missing":
        return a.is_null() | b.is_null()
    if rule == "both_values_are_missing":
        return a.is_null() & b.is_null()
    if rule == "neither":
        return pl.lit(False)
    msg = f"the polars engine cannot evaluate ignore_row_if={rule!r}"
    raise UnsupportedExpectationError(msg)


def _bound(value: Any, dtype: pl.DataType) -> Any:
    if isinstance(value, datetime) and dtype == pl.Date:
        return value.date()
    return value


# ----------------------------------------------------------------------- hybrid engine

#: Rows great-expectations checks in every batch the hybrid engine validates.
HYBRID_SAMPLE_ROWS = 5_000


def hybrid_sample(prepared: pl.DataFrame, flagged: pl.Series, size: int) -> pl.DataFrame:
    """The rows great-expectations checks: all of a batch up to ``size`` rows, else ``size``.

    The rule: rows are taken in the order of a hash of their ``pub_key`` (the same rows for
    the same batch), first up to half the sample from the rows polars found unexpected for
    some expectation, then the others, until ``size`` rows.
    """
    if prepared.height <= size:
        return prepared
    ordered = prepared.with_columns(
        pl.col(KEY).is_in(flagged.implode()).alias("_flagged"),
        pl.col(KEY).hash(seed=20261207).alias("_order"),
    ).sort("_order")
    bad = ordered.filter(pl.col("_flagged")).head(size // 2)
    good = ordered.filter(~pl.col("_flagged")).head(size - bad.height)
    return pl.concat([bad, good]).drop("_flagged", "_order")


def run_hybrid(
    prepared: pl.DataFrame, suite: Mapping[str, Any], params: Mapping[str, Any], *,
    sample_rows: int = HYBRID_SAMPLE_ROWS,
) -> dict[str, Evaluation]:
    """The polars engine's verdict on every row, certified by great-expectations on a sample.

    great-expectations evaluates the suite on :func:`hybrid_sample`; for every expectation
    the rows it finds unexpected must be exactly the sample's rows polars found unexpected.
    A batch of up to ``sample_rows`` rows is checked whole by both engines.

    Raises:
        EngineDisagreementError: The engines differ on a row of the sample (names the
            expectation and up to five keys).
        UnsupportedExpectationError: The polars engine cannot evaluate the suite.
        GXExecutionError: great-expectations failed to compute an expectation.
    """
    full = run_polars(prepared, suite, params)
    flagged = pl.concat([ev.keys for ev in full.values()]).unique()
    sample = hybrid_sample(prepared, flagged, sample_rows)
    certified = run_gx(sample, suite, params)
    in_sample = set(sample.get_column(KEY).cast(pl.String).to_list())
    for label, evaluation in full.items():
        by_polars = set(evaluation.keys.to_list()) & in_sample
        by_gx = set(certified[label].keys.cast(pl.String).to_list())
        if by_polars != by_gx:
            differ = sorted(by_polars ^ by_gx)
            msg = (f"great-expectations and polars disagree on {label} for "
                   f"{len(differ)} of {len(in_sample)} sampled rows, e.g. "
                   f"{', '.join(differ[:5])}; the batch is not validated")
            raise EngineDisagreementError(msg)
    return full
