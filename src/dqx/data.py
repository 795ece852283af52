"""Reading a run's metrics back: from the database, and reconciled against its trace.

A run writes each metric twice: a row in ``dq_metric`` and a ``dqx.metric`` event in
its trace, both carrying the metric's id. :func:`metrics_by_execution_id` reads the
rows (and, given a trace source, the union of both records); :func:`reconcile`
compares the two record by record, and :meth:`Reconciliation.recover` writes back the
metrics only the trace kept, under the same id, so recovering twice writes nothing
the second time. :func:`diff` (from :mod:`dqx.diff`) says what changed between two
runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from returns.result import Failure, Result, Success

from dqx.common import (
    EXECUTION_ID_TAG,
    ORIGIN_TAG,
    SymbolInfo,
    canonical_json,
    is_internal_tag,
    normalize_execution_id,
)
from dqx.diff import RELATIVE_TOLERANCE, RunDiff, UnknownRunError, diff, same_value
from dqx.events import (
    ASSERTION_EVENT,
    assertion_from_event,
    metric_count_from_root,
    run_from_root,
)
from dqx.orm.repositories import MetricDB, MetricRow
from dqx.records import AssertionRecord, Metric, RunRecord, arrow_table, is_problem
from dqx.runlog import get_logger
from dqx.traces.model import TimeWindow, Trace, TraceSource
from dqx.traces.record import TracedMetrics, fetch_trace, traced_metrics

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "RELATIVE_TOLERANCE",
    "Mismatch",
    "Reconciliation",
    "RunDiff",
    "UnknownRunError",
    "diff",
    "metrics_by_execution_id",
    "metrics_table",
    "reconcile",
]

RecordOrigin = Literal["db+trace", "db", "trace"]

log = get_logger(__name__)


def _window(run: RunRecord | None) -> TimeWindow | None:
    """Where in time to look for the run's trace: its own start and end, widened."""
    return TimeWindow.around(run.started, run.finished) if run is not None else None


# -- metrics_by_execution_id ----------------------------------------------------------


def _value(metric: Metric, name: str) -> Result[float, str]:
    if metric.value is None:
        return Failure(f"{name} on dataset {metric.dataset!r} for {metric.yyyy_mm_dd} is NULL")
    return Success(float(metric.value))


def _order(metric: Metric) -> tuple[dt.date, str, str, str]:
    return (metric.yyyy_mm_dd, metric.name, metric.dataset, metric.id)


def _symbols(
    metrics: Iterable[tuple[Metric, RecordOrigin | None]], execution_id: str
) -> list[SymbolInfo]:
    # Only the fields SymbolInfo shows are read, and the name through to_spec(): a
    # store may hand back any object shaped like a Metric.
    named = [(metric, metric.to_spec().name, origin) for metric, origin in metrics]
    named.sort(key=lambda item: (item[0].yyyy_mm_dd, item[1], item[0].dataset))
    symbols = []
    for index, (metric, name, origin) in enumerate(named, start=1):
        # Rows written before runs tagged their metrics lack the tag: add the run's.
        tags = {EXECUTION_ID_TAG: execution_id, **metric.tags}
        if origin is not None:
            tags[ORIGIN_TAG] = origin
        suite = getattr(metric, "suite", None)
        symbols.append(
            SymbolInfo(
                name=f"m_{index}",
                metric=name,
                dataset=metric.dataset,
                value=_value(metric, name),
                yyyy_mm_dd=metric.yyyy_mm_dd,
                tags=tags,
                suite=suite if isinstance(suite, str) else None,
            )
        )
    return symbols


