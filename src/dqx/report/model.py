"""What a run report shows, gathered from a finished run or from the store (and trace).

:class:`RunReport` holds everything the page needs and nothing about HTML: the run's
header, its assertions with the metrics and SQL statements behind each, one
:class:`Chart` per metric the run used (its history by day, this run's point, the
points it reused from history, the bound), and the reconciliation with the trace.
:func:`report_from_result` builds one from a :class:`~dqx.records.SuiteResult` (the
plugin); :func:`report_from_store` from what the metric database holds for a past run.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Literal, TypeAlias

from dqx.alerts.model import RUNBOOKS, runbook_url
from dqx.common import DQXError, identity_tags, normalize_execution_id
from dqx.events import ANALYZE_SPAN
from dqx.humanize import Bound, ValueStyle, parse_bound, value_style
from dqx.links import TraceLinks, trace_url
from dqx.records import (
    AssertionRecord,
    Metric,
    RunRecord,
    Statement,
    SuiteResult,
    is_problem,
)
from dqx.series import DayValue, histories
from dqx.traces.model import TraceSpan

if TYPE_CHECKING:
    from dqx.data import Reconciliation
    from dqx.orm.repositories import MetricDB
    from dqx.traces.model import Trace, TraceSource

__all__ = [
    "AssertionView",
    "Chart",
    "Point",
    "ReportLinks",
    "RunReport",
    "report_from_result",
    "report_from_store",
]

#: How a point of a chart relates to the run: computed by it, reused by it from
#: history (a lagged value), or only stored (a day the run did not use).
Mark: TypeAlias = Literal["run", "history", "stored"]

DEFAULT_DAYS = 30
_LAG = re.compile(r"(?:, )?lag=\d+\)")


@dataclass(frozen=True)
class Point:
    yyyy_mm_dd: dt.date
    value: float | None
    #: The run that computed the value.
    execution_id: str
    mark: Mark


@dataclass(frozen=True)
class Chart:
    """One metric's history over the report's window, oldest day first."""

    name: str
    dataset: str
    tags: dict[str, str]
    identity: str
    style: ValueStyle
    points: list[Point]
    #: The bound of an assertion on exactly this metric, when it is plain numbers.
    bound: Bound | None = None
    bound_text: str | None = None
    #: An assertion using this metric did not pass.
    failing: bool = False

    @property
    def anchor(self) -> str:
        return f"m-{self.identity[:16]}"


@dataclass(frozen=True)
class AssertionView:
    record: AssertionRecord
    style: ValueStyle
    #: Identities of the charts of the metrics the expression uses.
    charts: tuple[str, ...]
    #: Positions in :attr:`RunReport.statements` of the statements that computed them.
    statements: tuple[int, ...]

    @property
    def passed(self) -> bool:
        return self.record.status == "OK"

    @property
    def failed(self) -> bool:
        """Failed or errored; a SKIPPED assertion neither passed nor failed."""
        return is_problem(self.record.status)


@dataclass(frozen=True)
class ReportLinks:
    trace: TraceLinks
    #: Failure class -> runbook URL.
    runbooks: Mapping[str, str]


@dataclass(frozen=True)
class RunReport:
    run: RunRecord
    assertions: list[AssertionView]
    charts: list[Chart]
    statements: list[Statement]
    #: Where the statements came from, or why there are none.
    statements_note: str
    links: ReportLinks
    days: int
    only_failures: bool = False
    reconciliation: Reconciliation | None = None
    reconciliation_note: str | None = None
    notes: list[str] = field(default_factory=list)
    generated: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).replace(tzinfo=None)
    )

    @property
    def failures(self) -> list[AssertionView]:
        return [view for view in self.assertions if view.failed]

    def chart(self, identity: str) -> Chart | None:
        return next((chart for chart in self.charts if chart.identity == identity), None)


# -- linking assertions to their metrics and statements ---------------------------------


_CALL = re.compile(r"(?<![\w.])(?:([\w-]+)\.)?([A-Za-z_]\w*)\(")


def _calls(expression: str) -> set[tuple[str | None, str]]:
    """Every call in ``expression`` as written, nested ones too, lags dropped: the
    metric names it reads, each with the dataset that qualifies it (multi-dataset
    suites write ``orders.num_rows()``) or None."""
    text = _LAG.sub(")", expression)
    found: set[tuple[str | None, str]] = set()
    for match in _CALL.finditer(text):
        depth, quote, end = 0, "", None
        for index in range(match.end() - 1, len(text)):
            char = text[index]
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif char == "(":
                depth += 1
            elif char == ")":
                depth -= 1
                if depth == 0:
                    end = index + 1
                    break
        if end is not None:
            found.add((match.group(1), text[match.start(2) : end]))
    return found


def _link(
    records: Sequence[AssertionRecord],
    metrics: Sequence[Metric],
    statements: Sequence[Statement],
    statements_know_metrics: bool,
) -> list[AssertionView]:
    by_name: dict[str, list[Metric]] = {}
    for metric in metrics:
        by_name.setdefault(metric.name, []).append(metric)
    computed = [{(s.dataset, name) for name in s.metrics} for s in statements]
    views = []
    for record in records:
        used = [
            metric
            for dataset, name in _calls(record.expression)
            for metric in by_name.get(name, ())
            if dataset is None or dataset == metric.dataset
        ]
        identities = tuple(dict.fromkeys(m.identity for m in used))
        names = {(m.dataset, m.name) for m in used}
        datasets = {m.dataset for m in used}
        positions = tuple(
            index
            for index, computes in enumerate(computed)
            if (
                not names.isdisjoint(computes)
                if statements_know_metrics
                else statements[index].dataset in datasets
            )
        )
        views.append(AssertionView(record, value_style(record.expression), identities, positions))
    return views


# -- charts -----------------------------------------------------------------------------


def _bounds(records: Sequence[AssertionRecord]) -> dict[str, AssertionRecord]:
    """Per expression, the assertion whose bound a chart of exactly that metric (today's
    value) draws: a failing one before one that passed."""
    chosen: dict[str, AssertionRecord] = {}
    for record in records:
        expression = record.expression.strip()
        if expression not in chosen or chosen[expression].status == "OK":
            chosen[expression] = record
    return chosen


def _points(
    stored: Sequence[DayValue], used: Sequence[Metric], since: dt.date, until: dt.date
) -> list[Point]:
    """Every stored day in the window, the run's own values winning on the days it used."""
    points: dict[dt.date, Point] = {
        day.yyyy_mm_dd: Point(day.yyyy_mm_dd, day.value, day.execution_id, "stored")
        for day in stored
    }
    for metric in used:
        if not since <= metric.yyyy_mm_dd <= until:
            continue
        if metric.origin == "history":
            source = metric.source_execution_id or metric.execution_id
            points[metric.yyyy_mm_dd] = Point(metric.yyyy_mm_dd, metric.value, source, "history")
        else:
            points[metric.yyyy_mm_dd] = Point(
                metric.yyyy_mm_dd, metric.value, metric.execution_id, "run"
            )
    return [points[day] for day in sorted(points)]


