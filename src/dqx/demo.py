"""The demo: two weeks of orders with a planted anomaly, and a suite that catches it.

The checks compare a day with the days before it, and history decides when they can:
the first day has no yesterday and the first week too little history for an anomaly
band, so those assertions are SKIPPED (warm-up) while the rest are judged. One day's
run sees a partial load (:data:`BAD_DAY`); it is marked as a bad baseline, so the
later runs recompute that day from the data instead of learning from it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from dqx.checks import Check, Context, check
from dqx.provider import MetricProvider

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "BAD_DAY",
    "DEMO_DAYS",
    "DEMO_END",
    "DEMO_START",
    "PARTIAL",
    "PLANTED",
    "demo_checks",
    "partial_load",
    "write_orders",
]

DEMO_END = dt.date(2024, 3, 14)
DEMO_DAYS = 14
DEMO_START = DEMO_END - dt.timedelta(days=DEMO_DAYS - 1)
#: What write_orders plants on the last day, said wherever the demo reports it.
PLANTED = "prices doubled and about 15% of emails missing"
#: The day whose run sees only part of its orders, and what happened.
BAD_DAY = DEMO_END - dt.timedelta(days=5)
PARTIAL = "its run read a partial load (a tenth of the orders, the rest re-delivered later)"


def write_orders(path: Path, *, end: dt.date = DEMO_END, days: int = DEMO_DAYS) -> Path:
    """A Parquet file of orders, ~2,000 a day; on the last day prices jump and emails vanish."""
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    start = end - dt.timedelta(days=days - 1)
    connection = duckdb.connect()
    try:
        connection.execute(
            """
            CREATE TABLE orders AS
            SELECT
                i AS order_id,
                CAST($start AS DATE) + CAST(i // 2000 AS INTEGER) AS yyyy_mm_dd,
                'c' || CAST(hash(i, 1) % 5000 AS VARCHAR) AS customer_id,
                CASE WHEN hash(i, 2) % 100 < 2 THEN NULL
                     ELSE 'user' || CAST(hash(i, 3) % 9000 AS VARCHAR) || '@example.com'
                END AS email,
                ROUND(5 + (hash(i, 4) % 9500) / 100.0, 2) AS price,
                CASE hash(i, 5) % 10 WHEN 0 THEN 'refunded' WHEN 1 THEN 'pending'
                     ELSE 'paid' END AS status
            FROM range($rows) AS t(i)
            """,
            {"start": start, "rows": days * 2000},
        )
        # The planted anomaly (PLANTED): on the last day a pricing bug doubles prices
        # and drops emails.
        connection.execute(
            """
            UPDATE orders
            SET price = price * 2,
                email = CASE WHEN hash(order_id, 6) % 100 < 15 THEN NULL ELSE email END
            WHERE yyyy_mm_dd = $end
            """,
            {"end": end},
        )
        connection.execute("COPY orders TO $path (FORMAT parquet)", {"path": str(path)})
    finally:
        connection.close()
    return path


@check(name="Orders volume", severity="P1", datasets=["orders"])
def orders_volume(mp: MetricProvider, ctx: Context) -> None:
    rows = mp.num_rows()
    ctx.assert_that(rows).where(name="orders arrived").is_gt(0)
    # On the first day there is no yesterday yet: SKIPPED (warm-up), not an ERROR.
    ctx.assert_that(mp.ext.day_over_day(rows)).where(
        name="volume steady day over day", requires="orders arrived"
    ).is_between(-0.3, 0.3)
    ctx.assert_that(mp.duplicate_count(["order_id"])).where(name="order ids unique").is_zero()


@check(name="Orders prices", severity="P0", datasets=["orders"])
def orders_prices(mp: MetricProvider, ctx: Context) -> None:
    average = mp.average("price")
    ctx.assert_that(mp.minimum("price")).where(name="prices positive").is_positive()
    ctx.assert_that(mp.ext.day_over_day(average)).where(name="average price steady").is_between(
        -0.2, 0.2
    )
    # Judged from the eighth day on (7 days of history); SKIPPED before.
    ctx.assert_that(average).where(name="average price usual", severity="P1").is_not_anomalous(
        window=14, method="mad"
    )


@check(name="Orders contacts", severity="P2", datasets=["orders"])
def orders_contacts(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails mostly set").is_lt(
        0.05
    )
    ctx.assert_that(
        mp.count_values("status", ["paid", "pending", "refunded"]) / mp.num_rows()
    ).where(name="statuses known").is_eq(1)
    ctx.assert_that(mp.unique_count("customer_id")).where(name="customers seen").is_geq(100)


def partial_load(path: Path, day: dt.date = BAD_DAY) -> pa.Table:
    """The orders as the run of ``day`` saw them: that day only a tenth had arrived."""
    import duckdb

    connection = duckdb.connect()
    try:
        return connection.sql(
            "SELECT * FROM read_parquet($path) WHERE yyyy_mm_dd <> $day OR order_id % 10 = 0",
            params={"path": str(path), "day": day},
        ).to_arrow_table()
    finally:
        connection.close()


def demo_checks() -> list[Check]:
    return [orders_volume, orders_prices, orders_contacts]
