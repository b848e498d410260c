"""Engines and migrations for the warehouse (SQLite by default, PostgreSQL in production).

Alembic owns the schema: :func:`upgrade_warehouse` runs the migrations in
``warehouse/migrations`` through Alembic's command API with a configuration built in code, so
it works from any working directory and from an installed package. ``warehouse/alembic.ini``
is there for people who prefer the ``alembic`` command line.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: How long a SQLite connection waits for a lock before failing (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: Page cache per connection (KiB): a batch of 250k records touches ~1 GB of pages.
SQLITE_CACHE_KIB = 512 * 1024
#: Page size of new SQLite warehouses (bytes).
SQLITE_PAGE_SIZE = 16_384


class WarehouseURLError(ValueError):
    """The warehouse URL names a database the warehouse does not support."""


def normalise_url(url: str | URL) -> URL:
    """Parse a warehouse URL and map PostgreSQL URLs to the psycopg 3 driver.

    Args:
        url: Any SQLAlchemy URL; ``postgresql://`` and ``postgres://`` become
            ``postgresql+psycopg://``.

    Returns:
        The parsed URL.

    Raises:
        WarehouseURLError: the backend is neither SQLite nor PostgreSQL.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend in {"postgresql", "postgres"}:
        if parsed.drivername in {"postgresql", "postgres", "postgresql+psycopg2"}:
            parsed = parsed.set(drivername="postgresql+psycopg")
        return parsed
    if backend == "sqlite":
        return parsed
    msg = f"unsupported warehouse backend {backend!r} in {parsed!r}: use sqlite or postgresql"
    raise WarehouseURLError(msg)


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Only a new, empty file takes it (before WAL is set): publication and lineage rows
        # of 1-2 KB fill 16 KiB pages well; 4 KiB pages held one such row and wasted a third.
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        # A read-only connection (mode=ro) cannot switch modes and keeps the file's.
        with contextlib.suppress(sqlite3.OperationalError):
            cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: still atomic and consistent; a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.execute("PRAGMA temp_store=MEMORY")
    finally:
        cursor.close()


@contextlib.contextmanager
def unchecked_foreign_keys(conn: Connection) -> Iterator[None]:
    """On SQLite, do not check foreign keys on this connection for the block (bulk loads).

    Must be entered before the block's transaction begins (SQLite ignores the pragma inside
    one); checking is back on when the block ends, committed or not. Other databases always
    check.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def create_warehouse_engine(url: str | URL) -> Engine:
    """Create an engine for the warehouse.

    SQLite: the parent directory of a file database is created; every connection turns on
    foreign keys, WAL journaling and a busy timeout. PostgreSQL: the psycopg 3 driver is used
    (plain ``postgresql://`` URLs are mapped to it).

    Args:
        url: SQLAlchemy URL, e.g. ``sqlite:///data/warehouse.sqlite`` or
            ``postgresql://user@host/aied``.

    Returns:
        A new engine (the caller disposes of it).
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def alembic_config() -> Config:
    """Return an Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _run_with_connection(url: str | URL, fn_name: str, revision: str) -> None:
    engine = create_warehouse_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            getattr(command, fn_name)(config, revision)
    finally:
        engine.dispose()


def upgrade_warehouse(url: str | URL, revision: str = "head") -> None:
    """Upgrade the warehouse schema (tables, comments and views) to ``revision``.

    Args:
        url: Warehouse URL.
        revision: Alembic revision, ``head`` by default.
    """
    _run_with_connection(url, "upgrade", revision)


def downgrade_warehouse(url: str | URL, revision: str) -> None:
    """Downgrade the warehouse schema to ``revision`` (``base`` drops everything).

    Args:
        url: Warehouse URL.
        revision: Alembic revision to go down to.
    """
    _run_with_connection(url, "downgrade", revision)


def current_revision(engine: Engine) -> str | None:
    """Return the Alembic revision the warehouse is at, or None when it is not migrated.

    Args:
        engine: Warehouse engine.
    """
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    """Return the newest revision the packaged migrations provide."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
