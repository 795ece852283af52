"""The traced phases of a run: analyze, persist, evaluate.

Each phase is one function with one child span of the run's root span, called in
order by :class:`~dqx.api.VerificationSuite`. Data flows one way: the plan and the
history go in, values come out of :func:`analyze`, metric records into
:func:`persist`, assertion results out of :func:`evaluate`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode, Tracer
from returns.result import Failure, Success

from dqx.analyzer import Analyzer, Computed
from dqx.checks import Assertion
from dqx.common import AssertionResult, DQXError, ResultKey
from dqx.datasource import DataSource
from dqx.evaluator import MetricKey, Values, judge
from dqx.events import (
    ANALYZE_SPAN,
    ASSERTION_EVENT,
    EVALUATE_SPAN,
    METRIC_EVENT,
    PERSIST_SPAN,
    assertion_event,
    metric_event,
)
from dqx.history import History
from dqx.plan import Plan
from dqx.prerequisites import settle
from dqx.records import Metric, MetricStore, Statement
from dqx.specs import MetricSpec, NumRows
from dqx.telemetry.attributes import cut_by_limits
from dqx.telemetry.tracing import attribute_limits, emit_events, record_error

__all__ = ["Progress", "analyze", "evaluate", "persist"]

RunLog = logging.LoggerAdapter[logging.Logger]


@dataclass
class Progress:
    """How far a run got, for the record an interrupt leaves behind.

    Each phase sets :attr:`stage` as it starts and nothing resets it, so when Ctrl-C
    or SIGTERM unwinds the run, the stage says what it interrupted.
    """

    #: What the run is doing: "reading history", "analyzing dataset 'orders'", ...
    stage: str = "starting"
    #: How many metrics the store holds for the run: 0 until they are persisted.
    metrics_stored: int = 0


def analyze(
    plan: Plan,
    sources: Mapping[str, DataSource],
    history: History,
    tracer: Tracer,
    run_log: RunLog,
    progress: Progress | None = None,
    analyzer: Callable[[DataSource], Analyzer] = Analyzer,
) -> tuple[dict[MetricKey, Computed], list[Statement]]:
    """Compute what history did not give, one traced batch per dataset.

    A lagged day of a snapshot source cannot be computed: its value is a Failure
    naming dataset, metric and date, never today's rows reused. ``progress`` learns
    which dataset is being analyzed; ``analyzer`` makes each source's analyzer (a
    backfill's serves values it computed for many days at once).
    """
    progress = progress or Progress()
    values: dict[MetricKey, Computed] = {}
    statements: list[Statement] = []
    key_date = plan.key.yyyy_mm_dd
    for dataset in sorted(plan.needs):
        source = sources[dataset]
        to_compute: list[tuple[MetricSpec, dt.date]] = []
        for spec, day in sorted(plan.needs[dataset], key=lambda n: (n[1], n[0].name)):
            if (spec, dataset, day) in history.found:
                continue
            if day != key_date and not source.partitioned:
                skip = history.unavailable(spec, dataset, day)
                values[(spec, dataset, day)] = Failure(
                    skip or _no_history(spec, dataset, day, plan.key, history)
                )
                continue
            to_compute.append((spec, day))
        if to_compute:
            progress.stage = f"analyzing dataset {dataset!r}"
            # A lagged day before the metric's history begins is counted too: with no
            # rows it is data not there yet (warm-up), not a day of zeros. The run's
            # own date is never warm-up: an empty day is news (the prerequisite rule).
            early = {
                d for s, d in to_compute if d < key_date and history.before_history(s, dataset, d)
            }
            counts = [(NumRows(), d) for d in sorted(early) if (NumRows(), d) not in to_compute]
            computed, ran = _analyze_dataset(
                analyzer(source), [*to_compute, *counts], tracer, run_log
            )
            empty = {d for d in early if _no_rows(computed.get((NumRows(), d)))}
            for spec, day in to_compute:
                # Only what was asked: the engine also counts rows whether asked or not.
                value = computed[(spec, day)]
                if day in empty and history.before_history(spec, dataset, day):
                    why = "; the dataset has no rows that day"
                    value = Failure(history.unavailable(spec, dataset, day, why) or "")
                values[(spec, dataset, day)] = value
            statements.extend(ran)
    return values, statements


def _no_rows(count: Computed | None) -> bool:
    match count:
        case Success(rows):
            return bool(rows == 0)
    return False


def _no_history(
    spec: MetricSpec, dataset: str, day: dt.date, key: ResultKey, history: History
) -> str:
    reason = (
        f"reading history failed ({history.error})"
        if history.error is not None
        else f"history has none for that date with tags {key.identity_tags or {}}"
    )
    return (
        f"no value for {spec.name} on dataset {dataset!r} for {day.isoformat()}: the "
        f"dataset has no date column, so past days come only from stored history, "
        f"and {reason}"
    )


def _analyze_dataset(
    analyzer: Analyzer,
    to_compute: Sequence[tuple[MetricSpec, dt.date]],
    tracer: Tracer,
    run_log: RunLog,
) -> tuple[Mapping[tuple[MetricSpec, dt.date], Computed], list[Statement]]:
    source = analyzer.source
    dates = sorted({day for _, day in to_compute})
    specs = list(dict.fromkeys(spec for spec, _ in to_compute))
    attributes: dict[str, Any] = {
        "db.system": source.dialect,
        "dqx.dataset": source.name,
        "dqx.dates": [d.isoformat() for d in dates],
        "dqx.metric.count": len(specs),
    }
    with tracer.start_as_current_span(ANALYZE_SPAN, attributes=attributes) as span:
        started = time.perf_counter()
        computed, ran = analyzer.compute(specs, dates)
        if span.is_recording():
            _describe_statements(span, source.name, ran)
        run_log.info(
            "analyzed %d metrics on %s for %d date(s) in %d statement(s), %.3fs",
            len(specs),
            source.name,
            len(dates),
            len(ran),
            time.perf_counter() - started,
        )
    return computed, ran


def _describe_statements(span: Span, dataset: str, ran: Sequence[Statement]) -> None:
    span.set_attributes(
        {
            "db.statement": ";\n".join(s.sql for s in ran),
            "dqx.statement.count": len(ran),
            "dqx.rows_scanned": sum(s.rows_scanned or 0 for s in ran),
        }
    )
    failed = [s for s in ran if s.error]
    if not failed:
        return
    span.set_attribute("dqx.statement.errors", [s.error or "" for s in failed])
    # The analyzer keeps an engine failure as a value, so one bad custom_sql spoils only
    # what depends on it; the span still flags each as an exception for back-ends.
    for statement in failed:
        span.add_event(
            "exception",
            {
                "exception.type": statement.error_type or "Exception",
                "exception.message": statement.error or "",
                "db.statement": statement.sql,
            },
        )
    span.set_status(
        Status(
            StatusCode.ERROR,
            f"{len(failed)} of {len(ran)} statement(s) failed on dataset {dataset!r}",
        )
    )


def persist(
    store: MetricStore, metrics: Sequence[Metric], tracer: Tracer, run_log: RunLog
) -> DQXError | None:
    """Write the run's metrics in one transaction; the error, if the store refused."""
    attributes = {"dqx.metric.count": len(metrics)}
    with tracer.start_as_current_span(PERSIST_SPAN, attributes=attributes) as span:
        # Events go out before the write: if the database fails, the trace still holds
        # every value and `reconcile(...).recover(db)` can write them back.
        emit_events(tracer, "dqx.metrics", METRIC_EVENT, metrics, _events_within(tracer, run_log))
        try:
            store.persist(metrics)
        except DQXError as exc:
            record_error(span, exc)
            run_log.error("could not persist %d metrics: %s", len(metrics), exc)
            return exc
    return None


