"""The trace's record of a run: span names, attributes and events, written and read here.

The suite writes these through :func:`metric_event`, :func:`assertion_event` and
:func:`run_attributes`; the trace readers (:mod:`dqx.data`) parse them back with
:func:`read_metric_event`. Both sides import the keys from here, so the format has
one definition. A metric event carries the user's tags only: the run it belongs to
is the trace itself, whose id is the execution id.

Limits shape the format. A tracer keeps a bounded number of attributes per event and
span (128 by default) and drops the *oldest* when more come, and tracers and
back-ends truncate long values (Tempo at 2 KB). So attributes are added in the order
they may be lost: tags first, then parameters and long texts, the identity last (a
metric event's id and value at the very end: an event that kept its id kept its
value). The first :data:`TAG_BUDGET` tags are also ``dqx.tags.<key>`` attributes, for
searching; the readers use the one JSON attribute that holds them all. Long texts
ride in chunks with their length (:mod:`dqx.telemetry.attributes`), so what a limit
cut shows as a cut: the reader flags that one metric, never the run. Events written
before this format (per-tag attributes only, no lengths) are still read.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dqx.common import (
    EXECUTION_ID_TAG,
    AssertionResult,
    DQXError,
    ResultKey,
    TraceReadError,
    canonical_json,
    identity_tags,
)
from dqx.kinds import spec_from_parameters
from dqx.records import ORIGINS, RUN_STATUSES, AssertionRecord, Metric, RunRecord, SuiteResult
from dqx.telemetry.attributes import get_text, length_key, put_text

__all__ = [
    "ANALYZE_SPAN",
    "ASSERTION_EVENT",
    "EVALUATE_SPAN",
    "METRIC_EVENT",
    "PERSIST_SPAN",
    "PLUGIN_SPAN",
    "ROOT_SPAN",
    "SUITE_NAME",
    "TAG_BUDGET",
    "MetricReading",
    "assertion_event",
    "assertion_from_event",
    "interrupted_attributes",
    "metric_count_from_root",
    "metric_event",
    "metric_from_event",
    "outcome_attributes",
    "read_metric_event",
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
#: The root span and each metric event name this many tags as ``dqx.tags.<key>`` (to
#: search by); all of them are in one JSON attribute, ``dqx.run.tags`` on the root and
#: ``dqx.metric.tags`` on events, which is what the readers use.
TAG_BUDGET = 32
_TAG_PREFIX = "dqx.tags."
_RUN_TAGS = "dqx.run.tags"
_VALUE = "dqx.metric.value"
_ID = "dqx.metric.id"
_NAME = "dqx.metric.name"
_TAGS = "dqx.metric.tags"
_PARAMETERS = "dqx.metric.parameters"
#: Events of this format carry lengths and a JSON tag attribute; older ones neither.
_FORMAT = "dqx.metric.format"
_FORMAT_VERSION = 2
#: A longer name is carried clipped: the metric's kind and parameters say it whole.
_NAME_SHOWN = 256
_RUN_MESSAGE = "dqx.run.message"
#: How many metrics the judged run had: the count a recovery must reach.
_METRIC_COUNT = "dqx.metric.count"
#: An is_not_anomalous assertion's expected band and its value's score.
_BAND_LOW = "dqx.assertion.band.low"
_BAND_HIGH = "dqx.assertion.band.high"
_SCORE = "dqx.assertion.score"


def run_attributes(
    execution_id: str, suite: str, key: ResultKey, *, max_length: int | None = None
) -> dict[str, Any]:
    """The root span's attributes when the run starts: tags first, the run's identity
    last, so that a span over its attribute limit loses tags, never the run."""
    tags = identity_tags(key.tags)
    attributes = _searchable_tags(tags)
    text = canonical_json(tags)
    put_text(attributes, _RUN_TAGS, text, max_length=max_length)
    attributes[length_key(_RUN_TAGS)] = len(text)
    attributes.update(
        {
            "dqx.execution_id": execution_id,
            SUITE_NAME: suite,
            "dqx.date": key.yyyy_mm_dd.isoformat(),
        }
    )
    return attributes


def _searchable_tags(tags: Mapping[str, str]) -> dict[str, Any]:
    return {f"{_TAG_PREFIX}{name}": tags[name] for name in sorted(tags)[:TAG_BUDGET]}


def outcome_attributes(result: SuiteResult) -> dict[str, Any]:
    """The root span's attributes once the run is judged."""
    counts = result.counts()
    return {
        _METRIC_COUNT: len(result.metrics),
        "dqx.statement.count": len(result.statements),
        "dqx.assertion.count": len(result.results),
        "dqx.assertion.ok": counts["OK"],
        "dqx.assertion.failure": counts["FAILURE"],
        "dqx.assertion.error": counts["ERROR"],
        "dqx.assertion.skipped": counts["SKIPPED"],
        "dqx.suite.passed": result.passed,
        "dqx.run.status": result.status,
    }


