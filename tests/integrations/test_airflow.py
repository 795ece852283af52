"""DQXOperator in a real Airflow 3 DAG run by ``dag.test()`` (in .venv-airflow).

Each test writes a DAG file into the session's dags folder (``dag.test()`` runs only a
DAG it can find there and serialise), runs it for a logical date, and reads back the
task's state, its XComs, the dqx store and the trace file.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from tests.integrations.conftest import (
    CALLER_SPAN,
    CALLER_TRACE,
    DAY,
    JAEGER,
    TRACEPARENT,
    Workspace,
)

DAG_FILE = textwrap.dedent(
    """
    import datetime as dt

    from airflow.sdk import DAG

    from dqx.integrations.airflow import DQXOperator

    with DAG({dag_id!r}, schedule=None, start_date=dt.datetime(2024, 1, 1)) as dag:
        DQXOperator(
            task_id="orders_quality",
            checks_file={checks!r},
            data={{"orders": {orders!r}}},
            fail_on={fail_on!r},
            tags={{"ds": "{{{{ ds }}}}"}},
            db_url={db_url!r},
            trace_file={trace_file!r},
            env={{"DQX_JAEGER_URL": {jaeger!r}}},
            retries=2,
            retry_delay=dt.timedelta(0),  # a retry, if any, comes at once, not in 5 min
        )
    """
)


@pytest.fixture(scope="session", autouse=True)
def airflow_db() -> Iterator[None]:
    """Airflow's metadata database, migrated once for the session."""
    airflow = Path(sys.executable).with_name("airflow")
    completed = subprocess.run(
        [str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300, check=False
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).mkdir(parents=True, exist_ok=True)
    yield


def _dag_run(workspace: Workspace, dag_id: str, fail_on: str = "P1") -> tuple[Any, Any]:
    """The DAG run of ``dag.test()`` at DAY and its one task instance."""
    source = DAG_FILE.format(
        dag_id=dag_id,
        checks=str(workspace.checks),
        orders=str(workspace.orders),
        fail_on=fail_on,
        db_url=workspace.db_url,
        trace_file=str(workspace.trace_file),
        jaeger=JAEGER,
    )
    path = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"]) / f"{dag_id}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(dag_id, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logical = dt.datetime.combine(DAY, dt.time(6, 30), dt.UTC)
    dag_run = module.dag.test(logical_date=logical)
    [ti] = dag_run.get_task_instances()
    return dag_run, ti


def _xcom(ti: Any, key: str) -> Any:
    return ti.xcom_pull(task_ids="orders_quality", key=key)


def test_the_task_runs_the_suite_for_its_logical_date_and_hands_over_the_run(
    workspace: Workspace,
) -> None:
    dag_run, ti = _dag_run(workspace, "dq_passes", fail_on="P1")
    assert dag_run.state == DagRunState.SUCCESS
    assert ti.state == TaskInstanceState.SUCCESS
    execution_id = _xcom(ti, "execution_id")
    assert _xcom(ti, "return_value") == execution_id
    assert _xcom(ti, "trace_url") == f"{JAEGER}/trace/{execution_id}"
    stored = workspace.stored_run(execution_id)
    assert stored is not None
    # The logical date, not today: the run is about the day the DAG run is for.
    assert stored.yyyy_mm_dd == DAY
    assert stored.status == "failed"  # the P2 assertion failed, below fail_on P1
    assert stored.tags == {"ds": DAY.isoformat()}  # a templated field, rendered by Airflow
    assert workspace.stored_values(execution_id) == workspace.expected_values()


def test_a_failure_at_fail_on_fails_the_task_after_handing_over_the_run(
    workspace: Workspace,
) -> None:
    dag_run, ti = _dag_run(workspace, "dq_fails", fail_on="P2")
    assert dag_run.state == DagRunState.FAILED
    # Failed for good, though the task has retries: a verdict on the data is not retried.
    assert ti.state == TaskInstanceState.FAILED
    assert ti.try_number == 1
    execution_id = _xcom(ti, "execution_id")
    assert execution_id is not None
    assert _xcom(ti, "trace_url") == f"{JAEGER}/trace/{execution_id}"
    stored = workspace.stored_run(execution_id)
    assert stored is not None and stored.status == "failed"


def test_the_workers_traceparent_becomes_the_runs_caller_link(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEPARENT", TRACEPARENT)
    _, ti = _dag_run(workspace, "dq_traced", fail_on="P1")
    execution_id = _xcom(ti, "execution_id")
    [link] = workspace.root_links(execution_id)
    assert (link["traceId"], link["spanId"]) == (CALLER_TRACE, CALLER_SPAN)
    assert execution_id != CALLER_TRACE  # linked, not parented: the run's trace is its own


def test_the_tasks_current_span_becomes_the_runs_caller_link(workspace: Workspace) -> None:
    # A span current where the task runs, as in a worker that traces its tasks; no
    # TRACEPARENT in the environment (the workspace fixture removes it).
    caller = SpanContext(
        int(CALLER_TRACE, 16), int(CALLER_SPAN, 16), is_remote=True, trace_flags=TraceFlags(1)
    )
    with trace.use_span(NonRecordingSpan(caller)):
        _, ti = _dag_run(workspace, "dq_in_span")
    execution_id = _xcom(ti, "execution_id")
    [link] = workspace.root_links(execution_id)
    assert (link["traceId"], link["spanId"]) == (CALLER_TRACE, CALLER_SPAN)
