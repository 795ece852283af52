"""dqx_asset_check in real Dagster runs by ``materialize`` (in .venv-dagster).

The asset writes the orders file; the asset check runs the checks file against it.
Read back: the check's evaluation (passed, severity, metadata), the dqx store and
the trace file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow.parquet as pq
import pytest
from dagster import (
    AssetCheckSeverity,
    DailyPartitionsDefinition,
    asset,
    materialize,
)
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from dqx.common import DefinitionError
from dqx.integrations.dagster import dqx_asset_check
from tests.integrations.conftest import (
    CALLER_SPAN,
    CALLER_TRACE,
    DAY,
    JAEGER,
    TRACEPARENT,
    Workspace,
)


def _orders_asset(workspace: Workspace, partitioned: bool = False) -> Any:
    table = pq.read_table(workspace.orders)

    daily = DailyPartitionsDefinition("2024-01-01") if partitioned else None

    # No annotation on context: this module's annotations are strings, which Dagster refuses.
    @asset(name="orders", partitions_def=daily)
    def orders(context) -> None:  # type: ignore[no-untyped-def]
        # What an upstream job would do: land the day's file where the check reads it.
        pq.write_table(table, workspace.orders)
        context.log.info(f"wrote {workspace.orders}")

    return orders


def _evaluate(workspace: Workspace, fail_on: str, **options: Any) -> Any:
    orders = _orders_asset(workspace, partitioned="partition_key" in options)
    partition_key = options.pop("partition_key", None)
    check = dqx_asset_check(
        asset=orders,
        checks_file=workspace.checks,
        data={"orders": str(workspace.orders)},
        fail_on=fail_on,
        db_url=workspace.db_url,
        trace_file=workspace.trace_file,
        env={"DQX_JAEGER_URL": JAEGER},
        **options,
    )
    result = materialize([orders, check], partition_key=partition_key)
    assert result.success
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def _execution_id(evaluation: Any) -> str:
    value: str = evaluation.metadata["dqx/execution_id"].value
    return value


def test_the_check_passes_below_fail_on_and_names_the_run(workspace: Workspace) -> None:
    evaluation = _evaluate(workspace, "P1", day=DAY)
    assert evaluation.passed
    execution_id = _execution_id(evaluation)
    assert evaluation.metadata["dqx/trace_url"].value == f"{JAEGER}/trace/{execution_id}"
    assert evaluation.metadata["dqx/assertions"].value == 2
    assert evaluation.metadata["dqx/failed"].value == []
    stored = workspace.stored_run(execution_id)
    assert stored is not None and stored.yyyy_mm_dd == DAY
    assert workspace.stored_values(execution_id) == workspace.expected_values()


def test_a_failure_at_fail_on_fails_the_check_with_its_severity(workspace: Workspace) -> None:
    evaluation = _evaluate(workspace, "P2", day=lambda: DAY, severity=AssetCheckSeverity.WARN)
    assert not evaluation.passed
    assert evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.metadata["dqx/failed"].value == ["P2 Contacts: emails set is FAILURE"]
    assert "emails set" in evaluation.description
    stored = workspace.stored_run(_execution_id(evaluation))
    assert stored is not None and stored.status == "failed"


def test_a_daily_partition_is_the_day_the_run_is_about(workspace: Workspace) -> None:
    evaluation = _evaluate(workspace, "P1", partition_key=DAY.isoformat())
    stored = workspace.stored_run(_execution_id(evaluation))
    assert stored is not None and stored.yyyy_mm_dd == DAY
    # The day before holds two orders: a run about it would count two.
    assert workspace.stored_values(_execution_id(evaluation))["num_rows()"] == 3


def test_a_traceparent_in_the_environment_becomes_the_runs_caller_link(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    execution_id = _execution_id(_evaluate(workspace, "P1", day=DAY))
    [link] = workspace.root_links(execution_id)
    assert (link["traceId"], link["spanId"]) == (CALLER_TRACE, CALLER_SPAN)


def test_a_current_span_where_the_check_runs_becomes_the_runs_caller_link(
    workspace: Workspace,
) -> None:
    # As in a process that traces: materialize runs inside a span; no TRACEPARENT set.
    caller = SpanContext(
        int(CALLER_TRACE, 16), int(CALLER_SPAN, 16), is_remote=True, trace_flags=TraceFlags(1)
    )
    with trace.use_span(NonRecordingSpan(caller)):
        execution_id = _execution_id(_evaluate(workspace, "P1", day=DAY))
    [link] = workspace.root_links(execution_id)
    assert (link["traceId"], link["spanId"]) == (CALLER_TRACE, CALLER_SPAN)


def test_the_factory_refuses_a_bad_severity_or_no_data(workspace: Workspace) -> None:
    orders = _orders_asset(workspace)
    with pytest.raises(DefinitionError, match="fail_on"):
        dqx_asset_check(asset=orders, checks_file=workspace.checks, data={"o": "x"}, fail_on="P5")
    with pytest.raises(DefinitionError, match="no dataset"):
        dqx_asset_check(asset=orders, checks_file=workspace.checks, data={})


def test_without_a_day_the_run_is_about_today(workspace: Workspace) -> None:
    evaluation = _evaluate(workspace, "P1")
    stored = workspace.stored_run(_execution_id(evaluation))
    assert stored is not None
    assert stored.yyyy_mm_dd == dt.datetime.now(dt.UTC).date()
