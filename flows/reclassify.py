"""Reclassify (triggered by ``aied.taxonomy.changed`` or ``aied reclassify``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows import runtime as rt


@task(name="reclassify-warehouse", cache_policy=NO_CACHE)
def reclassify_task(taxonomy_path: str | None) -> dict[str, Any]:
    """Re-merge and re-label every publication with the given taxonomy."""
    from flows.steps import topic_rows
    from transforms.classify import classify_topics, load_taxonomy
    from warehouse.load import upsert_topics
    from warehouse.reclassify import reclassify_all

    env = rt.open_runtime()
    taxonomy = load_taxonomy(Path(taxonomy_path) if taxonomy_path else None)
    upsert_topics(env.engine, topic_rows(taxonomy.version, taxonomy.topics))
    return reclassify_all(env.engine, lambda pubs: classify_topics(pubs, taxonomy))


@flow(name="aied-reclassify", flow_run_name="reclassify")
def reclassify_flow(taxonomy_path: str | None = None, emit_event: bool = True) -> dict[str, Any]:
    """Relabel the warehouse after a taxonomy change; earlier versions' rows are kept."""
    result = reclassify_task(taxonomy_path)
    get_run_logger().info("reclassified %d publications with taxonomy %s (AI: %d -> %d)",
                          result["reclassified"], result["taxonomy_version"],
                          result["ai_before"], result["ai_after"])
    create_markdown_artifact(key="reclassify", markdown=(
        f"### Reclassified with taxonomy {result['taxonomy_version']}\n\n"
        f"| publications | AI before | AI after |\n|---|---|---|\n"
        f"| {result['reclassified']} | {result['ai_before']} | {result['ai_after']} |\n"))
    if emit_event:
        rt.emit(rt.EVENT_WAREHOUSE_LOADED, resource_id="aied.warehouse.reclassified",
                payload=result)
    return result
