"""Shared wiring for flows and the CLI: settings, config, warehouse, rate limits, events."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from flows.settings import ProjectConfig, Settings, get_settings, load_config

log = logging.getLogger(__name__)

EVENT_BATCH_LANDED = "aied.batch.landed"
EVENT_WAREHOUSE_LOADED = "aied.warehouse.loaded"
EVENT_TAXONOMY_CHANGED = "aied.taxonomy.changed"
EVENT_QUALITY_FAILED = "aied.quality.failed"
EVENT_ISSUE_DETECTED = "aied.magtech.issue.detected"
EVENT_FILE_DROPPED = "aied.inbox.file.dropped"

WAREHOUSE_LOAD_LIMIT = "aied-warehouse-load"


@dataclass
class Runtime:
    """Settings, configuration and an upgraded warehouse engine for one process."""

    settings: Settings
    config: ProjectConfig
    engine: Engine


_ENGINES: dict[str, Engine] = {}
#: Alembic's command API is not thread-safe: flows started in threads upgrade one at a time.
_OPEN_LOCK = threading.Lock()


def open_runtime(*, upgrade: bool = True) -> Runtime:
    """Read settings and aied.toml, open (and migrate) the warehouse."""
    from warehouse.db import create_warehouse_engine, upgrade_warehouse

    settings = get_settings()
    config = load_config(settings.config_path)
    url = settings.warehouse_url
    with _OPEN_LOCK:
        if url not in _ENGINES:
            if upgrade:
                upgrade_warehouse(url)
            _ENGINES[url] = create_warehouse_engine(url)
    return Runtime(settings=settings, config=config, engine=_ENGINES[url])


def rate_limit_name(source: str) -> str:
    return f"aied-rate-{source}"


def ingest_limit_name(source: str) -> str:
    return f"aied-ingest-{source}"


def provider_rate(config: ProjectConfig, source: str) -> float:
    from flows.extract import DEFAULT_RATES

    return float(config.source(source).get("rate_per_second", DEFAULT_RATES.get(source, 1.0)))


def ensure_limits(config: ProjectConfig, sources: list[str] | None = None) -> list[dict[str, Any]]:
    """Create or update the Prefect global concurrency and rate limits (idempotent).

    Per provider: ``aied-rate-<source>`` (a rate limit: slots decay at the provider's
    requests per second) and ``aied-ingest-<source>`` (how many ingests may run at once);
    plus ``aied-warehouse-load`` (one load at a time).
    """
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import (
        GlobalConcurrencyLimitCreate,
        GlobalConcurrencyLimitUpdate,
    )
    from prefect.exceptions import ObjectNotFound

    from flows.extract import DEFAULT_RATES

    wanted: list[tuple[str, int, float | None]] = [(WAREHOUSE_LOAD_LIMIT, 1, None)]
    for source in sources or list(DEFAULT_RATES):
        rate = provider_rate(config, source)
        wanted.append((rate_limit_name(source), max(1, int(rate)), rate))
        parallel = int(config.source(source).get("max_concurrent_ingests", 1))
        wanted.append((ingest_limit_name(source), parallel, None))
    made = []
    with get_client(sync_client=True) as client:
        for name, limit, decay in wanted:
            try:
                client.read_global_concurrency_limit_by_name(name)
                client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(
                    limit=limit, slot_decay_per_second=decay or 0.0, active=True))
            except ObjectNotFound:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(
                    name=name, limit=limit, slot_decay_per_second=decay or 0.0, active=True))
            made.append({"name": name, "limit": limit, "slot_decay_per_second": decay})
    return made


def prefect_throttle(source: str) -> Callable[[], None]:
    """A throttle that takes one slot of the provider's shared Prefect rate limit."""
    from prefect.concurrency.sync import rate_limit

    name = rate_limit_name(source)

    def throttle() -> None:
        rate_limit(name, occupy=1, strict=True)

    return throttle


def emit(event: str, *, resource_id: str, payload: dict[str, Any],
         related: list[dict[str, str]] | None = None) -> str | None:
    """Emit a Prefect event; returns its id (None when events are disabled)."""
    from prefect.events import emit_event

    resource = {"prefect.resource.id": resource_id, "prefect.resource.name": resource_id}
    sent = emit_event(event=event, resource=resource, payload=payload, related=related)
    log.info("emitted %s for %s", event, resource_id)
    return str(sent.id) if sent is not None else None
