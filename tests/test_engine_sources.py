"""Each engine's own promises: the work stays in the engine, checks come before scans.

* PostgreSQL: the aggregation runs inside the server. auto_explain, loaded for the
  source's own sessions, shows each statement executed once, reading the table's rows
  and returning one row per date; the driver hands Python the same few rows.
* Spark: one SQL query per dataset and date batch, whose job count does not grow
  with the number of metrics. Spark's adaptive execution (on by default) runs a
  grouped aggregation as two jobs, the shuffle's map stage and the final stage;
  without it, the same query is one job.
* DuckDB: Hive-partitioned lakes are found from a directory; database files are
  opened read-only and never created.
* Every engine: unknown columns, wrong types, forbidden custom_sql and comparisons the
  engine refuses are DefinitionErrors naming the culprit, before any statement runs.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from returns.result import Success

from dqx import (
    Context,
    MetricProvider,
    ResultKey,
    VerificationSuite,
    check,
    metrics_by_execution_id,
)
from dqx.common import DefinitionError
from dqx.custom_sql import parse_custom_sql
from dqx.datasource import DuckRelationDataSource, PostgresDataSource, SparkDataSource
from dqx.orm.repositories import InMemoryMetricDB

DAY = dt.date(2024, 3, 14)
DATES = [DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY]
ROWS_PER_DAY = 1000


@check(name="twelve")
def twelve_metrics(mp: MetricProvider, ctx: Context) -> None:
    """The bench's twelve plain aggregates, over today and the two days before."""
    metrics = [
        mp.num_rows(),
        mp.sum("qty"),
        mp.average("price"),
        mp.minimum("price"),
        mp.maximum("price"),
        mp.variance("price"),
        mp.null_count("email"),
        mp.count_values("status", "open"),
        mp.count_values("status", ["open", "held"]),
        mp.sum("qty", lag=1),
        mp.average("price", lag=2),
        mp.custom_sql("SUM(CASE WHEN qty > 5 THEN 1 ELSE 0 END)"),
    ]
    for index, metric in enumerate(metrics):
        ctx.assert_that(metric).where(name=f"m{index}").is_geq(0)


@check(name="one")
def one_metric(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.sum("qty")).where(name="sum").is_geq(0)
    ctx.assert_that(mp.sum("qty", lag=2)).where(name="sum two days ago").is_geq(0)


def run(source: Any, checks: list[Any] | None = None) -> VerificationSuite:
    suite = VerificationSuite(checks or [twelve_metrics], InMemoryMetricDB(), "engine")
    suite.run([source], ResultKey(DAY))
    return suite


def orders_table() -> pa.Table:
    n = ROWS_PER_DAY * len(DATES)
    return pa.table(
        {
            "yyyy_mm_dd": pa.array([DATES[i % len(DATES)] for i in range(n)], pa.date32()),
            "qty": pa.array([i % 11 for i in range(n)], pa.int64()),
            "price": pa.array([None if i % 17 == 0 else i * 0.25 for i in range(n)]),
            "email": pa.array([None if i % 5 == 0 else f"u{i}@x.io" for i in range(n)]),
            "status": pa.array([("open", "held", "shipped")[i % 3] for i in range(n)]),
        }
    )


class Recording:
    """Remembers how many rows each statement handed back to Python."""

    returned: ClassVar[list[int]]

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = super().execute(sql, params)  # type: ignore[misc]
        self.returned.append(len(rows))
        return rows


class RecordingPostgres(Recording, PostgresDataSource):
    returned: ClassVar[list[int]] = []


class RecordingSpark(Recording, SparkDataSource):
    returned: ClassVar[list[int]] = []


# -- PostgreSQL ----------------------------------------------------------------------------


def load_postgres(url: str, table: str) -> None:
    import psycopg
    from psycopg import sql

    conninfo = url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(
            sql.SQL(
                "CREATE TABLE {} (yyyy_mm_dd date, qty bigint, price double precision, "
                "email text, status text)"
            ).format(sql.Identifier(table))
        )
        with (
            connection.cursor() as cursor,
            cursor.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(table))) as copy,
        ):
            for row in orders_table().to_pylist():
                copy.write_row(tuple(row.values()))


