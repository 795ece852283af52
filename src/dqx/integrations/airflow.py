"""``DQXOperator``: an Airflow task that runs a checks file for its logical date.

Needs the ``airflow`` extra (Airflow 3: ``pip install '.[airflow]'`` in a dqx clone)::

    from dqx.integrations.airflow import DQXOperator

    DQXOperator(
        task_id="orders_quality",
        checks_file="/opt/dq/orders_checks.py",
        data={"orders": "/lake/orders/dt={{ ds }}/"},
        fail_on="P1",
        tags={"env": "prod"},
    )

The run is ``dqx run`` in a child process (:mod:`dqx.integrations.suite_file`), about
the task's logical date (``day=`` overrides it, a template like ``"{{ ds }}"`` or a
date). It pushes ``execution_id`` and ``trace_url`` to XCom (and returns the execution
id, the task's ``return_value``), then fails the task, without retries, when an
assertion at ``fail_on`` or above did not pass, naming each; a run that reached no
verdict (a source it cannot read, a store that refused it) raises ``DQXError``, which
the task's retries cover. Settings the operator is not given come from the
worker's environment and ``dqx.toml`` (``DQX_DB_URL``, ``DQX_JAEGER_URL``,
``OTEL_EXPORTER_OTLP_ENDPOINT``...). With Airflow's OpenTelemetry tracing on, or a
``TRACEPARENT`` in the worker's environment, the run's root span links to the task.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from typing import Any

try:
    from airflow.sdk import BaseOperator
    from airflow.sdk.exceptions import AirflowFailException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "dqx.integrations.airflow needs Airflow 3, dqx's airflow extra: "
        "pip install '.[airflow]' in a dqx clone"
    ) from exc

from dqx.common import DefinitionError, validate_severity
from dqx.integrations.suite_file import SuiteFileRun, run_suite_file

__all__ = ["DQXOperator"]


class DQXOperator(BaseOperator):
    """Run ``checks_file`` against ``data`` (``NAME -> LOCATION``, as ``dqx run --data``)
    for the task's logical date; fail the task on a failure at ``fail_on`` or above."""

    template_fields = ("checks_file", "data", "day", "suite", "tags", "db_url")
    ui_color = "#e8f1fb"

    def __init__(
        self,
        *,
        checks_file: str | os.PathLike[str],
        data: Mapping[str, str],
        fail_on: str = "P1",
        day: str | dt.date | None = None,
        suite: str | None = None,
        tags: Mapping[str, str] | None = None,
        date_columns: Mapping[str, str] | None = None,
        db_url: str | None = None,
        trace_file: str | os.PathLike[str] | None = None,
        otlp_endpoint: str | None = None,
        env: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not data:
            raise DefinitionError(f"DQXOperator {self.task_id}: data= names no dataset")
        self.checks_file = os.fspath(checks_file)
        self.data = dict(data)
        self.fail_on = validate_severity(fail_on, where=f"DQXOperator {self.task_id}'s fail_on")
        self.day = day
        self.suite = suite
        self.tags = dict(tags or {})
        self.date_columns = dict(date_columns or {})
        self.db_url = db_url
        self.trace_file = os.fspath(trace_file) if trace_file else None
        self.otlp_endpoint = otlp_endpoint
        self.env = dict(env or {})

    def execute(self, context: Any) -> str:
        day = self.run_day(context)
        self.log.info("dqx: running %s for %s", self.checks_file, day.isoformat())
        run = run_suite_file(
            self.checks_file,
            self.data,
            day,
            fail_on=self.fail_on,
            suite=self.suite,
            tags=self.tags,
            date_columns=self.date_columns,
            db_url=self.db_url,
            trace_file=self.trace_file,
            otlp_endpoint=self.otlp_endpoint,
            env=self.env,
        )
        self._hand_over(context, run)
        if not run.passed:
            # A verdict on the data: retrying would judge the same data again under a
            # new execution id. What kept the run from a verdict raises DQXError, which
            # the task's retries do cover.
            raise AirflowFailException(run.failure_summary())
        return run.execution_id

    def run_day(self, context: Any) -> dt.date:
        """The day the run is about: ``day`` when given, else the logical date (the
        run's ``run_after`` for a DAG run that has none, as Airflow 3 allows)."""
        if isinstance(self.day, dt.datetime):
            return self.day.date()
        if isinstance(self.day, dt.date):
            return self.day
        if self.day:
            try:
                return dt.date.fromisoformat(str(self.day)[:10])
            except ValueError as exc:
                raise DefinitionError(
                    f"DQXOperator {self.task_id}: day {self.day!r} is not YYYY-MM-DD"
                ) from exc
        moment = context.get("logical_date") or context["dag_run"].run_after
        return moment.date() if isinstance(moment, dt.datetime) else dt.date.fromisoformat(moment)

    def _hand_over(self, context: Any, run: SuiteFileRun) -> None:
        ti = context["ti"]
        ti.xcom_push(key="execution_id", value=run.execution_id)
        ti.xcom_push(key="trace_url", value=run.trace_url)
        self.log.info(
            "dqx: run %s %s; trace %s",
            run.execution_id,
            "passed" if run.passed else "failed",
            run.trace_url or f"id {run.execution_id}",
        )
