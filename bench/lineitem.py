"""The benchmark data set and the work measured on it.

A TPC-H-lineitem-like table built by DuckDB from ``range()`` and ``hash()``: every value
is a function of the row number alone, so the file holds the same rows whatever the
thread count. 6M rows at scale 1, ~2,400 rows per ship date, ~2% NULL discounts, and
exactly ``rows // 1000`` duplicate (l_orderkey, l_linenumber) pairs.

Also here: the 12 metrics of ``checks.py`` hand-written as the DuckDB floor (one
statement, or one statement per metric). This module never imports dqx, so a floor
process pays for DuckDB alone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "CUSTOM_AVG",
    "CUSTOM_FILTERED",
    "FIRST_DAY",
    "ROWS_PER_DAY",
    "SCHEMA_VERSION",
    "duplicate_pairs",
    "floor_sql",
    "generate",
    "last_day",
    "rows_at_scale",
    "run_floor",
]

#: Bump when the generator's SQL changes, so cached files are rebuilt.
SCHEMA_VERSION = 1
ROWS_PER_DAY = 2_400
FIRST_DAY = dt.date(2018, 1, 1)
#: One row in this many repeats the (l_orderkey, l_linenumber) of the row before it.
_DUPLICATE_EVERY = 1_000

CUSTOM_FILTERED = "SUM(l_extendedprice * (1 - l_discount)) FILTER (WHERE l_shipmode = 'AIR')"
CUSTOM_AVG = "AVG(l_tax * l_quantity)"

_GENERATE = f"""
COPY (
    SELECT
        -- Row i repeats row i-1's key once every {_DUPLICATE_EVERY} rows: known duplicates.
        CASE WHEN i % {_DUPLICATE_EVERY} = {_DUPLICATE_EVERY - 1} THEN (i - 1) // 4
             ELSE i // 4 END AS l_orderkey,
        CAST(hash(i, 1) % $parts + 1 AS BIGINT) AS l_partkey,
        CAST(hash(i, 2) % $suppliers + 1 AS BIGINT) AS l_suppkey,
        CAST(CASE WHEN i % {_DUPLICATE_EVERY} = {_DUPLICATE_EVERY - 1} THEN (i - 1) % 4
                  ELSE i % 4 END + 1 AS INTEGER) AS l_linenumber,
        CAST(hash(i, 3) % 50 + 1 AS DOUBLE) AS l_quantity,
        ROUND(900 + (hash(i, 4) % 10_450_000) / 100.0, 2) AS l_extendedprice,
        CASE WHEN hash(i, 5) % 50 = 0 THEN NULL
             ELSE (hash(i, 6) % 11) / 100.0 END AS l_discount,
        (hash(i, 7) % 9) / 100.0 AS l_tax,
        ['R', 'A', 'N'][CAST(hash(i, 8) % 3 AS BIGINT) + 1] AS l_returnflag,
        ['O', 'F'][CAST(hash(i, 9) % 2 AS BIGINT) + 1] AS l_linestatus,
        CAST($first_day AS DATE) + CAST(i // {ROWS_PER_DAY} AS INTEGER) AS l_shipdate,
        ['AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK']
            [CAST(hash(i, 10) % 7 AS BIGINT) + 1] AS l_shipmode,
        'comment ' || CAST(hash(i, 11) % 1_000_000 AS VARCHAR) AS l_comment
    FROM range($rows) AS t(i)
    ORDER BY i
) TO $path (FORMAT parquet)
"""


def rows_at_scale(scale: float) -> int:
    return max(ROWS_PER_DAY, int(6_000_000 * scale))


def duplicate_pairs(rows: int) -> int:
    """duplicate_count([l_orderkey, l_linenumber]) of a generated file of ``rows`` rows."""
    return rows // _DUPLICATE_EVERY


def last_day(rows: int) -> dt.date:
    """The last complete ship date of a generated file."""
    return FIRST_DAY + dt.timedelta(days=rows // ROWS_PER_DAY - 1)


def generate(directory: Path, rows: int) -> Path:
    """Write the table as Parquet under ``directory`` (kept between runs), return its path."""
    import duckdb

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"lineitem-v{SCHEMA_VERSION}-{rows}.parquet"
    if path.exists():
        return path
    partial = path.with_suffix(".parquet.partial")
    connection = duckdb.connect()
    try:
        connection.execute("SET enable_progress_bar = false")
        connection.execute(
            _GENERATE,
            {
                "rows": rows,
                # TPC-H cardinalities per 6M lineitems: 200k parts, 10k suppliers.
                "parts": max(1, rows // 30),
                "suppliers": max(1, rows // 600),
                "first_day": FIRST_DAY,
                "path": str(partial),
            },
        )
    finally:
        connection.close()
    # Renamed only when whole, so an interrupted run never leaves a short file behind.
    partial.rename(path)
    return path


# -- the floor ------------------------------------------------------------------------

_FLOOR_AGGREGATES = (
    "COUNT(*)",
    "SUM(l_extendedprice)",
    "AVG(l_quantity)",
    "MIN(l_extendedprice)",
    "MAX(l_extendedprice)",
    "COUNT(*) FILTER (WHERE l_discount IS NULL)",
    "COUNT(DISTINCT l_partkey)",
    # A row value is never NULL, so rows with NULL keys compare equal, as in DISTINCT.
    "COUNT(*) - COUNT(DISTINCT (l_orderkey, l_linenumber))",
    "COUNT(*) FILTER (WHERE l_returnflag = 'R')",
    "VAR_SAMP(l_extendedprice)",
    CUSTOM_FILTERED,
    CUSTOM_AVG,
)


def floor_sql(mode: str, relation: str) -> list[str]:
    """The hand-written floor: ``one`` statement, or ``per-metric`` (twelve)."""
    if mode == "one":
        return [f"SELECT {', '.join(_FLOOR_AGGREGATES)} FROM {relation}"]
    if mode == "per-metric":
        return [f"SELECT {aggregate} FROM {relation}" for aggregate in _FLOOR_AGGREGATES]
    raise ValueError(f"unknown floor mode {mode!r}")


def run_floor(
    execute: Callable[[str], Sequence[Any]], mode: str, relation: str
) -> list[float | None]:
    """The twelve values in suite order, computed by the floor's statements."""
    values: list[Any] = []
    for sql in floor_sql(mode, relation):
        values.extend(execute(sql))
    return [None if v is None else float(v) for v in values]
