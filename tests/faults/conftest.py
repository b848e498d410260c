"""Fixtures and helpers for the fault-injection suite.

The good pages are real recorded bodies (``tests/fixtures/crossref`` and
``tests/fixtures/openalex``). Three Crossref pages are chained into one harvest by setting
``message.next-cursor`` on the recorded bodies (the only change: the recordings come from
unrelated requests, so their cursors do not chain); the OpenAlex pages chain with their own
recorded cursors. Faults are served by :class:`tests.faults.faultserver.FaultServer`.

A run is compared with a clean run by :func:`contents`: every warehouse table except the
run bookkeeping (``etl_runs``, ``source_state``), without timestamps, run ids, batch ids
and landing references (they differ between two landings of the same data by design).
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests
from sqlalchemy import Engine, select

from flows.extract import ExtractRequest, LandedBatch, land_stream
from flows.steps import ProcessOutcome, process_batch
from sources.crossref import iter_crossref_works
from sources.http import build_session, no_throttle
from sources.landing import read_manifest
from sources.openalex import iter_openalex_works
from tests.conftest import FIXTURES
from tests.faults.faultserver import FaultServer, Reply, ok
from tests.warehouse.conftest import warehouse_engine, warehouse_url  # noqa: F401
from warehouse import schema as s
from warehouse.db import create_warehouse_engine, upgrade_warehouse
from warehouse.load import RunInfo

CROSSREF = FIXTURES / "crossref"
OPENALEX = FIXTURES / "openalex"
MAGTECH = FIXTURES / "magtech"
MAGTECH_ISSN = "1673-677X"

CROSSREF_ISSN = "2167-8359"
CROSSREF_PATH = f"/journals/{CROSSREF_ISSN}/works"
CROSSREF_ROWS = 20
#: Three recorded work-list pages of 20 works each (60 works, 43 with an abstract).
CROSSREF_PAGE_FILES = (
    "journals_2167-8359_works_filter_journal-article_query_fish.json",
    "works_list_publisher_UFSM_portuguese_jats.json",
    "journals_1803-2427_works.json",
)

OPENALEX_PATH = "/works"
OPENALEX_FILTER = "primary_location.source.issn:0000-0000"
#: cursor=* -> 2 works -> 38 works -> the recorded empty last page (40 works).
OPENALEX_PAGE_FILES = (
    "works_list_filter_openalex_ids_cursor_page1.json",
    "works_list_filter_cited_by_per_page200_38_results.json",
    "works_list_cursor_last_page_empty_results.json",
)

#: Columns that differ between two runs of the same data by design.
VOLATILE = frozenset({
    "first_seen_at", "updated_at", "classified_at", "created_at", "computed_at",
    "refreshed_at", "matched_at", "run_id", "batch_id", "raw_ref", "quarantine_id",
})
#: Hashes of columns compared one by one anyway, with the test server's URL (port) in them.
VOLATILE_IN = frozenset({("publications", "content_hash"), ("source_records", "content_hash")})
BOOKKEEPING = frozenset({"etl_runs", "source_state"})


# ------------------------------------------------------------------------- pages


def crossref_page(name: str, next_cursor: str | None) -> bytes:
    """A recorded Crossref page with its ``next-cursor`` set (None: the last page)."""
    envelope = json.loads((CROSSREF / name).read_bytes())
    envelope["message"].pop("next-cursor", None)
    if next_cursor is not None:
        envelope["message"]["next-cursor"] = next_cursor
    return json.dumps(envelope, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True)
class Pages:
    """Page bodies of one harvest and the cursor that asks for each."""

    bodies: tuple[bytes, ...]
    cursors: tuple[str, ...]

    def dois(self) -> set[str]:
        return {item["DOI"].lower() for body in self.bodies
                for item in json.loads(body)["message"]["items"]}


def crossref_pages(files: Sequence[str] = CROSSREF_PAGE_FILES, *, prefix: str = "c") -> Pages:
    """Chain recorded pages: ``*`` -> ``<prefix>1`` -> ``<prefix>2`` ..."""
    cursors = ("*", *(f"{prefix}{i}" for i in range(1, len(files))))
    bodies = tuple(crossref_page(name, cursors[i + 1] if i + 1 < len(files) else None)
                   for i, name in enumerate(files))
    return Pages(bodies=bodies, cursors=cursors)


def openalex_pages() -> Pages:
    bodies = tuple((OPENALEX / name).read_bytes() for name in OPENALEX_PAGE_FILES)
    cursors = ["*"] + [json.loads(b)["meta"]["next_cursor"] for b in bodies[:-1]]
    return Pages(bodies=bodies, cursors=tuple(cursors))


def serve_pages(server: FaultServer, path: str, pages: Pages, *,
                faults: dict[int, Sequence[Reply]] | None = None,
                query: dict[str, str] | None = None, then: Reply | None = None) -> None:
    """Route each page by its cursor; ``faults[i]`` are answered before page ``i``.

    ``then`` replaces the good page after the faults (e.g. a fault that never heals).
    """
    faults = faults or {}
    for i, (body, cursor) in enumerate(zip(pages.bodies, pages.cursors, strict=True)):
        script = [*faults.get(i, ()), then if then is not None and i in faults else ok(body)]
        server.route(path, script, query={**(query or {}), "cursor": cursor})


def serve_magtech_site(server: FaultServer, *,
                       faults: dict[str, Sequence[Reply]] | None = None) -> None:
    """The hand-made Magtech site of ``tests/fixtures/magtech/routes.json``.

    ``faults[path]`` are answered before the page's recorded answer.
    """
    faults = faults or {}
    routes = json.loads((MAGTECH / "routes.json").read_text(encoding="utf-8"))
    for key, spec in routes.items():
        if key == "mount":
            continue
        path, _, query = key.partition("?")
        answer = Reply(int(spec.get("status", 200)), (MAGTECH / spec["file"]).read_bytes(),
                       spec.get("content_type", "text/html; charset=utf-8"))
        server.route(path, [*faults.get(path, ()), answer],
                     query=dict(parse_qsl(query)) if query else None)


def harvest_magtech(server: FaultServer, data_dir: Path, *,
                    sleeps: list[float] | None = None,
                    session: requests.Session | None = None) -> LandedBatch:
    """Land a crawl of the fault server's Magtech site (current issue and the one before)."""
    from sources.magtech import iter_magtech

    request = ExtractRequest(source="magtech", scope=MAGTECH_ISSN, base_url=server.url)
    record: Callable[[float], None] = sleeps.append if sleeps is not None else (lambda _s: None)
    stream = iter_magtech(session or build_session(), base_url=server.url, issn=MAGTECH_ISSN,
                          throttle=no_throttle, max_issues=2, sleep=record)
    return land_stream(stream, data_dir=data_dir, request=request)


