"""The trace's record of a run: span names, attributes and events, written and read here.

The suite writes these through :func:`metric_event`, :func:`assertion_event` and
:func:`run_attributes`; the trace readers (:mod:`dqx.data`) parse them back with
:func:`metric_from_event`. Both sides import the keys from here, so the format has
one definition. A metric event carries the user's tags only: the run it belongs to
is the trace itself, whose id is the execution id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from dqx.common import (
    EXECUTION_ID_TAG,
    AssertionResult,
    ResultKey,
    TraceReadError,
    canonical_json,
    identity_tags,
)
from dqx.records import ORIGINS, RUN_STATUSES, AssertionRecord, Metric, RunRecord, SuiteResult

__all__ = [
    "ANALYZE_SPAN",
    "ASSERTION_EVENT",
    "EVALUATE_SPAN",
    "METRIC_EVENT",
    "PERSIST_SPAN",
    "PLUGIN_SPAN",
    "ROOT_SPAN",
    "SUITE_NAME",
    "assertion_event",
    "assertion_from_event",
    "interrupted_attributes",
    "metric_event",
    "metric_from_event",
    "outcome_attributes",
    "run_attributes",
    "run_from_root",
]

ROOT_SPAN = "dqx.suite.run"
ANALYZE_SPAN = "dqx.analyze"
PERSIST_SPAN = "dqx.persist"
EVALUATE_SPAN = "dqx.evaluate"
PLUGIN_SPAN = "dqx.plugin"
METRIC_EVENT = "dqx.metric"
ASSERTION_EVENT = "dqx.assertion"
SUITE_NAME = "dqx.suite.name"
_TAG_PREFIX = "dqx.tags."
_VALUE = "dqx.metric.value"
_RUN_MESSAGE = "dqx.run.message"


def _tag_attributes(tags: Mapping[str, str]) -> dict[str, str]:
    return {f"{_TAG_PREFIX}{k}": v for k, v in identity_tags(tags).items()}


def run_attributes(execution_id: str, suite: str, key: ResultKey) -> dict[str, Any]:
    """The root span's attributes when the run starts."""
    return {
        "dqx.execution_id": execution_id,
        SUITE_NAME: suite,
        "dqx.date": key.yyyy_mm_dd.isoformat(),
        **_tag_attributes(key.tags),
    }


def outcome_attributes(result: SuiteResult) -> dict[str, Any]:
    """The root span's attributes once the run is judged."""
    counts = result.counts()
    return {
        "dqx.metric.count": len(result.metrics),
        "dqx.statement.count": len(result.statements),
        "dqx.assertion.count": len(result.results),
        "dqx.assertion.ok": counts["OK"],
        "dqx.assertion.failure": counts["FAILURE"],
        "dqx.assertion.error": counts["ERROR"],
        "dqx.suite.passed": result.passed,
        "dqx.run.status": result.status,
    }


def interrupted_attributes(message: str) -> dict[str, Any]:
    """The root span's attributes when an interrupt ends the run before it is judged."""
    return {"dqx.run.status": "interrupted", _RUN_MESSAGE: message}


def metric_event(metric: Metric) -> dict[str, Any]:
    """The attributes of one ``dqx.metric`` event."""
    event: dict[str, Any] = {
        "dqx.metric.id": metric.id,
        "dqx.metric.name": metric.name,
        "dqx.metric.kind": metric.kind,
        "dqx.metric.parameters": canonical_json(metric.parameters),
        "dqx.metric.origin": metric.origin,
        "dqx.dataset": metric.dataset,
        "dqx.date": metric.yyyy_mm_dd.isoformat(),
        **_tag_attributes(metric.tags),
    }
    if metric.value is not None:
        event[_VALUE] = metric.value
    if metric.source_execution_id:
        event["dqx.metric.source_execution_id"] = metric.source_execution_id
    return event


def assertion_event(result: AssertionResult) -> dict[str, Any]:
    """The attributes of one ``dqx.assertion`` event."""
    event: dict[str, Any] = {
        "dqx.assertion.name": result.assertion,
        "dqx.check.name": result.check,
        "dqx.assertion.severity": result.severity,
        "dqx.assertion.status": result.status,
        "dqx.assertion.expression": result.expression,
        "dqx.assertion.bound": result.bound,
    }
    number = result.number
    if number is not None:
        event["dqx.assertion.value"] = number
    else:
        event["dqx.assertion.message"] = result.message
    return event


