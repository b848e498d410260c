"""OAI-PMH harvesting against real recorded responses served on 127.0.0.1."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
from pytest_httpserver import HTTPServer

from sources.http import build_session
from sources.oai import (
    NotOaiResponseError,
    OaiHarvestError,
    OaiProtocolError,
    iter_oai_records,
)
from transforms.oai import parse_oai

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oaipmh"
XML = "text/xml; charset=utf-8"
PAGE1 = (FIXTURES / "zenodo_ListRecords_oai_dc_page1_resumptionToken.xml").read_bytes()
PAGE2 = (FIXTURES / "zenodo_ListRecords_oai_dc_resumptionToken_page2_cursor50_deleted.xml"
         ).read_bytes()
TOKEN1 = re.search(rb"<resumptionToken[^>]*>([^<]+)</resumptionToken>", PAGE1).group(1).decode()
# The recorded page 2 carries a token for page 3; end the list there the way the spec asks:
# with an empty resumptionToken element (page 1 shows the non-empty form).
PAGE2_LAST = re.sub(rb"(<resumptionToken[^>]*>)[^<]+(</resumptionToken>)", rb"\1\2", PAGE2)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class CountingThrottle:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def received_queries(server: HTTPServer) -> list[list[tuple[str, str]]]:
    return [parse_qsl(req.query_string.decode(), keep_blank_values=True)
            for req, _ in server.log]


def harvest(server: HTTPServer, **kwargs) -> list:
    kwargs.setdefault("throttle", CountingThrottle())
    kwargs.setdefault("sleep", lambda _s: None)
    return list(iter_oai_records(build_session(), base_url=server.url_for("/oai"), **kwargs))


def test_follows_resumption_token_sending_only_verb_and_token(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/oai").respond_with_data(PAGE1, content_type=XML)
    httpserver.expect_ordered_request("/oai").respond_with_data(PAGE2_LAST, content_type=XML)
    throttle = CountingThrottle()

    pages = harvest(httpserver, throttle=throttle, set_spec="software")

    httpserver.check_assertions()
    assert [p.body for p in pages] == [PAGE1, PAGE2_LAST]
    assert {p.kind for p in pages} == {"oai"}
    first, second = received_queries(httpserver)
    assert dict(first) == {"verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "software"}
    # After the first page: ONLY verb and resumptionToken, the token unchanged.
    assert second == [("verb", "ListRecords"), ("resumptionToken", TOKEN1)]
    assert throttle.calls == 2


def test_harvested_pages_parse_with_deleted_records_marked(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/oai").respond_with_data(PAGE1, content_type=XML)
    httpserver.expect_ordered_request("/oai").respond_with_data(PAGE2_LAST, content_type=XML)

    pages = harvest(httpserver)
    frames = [parse_oai(p.body, kind=p.kind, url=p.url, raw_ref=f"b/{i:05d}.xml").records
              for i, p in enumerate(pages)]

    assert [f.height for f in frames] == [3, 3]
    deleted = frames[1].filter("is_deleted")
    assert deleted["source_id"].to_list() == ["oai:zenodo.org:8433364"]
    assert frames[0]["is_deleted"].to_list() == [False, False, False]


def test_single_page_without_token_makes_one_request(httpserver: HTTPServer) -> None:
    body = fixture("dspace_eur_2004_ListRecords_oai_dc_81_records_compact.xml")
    httpserver.expect_request("/oai").respond_with_data(body, content_type=XML)

    pages = harvest(httpserver)

    assert len(pages) == 1
    assert len(httpserver.log) == 1


def test_from_until_and_set_sent_on_first_request(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_data(PAGE2_LAST, content_type=XML)

    harvest(httpserver, metadata_prefix="oai_dc", set_spec="user-aied",
            from_date=date(2024, 1, 1), until_date=date(2024, 12, 31))

    (query,) = received_queries(httpserver)
    assert dict(query) == {
        "verb": "ListRecords", "metadataPrefix": "oai_dc", "set": "user-aied",
        "from": "2024-01-01", "until": "2024-12-31",
    }


def test_datetimes_are_sent_with_day_granularity(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_data(PAGE2_LAST, content_type=XML)

    harvest(httpserver, from_date=datetime(2024, 1, 1, 23, 59), until_date=date(2024, 2, 1))

    (query,) = received_queries(httpserver)
    assert (dict(query)["from"], dict(query)["until"]) == ("2024-01-01", "2024-02-01")


def test_from_after_until_is_refused_before_any_request(httpserver: HTTPServer) -> None:
    with pytest.raises(ValueError, match="after until_date"):
        harvest(httpserver, from_date=date(2025, 1, 2), until_date=date(2025, 1, 1))
    assert httpserver.log == []


def test_no_records_match_422_yields_the_body_and_no_records(httpserver: HTTPServer) -> None:
    body = fixture("zenodo_error_422_noRecordsMatch.xml")
    httpserver.expect_request("/oai").respond_with_data(body, status=422, content_type=XML)

    pages = harvest(httpserver, from_date=date(2030, 1, 1))

    assert [(p.status, p.body) for p in pages] == [(422, body)]
    parsed = parse_oai(pages[0].body, kind="oai", url=pages[0].url, raw_ref="b/00000.xml")
    assert parsed.records.height == 0
    assert parsed.rejects == []


def test_bad_resumption_token_raises_named_error(httpserver: HTTPServer) -> None:
    bad = fixture("zenodo_error_422_badResumptionToken.xml")
    httpserver.expect_ordered_request("/oai").respond_with_data(PAGE1, content_type=XML)
    httpserver.expect_ordered_request("/oai").respond_with_data(bad, status=422,
                                                                content_type=XML)
    pages = iter_oai_records(build_session(), base_url=httpserver.url_for("/oai"),
                             throttle=CountingThrottle(), sleep=lambda _s: None)

    assert next(pages).body == PAGE1  # the good page is handed over before the failure
    with pytest.raises(OaiProtocolError) as info:
        next(pages)

    assert info.value.code == "badResumptionToken"
    assert "invalid or expired" in info.value.error_message
    assert "badResumptionToken" in str(info.value)
    assert info.value.body == bad


def test_bad_argument_on_first_request_raises(httpserver: HTTPServer) -> None:
    body = fixture("zenodo_error_422_badArgument_metadataPrefix.xml")
    httpserver.expect_request("/oai").respond_with_data(body, status=422, content_type=XML)

    with pytest.raises(OaiProtocolError, match="badArgument.*metadataPrefix does not exist"):
        harvest(httpserver, metadata_prefix="XXX")


def test_error_with_http_200_is_still_an_error(httpserver: HTTPServer) -> None:
    body = fixture("zenodo_error_422_badResumptionToken.xml")
    httpserver.expect_request("/oai").respond_with_data(body, status=200, content_type=XML)

    with pytest.raises(OaiProtocolError) as info:
        harvest(httpserver)
    assert info.value.code == "badResumptionToken"


def test_html_answer_is_a_clear_error(httpserver: HTTPServer) -> None:
    body = fixture("not_oai_html_response_to_Identify.html")
    httpserver.expect_request("/oai").respond_with_data(body, content_type="text/html")

    with pytest.raises(NotOaiResponseError) as info:
        harvest(httpserver)

    message = str(info.value)
    assert "did not answer OAI-PMH" in message
    assert "text/html" in message
    assert "looks like HTML" in message


def test_other_xml_is_not_oai(httpserver: HTTPServer) -> None:
    body = b"<?xml version='1.0'?><feed xmlns='http://www.w3.org/2005/Atom'/>"
    httpserver.expect_request("/oai").respond_with_data(body, content_type=XML)

    with pytest.raises(NotOaiResponseError, match="root element"):
        harvest(httpserver)


def test_422_without_oai_error_element_raises(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_data(PAGE2_LAST, status=422,
                                                        content_type=XML)
    with pytest.raises(OaiHarvestError, match="HTTP 422 without an OAI error"):
        harvest(httpserver)


def test_503_retry_after_then_success(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/oai").respond_with_data(
        "busy", status=503, headers={"Retry-After": "7"})
    httpserver.expect_ordered_request("/oai").respond_with_data(PAGE2_LAST, content_type=XML)
    waits: list[float] = []
    throttle = CountingThrottle()

    pages = harvest(httpserver, sleep=waits.append, throttle=throttle)

    httpserver.check_assertions()
    assert waits == [7.0]
    assert [p.body for p in pages] == [PAGE2_LAST]
    assert pages[0].attempts == 2
    assert throttle.calls == 2
    # The retry repeats the same first request.
    assert received_queries(httpserver)[0] == received_queries(httpserver)[1]


def test_repeated_token_stops_instead_of_looping(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/oai").respond_with_data(PAGE1, content_type=XML)

    with pytest.raises(OaiProtocolError, match="repeated resumptionToken"):
        harvest(httpserver)
    assert len(httpserver.log) == 2
