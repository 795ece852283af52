"""Between records and rows: a Metric, RunRecord or Statement to its table row and back.

Writing checks each metric before anything is written, so a bad one is refused by
name and a batch is all or nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import ColumnElement, exists, func, select, type_coerce
from sqlalchemy.orm import Session

from dqx.common import InvalidExecutionIdError, StoreError, canonical_json, normalize_execution_id
from dqx.orm.models import AssertionRow, BadRunRow, MetricRow, RunRow, StatementRow
from dqx.records import (
    ORIGINS,
    AssertionRecord,
    BadRunMark,
    Metric,
    RunRecord,
    Statement,
    arrow_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "StoredValue",
    "assertion_from_row",
    "bad_mark_from_row",
    "has_tags",
    "metric_from_row",
    "metric_row",
    "metrics_table",
    "run_from_row",
    "statement_from_row",
    "statement_rows",
    "statements_of",
    "stored_values",
]

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
        assertions_skipped=row.assertions_skipped,
        source_execution_id=row.source_execution_id,
    )


def assertion_from_row(row: AssertionRow) -> AssertionRecord:
    return AssertionRecord(
        check=row.check,
        assertion=row.assertion,
        severity=row.severity,
        status=row.status,
        value=row.value,
        message=row.message,
        expression=row.expression,
        bound=row.bound,
        band_low=row.band_low,
        band_high=row.band_high,
        score=row.score,
    )


def bad_mark_from_row(row: BadRunRow) -> BadRunMark:
    return BadRunMark(
        execution_id=row.execution_id,
        reason=row.reason,
        marked_by=row.marked_by,
        marked_at=row.marked_at,
        cleared_by=row.cleared_by,
        cleared_at=row.cleared_at,
        cleared_reason=row.cleared_reason,
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


def _json_value(value: Any) -> Any:
    # Bind parameters are what a driver takes: dates and decimals become their text,
    # which is how the statement's reader wants to see them anyway.
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def statement_rows(execution_id: str, statements: Sequence[Statement]) -> list[dict[str, Any]]:
    """The ``dq_statement`` rows of a run's statements, numbered in the order they ran."""
    return [
        {
            "execution_id": execution_id,
            "position": position,
            "dataset": statement.dataset,
            "sql": statement.sql,
            "params": {str(key): _json_value(value) for key, value in statement.params.items()},
            "dates": [day.isoformat() for day in statement.dates],
            "metrics": list(statement.metrics),
            "seconds": float(statement.seconds),
            "rows_scanned": statement.rows_scanned,
            "error": statement.error,
        }
        for position, statement in enumerate(statements)
    ]


def statement_from_row(row: StatementRow) -> Statement:
    return Statement(
        dataset=row.dataset,
        sql=row.sql,
        params=dict(row.params),
        dates=tuple(dt.date.fromisoformat(day) for day in row.dates),
        metrics=tuple(row.metrics),
        seconds=row.seconds,
        rows_scanned=row.rows_scanned,
        error=row.error,
    )


class StoredValue(NamedTuple):
    """One stored value of a metric, without its parameters and tags: what a history
    window needs, read without building a Metric per row."""

    identity: str
    yyyy_mm_dd: dt.date
    value: float | None
    execution_id: str
    origin: str
    source_execution_id: str | None
    created: dt.datetime
    id: str


# SQLite allows 32766 bound variables per statement; stay far below on every backend.
_CHUNK = 500


def stored_values(
    session: Session, identities: Sequence[str], since: dt.date, until: dt.date
) -> list[StoredValue]:
    columns = [getattr(MetricRow, name) for name in StoredValue._fields]
    found: list[StoredValue] = []
    for start in range(0, len(identities), _CHUNK):
        query = select(*columns).where(
            MetricRow.identity.in_(identities[start : start + _CHUNK]),
            MetricRow.yyyy_mm_dd >= since,
            MetricRow.yyyy_mm_dd <= until,
        )
        # Plain rows from the connection: no ORM loading for what is read by the thousand.
        found.extend(StoredValue(*row) for row in session.connection().execute(query))
    return found


def statements_of(session: Session, execution_id: str) -> list[Statement]:
    """A run's statements, in the order it ran them."""
    query = select(StatementRow).where(StatementRow.execution_id == execution_id)
    query = query.order_by(StatementRow.position, StatementRow.id)
    return [statement_from_row(row) for row in session.scalars(query)]


def has_tags(dialect: str, tags: Mapping[str, str]) -> list[ColumnElement[bool]]:
    """Criteria for metrics carrying at least these tag values."""
    # Tag keys are the user's: any character, quotes and non-ASCII included, which
    # JSON path expressions mangle. PostgreSQL compares JSONB by containment;
    # SQLite looks each pair up among the decoded pairs json_each yields.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return [type_coerce(MetricRow.tags, JSONB).contains(dict(tags))]
    conditions: list[ColumnElement[bool]] = []
    for key, value in tags.items():
        pairs = func.json_each(MetricRow.tags).table_valued("key", "value")
        conditions.append(
            exists().select_from(pairs).where(pairs.c.key == key, pairs.c.value == value)
        )
    return conditions


def metrics_table(metrics: Sequence[Metric]) -> pa.Table:
    """Stored metrics as a pyarrow Table, tags and parameters as JSON text."""
    return arrow_table(
        {
            "execution_id": [m.execution_id for m in metrics],
            "suite": [m.suite for m in metrics],
            "yyyy_mm_dd": [m.yyyy_mm_dd for m in metrics],
            "dataset": [m.dataset for m in metrics],
            "name": [m.name for m in metrics],
            "kind": [m.kind for m in metrics],
            "value": [m.value for m in metrics],
            "origin": [m.origin for m in metrics],
            "source_execution_id": [m.source_execution_id for m in metrics],
            "tags": [canonical_json(m.tags) for m in metrics],
            "parameters": [canonical_json(m.parameters) for m in metrics],
            "id": [m.id for m in metrics],
            "created": [m.created for m in metrics],
        }
    )
