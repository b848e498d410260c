"""Incremental state: watermarks per source and scope, and what a source already has."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select

from warehouse import schema as s
from warehouse.upsert import upsert_rows


def get_watermark(engine: Engine, source: str, scope: str) -> tuple[str | None, dict[str, Any]]:
    """The stored watermark and provider state for (source, scope); (None, {}) if none."""
    with engine.connect() as conn:
        row = conn.execute(select(s.source_state.c.watermark, s.source_state.c.state).where(
            s.source_state.c.source == source, s.source_state.c.scope == scope)).first()
    if row is None:
        return None, {}
    return row.watermark, json.loads(row.state) if row.state else {}


def set_watermark(engine: Engine, source: str, scope: str, watermark: str | None,
                  state: dict[str, Any] | None = None) -> None:
    """Store the watermark (and provider state) for (source, scope)."""
    with engine.begin() as conn:
        upsert_rows(conn, s.source_state, [{
            "source": source, "scope": scope, "watermark": watermark,
            "updated_at": datetime.now(UTC),
            "state": json.dumps(state or {}, ensure_ascii=False, sort_keys=True),
        }], keys=["source", "scope"])


def known_record_urls(engine: Engine, source: str) -> frozenset[str]:
    """URLs of the records a source has already loaded (to skip refetching article pages)."""
    query = (
        select(s.publications.c.url)
        .select_from(s.source_records.join(
            s.publications, s.source_records.c.pub_id == s.publications.c.pub_id))
        .where(s.source_records.c.source == source, s.publications.c.url.is_not(None))
    )
    with engine.connect() as conn:
        return frozenset(r[0] for r in conn.execute(query))


def processed_batches(engine: Engine) -> frozenset[str]:
    """Batch ids that a run has loaded successfully."""
    query = select(s.etl_runs.c.batch_id).where(s.etl_runs.c.status == "succeeded")
    with engine.connect() as conn:
        return frozenset(r[0] for r in conn.execute(query) if r[0])