# auto_explain, loaded for one engine's sessions only, sends the plan of each statement
# they execute back to that session as a NOTICE, with the rows every node produced.
# Not pg_stat_statements: its 5000 entries are shared by every database on the server,
# and when concurrent test runs fill them, the least-used (a statement called once,
# exactly what these tests look for) are evicted within moments of being recorded.
EXPLAIN_OPTIONS = (
    "-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 "
    "-c auto_explain.log_analyze=on -c auto_explain.log_format=json "
    "-c auto_explain.log_level=notice"
)


class Execution(NamedTuple):
    query: str
    returned: int  # rows the statement handed back
    scanned: int  # rows its table scans produced, after their filters


@dataclass
class Explained:
    """An engine whose sessions report every statement they execute, as it ends."""

    engine: Any
    plans: list[dict[str, Any]] = field(default_factory=list)

    def executions(self, table: str) -> list[Execution]:
        """Each execution of a statement naming ``table``, in the order they ended."""
        return [
            Execution(plan["Query Text"], actual_rows(plan["Plan"]), scanned_rows(plan["Plan"]))
            for plan in self.plans
            if f'"{table}"' in plan["Query Text"]
        ]


def actual_rows(node: dict[str, Any]) -> int:
    # EXPLAIN ANALYZE's Actual Rows is per loop; a node that never ran has no loops.
    return int(node["Actual Rows"] * node["Actual Loops"])


def scanned_rows(node: dict[str, Any]) -> int:
    own = actual_rows(node) if node["Node Type"] == "Seq Scan" else 0
    return own + sum(scanned_rows(child) for child in node.get("Plans", []))