def _charts(
    metrics: Sequence[Metric],
    records: Sequence[AssertionRecord],
    views: Sequence[AssertionView],
    stored: Mapping[str, Sequence[DayValue]],
    since: dt.date,
    until: dt.date,
) -> list[Chart]:
    by_identity: dict[str, list[Metric]] = {}
    for metric in metrics:
        by_identity.setdefault(metric.identity, []).append(metric)
    failing = {identity for view in views if view.failed for identity in view.charts}
    bounds = _bounds(records)
    charts = []
    for identity, used in by_identity.items():
        first = used[0]
        bound = bounds.get(first.name)
        charts.append(
            Chart(
                name=first.name,
                dataset=first.dataset,
                tags=identity_tags(first.tags),
                identity=identity,
                style=value_style(first.name),
                points=_points(stored.get(identity, ()), used, since, until),
                bound=parse_bound(bound.bound) if bound else None,
                bound_text=bound.bound if bound else None,
                failing=identity in failing,
            )
        )
    charts.sort(key=lambda c: (not c.failing, c.dataset, c.name, sorted(c.tags.items())))
    return charts


# -- building a report ------------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    run: RunRecord
    records: list[AssertionRecord]
    metrics: list[Metric]
    statements: list[Statement]
    statements_note: str
    statements_know_metrics: bool = True


def _links(
    run: RunRecord, jaeger: str | None, grafana: str | None, runbook_base_url: str | None
) -> ReportLinks:
    return ReportLinks(
        trace_url(
            run.execution_id,
            jaeger=jaeger,
            grafana=grafana,
            started=run.started,
            finished=run.finished,
        ),
        {failure: runbook_url(failure, runbook_base_url) for failure in RUNBOOKS},
    )


def _assemble(
    parts: _Parts,
    db: MetricDB | None,
    *,
    days: int,
    only_failures: bool,
    links: ReportLinks,
) -> RunReport:
    if days < 1:
        raise DQXError(f"a report covers at least one day of history, got days={days}")
    until = parts.run.yyyy_mm_dd
    since = until - dt.timedelta(days=days - 1)
    views = _link(parts.records, parts.metrics, parts.statements, parts.statements_know_metrics)
    metrics = parts.metrics
    if only_failures:
        wanted = {identity for view in views if not view.passed for identity in view.charts}
        metrics = [m for m in metrics if m.identity in wanted]
        views = [view for view in views if not view.passed]
    identities = {m.identity for m in metrics}
    notes = []
    stored: Mapping[str, Sequence[DayValue]] = {}
    if db is not None:
        stored = histories(db, identities, since, until)
    else:
        notes.append("No metric store was given: charts show only the values this run used.")
    return RunReport(
        run=parts.run,
        assertions=views,
        charts=_charts(metrics, parts.records, views, stored, since, until),
        statements=parts.statements,
        statements_note=parts.statements_note,
        links=links,
        days=days,
        only_failures=only_failures,
        notes=notes,
    )


