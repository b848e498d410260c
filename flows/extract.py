"""Extract wiring: pick a provider client, run it, land every response (no Prefect here).

The incremental window is ``watermark - overlap`` so late-indexed records are fetched again
(and loaded idempotently); the new watermark is the day the fetch started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from sources.http import FetchedResponse, RateLimitExhaustedError, Throttle
from sources.landing import BatchWriter

log = logging.getLogger(__name__)

DEFAULT_BASE_URLS = {
    "magtech": "http://zhyxjy.magtechjournal.com",
    "crossref": "https://api.crossref.org",
    "openalex": "https://api.openalex.org",
    "pubmed": "https://eutils.ncbi.nlm.nih.gov/entrez/eutils",
    "arxiv": "https://export.arxiv.org/api/query",
}
#: Requests per second per provider when aied.toml says nothing (DESIGN: provider rules).
DEFAULT_RATES = {
    "magtech": 0.5, "crossref": 3.0, "openalex": 5.0, "pubmed": 3.0, "arxiv": 1 / 3, "oai": 1.0,
}
DEFAULT_OVERLAP_DAYS = 7


class ExtractError(RuntimeError):
    """The extract step cannot start (unknown source, missing option)."""


@dataclass(frozen=True)
class ExtractRequest:
    """Everything a provider client needs for one ingest, as plain values."""

    source: str
    scope: str  # what the watermark is kept for: an ISSN, a query, an endpoint
    base_url: str | None = None
    since: date | None = None
    until: date | None = None
    options: dict[str, Any] = field(default_factory=dict)
    contact_email: str | None = None
    api_key: str | None = None
    known_urls: frozenset[str] = frozenset()
    max_pages: int | None = None


@dataclass
class LandedBatch:
    """A complete landing batch."""

    source: str
    scope: str
    batch_id: str
    path: Path
    count: int
    statuses: dict[int, int]
    watermark: str
    #: Set when the provider said its budget is spent: the batch holds what came before,
    #: the watermark must not move, and the source waits until this time.
    budget_exhausted_until: datetime | None = None


def incremental_since(watermark: str | None, *, overlap_days: int) -> date | None:
    """The start of the next window: watermark minus the overlap (None: full history)."""
    if not watermark:
        return None
    return date.fromisoformat(watermark[:10]) - timedelta(days=overlap_days)


def open_stream(request: ExtractRequest, session: requests.Session,
                throttle: Throttle) -> Iterator[FetchedResponse]:
    """The provider client's generator for this request.

    Raises:
        ExtractError: Unknown source or a missing required option.
    """
    src, opts = request.source, request.options
    base = request.base_url or opts.get("base_url") or DEFAULT_BASE_URLS.get(src)
    if src == "magtech":
        from sources.magtech import iter_magtech

        return iter_magtech(session, base_url=base, issn=request.scope, throttle=throttle,
                            known_urls=request.known_urls,
                            max_issues=opts.get("max_issues"))
    if src == "crossref":
        from sources.crossref import iter_crossref_works

        return iter_crossref_works(session, base_url=base, issn=request.scope,
                                   from_index_date=request.since, mailto=request.contact_email,
                                   rows=int(opts.get("rows", 1000)), throttle=throttle,
                                   max_pages=request.max_pages)
    if src == "openalex":
        from sources.openalex import iter_openalex_works

        return iter_openalex_works(session, base_url=base, filter=opts.get("filter"),
                                   search=opts.get("search"), api_key=request.api_key,
                                   mailto=request.contact_email,
                                   from_updated_date=request.since, throttle=throttle,
                                   max_pages=request.max_pages)
    if src == "pubmed":
        from sources.pubmed import DEFAULT_BATCH_SIZE, DEFAULT_QUERY, iter_pubmed

        today = datetime.now(UTC).date()
        return iter_pubmed(session, base_url=base, query=opts.get("query", DEFAULT_QUERY),
                           mindate=request.since or date(2010, 1, 1),
                           maxdate=request.until or today, api_key=request.api_key,
                           email=request.contact_email, throttle=throttle,
                           batch_size=int(opts.get("batch_size", DEFAULT_BATCH_SIZE)))
    if src == "arxiv":
        from sources.arxiv import DEFAULT_QUERY as ARXIV_QUERY
        from sources.arxiv import iter_arxiv

        return iter_arxiv(session, base_url=base,
                          search_query=opts.get("search_query", ARXIV_QUERY),
                          submitted_from=request.since, max_records=opts.get("max_records"),
                          throttle=throttle)
    if src == "oai":
        from sources.oai import iter_oai_records

        if not base:
            msg = "the oai source needs an endpoint URL (--base-url or sources.oai.endpoints)"
            raise ExtractError(msg)
        return iter_oai_records(session, base_url=base, set_spec=opts.get("set"),
                                from_date=request.since, until_date=request.until,
                                throttle=throttle)
    msg = f"unknown source {src!r}; known: {', '.join(sorted(DEFAULT_BASE_URLS))}, oai"
    raise ExtractError(msg)


def land_stream(stream: Iterator[FetchedResponse], *, data_dir: Path, request: ExtractRequest,
                on_response: Callable[[FetchedResponse], None] | None = None) -> LandedBatch:
    """Write every response of the stream into one landing batch (manifest last).

    If the stream raises, the batch stays incomplete (no manifest) and the error propagates.
    """
    started = datetime.now(UTC)
    params = {"scope": request.scope, "since": request.since, "until": request.until,
              **{k: v for k, v in request.options.items() if isinstance(v, str | int | float)}}
    statuses: dict[int, int] = {}
    writer = BatchWriter(data_dir, request.source, params=_jsonable(params))
    exhausted_until: datetime | None = None
    try:
        with writer:
            try:
                for response in stream:
                    writer.add(response)
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                    if on_response is not None:
                        on_response(response)
            except RateLimitExhaustedError as exc:
                # What came before the 429 is complete and valid: keep it as the batch.
                exhausted_until = exc.reset_at
                log.warning("%s budget spent after %d response(s) (%s); landing what came "
                            "before and pausing the source until %s", request.source,
                            len(writer.files), exc, exhausted_until)
    except Exception as exc:
        # Source errors are already redacted (no keys, no contact address).
        log.error("%s ingest of %s failed after %d response(s); batch %s stays incomplete "
                  "(no manifest) at %s: %s: %s", request.source, request.scope,
                  len(writer.files), writer.batch_id, writer.path, type(exc).__name__, exc)
        raise
    log.info("landed %s batch %s: %d bodies at %s", request.source, writer.batch_id,
             len(writer.files), writer.path)
    return LandedBatch(source=request.source, scope=request.scope, batch_id=writer.batch_id,
                       path=writer.path, count=len(writer.files), statuses=statuses,
                       watermark=started.date().isoformat(),
                       budget_exhausted_until=exhausted_until)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in params.items()
            if v is not None}
