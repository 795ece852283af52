"""Checks, assertions and the suite that runs them: the orchestrator.

A run declares (calls every check with a provider and a context), validates every
name against the sources' schemas, asks the metric database which lagged values
history already holds, computes the rest with one analyzer per dataset, records
every value it used under its execution id, evaluates the assertions, and traces
all of it as one OpenTelemetry trace whose trace id is the execution id.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

from opentelemetry.trace import Status, StatusCode, TracerProvider, get_current_span
from returns.result import Failure, Success

from dqx.analyzer import Analyzer, Computed, validate_specs
from dqx.common import (
    EXECUTION_ID_TAG,
    AssertionResult,
    DefinitionError,
    DQXError,
    PersistError,
    ResultKey,
    Severity,
    SuiteStateError,
    canonical_json,
    identity_tags,
    is_internal_tag,
    new_execution_id,
    validate_severity,
)
from dqx.datasource import DataSource
from dqx.evaluator import Comparison, MetricKey, extended_value, judge
from dqx.orm.repositories import MetricDB
from dqx.plugins import Plugin, check_plugins, run_plugins
from dqx.provider import Const, Expr, ExtendedSymbol, MetricProvider, MetricSymbol, as_expr
from dqx.records import (
    AssertionRecord,
    Metric,
    RunRecord,
    RunStatus,
    Statement,
    SuiteResult,
    metric_identity,
)
from dqx.specs import MetricSpec
from dqx.telemetry import emit_events, get_tracer, record_error, start_run_span

__all__ = [
    "AssertionDraft",
    "AssertionReady",
    "Check",
    "Context",
    "SuiteResult",
    "VerificationSuite",
    "check",
]

log = logging.getLogger(__name__)

CheckFunction = Callable[[MetricProvider, "Context"], None]
Recompute = Literal["missing", "always"]


@dataclass(frozen=True)
class Check:
    """A check function with its metadata; made by the :func:`check` decorator."""

    fn: CheckFunction
    name: str
    severity: Severity
    datasets: tuple[str, ...] | None = None

    def __call__(self, mp: MetricProvider, ctx: Context) -> None:
        self.fn(mp, ctx)


@overload
def check(fn: CheckFunction, /) -> Check: ...
@overload
def check(
    *, name: str | None = None, severity: str = "P1", datasets: Sequence[str] | None = None
) -> Callable[[CheckFunction], Check]: ...
def check(
    fn: CheckFunction | None = None,
    /,
    *,
    name: str | None = None,
    severity: str = "P1",
    datasets: Sequence[str] | None = None,
) -> Check | Callable[[CheckFunction], Check]:
    """Declare a check: ``@check(name="Sales", severity="P1", datasets=["sales"])``.

    The function receives a :class:`MetricProvider` and a :class:`Context` and declares
    assertions; it never sees data. ``severity`` is the default for its assertions.
    """

    def decorate(function: CheckFunction) -> Check:
        if not callable(function):
            raise DefinitionError(f"@check decorates a function, got {function!r}")
        check_name = name if name is not None else function.__name__
        if not isinstance(check_name, str) or not check_name.strip():
            raise DefinitionError(f"check name must be a non-empty string, got {check_name!r}")
        checked = validate_severity(severity, where=f"check {check_name!r}")
        dataset_names: tuple[str, ...] | None = None
        if datasets is not None:
            dataset_names = (datasets,) if isinstance(datasets, str) else tuple(datasets)
            if not dataset_names or not all(isinstance(d, str) and d for d in dataset_names):
                raise DefinitionError(
                    f"check {check_name!r}: datasets must be a non-empty list of names, "
                    f"got {datasets!r}"
                )
        return Check(function, check_name, checked, dataset_names)

    if fn is not None:
        return decorate(fn)
    return decorate


@dataclass(frozen=True)
class Assertion:
    """One declared assertion: an expression, its promise, where it came from."""

    check: Check
    name: str
    severity: Severity
    expr: Expr
    comparison: Comparison


class Context:
    """Handed to every check function: where assertions are declared."""

    def __init__(self, check: Check, key: ResultKey) -> None:
        self._check = check
        self._key = key
        self._assertions: list[Assertion] = []
        # Started assertions not yet compared, by id: a check that forgets the
        # comparison would otherwise lose the assertion without a word.
        self._open: dict[int, AssertionDraft | AssertionReady] = {}

    @property
    def key(self) -> ResultKey:
        """The date and tags of the run."""
        return self._key

    @property
    def check_name(self) -> str:
        return self._check.name

    def assert_that(self, expr: Expr | float) -> AssertionDraft:
        """Start an assertion; name it with ``.where(name=...)`` to get the comparisons."""
        draft = AssertionDraft(self, as_expr(expr))
        self._open[id(draft)] = draft
        return draft

    def _unfinished(self) -> list[str]:
        """What was started but never compared, as the user would recognise it."""
        return [
            f"assertion {item._name!r} has no comparison; finish it with .is_gt(...), "
            ".is_between(...) or another comparison"
            if isinstance(item, AssertionReady)
            else f"assert_that({item._expr}) has no name or comparison; finish it with "
            ".where(name=...).is_gt(...) or another comparison"
            for item in self._open.values()
        ]

    def _add(self, assertion: Assertion) -> None:
        if any(existing.name == assertion.name for existing in self._assertions):
            raise DefinitionError(
                f"check {self._check.name!r} has two assertions named {assertion.name!r}; "
                "assertion names must be unique within a check",
                check=self._check.name,
            )
        self._assertions.append(assertion)


class AssertionDraft:
    """An assertion without a name yet: only :meth:`where` is available."""

    def __init__(self, ctx: Context, expr: Expr) -> None:
        self._ctx = ctx
        self._expr = expr

    def where(self, *, name: str, severity: str | None = None) -> AssertionReady:
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(
                f"assertion in check {self._ctx.check_name!r} needs a non-empty name, got {name!r}",
                check=self._ctx.check_name,
            )
        chosen = self._ctx._check.severity if severity is None else severity
        checked = validate_severity(
            chosen, where=f"assertion {name!r} in check {self._ctx.check_name!r}"
        )
        self._ctx._open.pop(id(self), None)
        ready = AssertionReady(self._ctx, self._expr, name, checked)
        self._ctx._open[id(ready)] = ready
        return ready

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("is_") and hasattr(AssertionReady, attribute):
            raise DefinitionError(
                f"assert_that({self._expr}).{attribute}(...) in check "
                f"{self._ctx.check_name!r} needs a name first: "
                f"assert_that(...).where(name=...).{attribute}(...)",
                check=self._ctx.check_name,
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attribute!r}")


class AssertionReady:
    """A named assertion; each comparison declares it and returns nothing."""

    def __init__(self, ctx: Context, expr: Expr, name: str, severity: Severity) -> None:
        self._ctx = ctx
        self._expr = expr
        self._name = name
        self._severity = severity

    def _declare(self, comparison: Comparison) -> None:
        self._ctx._open.pop(id(self), None)
        self._ctx._add(
            Assertion(self._ctx._check, self._name, self._severity, self._expr, comparison)
        )

    def is_eq(self, other: Expr | float, tol: float = 1e-9) -> None:
        self._declare(Comparison("eq", (as_expr(other),), _tolerance(tol)))

    def is_neq(self, other: Expr | float, tol: float = 1e-9) -> None:
        self._declare(Comparison("neq", (as_expr(other),), _tolerance(tol)))

    def is_gt(self, other: Expr | float) -> None:
        self._declare(Comparison("gt", (as_expr(other),)))

    def is_geq(self, other: Expr | float) -> None:
        self._declare(Comparison("geq", (as_expr(other),)))

    def is_lt(self, other: Expr | float) -> None:
        self._declare(Comparison("lt", (as_expr(other),)))

    def is_leq(self, other: Expr | float) -> None:
        self._declare(Comparison("leq", (as_expr(other),)))

    def is_between(self, lower: Expr | float, upper: Expr | float) -> None:
        lo, hi = as_expr(lower), as_expr(upper)
        if isinstance(lo, Const) and isinstance(hi, Const) and lo.value > hi.value:
            # Nothing lies between them: the assertion could only ever fail.
            raise DefinitionError(
                f"assertion {self._name!r} in check {self._ctx.check_name!r}: "
                f"is_between({lo}, {hi}) has its lower bound above its upper bound; "
                f"did you mean is_between({hi}, {lo})?",
                check=self._ctx.check_name,
            )
        self._declare(Comparison("between", (lo, hi)))

    def is_positive(self) -> None:
        self._declare(Comparison("gt", (as_expr(0),)))

    def is_negative(self) -> None:
        self._declare(Comparison("lt", (as_expr(0),)))

    def is_zero(self, tol: float = 1e-9) -> None:
        self._declare(Comparison("eq", (as_expr(0),), _tolerance(tol)))


def _tolerance(tol: object) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not tol >= 0:
        raise DefinitionError(f"tol must be a number >= 0, got {tol!r}")
    return float(tol)


@dataclass
class _Plan:
    """What a run needs: every (spec, date) per dataset, and which leaves read them."""

    key: ResultKey
    needs: dict[str, set[tuple[MetricSpec, dt.date]]] = field(default_factory=dict)
    extended: dict[tuple[str, str, int, str], ExtendedSymbol] = field(default_factory=dict)

    def add(self, leaf: MetricSymbol | ExtendedSymbol) -> None:
        day = self.key.yyyy_mm_dd
        if isinstance(leaf, MetricSymbol):
            assert leaf.dataset is not None
            self.needs.setdefault(leaf.dataset, set()).add(
                (leaf.spec, day - dt.timedelta(days=leaf.lag))
            )
            return
        base = leaf.base
        assert base.dataset is not None
        for lag in leaf.base_lags():
            self.needs.setdefault(base.dataset, set()).add(
                (base.spec, day - dt.timedelta(days=lag))
            )
        self.extended[(leaf.name, base.dataset, base.lag, leaf.kind)] = leaf


class VerificationSuite:
    """Runs checks against data sources and records everything under one execution id.

    ``recompute="missing"`` (the default) reuses lagged values history already holds;
    ``"always"`` recomputes them from a date-partitioned source. ``plugins`` are
    called once after each finished run with its :class:`SuiteResult` (see
    :mod:`dqx.plugins`). A suite without checks can be built, not run.
    """

    def __init__(
        self,
        checks: Sequence[Check],
        db: MetricDB,
        name: str,
        tracer_provider: TracerProvider | None = None,
        plugins: Sequence[Plugin] = (),
        *,
        recompute: Recompute = "missing",
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"a suite needs a non-empty name, got {name!r}")
        checks = list(checks)
        seen: set[str] = set()
        for item in checks:
            if not isinstance(item, Check):
                raise DefinitionError(
                    f"suite {name!r}: {item!r} is not a check; decorate it with @check(name=...)"
                )
            if item.name in seen:
                raise DefinitionError(f"suite {name!r} has two checks named {item.name!r}")
            seen.add(item.name)
        if not isinstance(db, MetricDB):
            raise DefinitionError(f"suite {name!r} needs a MetricDB, got {type(db).__name__}")
        if recompute not in ("missing", "always"):
            raise DefinitionError(f"recompute must be 'missing' or 'always', got {recompute!r}")
        self._checks = checks
        self._plugins = check_plugins(plugins, suite=name)
        self._db = db
        self._name = name
        self._tracer_provider = tracer_provider
        self._recompute: Recompute = recompute
        self._execution_id = new_execution_id()
        self._result: SuiteResult | None = None
        self._started = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def execution_id(self) -> str:
        """This run's id: 32 lowercase hex digits, the trace id of its root span."""
        return self._execution_id

    @property
    def statements(self) -> list[Statement]:
        """Every SQL statement the last run executed, in order."""
        return list(self._result.statements) if self._result else []

    @property
    def result(self) -> SuiteResult | None:
        return self._result

    def reset(self) -> None:
        """Allow another run, under a new execution id."""
        self._execution_id = new_execution_id()
        self._result = None
        self._started = False

    def collect_results(self) -> list[AssertionResult]:
        if self._result is None:
            raise SuiteStateError(f"suite {self._name!r} has not run yet; call run() first")
        return list(self._result.results)

    # -- declaration ------------------------------------------------------------------

    def _declare(self, key: ResultKey, sources: Mapping[str, DataSource]) -> list[Assertion]:
        assertions: list[Assertion] = []
        for item in self._checks:
            for dataset in item.datasets or ():
                _known_dataset(dataset, sources, f"check {item.name!r}")
            ctx = Context(item, key)
            try:
                item(MetricProvider(), ctx)
            except DefinitionError as exc:
                if exc.check is not None:
                    raise
                # A metric or value declared wrongly says what is wrong; add where.
                raise DefinitionError(
                    f"check {item.name!r}: {exc}",
                    dataset=exc.dataset,
                    column=exc.column,
                    check=item.name,
                    metric=exc.metric,
                ) from exc
            except DQXError:
                raise
            except Exception as exc:
                raise DefinitionError(
                    f"check {item.name!r} raised {type(exc).__name__}: {exc} while declaring "
                    "its assertions",
                    check=item.name,
                ) from exc
            unfinished = ctx._unfinished()
            if unfinished:
                raise DefinitionError(
                    f"check {item.name!r}: {'; '.join(unfinished)}", check=item.name
                )
            if not ctx._assertions:
                raise DefinitionError(
                    f"check {item.name!r} declares no assertions", check=item.name
                )
            for assertion in ctx._assertions:
                resolve = functools.partial(
                    _resolve_dataset, check=item, sources=sources, assertion=assertion.name
                )
                assertions.append(
                    Assertion(
                        assertion.check,
                        assertion.name,
                        assertion.severity,
                        assertion.expr.map_leaves(resolve),
                        Comparison(
                            assertion.comparison.op,
                            tuple(b.map_leaves(resolve) for b in assertion.comparison.bounds),
                            assertion.comparison.tol,
                        ),
                    )
                )
        return assertions

    # -- the run ----------------------------------------------------------------------

    def run(
        self, datasources: Sequence[DataSource], key: ResultKey, *, enable_plugins: bool = True
    ) -> SuiteResult:
        """Compute, record and evaluate; returns the run's results.

        The run computes under ``key`` enriched with the internal tag
        ``__execution_id``, so every metric it stores names its run. Raises
        :class:`DefinitionError` before reading any data when a check, metric or source
        is declared wrongly, and :class:`PersistError` after the run when the metric
        database could not take its metrics (the trace has them). With
        ``enable_plugins=False`` no plugin is called.
        """
        if self._started:
            raise SuiteStateError(
                f"suite {self._name!r} already ran as {self._execution_id}; call reset() "
                "before running it again"
            )
        if not isinstance(key, ResultKey):
            raise DefinitionError(f"run() needs a ResultKey, got {key!r}")
        reserved = sorted(tag for tag in key.tags if is_internal_tag(tag))
        if reserved:
            raise DefinitionError(
                f"suite {self._name!r}: the key's tag(s) {', '.join(map(repr, reserved))} are "
                "reserved (tags starting with '__' are dqx's own; run() adds "
                f"{EXECUTION_ID_TAG!r} itself); pass the key without them"
            )
        enriched_key = ResultKey(key.yyyy_mm_dd, {**key.tags, EXECUTION_ID_TAG: self.execution_id})
        return self._run(datasources, enriched_key, enable_plugins)

    def _run(
        self, datasources: Sequence[DataSource], key: ResultKey, enable_plugins: bool
    ) -> SuiteResult:
        if not self._checks:
            raise DefinitionError(
                f"suite {self._name!r} has no checks to run; pass at least one @check function"
            )
        sources = _index_sources(datasources)
        assertions = self._declare(key, sources)
        plan = self._plan(assertions, key, sources)

        self._started = True
        execution_id = self._execution_id
        run_log = logging.LoggerAdapter(log, {"execution_id": execution_id})
        tracer = get_tracer(self._tracer_provider)
        started = _utcnow()
        root_attributes: dict[str, Any] = {
            "dqx.execution_id": execution_id,
            "dqx.suite.name": self._name,
            "dqx.date": key.yyyy_mm_dd.isoformat(),
            **{f"dqx.tags.{k}": v for k, v in key.identity_tags.items()},
        }
        with start_run_span(tracer, execution_id, root_attributes) as root:
            trace_sampled = bool(root.get_span_context().trace_flags.sampled) and (
                root.is_recording()
            )
            run_log.info(
                "dqx run %s of suite %r for %s started", execution_id, self._name, key.yyyy_mm_dd
            )

            def record_broken_run(status: RunStatus) -> None:
                record = RunRecord(
                    execution_id,
                    self._name,
                    key.yyyy_mm_dd,
                    key.identity_tags,
                    started,
                    None if status == "running" else _utcnow(),
                    status,
                    trace_sampled,
                    0,
                )
                self._record_run_safely(record, (), run_log)

            record_broken_run("running")
            try:
                values, metrics, statements = self._gather(plan, sources, tracer, run_log)
                persist_error = self._persist(metrics, tracer, run_log)
                results = self._evaluate(assertions, key, values, tracer)
            except Exception:
                # Leave an honest record, not a run that looks "running" forever.
                record_broken_run("error")
                raise
            passed = all(r.status == "OK" for r in results)
            status: RunStatus = (
                "persist_failed" if persist_error else ("passed" if passed else "failed")
            )
            result = SuiteResult(
                execution_id,
                self._name,
                key,
                status,
                results,
                metrics,
                statements,
                trace_sampled,
                started,
                _utcnow(),
                persist_error,
            )
            counts = result.counts()
            if root.is_recording():
                root.set_attributes(
                    {
                        "dqx.metric.count": len(metrics),
                        "dqx.statement.count": len(statements),
                        "dqx.assertion.count": len(results),
                        "dqx.assertion.ok": counts["OK"],
                        "dqx.assertion.failure": counts["FAILURE"],
                        "dqx.assertion.error": counts["ERROR"],
                        "dqx.suite.passed": result.passed,
                    }
                )
            self._record_run_safely(result.run_record(), result.assertion_records(), run_log)
            self._result = result
            run_log.info(
                "dqx run %s finished: %d ok, %d failed, %d errors",
                execution_id,
                counts["OK"],
                counts["FAILURE"],
                counts["ERROR"],
            )
            if enable_plugins:
                run_plugins(self._plugins, result, tracer, run_log)
            if persist_error:
                raise self._persist_failure(result, persist_error)
        return result

    def _plan(
        self, assertions: Sequence[Assertion], key: ResultKey, sources: Mapping[str, DataSource]
    ) -> _Plan:
        plan = _Plan(key)
        for assertion in assertions:
            where = f"check {assertion.check.name!r}, assertion {assertion.name!r}"
            for expr in (assertion.expr, *assertion.comparison.bounds):
                for leaf in expr.leaves():
                    symbol = leaf.base if isinstance(leaf, ExtendedSymbol) else leaf
                    assert symbol.dataset is not None
                    # Validated per assertion, so a bad column names where it was written.
                    try:
                        validate_specs(sources[symbol.dataset], [symbol.spec], where=where)
                    except DefinitionError as exc:
                        exc.check = assertion.check.name
                        raise
                    plan.add(leaf)
        return plan

    def _persist_failure(self, result: SuiteResult, problem: str) -> PersistError:
        execution_id = result.execution_id
        # Only a recorded trace holds the metrics; a sampled-out or SDK-less run must
        # not send the user looking for one.
        recovery = (
            f"every metric is in trace {execution_id}; recover them with "
            f"`dqx reconcile {execution_id} --recover` or "
            "dqx.reconcile(db, execution_id, source).recover(db), or"
            if result.trace_sampled
            else f"trace {execution_id} was not recorded (sampled out or no "
            "OpenTelemetry SDK), so the metrics are not in a trace;"
        )
        # Raised inside the root span, which records it: no record_error for it.
        return PersistError(
            f"suite {self._name!r} ran, but its {len(result.metrics)} metrics could not be "
            f"written to {self._db.url}: {problem}. Results are available from "
            f"collect_results(); {recovery} write them from this process with "
            "db.persist(suite.result.metrics) once the database is back",
            execution_id=execution_id,
        )

    def _record_run_safely(
        self,
        run: RunRecord,
        assertions: Sequence[AssertionRecord],
        run_log: logging.LoggerAdapter[logging.Logger],
    ) -> None:
        # The run record is bookkeeping: losing it must not lose the run.
        try:
            self._db.record_run(run, assertions)
        except DQXError as exc:
            run_log.warning("could not record run %s: %s", run.execution_id, exc)

    def _gather(
        self,
        plan: _Plan,
        sources: Mapping[str, DataSource],
        tracer: Any,
        run_log: logging.LoggerAdapter[logging.Logger],
    ) -> tuple[dict[MetricKey, Computed], list[Metric], list[Statement]]:
        key = plan.key
        tags = key.tags
        values: dict[MetricKey, Computed] = {}
        metrics: list[Metric] = []
        statements: list[Statement] = []

        def record(
            name: str,
            kind: str,
            parameters: dict[str, Any],
            dataset: str,
            day: dt.date,
            value: float | None,
            source_execution_id: str | None = None,
        ) -> None:
            metrics.append(
                Metric(
                    kind=kind,
                    parameters=parameters,
                    name=name,
                    dataset=dataset,
                    yyyy_mm_dd=day,
                    tags=tags,
                    value=value,
                    execution_id=self._execution_id,
                    origin="history" if source_execution_id else "computed",
                    source_execution_id=source_execution_id,
                    suite=self._name,
                )
            )

        # History first: a lagged value already stored is reused, not rescanned.
        wanted: dict[tuple[str, dt.date], tuple[MetricSpec, str]] = {}
        for dataset, needs in plan.needs.items():
            source = sources[dataset]
            for spec, day in needs:
                if day == key.yyyy_mm_dd:
                    continue
                if self._recompute == "always" and source.partitioned:
                    continue
                identity = metric_identity(spec.kind, spec.parameters, dataset, tags)
                wanted[(identity, day)] = (spec, dataset)
        history: dict[tuple[str, dt.date], Metric] = {}
        history_error: str | None = None
        if wanted:
            try:
                history = self._db.latest(wanted)
            except DQXError as exc:
                # An unreadable store must not sink the run: partitioned sources
                # recompute the lagged days, snapshots report ERROR saying why.
                history_error = str(exc)
                root = get_current_span()
                if root.is_recording():
                    root.record_exception(exc)
                run_log.warning("could not read metric history: %s", exc)
        for (identity, day), stored in history.items():
            spec, dataset = wanted[(identity, day)]
            values[(spec, dataset, day)] = Success(stored.value)
            record(
                spec.name,
                spec.kind,
                spec.parameters,
                dataset,
                day,
                stored.value,
                source_execution_id=stored.execution_id,
            )

        for dataset in sorted(plan.needs):
            source = sources[dataset]
            to_compute: list[tuple[MetricSpec, dt.date]] = []
            for spec, day in sorted(plan.needs[dataset], key=lambda n: (n[1], n[0].name)):
                if (spec, dataset, day) in values:
                    continue
                if day != key.yyyy_mm_dd and not source.partitioned:
                    reason = (
                        f"reading history failed ({history_error})"
                        if history_error
                        else f"history has none for that date with tags {key.identity_tags or {}}"
                    )
                    values[(spec, dataset, day)] = Failure(
                        f"no value for {spec.name} on dataset {dataset!r} for "
                        f"{day.isoformat()}: the dataset has no date column, so past days "
                        f"come only from stored history, and {reason}"
                    )
                    continue
                to_compute.append((spec, day))
            if not to_compute:
                continue
            dates = sorted({day for _, day in to_compute})
            specs = list(dict.fromkeys(spec for spec, _ in to_compute))
            attributes = {
                "db.system": "duckdb" if source.dialect == "duckdb" else source.dialect,
                "dqx.dataset": dataset,
                "dqx.dates": [d.isoformat() for d in dates],
                "dqx.metric.count": len(specs),
            }
            with tracer.start_as_current_span("dqx.analyze", attributes=attributes) as span:
                started = time.perf_counter()
                computed, ran = Analyzer(source).compute(specs, dates)
                statements.extend(ran)
                if span.is_recording():
                    span.set_attributes(
                        {
                            "db.statement": ";\n".join(s.sql for s in ran),
                            "dqx.statement.count": len(ran),
                            "dqx.rows_scanned": sum(s.rows_scanned or 0 for s in ran),
                        }
                    )
                    failed = [s for s in ran if s.error]
                    if failed:
                        span.set_attribute("dqx.statement.errors", [s.error or "" for s in failed])
                        # The analyzer turned the engine's exceptions into values; put
                        # them back on the span as exception events so back-ends flag it.
                        for statement in failed:
                            span.add_event(
                                "exception",
                                {
                                    "exception.type": (statement.error or "").split(":")[0],
                                    "exception.message": statement.error or "",
                                    "db.statement": statement.sql,
                                },
                            )
                        span.set_status(
                            Status(
                                StatusCode.ERROR,
                                f"{len(failed)} of {len(ran)} statement(s) failed on "
                                f"dataset {dataset!r}",
                            )
                        )
                run_log.info(
                    "analyzed %d metrics on %s for %d date(s) in %d statement(s), %.3fs",
                    len(specs),
                    dataset,
                    len(dates),
                    len(ran),
                    time.perf_counter() - started,
                )
            for spec, day in to_compute:
                value = computed[(spec, day)]
                values[(spec, dataset, day)] = value
                match value:
                    case Success(number):
                        record(spec.name, spec.kind, spec.parameters, dataset, day, number)

        # Extended metrics are values the run used too: record them under its id.
        for symbol in plan.extended.values():
            base_dataset = symbol.base.dataset
            assert base_dataset is not None
            day = key.yyyy_mm_dd - dt.timedelta(days=symbol.base.lag)
            match extended_value(symbol, key.yyyy_mm_dd, values):
                case Success(number):
                    record(symbol.name, symbol.kind, symbol.parameters, base_dataset, day, number)
        metrics.sort(key=lambda m: (m.yyyy_mm_dd, m.name, m.dataset))
        return values, metrics, statements

    def _persist(
        self,
        metrics: list[Metric],
        tracer: Any,
        run_log: logging.LoggerAdapter[logging.Logger],
    ) -> str | None:
        with tracer.start_as_current_span(
            "dqx.persist", attributes={"dqx.metric.count": len(metrics)}
        ) as span:
            # Events go out before the write: if the database fails, the trace still
            # holds every value and `reconcile(...).recover(db)` can write them back.
            emit_events(tracer, "dqx.metrics", "dqx.metric", metrics, _metric_event)
            try:
                self._db.persist(metrics)
            except DQXError as exc:
                record_error(span, exc)
                run_log.error("could not persist %d metrics: %s", len(metrics), exc)
                return str(exc)
        return None

    def _evaluate(
        self,
        assertions: list[Assertion],
        key: ResultKey,
        values: Mapping[MetricKey, Computed],
        tracer: Any,
    ) -> list[AssertionResult]:
        results: list[AssertionResult] = []
        with tracer.start_as_current_span(
            "dqx.evaluate", attributes={"dqx.assertion.count": len(assertions)}
        ):
            for assertion in assertions:
                status, value = judge(assertion.expr, assertion.comparison, key.yyyy_mm_dd, values)
                results.append(
                    AssertionResult(
                        yyyy_mm_dd=key.yyyy_mm_dd,
                        suite=self._name,
                        check=assertion.check.name,
                        assertion=assertion.name,
                        severity=assertion.severity,
                        status=status,
                        value=value,
                        expression=str(assertion.expr),
                        tags=key.tags,
                        execution_id=self._execution_id,
                        bound=assertion.comparison.describe(),
                    )
                )
            emit_events(tracer, "dqx.assertions", "dqx.assertion", results, _assertion_event)
        return results


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _index_sources(datasources: Iterable[DataSource]) -> dict[str, DataSource]:
    if isinstance(datasources, DataSource):
        datasources = [datasources]
    sources: dict[str, DataSource] = {}
    for source in datasources:
        if not isinstance(source, DataSource):
            raise DefinitionError(f"run() takes data sources, got {type(source).__name__}")
        if source.name in sources:
            raise DefinitionError(f"two data sources are named {source.name!r}")
        sources[source.name] = source
    if not sources:
        raise DefinitionError("run() needs at least one data source")
    return sources


