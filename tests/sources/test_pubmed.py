"""iter_pubmed against real recorded E-utilities bodies served over HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from sources.http import FetchError, build_session, no_throttle
from sources.landing import BatchWriter, read_manifest
from sources.pubmed import (
    DEFAULT_QUERY,
    MAX_IDS_PER_QUERY,
    PubMedError,
    default_rate,
    iter_pubmed,
)
from transforms.pubmed import parse_pubmed

FIXTURES = Path(__file__).parents[1] / "fixtures" / "pubmed"
HART = (FIXTURES / "esearch_pubmed_hart_rk_author_usehistory.xml").read_bytes()  # Count 34
BIG = (FIXTURES / "esearch_pubmed_usehistory_webenv_querykey.xml").read_bytes()  # Count 42249
NONE_FOUND = (FIXTURES / "esearch_protein_no_results_phrasenotfound_errorlist.xml").read_bytes()
TWO = (FIXTURES / "efetch_pubmed_2articles_season_pubdate_compact.xml").read_bytes()
ACAD = (FIXTURES / "efetch_pubmed_31789841_acad_med_medical_education.xml").read_bytes()
API_KEY = "k3y-SECRET-0123456789abcdef"
EMAIL = "pubmed-contact@example.org"
XML = "text/xml; charset=UTF-8"


class Calls(list):
    """(endpoint, args) of every request the fake E-utilities received, in order."""

    def of(self, endpoint: str) -> list[dict[str, str]]:
        return [args for name, args in self if name == endpoint]


def _serve(httpserver: HTTPServer, *, esearch: Callable[[dict[str, str]], bytes],
           efetch: Callable[[dict[str, str]], bytes] = lambda _args: TWO) -> Calls:
    calls = Calls()

    def handler(endpoint: str, answer: Callable[[dict[str, str]], bytes]):
        def respond(request: Request) -> Response:
            args = request.args.to_dict()
            calls.append((endpoint, args))
            return Response(answer(args), content_type=XML)
        return respond

    httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_handler(
        handler("esearch", esearch))
    httpserver.expect_request("/entrez/eutils/efetch.fcgi").respond_with_handler(
        handler("efetch", efetch))
    return calls


def _run(httpserver: HTTPServer, **kwargs):
    params = {"mindate": date(2024, 1, 1), "maxdate": date(2024, 1, 31),
              "throttle": no_throttle, "sleep": lambda _s: None, **kwargs}
    return list(iter_pubmed(build_session(), base_url=httpserver.url_for("/entrez/eutils"),
                            **params))


def test_esearch_with_history_then_efetch_pages(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, esearch=lambda _a: HART,
                   efetch=lambda a: {"0": TWO, "20": ACAD}[a["retstart"]])
    responses = _run(httpserver, batch_size=20)

    assert [r.kind for r in responses] == ["esearch", "efetch", "efetch"]
    assert [r.body for r in responses] == [HART, TWO, ACAD]
    [search] = calls.of("esearch")
    assert search == {
        "db": "pubmed", "term": DEFAULT_QUERY, "usehistory": "y", "retmax": "0",
        "retmode": "xml", "datetype": "mdat", "mindate": "2024/01/01",
        "maxdate": "2024/01/31", "tool": "aied-trends"}
    pages = [(a["WebEnv"], a["query_key"], a["retstart"], a["retmax"], a["db"], a["retmode"])
             for a in calls.of("efetch")]
    assert pages == [("MCID_6934533c4c5abba8c303da1d", "1", "0", "20", "pubmed", "xml"),
                     ("MCID_6934533c4c5abba8c303da1d", "1", "20", "14", "pubmed", "xml")]
    # What was fetched parses: 2 + 1 PubmedArticles.
    parsed = [parse_pubmed(r.body, kind=r.kind, url=r.url, raw_ref=f"b/{i}.xml")
              for i, r in enumerate(responses)]
    assert [p.records.height for p in parsed] == [0, 2, 1]


def test_window_over_the_id_limit_is_split_in_halves_recursively(httpserver: HTTPServer) -> None:
    def esearch(args: dict[str, str]) -> bytes:
        days = int(args["maxdate"][-2:]) - int(args["mindate"][-2:]) + 1
        return BIG if days > 2 else HART

    calls = _serve(httpserver, esearch=esearch)
    responses = _run(httpserver, mindate=date(2024, 1, 1), maxdate=date(2024, 1, 8))

    windows = [(a["mindate"], a["maxdate"]) for a in calls.of("esearch")]
    assert windows == [
        ("2024/01/01", "2024/01/08"), ("2024/01/01", "2024/01/04"),
        ("2024/01/01", "2024/01/02"), ("2024/01/03", "2024/01/04"),
        ("2024/01/05", "2024/01/08"), ("2024/01/05", "2024/01/06"),
        ("2024/01/07", "2024/01/08")]
    # Every esearch body lands; each window that fits is fetched right after its search.
    assert [r.kind for r in responses] == [
        "esearch", "esearch", "esearch", "efetch", "esearch", "efetch",
        "esearch", "esearch", "efetch", "esearch", "efetch"]
    assert all(a["retmax"] == "34" for a in calls.of("efetch"))


def test_one_day_over_the_limit_fetches_the_first_10000_with_a_warning(
        httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    calls = _serve(httpserver, esearch=lambda _a: BIG)
    with caplog.at_level(logging.WARNING, logger="sources.pubmed"):
        responses = _run(httpserver, mindate=date(2025, 11, 26), maxdate=date(2025, 11, 26),
                         batch_size=4000)
    assert [(a["retstart"], a["retmax"]) for a in calls.of("efetch")] == [
        ("0", "4000"), ("4000", "4000"), ("8000", "2000")]
    assert sum(int(a["retmax"]) for a in calls.of("efetch")) == MAX_IDS_PER_QUERY
    assert len(responses) == 4
    assert "42249 records, over the 10000-id limit" in caplog.text


def test_phrase_not_found_is_no_records_not_an_error(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, esearch=lambda _a: NONE_FOUND)
    responses = _run(httpserver, query="abcXYZ")
    assert [r.kind for r in responses] == ["esearch"]
    assert calls.of("efetch") == []
    assert calls.of("esearch")[0]["term"] == "abcXYZ"


def test_secrets_are_sent_but_never_shown(httpserver: HTTPServer) -> None:
    calls = _serve(httpserver, esearch=lambda _a: HART)
    responses = _run(httpserver, api_key=API_KEY, email=EMAIL, tool="aied-test")
    for _name, args in calls:
        assert (args["api_key"], args["email"], args["tool"]) == (API_KEY, EMAIL, "aied-test")
    for response in responses:
        assert API_KEY not in response.url and EMAIL not in response.url
        assert "tool=aied-test" in response.url


def test_secrets_never_reach_the_landing_zone(httpserver: HTTPServer, tmp_path: Path) -> None:
    _serve(httpserver, esearch=lambda _a: HART)
    with BatchWriter(tmp_path, "pubmed", params={"api_key": API_KEY, "query": "q"}) as batch:
        for response in _run(httpserver, api_key=API_KEY, email=EMAIL):
            batch.add(response)
    landed = {p.name: p.read_bytes() for p in batch.path.iterdir()}
    assert sorted(landed) == ["00000.xml", "00001.xml", "manifest.json"]
    assert landed["00001.xml"] == TWO
    for content in landed.values():
        assert API_KEY.encode() not in content and EMAIL.encode() not in content
    assert [f.kind for f in read_manifest(batch.path).files] == ["esearch", "efetch"]


def test_secrets_do_not_leak_into_http_errors(httpserver: HTTPServer) -> None:
    # A synthetic 400 body that echoes the key and the address back, as some servers do.
    echo = f"<ERROR>API key {API_KEY} invalid for {EMAIL}</ERROR>".encode()
    httpserver.expect_request("/entrez/eutils/esearch.fcgi").respond_with_response(
        Response(echo, status=400, content_type=XML))
    with pytest.raises(FetchError) as caught:
        _run(httpserver, api_key=API_KEY, email=EMAIL)
    assert caught.value.status == 400
    message = str(caught.value)
    assert "HTTP 400" in message
    assert API_KEY not in message and EMAIL not in message


def test_secrets_do_not_leak_into_esearch_error_messages(httpserver: HTTPServer) -> None:
    # Synthetic: a 200 esearch whose <ERROR> echoes the key.
    body = f"<eSearchResult><ERROR>bad api_key={API_KEY}</ERROR></eSearchResult>".encode()
    calls = _serve(httpserver, esearch=lambda _a: body)
    with pytest.raises(PubMedError, match="failed: bad api_key=") as caught:
        _run(httpserver, api_key=API_KEY)
    assert API_KEY not in str(caught.value)
    assert calls.of("efetch") == []


def test_expired_history_in_efetch_fails_loudly(httpserver: HTTPServer) -> None:
    # Synthetic: what efetch answers (HTTP 200) when the WebEnv has expired.
    expired = b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"
    _serve(httpserver, esearch=lambda _a: HART, efetch=lambda _a: expired)
    with pytest.raises(PubMedError, match="efetch .* failed: Unable to obtain query #1"):
        _run(httpserver)


def test_unreadable_esearch_is_a_pubmed_error(httpserver: HTTPServer) -> None:
    _serve(httpserver, esearch=lambda _a: HART[:300])
    with pytest.raises(PubMedError, match="unreadable esearch response"):
        _run(httpserver)


def test_rate_limited_esearch_is_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/entrez/eutils/esearch.fcgi").respond_with_response(
        Response(b"", status=429, headers={"Retry-After": "2"}))
    calls = _serve(httpserver, esearch=lambda _a: HART)
    waits: list[float] = []
    throttled: list[int] = []
    responses = list(iter_pubmed(
        build_session(), base_url=httpserver.url_for("/entrez/eutils"),
        mindate=date(2024, 1, 1), maxdate=date(2024, 1, 1),
        throttle=lambda: throttled.append(1), sleep=waits.append))
    assert waits == [2.0]
    assert [r.kind for r in responses] == ["esearch", "efetch"]
    assert responses[0].attempts == 2
    assert len(throttled) == 3 == len(calls) + 1  # the throttle runs before every request


def test_default_rate_follows_the_api_key() -> None:
    assert default_rate(None) == 3.0
    assert default_rate("") == 3.0
    assert default_rate(API_KEY) == 10.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mindate": date(2024, 2, 1), "maxdate": date(2024, 1, 1)}, "before mindate"),
        ({"datetype": "udat"}, "known: crdt, edat, mdat, pdat"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 10_001}, "batch_size"),
    ],
)
def test_bad_arguments_fail_before_any_request(httpserver: HTTPServer, kwargs: dict,
                                               message: str) -> None:
    calls = _serve(httpserver, esearch=lambda _a: HART)
    with pytest.raises(ValueError, match=message):
        _run(httpserver, **kwargs)
    assert calls == []
