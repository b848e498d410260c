"""Dialect-aware bulk upserts (SQLite and PostgreSQL) with SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, tuple_
from sqlalchemy.dialects import postgresql, sqlite

CHUNK = 5000


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
    if update is None:
        update = [c for c in columns if c not in keys]
    stmt = _insert(conn, table)
    if update:
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys),
            set_={c: getattr(stmt.excluded, c) for c in update},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
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
