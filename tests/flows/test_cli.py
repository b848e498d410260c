"""Every command has help with an example; the README names only real commands."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from flows.cli import main

README = Path(__file__).resolve().parents[2] / "README.md"


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found += all_commands(command, path)
    return found


@pytest.mark.parametrize("path", all_commands(main), ids=" ".join)
def test_every_command_has_help_with_an_example(path):
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    example = result.output.split("Example:", 1)[1]
    assert "aied " in example


def test_readme_names_only_real_commands():
    named = set(re.findall(r"`aied ([a-z-]+)", README.read_text(encoding="utf-8")))
    assert named, "the README documents the command line"
    assert named <= set(main.commands), sorted(named - set(main.commands))


def test_sql_refuses_writes(fresh_aied_env):
    from warehouse.db import upgrade_warehouse

    upgrade_warehouse(str(fresh_aied_env["AIED_WAREHOUSE_URL"]))
    runner = CliRunner()
    refused = runner.invoke(main, ["sql", "DELETE FROM publications"])
    assert refused.exit_code != 0 and "read-only" in refused.output
    sneaky = runner.invoke(main, ["sql", "WITH x AS (SELECT 1) DELETE FROM publications"])
    assert sneaky.exit_code != 0
    two = runner.invoke(main, ["sql", "SELECT 1; DROP TABLE publications"])
    assert two.exit_code != 0
    ok = runner.invoke(main, ["sql", "SELECT COUNT(*) AS n FROM publications", "--format",
                              "csv"])
    assert ok.exit_code == 0 and ok.output.splitlines() == ["n", "0"]
