"""Ctrl-C and SIGTERM are interrupts, not errors.

An engine that reports the interrupt as an error of its own (DuckDB's InterruptException
is an Exception like any engine error) must stop the run as ``interrupted``, never turn
it into ERROR results, call no plugin, and end the trace's root span in error; the run's
records, which agree on nothing, are not called ok.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import duckdb
import pytest

from dqx import ResultKey, VerificationSuite, check, reconcile
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.traces import InMemoryTraceSource
from tests.support.runs import Traced
from tests.support.slow_scan import DAY, endless_orders


def test_an_interrupt_the_engine_reports_as_its_own_error_stops_the_run_as_interrupted(
    store: MetricDB, traced: Traced, tmp_path: Path
) -> None:
    location = endless_orders(tmp_path)
    path = location.split("duckdb:///", 1)[1].split("#", 1)[0]
    connection = duckdb.connect(path, read_only=True)
    source = DuckRelationDataSource(connection, "orders", "orders")
    called: list[str] = []

    class Spy:
        def after_run(self, result: Any) -> None:
            called.append(result.execution_id)

    @check(name="Orders")
    def orders(mp: Any, ctx: Any) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)

    suite = VerificationSuite([orders], store, "Orders", traced.provider, plugins=[Spy()])
    # Another thread interrupts the connection, as an application's watchdog would:
    # DuckDB answers the query with its InterruptException, an Exception like any error.
    finished = threading.Event()

    def interrupt() -> None:
        while not finished.wait(0.2):
            connection.interrupt()

    threading.Thread(target=interrupt, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt) as raised:
            suite.run([source], ResultKey(dt.date.fromisoformat(DAY)))
    finally:
        finished.set()
        connection.close()

    assert isinstance(raised.value.__cause__, duckdb.InterruptException)
    record = store.run(suite.execution_id)
    assert record is not None and record.status == "interrupted"
    assert record.message is not None
    assert record.message.endswith("while analyzing dataset 'orders'")
    assert store.assertions(suite.execution_id) == []  # no ERROR results made of it
    assert called == []  # no plugin runs for an interrupted run
    [root] = traced.named("dqx.suite.run")
    assert root.status.status_code.name == "ERROR"
    assert root.status.description == record.message
    # Both records agree there is nothing, and that is no reason to call the run ok.
    rec = reconcile(store, suite.execution_id, InMemoryTraceSource(traced.exporter))
    assert rec.trace_found and rec.unfinished and not rec.ok
    assert rec.summary.startswith(f"run {suite.execution_id}: NOT OK; {record.message}")
