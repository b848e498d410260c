"""Process one landed batch: parse, classify, validate, load; emit ``aied.warehouse.loaded``."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from flows import runtime as rt
from flows.progress import stage_progress
from flows.steps import QualityGateError, process_batch
from sources.landing import read_manifest
from warehouse.load import RunInfo
from warehouse.state import processed_batches


@task(name="parse-classify-validate-load", cache_policy=NO_CACHE)
def process_task(batch_path: Path, run: RunInfo, *, validation_engine: str) -> dict[str, Any]:
    """The whole batch in one task (tasks per batch, never per record)."""
    from flows.steps import topic_rows
    from transforms.classify import load_taxonomy
    from warehouse.load import upsert_topics

    env = rt.open_runtime()
    taxonomy = load_taxonomy()
    upsert_topics(env.engine, topic_rows(taxonomy.version, taxonomy.topics))
    with (concurrency(rt.WAREHOUSE_LOAD_LIMIT, occupy=1, strict=False),
          stage_progress(f"processing {run.source} batch {run.batch_id}") as on_stage):
        outcome = process_batch(batch_path, data_dir=env.settings.data_dir, engine=env.engine,
                                on_stage=on_stage,
                                run=run, validation_engine=validation_engine,
                                secrets=env.settings.secrets)
    return {**outcome.as_dict(), "quality": outcome.quality}


@flow(name="aied-process", flow_run_name="process-{batch_id}")
def process_flow(batch_path: str, batch_id: str = "", force: bool = False,
                 validation_engine: str = "hybrid", emit_event: bool = True) -> dict[str, Any]:
    """Process one complete landing batch into the warehouse (idempotent)."""
    logger = get_run_logger()
    env = rt.open_runtime()
    path = Path(batch_path)
    manifest = read_manifest(path)
    if not force and manifest.batch_id in processed_batches(env.engine):
        logger.info("batch %s (%s) was already processed; nothing to do", manifest.batch_id,
                    manifest.source)
        return {"batch_id": manifest.batch_id, "source": manifest.source, "skipped": True}
    run = RunInfo(run_id=uuid.uuid4().hex, source=manifest.source, batch_id=manifest.batch_id,
                  flow_run_id=str(runtime.flow_run.id or ""),
                  watermark=manifest.params.get("since"))
    try:
        summary = process_task(path, run, validation_engine=validation_engine)
    except QualityGateError as exc:
        rt.emit(rt.EVENT_QUALITY_FAILED, resource_id=f"aied.batch.{manifest.batch_id}",
                payload={"batch_id": manifest.batch_id, "source": manifest.source,
                         "failures": exc.failures})
        raise
    logger.info("source=%s batch=%s fetched=%d loaded=%d duplicates=%d quarantined=%d "
                "unchanged=%d", summary["source"], summary["batch_id"], summary["fetched"],
                summary["loaded"], summary["duplicates"], summary["quarantined"],
                summary["unchanged"])
    publish_run_artifacts(summary)
    if emit_event:
        rt.emit(rt.EVENT_WAREHOUSE_LOADED, resource_id=f"aied.warehouse.{run.run_id}",
                payload={k: v for k, v in summary.items() if k != "quality"})
    return summary


def publish_run_artifacts(summary: dict[str, Any]) -> None:
    """A markdown summary of the counts and a table of the quality results."""
    counts = ("fetched", "loaded", "duplicates", "quarantined", "unchanged", "deleted")
    table = "| " + " | ".join(counts) + " |\n|" + "---|" * len(counts) + "\n| " + \
        " | ".join(str(summary[c]) for c in counts) + " |\n"
    create_markdown_artifact(
        key="process-counts", description=f"Batch {summary['batch_id']}",
        markdown=(f"### {summary['source']} batch `{summary['batch_id']}`\n\n{table}\n"
                  f"Reconciled (fetched = loaded + duplicates + quarantined): "
                  f"**{summary['reconciled']}**\n"),
    )
    if summary.get("quality"):
        create_table_artifact(key="quality-results", table=summary["quality"],
                              description="great-expectations results for the batch")
