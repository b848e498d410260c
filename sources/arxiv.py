"""arXiv API (Atom): AI-in-education preprints, paged with start/max_results.

arXiv facts this module respects (DESIGN "Sources" row for arxiv): one request every 3 s on
a single connection; at most 2,000 results per call; a page with no entries before
``opensearch:totalResults`` is reached can be transient, so it is retried before it is
trusted; a bad query answers HTTP 400 with an Atom feed whose only entry is titled "Error".
Results are sorted by submission date (ascending) so that pages do not shift while paging.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import date

import requests

from sources.http import FetchedResponse, FetchError, MinIntervalThrottle, Throttle, fetch
from transforms.arxiv import ArxivFeedError, FeedPage, read_feed
from transforms.parsing import PayloadError

log = logging.getLogger(__name__)

BASE_URL = "https://export.arxiv.org/api/query"
#: AI-in-education preprints: computers-and-society, AI and computation-and-language
#: categories, with an education term in the abstract.
DEFAULT_QUERY = (
    "(cat:cs.CY OR cat:cs.AI OR cat:cs.CL) AND (abs:education OR abs:educational"
    " OR abs:students OR abs:teaching OR abs:tutoring OR abs:curriculum OR abs:learners)"
)
MAX_RESULTS_PER_CALL = 2000
DEFAULT_RESULTS_PER_CALL = 200
MIN_INTERVAL = 3.0  # seconds between requests
SORT_BY = "submittedDate"
SORT_ORDER = "ascending"


class ArxivError(FetchError):
    """arXiv rejected the query, or answered with something that is not a result page."""


def iter_arxiv(
    session: requests.Session,
    *,
    base_url: str = BASE_URL,
    search_query: str = DEFAULT_QUERY,
    submitted_from: date | None = None,
    submitted_until: date | None = None,
    start: int = 0,
    max_results_per_call: int = DEFAULT_RESULTS_PER_CALL,
    max_records: int | None = None,
    throttle: Throttle | None = None,
    empty_page_retries: int = 2,
    empty_page_wait: float = MIN_INTERVAL,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FetchedResponse]:
    """Yield one Atom page after another until ``totalResults`` (or ``max_records``).

    Args:
        session: HTTP session (one connection: see :func:`sources.http.build_session`).
        base_url: API endpoint (tests point it at 127.0.0.1).
        search_query: arXiv query syntax.
        submitted_from: First submission day to include (incremental runs), inclusive.
        submitted_until: Last submission day to include, inclusive.
        start: Offset of the first result.
        max_results_per_call: Page size (1..2000).
        max_records: Stop after this many entries (None: all).
        throttle: Called before every request; default: one request every 3 s.
        empty_page_retries: How often an empty page before ``totalResults`` is re-requested
            before it is trusted (paging then stops).
        empty_page_wait: Seconds to wait before such a retry (times the retry number).
        sleep: Injected for tests (also used by the HTTP retries).

    Yields:
        Responses with ``kind="atom"``; transient empty pages that were retried are not
        yielded, a trusted empty page is.

    Raises:
        ValueError: Bad page size, offset or date window.
        ArxivError: arXiv rejected the query (HTTP 400 error feed) or sent an unreadable page.
        FetchError: The request failed after retries.
    """
    if not 1 <= max_results_per_call <= MAX_RESULTS_PER_CALL:
        msg = f"max_results_per_call must be 1..{MAX_RESULTS_PER_CALL}, got {max_results_per_call}"
        raise ValueError(msg)
    if start < 0 or (max_records is not None and max_records < 0):
        msg = "start and max_records must not be negative"
        raise ValueError(msg)
    query = with_submitted_window(search_query, submitted_from, submitted_until)
    pace = throttle or MinIntervalThrottle(MIN_INTERVAL)
    fetched = 0
    while max_records is None or fetched < max_records:
        size = max_results_per_call
        if max_records is not None:
            size = min(size, max_records - fetched)
        params: dict[str, str | int] = {
            "search_query": query, "start": start, "max_results": size,
            "sortBy": SORT_BY, "sortOrder": SORT_ORDER,
        }
        for attempt in range(empty_page_retries + 1):
            response = _get(session, base_url, params, throttle=pace, sleep=sleep)
            page = _read(response)
            if page.entries or start >= page.total or attempt == empty_page_retries:
                break
            log.warning("arXiv page start=%d is empty although totalResults=%d; retry %d/%d",
                        start, page.total, attempt + 1, empty_page_retries)
            sleep(empty_page_wait * (attempt + 1))
        yield response
        if page.entries == 0:
            if start < page.total:
                log.warning("arXiv page start=%d still empty after %d retries; stopping"
                            " (totalResults=%d)", start, empty_page_retries, page.total)
            return
        fetched += page.entries
        start += page.entries
        if start >= page.total:
            return


def with_submitted_window(query: str, first: date | None, last: date | None) -> str:
    """Add a ``submittedDate:[from TO until]`` clause (inclusive days) to a query."""
    if first is None and last is None:
        return query
    if first is not None and last is not None and last < first:
        msg = f"submitted_until {last} is before submitted_from {first}"
        raise ValueError(msg)
    low = f"{first:%Y%m%d}0000" if first else "000001010000"
    high = f"{last:%Y%m%d}2359" if last else "999912312359"
    return f"({query}) AND submittedDate:[{low} TO {high}]"


def _get(session: requests.Session, base_url: str, params: dict[str, str | int], *,
         throttle: Throttle, sleep: Callable[[float], None]) -> FetchedResponse:
    try:
        return fetch(session, base_url, params=params, kind="atom", throttle=throttle,
                     sleep=sleep)
    except FetchError as exc:
        if exc.status == 400 and exc.body:
            try:
                read_feed(exc.body)
            except ArxivFeedError as feed_error:
                msg = f"arXiv rejected the query (HTTP 400): {feed_error}"
                raise ArxivError(msg, status=400, body=exc.body) from exc
            except PayloadError:
                pass
        raise


def _read(response: FetchedResponse) -> FeedPage:
    try:
        return read_feed(response.body)
    except PayloadError as exc:
        msg = f"arXiv answered {response.url} with an unreadable page: {exc}"
        raise ArxivError(msg, status=response.status, body=response.body) from exc
