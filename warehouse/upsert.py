"""Dialect-aware bulk upserts (SQLite and PostgreSQL) with SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Boolean, Connection, Date, DateTime, Float, Integer, String, Table, tuple_
from sqlalchemy.dialects import postgresql, sqlite

CHUNK = 5000
#: Rows per executemany call when a frame is written to SQLite.
SQLITE_CHUNK = 50_000


class UnsupportedDialectError(RuntimeError):
    """The warehouse URL names a database the loader does not support."""


def _insert(conn: Connection, table: Table):  # noqa: ANN202 - dialect-specific Insert
    name = conn.dialect.name
    if name == "sqlite":
        return sqlite.insert(table)
    if name == "postgresql":
        return postgresql.insert(table)
    msg = f"unsupported warehouse dialect {name!r}; use sqlite or postgresql"
    raise UnsupportedDialectError(msg)


def chunks(rows: Sequence[Any], size: int = CHUNK) -> Iterable[Sequence[Any]]:
    """Split a sequence into slices of at most ``size``."""
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _upsert_statement(conn: Connection, table: Table, columns: Sequence[str],
                      keys: Sequence[str], update: Sequence[str] | None) -> Any:
    if update is None:
        update = [c for c in columns if c not in keys]
    stmt = _insert(conn, table)
    if update:
        return stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: getattr(stmt.excluded, c) for c in update},
        )
    return stmt.on_conflict_do_nothing(index_elements=list(keys))


def insert_frame(conn: Connection, table: Table, frame: pl.DataFrame) -> None:
    """Insert a frame's rows (no conflict handling), bound as :func:`upsert_frame` binds them."""
    _write_frame(conn, table, frame, table.insert(), order_by=())


def upsert_frame(conn: Connection, table: Table, frame: pl.DataFrame, *,
                 keys: Sequence[str], update: Sequence[str] | None = None) -> None:
    """Insert a frame's rows; on a key conflict update ``update`` columns (None: all others).

    What is stored is what :func:`upsert_rows` stores for the same values. On SQLite the
    values are made ready in polars (dates and timestamps as SQLAlchemy's SQLite types store
    them) and bound as tuples straight from the frame, in key order (neighbouring keys land
    on neighbouring index pages); other databases get the rows as dicts.
    """
    if frame.height == 0:
        return
    stmt = _upsert_statement(conn, table, frame.columns, keys, update)
    _write_frame(conn, table, frame, stmt, order_by=keys)


def _write_frame(conn: Connection, table: Table, frame: pl.DataFrame, stmt: Any, *,
                 order_by: Sequence[str]) -> None:
    if frame.height == 0:
        return
    columns = frame.columns
    if conn.dialect.name != "sqlite":
        for part in frame.iter_slices(CHUNK):
            conn.execute(stmt, part.to_dicts())
        return
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    order = list(compiled.positiontup or ())
    if sorted(order) != sorted(columns):
        msg = f"cannot bind the columns of {table.name} by position: {order} vs {columns}"
        raise UnsupportedDialectError(msg)
    if order_by:
        frame = frame.sort(list(order_by), nulls_last=True)
    ready = frame.select([_sqlite_value(table.c[c].type, frame.schema[c], c) for c in order])
    sql = str(compiled)
    for part in ready.iter_slices(SQLITE_CHUNK):
        conn.exec_driver_sql(sql, part.rows())


_PLAIN_TYPES = (String, Integer, Float, Boolean)


def _sqlite_value(column_type: Any, dtype: pl.DataType, name: str) -> pl.Expr:
    """The polars expression giving what SQLAlchemy's SQLite type would bind for a column."""
    value = pl.col(name)
    if isinstance(column_type, DateTime):
        if dtype == pl.Null:
            return value.cast(pl.String)
        return value.dt.strftime("%Y-%m-%d %H:%M:%S.%6f")
    if isinstance(column_type, Date):
        return value.cast(pl.String) if dtype == pl.Null else value.dt.strftime("%Y-%m-%d")
    if isinstance(column_type, _PLAIN_TYPES):
        return value
    msg = f"no SQLite binding for column {name} of type {column_type!r}"
    raise UnsupportedDialectError(msg)


def upsert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *,
                keys: Sequence[str], update: Sequence[str] | None = None) -> None:
    """Insert rows; on a key conflict update ``update`` columns (or do nothing if empty).

    Args:
        conn: An open connection inside the batch's transaction.
        table: Target table.
        rows: Row dicts with the same keys.
        keys: The conflict target (primary key or unique columns).
        update: Columns to overwrite on conflict; None means all non-key columns.
    """
    if not rows:
        return
    columns = list(rows[0])
    stmt = _upsert_statement(conn, table, columns, keys, update)
    if conn.dialect.name == "sqlite":
        _executemany_sqlite(conn, table, stmt, columns, rows)
        return
    for part in chunks(rows):
        conn.execute(stmt, list(part))


def _executemany_sqlite(conn: Connection, table: Table, stmt: Any, columns: Sequence[str],
                        rows: Sequence[dict[str, Any]]) -> None:
    """One compiled statement, values bound as tuples: SQLAlchemy's per-row parameter
    processing costs more than SQLite's insert itself on large batches.

    Each column's own bind processor (dates, datetimes, booleans, JSON) still converts its
    values, so what is stored is exactly what ``conn.execute(stmt, rows)`` stores.
    """
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    order = list(compiled.positiontup or ())
    if sorted(order) != sorted(columns):
        for part in chunks(rows):  # an unusual statement shape: the general path
            conn.execute(stmt, list(part))
        return
    procs = [table.c[c].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
             for c in order]
    plain = all(p is None for p in procs)
    sql = str(compiled)
    for part in chunks(rows, 50_000):
        if plain:
            data = [tuple(row[c] for c in order) for row in part]
        else:
            pairs = list(zip(order, procs, strict=True))
            data = [tuple(row[c] if p is None else p(row[c]) for c, p in pairs) for row in part]
        conn.exec_driver_sql(sql, data)


def delete_where_in(conn: Connection, table: Table, column: str, values: Sequence[Any]) -> None:
    """DELETE rows whose ``column`` is in ``values`` (chunked to stay under bind limits)."""
    for part in chunks(list(values), 900):
        conn.execute(table.delete().where(table.c[column].in_(part)))


def delete_where_pairs(conn: Connection, table: Table, columns: tuple[str, str],
                       pairs: Sequence[tuple[Any, Any]]) -> None:
    """DELETE rows whose (a, b) is in ``pairs``."""
    cols = tuple_(table.c[columns[0]], table.c[columns[1]])
    for part in chunks(list(pairs), 400):
        conn.execute(table.delete().where(cols.in_(part)))
