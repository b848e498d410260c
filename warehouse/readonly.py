"""Read-only SQL for ``aied sql``: one statement, no writes, enforced by the database."""

from __future__ import annotations

import re

import polars as pl
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from warehouse.db import create_warehouse_engine

_ALLOWED_START = re.compile(r"^\s*(select|with|explain|values|show|pragma\s+table_info)\b", re.I)
MAX_ROWS = 100_000


class ReadOnlyQueryError(ValueError):
    """The query is not a single read, or the database refused it."""


def run_read_only(url: str, query: str, *, max_rows: int = MAX_ROWS) -> pl.DataFrame:
    """Run one read-only statement and return its rows as a frame.

    The statement is checked (one statement, starting with SELECT/WITH/EXPLAIN/VALUES) and
    the session is made read-only by the database itself (SQLite ``query_only``,
    PostgreSQL ``SET TRANSACTION READ ONLY``), so a write hidden in a CTE still fails.

    Raises:
        ReadOnlyQueryError: Not a single read statement, or the database refused it.
    """
    statement = query.strip().rstrip(";").strip()
    if ";" in statement or not _ALLOWED_START.match(statement):
        msg = "aied sql runs one read-only statement (SELECT, WITH, EXPLAIN or VALUES)"
        raise ReadOnlyQueryError(msg)
    engine = create_warehouse_engine(url)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _query_only(dbapi_connection, _record) -> None:  # noqa: ANN001
            dbapi_connection.execute("PRAGMA query_only = ON")
    try:
        with engine.connect() as conn:
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA query_only = ON")
            else:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            result = conn.execute(text(statement))
            columns = list(result.keys())
            rows = result.fetchmany(max_rows)
            conn.rollback()
    except DBAPIError as exc:
        msg = f"the warehouse refused the query: {exc.orig}"
        raise ReadOnlyQueryError(msg) from exc
    finally:
        engine.dispose()
    data = {c: [r[i] for r in rows] for i, c in enumerate(columns)}
    return pl.DataFrame(data, strict=False) if rows else pl.DataFrame(
        {c: [] for c in columns})
