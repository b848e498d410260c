"""The README's example questions run on SQLite and PostgreSQL and answer something."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.warehouse.data import insert_demo_dataset
from warehouse.views import refresh_derived_tables

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_sql_statements() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    statements = []
    for block in blocks:
        body = "\n".join(line for line in block.splitlines() if not line.startswith("--"))
        statements += [s.strip() for s in body.split(";") if s.strip()]
    return statements


def test_readme_has_five_example_questions():
    assert len(readme_sql_statements()) == 5


@pytest.mark.parametrize("index", range(5))
def test_readme_sql_runs_and_answers(warehouse_engine, index):
    insert_demo_dataset(warehouse_engine)
    refresh_derived_tables(warehouse_engine)
    with warehouse_engine.connect() as conn:
        rows = conn.execute(text(readme_sql_statements()[index])).all()
    assert rows, "each example question has an answer on the sample warehouse"
