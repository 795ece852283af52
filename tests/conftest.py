"""Shared test set-up: the Hypothesis profile, a way to measure metrics through a run,
the metric stores (a SQLite file; SQLite and PostgreSQL from one test body), the traced
provider, PostgreSQL and Spark. Helpers that are not fixtures are in ``tests.support``."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, settings
from returns.result import Result

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from tests.services import require_postgres
from tests.support.runs import Traced
from tests.support.stores import EngineValuesStore

# Moderate by default so `make test` stays fast on two shared cores; raise it locally
# with HYPOTHESIS_PROFILE=thorough when changing the engine.
settings.register_profile(
    "dqx",
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", parent=settings.get_profile("dqx"), max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dqx"))

DAY = dt.date(2024, 3, 10)

Measure = Callable[..., dict[str, Result[float, str]]]


def _measure(
    table: pa.Table,
    metrics: Mapping[str, Callable[[MetricProvider], Any]],
    *,
    key_date: dt.date = DAY,
    date_column: str | None = None,
    name: str = "data",
) -> dict[str, Result[float, str]]:
    """Run one suite over ``table`` and return each named metric expression's value.

    Every expression becomes an assertion whose bound is irrelevant: the value (or the
    reason there is none) is what the test compares with its oracle.
    """

    @check(name="measure")
    def measure(mp: MetricProvider, ctx: Context) -> None:
        for label, build in metrics.items():
            ctx.assert_that(build(mp)).where(name=label).is_geq(0)

    # The engine's values as they are: an empty lagged day is 0 or "no rows", not
    # warm-up (tests/e2e/test_warmup_and_prerequisites.py covers that).
    suite = VerificationSuite([measure], EngineValuesStore(), "measure suite")
    source = DuckRelationDataSource.from_arrow(table, name, date_column=date_column)
    suite.run([source], ResultKey(key_date))
    return {result.assertion: result.value for result in suite.collect_results()}


@pytest.fixture(scope="session")
def measure() -> Measure:
    return _measure


# -- PostgreSQL: the server at 127.0.0.1:5432, one fresh database per test session ------
# `make services` starts it; tests only connect (see tests/services.py for skip vs fail).


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The server's URL; skips when it is unreachable, fails under DQX_REQUIRE_SERVICES."""
    return require_postgres()


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str) -> Any:
    """A database of its own for this test session, dropped at the end."""
    import secrets

    import psycopg
    from psycopg import sql

    name = f"dqx_test_{secrets.token_hex(5)}"
    admin = "host=127.0.0.1 port=5432 dbname=test user=postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.fixture
def postgres_url(postgres_database: str) -> Any:
    """A URL whose tables live in a schema of their own: no test sees another's rows."""
    import secrets

    import psycopg
    from psycopg import sql

    schema = f"t_{secrets.token_hex(6)}"
    conninfo = postgres_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    yield f"{postgres_database}?options=-csearch_path%3D{schema}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# -- metric stores and tracing ----------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Iterator[MetricDB]:
    """A metric store in a SQLite file of the test's own."""
    store = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    yield store
    store.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL another process can open too: a SQLite file that does not exist yet, or
    a PostgreSQL schema of the test's own (skips or fails as tests/services.py says)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'metrics.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store(store_url: str) -> Iterator[MetricDB]:
    """The metric store on every backend ``store_url`` names: one test body for each."""
    opened = MetricDB(store_url)
    yield opened
    opened.dispose()


@pytest.fixture
def traced() -> Iterator[Traced]:
    """An SDK provider with an in-memory exporter, for ``tracer_provider=``."""
    tracing = Traced()
    yield tracing
    tracing.provider.shutdown()


# -- Spark: one local SparkSession for the whole test session ----------------------------


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A local SparkSession (two cores, no UI, two shuffle partitions), shared by every
    test that asks for it and stopped at the end.

    It fails, never skips, when pyspark cannot start: pyspark is in the test extra and
    Java 17 is on every machine the tests run on, so a Spark that does not start is a
    broken set-up, not a missing service.
    """
    try:
        from pyspark.sql import SparkSession

        session = (
            SparkSession.builder.master("local[2]")
            .appName("dqx-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .config("spark.default.parallelism", "2")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.driver.host", "127.0.0.1")
            .config("spark.driver.bindAddress", "127.0.0.1")
            .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("spark-warehouse")))
            .getOrCreate()
        )
    except Exception as exc:
        pytest.fail(
            f"pyspark could not start a local SparkSession ({type(exc).__name__}: {exc}); "
            f"it needs `pip install -e '.[test]'` and Java 17 (java on PATH or JAVA_HOME)",
            pytrace=False,
        )
    # Spark logs every failed statement at ERROR with its whole stack; the tests that
    # expect failures read them from dqx's results instead.
    session.sparkContext.setLogLevel("FATAL")
    yield session
    session.stop()
