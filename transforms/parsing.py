"""What every payload parser returns, and the registry that picks a parser per source."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import polars as pl

from transforms.canonical import check_columns, empty_canonical_frame, to_canonical_frame


class PayloadError(ValueError):
    """A whole landed body cannot be parsed (malformed XML/JSON/HTML, wrong format).

    The process step turns it into one quarantine row for the body; other bodies go on.
    """


class UnknownSourceError(KeyError):
    """No parser is registered for a source name."""


@dataclass(frozen=True)
class Reject:
    """One record inside a body that could not be turned into a canonical row."""

    raw_ref: str
    reason: str
    payload: str = ""


class ParsedPayload:
    """Canonical rows from one landed body plus the records that were rejected.

    A parser gives either a frame (``records``) or row dicts (:meth:`from_rows`); rows
    become a frame when ``records`` is first read, so that a caller parsing many bodies can
    take the rows of all of them (:attr:`rows`) and build one frame, which is much cheaper
    than a frame per body of a hundred records.
    """

    def __init__(self, records: pl.DataFrame | None = None,
                 rejects: list[Reject] | None = None) -> None:
        self._records = records
        self.rows: list[dict[str, Any]] | None = None
        self.rejects: list[Reject] = rejects if rejects is not None else []

    @classmethod
    def from_rows(cls, rows: list[dict[str, Any]],
                  rejects: list[Reject] | None = None) -> ParsedPayload:
        """A payload of canonical row dicts (checked for unknown columns now).

        Raises:
            UnknownColumnsError: A row has a key outside the canonical record.
        """
        check_columns(rows)
        payload = cls(rejects=rejects)
        payload.rows = rows
        return payload

    @property
    def records(self) -> pl.DataFrame:
        """The canonical frame (built from the rows on first use)."""
        if self._records is None:
            self._records = (to_canonical_frame(self.rows) if self.rows
                             else empty_canonical_frame())
            self.rows = None
        return self._records

    @property
    def count(self) -> int:
        """Records parsed (rows or frame rows)."""
        return len(self.rows) if self.rows is not None else self.records.height

    def __repr__(self) -> str:
        return f"ParsedPayload(count={self.count}, rejects={len(self.rejects)})"


#: ``parse(body, *, kind, url, raw_ref) -> ParsedPayload``
Parser = Callable[..., ParsedPayload]

PARSERS: dict[str, str] = {
    "magtech": "transforms.magtech:parse_magtech",
    "crossref": "transforms.crossref:parse_crossref",
    "openalex": "transforms.openalex:parse_openalex",
    "pubmed": "transforms.pubmed:parse_pubmed",
    "arxiv": "transforms.arxiv:parse_arxiv",
    "oai": "transforms.oai:parse_oai",
    "files": "transforms.files:parse_file",
}


def get_parser(source: str) -> Parser:
    """Return the parser registered for ``source``.

    Raises:
        UnknownSourceError: With the known source names listed.
    """
    try:
        target = PARSERS[source]
    except KeyError as exc:
        msg = f"no parser for source {source!r}; known: {', '.join(sorted(PARSERS))}"
        raise UnknownSourceError(msg) from exc
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)
