"""The alembic environment of the metric database.

dqx runs it itself (:func:`dqx.orm.schema.ensure_schema`), handing over a connection
that already holds the migration lock. A developer adding a revision runs alembic
against a scratch database, e.g. with an ini file holding
``script_location = dqx.orm:migrations``::

    alembic -c dev.ini -x url=sqlite:///scratch.db upgrade head
    alembic -c dev.ini -x url=sqlite:///scratch.db revision --autogenerate -m "..."
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from dqx.orm.models import Base
from dqx.orm.schema import VERSION_TABLE


def _migrate(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        version_table=VERSION_TABLE,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run() -> None:
    shared = context.config.attributes.get("connection")
    if isinstance(shared, Connection):
        _migrate(shared)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with -x url=<SQLAlchemy URL>")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            _migrate(connection)
            connection.commit()
    finally:
        engine.dispose()


_run()
