"""The whole chain in one process (``aied run``): ingest, process, report.

With a Prefect server and served deployments the same chain runs through events instead
(see :mod:`flows.deploy`); this flow is what a person runs by hand or on the embedded defaults.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from flows.ingest import ingest_flow
from flows.process import process_flow
from flows.report import report_flow


@flow(name="aied-run", flow_run_name="run-{source}")
def run_pipeline_flow(source: str, scope: str | None = None, base_url: str | None = None,
                      since: date | None = None, full: bool = False,
                      report_dir: str | None = None, max_pages: int | None = None,
                      validation_engine: str = "hybrid", report: bool = True) -> dict[str, Any]:
    """Ingest one source, process the landed batch, refresh the report (unless ``report``
    is false: several runs in a row can share one report at the end)."""
    landed = ingest_flow(source, scope=scope, base_url=base_url, since=since, full=full,
                         max_pages=max_pages, emit_event=False)
    processed = process_flow(landed["batch_path"], batch_id=landed["batch_id"],
                             validation_engine=validation_engine, emit_event=False)
    written = report_flow(report_dir) if report else None
    return {"ingest": landed, "process": processed, "report": written}