def metrics_by_execution_id(
    db: MetricDB, execution_id: str, *, trace: TraceSource | None = None
) -> list[SymbolInfo]:
    """Every metric the run persisted, lagged and extended ones included.

    Sorted by (date, metric name) and named ``m_1..m_n``; tags are the run's tags plus
    ``__execution_id``. Accepts the dashed UUID form; an id that is not 32 hex digits
    raises ValueError; an unknown id gives ``[]``. The store is read with one
    ``db.search(...)`` on its indexed ``execution_id`` column.

    With ``trace=`` a trace source, the list is the union of the database and the trace
    (a metric the database lost is still there), and each symbol's tags say where it
    was found in ``__origin``: ``"db+trace"``, ``"db"`` or ``"trace"``. The run's
    record in ``db`` says when it ran; a source that takes a time window is asked
    within it (see :class:`~dqx.traces.model.TimeWindow`).
    """
    execution_id = normalize_execution_id(execution_id)
    stored = db.search(MetricRow.execution_id == execution_id)
    if trace is None:
        return _symbols(((m, None) for m in stored), execution_id)
    found = fetch_trace(trace, execution_id, _window(db.run(execution_id)))
    traced = traced_metrics(found) if found is not None else TracedMetrics({}, {})
    for problem in traced.problems:
        # A cut event confirms nothing: its metric counts as the database's alone, or,
        # when only the trace had it, is left out, never guessed.
        log.warning("metric event cut in the trace, not used: %s", problem)
    pairs: list[tuple[Metric, RecordOrigin | None]] = [
        (metric, "db+trace" if metric.id in traced.whole else "db") for metric in stored
    ]
    stored_ids = {metric.id for metric in stored}
    pairs.extend((m, "trace") for m in traced.whole.values() if m.id not in stored_ids)
    return _symbols(pairs, execution_id)


def metrics_table(symbols: Sequence[SymbolInfo]) -> pa.Table:
    """:func:`metrics_by_execution_id`'s list as a pyarrow Table, for notebooks.

    ``value`` is null where the symbol holds a Failure, whose reason is in ``error``.
    """
    values: list[float | None] = []
    errors: list[str | None] = []
    for symbol in symbols:
        match symbol.value:
            case Success(number):
                values.append(float(number))
                errors.append(None)
            case Failure(reason):
                values.append(None)
                errors.append(str(reason))
    plain_tags = [{k: v for k, v in s.tags.items() if not is_internal_tag(k)} for s in symbols]
    return arrow_table(
        {
            "name": [s.name for s in symbols],
            "metric": [s.metric for s in symbols],
            "dataset": [s.dataset for s in symbols],
            "yyyy_mm_dd": [s.yyyy_mm_dd for s in symbols],
            "value": values,
            "error": errors,
            "suite": [s.suite for s in symbols],
            "execution_id": [s.tags.get(EXECUTION_ID_TAG) for s in symbols],
            "origin": [s.tags.get(ORIGIN_TAG) for s in symbols],
            "tags": [canonical_json(tags) for tags in plain_tags],
        }
    )


# -- reconcile ------------------------------------------------------------------------


def _differences(stored: Metric, traced: Metric) -> tuple[str, ...]:
    fields: list[str] = []
    if not same_value(stored.value, traced.value):
        fields.append("value")
    pairs: list[tuple[str, Any, Any]] = [
        ("name", stored.name, traced.name),
        ("kind", stored.kind, traced.kind),
        ("parameters", canonical_json(stored.parameters), canonical_json(traced.parameters)),
        ("dataset", stored.dataset, traced.dataset),
        ("yyyy_mm_dd", stored.yyyy_mm_dd, traced.yyyy_mm_dd),
        ("tags", canonical_json(stored.tags), canonical_json(traced.tags)),
        ("origin", stored.origin, traced.origin),
        ("source_execution_id", stored.source_execution_id, traced.source_execution_id),
    ]
    fields.extend(name for name, left, right in pairs if left != right)
    return tuple(fields)


