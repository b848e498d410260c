"""Ingest: fetch a source politely and land every response; emit ``aied.batch.landed``."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.concurrency.sync import concurrency

from flows import runtime as rt
from flows.extract import (
    DEFAULT_OVERLAP_DAYS,
    ExtractRequest,
    LandedBatch,
    incremental_since,
    land_stream,
    open_stream,
)
from flows.progress import fetch_progress
from flows.settings import http_limits
from sources.http import build_session
from warehouse.state import get_watermark, known_record_urls, set_watermark


def build_request(runtime: rt.Runtime, source: str, scope: str | None, *,
                  base_url: str | None, since: date | None, full: bool = False,
                  max_pages: int | None = None, max_issues: int | None = None,
                  ) -> ExtractRequest:
    """Turn settings, aied.toml and the stored watermark into one extract request."""
    settings, config = runtime.settings, runtime.config
    options = dict(config.source(source))
    if max_issues is not None:
        options["max_issues"] = max_issues
    if scope is None:
        journals = config.journals_on(source)
        scope = journals[0].issn if journals else options.get("scope", source)
    if since is None and not full:
        watermark, _ = get_watermark(runtime.engine, source, scope)
        since = incremental_since(
            watermark, overlap_days=int(options.get("overlap_days", DEFAULT_OVERLAP_DAYS)))
    api_key = {"openalex": settings.secret("openalex_api_key"),
               "pubmed": settings.secret("ncbi_api_key")}.get(source)
    known = known_record_urls(runtime.engine, source) if source == "magtech" and not full \
        else frozenset()
    return ExtractRequest(
        source=source, scope=scope, base_url=base_url, since=since, options=options,
        contact_email=settings.secret("contact_email"), api_key=api_key, known_urls=known,
        max_pages=max_pages,
    )


@task(name="fetch-and-land", retries=0, cache_policy=NO_CACHE)
def fetch_and_land(request: ExtractRequest, data_dir: Path, *, is_shared_rate: bool) -> LandedBatch:
    """Run the provider client and land every response (one task per batch)."""
    from sources.http import MinIntervalThrottle

    logger = get_run_logger()
    runtime = rt.open_runtime()
    throttle = (rt.prefect_throttle(request.source) if is_shared_rate
                else MinIntervalThrottle(1.0 / rt.provider_rate(runtime.config, request.source)))
    session = build_session(contact_email=request.contact_email,
                            **http_limits(request.options))
    with (concurrency(rt.ingest_limit_name(request.source), occupy=1, strict=False),
          fetch_progress(request.source) as tick):
        batch = land_stream(open_stream(request, session, throttle), data_dir=data_dir,
                            request=request, on_response=tick)
    logger.info("source=%s scope=%s batch=%s landed=%d statuses=%s", batch.source, batch.scope,
                batch.batch_id, batch.count, batch.statuses)
    return batch


@flow(name="aied-ingest", flow_run_name="ingest-{source}")
def ingest_flow(source: str, scope: str | None = None, base_url: str | None = None,
                since: date | None = None, full: bool = False, max_pages: int | None = None,
                max_issues: int | None = None, emit_event: bool = True) -> dict[str, Any]:
    """Fetch one source (one journal/query scope) into a new landing batch.

    ``max_issues`` (journal sites) stops after that many issues, the current one first: a
    new-issue ingest passes 1.
    """
    runtime = rt.open_runtime()
    rt.ensure_limits(runtime.config, [source])
    request = build_request(runtime, source, scope, base_url=base_url, since=since, full=full,
                            max_pages=max_pages, max_issues=max_issues)
    old_watermark, state = get_watermark(runtime.engine, source, request.scope)
    paused_until = state.get("paused_until")
    if paused_until and datetime.fromisoformat(paused_until) > datetime.now(UTC):
        get_run_logger().warning("source=%s scope=%s: budget spent, paused until %s; "
                                 "nothing fetched", source, request.scope, paused_until)
        return {"source": source, "scope": request.scope, "skipped": True,
                "paused_until": paused_until}
    batch = fetch_and_land(request, runtime.settings.data_dir, is_shared_rate=True)
    if batch.budget_exhausted_until is not None:  # incomplete harvest: the window stays open
        paused = batch.budget_exhausted_until.isoformat()
        set_watermark(runtime.engine, source, batch.scope, old_watermark,
                      {"last_batch": batch.batch_id, "paused_until": paused})
        get_run_logger().warning("source=%s scope=%s: budget spent; batch %s holds %d "
                                 "responses; paused until %s", source, batch.scope,
                                 batch.batch_id, batch.count, paused)
    else:
        set_watermark(runtime.engine, source, batch.scope, batch.watermark,
                      {"last_batch": batch.batch_id})
    summary = {"source": source, "scope": batch.scope, "batch_id": batch.batch_id,
               "batch_path": str(batch.path), "count": batch.count,
               "since": since.isoformat() if since else request.since and request.since.isoformat(),
               "watermark": batch.watermark if batch.budget_exhausted_until is None
               else old_watermark,
               "paused_until": batch.budget_exhausted_until and
               batch.budget_exhausted_until.isoformat()}
    if emit_event:
        rt.emit(rt.EVENT_BATCH_LANDED, resource_id=f"aied.batch.{batch.batch_id}",
                payload=summary)
    create_markdown_artifact(
        key=f"ingest-{source}", description=f"Ingest of {source}",
        markdown=(f"### Ingest {source} ({batch.scope})\n\n| batch | landed | since | watermark |\n"
                  f"|---|---|---|---|\n| `{batch.batch_id}` | {batch.count} | "
                  f"{summary['since']} | {batch.watermark} |\n"),
    )
    return summary
