"""Session-wide fixtures: Prefect offline settings, an isolated AIED environment, PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.pg import fresh_database, start_postgres

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "true")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server for the whole session (10-12 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def fresh_aied_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path | str]:
    """AIED_* settings pointing at a fresh data folder and SQLite warehouse.

    The configuration is the packaged aied.toml with replay-friendly rates (the demo's).
    """
    from flows.demo import _demo_config
    from flows.settings import PACKAGED_CONFIG

    data = tmp_path / "data"
    url = f"sqlite:///{data / 'warehouse.sqlite'}"
    config = _demo_config(tmp_path / "aied.toml", PACKAGED_CONFIG)
    monkeypatch.setenv("AIED_DATA_DIR", str(data))
    monkeypatch.setenv("AIED_WAREHOUSE_URL", url)
    monkeypatch.setenv("AIED_CONFIG", str(config))
    for name in ("AIED_CONTACT_EMAIL", "AIED_OPENALEX_API_KEY", "AIED_NCBI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return {"AIED_DATA_DIR": data, "AIED_WAREHOUSE_URL": url, "AIED_CONFIG": config}


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """URL of a superuser connection to a running PostgreSQL server (started if needed)."""
    url, stop = start_postgres()
    try:
        yield url
    finally:
        stop()


@pytest.fixture(scope="session")
def postgres_warehouse_template(postgres_server_url: str) -> Iterator[str]:
    """Name of a migrated database that per-test warehouses are copied from (fast)."""
    with fresh_database(postgres_server_url, prefix="aied_template") as url:
        from warehouse.db import upgrade_warehouse

        upgrade_warehouse(url)
        yield str(make_url(url).database)


