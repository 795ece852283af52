"""dq_statement: a run's SQL, written with its final record and read back in order."""

from __future__ import annotations

import datetime as dt

from dqx.common import new_execution_id
from dqx.orm.repositories import MetricDB
from dqx.records import RunRecord, Statement

DAY = dt.date(2024, 3, 10)


def _run(execution_id: str, day: dt.date = DAY) -> RunRecord:
    started = dt.datetime(2024, 3, 11, 6, 0)
    return RunRecord(execution_id, "Orders", day, {"env": "t"}, started, started, "passed", True, 2)


def _statement(sql: str, metrics: tuple[str, ...], error: str | None = None) -> Statement:
    return Statement(
        dataset="orders",
        sql=sql,
        params={"d_0": DAY, "p_0": "paid", "p_1": [1, 2]},
        dates=(DAY - dt.timedelta(days=1), DAY),
        metrics=metrics,
        seconds=0.012,
        rows_scanned=3_000_000_000,
        error=error,
    )


def test_statements_come_back_in_the_order_the_run_ran_them(store: MetricDB) -> None:
    execution_id = new_execution_id()
    first = _statement('SELECT COUNT(*) AS "m_0" FROM "orders"', ("num_rows()",))
    second = _statement("SELECT 1/0", ("custom_sql(1/0)",), error="DivisionByZero: boom")
    store.record_run(_run(execution_id), (), [first, second])
    back = store.statements(execution_id)
    assert [s.sql for s in back] == [first.sql, second.sql]
    assert back[0].dates == first.dates and back[0].metrics == ("num_rows()",)
    # Dates bound as parameters come back as their text; big scans keep every row.
    assert back[0].params == {"d_0": "2024-03-10", "p_0": "paid", "p_1": [1, 2]}
    assert back[0].rows_scanned == 3_000_000_000 and back[1].error == "DivisionByZero: boom"

    # Recording the run again (its final record) replaces them; without statements the
    # ones recorded stay (the "running" marker and interrupts write none).
    store.record_run(_run(execution_id), (), [second])
    assert [s.sql for s in store.statements(execution_id)] == [second.sql]
    store.record_run(_run(execution_id))
    assert [s.sql for s in store.statements(execution_id)] == [second.sql]
    assert store.statements(new_execution_id()) == []


def test_retention_deletes_the_statements_of_old_runs(store: MetricDB) -> None:
    old, new = new_execution_id(), new_execution_id()
    store.record_run(_run(old, DAY - dt.timedelta(days=30)), (), [_statement("SELECT 1", ())])
    store.record_run(_run(new), (), [_statement("SELECT 2", ())])
    store.delete_before(DAY - dt.timedelta(days=1))
    assert store.statements(old) == []
    assert [s.sql for s in store.statements(new)] == ["SELECT 2"]
