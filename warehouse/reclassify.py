"""Reclassify everything in the warehouse from stored fields (no refetch).

A new taxonomy version adds its own ``publication_topics`` and
``publication_classifications`` rows; the previous version's rows stay, so the two can be
compared. ``publications.is_ai_education``/``ai_score``/``taxonomy_version`` follow the new one.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
from sqlalchemy import Engine, bindparam, select, update

from transforms.canonical import CANONICAL_COLUMNS, CANONICAL_SCHEMA
from transforms.merge import merge_source_records
from warehouse import schema as s
from warehouse.load import Classifier, write_classification

BATCH = 20000


def reclassify_all(engine: Engine, classify: Classifier, *, batch_size: int = BATCH) -> dict:
    """Re-merge and re-classify every publication, one transaction per slice.

    Returns:
        Counts: publications reclassified, AI-in-education before and after.
    """
    with engine.connect() as conn:
        pub_ids = [r[0] for r in conn.execute(
            select(s.publications.c.pub_id).order_by(s.publications.c.pub_id))]
        before = conn.execute(select(s.publications.c.pub_id).where(
            s.publications.c.is_ai_education.is_(True))).all()
    done = 0
    version = None
    for start in range(0, len(pub_ids), batch_size):
        part = pub_ids[start:start + batch_size]
        with engine.begin() as conn:
            rows = []
            for chunk_start in range(0, len(part), 900):
                chunk = part[chunk_start:chunk_start + 900]
                rows += conn.execute(select(s.source_records.c.pub_id, s.source_records.c.record)
                                     .where(s.source_records.c.pub_id.in_(chunk))).all()
            if not rows:
                continue
            records = pl.read_ndjson("\n".join(r.record for r in rows).encode("utf-8"),
                                     schema=CANONICAL_SCHEMA).select(CANONICAL_COLUMNS)
            records = records.with_columns(pl.Series("pub_id", [r.pub_id for r in rows]))
            pubs = classify(merge_source_records(records))
            now = datetime.now(UTC)
            write_classification(conn, pubs, now)
            rows = [{"b_pub_id": p, "b_ai": a, "b_score": sc, "b_version": v, "b_now": now}
                    for p, a, sc, v in pubs.select("pub_id", "is_ai_education", "ai_score",
                                                   "taxonomy_version").iter_rows()]
            version = rows[-1]["b_version"] if rows else version
            stmt = (update(s.publications)
                    .where(s.publications.c.pub_id == bindparam("b_pub_id"))
                    .values(is_ai_education=bindparam("b_ai"), ai_score=bindparam("b_score"),
                            taxonomy_version=bindparam("b_version"),
                            updated_at=bindparam("b_now")))
            conn.execute(stmt, rows)
            done += pubs.height
    with engine.connect() as conn:
        after = conn.execute(select(s.publications.c.pub_id).where(
            s.publications.c.is_ai_education.is_(True))).all()
    return {"reclassified": done, "taxonomy_version": version,
            "ai_before": len(before), "ai_after": len(after)}