def metric_count_from_root(attributes: Mapping[str, Any]) -> int | None:
    """How many metrics the run had, as its judged root span says; None when it does
    not say (the run was never judged, or the span is not a dqx run's)."""
    count = attributes.get(_METRIC_COUNT)
    if isinstance(count, bool):
        return None
    try:
        # Some back-ends hand 64-bit integers back as text.
        return int(count) if isinstance(count, int | str) else None
    except ValueError:
        return None


def interrupted_attributes(message: str) -> dict[str, Any]:
    """The root span's attributes when an interrupt ends the run before it is judged."""
    return {"dqx.run.status": "interrupted", _RUN_MESSAGE: message}


def metric_event(metric: Metric, *, max_length: int | None = None) -> dict[str, Any]:
    """The attributes of one ``dqx.metric`` event, in the order they may be lost.

    ``max_length`` is the tracer's limit on a value's characters, when it has one:
    long texts are chunked below it as well as below Tempo's.
    """
    plain_tags = identity_tags(metric.tags)
    event = _searchable_tags(plain_tags)
    tags = canonical_json(plain_tags)
    parameters = canonical_json(metric.parameters)
    name = metric.name
    shown = name if len(name) <= _NAME_SHOWN else name[: _NAME_SHOWN - 1] + "…"
    put_text(event, _TAGS, tags, max_length=max_length)
    put_text(event, _PARAMETERS, parameters, max_length=max_length)
    put_text(event, _NAME, shown, max_length=max_length)
    event[length_key(_TAGS)] = len(tags)
    event[length_key(_PARAMETERS)] = len(parameters)
    event[length_key(_NAME)] = len(name)
    event["dqx.metric.origin"] = metric.origin
    if metric.source_execution_id:
        event["dqx.metric.source_execution_id"] = metric.source_execution_id
    event["dqx.metric.kind"] = metric.kind
    event["dqx.dataset"] = metric.dataset
    event["dqx.date"] = metric.yyyy_mm_dd.isoformat()
    event[_ID] = metric.id
    event[_FORMAT] = _FORMAT_VERSION
    if metric.value is not None:
        event[_VALUE] = metric.value
    return event


def assertion_event(result: AssertionResult, *, max_length: int | None = None) -> dict[str, Any]:
    """The attributes of one ``dqx.assertion`` event: its long texts (expression,
    message, bound) first, its identity and outcome last."""
    event: dict[str, Any] = {}
    number = result.number
    texts = {
        "dqx.assertion.expression": result.expression,
        "dqx.assertion.bound": result.bound,
        **({"dqx.assertion.message": result.message} if number is None else {}),
    }
    for key, text in texts.items():
        put_text(event, key, text or "", max_length=max_length)
    for key, text in texts.items():
        event[length_key(key)] = len(text or "")
    event["dqx.check.name"] = result.check
    event["dqx.assertion.name"] = result.assertion
    event["dqx.assertion.severity"] = result.severity
    event["dqx.assertion.status"] = result.status
    if number is not None:
        event["dqx.assertion.value"] = number
    if result.band is not None:
        event[_BAND_LOW], event[_BAND_HIGH] = result.band
    if result.score is not None:
        event[_SCORE] = result.score
    return event


# What the trace and the database record differently by nature.
_NOT_COMPARED = frozenset({"execution_id", "suite", "created"})


