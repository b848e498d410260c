"""A read-only PostgreSQL role for analysts.

The role may log in, connect to the warehouse database, and SELECT from the analyst tables
(:data:`warehouse.schema.ANALYST_TABLES`), the stored derived tables
(:data:`warehouse.schema.DERIVED_TABLES`) and the views; nothing else. Quarantine payloads and
lineage internals (``quarantine``, ``source_records``, ``publication_matches``,
``source_state``) stay closed. Its sessions are read-only by default as a second guard.

SQLite has no roles: share a copy of the file, or open it read-only
(``sqlite:///file:data/warehouse.sqlite?mode=ro&uri=true``).
"""

from __future__ import annotations

import re

from sqlalchemy import Engine, text

from warehouse.schema import ANALYST_TABLES, DERIVED_TABLES
from warehouse.views import VIEW_NAMES

DEFAULT_ROLE = "aied_analyst"
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RolesNotSupportedError(RuntimeError):
    """The warehouse backend has no roles (SQLite)."""


class InvalidRoleNameError(ValueError):
    """A role name that is not a plain lower-case SQL identifier."""


def readable_relations() -> tuple[str, ...]:
    """Return every table and view the analyst role may SELECT from."""
    return (*ANALYST_TABLES, *DERIVED_TABLES, *VIEW_NAMES)


def create_analyst_role(
    engine: Engine, role: str = DEFAULT_ROLE, password: str | None = None
) -> None:
    """Create (or update) a read-only analyst role on a PostgreSQL warehouse.

    Idempotent: an existing role gets its password updated (when one is given) and its
    privileges reset to exactly the analyst set. Run it again after a migration adds views.

    Args:
        engine: Engine of the warehouse, connected as a user allowed to create roles and
            grant on the warehouse's objects (their owner or a superuser).
        role: Role name: lower-case letters, digits and ``_``.
        password: Login password; None creates a role without one (for peer/trust
            authentication or to set it later).

    Raises:
        RolesNotSupportedError: the warehouse is SQLite.
        InvalidRoleNameError: the name is not a plain identifier.
    """
    if engine.dialect.name != "postgresql":
        msg = (
            f"analyst roles need PostgreSQL; this warehouse is {engine.dialect.name}. "
            "SQLite has no roles: give analysts a copy of the file or a read-only URL "
            "(sqlite:///file:PATH?mode=ro&uri=true)"
        )
        raise RolesNotSupportedError(msg)
    if not _ROLE_NAME.match(role):
        msg = f"role name {role!r} must match {_ROLE_NAME.pattern}"
        raise InvalidRoleNameError(msg)
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        verb = "ALTER" if exists else "CREATE"
        options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT"
        if password is None:
            conn.execute(text(f'{verb} ROLE "{role}" {options}'))
        else:
            # format() quotes the password server-side (%L), so it never needs escaping here.
            statement = conn.execute(
                text(
                    f"SELECT format('{verb} ROLE %I {options} PASSWORD %L', "
                    "CAST(:role AS text), CAST(:pw AS text))"
                ),
                {"role": role, "pw": password},
            ).scalar_one()
            conn.exec_driver_sql(statement.replace("%", "%%"))
        database, schema = conn.execute(
            text("SELECT current_database(), current_schema()")
        ).one()
        conn.execute(text(f'ALTER ROLE "{role}" SET default_transaction_read_only = on'))
        conn.execute(text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
        conn.execute(text(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"'))
        conn.execute(text(f'REVOKE CREATE ON SCHEMA "{schema}" FROM "{role}"'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
        relations = ", ".join(f'"{schema}"."{name}"' for name in readable_relations())
        conn.execute(text(f'GRANT SELECT ON {relations} TO "{role}"'))


def drop_analyst_role(engine: Engine, role: str = DEFAULT_ROLE) -> None:
    """Drop the analyst role's privileges in this database and the role itself.

    Args:
        engine: Engine of the PostgreSQL warehouse.
        role: Role name.

    Raises:
        RolesNotSupportedError: the warehouse is SQLite.
        InvalidRoleNameError: the name is not a plain identifier.
    """
    if engine.dialect.name != "postgresql":
        msg = f"analyst roles need PostgreSQL; this warehouse is {engine.dialect.name}"
        raise RolesNotSupportedError(msg)
    if not _ROLE_NAME.match(role):
        msg = f"role name {role!r} must match {_ROLE_NAME.pattern}"
        raise InvalidRoleNameError(msg)
    with engine.begin() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}
        ).first()
        if not exists:
            return
        database = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f'DROP OWNED BY "{role}"'))
        conn.execute(text(f'REVOKE CONNECT ON DATABASE "{database}" FROM "{role}"'))
        conn.execute(text(f'DROP ROLE "{role}"'))
