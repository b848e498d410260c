"""Alembic environment for the warehouse.

The target metadata is :data:`warehouse.schema.metadata`. A connection handed over in
``config.attributes["connection"]`` (what :func:`warehouse.db.upgrade_warehouse` does) is used
as is; otherwise the URL comes from ``-x url=...``, then ``sqlalchemy.url`` in the ini file,
then ``AIED_WAREHOUSE_URL``, then ``sqlite:///data/warehouse.sqlite``. SQLite migrations run
in batch mode (``render_as_batch``) because SQLite cannot alter most things in place.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from warehouse.db import create_warehouse_engine, normalise_url
from warehouse.schema import metadata

DEFAULT_URL = "sqlite:///data/warehouse.sqlite"

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = metadata


def _url() -> str:
    x_args = context.get_x_argument(as_dictionary=True)
    return (
        x_args.get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("AIED_WAREHOUSE_URL")
        or DEFAULT_URL
    )


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        compare_server_default=True,
        transaction_per_migration=False,
    )


def run_migrations_offline() -> None:
    """Emit the migration SQL (``alembic upgrade head --sql``) without a database."""
    url = normalise_url(_url())
    context.configure(
        url=url,
        target_metadata=target_metadata,
        render_as_batch=url.get_backend_name() == "sqlite",
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on a live connection."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_warehouse_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
