"""Metric store timings: bulk persist on SQLite and PostgreSQL, run lookup among 1M rows.

    .venv/bin/python bench/store.py [--rows 1000000] [--skip-postgres]

Prints one line per figure. PostgreSQL is the server at 127.0.0.1:5432 (database
``test``); the bench works in a schema of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from dqx.common import new_execution_id
from dqx.orm.repositories import Metric, MetricDB

PERSIST_BATCH = 10_000
METRICS_PER_RUN = 10
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def metrics(count: int, *, runs: int = 1, start: dt.date = dt.date(2024, 1, 1)) -> list[Metric]:
    """``count`` metrics spread over ``runs`` runs, each its own day, as a suite writes them."""
    ids = [new_execution_id() for _ in range(runs)]
    per_run = max(1, count // runs)
    return [
        Metric(
            kind="average",
            parameters={"column": f"c{i % METRICS_PER_RUN}"},
            name=f"average(c{i % METRICS_PER_RUN})",
            dataset="orders",
            yyyy_mm_dd=start + dt.timedelta(days=min(i // per_run, runs - 1)),
            tags={"env": "prod"},
            value=i * 0.25,
            execution_id=ids[min(i // per_run, runs - 1)],
        )
        for i in range(count)
    ]


def best_of(repeat: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def report(label: str, seconds: float, count: int | None = None) -> None:
    rate = f"  ({count / seconds:,.0f}/s)" if count else ""
    print(f"{label:<58} {seconds * 1000:10.2f} ms{rate}", flush=True)


def bench_persist(db: MetricDB, label: str) -> None:
    db.ensure_schema()
    batches = [metrics(PERSIST_BATCH) for _ in range(3)]
    report(
        f"{label}: persist {PERSIST_BATCH:,} metrics (best of 3)",
        best_of(3, lambda: db.persist(batches.pop())),
        PERSIST_BATCH,
    )


@contextmanager
def postgres_schema() -> Iterator[str]:
    schema = f"bench_{secrets.token_hex(4)}"
    admin = MetricDB(POSTGRES)
    with admin.engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def bench_lookup(path: Path, rows: int) -> None:
    db = MetricDB(f"sqlite:///{path}")
    db.ensure_schema()
    runs = rows // METRICS_PER_RUN
    started = time.perf_counter()
    chunk = 100_000
    ids: list[str] = []
    for _ in range(0, rows, chunk):
        batch = metrics(chunk, runs=chunk // METRICS_PER_RUN, start=dt.date(2000, 1, 1))
        ids.append(batch[len(batch) // 2].execution_id)
        db.persist(batch)
    report(
        f"SQLite: persist {rows:,} metrics in batches of {chunk:,}",
        time.perf_counter() - started,
        rows,
    )
    with db.engine.connect() as connection:
        stored = connection.execute(text("SELECT count(*) FROM dq_metric")).scalar_one()
        plan = connection.execute(
            text("EXPLAIN QUERY PLAN SELECT * FROM dq_metric WHERE execution_id = :e"),
            {"e": ids[0]},
        ).all()
    print(f"SQLite: rows stored {stored:,} in {runs:,} runs; plan: {plan[0][-1]}")
    timings = []
    for execution_id in ids * 10:
        started = time.perf_counter()
        found = db.metrics_for_execution(execution_id)
        timings.append(time.perf_counter() - started)
        assert len(found) == METRICS_PER_RUN, len(found)
    report(
        f"SQLite: metrics_for_execution among {stored:,} rows (median)", statistics.median(timings)
    )
    report(f"SQLite: metrics_for_execution among {stored:,} rows (max)", max(timings))
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        db = MetricDB(f"sqlite:///{Path(workdir) / 'persist.db'}")
        bench_persist(db, "SQLite file")
        db.dispose()
        bench_persist(MetricDB("sqlite://"), "SQLite memory")
        if not args.skip_postgres:
            with postgres_schema() as url:
                db = MetricDB(url)
                bench_persist(db, "PostgreSQL (psycopg 3)")
                db.dispose()
        bench_lookup(Path(workdir) / "lookup.db", args.rows)


if __name__ == "__main__":
    main()
