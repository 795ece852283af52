"""dqx.integrations.suite_file: a checks file run as ``dqx run`` does it, for the
orchestrator hooks, and the caller's trace handed over as TRACEPARENT.

Real child processes of the ``dqx`` command line, a real SQLite store and trace file.
The orchestrators themselves are tested in their own virtualenvs
(tests/integrations, ``make test-integrations``).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from dqx.common import DefinitionError, DQXError
from dqx.integrations.suite_file import run_suite_file, traceparent_env
from dqx.orm.repositories import MetricDB

pytestmark = pytest.mark.slow  # each test starts the command line

DAY = dt.date(2024, 3, 2)
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"

CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Volume", severity="P1", datasets=["orders"])
    def volume(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)

    @check(name="Contacts", severity="P2", datasets=["orders"])
    def contacts(mp, ctx):
        ctx.assert_that(mp.null_count("email")).where(name="emails set").is_eq(0)
    """
)


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in [n for n in os.environ if n.startswith(("DQX_", "OTEL_", "TRACE"))]:
        monkeypatch.delenv(name)
    (tmp_path / "checks.py").write_text(CHECKS)
    emails = ["a@x.io", None, "b@x.io", "c@x.io", None]
    days = [DAY - dt.timedelta(days=1)] * 2 + [DAY] * 3
    table = pa.table({"yyyy_mm_dd": days, "email": emails})
    pq.write_table(table, tmp_path / "orders.parquet")
    return tmp_path


def _run(workspace: Path, **options: Any) -> Any:
    return run_suite_file(
        workspace / "checks.py",
        {"orders": str(workspace / "orders.parquet")},
        DAY,
        db_url=f"sqlite:///{workspace / 'dqx.db'}",
        trace_file=workspace / "traces.jsonl",
        **options,
    )


def _root_links(trace_file: Path, execution_id: str) -> list[dict[str, Any]]:
    for line in trace_file.read_text().splitlines():
        for resource in json.loads(line).get("resourceSpans", []):
            for scope in resource["scopeSpans"]:
                for span in scope["spans"]:
                    if span["name"] == "dqx.suite.run" and span["traceId"] == execution_id:
                        links: list[dict[str, Any]] = span.get("links", [])
                        return links
    raise AssertionError(f"no root span of {execution_id} in {trace_file}")


def test_a_run_reports_its_execution_id_links_and_what_failed_at_fail_on(
    workspace: Path,
) -> None:
    run = _run(workspace, fail_on="P2", env={"DQX_JAEGER_URL": "http://jaeger:16686"})
    stored = MetricDB(f"sqlite:///{workspace / 'dqx.db'}").run(run.execution_id)
    assert stored is not None and stored.status == "failed"
    assert run.trace_url == f"http://jaeger:16686/trace/{run.execution_id}"
    assert run.links["trace_id"] == run.execution_id
    # DAY holds 3 rows, one without an email: "orders arrived" passes, "emails set" fails.
    assert [(r["assertion"], r["status"]) for r in run.results] == [
        ("orders arrived", "OK"),
        ("emails set", "FAILURE"),
    ]
    assert [r["assertion"] for r in run.failed] == ["emails set"]
    assert not run.passed
    assert "1 assertion(s) at P2 or above did not pass" in run.failure_summary()
    # The same run judged at P1: the P2 failure fails nothing.
    assert _run(workspace, fail_on="P1").passed


def test_the_current_span_reaches_the_run_as_its_callers_link(workspace: Path) -> None:
    caller = SpanContext(
        int(CALLER_TRACE, 16), int(CALLER_SPAN, 16), is_remote=True, trace_flags=TraceFlags(1)
    )
    with trace.use_span(NonRecordingSpan(caller)):
        assert traceparent_env() == {"TRACEPARENT": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
        run = _run(workspace)
    [link] = _root_links(workspace / "traces.jsonl", run.execution_id)
    assert (link["traceId"], link["spanId"]) == (CALLER_TRACE, CALLER_SPAN)
    assert run.execution_id != CALLER_TRACE  # linked, not parented: a trace of its own


def test_a_traceparent_in_the_environment_links_the_run(workspace: Path) -> None:
    assert traceparent_env() == {}
    run = _run(workspace, env={"TRACEPARENT": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"})
    [link] = _root_links(workspace / "traces.jsonl", run.execution_id)
    assert (link["traceId"], link["spanId"]) == (CALLER_TRACE, CALLER_SPAN)


def test_without_a_caller_the_run_links_to_nothing(workspace: Path) -> None:
    run = _run(workspace)
    assert _root_links(workspace / "traces.jsonl", run.execution_id) == []


def test_a_malformed_traceparent_is_reported_and_the_run_goes_on(workspace: Path) -> None:
    argv = [sys.executable, "-m", "dqx.cli", "run", str(workspace / "checks.py")]
    argv += ["--data", f"orders={workspace / 'orders.parquet'}", "--date", DAY.isoformat()]
    argv += ["--db", f"sqlite:///{workspace / 'dqx.db'}", "--fail-on", "P1"]
    argv += ["--trace-file", str(workspace / "traces.jsonl"), "--format", "json"]
    completed = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TRACEPARENT": "not-a-traceparent"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "TRACEPARENT 'not-a-traceparent' is not a W3C traceparent" in completed.stderr
    execution_id = json.loads(completed.stdout)["execution_id"]
    assert _root_links(workspace / "traces.jsonl", execution_id) == []


def test_a_run_the_command_cannot_judge_raises_with_what_it_said(workspace: Path) -> None:
    with pytest.raises(DQXError, match=r"exited 2: .*missing\.parquet"):
        run_suite_file(
            workspace / "checks.py",
            {"orders": str(workspace / "missing.parquet")},
            DAY,
            db_url=f"sqlite:///{workspace / 'dqx.db'}",
        )
    with pytest.raises(DefinitionError, match="fail_on"):
        _run(workspace, fail_on="P7")
    with pytest.raises(DefinitionError, match="no dataset"):
        run_suite_file(workspace / "checks.py", {}, DAY)
