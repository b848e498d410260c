"""PubMed via NCBI E-utilities: esearch (usehistory) per date window, then efetch XML pages.

NCBI facts this module respects (DESIGN "Sources" row for pubmed): 3 requests/s without an
API key, 10 with one; ``tool`` and ``email`` identify the caller; one query yields at most
10,000 ids, so a date window whose Count exceeds that is split in halves until it fits; a
query that matches nothing answers Count 0 with ``ErrorList/PhraseNotFound`` (not an error).
The API key and e-mail are secrets: they are passed to :func:`sources.http.fetch` as such, so
they never reach a landed URL, a log line or an error message.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import requests

from sources.http import (
    FetchedResponse,
    FetchError,
    MinIntervalThrottle,
    Throttle,
    fetch,
    redact_text,
)
from transforms.parsing import PayloadError
from transforms.pubmed import ESearchResult, read_esearch

log = logging.getLogger(__name__)

BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
DB = "pubmed"
#: Medical/health-professions education AND artificial intelligence, in MeSH and free text.
DEFAULT_QUERY = (
    '("Education, Medical"[MeSH] OR "Education, Nursing"[MeSH] OR "Education, Dental"[MeSH]'
    ' OR "Education, Pharmacy"[MeSH] OR "Health Occupations/education"[MeSH]'
    ' OR "medical education"[tiab] OR "medical students"[tiab] OR "medical student"[tiab]'
    ' OR "health professions education"[tiab] OR "nursing education"[tiab]'
    ' OR "residency training"[tiab] OR curriculum[tiab])'
    ' AND ("Artificial Intelligence"[MeSH] OR "Machine Learning"[MeSH]'
    ' OR "Natural Language Processing"[MeSH] OR "artificial intelligence"[tiab]'
    ' OR "machine learning"[tiab] OR "deep learning"[tiab] OR "large language model*"[tiab]'
    ' OR "generative AI"[tiab] OR ChatGPT[tiab] OR GPT-4[tiab] OR chatbot*[tiab]'
    ' OR "intelligent tutoring"[tiab] OR "learning analytics"[tiab])'
)
MAX_IDS_PER_QUERY = 10_000
RATE_WITHOUT_KEY = 3.0  # requests per second
RATE_WITH_KEY = 10.0
DEFAULT_BATCH_SIZE = 200
MAX_BATCH_SIZE = 10_000  # efetch retmax ceiling
DATE_FORMAT = "%Y/%m/%d"
DATE_TYPES: frozenset[str] = frozenset({"mdat", "edat", "pdat", "crdt"})

_ERROR = re.compile(rb"<ERROR>(.*?)</ERROR>", re.S)


class PubMedError(FetchError):
    """E-utilities answered 200 but the body says the request failed (ERROR element)."""


def default_rate(api_key: str | None) -> float:
    """Requests per second NCBI allows: 10 with an API key, 3 without."""
    return RATE_WITH_KEY if api_key else RATE_WITHOUT_KEY


def iter_pubmed(
    session: requests.Session,
    *,
    base_url: str = BASE_URL,
    query: str = DEFAULT_QUERY,
    mindate: date,
    maxdate: date,
    datetype: str = "mdat",
    api_key: str | None = None,
    tool: str = "aied-trends",
    email: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    throttle: Throttle | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FetchedResponse]:
    """Yield every esearch and efetch response for ``query`` between two dates (inclusive).

    Each window is searched with ``usehistory=y``; a window whose Count exceeds
    :data:`MAX_IDS_PER_QUERY` is split in halves (recursively, oldest half first); a one-day
    window that still exceeds it is fetched up to the limit with a warning. Records are then
    fetched in pages of ``batch_size`` from the history server (WebEnv + query_key).

    Args:
        session: HTTP session (see :func:`sources.http.build_session`).
        base_url: E-utilities base URL (tests point it at 127.0.0.1).
        query: PubMed search term.
        mindate: First day of the window (inclusive).
        maxdate: Last day of the window (inclusive).
        datetype: Date field the window applies to: "mdat" (modification) for incremental
            runs, "edat" (entry), "pdat" (publication) or "crdt" (create).
        api_key: NCBI API key (secret; raises the rate limit to 10/s).
        tool: Tool name registered with NCBI.
        email: Contact address NCBI asks for (secret).
        batch_size: Records per efetch call (1..10000).
        throttle: Called before every request; default paces at :func:`default_rate`.
        sleep: Injected into retries (tests pass a no-op).

    Yields:
        Responses with ``kind="esearch"`` (paging envelopes) and ``kind="efetch"``
        (PubmedArticleSet bodies), in request order.

    Raises:
        ValueError: Bad window, date type or batch size.
        PubMedError: E-utilities reported an error inside a 200 response.
        FetchError: The request failed after retries (secrets redacted).
    """
    if maxdate < mindate:
        msg = f"maxdate {maxdate} is before mindate {mindate}"
        raise ValueError(msg)
    if datetype not in DATE_TYPES:
        msg = f"unknown datetype {datetype!r}; known: {', '.join(sorted(DATE_TYPES))}"
        raise ValueError(msg)
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        msg = f"batch_size must be 1..{MAX_BATCH_SIZE}, got {batch_size}"
        raise ValueError(msg)
    client = _Client(
        session=session, base_url=base_url.rstrip("/"),
        identity={"tool": tool, **({"email": email} if email else {}),
                  **({"api_key": api_key} if api_key else {})},
        secrets=tuple(s for s in (api_key, email) if s),
        throttle=throttle or MinIntervalThrottle(1.0 / default_rate(api_key)),
        sleep=sleep,
    )
    windows = [(mindate, maxdate)]
    while windows:
        low, high = windows.pop()
        response = client.esearch(query, datetype=datetype, low=low, high=high)
        yield response
        result = _read(response, client.secrets)
        if result.count > MAX_IDS_PER_QUERY and low < high:
            middle = low + timedelta(days=(high - low).days // 2)
            log.info("pubmed window %s..%s has %d records: splitting", low, high, result.count)
            windows.append((middle + timedelta(days=1), high))
            windows.append((low, middle))
            continue
        yield from client.efetch_pages(result, low=low, high=high, batch_size=batch_size)


class _Client:
    """One E-utilities conversation: shared identity parameters, secrets and pacing."""

    def __init__(self, *, session: requests.Session, base_url: str, identity: dict[str, str],
                 secrets: tuple[str, ...], throttle: Throttle,
                 sleep: Callable[[float], None]) -> None:
        self.session = session
        self.base_url = base_url
        self.identity = identity
        self.secrets = secrets
        self.throttle = throttle
        self.sleep = sleep

    def get(self, endpoint: str, params: dict[str, str | int], *, kind: str) -> FetchedResponse:
        return fetch(
            self.session, f"{self.base_url}/{endpoint}", params={**params, **self.identity},
            kind=kind, throttle=self.throttle, secrets=self.secrets, sleep=self.sleep,
        )

    def esearch(self, query: str, *, datetype: str, low: date, high: date) -> FetchedResponse:
        params: dict[str, str | int] = {
            "db": DB, "term": query, "usehistory": "y", "retmax": 0, "retmode": "xml",
            "datetype": datetype, "mindate": low.strftime(DATE_FORMAT),
            "maxdate": high.strftime(DATE_FORMAT),
        }
        return self.get("esearch.fcgi", params, kind="esearch")

    def efetch_pages(self, result: ESearchResult, *, low: date, high: date,
                     batch_size: int) -> Iterator[FetchedResponse]:
        total = result.count
        if total > MAX_IDS_PER_QUERY:
            log.warning("pubmed window %s..%s (one day) has %d records, over the %d-id limit;"
                        " fetching the first %d only", low, high, total, MAX_IDS_PER_QUERY,
                        MAX_IDS_PER_QUERY)
            total = MAX_IDS_PER_QUERY
        if total == 0:
            log.info("pubmed window %s..%s: no records", low, high)
            return
        if not result.webenv or not result.query_key:
            msg = (f"esearch for {low}..{high} found {result.count} records"
                   " but returned no WebEnv/QueryKey")
            raise PubMedError(msg)
        for retstart in range(0, total, batch_size):
            params: dict[str, str | int] = {
                "db": DB, "retmode": "xml", "WebEnv": result.webenv,
                "query_key": result.query_key, "retstart": retstart,
                "retmax": min(batch_size, total - retstart),
            }
            response = self.get("efetch.fcgi", params, kind="efetch")
            _check_efetch(response, self.secrets)
            yield response


def _read(response: FetchedResponse, secrets: tuple[str, ...]) -> ESearchResult:
    try:
        result = read_esearch(response.body)
    except PayloadError as exc:
        msg = redact_text(f"unreadable esearch response from {response.url}: {exc}", secrets)
        raise PubMedError(msg, status=response.status) from exc
    if result.error:
        msg = redact_text(f"esearch {response.url} failed: {result.error}", secrets)
        raise PubMedError(msg, status=response.status)
    if result.errors:
        level = logging.INFO if result.count == 0 else logging.WARNING
        log.log(level, "esearch reported %s (Count %d)",
                redact_text("; ".join(result.errors), secrets), result.count)
    return result


def _check_efetch(response: FetchedResponse, secrets: tuple[str, ...]) -> None:
    """An expired WebEnv answers 200 with ``<eFetchResult><ERROR>``: fail instead of landing it."""
    head = response.body[:4096]
    if b"<PubmedArticleSet" in head or b"<eFetchResult" not in head:
        return
    match = _ERROR.search(head)
    detail = match.group(1).decode("utf-8", "replace").strip() if match else ""
    msg = f"efetch {response.url} failed: {detail or 'eFetchResult without records'}"
    raise PubMedError(redact_text(msg, secrets), status=response.status)
