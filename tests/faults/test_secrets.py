"""Secrets (API keys, the contact e-mail) reach the providers and nowhere else.

With ``AIED_OPENALEX_API_KEY``, ``AIED_NCBI_API_KEY`` and ``AIED_CONTACT_EMAIL`` set to
distinctive values, ingests run through the real wiring (settings -> ``build_request`` ->
``open_stream`` -> ``land_stream`` -> ``process_batch``) against the fault server, healthy and
failing (429s, 5xx, timeouts, refused connections, spent budgets, error pages that quote the
request). The values must reach the server, and must never appear in landed manifests,
landed file names, logs captured at DEBUG, raised error messages, or warehouse rows.
"""

from __future__ import annotations

import dataclasses
import logging
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
from sqlalchemy import select

from flows import runtime as rt
from flows.extract import ExtractRequest, land_stream, open_stream
from flows.ingest import build_request  # imports Prefect, which configures logging: at import
from sources.crossref import iter_crossref_works
from sources.http import build_session, no_throttle
from sources.landing import list_batches
from tests.conftest import FIXTURES
from tests.faults.conftest import (
    CROSSREF_PATH,
    MAGTECH_ISSN,
    OPENALEX_PATH,
    crossref_pages,
    openalex_pages,
    process,
    serve_magtech_site,
    serve_pages,
    short_timeout_session,
)
from tests.faults.faultserver import (
    HTML,
    JSON,
    XML,
    FaultServer,
    Reply,
    budget_exhausted,
    error,
    hang,
    ok,
    too_many_requests,
)
from warehouse import schema as s
from warehouse.db import create_warehouse_engine

OPENALEX_KEY = "oaKEY-7f3a9c51-faultsuite"
NCBI_KEY = "ncbiKEY-41d2e8b0-faultsuite"
CONTACT = "contact.faultsuite.5k2@example.net"
SECRETS = (OPENALEX_KEY, NCBI_KEY, CONTACT)

PUBMED = FIXTURES / "pubmed"
ECHO_HTML = (b"<html><body><h1>400 Bad Request</h1><p>Request: {request}</p>"
             b"<p>Client: {agent}</p></body></html>")
ECHO_JSON = b'{"error": "Invalid query parameters", "message": "could not parse {request}"}'
NCBI_429 = b'{"error":"API rate limit exceeded","api-key":"{request}","count":"11","limit":"10"}'
NCBI_ERROR = (b'<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult><ERROR>Invalid request '
              b"{request}</ERROR></eSearchResult>")


def forms(secret: str) -> set[str]:
    """The value as it may be written: raw, URL-quoted, form-quoted."""
    return {secret, quote(secret, safe=""), quote_plus(secret)}


def leaks_in(text: str) -> list[str]:
    return sorted({f for secret in SECRETS for f in forms(secret) if f in text})


