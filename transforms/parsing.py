"""What every payload parser returns, and the registry that picks a parser per source."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from transforms.canonical import empty_canonical_frame


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


@dataclass
class ParsedPayload:
    """Canonical rows from one landed body plus the records that were rejected."""

    records: pl.DataFrame = field(default_factory=empty_canonical_frame)
    rejects: list[Reject] = field(default_factory=list)


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
