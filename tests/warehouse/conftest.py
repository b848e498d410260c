"""Fixtures for warehouse tests: a freshly migrated, empty warehouse on SQLite and PostgreSQL.

The PostgreSQL server is started once per session (``tests.pg.start_postgres``: the server
named by ``AIED_TEST_POSTGRES_URL``, else a throwaway cluster); every test gets a database of
its own. Nothing is skipped: a server that cannot start fails the tests that need it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from tests.pg import fresh_database, start_postgres
from warehouse.db import create_warehouse_engine, upgrade_warehouse

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a superuser connection to a running PostgreSQL server (started if needed)."""
    url, stop = start_postgres()
    try:
        yield url
    finally:
        stop()


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty (not migrated) database, one per test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'warehouse.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server_url")
    with fresh_database(server) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_warehouse_template(postgres_server_url: str) -> Iterator[str]:
    """Name of a migrated database that per-test warehouses are copied from (fast)."""
    with fresh_database(postgres_server_url, prefix="aied_template") as url:
        upgrade_warehouse(url)
        yield str(make_url(url).database)


@pytest.fixture(params=BACKENDS)
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a freshly migrated, empty warehouse (one per test), on each backend.

    SQLite runs the migrations into a new file; PostgreSQL copies a database the migrations
    built once per session (``CREATE DATABASE ... TEMPLATE``).
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
        upgrade_warehouse(url)
        yield url
        return
    server = request.getfixturevalue("postgres_server_url")
    template = request.getfixturevalue("postgres_warehouse_template")
    with fresh_database(server, template=template) as url:
        yield url


@pytest.fixture
def warehouse_engine(warehouse_url: str) -> Iterator[Engine]:
    """Engine on a freshly migrated, empty warehouse, parametrized over SQLite and PostgreSQL."""
    engine = create_warehouse_engine(warehouse_url)
    try:
        yield engine
    finally:
        engine.dispose()