@dataclass(frozen=True)
class Mismatch:
    """One metric both records hold, with different contents."""

    db: Metric
    trace: Metric
    #: What differs: "value" (beyond 1e-12 relative), "name", "dataset", "tags", ...
    fields: tuple[str, ...]

    @property
    def id(self) -> str:
        return self.db.id

    def __str__(self) -> str:
        what = ", ".join(
            f"value {self.db.value!r} in db vs {self.trace.value!r} in trace"
            if name == "value"
            else name
            for name in self.fields
        )
        return f"{self.db.name} on {self.db.dataset} for {self.db.yyyy_mm_dd}: {what}"


@dataclass(frozen=True)
class Reconciliation:
    """How a run's database record and its trace agree, metric by metric (by id).

    ``missing_in_trace`` is filled only when the trace was found: a trace not expected
    (sampled out) or not yet available is not evidence against the database.
    """

    execution_id: str
    trace_found: bool
    trace_expected: bool
    matched: list[Metric] = field(default_factory=list)
    missing_in_db: list[Metric] = field(default_factory=list)
    missing_in_trace: list[Metric] = field(default_factory=list)
    mismatched: list[Mismatch] = field(default_factory=list)
    #: Where the trace was read (URL or files); empty when it was not found.
    trace_origin: str = ""
    #: How many metrics the database holds for the run.
    db_count: int = 0
    warnings: tuple[str, ...] = ()
    #: Metrics only the trace holds whose events a limit cut: not recoverable from it.
    unreadable_in_trace: tuple[str, ...] = ()
    #: The back-end said the trace it returned is not all of it (Tempo's PARTIAL):
    #: what is missing in it may only be missing from this answer.
    trace_partial: bool = False
    #: The finished run as its trace records it, when the database lacks that record
    #: (its final write failed): recover() writes it, with its assertion results.
    run_missing_in_db: RunRecord | None = None
    assertions_missing_in_db: tuple[AssertionRecord, ...] = ()
    #: The run's status in the database (None when it has no record of the run), and
    #: why it ended so, when the record says.
    run_status: str | None = None
    run_message: str | None = None
    #: How many metrics the run had, as its trace's root span says (None when the
    #: trace does not say): recover() settles a persist_failed run once all are back.
    traced_metric_count: int | None = None

    @property
    def unfinished(self) -> bool:
        """The database says the run never finished: it was interrupted, or it is
        still ``running`` (in progress, or its process died) with no finished run in
        the trace to restore. Such records can agree and still be incomplete."""
        return self.run_status == "interrupted" or (
            self.run_status == "running" and self.run_missing_in_db is None
        )

    @property
    def ok(self) -> bool:
        """Both records agree on a finished run, or no trace was expected and the
        database has the run."""
        if self.trace_expected and not self.trace_found:
            return False
        return not (
            self.unfinished
            or self.missing_in_db
            or self.missing_in_trace
            or self.mismatched
            or self.run_missing_in_db
            or self.unreadable_in_trace
        )

    @property
    def summary(self) -> str:
        """One line for logs and alerts."""
        head = f"run {self.execution_id}"
        if self.unfinished:
            head += f": NOT OK; {self._unfinished_reason()}"
        if not self.trace_found:
            if not self.trace_expected:
                verdict = "" if self.unfinished else ": ok"
                return (
                    f"{head}{verdict}; trace not expected (sampled out or never exported), "
                    f"{self.db_count} metrics in the database"
                )
            verdict = "" if self.unfinished else ": NOT OK"
            return (
                f"{head}{verdict}; trace not found, {self.db_count} metrics in the database "
                "cannot be checked against it"
            )
        counts = (
            f"{len(self.matched)} matched, {len(self.missing_in_db)} missing in db, "
            f"{len(self.missing_in_trace)} missing in trace, {len(self.mismatched)} mismatched"
        )
        if self.run_missing_in_db is not None:
            counts += ", run record missing in db"
        if self.unreadable_in_trace:
            counts += f", {len(self.unreadable_in_trace)} unreadable in trace"
        if self.trace_partial:
            counts += "; PARTIAL trace: the back-end returned only part of it"
        verdict = "" if self.unfinished else (": ok" if self.ok else ": NOT OK")
        hint = (
            "; recover() writes the missing ones back"
            if self.missing_in_db or self.run_missing_in_db
            else ""
        )
        return f"{head}{verdict}; {counts} (trace from {self.trace_origin}){hint}"

    def _unfinished_reason(self) -> str:
        if self.run_status == "interrupted":
            # An interrupted run judged nothing: its records hold what it reached.
            return f"{self.run_message or 'interrupted'}, so the run has no results"
        return (
            "the run is still recorded as running: not finished, or its process died "
            "(`dqx runs --reap` records a dead one as interrupted)"
        )

    def __str__(self) -> str:
        return self.summary

    def recover(self, db: MetricDB) -> int:
        """Write what only the trace holds back to ``db``, under the run's id.

        Metrics keep their ids, and ones ``db`` already holds are skipped, so a second
        call (or a call racing a late original write) writes nothing. A run whose final
        record never reached the database gets it back from the trace, with its
        assertion results, so `dqx runs` and `dqx alert` see it. Once the database
        holds every metric of a ``persist_failed`` run, the run takes the status its
        assertions gave it (``passed`` or ``failed``) and a message saying it was
        recovered from the trace, and when. Returns how many metrics were written.
        """
        present = {metric.id for metric in db.metrics_for_execution(self.execution_id)}
        todo = [metric for metric in self.missing_in_db if metric.id not in present]
        written = db.persist(todo) if todo else 0
        held = len(present) + written
        run = db.run(self.execution_id)
        if self.run_missing_in_db is not None and (run is None or run.status == "running"):
            db.record_run(
                self._recovered(self.run_missing_in_db, held), self.assertions_missing_in_db
            )
        elif run is not None and (written or self._settles(run, held)):
            # The run record counted 0 metrics when the write failed; make it say what
            # the database now holds, keeping its assertion results.
            db.record_run(self._recovered(run, held), db.assertions(self.execution_id))
        return written

    def _settles(self, run: RunRecord, held: int) -> bool:
        """Whether ``run`` failed only its metric write and the database now holds
        every metric its trace says it had."""
        expected = self.traced_metric_count
        return run.status == "persist_failed" and expected is not None and held >= expected

    def _recovered(self, run: RunRecord, held: int) -> RunRecord:
        run = replace(run, metric_count=held)
        if not self._settles(run, held):
            return run
        # As the suite judges a run whose write succeeded: any FAILURE or ERROR fails it.
        failed = any(count and is_problem(status) for status, count in run.counts.items())
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        note = f"metrics recovered from the trace at {when}; the run's own write had failed"
        return replace(
            run,
            status="failed" if failed else "passed",
            message=f"{note} ({run.message})" if run.message else note,
        )

    def to_arrow(self) -> pa.Table:
        """One row per metric of either record, with its ``status``.

        status is "matched", "missing_in_db", "missing_in_trace" or "mismatched";
        ``differs`` lists the fields a mismatched metric disagrees on.
        """
        rows: list[tuple[str, Metric, float | None, float | None, str | None]] = []
        rows.extend(("matched", m, m.value, m.value, None) for m in self.matched)
        rows.extend(("missing_in_db", m, None, m.value, None) for m in self.missing_in_db)
        rows.extend(("missing_in_trace", m, m.value, None, None) for m in self.missing_in_trace)
        rows.extend(
            ("mismatched", x.db, x.db.value, x.trace.value, ",".join(x.fields))
            for x in self.mismatched
        )
        rows.sort(key=lambda row: _order(row[1]))
        return arrow_table(
            {
                "execution_id": [self.execution_id] * len(rows),
                "status": [row[0] for row in rows],
                "id": [row[1].id for row in rows],
                "name": [row[1].name for row in rows],
                "kind": [row[1].kind for row in rows],
                "dataset": [row[1].dataset for row in rows],
                "yyyy_mm_dd": [row[1].yyyy_mm_dd for row in rows],
                "origin": [row[1].origin for row in rows],
                "db_value": [row[2] for row in rows],
                "trace_value": [row[3] for row in rows],
                "differs": [row[4] for row in rows],
                "tags": [canonical_json(row[1].tags) for row in rows],
            }
        )


