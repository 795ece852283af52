"""metrics_by_execution_id on a SQLite database holding 1,000,000 metric rows.

    python bench/retrieval.py                 # 1,000,000 rows, prints the median
    python bench/retrieval.py --rows 20000    # smaller, for a quick look

The filler rows go in through SQLite itself (INSERT ... SELECT over a recursive CTE),
spread over 20,000 other runs; the measured run's 50 metrics go in through
``MetricDB.persist`` like any run's. The query plan is checked to use the
execution_id index, so the figure cannot silently become a table scan.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from dqx import metrics_by_execution_id
from dqx.common import new_execution_id
from dqx.orm.repositories import Metric, MetricDB

RUN_METRICS = 50

_FILL = """
INSERT INTO dq_metric (id, kind, parameters, name, dataset, yyyy_mm_dd, tags, identity,
                       value, execution_id, origin, source_execution_id, suite, created)
WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < :rows - 1)
SELECT printf('%032x', i), 'average', '{"column": "c' || (i % 50) || '"}',
       'average(c' || (i % 50) || ')', 'orders',
       date('2021-01-01', '+' || (i / 50 % 1000) || ' days'), '{"env": "prod"}',
       printf('%064x', i % 50), i * 0.125, printf('f%031x', i / 50), 'computed', NULL,
       'filler', '2024-01-01 00:00:00.000000'
FROM n
"""


def _run_metrics(execution_id: str) -> list[Metric]:
    day = dt.date(2024, 3, 1)
    return [
        Metric(
            kind="average",
            parameters={"column": f"c{i}"},
            name=f"average(c{i})",
            dataset="orders",
            yyyy_mm_dd=day - dt.timedelta(days=i % 7),
            tags={"env": "prod"},
            value=i / 7,
            execution_id=execution_id,
            suite="Orders",
        )
        for i in range(RUN_METRICS)
    ]


def measure(path: Path, rows: int, repeats: int) -> dict[str, float | int | str]:
    db = MetricDB(f"sqlite:///{path}")
    db.ensure_schema()
    started = time.perf_counter()
    with db.engine.begin() as connection:
        connection.execute(text(_FILL), {"rows": rows - RUN_METRICS})
    execution_id = new_execution_id()
    db.persist(_run_metrics(execution_id))
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    fill_s = time.perf_counter() - started
    with db.engine.connect() as connection:
        stored = int(connection.execute(text("SELECT COUNT(*) FROM dq_metric")).scalar_one())
        plan = " | ".join(
            str(row[-1])
            for row in connection.execute(
                text("EXPLAIN QUERY PLAN SELECT * FROM dq_metric WHERE execution_id = :e"),
                {"e": execution_id},
            )
        )
    if "USING INDEX" not in plan or "execution_id" not in plan:
        raise SystemExit(f"the execution_id lookup does not use its index: {plan}")
    if len(metrics_by_execution_id(db, execution_id)) != RUN_METRICS:
        raise SystemExit("metrics_by_execution_id did not return the run's metrics")
    samples = []
    for _ in range(repeats):
        begin = time.perf_counter()
        metrics_by_execution_id(db, execution_id)
        samples.append(time.perf_counter() - begin)
    db.dispose()
    return {
        "rows": stored,
        "fill_s": fill_s,
        "median_ms": statistics.median(samples) * 1000,
        "min_ms": min(samples) * 1000,
        "max_ms": max(samples) * 1000,
        "repeats": repeats,
        "plan": plan,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temp dir)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        path = args.db or Path(scratch) / "retrieval.db"
        result = measure(path, args.rows, args.repeats)
    print(
        f"metrics_by_execution_id, a run of {RUN_METRICS} metrics among {result['rows']:,} rows "
        f"(SQLite): median {result['median_ms']:.2f} ms over {result['repeats']} calls "
        f"(min {result['min_ms']:.2f}, max {result['max_ms']:.2f}); "
        f"fill {result['fill_s']:.1f} s; plan: {result['plan']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
