"""The SQL warehouse: one SQLAlchemy Core schema, Alembic migrations, idempotent loads."""
