"""The offline demo: replay recorded responses on 127.0.0.1 and run every source through.

Rates are raised for the replay (it is a local server); everything else is the real path:
HTTP client, landing zone, parsers, classifier, expectations, warehouse and report.

The plan is ``<fixtures>/demo.json``: ``mounts`` (where a fixture folder is served),
``config`` (per-source options the recordings need, e.g. the page size they were recorded
with) and ``steps``, run in order. A step is ``{"source", "folder", "scope"?,
"base_path"?}`` (folders are relative to the fixtures root, nested ones too:
``"replay/crossref"``), or ``{"source": "files", "folder", "files": [...]}`` for exported
files imported as ``aied import`` does.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from flows.replay import ReplayServer, load_routes
from flows.settings import PACKAGED_CONFIG

DEMO_RATE = 20.0
FILES_SOURCE = "files"


class DemoPlanError(ValueError):
    """demo.json is malformed (a step without source or folder, an unknown option type)."""


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value, ensure_ascii=False)
    msg = f"demo config values must be numbers, strings or booleans, got {value!r}"
    raise DemoPlanError(msg)


def _set_source_options(text: str, source: str, options: dict[str, Any]) -> str:
    """Set ``options`` in ``[sources.<source>]`` of a TOML text (replace, insert or append)."""
    header = re.compile(rf"^\[sources\.{re.escape(source)}\][ \t]*$", re.M)
    match = header.search(text)
    if match is None:
        lines = "".join(f"{key} = {_toml_value(v)}\n" for key, v in options.items())
        return text.rstrip("\n") + f"\n\n[sources.{source}]\n{lines}"
    following = re.compile(r"^\[", re.M).search(text, match.end())
    end = following.start() if following else len(text)
    body = text[match.end():end]
    for key, value in options.items():
        line = f"{key} = {_toml_value(value)}"
        pattern = re.compile(rf"^{re.escape(key)}\s*=.*$", re.M)
        if pattern.search(body):
            body = pattern.sub(lambda _m, line=line: line, body, count=1)
        else:
            body = "\n" + line + body
    return text[:match.end()] + body + text[end:]


def _demo_config(target: Path, base: Path, *,
                 overrides: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write the demo's aied.toml: ``base`` with replay rates, no delays and ``overrides``.

    Args:
        target: Where to write it.
        base: The configuration to start from (the packaged aied.toml).
        overrides: Per-source options, e.g. ``{"crossref": {"rows": 20}}`` (the plan's
            ``config``): the page sizes the recordings were made with.
    """
    text = base.read_text(encoding="utf-8")
    text = re.sub(r"rate_per_second\s*=\s*[\d.]+", f"rate_per_second = {DEMO_RATE}", text)
    text = re.sub(r"delay_seconds\s*=\s*[\d.]+", "delay_seconds = 0.0", text)
    text = text.replace("[sources.magtech]", f"[sources.magtech]\nrate_per_second = {DEMO_RATE}")
    for source, options in (overrides or {}).items():
        text = _set_source_options(text, source, options)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def demo_plan(fixtures: Path) -> dict[str, Any]:
    """The demo's plan, ``<fixtures>/demo.json``: mounts, config and the steps, in order.

    Raises:
        FileNotFoundError: The fixtures folder has no demo.json.
        DemoPlanError: A step lacks its source or folder.
    """
    plan = json.loads((fixtures / "demo.json").read_text(encoding="utf-8"))
    for number, step in enumerate(plan.get("steps", []), start=1):
        if not step.get("source") or not step.get("folder"):
            msg = f"{fixtures / 'demo.json'}: step {number} needs a source and a folder: {step}"
            raise DemoPlanError(msg)
    return plan


def step_base_url(server_url: str, step: dict[str, Any], mounts: dict[str, str]) -> str:
    """The base URL a step's client is given: server, the folder's mount, ``base_path``."""
    mount = mounts.get(step["folder"], f"/{step['folder']}")
    base = server_url + ("" if mount == "/" else mount.rstrip("/"))
    return base + step.get("base_path", "")


def http_steps(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps served by the replay server (every source except exported files)."""
    return [s for s in plan["steps"] if s["source"] != FILES_SOURCE]


def _counts(process: dict[str, Any]) -> dict[str, Any]:
    return {k: process.get(k) for k in ("fetched", "loaded", "duplicates", "quarantined",
                                        "unchanged", "reconciled")}


def run_demo(fixtures: Path, *, port: int = 0, report_dir: Path) -> dict[str, Any]:
    """Serve ``fixtures`` on 127.0.0.1 and run the pipeline for every planned source."""
    plan = demo_plan(fixtures)
    data_dir = Path(os.environ.get("AIED_DATA_DIR", "data"))
    os.environ["AIED_CONFIG"] = str(_demo_config(data_dir / "demo" / "aied.toml",
                                                 PACKAGED_CONFIG,
                                                 overrides=plan.get("config")))
    from flows.inbox import import_files_flow
    from flows.pipeline import run_pipeline_flow
    from flows.report import report_flow
    from flows.settings import get_settings
    from warehouse.db import create_warehouse_engine
    from warehouse.load import count_rows

    mounts = plan.get("mounts", {})
    results: dict[str, Any] = {"sources": {}}
    routes = load_routes(fixtures, [s["folder"] for s in http_steps(plan)], mounts=mounts)
    with ReplayServer(routes, port=port) as server:
        for step in plan["steps"]:
            if step["source"] == FILES_SOURCE:
                paths = [str(fixtures / step["folder"] / name) for name in step["files"]]
                process = import_files_flow(paths)
                results["sources"][f"files:{step['folder']}"] = _counts(process) | {
                    "files": len(paths)}
                continue
            first = len(server.log.entries)
            result = run_pipeline_flow(step["source"], scope=step.get("scope"),
                                       base_url=step_base_url(server.url, step, mounts),
                                       full=True, report=False)
            key = f"{step['source']}:{result['ingest']['scope']}"
            results["sources"][key] = _counts(result["process"]) | {
                "requests": len(server.log.entries) - first,
                "requests_per_second": server.log.rate(start=first)}
    report_flow(str(report_dir))  # once, after every source is in
    engine = create_warehouse_engine(get_settings().warehouse_url)
    results["warehouse_rows"] = count_rows(engine)
    results["report"] = str(report_dir / "index.html")
    return results
