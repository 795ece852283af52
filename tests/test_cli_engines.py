"""``dqx run --data NAME=LOCATION`` on every engine: a Hive lake by its directory, a
DuckDB file, a PostgreSQL table and a Spark table, each with its date column; and
errors that name the culprit (exit 2 for what the command line said wrong, 3 for a
server that is not there).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

DQX = Path(sys.executable).with_name("dqx")

DAY = dt.date(2024, 3, 14)
YESTERDAY = DAY - dt.timedelta(days=1)

CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Orders", severity="P1")
    def orders(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
        ctx.assert_that(mp.sum("price")).where(name="sum").is_gt(0)
        ctx.assert_that(mp.num_rows(lag=1)).where(name="rows yesterday").is_gt(0)
        ctx.assert_that(mp.ext.day_over_day(mp.sum("price"))).where(name="dod").is_gt(-1)
    """
)
# Today: 3 rows summing to 6; yesterday: 2 rows summing to 4.
PRICES = {YESTERDAY: [1.0, 3.0], DAY: [1.0, 2.0, 3.0]}
EXPECTED = {"rows": 3.0, "sum": 6.0, "rows yesterday": 2.0, "dod": 0.5}


def dqx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    return subprocess.run(
        [str(DQX), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=300
    )


def rows() -> list[tuple[dt.date, float]]:
    return [(day, price) for day, prices in PRICES.items() for price in prices]


def run(tmp_path: Path, *data: str, date_column: str = "dt") -> Any:
    (tmp_path / "checks.py").write_text(CHECKS)
    args = ["run", "checks.py", "--date", DAY.isoformat(), "--format", "json"]
    for location in data:
        args += ["--data", location]
    if date_column:
        args += ["--date-column", f"{data[0].split('=', 1)[0]}={date_column}"]
    return dqx(*args, "--db", f"sqlite:///{tmp_path / 'dqx.db'}", cwd=tmp_path)


def values(outcome: Any) -> dict[str, float]:
    assert outcome.returncode == 0, (outcome.stdout, outcome.stderr)
    return {r["assertion"]: r["value"] for r in json.loads(outcome.stdout)["results"]}


@pytest.mark.slow
def test_a_hive_lake_by_its_directory(tmp_path: Path) -> None:
    for day, prices in PRICES.items():
        directory = tmp_path / "lake" / f"dt={day.isoformat()}"
        directory.mkdir(parents=True)
        pq.write_table(pa.table({"price": prices}), directory / "part-0.parquet")
    (tmp_path / "lake" / "_SUCCESS").write_text("")
    assert values(run(tmp_path, "orders=lake/")) == EXPECTED


@pytest.mark.slow
def test_a_duckdb_database_file(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "shop.duckdb"))
    connection.execute("CREATE SCHEMA sales")
    connection.execute("CREATE TABLE sales.orders (dt DATE, price DOUBLE)")
    connection.executemany("INSERT INTO sales.orders VALUES (?, ?)", rows())
    connection.close()
    outcome = run(tmp_path, "orders=duckdb:///shop.duckdb#sales.orders")
    assert values(outcome) == EXPECTED


@pytest.mark.slow
def test_a_postgresql_table(tmp_path: Path, postgres_database: str) -> None:
    import psycopg

    conninfo = postgres_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute('CREATE SCHEMA IF NOT EXISTS "cli sales"')
        connection.execute('DROP TABLE IF EXISTS "cli sales".orders')
        connection.execute('CREATE TABLE "cli sales".orders (dt text, price float8)')
        for day, price in rows():
            connection.execute(
                'INSERT INTO "cli sales".orders VALUES (%s, %s)', (day.isoformat(), price)
            )
    # A plain postgresql:// URL, as a user has it; the dates are 'YYYY-MM-DD' text.
    outcome = run(tmp_path, f"orders={conninfo}#cli sales.orders")
    assert values(outcome) == EXPECTED


@pytest.mark.slow
def test_a_spark_table(tmp_path: Path) -> None:
    for day, prices in PRICES.items():
        directory = tmp_path / "lake" / f"dt={day.isoformat()}"
        directory.mkdir(parents=True)
        pq.write_table(pa.table({"price": prices}), directory / "part-0.parquet")
    # Spark SQL's own name for files as a table; on a cluster, a catalog table.
    outcome = run(tmp_path, f"orders=spark:parquet.`{tmp_path / 'lake'}`")
    assert values(outcome) == EXPECTED


@pytest.mark.parametrize(
    ("location", "code", "culprit"),
    [
        ("postgresql://postgres@127.0.0.1/test", 2, "name the table after '#'"),
        ("postgresql://postgres@127.0.0.1/test#.orders", 2, "'.orders' is not [schema.]table"),
        ("duckdb:///missing.duckdb#orders", 2, "no DuckDB database file at missing.duckdb"),
        ("postgresql://postgres@127.0.0.1:1/test#orders", 3, "cannot reach PostgreSQL"),
        ("spark:", 2, "name the table, as in spark:db.orders"),
    ],
)
def test_locations_that_cannot_be_read_name_the_culprit(
    tmp_path: Path, location: str, code: int, culprit: str
) -> None:
    outcome = run(tmp_path, f"orders={location}", date_column="")
    assert outcome.returncode == code, (outcome.stdout, outcome.stderr)
    assert culprit in outcome.stderr and "orders" in outcome.stderr


def test_a_missing_postgresql_table_names_it(tmp_path: Path, postgres_database: str) -> None:
    conninfo = postgres_database.replace("postgresql+psycopg", "postgresql")
    outcome = run(tmp_path, f"orders={conninfo}#public.nowhere", date_column="")
    assert outcome.returncode == 2, (outcome.stdout, outcome.stderr)
    assert "'orders'" in outcome.stderr and '"public"."nowhere"' in outcome.stderr
