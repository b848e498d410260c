"""Report: refresh derived tables (bursts, co-occurrence) and write charts and extracts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact
from prefect.cache_policies import NO_CACHE

from flows import runtime as rt


@task(name="refresh-and-write-report", cache_policy=NO_CACHE)
def write_report_task(out_dir: Path) -> dict[str, Any]:
    """Refresh stored derived tables and write the HTML page, charts and extracts."""
    from transforms.classify import load_taxonomy
    from warehouse.report import write_report

    env = rt.open_runtime()
    labels = {t.slug: (t.label_en, t.label_zh) for t in load_taxonomy().topics}
    files = write_report(env.engine, out_dir, taxonomy_labels=labels, refresh=True)
    return {"html": str(files.html), "out_dir": str(out_dir)}


@flow(name="aied-report", flow_run_name="report")
def report_flow(out_dir: str | None = None) -> dict[str, Any]:
    """Rewrite the trend report (triggered by ``aied.warehouse.loaded``)."""
    env = rt.open_runtime()
    target = Path(out_dir) if out_dir else (env.settings.report_dir
                                            or env.settings.data_dir / "report")
    result = write_report_task(target)
    get_run_logger().info("report written to %s", result["html"])
    create_link_artifact(key="trend-report", link=Path(result["html"]).resolve().as_uri(),
                         description="Trend report (HTML)")
    return result
