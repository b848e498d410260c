"""Publications keep their matching keys, indexed, so a load reads only candidate matches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07

``publications.title_key`` and ``journal_key`` (the keys the loader matches new records on)
were computed from every publication's title on every load; they are now stored, filled here
for existing rows with the loader's own expressions, and indexed together with ``pub_year``,
``doi`` and ``pub_id`` (a covering index: a load reads the candidates of its records' year
and journal blocks without touching the wide publication rows).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import sqlalchemy as sa
from alembic import op

from transforms.dedupe import publication_key_exprs

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL_CHUNK = 50_000


def upgrade() -> None:
    """Add the key columns, fill them for existing publications, index them."""
    op.add_column("publications", sa.Column(
        "title_key", sa.Text(), nullable=True,
        comment="Matching key of the title (Chinese title first): NFKC, lower-case, "
                "letters and digits only"))
    op.add_column("publications", sa.Column(
        "journal_key", sa.Text(), nullable=True,
        comment="Matching key of the journal: the ISSN, else the journal title's key"))
    _backfill(op.get_bind())
    op.create_index("ix_publications_match_keys", "publications",
                    ["journal_key", "pub_year", "title_key", "doi", "pub_id"])


def downgrade() -> None:
    """Drop the index and the key columns (SQLite 3.35+ drops columns in place, which keeps
    the views that read the table; a batch copy of the table would break them)."""
    op.drop_index("ix_publications_match_keys", table_name="publications")
    op.drop_column("publications", "journal_key")
    op.drop_column("publications", "title_key")


def _backfill(conn: sa.Connection) -> None:
    rows = conn.execute(sa.text(
        "SELECT pub_id, title, title_zh, journal_issn, journal_title FROM publications")).all()
    if not rows:
        return
    frame = pl.DataFrame(rows, schema={c: pl.String for c in (
        "pub_id", "title", "title_zh", "journal_issn", "journal_title")}, orient="row")
    keys = frame.select("pub_id", *publication_key_exprs())
    update = sa.text("UPDATE publications SET title_key = :title_key, journal_key = :journal_key"
                     " WHERE pub_id = :pub_id")
    for part in keys.iter_slices(_BACKFILL_CHUNK):
        conn.execute(update, part.to_dicts())