def _known_dataset(dataset: str, sources: Mapping[str, DataSource], where: str) -> str:
    if dataset in sources:
        return dataset
    hint = difflib.get_close_matches(dataset, list(sources), n=1)
    suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
    raise DefinitionError(
        f"unknown dataset {dataset!r} in {where}; the run has "
        f"{', '.join(repr(s) for s in sources)}{suggestion}",
        dataset=dataset,
    )


def _resolve_dataset(
    leaf: MetricSymbol | ExtendedSymbol,
    *,
    check: Check,
    sources: Mapping[str, DataSource],
    assertion: str,
) -> MetricSymbol | ExtendedSymbol:
    symbol = leaf.base if isinstance(leaf, ExtendedSymbol) else leaf
    where = f"{symbol.spec.name} in assertion {assertion!r} of check {check.name!r}"
    if symbol.dataset is not None:
        dataset = _known_dataset(symbol.dataset, sources, where)
        if check.datasets is not None and dataset not in check.datasets:
            raise DefinitionError(
                f"{where} reads dataset {dataset!r}, which the check does not list in "
                f"datasets={list(check.datasets)!r}",
                dataset=dataset,
                check=check.name,
            )
    else:
        candidates = list(check.datasets) if check.datasets is not None else list(sources)
        if len(candidates) != 1:
            raise DefinitionError(
                f"{where} has no dataset=, and there are several to choose from "
                f"({', '.join(repr(c) for c in candidates)}); pass dataset=",
                check=check.name,
                metric=symbol.spec.name,
            )
        dataset = candidates[0]
    resolved = MetricSymbol(symbol.spec, dataset, symbol.lag)
    return leaf.with_base(resolved) if isinstance(leaf, ExtendedSymbol) else resolved


def _metric_event(metric: Metric) -> dict[str, Any]:
    event: dict[str, Any] = {
        "dqx.metric.id": metric.id,
        "dqx.metric.name": metric.name,
        "dqx.metric.kind": metric.kind,
        "dqx.metric.parameters": canonical_json(metric.parameters),
        "dqx.metric.origin": metric.origin,
        "dqx.dataset": metric.dataset,
        "dqx.date": metric.yyyy_mm_dd.isoformat(),
        # The run is the trace itself: events carry only the user's tags.
        **{f"dqx.tags.{k}": v for k, v in identity_tags(metric.tags).items()},
    }
    if metric.value is not None:
        event["dqx.metric.value"] = metric.value
    if metric.source_execution_id:
        event["dqx.metric.source_execution_id"] = metric.source_execution_id
    return event


def _assertion_event(result: AssertionResult) -> dict[str, Any]:
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
