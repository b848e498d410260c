"""Magtech (玛格泰克) journal sites: robots.txt, issue tables of contents, article pages.

The crawl is polite and small: robots.txt first (disallow rules and Crawl-delay honoured),
then the current issue (``/EN/<ISSN>/current.shtml``, falling back to the Chinese home page),
then, when more than one issue is wanted, the past-issue list and older issues, and every
article page linked from the issues crawled. One request at a time through
:func:`sources.http.fetch` with the caller's throttle. Every response is yielded unchanged
(``kind`` = ``robots``, ``listing`` or ``article``); a 404 article is yielded with its status
so the process step quarantines it. Links are found by URL pattern (see
:mod:`transforms.magtech`). Only metadata pages are fetched, never PDFs.
"""

from __future__ import annotations

import logging
import time
import urllib.robotparser
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

from sources.http import FetchedResponse, Throttle, fetch, no_throttle
from transforms.magtech import (
    link_info,
    parse_article_links,
    parse_current_issue,
    parse_issue_links,
)

log = logging.getLogger(__name__)

ROBOTS_PATH = "/robots.txt"
CURRENT_ISSUE_PATH = "/EN/{issn}/current.shtml"
HOME_PATH = "/CN/{issn}/home.shtml"
#: Robots statuses that mean "no rules" (RFC 9309: 4xx means the crawler may go anywhere).
ROBOTS_OK_STATUSES: frozenset[int] = frozenset({200, 400, 401, 403, 404, 410})
ARTICLE_OK_STATUSES: frozenset[int] = frozenset({200, 404})
LISTING_OK_STATUSES: frozenset[int] = frozenset({200})
START_OK_STATUSES: frozenset[int] = frozenset({200, 404})
#: A Crawl-delay above this is still honoured, but logged: the run will be slow.
LONG_CRAWL_DELAY = 60.0

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class RobotsDisallowedError(RuntimeError):
    """robots.txt forbids the page the caller asked for."""


@dataclass
class _Robots:
    """robots.txt rules for one site, or none (then everything is allowed)."""

    parser: urllib.robotparser.RobotFileParser | None
    agent: str

    def allowed(self, url: str) -> bool:
        return self.parser is None or self.parser.can_fetch(self.agent, url)

    @property
    def crawl_delay(self) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(self.agent)
        return float(delay) if delay is not None else None


@dataclass
class _CrawlDelay:
    """The caller's throttle, then at least ``delay`` seconds between request starts."""

    throttle: Throttle
    delay: float
    sleep: Sleep
    clock: Clock = time.monotonic
    _last: float | None = field(default=None, repr=False)

    def __call__(self) -> None:
        self.throttle()
        now = self.clock()
        if self._last is not None:
            wait = self._last + self.delay - now
            if wait > 0:
                self.sleep(wait)
                now = self.clock()
        self._last = now


def _paced(throttle: Throttle, rules: _Robots, sleep: Sleep) -> Throttle:
    """The throttle plus robots.txt's Crawl-delay, counted from the robots.txt request."""
    delay = rules.crawl_delay
    if not delay:
        return throttle
    if delay > LONG_CRAWL_DELAY:
        log.warning("robots.txt asks for a Crawl-delay of %.0fs; honoured", delay)
    return _CrawlDelay(throttle, delay, sleep, _last=time.monotonic())


