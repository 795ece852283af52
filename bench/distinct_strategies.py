"""Where does DuckDB compute unique_count / duplicate_count cheapest?

Generates a few million rows as Parquet (three daily partitions) and times, for one
date batch, the plain aggregates of a typical suite plus four DISTINCT-style metrics
computed three ways:

* ``same``     every metric in one statement, DISTINCT ones as COUNT(DISTINCT ...)
* ``separate`` the plain statement, then one COUNT(DISTINCT ...) statement per column set
* ``grouped``  the plain statement, then per column set a GROUP BY subquery counted outside

Run: ``.venv/bin/python bench/distinct_strategies.py [rows] [repeats]``. Timings only;
every shape is checked to give the same numbers before it is timed.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

DATES = ("2024-01-01", "2024-01-02", "2024-01-03")
PLAIN = [
    "COUNT(*)",
    'SUM("price")',
    'AVG("price")',
    'MIN("price")',
    'MAX("price")',
    'VAR_SAMP("price")',
    'COUNT(*) FILTER (WHERE "customer" IS NULL)',
    "COUNT(*) FILTER (WHERE \"category\" = 'c7')",
]
# (name, columns) of the DISTINCT-style metrics: unique_count of three columns of very
# different cardinality, and duplicate_count over a pair.
DISTINCT = [
    ("unique_count(id)", ("id",)),
    ("unique_count(customer)", ("customer",)),
    ("unique_count(category)", ("category",)),
    ("duplicate_count([customer, category])", ("customer", "category")),
]


def make_data(directory: Path, rows: int) -> str:
    con = duckdb.connect()
    per_day = rows // len(DATES)
    for index, day in enumerate(DATES):
        con.execute(
            f"""
            COPY (
              SELECT DATE '{day}' AS yyyy_mm_dd,
                     i AS id,
                     CASE WHEN i % 97 = 0 THEN NULL ELSE (hash(i) % 200000)::BIGINT END
                         AS customer,
                     'c' || (hash(i * 7) % 50)::VARCHAR AS category,
                     (hash(i * 13) % 100000) / 100.0 AS price
              FROM range({index * per_day}, {(index + 1) * per_day}) t(i)
            ) TO '{directory / f"part_{index}.parquet"}' (FORMAT parquet)
            """
        )
    con.close()
    return str(directory / "*.parquet")


def _distinct_expr(columns: tuple[str, ...], kind: str) -> str:
    quoted = ", ".join(f'"{c}"' for c in columns)
    if kind == "unique":
        return f"COUNT(DISTINCT {quoted})"
    # A row value is never NULL, so NULLs compare equal, as DISTINCT rows do.
    return f"COUNT(*) - COUNT(DISTINCT ({quoted},))"


def _where() -> str:
    return "WHERE yyyy_mm_dd IN (" + ", ".join(f"DATE '{d}'" for d in DATES) + ")"


def _plain_sql() -> str:
    return f"SELECT yyyy_mm_dd, {', '.join(PLAIN)} FROM src {_where()} GROUP BY 1 ORDER BY 1"


def _distinct_exprs() -> list[str]:
    return [
        _distinct_expr(cols, "unique" if name.startswith("unique") else "dup")
        for name, cols in DISTINCT
    ]


def same(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    exprs = PLAIN + _distinct_exprs()
    sql = f"SELECT yyyy_mm_dd, {', '.join(exprs)} FROM src {_where()} GROUP BY 1 ORDER BY 1"
    rows = con.execute(sql).fetchall()
    return [row[-len(DISTINCT) :] for row in rows]


def separate(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    con.execute(_plain_sql()).fetchall()
    columns = []
    for expr in _distinct_exprs():
        sql = f"SELECT yyyy_mm_dd, {expr} FROM src {_where()} GROUP BY 1 ORDER BY 1"
        columns.append([row[1] for row in con.execute(sql).fetchall()])
    return list(zip(*columns, strict=True))


def grouped(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    con.execute(_plain_sql()).fetchall()
    columns = []
    for name, cols in DISTINCT:
        keys = ", ".join(f'"{c}"' for c in cols)
        outer = 'COUNT("' + cols[0] + '")' if name.startswith("unique") else "SUM(n) - COUNT(*)"
        sql = (
            f"SELECT yyyy_mm_dd, {outer} FROM (SELECT yyyy_mm_dd, {keys}, COUNT(*) AS n "
            f"FROM src {_where()} GROUP BY ALL) g GROUP BY 1 ORDER BY 1"
        )
        columns.append([row[1] for row in con.execute(sql).fetchall()])
    return list(zip(*columns, strict=True))


def plain_only(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    con.execute(_plain_sql()).fetchall()
    return []


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 3_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    strategies: dict[str, Callable[[duckdb.DuckDBPyConnection], list[tuple[object, ...]]]] = {
        "plain aggregates only": plain_only,
        "same statement (COUNT DISTINCT)": same,
        "separate COUNT DISTINCT statements": separate,
        "grouped subquery per column set": grouped,
    }
    with tempfile.TemporaryDirectory() as tmp:
        glob = make_data(Path(tmp), rows)
        for source in ("parquet", "arrow"):
            con = duckdb.connect()
            con.execute("SET threads = 2")
            if source == "parquet":
                con.execute(f"CREATE VIEW src AS SELECT * FROM read_parquet('{glob}')")
            else:
                table = con.sql(f"SELECT * FROM read_parquet('{glob}')").to_arrow_table()
                con.register("src", table)
            expected = same(con)
            assert separate(con) == expected, "separate disagrees"
            assert grouped(con) == expected, "grouped disagrees"
            print(f"\n{rows:,} rows, {len(DATES)} dates, source={source}, best of {repeats}")
            for label, run in strategies.items():
                times = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    run(con)
                    times.append(time.perf_counter() - started)
                print(
                    f"  {label:38s} min {min(times):6.3f}s  median {statistics.median(times):6.3f}s"
                )
            con.close()


if __name__ == "__main__":
    main()
