"""A run's OpenTelemetry metrics, through the API only: what dashboards plot and alert on.

Each finished run records, inside its root span so that every point carries an
exemplar whose trace id is the execution id (the SDK's trace-based exemplar filter
keeps one only when the run's trace is sampled):

* ``dqx.metric.value`` (gauge): each metric value of the run's date, by suite,
  dataset, metric name and the run's tags;
* ``dqx.assertions`` (counter): one per assertion, by suite, status and severity;
* ``dqx.run.duration`` (histogram, seconds): by suite and run status;
* ``dqx.run.rows_scanned`` (histogram, rows): the rows each dataset's statements read.

The execution id is never an attribute: one series per run would grow a metrics
back-end without bound, and the exemplar already points at the run. Like tracing,
this never installs a provider: with none given the global one is used, a no-op until
the application installs an SDK (:func:`dqx.telemetry.configure` with ``metrics=True``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import Meter, MeterProvider
from opentelemetry.trace import Span

from dqx.common import identity_tags
from dqx.events import SUITE_NAME, TAG_BUDGET
from dqx.records import SuiteResult
from dqx.telemetry.tracing import package_version

__all__ = [
    "ASSERTIONS",
    "METRIC_VALUE",
    "ROWS_SCANNED",
    "RUN_DURATION",
    "get_meter",
    "record_run",
]

METRIC_VALUE = "dqx.metric.value"
ASSERTIONS = "dqx.assertions"
RUN_DURATION = "dqx.run.duration"
ROWS_SCANNED = "dqx.run.rows_scanned"

#: Rows scanned span many orders of magnitude; the SDK's default buckets stop at 10,000.
_ROW_BUCKETS = tuple(float(10**power) for power in range(11))
#: Seconds, from a quick in-memory check to a long warehouse scan.
_SECOND_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


def get_meter(provider: MeterProvider | None = None) -> Meter:
    """dqx's meter from ``provider``, else from the global provider as it is now."""
    source = provider if provider is not None else metrics.get_meter_provider()
    return source.get_meter("dqx", package_version())


def record_run(meter: Meter, result: SuiteResult, span: Span) -> None:
    """Record the run's metrics in ``span``'s context (the run's root span)."""
    context = trace.set_span_in_context(span)
    suite = {SUITE_NAME: result.suite}
    tags = _tag_attributes(result.key.tags)
    gauge = meter.create_gauge(
        METRIC_VALUE, description="A dqx metric's value as a run computed or reused it"
    )
    for metric in result.metrics:
        if metric.value is None or metric.yyyy_mm_dd != result.key.yyyy_mm_dd:
            # Other days' values are their own runs' points; a NULL is no number.
            continue
        attributes = {
            **tags,
            **suite,
            "dqx.dataset": metric.dataset,
            "dqx.metric.name": metric.name,
        }
        gauge.set(metric.value, attributes, context=context)
    counter = meter.create_counter(
        ASSERTIONS, unit="{assertion}", description="Assertion outcomes of dqx runs"
    )
    for assertion in result.results:
        outcome = {
            "dqx.assertion.status": assertion.status,
            "dqx.assertion.severity": assertion.severity,
        }
        counter.add(1, {**suite, **outcome}, context=context)
    duration = meter.create_histogram(
        RUN_DURATION,
        unit="s",
        description="How long a dqx run took, from its start to its judgement",
        explicit_bucket_boundaries_advisory=_SECOND_BUCKETS,
    )
    seconds = (result.finished - result.started).total_seconds()
    duration.record(max(seconds, 0.0), {**suite, "dqx.run.status": result.status}, context=context)
    rows = meter.create_histogram(
        ROWS_SCANNED,
        unit="{row}",
        description="Rows a dqx run's statements read from one dataset",
        explicit_bucket_boundaries_advisory=_ROW_BUCKETS,
    )
    for dataset, scanned in _rows_by_dataset(result).items():
        rows.record(scanned, {**suite, "dqx.dataset": dataset}, context=context)


def _tag_attributes(tags: Mapping[str, str]) -> dict[str, Any]:
    plain = identity_tags(tags)
    return {f"dqx.tags.{name}": plain[name] for name in sorted(plain)[:TAG_BUDGET]}


def _rows_by_dataset(result: SuiteResult) -> dict[str, int]:
    """Rows read per dataset; a dataset whose values all came from history read none
    and gets no point (zero would claim a scan that never ran)."""
    scanned: dict[str, int] = {}
    for statement in result.statements:
        if statement.rows_scanned is not None:
            scanned[statement.dataset] = scanned.get(statement.dataset, 0) + statement.rows_scanned
    return scanned