@dataclass(frozen=True)
class MetricReading:
    """What one ``dqx.metric`` event says, and what of it a limit or a back-end cut.

    ``fields`` are the :class:`~dqx.records.Metric` fields that arrived whole;
    ``damage`` says, per field, what happened to the rest.
    """

    metric_id: str | None
    where: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    damage: Mapping[str, str] = field(default_factory=dict)

    def metric(self) -> Metric | None:
        """The metric, when the event arrived whole."""
        if self.damage or self.metric_id is None:
            return None
        return Metric(id=self.metric_id, **self.fields)

    def over(self, stored: Metric) -> Metric:
        """``stored`` with what arrived whole of this event in place of its fields."""
        compared = {k: v for k, v in self.fields.items() if k not in _NOT_COMPARED}
        return replace(stored, **compared)

    @property
    def problem(self) -> str:
        return f"{self.where}: " + "; ".join(self.damage.values())


def read_metric_event(
    attributes: Mapping[str, Any],
    *,
    execution_id: str,
    suite: str | None,
    time_unix_nano: int,
    where: str,
) -> MetricReading:
    """What a ``dqx.metric`` event records; ``where`` locates it in messages. Never
    raises: what is missing, cut or malformed is the reading's ``damage``."""
    metric_id = attributes.get(_ID)
    metric_id = str(metric_id) if metric_id not in (None, "") else None
    where = f"{where} (metric {metric_id})" if metric_id else where
    fields: dict[str, Any] = {"execution_id": execution_id, "suite": suite}
    fields["created"] = _time(time_unix_nano)
    damage: dict[str, str] = {}
    for name, read in (
        ("kind", lambda: _required(attributes, "dqx.metric.kind")),
        ("dataset", lambda: _required(attributes, "dqx.dataset")),
        ("yyyy_mm_dd", lambda: dt.date.fromisoformat(_required(attributes, "dqx.date"))),
        ("value", lambda: _value(attributes)),
        ("origin", lambda: _origin(attributes)),
        ("parameters", lambda: _parameters(attributes)),
        ("tags", lambda: {**_metric_tags(attributes), EXECUTION_ID_TAG: execution_id}),
    ):
        try:
            fields[name] = read()
        except (DQXError, ValueError) as exc:
            damage[name] = str(exc)
    source = attributes.get("dqx.metric.source_execution_id")
    fields["source_execution_id"] = str(source) if source else None
    name, problem = _metric_name(attributes, fields)
    if problem is None:
        fields["name"] = name
    else:
        damage["name"] = problem
    if metric_id is None:
        damage["id"] = f"{_ID} is missing"
    return MetricReading(metric_id, where, fields, damage)


def metric_from_event(
    attributes: Mapping[str, Any],
    *,
    execution_id: str,
    suite: str | None,
    time_unix_nano: int,
    where: str,
) -> Metric:
    """The metric a ``dqx.metric`` event records; :class:`TraceReadError` naming the
    event and what was cut when it did not arrive whole."""
    reading = read_metric_event(
        attributes,
        execution_id=execution_id,
        suite=suite,
        time_unix_nano=time_unix_nano,
        where=where,
    )
    metric = reading.metric()
    if metric is None:
        raise TraceReadError(reading.problem)
    return metric


def _required(attributes: Mapping[str, Any], key: str) -> str:
    value = attributes.get(key)
    if value is None or value == "":
        raise ValueError(f"{key} is missing")
    return str(value)


def _value(attributes: Mapping[str, Any]) -> float | None:
    value = attributes.get(_VALUE)
    if value is None:
        return None  # the run emits no value for SQL NULL; the value comes after the id
    if isinstance(value, bool):
        raise ValueError(f"{_VALUE} is a boolean ({value!r})")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{_VALUE} {value!r} is not a number") from None


def _origin(attributes: Mapping[str, Any]) -> str:
    origin = str(attributes.get("dqx.metric.origin", "computed"))
    if origin not in ORIGINS:
        raise ValueError(f"unknown dqx.metric.origin {origin!r}")
    return origin


def _json_object(attributes: Mapping[str, Any], key: str, default: str | None) -> Any:
    text, problem = get_text(attributes, key)
    if problem is not None:
        raise ValueError(problem)
    if text is None:
        if default is None:
            raise ValueError(f"{key} is missing")
        text = default
    try:
        document = json.loads(text)
    except json.JSONDecodeError:
        # An older writer's long value that a back-end cut short.
        raise ValueError(
            f"{key} is not whole JSON: it was truncated ({len(text)} characters arrived)"
        ) from None
    if not isinstance(document, dict):
        raise ValueError(f"{key} is not a JSON object")
    return document


