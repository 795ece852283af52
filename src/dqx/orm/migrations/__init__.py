"""Alembic migrations of the metric database, run by :func:`dqx.orm.schema.ensure_schema`."""
