"""The engine benchmarks' data and floors: lineitem in PostgreSQL and in Spark.

* PostgreSQL: the generated Parquet loaded into a table ``lineitem`` (CSV through
  COPY), and the floor: ``lineitem.floor_sql`` run by ``psql`` exactly as a person
  would, in one ``psql`` process (one statement, or one ``-c`` per metric).
* Spark: a local SparkSession, the Parquet file as a DataFrame, and the floor: the 12
  metrics as a hand-written DataFrame aggregation (one ``agg``, or one per metric).

Like lineitem.py this module never imports dqx, so the floors pay nothing for it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import lineitem

__all__ = [
    "PSQL_HOST",
    "load_postgres",
    "psql_floor",
    "spark_floor",
    "spark_session",
]

PSQL_HOST = ("127.0.0.1", "5432", "postgres")

_PG_TYPES = {
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "DOUBLE": "double precision",
    "VARCHAR": "text",
    "DATE": "date",
}


def load_postgres(conninfo: str, parquet: Path, csv_dir: Path) -> int:
    """Create ``lineitem`` from the Parquet file; return its row count."""
    import duckdb
    import psycopg

    relation = duckdb.connect().read_parquet(str(parquet))
    columns = ", ".join(
        f"{name} {_PG_TYPES[str(kind)]}"
        for name, kind in zip(relation.columns, relation.types, strict=True)
    )
    csv = csv_dir / f"{parquet.stem}.csv"
    if not csv.exists():
        relation.write_csv(str(csv), header=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS lineitem")
        connection.execute(f"CREATE TABLE lineitem ({columns})")
        with (
            connection.cursor() as cursor,
            cursor.copy("COPY lineitem FROM STDIN (FORMAT csv)") as copy,
            csv.open("rb") as rows,
        ):
            while chunk := rows.read(1 << 20):
                copy.write(chunk)
        # Hint bits and statistics set now, so no timed round pays for them.
        connection.execute("VACUUM ANALYZE lineitem")
        count = connection.execute("SELECT COUNT(*) FROM lineitem").fetchone()
    return int(count[0]) if count else 0


def psql_floor(database: str, mode: str) -> list[float | None]:
    """The 12 values computed by the hand-written SQL in one psql process."""
    host, port, user = PSQL_HOST
    argv = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    argv += ["-h", host, "-p", port, "-U", user, "-d", database]
    for sql in lineitem.floor_sql(mode, "lineitem"):
        argv += ["-c", sql]
    completed = subprocess.run(argv, capture_output=True, text=True, check=True)
    fields = completed.stdout.replace("\n", "|").strip("|").split("|")
    return [None if field == "" else float(field) for field in fields]


def spark_session() -> Any:
    """A local SparkSession as the tests use it: two cores, no UI."""
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("dqx-bench")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def _spark_aggregates() -> list[Any]:
    from pyspark.sql import functions as f

    c = f.col
    return [
        f.count(f.lit(1)),
        f.sum("l_extendedprice"),
        f.avg("l_quantity"),
        f.min("l_extendedprice"),
        f.max("l_extendedprice"),
        f.count(f.when(c("l_discount").isNull(), 1)),
        f.count_distinct("l_partkey"),
        # The keys are never NULL, so the pair's distinct count is DISTINCT's.
        f.count(f.lit(1)) - f.count_distinct("l_orderkey", "l_linenumber"),
        f.count(f.when(c("l_returnflag") == "R", 1)),
        f.var_samp("l_extendedprice"),
        f.sum(f.when(c("l_shipmode") == "AIR", c("l_extendedprice") * (1 - c("l_discount")))),
        f.avg(c("l_tax") * c("l_quantity")),
    ]


def spark_floor(frame: Any, mode: str) -> list[float | None]:
    """The 12 values by a hand-written DataFrame aggregation: ``one`` agg, or twelve."""
    aggregates = _spark_aggregates()
    if mode == "one":
        values = list(frame.agg(*aggregates).collect()[0])
    elif mode == "per-metric":
        values = [frame.agg(aggregate).collect()[0][0] for aggregate in aggregates]
    else:
        raise ValueError(f"unknown floor mode {mode!r}")
    return [None if v is None else float(v) for v in values]
