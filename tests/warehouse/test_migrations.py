"""Alembic migrations vs ``warehouse.schema.metadata``, engines and revisions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text

from warehouse.db import (
    WarehouseURLError,
    create_warehouse_engine,
    current_revision,
    downgrade_warehouse,
    head_revision,
    normalise_url,
    upgrade_warehouse,
)
from warehouse.schema import metadata
from warehouse.views import CURRENT_VIEWS, VIEW_NAMES

ROOT = Path(__file__).resolve().parents[2]


def _diffs(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(context, metadata)


def test_migrations_and_metadata_agree(warehouse_engine: Engine) -> None:
    assert _diffs(warehouse_engine) == []
    assert current_revision(warehouse_engine) == head_revision() == "0002"
    tables = set(inspect(warehouse_engine).get_table_names())
    assert set(metadata.tables) <= tables


def test_views_exist_with_documented_columns(warehouse_engine: Engine) -> None:
    assert set(inspect(warehouse_engine).get_view_names()) == set(VIEW_NAMES)
    with warehouse_engine.connect() as conn:
        for view in CURRENT_VIEWS:
            columns = list(conn.execute(text(f"SELECT * FROM {view.name} WHERE 1 = 0")).keys())
            assert columns == list(view.columns), view.name


def test_comments_are_stored_on_postgresql_only(warehouse_engine: Engine) -> None:
    insp = inspect(warehouse_engine)
    columns = {c["name"]: c.get("comment") for c in insp.get_columns("publications")}
    if warehouse_engine.dialect.name == "postgresql":
        comment = insp.get_table_comment("publications")["text"]
        assert comment == metadata.tables["publications"].comment
        assert columns["doi"] == "DOI, lower-case, no resolver prefix"
        with warehouse_engine.connect() as conn:
            view_comment = conn.execute(
                text("SELECT obj_description('topic_trends'::regclass, 'pg_class')")
            ).scalar_one()
        assert view_comment == CURRENT_VIEWS[0].description
    else:
        assert not warehouse_engine.dialect.supports_comments
        assert columns["doi"] is None


def test_downgrade_to_base_and_upgrade_again(empty_database_url: str) -> None:
    upgrade_warehouse(empty_database_url)
    downgrade_warehouse(empty_database_url, "base")
    engine = create_warehouse_engine(empty_database_url)
    try:
        assert current_revision(engine) is None
        insp = inspect(engine)
        assert set(insp.get_table_names()) <= {"alembic_version"}
        assert insp.get_view_names() == []
        upgrade_warehouse(empty_database_url)
        assert current_revision(engine) == "0002"
        assert _diffs(engine) == []
    finally:
        engine.dispose()


def test_unmigrated_database_has_no_revision(empty_database_url: str) -> None:
    engine = create_warehouse_engine(empty_database_url)
    try:
        assert current_revision(engine) is None
    finally:
        engine.dispose()


def test_sqlite_engine_creates_directory_and_sets_pragmas(tmp_path: Path) -> None:
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'a' / 'b' / 'w.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 30_000
            assert conn.exec_driver_sql("PRAGMA page_size").scalar_one() == 16_384
        assert (tmp_path / "a" / "b" / "w.sqlite").exists()
    finally:
        engine.dispose()


def test_plain_postgresql_urls_use_psycopg() -> None:
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.sqlite").drivername == "sqlite"


def test_unsupported_backend_is_refused() -> None:
    with pytest.raises(WarehouseURLError, match="mysql"):
        normalise_url("mysql://u@h/db")


def test_upgrade_works_from_another_directory(tmp_path: Path) -> None:
    """The packaged migrations are found whatever the working directory is."""
    url = f"sqlite:///{tmp_path / 'w.sqlite'}"
    code = "import sys; from warehouse.db import upgrade_warehouse; upgrade_warehouse(sys.argv[1])"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", code, url], cwd=tmp_path, env=env, capture_output=True,
        text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    engine = create_warehouse_engine(url)
    try:
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()


def test_alembic_command_line_uses_the_ini_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    proc = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", str(ROOT / "warehouse" / "alembic.ini"),
         "-x", f"url={url}", "upgrade", "head"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    engine = create_warehouse_engine(url)
    try:
        assert current_revision(engine) == "0002"
        assert "topic_trends" in inspect(engine).get_view_names()
    finally:
        engine.dispose()


def test_read_only_sqlite_url_works(tmp_path: Path) -> None:
    path = tmp_path / "w.sqlite"
    upgrade_warehouse(f"sqlite:///{path}")
    engine = create_warehouse_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM topic_trends")).scalar_one() == 0
            with pytest.raises(Exception, match="readonly"):
                conn.execute(text("INSERT INTO journals (issn) VALUES ('0000-0000')"))
    finally:
        engine.dispose()


def test_0002_fills_the_match_keys_of_existing_publications(empty_database_url: str) -> None:
    import polars as pl

    from transforms.dedupe import publication_key_exprs

    upgrade_warehouse(empty_database_url, "0001")
    engine = create_warehouse_engine(empty_database_url)
    rows = [
        {"pub_id": "pub_a", "title": "AI Tutors, for Medical Students!", "title_zh": None,
         "journal_issn": None, "journal_title": "Medical Teacher"},
        {"pub_id": "pub_b", "title": "Chatbots", "title_zh": "人工智能（AI）辅助教学",
         "journal_issn": None, "journal_title": None},
        {"pub_id": "pub_c", "title": None, "title_zh": None, "journal_issn": None,
         "journal_title": None},
    ]
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO publications (pub_id, title, title_zh, journal_issn,"
                              " journal_title) VALUES (:pub_id, :title, :title_zh,"
                              " :journal_issn, :journal_title)"), rows)
        upgrade_warehouse(empty_database_url)
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT pub_id, title_key, journal_key FROM publications"
                                       " ORDER BY pub_id")).all()
        expected = pl.DataFrame(rows).select("pub_id", *publication_key_exprs()).rows()
        assert [tuple(r) for r in stored] == expected
        assert stored[0][1:] == ("aitutorsformedicalstudents", "medicalteacher")
        assert stored[1][1] == "人工智能ai辅助教学" and stored[2][1:] == (None, None)
        indexes = {i["name"] for i in inspect(engine).get_indexes("publications")}
        assert "ix_publications_match_keys" in indexes
        downgrade_warehouse(empty_database_url, "0001")
        columns = {c["name"] for c in inspect(engine).get_columns("publications")}
        assert "title_key" not in columns and "journal_key" not in columns
        assert "topic_trends" in inspect(engine).get_view_names()
    finally:
        engine.dispose()
