"""Polite HTTP at the network edge: retries, Retry-After, size caps and redaction.

This is the only place that retries. Callers pass a ``throttle`` callable that is invoked
before every request; flows bind it to a Prefect global rate limit so several runs and
machines share one provider budget, plain scripts use :class:`MinIntervalThrottle`.
"""

from __future__ import annotations

import email.utils
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

log = logging.getLogger(__name__)

USER_AGENT = "aied-trends/0.1 (+https://github.com/aied-trends/aied-trends)"
#: Query parameters that must never be written to a manifest, a log or an error message.
SECRET_PARAMS: frozenset[str] = frozenset(
    {"api_key", "apikey", "key", "mailto", "email", "token", "access_token"}
)
RETRY_STATUSES: frozenset[int] = frozenset({429, 500, 502, 503, 504})
#: (connect, read) seconds.
DEFAULT_TIMEOUT = (10.0, 60.0)
DEFAULT_MAX_RETRIES = 4
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_RETRY_AFTER = 600.0

Throttle = Callable[[], None]


class FetchError(RuntimeError):
    """A request failed for good (after retries, or with a status that is not retried)."""

    def __init__(self, message: str, *, status: int | None = None, body: bytes = b"") -> None:
        super().__init__(message)
        self.status = status
        self.body = body


class ResponseTooLargeError(FetchError):
    """The body exceeded the configured size cap."""


class RateLimitExhaustedError(FetchError):
    """The provider said the budget for this period is spent; stop until the reset."""

    def __init__(self, message: str, *, reset_at: datetime | None = None) -> None:
        super().__init__(message, status=429)
        self.reset_at = reset_at


@dataclass(frozen=True)
class FetchedResponse:
    """One HTTP response body exactly as received, with what a manifest needs."""

    url: str  # redacted: no secrets
    status: int
    headers: Mapping[str, str]
    body: bytes
    fetched_at: datetime
    kind: str = "page"  # what the body is to the source: listing, article, works, ...
    attempts: int = 1

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", self.headers.get("content-type", ""))


