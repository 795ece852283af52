"""The metric database's schema: created and migrated on first use, by alembic.

The migration scripts ship inside the package (``dqx/orm/migrations``), so users
need no alembic.ini. Several processes may open a fresh database at the same
moment: on PostgreSQL the migration runs under a transaction-scoped advisory lock;
on SQLite under the write lock that ``BEGIN IMMEDIATE`` takes (engines MetricDB
builds issue it for ``dqx_write`` connections), with a retry for engines a caller
built without it. Whoever gets the lock second finds the schema current and
leaves it alone.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from dqx.common import StoreError
from dqx.orm.models import Base
from dqx.runlog import get_logger

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

__all__ = [
    "HEAD_REVISION",
    "VERSION_TABLE",
    "current_revision",
    "ensure_schema",
    "head_revision",
    "migration_config",
]

#: The newest packaged revision. Kept here so that opening a current database costs
#: one SELECT and no alembic import (~0.1 s of every CLI run); a test checks it
#: against the migration scripts.
HEAD_REVISION = "0004"
#: dqx's own alembic version table: an application that migrates the same database
#: with alembic keeps ``alembic_version`` to itself.
VERSION_TABLE = "dqx_alembic_version"
_LEGACY_VERSION_TABLE = "alembic_version"

# Records logged during a run carry its execution id.
log = get_logger(__name__)

_SCRIPT_LOCATION = "dqx.orm:migrations"
# Any fixed 64-bit key will do as long as nothing else in the database uses it;
# these are the bytes of "dqx.sch".
_PG_LOCK_KEY = 0x6471782E736368
_ATTEMPTS = 6
# The revision whose tables the pre-alembic dqx made with create_all(), and their
# columns, frozen here: later revisions change the models, not the baseline.
_BASELINE = "0001"
_BASELINE_COLUMNS = {
    "dq_metric": (
        "id kind parameters name dataset yyyy_mm_dd tags identity value execution_id origin "
        "source_execution_id suite created"
    ),
    "dq_run": (
        "execution_id suite yyyy_mm_dd tags started finished status trace_sampled metric_count "
        "assertions_ok assertions_failed assertions_error"
    ),
    "dq_assertion": (
        "id execution_id check assertion severity status value message expression bound"
    ),
}


def migration_config(connection: Connection | None = None) -> Config:
    """An alembic Config for the packaged migrations, optionally bound to a connection."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPT_LOCATION)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(migration_config()).get_current_head()
    assert head is not None, "the packaged migrations have no head revision"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at; None for a database dqx never migrated."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def _is_current(engine: Engine) -> bool:
    # Fast path without alembic: a database at head has exactly this one version row.
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return False
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
    except SQLAlchemyError:
        return False
    return [row[0] for row in versions] == [HEAD_REVISION]


def ensure_schema(engine: Engine) -> None:
    """Bring the database to the newest schema; cheap when it already is."""
    if _is_current(engine):
        return
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migration_config())
    head = script.get_current_head()
    with engine.connect() as connection:
        current = current_revision(connection) or _legacy_revision(connection, script)
    if current == head:
        return
    if current is not None:
        _known(script, current, head)
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            _migrate(engine, script)
            return
        except SQLAlchemyError as exc:
            # A concurrent creator may have won a race this engine could not lock
            # against ("table already exists", "database is locked"): fine if the
            # schema is now current, worth another try if the database was busy.
            with engine.connect() as connection:
                if current_revision(connection) == head:
                    return
            if attempt == _ATTEMPTS or not _busy(exc):
                raise
            time.sleep(0.05 * 2**attempt)


def _migrate(engine: Engine, script: ScriptDirectory) -> None:
    from alembic import command

    head = script.get_current_head()
    with engine.connect().execution_options(dqx_write=True) as connection, connection.begin():
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        current = current_revision(connection)
        if current == head:
            return
        if current is None and _legacy_revision(connection, script) is not None:
            current = _move_legacy_version(connection, script)
        if current is None and _has_dqx_tables(connection):
            _adopt(connection)
        else:
            _known(script, current, head)
        log.info("migrating the metric database from %s to %s", current or "nothing", head)
        command.upgrade(migration_config(connection), "head")


def _known(script: ScriptDirectory, current: str | None, head: str | None) -> None:
    from alembic.util.exc import CommandError

    if current is None:
        return
    try:
        script.get_revision(current)
    except CommandError:
        raise StoreError(
            f"the metric database's schema is at revision {current!r}, which this version "
            f"of dqx does not know (its newest is {head!r}); it was migrated by a newer dqx: "
            "upgrade dqx to use it"
        ) from None


def _legacy_revision(connection: Connection, script: ScriptDirectory) -> str | None:
    """A dqx revision recorded in alembic's default table by dqx before 0002."""
    if not inspect(connection).has_table(_LEGACY_VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {_LEGACY_VERSION_TABLE}")).all()
    known = {revision.revision for revision in script.walk_revisions()}
    ours = [row[0] for row in rows if row[0] in known]
    return ours[0] if len(ours) == 1 and _has_dqx_tables(connection) else None


def _move_legacy_version(connection: Connection, script: ScriptDirectory) -> str | None:
    # dqx once kept its revision in alembic_version, which an application's own
    # migrations share: move it to dqx's table, leaving any other row where it is.
    revision = _legacy_revision(connection, script)
    if revision is None:
        return None
    from alembic import command

    log.info("moving dqx's schema revision %s to %s", revision, VERSION_TABLE)
    command.stamp(migration_config(connection), revision)
    connection.execute(
        text(f"DELETE FROM {_LEGACY_VERSION_TABLE} WHERE version_num = :revision"),
        {"revision": revision},
    )
    left = connection.execute(text(f"SELECT COUNT(*) FROM {_LEGACY_VERSION_TABLE}")).scalar()
    if not left:
        connection.execute(text(f"DROP TABLE {_LEGACY_VERSION_TABLE}"))
    return revision


def _has_dqx_tables(connection: Connection) -> bool:
    return bool(set(Base.metadata.tables) & set(inspect(connection).get_table_names()))


def _adopt(connection: Connection) -> None:
    # Databases from before migrations have the baseline's tables and columns but no
    # version table: record them as the baseline, so later revisions apply on top.
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    for table, columns in _BASELINE_COLUMNS.items():
        if table not in present:
            missing = f"table {table}"
        else:
            have = {column["name"] for column in inspector.get_columns(table)}
            lacking = sorted(set(columns.split()) - have)
            missing = f"columns {', '.join(lacking)} of {table}" if lacking else ""
        if missing:
            raise StoreError(
                f"the metric database has dqx tables but no migration history, and lacks "
                f"{missing}; it was not made by dqx: use another database"
            )
    from alembic import command

    log.info("adopting an unversioned metric database as revision %s", _BASELINE)
    command.stamp(migration_config(connection), _BASELINE)


def _busy(exc: SQLAlchemyError) -> bool:
    if not isinstance(exc, OperationalError):
        return False
    message = str(exc.orig).lower()
    return "locked" in message or "busy" in message
