"""OAI-PMH harvesting (any repository or OJS journal): ``ListRecords`` with resumption tokens.

Protocol facts this module respects (OAI-PMH 2.0): the first request carries
``metadataPrefix`` and the optional ``set``/``from``/``until`` (inclusive, day granularity);
every later request carries ONLY ``verb`` and ``resumptionToken``; the list ends when the
token is absent or empty. Errors come as XML with HTTP 200 or (Zenodo, Invenio) 422;
``noRecordsMatch`` means an empty harvest, not a failure. 503 with Retry-After is handled by
:func:`sources.http.fetch`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import date, datetime

import requests

from sources.http import FetchedResponse, Throttle, fetch
from transforms.oai import OaiEnvelopeError, read_envelope

log = logging.getLogger(__name__)

VERB = "ListRecords"
DEFAULT_METADATA_PREFIX = "oai_dc"
#: HTTP statuses whose bodies are OAI-PMH documents we must read (errors come as 422 too).
OK_STATUSES: frozenset[int] = frozenset({200, 422})
KIND = "oai"


class OaiHarvestError(RuntimeError):
    """Harvesting an OAI-PMH endpoint failed."""

    def __init__(self, message: str, *, url: str, body: bytes = b"") -> None:
        super().__init__(message)
        self.url = url
        self.body = body


class OaiProtocolError(OaiHarvestError):
    """The repository answered with an OAI-PMH error (badResumptionToken, badArgument ...)."""

    def __init__(self, message: str, *, code: str, error_message: str, url: str,
                 body: bytes = b"") -> None:
        super().__init__(message, url=url, body=body)
        self.code = code
        self.error_message = error_message


class NotOaiResponseError(OaiHarvestError):
    """The endpoint answered with something that is not OAI-PMH XML (an HTML page ...)."""


def _day(value: date | None) -> date | None:
    """Day granularity, which every repository supports (a datetime is cut to its day)."""
    return value.date() if isinstance(value, datetime) else value


def iter_oai_records(
    session: requests.Session,
    *,
    base_url: str,
    metadata_prefix: str = DEFAULT_METADATA_PREFIX,
    set_spec: str | None = None,
    from_date: date | None = None,
    until_date: date | None = None,
    throttle: Throttle,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[FetchedResponse]:
    """Yield every ``ListRecords`` page of a harvest, following resumption tokens.

    Args:
        session: HTTP session (its User-Agent carries the contact address).
        base_url: The repository's OAI-PMH base URL.
        metadata_prefix: Metadata format; the parser reads ``oai_dc``.
        set_spec: Optional set to harvest.
        from_date: Inclusive lower bound on record datestamps (day granularity).
        until_date: Inclusive upper bound on record datestamps.
        throttle: Called before every request (the provider's shared rate limit).
        sleep: Used by retries; injected for tests.

    Yields:
        Each response unchanged (``kind="oai"``). A ``noRecordsMatch`` answer is yielded
        too, so the empty harvest lands and its batch says what was asked; then the
        generator ends.

    Raises:
        ValueError: ``from_date`` is after ``until_date``.
        OaiProtocolError: The repository answered with another OAI error code, or repeated
            a resumption token (which would loop forever).
        NotOaiResponseError: The answer is not OAI-PMH XML.
        FetchError: The request failed after retries (from :func:`sources.http.fetch`).
    """
    from_date, until_date = _day(from_date), _day(until_date)
    if from_date and until_date and from_date > until_date:
        msg = f"from_date {from_date} is after until_date {until_date}"
        raise ValueError(msg)
    params: dict[str, str] = {"verb": VERB, "metadataPrefix": metadata_prefix}
    if set_spec:
        params["set"] = set_spec
    if from_date:
        params["from"] = from_date.isoformat()
    if until_date:
        params["until"] = until_date.isoformat()
    seen_tokens: set[str] = set()
    page = 0
    while True:
        response = fetch(session, base_url, params=params, kind=KIND, throttle=throttle,
                         ok_statuses=OK_STATUSES, sleep=sleep)
        try:
            envelope = read_envelope(response.body)
        except OaiEnvelopeError as exc:
            msg = (f"{response.url} did not answer OAI-PMH (HTTP {response.status}, "
                   f"Content-Type {response.content_type or 'none'}): {exc}")
            raise NotOaiResponseError(msg, url=response.url, body=response.body) from exc
        if envelope.is_no_records_match:
            log.info("OAI %s: noRecordsMatch on page %d", response.url, page)
            yield response
            return
        if envelope.errors:
            code, message = envelope.errors[0]
            msg = f"OAI-PMH error {code} from {response.url}: {message or '(no message)'}"
            raise OaiProtocolError(msg, code=code, error_message=message, url=response.url,
                                   body=response.body)
        if response.status != 200:
            msg = f"{response.url} answered HTTP {response.status} without an OAI error element"
            raise OaiHarvestError(msg, url=response.url, body=response.body)
        yield response
        page += 1
        token = envelope.resumption_token
        if token is None:
            return
        if token in seen_tokens:
            msg = f"OAI repository {base_url} repeated resumptionToken {token!r}; stopping"
            raise OaiProtocolError(msg, code="repeatedResumptionToken", error_message=msg,
                                   url=response.url)
        seen_tokens.add(token)
        log.info("OAI %s: page %d done, next token (list size %s)", base_url, page,
                 envelope.complete_list_size)
        params = {"verb": VERB, "resumptionToken": token}