def reconcile(db: MetricDB, execution_id: str, source: TraceSource) -> Reconciliation:
    """Compare the run's metrics in ``db`` with the ``dqx.metric`` events of its trace.

    Metrics are matched by id. ``trace_expected`` comes from ``dq_run.trace_sampled``
    (a run without a run record is assumed traced). A source that takes a time window
    is asked within the run's own start and end, widened.
    """
    execution_id = normalize_execution_id(execution_id)
    stored = {metric.id: metric for metric in db.metrics_for_execution(execution_id)}
    run = db.run(execution_id)
    # Sampled out, or known never to have reached the exporter's destination.
    expected = run is None or (run.trace_sampled is not False and run.trace_exported is not False)
    run_status, run_message = (run.status, run.message) if run else (None, None)
    trace = fetch_trace(source, execution_id, _window(run))
    if trace is None:
        return Reconciliation(
            execution_id,
            trace_found=False,
            trace_expected=expected,
            db_count=len(stored),
            run_status=run_status,
            run_message=run_message,
        )
    traced = traced_metrics(trace)
    matched: list[Metric] = []
    mismatched: list[Mismatch] = []
    for metric_id, metric in stored.items():
        if metric_id not in traced:
            continue
        other, differences = _compared(metric, traced)
        if differences:
            mismatched.append(Mismatch(metric, other, differences))
        else:
            matched.append(metric)
    whole = traced.whole
    return Reconciliation(
        execution_id,
        trace_found=True,
        trace_expected=expected,
        matched=sorted(matched, key=_order),
        missing_in_db=sorted((m for i, m in whole.items() if i not in stored), key=_order),
        missing_in_trace=sorted((m for i, m in stored.items() if i not in traced), key=_order),
        mismatched=sorted(mismatched, key=lambda x: _order(x.db)),
        trace_origin=trace.origin,
        trace_partial=trace.partial,
        db_count=len(stored),
        warnings=(*trace.warnings, *traced.problems),
        unreadable_in_trace=tuple(
            reading.problem for i, reading in traced.damaged.items() if i not in stored
        ),
        run_status=run_status,
        run_message=run_message,
        traced_metric_count=(
            metric_count_from_root(trace.root.attributes) if trace.root is not None else None
        ),
        **_run_record_gap(trace, run, len(whole) + len(traced.damaged)),
    )


