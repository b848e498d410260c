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

from tests.conftest import postgres_server_url, postgres_warehouse_template  # noqa: F401
from tests.pg import fresh_database
from warehouse.db import create_warehouse_engine, upgrade_warehouse

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty (not migrated) database, one per test, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'warehouse.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server_url")
    with fresh_database(server) as url:
        yield url


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