def report_from_result(
    result: SuiteResult,
    db: MetricDB | None = None,
    *,
    days: int = DEFAULT_DAYS,
    only_failures: bool = False,
    jaeger: str | None = None,
    grafana: str | None = None,
    runbook_base_url: str | None = None,
) -> RunReport:
    """The report of a run that just finished; ``db`` (the suite's store) adds the
    history of the days the run did not use."""
    parts = _Parts(
        run=result.run_record(),
        records=result.assertion_records(),
        metrics=list(result.metrics),
        statements=list(result.statements),
        statements_note="as the run executed them",
    )
    links = _links(parts.run, jaeger, grafana, runbook_base_url)
    return _assemble(parts, db, days=days, only_failures=only_failures, links=links)


def report_from_store(
    db: MetricDB,
    execution_id: str,
    *,
    trace: TraceSource | None = None,
    days: int = DEFAULT_DAYS,
    only_failures: bool = False,
    jaeger: str | None = None,
    grafana: str | None = None,
    runbook_base_url: str | None = None,
) -> RunReport:
    """The report of a past run, from the metric database; with ``trace``, reconciled
    with the run's trace (and its SQL read there when the store has none)."""
    from dqx.data import reconcile

    execution_id = normalize_execution_id(execution_id)
    run = db.run(execution_id)
    if run is None:
        raise DQXError(f"no run {execution_id} in {db.url}; list runs with `dqx runs`")
    statements = db.statements(execution_id)
    parts = _Parts(
        run=run,
        records=db.assertions(execution_id),
        metrics=db.metrics_for_execution(execution_id),
        statements=statements,
        statements_note="as the metric store recorded them",
    )
    found: Trace | None = None
    if trace is not None:
        found = trace.get_trace(execution_id)
    if not statements and run.source_execution_id is not None:
        parts = replace(parts, statements_note=_reevaluated(run.source_execution_id))
    elif not statements:
        parts = _statements_from_trace(parts, found, trace is not None)
    links = _links(run, jaeger, grafana, runbook_base_url)
    report = _assemble(parts, db, days=days, only_failures=only_failures, links=links)
    if trace is None:
        return replace(report, reconciliation_note=_NO_TRACE)
    return replace(report, reconciliation=reconcile(db, execution_id, trace))


_NO_TRACE = (
    "No trace source was given, so the store was not compared with the trace: pass "
    "--trace-file, --jaeger or --tempo to `dqx report`."
)


def _reevaluated(source_execution_id: str) -> str:
    return (
        "A re-evaluation reads no data and executes no SQL: its metrics are run "
        f"{source_execution_id}'s, whose report shows the statements."
    )


def _statements_from_trace(parts: _Parts, found: Trace | None, asked: bool) -> _Parts:
    """The run's SQL as its ``dqx.analyze`` spans carry it, for a run whose store
    holds none (recorded before dq_statement existed, or its final write failed)."""
    if found is None:
        note = (
            "The metric store holds no SQL for this run and its trace was not found."
            if asked
            # A backfill's later days execute nothing: their batch's first day did.
            else "The metric store holds no SQL for this run: it executed none (a backfill "
            "day other than the first of its batch, whose run holds the batch's statements) "
            "or was recorded before dq_statement; pass a trace source to read any from its trace."
        )
        return replace(parts, statements_note=note)
    statements = list(_trace_statements(found.spans))
    note = (
        "read from the run's trace, which says which dataset and dates each statement "
        "scanned but not which metrics it computed"
    )
    return replace(
        parts, statements=statements, statements_note=note, statements_know_metrics=False
    )


def _trace_statements(spans: Iterable[TraceSpan]) -> Iterable[Statement]:
    for span in spans:
        if span.name != ANALYZE_SPAN:
            continue
        attributes = span.attributes
        sql = str(attributes.get("db.statement") or "")
        dates = tuple(dt.date.fromisoformat(str(day)) for day in attributes.get("dqx.dates") or ())
        # The span joins its statements with ";\n", as execution.py writes them.
        for text in filter(None, (part.strip() for part in sql.split(";\n"))):
            yield Statement(
                dataset=str(attributes.get("dqx.dataset", "")),
                sql=text,
                params={},
                dates=dates,
                metrics=(),
                # The span times its statements together: none has a time of its own.
                seconds=math.nan,
            )
