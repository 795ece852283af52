"""Benchmark 12: the HTML report of a 1,000-metric run with a month of history.

    python bench/html_report.py                 # 1,000 metrics, 30 days, 5 timed rounds
    python bench/html_report.py --metrics 200 --days 5 --repeats 1

A suite of ``--metrics`` assertions, each on a metric of its own (``count_values`` of
one status value; every tenth bound fails), runs into a SQLite store that already
holds each metric for the ``--days`` - 1 days before, so every chart has a full
window, and the run has statements and failures to show. Timed: ``dqx.report.write_report``
for the last run, everything from reading the store to the file on disk; the budget
is 2 s and 5 MB. ``bench/run.py`` runs it as benchmark 12 (``--only 12``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LAST = dt.date(2024, 6, 30)
SECONDS_BUDGET = 2.0
BYTES_BUDGET = 5_000_000


def _source(metrics: int, days: int, rows_per_day: int) -> Any:
    import pyarrow as pa

    from dqx.datasource import DuckRelationDataSource

    dates, statuses = [], []
    for day in range(days):
        for row in range(rows_per_day):
            dates.append(LAST - dt.timedelta(days=day))
            statuses.append(f"s{(row * 7 + day) % metrics}")
    return DuckRelationDataSource.from_arrow(
        pa.table({"yyyy_mm_dd": dates, "status": statuses}), "events"
    )


def _checks(metrics: int) -> list[Any]:
    from dqx import Context, MetricProvider, check

    @check(name="Statuses", severity="P2")
    def statuses(mp: MetricProvider, ctx: Context) -> None:
        for i in range(metrics):
            # Every tenth bound is out of reach: the report has failures to show.
            bound = 10**6 if i % 10 == 0 else 0
            ctx.assert_that(mp.count_values("status", f"s{i}")).where(name=f"s{i}").is_geq(bound)

    return [statuses]


def build(workdir: Path, metrics: int, days: int) -> tuple[str, str]:
    """A store holding the suite's run on the last day and, for each earlier day, the
    same metrics as an earlier run stored them; the last run's execution id."""
    from dataclasses import replace

    from dqx import ResultKey, VerificationSuite
    from dqx.common import new_execution_id
    from dqx.orm.repositories import MetricDB

    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "report-bench.db"
    path.unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    db = MetricDB(url)
    source = _source(metrics, 1, rows_per_day=2 * metrics)
    try:
        suite = VerificationSuite(_checks(metrics), db, "Report bench")
        result = suite.run([source], ResultKey(LAST, {"env": "bench"}))
        # Earlier days as their own runs would have stored them: one run a day, each
        # value a little different. Writing them directly keeps the set-up to seconds.
        for offset in range(1, days):
            earlier = new_execution_id()
            db.persist(
                replace(
                    metric,
                    yyyy_mm_dd=LAST - dt.timedelta(days=offset),
                    value=(metric.value or 0.0) + offset % 3,
                    execution_id=earlier,
                    tags={**metric.tags, "__execution_id": earlier},
                    id=new_execution_id(),
                )
                for metric in result.metrics
            )
    finally:
        source.close()
        db.dispose()
    return url, suite.execution_id


def measure(
    url: str, execution_id: str, out: Path, repeats: int, days: int
) -> tuple[list[float], int, dict[str, int]]:
    """Seconds of each timed ``write_report`` (after one warm-up), the file's size and
    what the page holds."""
    from dqx.orm.repositories import MetricDB
    from dqx.report import write_report

    db = MetricDB(url)
    samples: list[float] = []
    report: Any = None
    for round_index in range(repeats + 1):
        started = time.perf_counter()
        report = write_report(db, execution_id, out, days=days)
        elapsed = time.perf_counter() - started
        if round_index:
            samples.append(elapsed)
    db.dispose()
    page = out.read_text(encoding="utf-8")
    shape = {
        "charts": len(report.charts),
        "points": page.count("<circle"),
        "failures": len(report.failures),
        "assertions": len(report.assertions),
    }
    return samples, out.stat().st_size, shape


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-dir", type=Path, default=HERE / "data")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    url, execution_id = build(args.data_dir, args.metrics, args.days)
    built = time.perf_counter() - started
    out = args.data_dir / "report-bench.html"
    samples, size, shape = measure(url, execution_id, out, args.repeats, args.days)
    median = statistics.median(samples)
    print(f"stored {args.days} days of {args.metrics} metrics in {built:.1f} s")
    print(f"page: {shape}")
    print(
        f"write_report: median {median:.3f} s (min {min(samples):.3f}, max {max(samples):.3f}, "
        f"n={len(samples)}), budget {SECONDS_BUDGET} s: "
        f"{'met' if median <= SECONDS_BUDGET else 'MISSED'}"
    )
    print(f"size: {size / 1e6:.2f} MB, budget 5 MB: {'met' if size <= BYTES_BUDGET else 'MISSED'}")
    return 0 if median <= SECONDS_BUDGET and size <= BYTES_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main())
