"""How a backfill's batch size (days per statement) prices a year of the 12 metrics.

    python bench/backfill_batches.py [ROWS] [ROUNDS]    # default 6,000,000 rows, 3 rounds

Only the statements are timed (``Analyzer.compute`` over 365 days, split into batches
of 1, 7, 31, 92 and 366 days), next to the same metrics over the whole table once.
The figures chose ``dqx.backfill.BATCH_DAYS``; bench/FINDINGS.md keeps them.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import lineitem  # noqa: E402
from checks import twelve  # noqa: E402

from dqx import MetricProvider  # noqa: E402
from dqx.analyzer import Analyzer  # noqa: E402
from dqx.datasource import DuckRelationDataSource  # noqa: E402

SIZES = (1, 7, 31, 92, 366)


def main() -> int:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 6_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    parquet = lineitem.generate(HERE / "data", rows)
    specs = [symbol.spec for _, symbol in twelve(MetricProvider())]
    until = lineitem.last_day(rows)
    count = min(365, rows // lineitem.ROWS_PER_DAY)
    days = [until - dt.timedelta(days=n) for n in range(count)][::-1]
    partitioned = DuckRelationDataSource.from_parquet(parquet, "lineitem", date_column="l_shipdate")
    whole = DuckRelationDataSource.from_parquet(parquet, "lineitem")

    def batches(size: int) -> tuple[float, int]:
        started, statements = time.perf_counter(), 0
        for first in range(0, len(days), size):
            statements += len(Analyzer(partitioned).compute(specs, days[first : first + size])[1])
        return time.perf_counter() - started, statements

    def full() -> tuple[float, int]:
        started = time.perf_counter()
        statements = len(Analyzer(whole).compute(specs, [until])[1])
        return time.perf_counter() - started, statements

    timed: dict[str, list[tuple[float, int]]] = {f"{size} day(s)": [] for size in SIZES}
    timed["whole table once"] = []
    for round_index in range(rounds):
        for size in SIZES:
            # One day per statement is slow enough that one round says it.
            if size == 1 and round_index:
                continue
            timed[f"{size} day(s)"].append(batches(size))
        timed["whole table once"].append(full())
    print(f"{count} days of 12 metrics over {rows:,} rows, statements only:")
    for name, samples in timed.items():
        seconds = statistics.median(s for s, _ in samples)
        print(f"  batch of {name:17} {seconds:7.3f} s  {samples[0][1]:5} statements")
    return 0


if __name__ == "__main__":
    sys.exit(main())
