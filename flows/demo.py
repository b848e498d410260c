"""The offline demo: replay recorded responses on 127.0.0.1 and run every source through.

Rates are raised for the replay (it is a local server); everything else is the real path:
HTTP client, landing zone, parsers, classifier, expectations, warehouse and report.
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


def _demo_config(target: Path, base: Path) -> Path:
    text = base.read_text(encoding="utf-8")
    text = re.sub(r"rate_per_second\s*=\s*[\d.]+", f"rate_per_second = {DEMO_RATE}", text)
    text = re.sub(r"delay_seconds\s*=\s*[\d.]+", "delay_seconds = 0.0", text)
    text = text.replace("[sources.magtech]", f"[sources.magtech]\nrate_per_second = {DEMO_RATE}")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target


def demo_plan(fixtures: Path) -> dict[str, Any]:
    """The demo's plan, ``<fixtures>/demo.json``: mounts and the sources to run, in order.

    Raises:
        FileNotFoundError: The fixtures folder has no demo.json.
    """
    return json.loads((fixtures / "demo.json").read_text(encoding="utf-8"))


def run_demo(fixtures: Path, *, port: int = 0, report_dir: Path) -> dict[str, Any]:
    """Serve ``fixtures`` on 127.0.0.1 and run the pipeline for every planned source."""
    data_dir = Path(os.environ.get("AIED_DATA_DIR", "data"))
    os.environ["AIED_CONFIG"] = str(_demo_config(data_dir / "demo" / "aied.toml",
                                                 PACKAGED_CONFIG))
    from flows.pipeline import run_pipeline_flow
    from flows.settings import get_settings
    from warehouse.db import create_warehouse_engine
    from warehouse.load import count_rows

    plan = demo_plan(fixtures)
    mounts = plan.get("mounts", {})
    results: dict[str, Any] = {"sources": {}}
    routes = load_routes(fixtures, [s["folder"] for s in plan["steps"]], mounts=mounts)
    with ReplayServer(routes, port=port) as server:
        for step in plan["steps"]:
            mount = mounts.get(step["folder"], f"/{step['folder']}")
            base = server.url + ("" if mount == "/" else mount.rstrip("/"))
            base += step.get("base_path", "")
            first = len(server.log.entries)
            result = run_pipeline_flow(step["source"], scope=step.get("scope"), base_url=base,
                                       full=True, report_dir=str(report_dir))
            process = result["process"]
            results["sources"][f"{step['source']}:{step.get('scope', '')}"] = {
                k: process.get(k) for k in ("fetched", "loaded", "duplicates", "quarantined",
                                            "unchanged", "reconciled")
            } | {"requests": len(server.log.entries) - first,
                 "requests_per_second": server.log.rate(start=first)}
    engine = create_warehouse_engine(get_settings().warehouse_url)
    results["warehouse_rows"] = count_rows(engine)
    results["report"] = str(report_dir / "index.html")
    return results
