"""The schema: made by the packaged migrations on first use, equal to the models, race-safe."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text

from dqx.common import StoreError, new_execution_id
from dqx.orm.models import Base
from dqx.orm.repositories import Metric, MetricDB
from dqx.orm.schema import VERSION_TABLE, current_revision, head_revision, migration_config

DAY = dt.date(2024, 3, 10)
WORKERS = 4


def _metric(execution_id: str, name: str = "num_rows()") -> Metric:
    return Metric("num_rows", {}, name, "orders", DAY, {"env": "prod"}, 7.0, execution_id)


def test_migrated_schema_equals_the_models(store: MetricDB) -> None:
    store.ensure_schema()
    with store.engine.connect() as connection:
        options = {"compare_type": True, "version_table": VERSION_TABLE}
        context = MigrationContext.configure(connection, opts=options)
        assert compare_metadata(context, Base.metadata) == []
        assert current_revision(connection) == head_revision()


def test_json_columns_are_jsonb_on_postgresql(postgres_url: str) -> None:
    db = MetricDB(postgres_url)
    try:
        db.ensure_schema()
        with db.engine.connect() as connection:
            types = dict(
                connection.execute(
                    text(
                        "SELECT column_name, data_type FROM information_schema.columns "
                        "WHERE table_schema = current_schema() AND table_name = 'dq_metric'"
                    )
                ).all()
            )
        assert types["tags"] == types["parameters"] == "jsonb"
        assert types["value"] == "double precision"
    finally:
        db.dispose()


_DIALECT_PROBE = """
import datetime, sys
from dqx.orm.repositories import Metric, MetricDB
db = MetricDB(sys.argv[1])
db.persist([Metric("num_rows", {}, "num_rows()", "orders", datetime.date(2024, 3, 10),
                   {"env": "prod"}, 7.0, "a" * 32)])
print(sorted(m for m in sys.modules if "dialects.postgresql" in m))
"""


def test_a_sqlite_store_never_imports_the_postgresql_dialect(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'probe.db'}"
    # Created here: the migrations name JSONB, and a store at the head revision loads
    # none of them.
    created = MetricDB(url)
    created.ensure_schema()
    created.dispose()
    # A fresh interpreter: this test process has imported the dialect long ago.
    done = subprocess.run(
        [sys.executable, "-c", _DIALECT_PROBE, url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_opening_touches_nothing_until_first_use(tmp_path: Path) -> None:
    path = tmp_path / "later.db"
    db = MetricDB(f"sqlite:///{path}")
    assert not path.exists()
    assert db.runs() == []
    assert path.exists()


def _database_at(url: str, revision: str, *, version_table: str) -> None:
    """A database as an older dqx left it: its tables at ``revision``."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    engine = create_engine(url)
    with engine.begin() as connection:
        command.upgrade(migration_config(connection), revision)
        connection.execute(text(f"DROP TABLE {VERSION_TABLE}"))
        if version_table:
            context = MigrationContext.configure(connection, opts={"version_table": version_table})
            context.stamp(ScriptDirectory.from_config(migration_config()), revision)
    engine.dispose()


def test_a_database_from_before_migrations_is_adopted_with_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    _database_at(url, "0001", version_table="")
    run = new_execution_id()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO dq_metric (id, kind, parameters, name, dataset, yyyy_mm_dd, tags, "
                "identity, value, execution_id, origin, created) VALUES ('a' || :r, 'num_rows', "
                "'{}', 'num_rows()', 'orders', '2024-03-10', '{}', 'x', 7.0, :r, 'computed', "
                "'2024-03-10 00:00:00')"
            ),
            {"r": run},
        )
    engine.dispose()

    db = MetricDB(url)
    assert [m.value for m in db.metrics_for_execution(run)] == [7.0]
    with db.engine.connect() as connection:
        assert current_revision(connection) == head_revision()


def test_foreign_tables_of_the_same_name_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'foreign.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE dq_metric (id INTEGER PRIMARY KEY, v REAL)"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"lacks columns .*execution_id.* of dq_metric"):
        MetricDB(url).runs()


def test_a_revision_an_older_dqx_kept_in_alembic_version_moves_to_dqx_own_table(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    _database_at(url, "0001", version_table="alembic_version")
    engine = create_engine(url)
    with engine.begin() as connection:
        # The application's own migrations share the database and alembic's table.
        connection.execute(text("INSERT INTO alembic_version (version_num) VALUES ('ae1027a6')"))
    engine.dispose()

    db = MetricDB(url)
    assert db.runs() == []
    with db.engine.connect() as connection:
        assert current_revision(connection) == head_revision()
        legacy = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert legacy == [("ae1027a6",)]  # the application's revision, untouched
        columns = {c["name"] for c in inspect(connection).get_columns("dq_run")}
        assert {"trace_exported", "message"} <= columns


def test_an_applications_alembic_history_does_not_stop_dqx(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        connection.execute(text("INSERT INTO alembic_version VALUES ('f00dcafe')"))
        connection.execute(text("CREATE TABLE orders (id INTEGER)"))
    engine.dispose()
    db = MetricDB(url)
    db.persist([_metric(new_execution_id())])
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).all() == [
            ("f00dcafe",)
        ]


def test_a_schema_from_a_newer_dqx_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'newer.db'}"
    MetricDB(url).runs()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match=r"revision '9999'.*newer dqx"):
        MetricDB(url).persist([_metric(new_execution_id())])


def _first_use(url: str, barrier: Any, results: Any, worker: int) -> None:
    try:
        db = MetricDB(url)
        barrier.wait(timeout=60)
        run = new_execution_id()
        db.persist([_metric(run, f"m{worker}")])
        results.put((worker, run, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, None, f"{type(exc).__name__}: {exc}"))


def _race_to_create(url: str) -> list[str]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    workers = [
        context.Process(target=_first_use, args=(url, barrier, results, i)) for i in range(WORKERS)
    ]
    for process in workers:
        process.start()
    outcomes = []
    for _ in workers:
        try:
            outcomes.append(results.get(timeout=120))
        except queue.Empty:
            break
    for process in workers:
        process.join(timeout=30)
    errors = [error for _, _, error in outcomes if error]
    assert not errors, errors
    assert len(outcomes) == WORKERS
    return [run for _, run, _ in outcomes]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_processes_creating_the_schema_at_once_all_succeed(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'fresh.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    runs = _race_to_create(url)
    db = MetricDB(url)
    try:
        with db.engine.connect() as connection:
            versions = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).all()
            assert versions == [(head_revision(),)]
        assert sorted(len(db.metrics_for_execution(run)) for run in runs) == [1] * WORKERS
    finally:
        db.dispose()


def test_the_fast_path_revision_constant_is_the_packaged_head() -> None:
    # Opening a current database skips alembic by comparing with this constant; if a
    # new migration forgets to bump it, databases would never be upgraded.
    from dqx.orm.schema import HEAD_REVISION

    assert head_revision() == HEAD_REVISION
