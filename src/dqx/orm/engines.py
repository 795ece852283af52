"""Engines for the metric database: SQLite tuned for several writers, PostgreSQL on
psycopg 3, and what must never be shown of a database URL (its password, as SQLAlchemy
reads it), for :func:`~dqx.redaction.redact` to hide."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import StaticPool

from dqx.common import StoreError
from dqx.redaction import redact

__all__ = [
    "BUSY_TIMEOUT_MS",
    "DEFAULT_TIMEOUT",
    "engine_for",
    "hide_password",
    "secrets_of",
]

BUSY_TIMEOUT_MS = 60_000
#: Seconds a PostgreSQL statement of dqx's may wait for a lock (lock_timeout).
DEFAULT_TIMEOUT = 30.0
#: statement_timeout is this many times the lock timeout: a guard against runaways,
#: not a limit a healthy history read or metric write comes near.
STATEMENT_TIMEOUT_FACTOR = 10


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if in_memory:
        # One connection shared by every session, or each would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself, so writers can take the
        # write lock up front (BEGIN IMMEDIATE) instead of failing to upgrade later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if not in_memory:
                _use_wal(cursor)
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get("dqx_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    # WAL lets readers run beside the one writer. The mode is stored in the file, so
    # only the first connection to a fresh file switches it; switching needs an
    # exclusive lock, which SQLite refuses at once (no busy wait) while a second
    # process opens the same fresh file: retry until it is in WAL mode.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def engine_for(
    url_or_engine: str | URL | Engine, *, schema: str | None = None, timeout: float | None = None
) -> Engine:
    """The engine for a URL, or the caller's Engine as it is.

    On PostgreSQL, ``schema`` keeps dqx's tables in that schema and ``timeout`` (seconds)
    bounds every lock wait; an Engine the caller built is theirs to configure.
    """
    if isinstance(url_or_engine, Engine):
        if schema is not None or timeout is not None:
            raise StoreError(
                "MetricDB(engine, schema=..., timeout=...): an Engine you built is used as it "
                "is; pass a URL to let dqx set the schema and timeouts on its connections"
            )
        return url_or_engine
    if not isinstance(url_or_engine, str | URL) or not str(url_or_engine):
        raise StoreError(
            # Not the value itself: whatever it is, it may hold a password.
            f"MetricDB needs a database URL or an Engine, got {type(url_or_engine).__name__}"
        )
    try:
        url = make_url(url_or_engine)
        if url.drivername in ("postgresql", "postgres"):
            # dqx depends on psycopg 3, not SQLAlchemy's default psycopg2.
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite":
            if schema is not None:
                raise StoreError(
                    f"MetricDB(..., schema={schema!r}): schemas are PostgreSQL's; a SQLite "
                    "file keeps dqx's tables in itself"
                )
            return _sqlite_engine(url)
        engine = create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(
            f"cannot open metric database {hide_password(url_or_engine)}: "
            f"{type(exc).__name__}: {redact(str(exc), secrets_of(url_or_engine))}"
        ) from None
    if engine.dialect.name == "postgresql":
        _configure_postgres(engine, url, schema, DEFAULT_TIMEOUT if timeout is None else timeout)
    return engine


def _configure_postgres(engine: Engine, url: URL, schema: str | None, timeout: float) -> None:
    if not timeout > 0:
        raise StoreError(f"MetricDB(..., timeout={timeout!r}): the timeout must be > 0 seconds")
    # Settings the URL already makes (?options=-c lock_timeout=...) are the user's word.
    given = str(url.query.get("options", ""))
    settings: list[tuple[str, str]] = []
    if "lock_timeout" not in given:
        settings.append(("lock_timeout", f"{int(timeout * 1000)}ms"))
    if "statement_timeout" not in given:
        settings.append(
            ("statement_timeout", f"{int(timeout * 1000) * STATEMENT_TIMEOUT_FACTOR}ms")
        )
    quoted_schema = engine.dialect.identifier_preparer.quote(schema) if schema else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            for name, value in settings:
                cursor.execute("SELECT set_config(%s, %s, false)", (name, value))
            if quoted_schema is not None:
                cursor.execute(f"SET search_path TO {quoted_schema}")
        # A SET inside a transaction that is rolled back is undone: keep it.
        dbapi_connection.commit()


def hide_password(url: str | URL) -> str:
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError):
        return "<unparseable database URL>"
    return redact(parsed.render_as_string(hide_password=True), secrets_of(url))


def secrets_of(url: str | URL) -> list[str]:
    """What must never be shown of a database URL: its password, as SQLAlchemy reads
    it (which, unlike a browser, allows a '/' or '@' in it)."""
    try:
        password = make_url(url).password
    except (SQLAlchemyError, ValueError):
        # Unparseable, so no telling where the password is: hide the whole text.
        return [str(url)]
    return [str(password)] if password else []
