"""The read-only analyst role (PostgreSQL) and its refusal on SQLite."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests.pg import fresh_database
from tests.warehouse import data
from warehouse.db import create_warehouse_engine, upgrade_warehouse
from warehouse.roles import (
    InvalidRoleNameError,
    RolesNotSupportedError,
    create_analyst_role,
    drop_analyst_role,
    readable_relations,
)
from warehouse.views import VIEW_NAMES, refresh_derived_tables

CLOSED = ("quarantine", "source_records", "publication_matches", "source_state")


@pytest.fixture
def pg_warehouse(postgres_server_url: str) -> Iterator[tuple[str, Engine]]:
    with fresh_database(postgres_server_url) as url:
        upgrade_warehouse(url)
        engine = create_warehouse_engine(url)
        try:
            data.insert_dataset(engine)
            refresh_derived_tables(engine)
            yield url, engine
        finally:
            engine.dispose()


@pytest.fixture
def role_name(pg_warehouse: tuple[str, Engine]) -> Iterator[str]:
    role = f"analyst_{uuid.uuid4().hex[:8]}"
    yield role
    drop_analyst_role(pg_warehouse[1], role)


def _scram_matches(verifier: str, password: str) -> bool:
    """Check a PostgreSQL SCRAM-SHA-256 verifier against a password (RFC 5802/7677)."""
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    iterations, salt = iterations_salt.split(":")
    stored_key, _server_key = keys.split(":")
    salted = hashlib.pbkdf2_hmac(
        "sha256", password.encode(), base64.b64decode(salt), int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return method == "SCRAM-SHA-256" and (
        base64.b64encode(hashlib.sha256(client_key).digest()).decode() == stored_key
    )


def test_analyst_reads_analyst_tables_and_views_only(
    pg_warehouse: tuple[str, Engine], role_name: str
) -> None:
    url, admin = pg_warehouse
    password = "p%a:s's w0rd"
    create_analyst_role(admin, role_name, password)
    create_analyst_role(admin, role_name, password)  # idempotent
    with admin.connect() as conn:
        verifier = conn.execute(
            text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role_name}
        ).scalar_one()
    assert _scram_matches(verifier, password)
    assert not _scram_matches(verifier, "wrong")

    analyst = create_warehouse_engine(
        make_url(url).set(username=role_name, password=None)
    )
    try:
        with analyst.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM publications")).scalar_one() == 9
            for name in readable_relations():
                conn.execute(text(f"SELECT * FROM {name} LIMIT 1")).all()
            assert conn.execute(text("SELECT COUNT(*) FROM topic_trends")).scalar_one() == 4
        for name in CLOSED:
            with pytest.raises(DBAPIError, match="permission denied"), analyst.connect() as conn:
                conn.execute(text(f"SELECT * FROM {name}")).all()
        writes = [
            "INSERT INTO journals (issn, title) VALUES ('0000-0000', 'x')",
            "UPDATE publications SET title = 'x'",
            "DELETE FROM etl_runs",
            "CREATE TABLE mine (x int)",
        ]
        for statement in writes:
            with pytest.raises(DBAPIError, match="read-only transaction"), analyst.begin() as c:
                c.execute(text(statement))
        # Even with the read-only default switched off, privileges refuse writes.
        with pytest.raises(DBAPIError, match="permission denied"), analyst.begin() as conn:
            conn.execute(text("SET TRANSACTION READ WRITE"))
            conn.execute(text("INSERT INTO journals (issn, title) VALUES ('0000-0000', 'x')"))
        with pytest.raises(DBAPIError, match="permission denied"), analyst.begin() as conn:
            conn.execute(text("SET TRANSACTION READ WRITE"))
            conn.execute(text("CREATE TABLE mine (x int)"))
    finally:
        analyst.dispose()


def test_role_without_password(pg_warehouse: tuple[str, Engine], role_name: str) -> None:
    _, admin = pg_warehouse
    create_analyst_role(admin, role_name)
    with admin.connect() as conn:
        row = conn.execute(
            text("SELECT rolcanlogin, rolsuper, rolpassword FROM pg_authid WHERE rolname = :r"),
            {"r": role_name},
        ).one()
    assert tuple(row) == (True, False, None)


def test_role_name_is_validated(pg_warehouse: tuple[str, Engine]) -> None:
    with pytest.raises(InvalidRoleNameError):
        create_analyst_role(pg_warehouse[1], 'bad"; DROP TABLE publications; --')


def test_every_view_is_granted() -> None:
    relations = set(readable_relations())
    assert set(VIEW_NAMES) <= relations
    assert relations.isdisjoint(CLOSED)


def test_roles_are_refused_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    upgrade_warehouse(url)
    engine = create_warehouse_engine(url)
    try:
        with pytest.raises(RolesNotSupportedError, match="SQLite has no roles"):
            create_analyst_role(engine)
    finally:
        engine.dispose()