# ---------------------------------------------------------------------- harvests


def crossref_request(server: FaultServer, *, since: date | None = None,
                     contact_email: str | None = None) -> ExtractRequest:
    return ExtractRequest(source="crossref", scope=CROSSREF_ISSN, base_url=server.url,
                          since=since, options={"rows": CROSSREF_ROWS},
                          contact_email=contact_email)


def harvest_crossref(server: FaultServer, data_dir: Path, *, sleeps: list[float] | None = None,
                     session: requests.Session | None = None, since: date | None = None,
                     contact_email: str | None = None) -> LandedBatch:
    """Land a Crossref harvest from the fault server (waits recorded, not slept)."""
    request = crossref_request(server, since=since, contact_email=contact_email)
    record: Callable[[float], None] = sleeps.append if sleeps is not None else (lambda _s: None)
    stream = iter_crossref_works(
        session or build_session(), base_url=server.url, issn=CROSSREF_ISSN,
        rows=CROSSREF_ROWS, from_index_date=since, mailto=contact_email,
        throttle=no_throttle, sleep=record)
    return land_stream(stream, data_dir=data_dir, request=request)


def harvest_openalex(server: FaultServer, data_dir: Path, *, sleeps: list[float] | None = None,
                     api_key: str | None = None, contact_email: str | None = None,
                     session: requests.Session | None = None) -> LandedBatch:
    """Land an OpenAlex harvest from the fault server (waits recorded, not slept)."""
    request = ExtractRequest(source="openalex", scope=OPENALEX_FILTER, base_url=server.url,
                             options={"filter": OPENALEX_FILTER}, api_key=api_key,
                             contact_email=contact_email)
    record: Callable[[float], None] = sleeps.append if sleeps is not None else (lambda _s: None)
    stream = iter_openalex_works(
        session or build_session(), base_url=server.url, filter=OPENALEX_FILTER,
        api_key=api_key, mailto=contact_email, throttle=no_throttle, sleep=record)
    return land_stream(stream, data_dir=data_dir, request=request)


# ------------------------------------------------------------------ warehouse side


def process(batch_path: Path, data_dir: Path, engine: Engine, *,
            validation_engine: str = "polars") -> ProcessOutcome:
    """Process one landed batch the way the process flow does (a fresh run id)."""
    manifest = read_manifest(batch_path)
    run = RunInfo(run_id=uuid.uuid4().hex, source=manifest.source, batch_id=manifest.batch_id)
    return process_batch(batch_path, data_dir=data_dir, engine=engine, run=run,
                         validation_engine=validation_engine)


