"""Python definitions of the expectation suites, written out as the JSON files the pipeline loads.

The JSON files in ``expectations/`` are the source of truth at run time; this script is the
reviewable way to (re)write them. Run it after editing a definition below and commit both:

    .venv/bin/python -m expectations.build_suites          # rewrite the JSON files
    .venv/bin/python -m expectations.build_suites --check  # exit 1 if a file is stale

Conventions every suite follows (``expectations/validate.py`` relies on them):

* each expectation's ``meta`` has ``level`` (``"row"``: failing rows are quarantined;
  ``"batch"``: only counted for the batch rules) and a human ``description``;
* derived columns (``has_title``, ``pub_year``, ``received_limit``, ...) are computed in polars
  by ``validate.prepare_frame`` before any engine sees the frame;
* bounds that depend on the run date are ``{"$PARAMETER": name}`` values, computed from
  ``meta.parameters`` and the run date;
* ``meta.batch_rules`` fail a whole batch when an expectation's share of unexpected values
  (among the rows where the column is set) is above ``max_unexpected_fraction`` in a batch of
  at least ``min_rows`` rows.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

SUITES_DIR = Path(__file__).resolve().parent
PUBLICATIONS_SUITE_PATH = SUITES_DIR / "publications.json"

#: Reviewed ISO 639-1 codes accepted in ``publications.language``. Parsers map provider
#: codes (ISO 639-2 ``eng``, locales ``en_US``) to these; anything else is quarantined.
LANGUAGES: tuple[str, ...] = (
    "af", "am", "ar", "az", "be", "bg", "bn", "bs", "ca", "cs", "cy", "da", "de", "el", "en",
    "eo", "es", "et", "eu", "fa", "fi", "fr", "ga", "gl", "gu", "he", "hi", "hr", "hu", "hy",
    "id", "is", "it", "ja", "ka", "kk", "km", "kn", "ko", "la", "lo", "lt", "lv", "mk", "ml",
    "mn", "mr", "ms", "my", "nb", "ne", "nl", "nn", "no", "pa", "pl", "ps", "pt", "ro", "ru",
    "si", "sk", "sl", "sq", "sr", "sv", "sw", "ta", "te", "th", "tl", "tr", "uk", "ur", "uz",
    "vi", "zh",
)  # fmt: skip

DATE_PRECISIONS: tuple[str, ...] = ("day", "month", "year")

#: Lower-case DOI without resolver prefix. RE2/Rust regex dialect (pandas' pyarrow strings
#: and polars evaluate it the same way: ``$`` is the end of the text).
DOI_REGEX = r"^10\.[0-9]{4,9}/[^\sA-Z]+$"
ISSN_REGEX = r"^[0-9]{4}-[0-9]{3}[0-9X]$"

PUBLICATIONS_META: dict[str, Any] = {
    "parameters": {
        # published_date <= run date + this many years
        "max_published_years_ahead": 1,
        # pub_year <= run year + this many years (0: no publication year in the future)
        "max_pub_year_ahead": 0,
        # received_date <= coalesce(online_date, end of published period) + this many days
        "received_tolerance_days": 0,
    },
    "batch_rules": [
        {
            "rule": "doi_pattern_broken",
            "expectation": "expect_column_values_to_match_regex(doi)",
            "max_unexpected_fraction": 0.5,
            "min_rows": 1,
            "description": "the DOI pattern is broken for most rows that have a DOI",
        },
        {
            "rule": "titles_missing",
            "expectation": "expect_column_values_to_be_in_set(has_title)",
            "max_unexpected_fraction": 0.5,
            "min_rows": 1,
            "description": "most rows have neither title nor title_zh",
        },
        {
            "rule": "abstracts_missing",
            "expectation": "expect_column_values_to_be_in_set(has_abstract)",
            "max_unexpected_fraction": 0.9,
            "min_rows": 20,
            "description": "almost no row has an abstract or abstract_zh",
        },
    ],
}


def _meta(description: str, *, level: str = "row") -> dict[str, str]:
    return {"level": level, "description": description}


def publications_expectations() -> list[Any]:
    """The expectations of the ``publications`` suite, as GX expectation objects."""
    import great_expectations.expectations as gxe

    return [
        gxe.ExpectColumnValuesToNotBeNull(column="source", meta=_meta("source is missing")),
        gxe.ExpectColumnValuesToNotBeNull(
            column="source_id", meta=_meta("source_id is missing")
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="doi",
            regex=DOI_REGEX,
            meta=_meta("doi is not a lower-case DOI without resolver prefix"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="has_title",
            value_set=[True],
            meta=_meta("title and title_zh are both missing"),
        ),
        gxe.ExpectColumnValuesToMatchRegex(
            column="journal_issn",
            regex=ISSN_REGEX,
            meta=_meta("journal_issn is not an ISSN NNNN-NNNX"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="language",
            value_set=list(LANGUAGES),
            meta=_meta("language is not a reviewed ISO 639-1 code"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="dated_precision",
            value_set=list(DATE_PRECISIONS),
            meta=_meta(
                "date_precision must be day, month or year when published_date is set"
                " (dated_precision is date_precision where published_date is set)"
            ),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="published_date",
            min_value="1900-01-01T00:00:00",
            max_value={"$PARAMETER": "max_published_date"},
            meta=_meta("published_date is before 1900 or too far in the future"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="pub_year",
            min_value=1900,
            max_value={"$PARAMETER": "max_pub_year"},
            meta=_meta("publication year is in the future"),
        ),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(
            column_A="received_limit",
            column_B="received_date",
            or_equal=True,
            ignore_row_if="either_value_is_missing",
            meta=_meta(
                "received_date is after the online/published date"
                " (received_limit = coalesce(online_date, end of published period) + tolerance)"
            ),
        ),
        gxe.ExpectColumnValuesToBeNull(
            column="unknown_topic_slugs",
            meta=_meta("topic slugs are not in the taxonomy"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="ai_score",
            min_value=0,
            max_value=1,
            meta=_meta("ai_score is outside [0, 1]"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="has_abstract",
            value_set=[True],
            meta=_meta("abstract and abstract_zh are both missing", level="batch"),
        ),
    ]


def build_publications_suite() -> dict[str, Any]:
    """Build the ``publications`` suite as the plain JSON dict stored in the repository.

    Returns:
        ``suite.to_json_dict()`` without ids; loadable with ``gx.ExpectationSuite(**d)``.
    """
    import great_expectations as gx

    suite = gx.ExpectationSuite(
        name="publications",
        expectations=publications_expectations(),
        meta=json.loads(json.dumps(PUBLICATIONS_META)),
        notes=(
            "Quality gate for canonical publication rows after classification. Row-level"
            " failures are quarantined; meta.batch_rules fail the whole batch. Written by"
            " expectations/build_suites.py."
        ),
    )
    data = suite.to_json_dict()
    data.pop("id", None)
    for expectation in data["expectations"]:
        expectation.pop("id", None)
    return data


def render(data: dict[str, Any]) -> str:
    """Serialise a suite dict the way the repository stores it."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def suite_files() -> dict[Path, str]:
    """Every suite file this module writes, with its content."""
    return {PUBLICATIONS_SUITE_PATH: render(build_publications_suite())}


def write_suites() -> list[Path]:
    """(Re)write every suite file; returns the paths written."""
    files = suite_files()
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)


def stale_suites() -> list[Path]:
    """Suite files whose content differs from the Python definitions."""
    return [
        path
        for path, text in suite_files().items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def main(argv: list[str] | None = None) -> int:
    """Command line: rewrite the suites, or with ``--check`` report stale ones."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check, exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_suites()
        for path in stale:
            print(f"stale: {path}", file=sys.stderr)
        return 1 if stale else 0
    for path in write_suites():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
