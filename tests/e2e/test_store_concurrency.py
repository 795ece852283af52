"""Several processes running suites into one metric database lose nothing and never lock up."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import queue
from typing import Any

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB

PROCESSES = 4
RUNS = 5
FIRST_DAY = dt.date(2024, 5, 1)

Stored = tuple[str, str, str, float | None]


@check(name="Orders", severity="P1")
def orders(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
    ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(10)
    ctx.assert_that(mp.maximum("price")).where(name="max").is_geq(mp.minimum("price"))


def _worker(url: str, worker: int, barrier: Any, results: Any) -> None:
    try:
        db = MetricDB(url)
        days = [FIRST_DAY + dt.timedelta(days=d) for d in range(RUNS + 1)]
        table = pa.table(
            {
                "yyyy_mm_dd": pa.array([d for d in days for _ in range(20)], pa.date32()),
                "price": [float(i % 13 + worker) for i in range(20 * len(days))],
            }
        )
        source = DuckRelationDataSource.from_arrow(table, "orders")
        suite = VerificationSuite([orders], db, f"Suite {worker}")
        barrier.wait(timeout=120)
        runs: list[tuple[str, list[Stored]]] = []
        for index in range(RUNS):
            if index:
                suite.reset()
            key = ResultKey(days[index + 1], {"env": "prod", "worker": str(worker)})
            result = suite.run([source], key)
            runs.append(
                (
                    result.execution_id,
                    sorted(
                        (m.id, m.name, m.yyyy_mm_dd.isoformat(), m.value) for m in result.metrics
                    ),
                )
            )
        db.dispose()
        results.put((worker, runs, None))
    except Exception as exc:  # reported to the parent, which fails the test with it
        results.put((worker, [], f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
def test_four_processes_of_five_runs_store_every_metric_exactly_once(store_url: str) -> None:
    url = store_url  # on SQLite a file that does not exist yet: the schema is raced too
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    results = context.Queue()
    processes = [
        context.Process(target=_worker, args=(url, worker, barrier, results))
        for worker in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    outcomes = []
    for _ in processes:
        try:
            outcomes.append(results.get(timeout=240))
        except queue.Empty:
            break
    for process in processes:
        process.join(timeout=30)
    errors = [error for _, _, error in outcomes if error]
    assert not errors, errors
    assert len(outcomes) == PROCESSES

    db = MetricDB(url)
    try:
        expected_total = 0
        for _, runs, _ in outcomes:
            assert len(runs) == RUNS
            for execution_id, metrics in runs:
                stored = sorted(
                    (m.id, m.name, m.yyyy_mm_dd.isoformat(), m.value)
                    for m in db.metrics_for_execution(execution_id)
                )
                assert stored == metrics
                record = db.run(execution_id)
                assert record is not None and record.status == "passed"
                assert record.metric_count == len(metrics)
                expected_total += len(metrics)
        # Per run: num_rows, min, max on the day, average on the day and the day before,
        # and the day-over-day value.
        assert expected_total == PROCESSES * RUNS * 6
        assert len(db.load()) == expected_total
        assert len(db.runs(limit=1000)) == PROCESSES * RUNS
    finally:
        db.dispose()