def _parameters(attributes: Mapping[str, Any]) -> dict[str, Any]:
    # Events of the first format left out no parameters; a missing one is a cut now.
    default = None if _FORMAT in attributes else "{}"
    parameters: dict[str, Any] = _json_object(attributes, _PARAMETERS, default)
    return parameters


def _metric_tags(attributes: Mapping[str, Any]) -> dict[str, str]:
    if _FORMAT not in attributes:
        return _legacy_tags(attributes)
    tags = _json_object(attributes, _TAGS, None)
    return {str(key): str(value) for key, value in tags.items()}


def _legacy_tags(attributes: Mapping[str, Any]) -> dict[str, str]:
    return {
        key.removeprefix(_TAG_PREFIX): str(value)
        for key, value in attributes.items()
        if key.startswith(_TAG_PREFIX)
    }


def _metric_name(
    attributes: Mapping[str, Any], fields: Mapping[str, Any]
) -> tuple[str, str | None]:
    text, problem = get_text(attributes, _NAME)
    if text is not None and problem is None:
        return text, None
    # A clipped or cut name: the kind and parameters, when they arrived, say it whole.
    try:
        whole = spec_from_parameters(fields["kind"], fields["parameters"]).name
    except (KeyError, DQXError, TypeError, ValueError):
        return text or "", problem or f"{_NAME} is missing"
    if text is None or whole.startswith(text.rstrip("…")):
        return whole, None
    return text, problem


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
    return RunRecord(
        execution_id=execution_id,
        suite=suite,
        yyyy_mm_dd=yyyy_mm_dd,
        tags=_run_tags(attributes),
        started=_time(start_unix_nano),
        finished=_time(end_unix_nano) if end_unix_nano else None,
        status=str(status),
        trace_sampled=True,
        metric_count=metric_count,
        assertions_ok=int(attributes.get("dqx.assertion.ok", 0)),
        assertions_failed=int(attributes.get("dqx.assertion.failure", 0)),
        assertions_error=int(attributes.get("dqx.assertion.error", 0)),
        assertions_skipped=int(attributes.get("dqx.assertion.skipped", 0)),
        trace_exported=True,
        message=str(attributes[_RUN_MESSAGE]) if attributes.get(_RUN_MESSAGE) else None,
    )


def _run_tags(attributes: Mapping[str, Any]) -> dict[str, str]:
    try:
        tags = _json_object(attributes, _RUN_TAGS, None)
    except ValueError:
        # Written before dqx.run.tags, or it was cut: the tags named one by one.
        return _legacy_tags(attributes)
    return {str(key): str(value) for key, value in tags.items()}


def assertion_from_event(attributes: Mapping[str, Any], *, where: str) -> AssertionRecord:
    """The assertion result a ``dqx.assertion`` event records; a text a limit cut is
    kept as far as it arrived, marked as cut."""

    def text_of(key: str, *, required: bool = True) -> str | None:
        text, problem = get_text(attributes, key)
        if text is None and required:
            raise TraceReadError(f"{where}: {ASSERTION_EVENT} event without {key}")
        return f"{text}… [cut in the trace]" if problem and text is not None else text

    value = attributes.get("dqx.assertion.value")

    def number(key: str) -> float | None:
        found = attributes.get(key)
        return None if found is None or isinstance(found, bool) else float(found)

    return AssertionRecord(
        check=str(text_of("dqx.check.name")),
        assertion=str(text_of("dqx.assertion.name")),
        severity=str(text_of("dqx.assertion.severity")),
        status=str(text_of("dqx.assertion.status")),
        value=None if value is None or isinstance(value, bool) else float(value),
        message=text_of("dqx.assertion.message", required=False) or None,
        expression=str(text_of("dqx.assertion.expression")),
        bound=text_of("dqx.assertion.bound", required=False) or "",
        band_low=number(_BAND_LOW),
        band_high=number(_BAND_HIGH),
        score=number(_SCORE),
    )
