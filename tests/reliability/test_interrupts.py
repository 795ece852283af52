"""Ctrl-C and SIGTERM are interrupts, not errors.

Signals go to a real ``dqx run`` in the middle of a scan that would never end by
itself. The engine's query must stop at once, the run be recorded as ``interrupted``
(never ``failed``, never left ``running``), its trace be flushed with the root span in
error, and the command exit 130 for SIGINT, 143 for SIGTERM; reconciling the run must
not call it ok. In process, an engine that reports the interrupt as an error of its own
must stop the run the same way, with no plugin called. A signal that comes once the run
is judged (while its alert is being sent) stops the command but leaves the record alone.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from dqx import ResultKey, VerificationSuite, check, reconcile
from dqx.cli.reconcile import reconcile_command
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.traces import InMemoryTraceSource
from tests.support.runs import Traced
from tests.support.slow_scan import (
    DAY,
    dqx_argv,
    dqx_env,
    endless_orders,
    one_line,
    start_scanning,
)

# The signals sent in a row, and the exit code a shell reports for the first.
_CASES = {
    "one SIGINT": ([signal.SIGINT], 130),
    "three SIGINTs": ([signal.SIGINT] * 3, 130),
    "one SIGTERM": ([signal.SIGTERM], 143),
}


def _root_spans(trace_file: Path, execution_id: str) -> list[dict[str, Any]]:
    """The run's root spans as the OTLP JSON lines hold them, read without dqx's reader."""
    roots = []
    for line in trace_file.read_text().splitlines():
        for resource in json.loads(line)["resourceSpans"]:
            for scope in resource["scopeSpans"]:
                roots.extend(
                    span
                    for span in scope["spans"]
                    if span["name"] == "dqx.suite.run" and span["traceId"] == execution_id
                )
    return roots


@pytest.mark.parametrize("case", list(_CASES))
def test_a_signal_mid_scan_records_the_run_as_interrupted_and_exits_with_its_code(
    case: str, store_url: str, tmp_path: Path
) -> None:
    signals, code = _CASES[case]
    trace_file = tmp_path / "traces.jsonl"
    run = start_scanning(tmp_path, store_url, "--trace-file", str(trace_file))
    sent = time.monotonic()
    for signum in signals:
        run.send_signal(signum)
        time.sleep(0.05)
    out, err = run.communicate(timeout=30)
    stopped_after = time.monotonic() - sent

    assert run.returncode == code, out + err
    # The query stopped: the scan of 10^12 rows was cut short, not waited for.
    assert stopped_after < 5, stopped_after
    message = one_line(err)
    assert "Traceback" not in message and "Aborted" not in message
    [execution_id] = {word for word in message.split() if len(word) == 32 and word.isalnum()}
    name = signals[0].name
    assert (
        f"dqx: run {execution_id} interrupted ({name}) while analyzing dataset 'orders': "
        "recorded as interrupted" in message
    )
    assert "run the same command again" in message and "run-interrupted.md" in message

    db = MetricDB(store_url)
    try:
        record = db.run(execution_id)
    finally:
        db.dispose()
    assert record is not None
    assert (record.status, record.message) == (
        "interrupted",
        f"interrupted ({name}) while analyzing dataset 'orders'",
    )
    assert record.finished is not None and record.metric_count == 0
    assert record.trace_exported is True  # flushed: the file holds it

    # The trace file is not empty: the root span ended in error, saying why.
    [root] = _root_spans(trace_file, execution_id)
    assert root["status"]["code"] == 2  # STATUS_CODE_ERROR
    assert root["status"]["message"] == record.message
    attributes = {a["key"]: a["value"].get("stringValue") for a in root["attributes"]}
    assert attributes["dqx.run.status"] == "interrupted"

    # The records agree on nothing worth calling ok: the run judged nothing.
    rec = CliRunner().invoke(
        reconcile_command,
        [execution_id, "--db", store_url, "--trace-file", str(trace_file)],
        env={"COLUMNS": "400"},
    )
    assert rec.exit_code == 1, rec.output
    said = one_line(rec.output)
    assert ": ok" not in said
    assert f"run {execution_id}: NOT OK; {record.message}, so the run has no results" in said
    assert "run its command again" in said


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


FAILING_CHECKS = """
from dqx import check


@check(name="Orders", severity="P1")
def orders(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="no rows at all").is_lt(0)
"""


def test_a_signal_while_the_alert_goes_out_leaves_the_judged_record_as_it_is(
    store_url: str, tmp_path: Path
) -> None:
    (tmp_path / "checks.py").write_text(FAILING_CHECKS)
    pq.write_table(pa.table({"price": [1.0, 2.0]}), tmp_path / "orders.parquet")
    # A webhook that takes the connection and never answers: the alert hangs there.
    hook = socket.create_server(("127.0.0.1", 0))
    port = hook.getsockname()[1]
    run = subprocess.Popen(
        dqx_argv(
            "run",
            "checks.py",
            "--data",
            "orders=orders.parquet",
            "--date",
            DAY,
            "--db",
            store_url,
            "--alert",
            f"webhook=http://127.0.0.1:{port}/hook",
        ),
        cwd=tmp_path,
        env=dqx_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        hook.settimeout(60)
        connection, _ = hook.accept()  # the run is judged; its alert is being sent
        run.send_signal(signal.SIGTERM)
        out, err = run.communicate(timeout=30)
        connection.close()
    finally:
        hook.close()

    assert run.returncode == 143, out + err
    message = one_line(err)
    [execution_id] = {word for word in message.split() if len(word) == 32 and word.isalnum()}
    assert f"dqx: SIGTERM came after run {execution_id} was recorded as failed" in message
    db = MetricDB(store_url)
    try:
        record = db.run(execution_id)
        assertions = db.assertions(execution_id)
    finally:
        db.dispose()
    # What the run found stands: the signal stopped only the alert.
    assert record is not None and (record.status, record.message) == ("failed", None)
    assert [(a.assertion, a.status) for a in assertions] == [("no rows at all", "FAILURE")]