@pytest.fixture
def explained(postgres_url: str) -> Iterator[Explained]:
    """An engine on ``postgres_url`` whose statements' plans this test can read."""
    import sqlalchemy

    from tests.services import unavailable

    url = sqlalchemy.engine.make_url(postgres_url)
    options = " ".join(filter(None, [url.query.get("options"), EXPLAIN_OPTIONS]))
    explained = Explained(sqlalchemy.create_engine(url.update_query_dict({"options": options})))

    def keep(diagnostic: Any) -> None:
        _, marker, plan = (diagnostic.message_primary or "").partition("plan:\n")
        if marker:
            explained.plans.append(json.loads(plan))

    @sqlalchemy.event.listens_for(explained.engine, "connect")
    def listen(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.add_notice_handler(keep)

    try:
        with explained.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except sqlalchemy.exc.OperationalError as exc:
        explained.engine.dispose()
        unavailable(
            "auto_explain",
            str(exc.orig).strip().splitlines()[0],
            remedy="install PostgreSQL's contrib modules (Debian's postgresql package has them)",
        )
    yield explained
    explained.engine.dispose()


def test_postgres_aggregates_inside_postgres(postgres_url: str, explained: Explained) -> None:
    table = f"orders_{secrets.token_hex(4)}"
    load_postgres(postgres_url, table)
    RecordingPostgres.returned = []
    source = RecordingPostgres.from_table(explained.engine, table, "orders")
    suite = run(source)

    values = {r.assertion: r.value for r in suite.collect_results()}
    assert values["m0"] == Success(float(ROWS_PER_DAY))
    assert [s.error for s in suite.statements] == [None]
    [statement] = suite.statements
    assert statement.rows_scanned == ROWS_PER_DAY * len(DATES)
    assert "GROUP BY 1" in statement.sql and "COUNT(*)" in statement.sql

    # One execution, reading the 3000 rows inside PostgreSQL and returning one row per
    # date (and the zero-rows branch).
    ran = explained.executions(table)
    aggregates = [execution for execution in ran if "dqx_rows" in execution.query]
    assert len(aggregates) == 1, ran
    [(query, returned, scanned)] = aggregates
    assert (returned, scanned) == (len(DATES) + 1, ROWS_PER_DAY * len(DATES))
    assert "$1" in query, "dates and values reach PostgreSQL as parameters"
    # Besides it, only the LIMIT 0 probe that read the columns, returning nothing.
    assert [(e.returned, e.scanned) for e in ran if e.query != query] == [(0, 0)]
    assert RecordingPostgres.returned == [len(DATES) + 1]
    source.close()


def test_postgres_grouped_metrics_return_one_row_per_date(
    postgres_url: str, explained: Explained
) -> None:
    table = f"orders_{secrets.token_hex(4)}"
    load_postgres(postgres_url, table)

    @check(name="grouped")
    def grouped(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.unique_count("email")).where(name="emails").is_gt(0)
        ctx.assert_that(mp.duplicate_count(["email"], lag=2)).where(name="dups").is_geq(0)

    RecordingPostgres.returned = []
    suite = run(RecordingPostgres.from_table(explained.engine, table, "orders"), [grouped])
    assert [r.status for r in suite.collect_results()] == ["OK", "OK"]
    # The grouped statement: the distinct emails are counted inside PostgreSQL (with
    # COUNT(DISTINCT ...), PostgreSQL's faster shape for it) in one execution over both
    # dates' rows; what comes back is one row per date of the batch (two dates). Run
    # per date, it would show two executions of one row each. The row count, the
    # rows-scanned figure, is the usual shared statement: a row per date and one more.
    ran = [e for e in explained.executions(table) if "DISTINCT" in e.query]
    assert [(e.returned, e.scanned) for e in ran] == [(2, 2 * ROWS_PER_DAY)]
    assert RecordingPostgres.returned == [3, 2]
    assert [len(s.dates) for s in suite.statements] == [2, 2]


def test_postgres_checks_before_any_statement(postgres_url: str, explained: Explained) -> None:
    table = f"orders_{secrets.token_hex(4)}"
    load_postgres(postgres_url, table)
    source = PostgresDataSource.from_table(explained.engine, table, "orders")
    refused: dict[str, Any] = {
        r"no column 'prcie'.*did you mean 'price'": lambda mp: mp.sum("prcie"),
        r"sum\(status\) needs a numeric column.*text": lambda mp: mp.sum("status"),
        r"True cannot match column 'qty'.*bigint \(on postgres\)": (
            lambda mp: mp.count_values("qty", True)
        ),
        r"may not call pg_read_file\(\)": (
            lambda mp: mp.custom_sql("SUM(LENGTH(pg_read_file('/etc/passwd')))")
        ),
        r"may not call query_to_xml\(\)": (
            lambda mp: mp.custom_sql("COUNT(query_to_xml('select 1', true, true, ''))")
        ),
    }
    for complaint, build in refused.items():

        @check(name="bad")
        def bad(mp: MetricProvider, ctx: Context, build: Any = build) -> None:
            ctx.assert_that(build(mp)).where(name="bad").is_gt(0)

        suite = VerificationSuite([bad], InMemoryMetricDB(), "engine")
        with pytest.raises(DefinitionError, match=complaint):
            suite.run([source], ResultKey(DAY))
        assert suite.statements == []
    # Nothing but the LIMIT 0 probe that read the columns ever reached the table.
    assert [e.query.endswith("LIMIT 0") for e in explained.executions(table)] == [True]


def test_postgres_custom_sql_keeps_percent_signs_and_colons_as_written(postgres_url: str) -> None:
    import psycopg

    conninfo = postgres_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute('CREATE TABLE notes ("text %" text, yyyy_mm_dd date)')
        for text in ["50%", "%(d_0)s", ":d_0", "a:b", "100%% sure", None]:
            connection.execute("INSERT INTO notes VALUES (%s, %s)", (text, DAY))

    @check(name="notes")
    def notes(mp: MetricProvider, ctx: Context) -> None:
        odd = "COUNT(*) FILTER (WHERE \"text %\" IN ('%(d_0)s', ':d_0', '100%% sure'))"
        ctx.assert_that(mp.custom_sql(odd)).where(name="odd").is_gt(0)
        like = "COUNT(*) FILTER (WHERE \"text %\" LIKE '%\\%' ESCAPE '\\')"
        ctx.assert_that(mp.custom_sql(like)).where(name="like").is_gt(0)
        ctx.assert_that(mp.count_values("TEXT %", "%(d_0)s")).where(name="value").is_gt(0)

    suite = run(PostgresDataSource.from_table(postgres_url, "notes", "notes"), [notes])
    values = {r.assertion: r.value for r in suite.collect_results()}
    assert values == {"odd": Success(3.0), "like": Success(1.0), "value": Success(1.0)}


def test_postgres_infinite_and_divided_by_zero_values_are_errors_as_on_duckdb(
    postgres_url: str,
) -> None:
    import psycopg

    conninfo = postgres_url.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute('CREATE TABLE readings ("Price" double precision, yyyy_mm_dd date)')
        for price in [10.0, math.inf]:
            connection.execute("INSERT INTO readings VALUES (%s, %s)", (price, DAY))

    @check(name="readings")
    def readings(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.sum("Price")).where(name="sum").is_gt(0)
        ctx.assert_that(mp.custom_sql('SUM("Price") / 0')).where(name="by zero").is_gt(0)

    db = InMemoryMetricDB()
    suite = VerificationSuite([readings], db, "engines")
    suite.run([PostgresDataSource.from_table(postgres_url, "readings", "readings")], ResultKey(DAY))
    results = {r.assertion: r for r in suite.collect_results()}
    assert {name: r.status for name, r in results.items()} == {"sum": "ERROR", "by zero": "ERROR"}
    assert "sum(Price) on dataset 'readings' for 2024-03-14 is infinite" in results["sum"].message
    # PostgreSQL raises where DuckDB gives inf: the same status, the engine's reason.
    assert "division by zero" in results["by zero"].message
    stored = {m.metric: m.value for m in metrics_by_execution_id(db, suite.execution_id)}
    assert stored["sum(Price)"] == Success(sum([10.0, math.inf]))


def test_postgres_sources_name_what_is_wrong(postgres_url: str) -> None:
    import sqlalchemy

    with pytest.raises(DefinitionError, match=r"'orders'.*table \"missing\".*does not exist"):
        PostgresDataSource.from_table(postgres_url, "missing", "orders")
    with pytest.raises(DefinitionError, match="exactly one SELECT"):
        PostgresDataSource.from_query(postgres_url, "SELECT 1; SELECT 2", "orders")
    with pytest.raises(DefinitionError, match="exactly one SELECT"):
        PostgresDataSource.from_query(postgres_url, "DELETE FROM orders", "orders")
    with pytest.raises(DefinitionError, match=r"'orders'.*cannot read its query.*nope"):
        PostgresDataSource.from_query(postgres_url, "SELECT nope FROM pg_class", "orders")
    with pytest.raises(DefinitionError, match="needs a postgresql:// URL"):
        PostgresDataSource.from_table("sqlite:///x.db", "t", "orders")
    with pytest.raises(DefinitionError, match="needs a PostgreSQL engine"):
        PostgresDataSource.from_table(sqlalchemy.create_engine("sqlite://"), "t", "orders")

    # An engine passed in stays the caller's; a query's text dates are a date column.
    engine = sqlalchemy.create_engine(postgres_url)
    source = PostgresDataSource.from_query(
        engine, "SELECT CAST('2024-03-14' AS text) AS dt, 1.5 AS x", "q", date_column="dt"
    )
    assert source.schema == {"dt": "text", "x": "numeric"}
    assert run(source, [one_x()]).collect_results()[0].value == Success(1.5)
    source.close()
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT 1").scalar() == 1
    engine.dispose()


def one_x() -> Any:
    @check(name="x")
    def x(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.sum("x")).where(name="x").is_gt(0)

    return x


# -- Spark ---------------------------------------------------------------------------------


def spark_executions(spark: Any) -> dict[int, int]:
    """Each SQL execution Spark recorded, with the number of jobs it ran.

    Read from the SQL status store (the SQL tab's data, kept with the UI off too) once
    the listener bus has delivered every event.
    """
    spark.sparkContext._jsc.sc().listenerBus().waitUntilEmpty()
    store = spark._jsparkSession.sharedState().statusStore()
    found: dict[int, int] = {}
    executions = store.executionsList().iterator()
    while executions.hasNext():
        execution = executions.next()
        found[execution.executionId()] = execution.jobs().size()
    return found


def queries_and_jobs(spark: Any, source: Any, checks: list[Any]) -> tuple[Any, list[int]]:
    """The suite, and the jobs of each SQL query it ran (view registrations run none)."""
    before = spark_executions(spark)
    suite = run(source, checks)
    after = spark_executions(spark)
    return suite, [jobs for run_id, jobs in sorted(after.items()) if run_id not in before and jobs]


@pytest.mark.slow
def test_spark_runs_one_query_per_batch(spark: Any) -> None:
    frame = spark.createDataFrame(orders_table().to_pylist())
    RecordingSpark.returned = []
    source = RecordingSpark.from_dataframe(frame, "orders")

    suite, jobs = queries_and_jobs(spark, source, [twelve_metrics])
    [statement] = suite.statements
    assert statement.error is None and statement.rows_scanned == ROWS_PER_DAY * len(DATES)
    assert {r.status for r in suite.collect_results()} == {"OK"}
    # One query for the twelve metrics over three dates; only its aggregate rows,
    # one per date and the zero-rows branch, reach the driver.
    assert len(jobs) == 1
    assert RecordingSpark.returned == [len(DATES) + 1]
    # Two metrics run the same jobs as twelve: the work is one scan, whatever it holds.
    _, one = queries_and_jobs(spark, source, [one_metric])
    assert one == jobs
    assert jobs == [2] if spark.conf.get("spark.sql.adaptive.enabled") == "true" else [1]

    spark.conf.set("spark.sql.adaptive.enabled", "false")
    try:
        _, without_adaptive = queries_and_jobs(spark, source, [twelve_metrics])
    finally:
        spark.conf.unset("spark.sql.adaptive.enabled")
    assert without_adaptive == [1]


@pytest.mark.slow
def test_spark_checks_before_any_job(spark: Any) -> None:
    source = SparkDataSource.from_dataframe(
        spark.createDataFrame(
            [(DAY, 1, True, "a")], "yyyy_mm_dd date, qty int, ok boolean, s string"
        ),
        "orders",
    )
    refused: dict[str, Any] = {
        r"no column 'qyt'.*did you mean 'qty'": lambda mp: mp.sum("qyt"),
        r"average\(s\) needs a numeric column.*string": lambda mp: mp.average("s"),
        r"1 cannot match column 'ok'.*boolean \(on spark\)": lambda mp: mp.count_values("ok", 1),
        r"may not call reflect\(\)": (
            lambda mp: mp.custom_sql("COUNT(reflect('java.lang.System', 'exit', '0'))")
        ),
        r"may not call input_file_name\(\)": (
            lambda mp: mp.custom_sql("COUNT(DISTINCT input_file_name())")
        ),
    }
    for complaint, build in refused.items():

        @check(name="bad")
        def bad(mp: MetricProvider, ctx: Context, build: Any = build) -> None:
            ctx.assert_that(build(mp)).where(name="bad").is_gt(0)

        before = spark_executions(spark)
        suite = VerificationSuite([bad], InMemoryMetricDB(), "engine")
        with pytest.raises(DefinitionError, match=complaint):
            suite.run([source], ResultKey(DAY))
        assert suite.statements == []
        assert spark_executions(spark) == before


@pytest.mark.slow
def test_spark_sources_name_what_is_wrong(spark: Any) -> None:
    with pytest.raises(DefinitionError, match=r"'orders'.*no table 'nowhere\.missing'"):
        SparkDataSource.from_table(spark, "nowhere.missing", "orders")
    # Whatever the name holds, it is one quoted name, never SQL.
    with pytest.raises(DefinitionError, match=r"no table 't; DROP TABLE x'.*`t; DROP TABLE x`"):
        SparkDataSource.from_table(spark, "t; DROP TABLE x", "orders")
    with pytest.raises(DefinitionError, match="takes a pyspark DataFrame"):
        SparkDataSource.from_dataframe(orders_table(), "orders")  # type: ignore[arg-type]
    frame = spark.createDataFrame([("2024-03-14", 1.0)], "day string, x double")
    with pytest.raises(DefinitionError, match=r"date_column 'x'.*double"):
        SparkDataSource.from_dataframe(frame, "orders", date_column="x")


@pytest.mark.slow
def test_spark_sources_of_the_same_name_do_not_swap_rows(spark: Any) -> None:
    # Both register the same view name; each registers it again before it runs.
    first = SparkDataSource.from_dataframe(spark.createDataFrame([(1.0,)], "x double"), "orders")
    second = SparkDataSource.from_dataframe(spark.createDataFrame([(5.0,)], "x double"), "orders")
    assert run(second, [one_x()]).collect_results()[0].value == Success(5.0)
    assert run(first, [one_x()]).collect_results()[0].value == Success(1.0)


# -- DuckDB: Hive lakes and database files -----------------------------------------------


def write_lake(root: Path, layout: str = "dt={day}") -> None:
    for index, day in enumerate(DATES):
        directory = root / layout.format(day=day.isoformat())
        directory.mkdir(parents=True)
        pq.write_table(pa.table({"x": [float(index), 1.0]}), directory / "part-0.parquet")


def test_a_hive_lake_is_found_from_its_directory(tmp_path: Path) -> None:
    write_lake(tmp_path / "lake")
    source = DuckRelationDataSource.from_parquet(tmp_path / "lake", "lake", date_column="dt")
    assert source.schema == {"x": "DOUBLE", "dt": "DATE"}
    assert run(source, [one_x()]).collect_results()[0].value == Success(3.0)
    # A glob finds it too; hive_partitioning=False reads the files alone.
    assert "dt" in DuckRelationDataSource.from_parquet(tmp_path / "lake/*/*.parquet", "l").schema
    plain = DuckRelationDataSource.from_parquet(tmp_path / "lake", "l", hive_partitioning=False)
    assert plain.schema == {"x": "DOUBLE"}


def test_nested_partitions_and_text_partitions(tmp_path: Path) -> None:
    write_lake(tmp_path / "lake", "region=NL/day={day}")
    source = DuckRelationDataSource.from_parquet(tmp_path / "lake", "lake", date_column="day")
    assert source.schema["region"] == "VARCHAR" and source.schema["day"] == "DATE"
    write_lake(tmp_path / "flat", "dt={day}")
    flat = DuckRelationDataSource.from_parquet(tmp_path / "flat", "flat")
    assert flat.date_column is None  # no yyyy_mm_dd, no date_column: a snapshot


def test_a_database_file_is_read_in_place_and_never_created(tmp_path: Path) -> None:
    path = tmp_path / "shop.duckdb"
    with pytest.raises(DefinitionError, match=r"'orders'.*no DuckDB database file"):
        DuckRelationDataSource.from_database(path, "orders", "orders")
    assert not path.exists()

    connection = duckdb.connect(str(path))
    connection.execute("CREATE TABLE orders AS SELECT 2.5 AS x, DATE '2024-03-14' AS yyyy_mm_dd")
    connection.close()
    with pytest.raises(DefinitionError, match=r"'orders'.*table 'order'.*shop\.duckdb"):
        DuckRelationDataSource.from_database(path, "order", "orders")
    source = DuckRelationDataSource.from_database(path, "orders", "orders")
    assert source.date_column == "yyyy_mm_dd"
    assert run(source, [one_x()]).collect_results()[0].value == Success(2.5)
    source.close()


# -- custom_sql, read per dialect --------------------------------------------------------


@pytest.mark.parametrize(
    ("dialect", "sql", "function"),
    [
        ("postgres", "SUM(LENGTH(pg_read_file('/etc/passwd')))", "pg_read_file"),
        ("postgres", "COUNT(*) FILTER (WHERE pg_sleep(10) IS NULL)", "pg_sleep"),
        ("postgres", "MAX(current_setting('data_directory'))", "current_setting"),
        ("postgres", "COUNT(dblink('host=evil', 'select 1'))", "dblink"),
        ("postgres", "SUM(lo_import('/etc/passwd'))", "lo_import"),
        ("postgres", "MAX(nextval('orders_id_seq'))", "nextval"),
        ("postgres", "COUNT(pg_catalog.pg_ls_dir('.'))", "pg_ls_dir"),
        ("spark", "COUNT(reflect('java.lang.Runtime', 'getRuntime'))", "reflect"),
        ("spark", "COUNT(java_method('java.lang.System', 'exit', 0))", "java_method"),
        ("spark", "COUNT(DISTINCT input_file_name())", "input_file_name"),
        ("duckdb", "SUM(LENGTH(getenv('HOME')))", "getenv"),
    ],
)
def test_custom_sql_refuses_what_reaches_outside_the_dataset(
    dialect: str, sql: str, function: str
) -> None:
    with pytest.raises(DefinitionError, match=rf"may not call {function}\(\)"):
        parse_custom_sql(sql, dialect)


@pytest.mark.parametrize("dialect", ["duckdb", "postgres", "spark"])
def test_custom_sql_is_one_expression_on_every_dialect(dialect: str) -> None:
    for sql in [
        "SUM(x); SELECT 1",
        "(SELECT MAX(x) FROM t)",
        "SUM(x) FILTER (WHERE y IN (SELECT 1))",
    ]:
        with pytest.raises(DefinitionError):
            parse_custom_sql(sql, dialect)
    parse_custom_sql("SUM(CASE WHEN x > 2 THEN 1 ELSE 0 END)", dialect)