def _compared(stored: Metric, traced: TracedMetrics) -> tuple[Metric, tuple[str, ...]]:
    """The trace's side of a stored metric and the fields on which they differ; a field
    a limit cut from the trace's event differs, saying so."""
    reading = traced.damaged.get(stored.id)
    if reading is None:
        other = traced.whole[stored.id]
        return other, _differences(stored, other)
    other = reading.over(stored)
    cut = tuple(f"{field} (cut in the trace)" for field in reading.damage)
    return other, (*_differences(stored, other), *cut)


def _run_record_gap(trace: Trace, run: RunRecord | None, metric_count: int) -> dict[str, Any]:
    """The traced run and its assertions, when the database has no final record of it."""
    root = trace.root
    if root is None or (run is not None and run.status != "running"):
        return {}
    traced_run = run_from_root(
        root.attributes,
        execution_id=normalize_execution_id(trace.trace_id),
        start_unix_nano=root.start_time_unix_nano,
        end_unix_nano=root.end_time_unix_nano,
        metric_count=metric_count,
    )
    if traced_run is None:
        return {}
    assertions = tuple(
        assertion_from_event(event.attributes, where=f"trace {trace.trace_id}, span {span.name}")
        for span, event in trace.events(ASSERTION_EVENT)
    )
    return {"run_missing_in_db": traced_run, "assertions_missing_in_db": assertions}