@dataclass
class MinIntervalThrottle:
    """Process-local pacing: at least ``interval`` seconds between request starts."""

    interval: float
    _last: float = field(default=0.0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __call__(self) -> None:
        with self._lock:
            wait = self._last + self.interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._last = time.monotonic()


def no_throttle() -> None:
    """A throttle that never waits (for replay servers in tests)."""


class ProviderSession(requests.Session):
    """A session that also carries the limits :func:`fetch` applies to its requests.

    The limits are per provider (``aied.toml``: ``timeout_seconds``, ``max_retries``,
    ``max_response_mb``), so they travel with the session the flow hands to the provider
    client; a call to :func:`fetch` that names a limit overrides the session's.
    """

    def __init__(self, *, timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES,
                 max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        super().__init__()
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_bytes = max_bytes


def build_session(*, contact_email: str | None = None, user_agent: str = USER_AGENT,
                  timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
                  max_retries: int = DEFAULT_MAX_RETRIES,
                  max_bytes: int = DEFAULT_MAX_BYTES) -> ProviderSession:
    """Return a session with the project's User-Agent (with a contact address if given).

    One session keeps one pooled connection per host, which is what polite crawling wants.

    Args:
        contact_email: Sent in the User-Agent (``mailto:``) for providers that ask for one.
        user_agent: The agent string before the contact address.
        timeout: Seconds to connect and to wait for data, or one number for both.
        max_retries: Retries of a request after its first attempt.
        max_bytes: Largest body accepted.
    """
    session = ProviderSession(timeout=timeout, max_retries=max_retries, max_bytes=max_bytes)
    agent = f"{user_agent} mailto:{contact_email}" if contact_email else user_agent
    session.headers.update({"User-Agent": agent, "Accept-Encoding": "gzip, deflate"})
    adapter = requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=1, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_SECRET_NAMES = "|".join(sorted(SECRET_PARAMS))
_SECRET_VALUE = re.compile(rf"([?&](?:{_SECRET_NAMES})=)[^&#\s]*", re.I)
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


def redact_url(url: str) -> str:
    """Drop secret query parameters (api keys, contact e-mail) from a URL."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in SECRET_PARAMS]
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact_text(text: str, secrets: tuple[str, ...] = ()) -> str:
    """Remove secret values, secret query parameters and e-mail addresses from free text."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _SECRET_VALUE.sub(r"\1***", text)
    return _EMAIL.sub("***@***", text)


class _RedactingFilter(logging.Filter):
    """Scrubs secret query parameters and e-mail addresses from a library's log records.

    urllib3 logs every request line at DEBUG (``"GET /works?api_key=...&mailto=..."``), so a
    process that turns on debug logging would write the API key and the contact address.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_REDACTING_FILTER = _RedactingFilter()
for _name in ("urllib3.connectionpool", "urllib3.util.retry", "requests"):
    if _REDACTING_FILTER not in logging.getLogger(_name).filters:
        logging.getLogger(_name).addFilter(_REDACTING_FILTER)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = now if now is not None else time.time()
    return max(0.0, when.timestamp() - current)


def _read_capped(response: requests.Response, max_bytes: int, url: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        response.close()
        msg = f"response from {url} declares {declared} bytes, over the cap of {max_bytes}"
        raise ResponseTooLargeError(msg, status=response.status_code)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > max_bytes:
            response.close()
            msg = f"response from {url} exceeded the cap of {max_bytes} bytes"
            raise ResponseTooLargeError(msg, status=response.status_code)
        chunks.append(chunk)
    return b"".join(chunks)


def fetch(
    session: requests.Session,
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    kind: str = "page",
    throttle: Throttle = no_throttle,
    max_retries: int | None = None,
    backoff: float = 1.0,
    max_backoff: float = 60.0,
    timeout: float | tuple[float, float] | None = None,
    max_bytes: int | None = None,
    ok_statuses: frozenset[int] = frozenset({200}),
    secrets: tuple[str, ...] = (),
    is_budget_exhausted: Callable[[requests.Response], datetime | None] | None = None,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchedResponse:
    """GET ``url`` with retries on 429/5xx/timeouts/truncated bodies, honouring Retry-After.

    Args:
        session: The HTTP session (its User-Agent carries the contact address).
        url: Absolute URL.
        params: Query parameters (may hold secrets; they never leave this function).
        kind: What the body is to the caller; recorded in the manifest.
        throttle: Called before every attempt (rate limit shared across runs).
        max_retries: Retries after the first attempt (None: the session's, see
            :class:`ProviderSession`; else :data:`DEFAULT_MAX_RETRIES`).
        backoff: First backoff in seconds, doubled each retry when no Retry-After is sent.
        max_backoff: Upper bound on one wait.
        timeout: requests timeout (connect, read); None: the session's, else
            :data:`DEFAULT_TIMEOUT`.
        max_bytes: Body size cap; None: the session's, else :data:`DEFAULT_MAX_BYTES`.
        ok_statuses: Statuses returned to the caller instead of raising (e.g. 404, 422
            for providers that send errors as bodies the parser understands).
        secrets: Values scrubbed from any error message.
        is_budget_exhausted: For a 429, returns the reset time when the provider says the
            period's budget is spent (then no retry: :class:`RateLimitExhaustedError`). The
            response's ``content`` is readable inside the callback.
        retry_statuses: Statuses retried with backoff (OpenAlex adds 403 "slow down").
        sleep: Injected for tests.

    Returns:
        The response with its unchanged body.

    Raises:
        FetchError: The request failed after retries or with a status not in ``ok_statuses``.
        RateLimitExhaustedError: The provider's budget is spent.
        ResponseTooLargeError: The body exceeded ``max_bytes``.
    """
    if max_retries is None:
        max_retries = getattr(session, "max_retries", DEFAULT_MAX_RETRIES)
    if timeout is None:
        timeout = getattr(session, "timeout", DEFAULT_TIMEOUT)
    if max_bytes is None:
        max_bytes = getattr(session, "max_bytes", DEFAULT_MAX_BYTES)
    full = requests.Request("GET", url, params=dict(params or {})).prepare().url or url
    shown = redact_url(full)
    last_problem = ""
    last_status: int | None = None
    for attempt in range(max_retries + 1):
        throttle()
        wait = min(max_backoff, backoff * (2**attempt))
        try:
            response = session.get(url, params=params, timeout=timeout, stream=True)
            body = _read_capped(response, max_bytes, shown)
        except ResponseTooLargeError:
            raise
        except (requests.Timeout, requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError) as exc:
            # A body cut short or mangled on the way (bad gzip from a proxy) is transient.
            last_problem = redact_text(f"{type(exc).__name__}: {exc}", secrets)
            log.warning("GET %s failed (%s), attempt %d/%d", shown, last_problem,
                        attempt + 1, max_retries + 1)
            if attempt < max_retries:
                sleep(wait)
            continue
        except requests.RequestException as exc:  # redirects, invalid URLs, ...: not retried
            problem = redact_text(f"{type(exc).__name__}: {exc}", secrets)
            msg = f"GET {shown} failed: {problem}"
            raise FetchError(msg) from None
        status = response.status_code
        last_status = status
        declared = response.headers.get("Content-Length")
        encoded = response.headers.get("Content-Encoding")
        if declared and declared.isdigit() and not encoded and len(body) < int(declared):
            last_problem = f"truncated body ({len(body)} of {declared} bytes)"
            log.warning("GET %s: %s, attempt %d", shown, last_problem, attempt + 1)
            if attempt < max_retries:
                sleep(wait)
            continue
        if status in ok_statuses:
            return FetchedResponse(
                url=shown, status=status, headers=dict(response.headers), body=body,
                fetched_at=datetime.now(UTC), kind=kind, attempts=attempt + 1,
            )
        if status == 429 and is_budget_exhausted is not None:
            response._content = body  # the body was streamed; let the callback read it
            reset_at = is_budget_exhausted(response)
            if reset_at is not None:
                msg = f"GET {shown}: rate-limit budget exhausted until {reset_at.isoformat()}"
                raise RateLimitExhaustedError(msg, reset_at=reset_at)
        if status in retry_statuses:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                wait = min(MAX_RETRY_AFTER, retry_after)
            last_problem = f"HTTP {status}"
            log.warning("GET %s answered %d; waiting %.1fs (attempt %d/%d)", shown, status,
                        wait, attempt + 1, max_retries + 1)
            if attempt < max_retries:
                sleep(wait)
            continue
        snippet = redact_text(body[:200].decode("utf-8", "replace"), secrets)
        msg = f"GET {shown} answered HTTP {status}: {snippet!r}"
        raise FetchError(msg, status=status, body=body)
    msg = f"GET {shown} failed after {max_retries + 1} attempts: {last_problem}"
    raise FetchError(msg, status=last_status)
