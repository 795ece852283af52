"""The metric store under real faults: lock waits that end, schemas of dqx's own, and a
migration history that an application's alembic leaves alone."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text

from dqx.common import StoreError, new_execution_id
from dqx.orm.repositories import Metric, MetricDB

DAY = dt.date(2024, 3, 10)


def _metric(execution_id: str) -> Metric:
    return Metric("num_rows", {}, "num_rows()", "orders", DAY, {}, 7.0, execution_id)


@pytest.fixture
def schema_url(postgres_database: str) -> Iterator[tuple[str, str]]:
    """A database URL and a fresh schema name, dropped afterwards."""
    schema = f"dq_{secrets.token_hex(5)}"
    yield postgres_database, schema
    conninfo = postgres_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


class _Lock:
    """Another connection holds dq_metric locked, as a long job would, until released
    or ``seconds`` pass."""

    def __init__(self, conninfo: str, schema: str, seconds: float) -> None:
        self._release = threading.Event()
        started = threading.Event()

        def hold() -> None:
            with psycopg.connect(conninfo) as connection:
                connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
                connection.execute("LOCK TABLE dq_metric IN ACCESS EXCLUSIVE MODE")
                started.set()
                self._release.wait(seconds)
                connection.rollback()

        self._thread = threading.Thread(target=hold, daemon=True)
        self._thread.start()
        assert started.wait(10)

    def join(self) -> None:
        self._release.set()
        self._thread.join()


def _holding_lock(conninfo: str, schema: str, seconds: float) -> _Lock:
    return _Lock(conninfo, schema, seconds)


@pytest.mark.slow
def test_a_write_blocked_by_a_lock_gives_up_after_its_timeout_and_names_the_wait(
    schema_url: tuple[str, str],
) -> None:
    url, schema = schema_url
    db = MetricDB(url, schema=schema, timeout=0.3)
    db.ensure_schema()
    holder = _holding_lock(url.replace("postgresql+psycopg", "postgresql"), schema, 8)
    started = time.monotonic()
    with pytest.raises(StoreError, match="lock timeout") as failed:
        db.persist([_metric(new_execution_id())])
    waited = time.monotonic() - started
    # Three attempts of 0.3 s each and 0.5 + 1 s of backoff: bounded, not the 8 s lock.
    assert waited < 5, waited
    assert "persist 1 metrics" in str(failed.value)
    holder.join()
    db.dispose()


def test_a_lock_released_while_retrying_lets_the_write_through(
    schema_url: tuple[str, str],
) -> None:
    url, schema = schema_url
    db = MetricDB(url, schema=schema, timeout=0.3)
    db.ensure_schema()
    holder = _holding_lock(url.replace("postgresql+psycopg", "postgresql"), schema, 0.6)
    run = new_execution_id()
    assert db.persist([_metric(run)]) == 1
    assert [m.value for m in db.metrics_for_execution(run)] == [7.0]
    holder.join()
    db.dispose()


def test_dqx_connections_carry_their_lock_and_statement_timeouts(
    schema_url: tuple[str, str],
) -> None:
    url, schema = schema_url
    db = MetricDB(url, schema=schema, timeout=2)
    with db.engine.connect() as connection:
        shown = {
            name: connection.execute(text(f"SHOW {name}")).scalar()
            for name in ("lock_timeout", "statement_timeout", "search_path")
        }
    assert shown == {"lock_timeout": "2s", "statement_timeout": "20s", "search_path": schema}
    default = MetricDB(url)
    with default.engine.connect() as connection:
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "30s"
    # What the URL says wins over dqx's default.
    own = MetricDB(f"{url}?options=-c%20lock_timeout%3D7s")
    with own.engine.connect() as connection:
        assert connection.execute(text("SHOW lock_timeout")).scalar() == "7s"
    for store in (db, default, own):
        store.dispose()


def test_a_schema_of_its_own_holds_every_dqx_table_and_its_migration_history(
    schema_url: tuple[str, str],
) -> None:
    url, schema = schema_url
    db = MetricDB(url, schema=schema)
    run = new_execution_id()
    db.persist([_metric(run)])
    conninfo = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        }
        elsewhere = connection.execute(
            "SELECT table_schema FROM information_schema.tables "
            "WHERE table_name = 'dq_metric' AND table_schema <> %s",
            (schema,),
        ).fetchall()
    assert tables == {
        "dq_metric",
        "dq_run",
        "dq_assertion",
        "dq_statement",
        "dq_bad_run",
        "dqx_alembic_version",
    }
    assert elsewhere == []
    assert [m.value for m in MetricDB(url, schema=schema).metrics_for_execution(run)] == [7.0]
    db.dispose()


def test_a_schema_on_sqlite_or_with_an_engine_is_refused_saying_why(tmp_path: object) -> None:
    with pytest.raises(StoreError, match="schemas are PostgreSQL's"):
        MetricDB("sqlite://", schema="dq")
    engine = MetricDB("sqlite://").engine
    with pytest.raises(StoreError, match="Engine you built is used as it is"):
        MetricDB(engine, timeout=5)