def _site_url(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def _agent(session: requests.Session) -> str:
    """The robots.txt product token: the User-Agent up to the first ``/``."""
    agent = str(session.headers.get("User-Agent", "*"))
    return agent.split("/", 1)[0].strip() or "*"


def _load_robots(
    session: requests.Session, base_url: str, *, throttle: Throttle, sleep: Sleep,
) -> tuple[FetchedResponse, _Robots]:
    url = urljoin(base_url, ROBOTS_PATH)
    response = fetch(session, url, kind="robots", throttle=throttle,
                     ok_statuses=ROBOTS_OK_STATUSES, sleep=sleep)
    agent = _agent(session)
    if response.status != 200:
        log.info("robots.txt at %s answered %d: no rules", response.url, response.status)
        return response, _Robots(None, agent)
    parser = urllib.robotparser.RobotFileParser(url)
    parser.parse(response.body.decode("utf-8", errors="replace").splitlines())
    parser.modified()  # can_fetch() refuses everything until the rules are marked as read
    return response, _Robots(parser, agent)


@dataclass
class _Crawl:
    """State of one crawl: what was seen, how many issues were fetched."""

    session: requests.Session
    throttle: Throttle
    sleep: Sleep
    robots: _Robots
    known_urls: frozenset[str]
    max_issues: int | None
    seen_pages: set[tuple[str, ...]] = field(default_factory=set)
    seen_articles: set[str] = field(default_factory=set)
    issues: set[object] = field(default_factory=set)

    def want_more_issues(self) -> bool:
        return self.max_issues is None or len(self.issues) < self.max_issues

    def get(self, url: str, *, kind: str, ok: frozenset[int]) -> FetchedResponse:
        return fetch(self.session, url, kind=kind, throttle=self.throttle,
                     ok_statuses=ok, sleep=self.sleep)

    def articles(self, page: FetchedResponse) -> Iterator[FetchedResponse]:
        links = parse_article_links(page.body, page.url, content_type=page.content_type)
        if not links:
            log.warning("no article links on %s", page.url)
        for url in links:
            if url in self.seen_articles:
                continue
            self.seen_articles.add(url)
            if url in self.known_urls:
                log.debug("skipping known article %s", url)
                continue
            if not self.robots.allowed(url):
                log.info("robots.txt disallows %s; skipped", url)
                continue
            response = self.get(url, kind="article", ok=ARTICLE_OK_STATUSES)
            if response.status == 404:
                log.warning("article %s answered 404; yielded for quarantine", url)
            yield response

    def count_issue(self, page: FetchedResponse) -> bool:
        """Record the issue a page shows; False when it was already crawled."""
        shown = parse_current_issue(page.body, content_type=page.content_type)
        identity: object = shown if shown is not None else ("url", page.url)
        if identity in self.issues:
            log.info("%s shows issue %s again; its articles are already queued", page.url,
                     shown)
            return False
        self.issues.add(identity)
        return True


def _page_key(url: str) -> tuple[str, ...]:
    info = link_info(url)
    return info.key if info is not None else ("url", url)


def iter_magtech(
    session: requests.Session,
    *,
    base_url: str,
    issn: str,
    throttle: Throttle = no_throttle,
    issue_urls: list[str] | None = None,
    max_issues: int | None = None,
    known_urls: frozenset[str] = frozenset(),
    robots: bool = True,
    sleep: Sleep = time.sleep,
) -> Iterator[FetchedResponse]:
    """Crawl a Magtech journal site and yield every response.

    Args:
        session: The HTTP session (its User-Agent names us to robots.txt).
        base_url: Site root, e.g. ``http://zhyxjy.magtechjournal.com`` (may carry a path
            prefix such as ``https://journal06.magtechjournal.com/Jwk3_yyyzlt``).
        issn: The journal's ISSN as it appears in its URLs (``1673-677X``).
        throttle: Called before every request (a shared rate limit).
        issue_urls: Crawl exactly these issue pages (backfill); no discovery of other issues.
        max_issues: At most this many distinct issues (the current one included);
            None for all issues reachable from the past-issue list. 1 = the current issue.
        known_urls: Canonical article URLs already loaded: not fetched again.
        robots: Fetch and honour robots.txt (disallow rules and Crawl-delay).
        sleep: Used for retry waits and the crawl delay (injected in tests).

    Yields:
        Responses in crawl order: robots.txt, a listing page, its articles, the next
        listing page...

    Raises:
        sources.http.FetchError: A listing page or robots.txt failed after retries (an
            article 404 does not raise).
    """
    rules = _Robots(None, _agent(session))
    if robots:
        response, rules = _load_robots(session, base_url, throttle=throttle, sleep=sleep)
        yield response
    throttle = _paced(throttle, rules, sleep)
    crawl = _Crawl(session=session, throttle=throttle, sleep=sleep, robots=rules,
                   known_urls=known_urls, max_issues=max_issues)
    if issue_urls is not None:
        for url in issue_urls:
            if not crawl.robots.allowed(url):
                log.info("robots.txt disallows %s; skipped", url)
                continue
            page = crawl.get(url, kind="listing", ok=LISTING_OK_STATUSES)
            yield page
            yield from crawl.articles(page)
        return
    queue: deque[str] = deque()
    start = yield from _fetch_start(crawl, base_url, issn, queue)
    if start is None:
        return
    yield from _visit(crawl, start, queue)
    while queue and crawl.want_more_issues():
        url = queue.popleft()
        if not crawl.robots.allowed(url):
            log.info("robots.txt disallows %s; skipped", url)
            continue
        page = crawl.get(url, kind="listing", ok=LISTING_OK_STATUSES)
        yield page
        yield from _visit(crawl, page, queue)


def _fetch_start(
    crawl: _Crawl, base_url: str, issn: str, queue: deque[str],
) -> Generator[FetchedResponse, None, FetchedResponse | None]:
    """Fetch the current issue: ``/EN/<ISSN>/current.shtml``, else via the Chinese home page.

    The home page is not an issue: its articles are taken, its links queued, and the
    current issue it links to (``/CN/volumn/home.shtml`` and the like) is fetched as the start.

    Returns:
        The current-issue page, or None when nothing answered (or robots.txt forbids it).
    """
    current_url = _site_url(base_url, CURRENT_ISSUE_PATH.format(issn=issn))
    if crawl.robots.allowed(current_url):
        page = crawl.get(current_url, kind="listing", ok=START_OK_STATUSES)
        yield page
        crawl.seen_pages.add(_page_key(current_url))
        if page.status == 200:
            return page
        log.warning("%s answered %d; falling back to the home page", current_url, page.status)
    else:
        log.info("robots.txt disallows %s; trying the home page", current_url)
    home_url = _site_url(base_url, HOME_PATH.format(issn=issn))
    if not crawl.robots.allowed(home_url):
        log.error("robots.txt disallows both start pages of %s; nothing crawled", base_url)
        return None
    home = crawl.get(home_url, kind="listing", ok=LISTING_OK_STATUSES)
    yield home
    crawl.seen_pages.add(_page_key(home_url))
    links = parse_issue_links(home.body, home.url, content_type=home.content_type)
    infos = [i for i in (link_info(u) for u in links) if i is not None and i.kind == "issue"]
    target = next((i for i in infos if i.form == "current"), infos[0] if infos else None)
    if target is None or not crawl.robots.allowed(target.url):
        log.warning("home page %s links no current issue; using it as the issue page", home_url)
        return home
    crawl.seen_pages.add(target.key)
    yield from crawl.articles(home)
    yield from _visit(crawl, home, queue, counts=False)
    page = crawl.get(target.url, kind="listing", ok=LISTING_OK_STATUSES)
    yield page
    return page


def _visit(
    crawl: _Crawl, page: FetchedResponse, queue: deque[str], *, counts: bool = True,
) -> Iterator[FetchedResponse]:
    """Yield a listing page's articles and queue the issue and archive pages it links.

    Args:
        crawl: The crawl state.
        page: A fetched listing page.
        queue: Pages still to fetch (appended to).
        counts: Whether the page is an issue that counts towards ``max_issues`` (false for
            the home page, whose articles the caller takes itself).
    """
    info = link_info(page.url)
    if counts and not (info is not None and info.kind == "archive"):
        crawl.count_issue(page)
        yield from crawl.articles(page)
    for url in parse_issue_links(page.body, page.url, content_type=page.content_type):
        key = _page_key(url)
        if key in crawl.seen_pages:
            continue
        crawl.seen_pages.add(key)
        queue.append(url)


def fetch_current_issue(
    session: requests.Session,
    *,
    base_url: str,
    issn: str,
    throttle: Throttle = no_throttle,
    robots: bool = True,
    sleep: Sleep = time.sleep,
) -> tuple[FetchedResponse, tuple[int, int, int] | None]:
    """Fetch the current-issue page and read the issue it shows (the new-issue signal).

    The RSS feed of a Magtech site can be years stale; this page is not. Falls back to the
    Chinese home page when ``/EN/<ISSN>/current.shtml`` does not answer 200.

    Args:
        session: The HTTP session.
        base_url: Site root.
        issn: The journal's ISSN as used in its URLs.
        throttle: Called before every request.
        robots: Check robots.txt first (one more request).
        sleep: Used for retry waits (injected in tests).

    Returns:
        The page's response and ``(year, volume, issue)``, or None when the page shows none.

    Raises:
        RobotsDisallowedError: robots.txt forbids both pages.
        sources.http.FetchError: The page failed after retries.
    """
    rules = _Robots(None, _agent(session))
    if robots:
        _, rules = _load_robots(session, base_url, throttle=throttle, sleep=sleep)
    throttle = _paced(throttle, rules, sleep)
    candidates = [_site_url(base_url, CURRENT_ISSUE_PATH.format(issn=issn)),
                  _site_url(base_url, HOME_PATH.format(issn=issn))]
    allowed = [u for u in candidates if rules.allowed(u)]
    if not allowed:
        msg = f"robots.txt of {base_url} disallows {' and '.join(candidates)}"
        raise RobotsDisallowedError(msg)
    for url in allowed[:-1]:
        response = fetch(session, url, kind="listing", throttle=throttle, sleep=sleep,
                         ok_statuses=START_OK_STATUSES)
        if response.status == 200:
            return response, parse_current_issue(response.body,
                                                 content_type=response.content_type)
        log.warning("%s answered %d; falling back to the home page", url, response.status)
    response = fetch(session, allowed[-1], kind="listing", throttle=throttle, sleep=sleep,
                     ok_statuses=LISTING_OK_STATUSES)
    return response, parse_current_issue(response.body, content_type=response.content_type)