def _events_within(tracer: Tracer, run_log: RunLog) -> Callable[[Metric], dict[str, Any]]:
    """``metric_event`` fitted to the tracer's limits, warning once for the run when
    they will still cut something: losing an attribute silently is how a trace lies."""
    limits = attribute_limits(tracer)
    warned: list[bool] = []

    def event(metric: Metric) -> dict[str, Any]:
        attributes = metric_event(metric, max_length=limits.length)
        lost = cut_by_limits(attributes, count=limits.event_attributes, length=limits.length)
        if lost and not warned:
            warned.append(True)
            run_log.warning(
                "the tracer's attribute limits will cut metric events from the trace, "
                "first %s on dataset %r: %s; reconcile will flag what was cut "
                "(raise OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT or OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT)",
                metric.name if len(metric.name) <= 80 else metric.name[:79] + "…",
                metric.dataset,
                "; ".join(lost),
            )
        return attributes

    return event


def evaluate(
    assertions: Sequence[Assertion],
    key: ResultKey,
    values: Values,
    tracer: Tracer,
    *,
    suite: str,
    execution_id: str,
    requires: Sequence[tuple[int, ...]] = (),
) -> list[AssertionResult]:
    """Judge every assertion on the run's values, then skip those whose prerequisite
    (``requires``, by position, or an empty dataset's volume assertion) did not pass;
    one event per result."""
    results: list[AssertionResult] = []
    attributes: dict[str, Any] = {"dqx.assertion.count": len(assertions)}
    with tracer.start_as_current_span(EVALUATE_SPAN, attributes=attributes):
        judged = [judge(a.expr, a.comparison, key.yyyy_mm_dd, values) for a in assertions]
        verdicts = settle(assertions, requires, judged, key.yyyy_mm_dd, values)
        for assertion, verdict in zip(assertions, verdicts, strict=True):
            results.append(
                AssertionResult(
                    yyyy_mm_dd=key.yyyy_mm_dd,
                    suite=suite,
                    check=assertion.check.name,
                    assertion=assertion.name,
                    severity=assertion.severity,
                    status=verdict.status,
                    value=verdict.value,
                    expression=str(assertion.expr),
                    tags=key.tags,
                    execution_id=execution_id,
                    bound=verdict.bound,
                    band=verdict.band,
                    score=verdict.score,
                    datasets=tuple(sorted(assertion.expr.datasets())),
                )
            )
        emit_events(tracer, "dqx.assertions", ASSERTION_EVENT, results, assertion_event)
    return results
