"""The data dictionary: ``docs/data-dictionary.md`` rendered from the schema's comments.

Regenerate it after a schema or view change with ``python -m warehouse.dictionary`` (a test
fails while the file is out of date).
"""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.dialects import postgresql, sqlite

from warehouse.schema import ANALYST_TABLES, DERIVED_TABLES
from warehouse.views import CURRENT_VIEWS, ViewDefinition

DEFAULT_PATH = Path(__file__).resolve().parents[1] / "docs" / "data-dictionary.md"

_PG = postgresql.dialect()
_SQLITE = sqlite.dialect()

_INTRO = """# Data dictionary

Generated from `warehouse/schema.py` and `warehouse/views.py` by `python -m warehouse.dictionary`;
do not edit by hand. The same comments are stored in PostgreSQL (`COMMENT ON`), so `\\d+ table`
in psql and DBeaver show them too.

- Warehouse URL: `AIED_WAREHOUSE_URL` (default `sqlite:///data/warehouse.sqlite`); schema
  managed by Alembic (`aied db upgrade`, or `warehouse.db.upgrade_warehouse(url)`).
- Types are given as PostgreSQL and SQLite declare them. SQLite stores dates as ISO text
  (`YYYY-MM-DD`), timestamps as ISO text in UTC, booleans as 0/1.
- Access: the read-only analyst role (`warehouse.roles.create_analyst_role`) can read the
  tables marked *analyst* and every view.
- Stored derived tables are recomputed from the base tables by
  `warehouse.views.refresh_derived_tables(engine)` (the report refresh runs it).
"""


def _md(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ").strip()


def _key(column: Column) -> str:
    parts: list[str] = []
    if column.primary_key:
        parts.append("PK")
    parts.extend(f"FK → `{fk.target_fullname}`" for fk in column.foreign_keys)
    if column.unique:
        parts.append("unique")
    if column.index:
        parts.append("indexed")
    return ", ".join(parts)


def _access(table: Table) -> str:
    if table.name in ANALYST_TABLES:
        return "analyst"
    if table.name in DERIVED_TABLES:
        return "analyst (derived, stored)"
    return "internal (not granted to analysts)"


def _render_table(table: Table) -> list[str]:
    lines = [
        f"### `{table.name}`",
        "",
        _md(table.comment),
        "",
        f"Access: {_access(table)}. Primary key: "
        + ", ".join(f"`{c.name}`" for c in table.primary_key.columns)
        + ".",
        "",
        "| column | PostgreSQL type | SQLite type | null | key | description |",
        "|---|---|---|---|---|---|",
    ]
    for column in table.columns:
        lines.append(
            f"| `{column.name}` | {column.type.compile(dialect=_PG)} "
            f"| {column.type.compile(dialect=_SQLITE)} "
            f"| {'yes' if column.nullable else 'no'} | {_key(column)} | {_md(column.comment)} |"
        )
    extra = [
        ix for ix in sorted(table.indexes, key=lambda i: i.name or "") if len(ix.columns) > 1
    ]
    if extra:
        lines.append("")
        for ix in extra:
            cols = ", ".join(f"`{c.name}`" for c in ix.columns)
            lines.append(f"Index `{ix.name}` on ({cols}).")
    lines.append("")
    return lines


def _render_view(view: ViewDefinition) -> list[str]:
    lines = [
        f"### `{view.name}`",
        "",
        _md(view.description),
        "",
        "| column | description |",
        "|---|---|",
    ]
    lines.extend(f"| `{name}` | {_md(desc)} |" for name, desc in view.columns.items())
    lines.append("")
    return lines


def render_data_dictionary(
    metadata: MetaData, views: tuple[ViewDefinition, ...] = CURRENT_VIEWS
) -> str:
    """Render every table, column and view of the warehouse as Markdown.

    Args:
        metadata: The schema (``warehouse.schema.metadata``).
        views: The view definitions (the current ones by default).

    Returns:
        The Markdown text (ends with one newline).
    """
    tables = sorted(metadata.tables.values(), key=lambda t: t.name)
    lines = [_INTRO, "## Contents", ""]
    lines.append("Views: " + ", ".join(f"[`{v.name}`](#{v.name})" for v in views) + ".")
    lines.append("")
    lines.append("Tables: " + ", ".join(f"[`{t.name}`](#{t.name})" for t in tables) + ".")
    lines.append("")
    lines.append("## Views")
    lines.append("")
    for view in views:
        lines.extend(_render_view(view))
    lines.append("## Tables")
    lines.append("")
    for table in tables:
        lines.extend(_render_table(table))
    return "\n".join(lines).rstrip("\n") + "\n"


def write_data_dictionary(metadata: MetaData, path: Path = DEFAULT_PATH) -> Path:
    """Write the rendered dictionary to ``path`` (``docs/data-dictionary.md`` by default)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_data_dictionary(metadata), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m warehouse.dictionary [PATH]``."""
    from warehouse.schema import metadata

    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else DEFAULT_PATH
    print(write_data_dictionary(metadata, path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