_LOCAL_SERVER = re.compile(r"http://127\.0\.0\.1:\d+")


def _stable(table: str, column: str, value: Any) -> str:
    """A value as text, without what two landings of the same data differ in."""
    if table == "source_records" and column == "record" and value:
        record = json.loads(value)
        record.pop("raw_ref", None)
        record.pop("content_hash", None)  # compared field by field; it hashes the URL too
        value = json.dumps(record, sort_keys=True, ensure_ascii=False)
    # Every test server listens on its own port; the site is the same.
    return _LOCAL_SERVER.sub("http://127.0.0.1:PORT", str(value))


def contents(engine: Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every warehouse table's rows as sorted tuples, without run-specific columns."""
    out: dict[str, list[tuple[str, ...]]] = {}
    with engine.connect() as conn:
        for name, table in s.metadata.tables.items():
            if name in BOOKKEEPING:
                continue
            cols = [c for c in table.c
                    if c.name not in VOLATILE and (name, c.name) not in VOLATILE_IN]
            rows = conn.execute(select(*cols)).all()
            out[name] = sorted(tuple(_stable(name, c.name, v) for c, v in zip(cols, row,
                                                                               strict=True))
                               for row in rows)
    return out


def etl_runs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(s.etl_runs).order_by(s.etl_runs.c.started_at)).all()


def quarantine_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(select(s.quarantine)).all()


def publication_dois(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(d for d in conn.execute(select(s.publications.c.doi)).scalars() if d)


def short_timeout_session(timeout: float = 0.25, *, contact_email: str | None = None
                          ) -> requests.Session:
    """:func:`sources.http.build_session` with a short timeout, as ``timeout_seconds`` in
    aied.toml gives it: a hanging server costs a second, not a minute."""
    return build_session(contact_email=contact_email, timeout=timeout)


def new_sqlite_warehouse(path: Path, template: Path | None = None) -> Engine:
    """A migrated SQLite warehouse at ``path`` (a copy of ``template`` when given)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if template is None:
        upgrade_warehouse(f"sqlite:///{path}")
    else:
        shutil.copyfile(template, path)
    return create_warehouse_engine(f"sqlite:///{path}")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite warehouse file to copy (migrating each time costs more)."""
    path = tmp_path_factory.mktemp("template") / "warehouse.sqlite"
    new_sqlite_warehouse(path).dispose()
    assert not path.with_name(path.name + "-wal").exists(), "the template is checkpointed"
    return path


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as fault_server:
        yield fault_server


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def sqlite_engine(tmp_path: Path, sqlite_template: Path) -> Iterator[Engine]:
    """A freshly migrated SQLite warehouse in a file."""
    engine = new_sqlite_warehouse(tmp_path / "warehouse.sqlite", sqlite_template)
    try:
        yield engine
    finally:
        engine.dispose()


@dataclass(frozen=True)
class CleanRun:
    """What a fault-free harvest of the same pages leaves in a warehouse."""

    contents: dict[str, list[tuple[str, ...]]]
    fetched: int
    loaded: int
    quarantined: int
    duplicates: int


def _clean_run(tmp: Path, harvest: Callable[[FaultServer, Path], LandedBatch],
               serve: Callable[[FaultServer], None]) -> CleanRun:
    data = tmp / "data"
    engine = new_sqlite_warehouse(tmp / "clean.sqlite")
    try:
        with FaultServer() as clean:
            serve(clean)
            batch = harvest(clean, data)
        result = process(batch.path, data, engine).result
        assert result.is_reconciled
        return CleanRun(contents(engine), result.fetched, result.loaded, result.quarantined,
                        result.duplicates)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def crossref_clean(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """The warehouse after a clean Crossref harvest of the three pages."""
    return _clean_run(tmp_path_factory.mktemp("crossref-clean"), harvest_crossref,
                      lambda srv: serve_pages(srv, CROSSREF_PATH, crossref_pages()))


@pytest.fixture(scope="session")
def magtech_clean(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """The warehouse after a clean crawl of the hand-made Magtech site."""
    return _clean_run(tmp_path_factory.mktemp("magtech-clean"), harvest_magtech,
                      lambda srv: serve_magtech_site(srv))


@pytest.fixture(scope="session")
def openalex_clean(tmp_path_factory: pytest.TempPathFactory) -> CleanRun:
    """The warehouse after a clean OpenAlex harvest of the three pages."""
    return _clean_run(tmp_path_factory.mktemp("openalex-clean"), harvest_openalex,
                      lambda srv: serve_pages(srv, OPENALEX_PATH, openalex_pages()))
