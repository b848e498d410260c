"""Data-quality gates: great-expectations suites kept as JSON files in this package.

``import expectations`` is cheap: great-expectations (~4 s to import) is imported only when
a validation actually runs with ``engine="gx"``.
"""

from expectations.validate import (
    SUITE_PATH,
    ExpectationSummary,
    GXExecutionError,
    SuiteError,
    UnsupportedExpectationError,
    ValidationInputError,
    ValidationOutcome,
    load_suite,
    validate_publications,
)

__all__ = [
    "SUITE_PATH",
    "ExpectationSummary",
    "GXExecutionError",
    "SuiteError",
    "UnsupportedExpectationError",
    "ValidationInputError",
    "ValidationOutcome",
    "load_suite",
    "validate_publications",
]
