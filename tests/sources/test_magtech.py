"""Magtech crawling against the hand-made fixture site served on 127.0.0.1.

The site (tests/fixtures/magtech/routes.json) has an English current issue (2026 Vol. 46
Issue 1, seven articles, one of them a 404), a past-issue list, a past issue in an older
table layout (2025 Vol. 45 Issue 12, three articles), an issue page without articles, and a
Chinese home page leading to a Chinese current-issue page in a third layout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from sources.http import FetchError, build_session
from sources.magtech import RobotsDisallowedError, fetch_current_issue, iter_magtech
from transforms.magtech import parse_magtech

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "magtech"
ROUTES: dict[str, dict[str, object]] = json.loads(
    (FIXTURES / "routes.json").read_text(encoding="utf-8"))
ISSN = "1673-677X"
CURRENT = f"/EN/{ISSN}/current.shtml"
HOME = f"/CN/{ISSN}/home.shtml"
SEED = "/CN/10.3760/cma.j.cn115259-20250317-00283"
CHATGPT = "/CN/10.3760/cma.j.cn115259-20250402-00361"
MISSING = "/CN/10.3760/cma.j.cn115259-20250415-00402"
ISSUE_2026_1 = [
    SEED,
    CHATGPT,
    "/CN/10.3760/cma.j.cn115259-20250228-00197",
    "/CN/10.3760/cma.j.cn115259-20250509-00512",
    "/CN/10.3760/cma.j.cn115259-20250121-00076",
    "/CN/10.3760/cma.j.cn115259-20250305-00244",
    MISSING,
]
ISSUE_2025_12 = [f"/CN/abstract/abstract{n}.shtml" for n in (2318, 2319, 2320)]


def serve_site(server: HTTPServer, *, skip: frozenset[str] = frozenset()) -> None:
    """Register every fixture route (except ``skip``) as a permanent handler."""
    for path, route in ROUTES.items():
        if path in skip:
            continue
        uri, _, query = path.partition("?")
        server.expect_request(uri, query_string=query or None).respond_with_data(
            (FIXTURES / str(route["file"])).read_bytes(),
            status=int(str(route["status"])),
            content_type=str(route["content_type"]),
        )


def crawl(server: HTTPServer, sleeps: list[float] | None = None, **kwargs) -> list:
    sink = sleeps if sleeps is not None else []
    return list(iter_magtech(build_session(), base_url=server.url_for("/").rstrip("/"),
                             issn=ISSN, sleep=sink.append, **kwargs))


def trail(responses: list) -> list[tuple[str, str, int]]:
    """(kind, path, status) of each yielded response."""
    out = []
    for r in responses:
        path = "/" + r.url.split("/", 3)[3]
        out.append((r.kind, path, r.status))
    return out


def requested(server: HTTPServer) -> list[str]:
    return [req.full_path.rstrip("?") for req, _ in server.log]


def test_current_issue_only_yields_robots_listing_and_its_articles(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    responses = crawl(httpserver, max_issues=1)
    assert trail(responses) == [
        ("robots", "/robots.txt", 200),
        ("listing", CURRENT, 200),
        *[("article", p, 404 if p == MISSING else 200) for p in ISSUE_2026_1],
    ]
    # One canonical URL per article: the EN, abstract and page links were never requested.
    assert requested(httpserver) == [
        "/robots.txt", CURRENT, *ISSUE_2026_1]


def test_discovers_all_issues_across_both_listing_layouts(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    responses = crawl(httpserver)
    assert trail(responses) == [
        ("robots", "/robots.txt", 200),
        ("listing", CURRENT, 200),
        *[("article", p, 404 if p == MISSING else 200) for p in ISSUE_2026_1],
        ("listing", "/EN/article/showOldVolumn.do", 200),
        ("listing", "/EN/volumn/volumn_98.shtml", 200),
        *[("article", p, 200) for p in ISSUE_2025_12],
        # volumn_99 is the current issue again (found from the archive): its articles were
        # already fetched, so nothing follows it.
        ("listing", "/EN/volumn/volumn_99.shtml", 200),
        ("listing", "/EN/volumn/volumn_97.shtml", 200),  # an issue without articles
    ]
    assert not any("downloadArticleFile" in p for p in requested(httpserver))
    assert len(requested(httpserver)) == len(set(requested(httpserver)))


def test_max_issues_counts_distinct_issues(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    paths = [p for _, p, _ in trail(crawl(httpserver, max_issues=2))]
    assert paths[-4:] == ["/EN/volumn/volumn_98.shtml", *ISSUE_2025_12]
    assert "/EN/volumn/volumn_97.shtml" not in paths


def test_every_crawled_article_parses_or_is_rejected_with_a_reason(
        httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    records, rejects = 0, []
    for pos, response in enumerate(crawl(httpserver)):
        payload = parse_magtech(response.body, kind=response.kind, url=response.url,
                                raw_ref=f"batch/{pos:05d}.html")
        records += payload.records.height
        rejects += [(response.url.split("/", 3)[3], r.reason) for r in payload.rejects]
    assert records == 8
    assert [path for path, _ in rejects] == [MISSING[1:], ISSUE_2025_12[2][1:]]
    assert all("citation_" in reason for _, reason in rejects)


def test_issue_urls_crawl_exactly_those_issues(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    responses = crawl(httpserver,
                      issue_urls=[httpserver.url_for("/EN/volumn/volumn_98.shtml")])
    assert trail(responses) == [
        ("robots", "/robots.txt", 200),
        ("listing", "/EN/volumn/volumn_98.shtml", 200),
        *[("article", p, 200) for p in ISSUE_2025_12],
    ]


def test_known_urls_are_not_fetched_again(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    known = frozenset({httpserver.url_for(SEED), httpserver.url_for(CHATGPT)})
    crawl(httpserver, max_issues=1, known_urls=known)
    assert SEED not in requested(httpserver)
    assert CHATGPT not in requested(httpserver)
    assert ISSUE_2026_1[2] in requested(httpserver)


def test_robots_rules_for_our_agent_and_crawl_delay_are_honoured(
        httpserver: HTTPServer) -> None:
    robots = (
        "User-agent: aied-trends\n"
        f"Disallow: {CHATGPT}\n"
        "Disallow: /CN/abstract/\n"
        "Crawl-delay: 3\n"
        "\n"
        "User-agent: *\n"
        "Disallow: /\n"
    )
    httpserver.expect_request("/robots.txt").respond_with_data(robots, content_type="text/plain")
    serve_site(httpserver, skip=frozenset({"/robots.txt"}))
    sleeps: list[float] = []
    responses = crawl(httpserver, sleeps, max_issues=2)
    got = requested(httpserver)
    assert CHATGPT not in got
    assert not any(p.startswith("/CN/abstract/") for p in got)
    assert "/EN/volumn/volumn_98.shtml" in got  # listings are still allowed
    assert [p for _, p, _ in trail(responses)] == got
    # A wait before every request after robots.txt.
    assert len(sleeps) == len(got) - 1
    assert all(0 < s <= 3.0 for s in sleeps)


def test_robots_404_means_no_rules(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data("gone", status=404)
    serve_site(httpserver, skip=frozenset({"/robots.txt"}))
    responses = crawl(httpserver, max_issues=1)
    assert trail(responses)[0] == ("robots", "/robots.txt", 404)
    assert len(responses) == 2 + len(ISSUE_2026_1)


def test_robots_false_skips_robots_txt(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    responses = crawl(httpserver, max_issues=1, robots=False)
    assert "/robots.txt" not in requested(httpserver)
    assert trail(responses)[0] == ("listing", CURRENT, 200)


def test_429_then_200_is_retried_after_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(CURRENT).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"})
    serve_site(httpserver)
    sleeps: list[float] = []
    responses = crawl(httpserver, sleeps, max_issues=1)
    listing = responses[1]
    assert (listing.kind, listing.status, listing.attempts) == ("listing", 200, 2)
    assert sleeps == [7.0]
    assert len(responses) == 2 + len(ISSUE_2026_1)


def test_503_on_an_article_is_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(SEED).respond_with_data("maintenance", status=503)
    serve_site(httpserver)
    sleeps: list[float] = []
    responses = crawl(httpserver, sleeps, max_issues=1)
    seed = next(r for r in responses if r.url.endswith(SEED))
    assert (seed.status, seed.attempts) == (200, 2)
    assert sleeps == [1.0]  # no Retry-After: the first backoff step
    assert requested(httpserver).count(SEED) == 2


def test_listing_that_keeps_failing_raises_fetch_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request(CURRENT).respond_with_data("down", status=503)
    serve_site(httpserver, skip=frozenset({CURRENT}))
    sleeps: list[float] = []
    with pytest.raises(FetchError, match="failed after 5 attempts"):
        crawl(httpserver, sleeps, max_issues=1)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_404_article_is_yielded_with_its_status(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    responses = crawl(httpserver, max_issues=1)
    missing = [r for r in responses if r.url.endswith(MISSING)]
    assert [(r.kind, r.status) for r in missing] == [("article", 404)]
    payload = parse_magtech(missing[0].body, kind="article", url=missing[0].url,
                            raw_ref="batch/00008.html")
    assert payload.records.height == 0
    assert payload.rejects[0].raw_ref == "batch/00008.html#0"


def test_falls_back_to_the_chinese_home_page(httpserver: HTTPServer) -> None:
    httpserver.expect_request(CURRENT).respond_with_data("not here", status=404)
    serve_site(httpserver, skip=frozenset({CURRENT}))
    responses = crawl(httpserver, max_issues=1)
    assert trail(responses) == [
        ("robots", "/robots.txt", 200),
        ("listing", CURRENT, 404),
        ("listing", HOME, 200),
        *[("article", p, 200) for p in ISSUE_2026_1[:3]],  # the home page's latest articles
        ("listing", "/CN/volumn/home.shtml", 200),  # the Chinese current issue (third layout)
        *[("article", p, 404 if p == MISSING else 200) for p in ISSUE_2026_1[3:]],
    ]


def test_fetch_current_issue_reads_year_volume_issue(httpserver: HTTPServer) -> None:
    serve_site(httpserver)
    response, shown = fetch_current_issue(
        build_session(), base_url=httpserver.url_for("/").rstrip("/"), issn=ISSN,
        sleep=lambda _s: None)
    assert shown == (2026, 46, 1)
    assert response.url.endswith(CURRENT)
    assert requested(httpserver) == ["/robots.txt", CURRENT]


def test_fetch_current_issue_falls_back_to_home(httpserver: HTTPServer) -> None:
    httpserver.expect_request(CURRENT).respond_with_data("not here", status=404)
    serve_site(httpserver, skip=frozenset({CURRENT}))
    response, shown = fetch_current_issue(
        build_session(), base_url=httpserver.url_for("/").rstrip("/"), issn=ISSN,
        robots=False, sleep=lambda _s: None)
    assert response.url.endswith(HOME)
    assert shown == (2026, 46, 1)


def test_fetch_current_issue_refuses_what_robots_forbids(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/robots.txt").respond_with_data(
        "User-agent: *\nDisallow: /EN/\nDisallow: /CN/\n", content_type="text/plain")
    with pytest.raises(RobotsDisallowedError, match="disallows"):
        fetch_current_issue(build_session(), base_url=httpserver.url_for("/").rstrip("/"),
                            issn=ISSN, sleep=lambda _s: None)
    assert requested(httpserver) == ["/robots.txt"]


def test_site_under_a_path_prefix(httpserver: HTTPServer) -> None:
    """Sites such as journal06.magtechjournal.com/Jwk3_xxx live under a prefix."""
    current = (FIXTURES / "en_volumn_98_2025_v45_i12.html").read_bytes()
    current = current.replace(b'href="/EN/', b'href="/Jwk3_cjme/EN/').replace(
        b'href="/CN/', b'href="/Jwk3_cjme/CN/')
    httpserver.expect_request("/robots.txt").respond_with_data("", status=404)
    httpserver.expect_request(f"/Jwk3_cjme{CURRENT}").respond_with_data(
        current, content_type="text/html; charset=UTF-8")
    for path in ISSUE_2025_12:
        httpserver.expect_request(f"/Jwk3_cjme{path}").respond_with_data(
            (FIXTURES / str(ROUTES[path]["file"])).read_bytes(), content_type="text/html")
    responses = crawl_prefixed(httpserver)
    assert [p for _, p, _ in trail(responses)] == [
        "/robots.txt", f"/Jwk3_cjme{CURRENT}", *[f"/Jwk3_cjme{p}" for p in ISSUE_2025_12]]


def crawl_prefixed(server: HTTPServer) -> list:
    return list(iter_magtech(build_session(), base_url=server.url_for("/Jwk3_cjme"), issn=ISSN,
                             max_issues=1, sleep=lambda _s: None))
