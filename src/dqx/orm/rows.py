"""Between records and rows: a Metric or RunRecord to its table row and back.

Writing checks each metric before anything is written, so a bad one is refused by
name and a batch is all or nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Any

from dqx.common import InvalidExecutionIdError, StoreError, normalize_execution_id
from dqx.orm.models import MetricRow, RunRow
from dqx.records import ORIGINS, Metric, RunRecord

__all__ = ["metric_from_row", "metric_row", "run_from_row"]

_HEX32 = re.compile(r"[0-9a-f]{32}")


def metric_from_row(row: MetricRow) -> Metric:
    return Metric(
        kind=row.kind,
        parameters=dict(row.parameters),
        name=row.name,
        dataset=row.dataset,
        yyyy_mm_dd=row.yyyy_mm_dd,
        tags=dict(row.tags),
        value=row.value,
        execution_id=row.execution_id,
        origin=row.origin,
        source_execution_id=row.source_execution_id,
        suite=row.suite,
        id=row.id,
        created=row.created,
    )


def run_from_row(row: RunRow) -> RunRecord:
    return RunRecord(
        execution_id=row.execution_id,
        suite=row.suite,
        yyyy_mm_dd=row.yyyy_mm_dd,
        tags=dict(row.tags),
        started=row.started,
        finished=row.finished,
        status=row.status,
        trace_sampled=row.trace_sampled,
        metric_count=row.metric_count,
        assertions_ok=row.assertions_ok,
        assertions_failed=row.assertions_failed,
        assertions_error=row.assertions_error,
        trace_exported=row.trace_exported,
        message=row.message,
    )


def _hex_id(value: str, checked: dict[str, str]) -> str:
    known = checked.get(value)
    if known is None:
        known = checked[value] = normalize_execution_id(value)
    return known


def metric_row(metric: Metric, checked: dict[str, str]) -> dict[str, Any]:
    def bad(problem: str) -> StoreError:
        return StoreError(
            f"cannot persist metric {getattr(metric, 'name', metric)!r} of dataset "
            f"{getattr(metric, 'dataset', '?')!r} for {getattr(metric, 'yyyy_mm_dd', '?')}: "
            f"{problem}"
        )

    if not isinstance(metric, Metric):
        raise bad(f"expected a Metric, got {type(metric).__name__}")
    day = metric.yyyy_mm_dd
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise bad(f"yyyy_mm_dd must be a datetime.date, got {day!r}")
    value = metric.value
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise bad(f"value must be a float or None, got {value!r}")
    if metric.origin not in ORIGINS:
        raise bad(f"origin must be 'computed' or 'history', got {metric.origin!r}")
    for key, tag in metric.tags.items():
        if not isinstance(key, str) or not isinstance(tag, str):
            raise bad(f"tags must map strings to strings, got {key!r}: {tag!r}")
    try:
        execution_id = _hex_id(metric.execution_id, checked)
        source = metric.source_execution_id
        source_execution_id = _hex_id(source, checked) if source is not None else None
        # A uuid4 hex, as Metric makes them; the dashed form is accepted too.
        metric_id = metric.id if _HEX32.fullmatch(metric.id) else uuid.UUID(metric.id).hex
    except (InvalidExecutionIdError, ValueError, TypeError, AttributeError) as exc:
        raise bad(str(exc)) from None
    return {
        "id": metric_id,
        "kind": metric.kind,
        "parameters": metric.parameters,
        "name": metric.name,
        "dataset": metric.dataset,
        "yyyy_mm_dd": day,
        "tags": metric.tags,
        "identity": metric.identity,
        "value": None if value is None else float(value),
        "execution_id": execution_id,
        "origin": metric.origin,
        "source_execution_id": source_execution_id,
        "suite": metric.suite,
        "created": metric.created,
    }