def metric_from_event(
    attributes: Mapping[str, Any],
    *,
    execution_id: str,
    suite: str | None,
    time_unix_nano: int,
    where: str,
) -> Metric:
    """The metric a ``dqx.metric`` event records; ``where`` locates it in messages.

    Raises :class:`TraceReadError` naming the event when it is malformed.
    """
    metric_id = _required(attributes, "dqx.metric.id", where)
    where = f"{where} (metric {metric_id})"
    try:
        parameters = json.loads(str(attributes.get("dqx.metric.parameters", "{}")))
        day = dt.date.fromisoformat(_required(attributes, "dqx.date", where))
    except ValueError as exc:
        raise TraceReadError(f"{where}: {exc}") from exc
    if not isinstance(parameters, dict):
        raise TraceReadError(f"{where}: dqx.metric.parameters is not a JSON object")
    origin = str(attributes.get("dqx.metric.origin", "computed"))
    if origin not in ORIGINS:
        raise TraceReadError(f"{where}: unknown dqx.metric.origin {origin!r}")
    source = attributes.get("dqx.metric.source_execution_id")
    created = dt.datetime.fromtimestamp(time_unix_nano / 1e9, dt.UTC).replace(tzinfo=None)
    tags = {
        key.removeprefix(_TAG_PREFIX): str(value)
        for key, value in attributes.items()
        if key.startswith(_TAG_PREFIX)
    }
    return Metric(
        kind=_required(attributes, "dqx.metric.kind", where),
        parameters=parameters,
        name=_required(attributes, "dqx.metric.name", where),
        dataset=_required(attributes, "dqx.dataset", where),
        yyyy_mm_dd=day,
        tags={**tags, EXECUTION_ID_TAG: execution_id},
        value=_value(attributes, where),
        execution_id=execution_id,
        origin="history" if origin == "history" else "computed",
        source_execution_id=str(source) if source else None,
        suite=suite,
        id=metric_id,
        created=created,
    )


def _required(attributes: Mapping[str, Any], key: str, where: str) -> str:
    value = attributes.get(key)
    if value is None or value == "":
        raise TraceReadError(f"{where}: {METRIC_EVENT} event without {key}")
    return str(value)


def _value(attributes: Mapping[str, Any], where: str) -> float | None:
    value = attributes.get(_VALUE)
    if value is None:
        return None  # the run emits no value for SQL NULL
    if isinstance(value, bool):
        raise TraceReadError(f"{where}: {_VALUE} is a boolean ({value!r})")
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TraceReadError(f"{where}: {_VALUE} {value!r} is not a number") from exc


def _time(unix_nano: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix_nano / 1e9, dt.UTC).replace(tzinfo=None)


def run_from_root(
    attributes: Mapping[str, Any],
    *,
    execution_id: str,
    start_unix_nano: int,
    end_unix_nano: int,
    metric_count: int,
) -> RunRecord | None:
    """The run record a finished run's root span holds; None when it holds none (the
    run broke before it was judged, or the span is not a dqx run's)."""
    status = attributes.get("dqx.run.status")
    suite = attributes.get(SUITE_NAME)
    day = attributes.get("dqx.date")
    if status not in RUN_STATUSES or not isinstance(suite, str) or not isinstance(day, str):
        return None
    try:
        yyyy_mm_dd = dt.date.fromisoformat(day)
    except ValueError:
        return None
    tags = {
        key.removeprefix(_TAG_PREFIX): str(value)
        for key, value in attributes.items()
        if key.startswith(_TAG_PREFIX)
    }
    return RunRecord(
        execution_id=execution_id,
        suite=suite,
        yyyy_mm_dd=yyyy_mm_dd,
        tags=tags,
        started=_time(start_unix_nano),
        finished=_time(end_unix_nano) if end_unix_nano else None,
        status=str(status),
        trace_sampled=True,
        metric_count=metric_count,
        assertions_ok=int(attributes.get("dqx.assertion.ok", 0)),
        assertions_failed=int(attributes.get("dqx.assertion.failure", 0)),
        assertions_error=int(attributes.get("dqx.assertion.error", 0)),
        trace_exported=True,
        message=str(attributes[_RUN_MESSAGE]) if attributes.get(_RUN_MESSAGE) else None,
    )


def assertion_from_event(attributes: Mapping[str, Any], *, where: str) -> AssertionRecord:
    """The assertion result a ``dqx.assertion`` event records."""

    def text_of(key: str) -> str:
        value = attributes.get(key)
        if value is None:
            raise TraceReadError(f"{where}: {ASSERTION_EVENT} event without {key}")
        return str(value)

    value = attributes.get("dqx.assertion.value")
    message = attributes.get("dqx.assertion.message")
    return AssertionRecord(
        check=text_of("dqx.check.name"),
        assertion=text_of("dqx.assertion.name"),
        severity=text_of("dqx.assertion.severity"),
        status=text_of("dqx.assertion.status"),
        value=None if value is None or isinstance(value, bool) else float(value),
        message=str(message) if message else None,
        expression=text_of("dqx.assertion.expression"),
        bound=str(attributes.get("dqx.assertion.bound", "")),
    )