@pytest.fixture
def secret_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """AIED_* settings: a fresh data folder and warehouse, the packaged aied.toml, secrets."""
    from flows.settings import PACKAGED_CONFIG

    data_dir = tmp_path / "data"
    url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    monkeypatch.setenv("AIED_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AIED_WAREHOUSE_URL", url)
    monkeypatch.setenv("AIED_CONFIG", str(PACKAGED_CONFIG))
    monkeypatch.setenv("AIED_OPENALEX_API_KEY", OPENALEX_KEY)
    monkeypatch.setenv("AIED_NCBI_API_KEY", NCBI_KEY)
    monkeypatch.setenv("AIED_CONTACT_EMAIL", CONTACT)
    return {"data_dir": data_dir, "warehouse_url": url}


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Ingests:
    """Runs ingests the way the ingest flow builds them, collecting every raised error."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.errors: list[BaseException] = []

    def request(self, source: str, scope: str, base_url: str, **options: Any) -> ExtractRequest:
        request = build_request(rt.open_runtime(), source, scope, base_url=base_url,
                                since=None, full=True)
        return dataclasses.replace(request, options={**request.options, **options})

    def run(self, request: ExtractRequest, *, stream: Any = None) -> None:
        """Land one ingest (the ingest flow's session and stream unless ``stream`` is given)."""
        session = build_session(contact_email=request.contact_email)
        try:
            land_stream(stream if stream is not None else open_stream(
                request, session, no_throttle), data_dir=self.data_dir, request=request)
        except Exception as exc:  # noqa: BLE001 - every failure is inspected below
            self.errors.append(exc)


def crossref_stream(request: ExtractRequest, session: Any) -> Any:
    """What open_stream builds for Crossref, with retry waits skipped (they back off 15 s)."""
    return iter_crossref_works(session, base_url=str(request.base_url), issn=request.scope,
                               mailto=request.contact_email, throttle=no_throttle,
                               sleep=lambda _s: None)


def error_texts(exc: BaseException) -> str:
    """Everything an operator could see of an error: message, args, chain, traceback."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        parts += traceback.format_exception_only(type(current), current)
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


@pytest.fixture
def ingested(secret_env: dict[str, Any], caplog: pytest.LogCaptureFixture
             ) -> Iterator[tuple[Ingests, FaultServer]]:
    caplog.set_level(logging.DEBUG)
    data_dir = Path(secret_env["data_dir"])
    with FaultServer() as server:
        ingests = Ingests(data_dir)
        _healthy(server, ingests)
        _failing(server, ingests)
        for batch in list_batches(data_dir):
            engine = create_warehouse_engine(secret_env["warehouse_url"])
            try:
                process(batch, data_dir, engine)
            except Exception as exc:  # noqa: BLE001
                ingests.errors.append(exc)
            finally:
                engine.dispose()
        yield ingests, server


def _healthy(server: FaultServer, ingests: Ingests) -> None:
    """OpenAlex, Crossref, PubMed and Magtech ingests that succeed after a fault or two."""
    serve_pages(server, OPENALEX_PATH, openalex_pages(),
                faults={1: [too_many_requests("0", **{"X-RateLimit-Remaining": "99"})]})
    ingests.run(ingests.request("openalex", "faults", server.url, filter="x:y"))

    serve_pages(server, CROSSREF_PATH, crossref_pages(),
                faults={1: [error(503, html=True, retry_after="0")]})
    ingests.run(ingests.request("crossref", "2167-8359", server.url, rows=20))

    server.route("/eutils/esearch.fcgi", [
        Reply(429, NCBI_429, JSON, {"Retry-After": "0"}, echo=True),
        ok((PUBMED / "esearch_pubmed_hart_rk_author_usehistory.xml").read_bytes(), XML)])
    server.route("/eutils/efetch.fcgi",
                 ok((PUBMED / "efetch_pubmed_2articles_season_pubdate_compact.xml").read_bytes(),
                    XML))
    ingests.run(ingests.request("pubmed", "faults", f"{server.url}/eutils"))

    serve_magtech_site(server, faults={
        "/CN/10.3760/cma.j.cn115259-20250415-00402": [Reply(404, ECHO_HTML, HTML, echo=True)]})
    ingests.run(ingests.request("magtech", MAGTECH_ISSN, server.url))


def _failing(server: FaultServer, ingests: Ingests) -> None:
    """Ingests that fail for good, each differently."""
    # A spent OpenAlex budget; then an error body that quotes the request (key and all).
    spent = "/spent"
    server.route(spent + "/works", budget_exhausted("60"))
    ingests.run(ingests.request("openalex", "faults", server.url + spent, filter="x:y"))
    server.route("/quoting/works", Reply(400, ECHO_JSON, JSON, echo=True))
    ingests.run(ingests.request("openalex", "faults", server.url + "/quoting", filter="x:y"))

    # Crossref: 500 for good, a 400 page quoting the request, a hang, a refused connection.
    issn_path = "/journals/0142-159X/works"
    server.route("/down" + issn_path, error(500, html=True, retry_after="0"))
    ingests.run(ingests.request("crossref", "0142-159X", server.url + "/down"))
    server.route("/quote" + issn_path, Reply(400, ECHO_HTML, HTML, echo=True))
    ingests.run(ingests.request("crossref", "0142-159X", server.url + "/quote"))
    server.route("/slow" + issn_path, hang(5))
    slow = ingests.request("crossref", "0142-159X", server.url + "/slow")
    ingests.run(slow, stream=crossref_stream(slow, short_timeout_session(
        contact_email=slow.contact_email)))
    refused = ingests.request("crossref", "0142-159X", closed_port_url())
    ingests.run(refused, stream=crossref_stream(refused, build_session(
        contact_email=refused.contact_email)))

    # PubMed: rate limited for good (NCBI quotes the key), and an ERROR inside a 200.
    server.route("/ncbi-busy/esearch.fcgi", Reply(429, NCBI_429, JSON, {"Retry-After": "0"},
                                                  echo=True))
    ingests.run(ingests.request("pubmed", "faults", f"{server.url}/ncbi-busy"))
    server.route("/ncbi-error/esearch.fcgi", Reply(200, NCBI_ERROR, XML, echo=True))
    ingests.run(ingests.request("pubmed", "faults", f"{server.url}/ncbi-error"))


def test_secrets_reach_the_providers_and_never_the_landing_logs_errors_or_warehouse(
    ingested: tuple[Ingests, FaultServer], secret_env: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingests, server = ingested
    # The providers did get the secrets (otherwise this test could pass by never sending them).
    queries = [r.query for r in server.received]
    assert any(q.get("api_key") == OPENALEX_KEY and q.get("mailto") == CONTACT for q in queries)
    assert any(q.get("api_key") == NCBI_KEY and q.get("email") == CONTACT for q in queries)
    assert any(q.get("mailto") == CONTACT and "rows" in q for q in queries)
    assert all(CONTACT in r.headers.get("User-Agent", "") for r in server.received)
    # Eight ingests fail for good; the spent budget does not raise: it lands what came before
    # it (nothing here) as a complete batch and pauses the source, so seven errors.
    assert len(ingests.errors) == 7, [error_texts(e)[:200] for e in ingests.errors]
    landed = {p.parts[-3] for p in list_batches(ingests.data_dir)}
    assert landed == {"openalex", "crossref", "pubmed", "magtech"}

    data_dir = Path(secret_env["data_dir"])
    leaks: dict[str, list[str]] = {}

    def check(sink: str, text: str) -> None:
        found = leaks_in(text)
        if found:
            leaks.setdefault(sink, []).append(f"{found} in {text[:300]!r}")

    for manifest in data_dir.rglob("manifest.json"):
        check(f"manifest {manifest.relative_to(data_dir)}", manifest.read_text(encoding="utf-8"))
    for path in data_dir.rglob("*"):
        check("landed file name", str(path.relative_to(data_dir)))
    records = caplog.get_records("setup") + caplog.get_records("call")  # ingests ran in setup
    assert len(records) > 50, "the ingests were logged"
    for record in records:
        check(f"log {record.name}:{record.levelname}", record.getMessage())
        if record.exc_info:
            check(f"log traceback {record.name}", "".join(
                traceback.format_exception(*record.exc_info)))
    for exc in ingests.errors:
        check(f"error {type(exc).__name__}", error_texts(exc))
    engine = create_warehouse_engine(secret_env["warehouse_url"])
    try:
        with engine.connect() as conn:
            for name, table in s.metadata.tables.items():
                for row in conn.execute(select(table)):
                    check(f"warehouse {name}", " | ".join(map(str, row)))
    finally:
        engine.dispose()

    assert leaks == {}, "secrets leaked:\n" + "\n".join(
        f"- {sink}: {items[0]} (+{len(items) - 1} more)" for sink, items in leaks.items())
