"""The data dictionary is complete and docs/data-dictionary.md is up to date."""

from __future__ import annotations

from pathlib import Path

from warehouse.dictionary import main, render_data_dictionary
from warehouse.schema import metadata
from warehouse.views import CURRENT_VIEWS

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-dictionary.md"


def test_every_table_and_column_has_a_comment() -> None:
    missing = [t.name for t in metadata.tables.values() if not (t.comment or "").strip()]
    missing += [
        f"{t.name}.{c.name}"
        for t in metadata.tables.values()
        for c in t.columns
        if not (c.comment or "").strip()
    ]
    assert missing == []


def test_every_view_and_view_column_is_described() -> None:
    for view in CURRENT_VIEWS:
        assert view.description.strip(), view.name
        assert view.columns, view.name
        assert all(desc.strip() for desc in view.columns.values()), view.name


def test_dictionary_lists_everything() -> None:
    text = render_data_dictionary(metadata)
    for table in metadata.tables.values():
        assert f"### `{table.name}`" in text
        for column in table.columns:
            assert f"| `{column.name}` |" in text
    for view in CURRENT_VIEWS:
        assert f"### `{view.name}`" in text
    assert "生成式" not in text  # labels are data, not schema
    assert "| `published_date` | DATE | DATE | yes |  |" in text
    assert "TIMESTAMP WITH TIME ZONE" in text
    assert "FK → `publications.pub_id`" in text


def test_data_dictionary_file_is_up_to_date() -> None:
    expected = render_data_dictionary(metadata)
    assert DOC.read_text(encoding="utf-8") == expected, (
        "docs/data-dictionary.md is stale: run `python -m warehouse.dictionary`"
    )


def test_command_line_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "dd.md"
    assert main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render_data_dictionary(metadata)
