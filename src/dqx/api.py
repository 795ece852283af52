"""The suite that runs checks: a conductor calling the run's phases in order.

A run declares (check functions -> assertions), plans (every metric x dataset x
date, validated against the sources before any scan), reads history (the values the
store already has), analyzes (SQL for the rest), persists, evaluates and publishes
(the run's record, its trace attributes, the plugins), all inside one OpenTelemetry
trace whose trace id is the run's execution id. Each phase lives in a module of its
own; this one only orders them and keeps the suite's state.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

from opentelemetry.metrics import MeterProvider
from opentelemetry.trace import Link, Span, Status, StatusCode, TracerProvider

from dqx.analyzer import Analyzer, Computed
from dqx.backfill import BATCH_DAYS, BackfillResult, backfill, days_between
from dqx.checks import Check, Context, check, checked_checks
from dqx.common import (
    EXECUTION_ID_TAG,
    AssertionResult,
    DefinitionError,
    DQXError,
    PersistError,
    ResultKey,
    SuiteStateError,
    checked_text,
    is_internal_tag,
    new_execution_id,
)
from dqx.datasource import DataSource
from dqx.evaluator import MetricKey
from dqx.events import interrupted_attributes, outcome_attributes, run_attributes
from dqx.execution import Progress, analyze, evaluate, persist
from dqx.history import RECOMPUTE, History, Recompute, read_history
from dqx.plan import Plan, declare, index_sources, make_plan
from dqx.plugins import Plugin, check_plugins, run_plugins
from dqx.records import (
    AssertionRecord,
    MetricStore,
    RunRecord,
    RunStatus,
    Statement,
    SuiteResult,
    is_problem,
)
from dqx.reevaluation import StoredRun, replay
from dqx.runlog import run_logger
from dqx.telemetry.metering import get_meter, record_run
from dqx.telemetry.tracing import get_tracer, run_link, start_run_span
from dqx.values import RunValues

__all__ = ["BackfillResult", "Check", "Context", "SuiteResult", "VerificationSuite", "check"]

log = logging.getLogger(__name__)
RunLog = logging.LoggerAdapter[logging.Logger]
#: What finds a run's values: (tracer, root span, run log, progress) -> history, computed
#: values, the SQL statements that computed them.
_Gather: TypeAlias = Callable[
    [Any, Span, RunLog, "Progress"],
    tuple[History, dict[MetricKey, Computed], list[Statement]],
]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class VerificationSuite:
    """Runs checks against data sources and records everything under one execution id.

    ``db`` is a :class:`~dqx.orm.repositories.MetricDB` or anything with the members of
    :class:`~dqx.records.MetricStore`. ``recompute="missing"`` (the default) reuses
    lagged values history already holds; ``"always"`` recomputes them from a
    date-partitioned source. ``plugins`` are called once after each finished run with
    its :class:`SuiteResult` (see :mod:`dqx.plugins`). ``meter_provider``, like
    ``tracer_provider``, defaults to the global one (a no-op until the application
    installs an SDK); each finished run records its metrics there
    (:mod:`dqx.telemetry.metering`). A suite without checks can be built, not run.
    """

    def __init__(
        self,
        checks: Sequence[Check],
        db: MetricStore,
        name: str,
        tracer_provider: TracerProvider | None = None,
        plugins: Sequence[Plugin] = (),
        *,
        recompute: Recompute = "missing",
        meter_provider: MeterProvider | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise DefinitionError(f"a suite needs a non-empty name, got {name!r}")
        checked_text(name, "the suite name")
        self._checks = checked_checks(checks, name)
        if not isinstance(db, MetricStore):
            raise DefinitionError(
                f"suite {name!r} needs a metric store such as MetricDB('sqlite:///dqx.db'), "
                f"got {type(db).__name__}; a store needs url, latest, persist and record_run"
            )
        if recompute not in RECOMPUTE:
            raise DefinitionError(f"recompute must be 'missing' or 'always', got {recompute!r}")
        self._plugins = check_plugins(plugins, suite=name)
        self._db = db
        self._name = name
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
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
        self._refuse_reserved_tags(key)
        enriched_key = ResultKey(key.yyyy_mm_dd, {**key.tags, EXECUTION_ID_TAG: self.execution_id})
        return self._run(datasources, enriched_key, enable_plugins)

    def run_range(
        self,
        datasources: Sequence[DataSource],
        since: dt.date,
        until: dt.date,
        *,
        tags: Mapping[str, str] | None = None,
        enable_plugins: bool = True,
        batch_days: int = BATCH_DAYS,
    ) -> BackfillResult:
        """A backfill: run every day from ``since`` to ``until`` (both included).

        Each day is a run of its own (execution id, trace, record, plugins), in date
        order, each persisted before the next, so day N+1's lags see day N. The values
        of date-partitioned sources are computed ``batch_days`` days per batch of
        statements (see :mod:`dqx.backfill`); a source without a date column is
        refused. A day that raises stops the backfill with
        :class:`~dqx.backfill.BackfillError`, the finished days staying recorded.
        Afterwards :attr:`result` is the last day's.
        """
        if self._started:
            raise SuiteStateError(
                f"suite {self._name!r} already ran as {self._execution_id}; call reset() "
                "before a backfill"
            )
        days = days_between(since, until)
        key = ResultKey(since, tags)
        self._refuse_reserved_tags(key)
        self._require_checks()
        sources = index_sources(datasources)

        def plan_day(day: dt.date) -> Plan:
            day_key = ResultKey(day, key.tags)
            return make_plan(declare(self._checks, day_key, sources), day_key, sources)

        def run_day(day: dt.date, analyzer: Callable[[DataSource], Analyzer]) -> SuiteResult:
            if self._started:
                self.reset()
            day_key = ResultKey(day, {**key.tags, EXECUTION_ID_TAG: self.execution_id})
            return self._run(list(sources.values()), day_key, enable_plugins, analyzer)

        return backfill(days, sources, plan_day, run_day, suite=self._name, batch_days=batch_days)

    def _refuse_reserved_tags(self, key: ResultKey) -> None:
        reserved = sorted(tag for tag in key.tags if is_internal_tag(tag))
        if reserved:
            raise DefinitionError(
                f"suite {self._name!r}: the key's tag(s) {', '.join(map(repr, reserved))} are "
                "reserved (tags starting with '__' are dqx's own; run() adds "
                f"{EXECUTION_ID_TAG!r} itself); pass the key without them"
            )

    def evaluate_execution(self, execution_id: str, *, enable_plugins: bool = True) -> SuiteResult:
        """Judge this suite's checks over the metrics run ``execution_id`` stored,
        reading no data: a new run (its own execution id and trace, its trace linked to
        the original's) about the same date and tags, whose metrics are that run's
        values (``origin`` = history, ``source_execution_id`` the original). An
        assertion needing a metric the run did not compute is an ERROR naming it.
        Raises :class:`DQXError` when the store has no metrics of that run."""
        if self._started:
            raise SuiteStateError(
                f"suite {self._name!r} already ran as {self._execution_id}; call reset() "
                "before running it again"
            )
        stored = StoredRun.load(self._db, execution_id, self._name)
        original = stored.execution_id
        key = stored.key({EXECUTION_ID_TAG: self.execution_id})
        self._require_checks()
        plan = make_plan(declare(self._checks, key, stored.datasets), key, None)

        def gather(*_: Any) -> tuple[History, dict[MetricKey, Computed], list[Statement]]:
            history, missing = replay(plan, stored)
            return history, missing, []

        link = run_link(original, "evaluates")
        return self._execute(plan, gather, enable_plugins, link=link, source=original)

    def _require_checks(self) -> None:
        if not self._checks:
            raise DefinitionError(
                f"suite {self._name!r} has no checks to run; pass at least one @check function"
            )

    def _run(
        self,
        datasources: Sequence[DataSource],
        key: ResultKey,
        enable_plugins: bool,
        analyzer: Callable[[DataSource], Analyzer] = Analyzer,
    ) -> SuiteResult:
        self._require_checks()
        sources = index_sources(datasources)
        plan = make_plan(declare(self._checks, key, sources), key, sources)

        def gather(
            tracer: Any, root: Span, run_log: RunLog, progress: Progress
        ) -> tuple[History, dict[MetricKey, Computed], list[Statement]]:
            progress.stage = "reading history"
            history = read_history(plan, sources, self._db, self._recompute)
            _note_history_error(history, root, run_log)
            computed, statements = analyze(
                plan, sources, history, tracer, run_log, progress, analyzer
            )
            return history, computed, statements

        return self._execute(plan, gather, enable_plugins)

    def _execute(
        self,
        plan: Plan,
        gather: _Gather,
        enable_plugins: bool,
        *,
        link: Link | None = None,
        source: str | None = None,
    ) -> SuiteResult:
        """The run around ``gather`` (which finds its values): its trace, its record
        from start to end, whatever stops it, and the publishing of its results."""
        key = plan.key
        self._started = True
        tracer = get_tracer(self._tracer_provider)
        attributes = run_attributes(self._execution_id, self._name, key)
        if source is not None:
            attributes["dqx.run.source_execution_id"] = source
        links = [link] if link is not None else []
        with start_run_span(tracer, self._execution_id, attributes, links) as root:
            # Redacting, as every record dqx emits: a plugin's error may quote a URL.
            run_log = run_logger(log, self._execution_id)
            started = _utcnow()
            sampled = bool(root.get_span_context().trace_flags.sampled) and root.is_recording()
            progress = Progress()
            try:
                self._record(self._bare_record(key, started, sampled, "running"), run_log)
                result = self._compute(plan, gather, tracer, root, run_log, started, progress)
            except KeyboardInterrupt as interrupt:
                # Ctrl-C, or SIGTERM as an application raises it: not an error. The
                # run is recorded as interrupted, no plugin runs, and it goes on up.
                bare = self._bare_record(key, started, sampled, "interrupted")
                self._interrupted(interrupt, bare, progress, root, run_log)
                raise
            except Exception:
                # Leave an honest record, not a run that looks "running" forever.
                self._record(self._bare_record(key, started, sampled, "error"), run_log)
                raise
            result = replace(result, source_execution_id=source)
            self._publish(result, root, run_log, enable_plugins)
        return result

    def _compute(
        self,
        plan: Plan,
        gather: _Gather,
        tracer: Any,
        root: Span,
        run_log: RunLog,
        started: dt.datetime,
        progress: Progress,
    ) -> SuiteResult:
        run_log.info(
            "dqx run %s of suite %r for %s started",
            self._execution_id,
            self._name,
            plan.key.yyyy_mm_dd,
        )
        history, computed, statements = gather(tracer, root, run_log, progress)
        sampled = bool(root.get_span_context().trace_flags.sampled) and root.is_recording()
        values = RunValues.gather(plan, history, computed)
        metrics = values.metrics(self._execution_id, self._name)
        progress.stage = "persisting metrics"
        persist_error = persist(self._db, metrics, tracer, run_log)
        progress.metrics_stored = 0 if persist_error else len(metrics)
        progress.stage = "evaluating assertions"
        results = evaluate(
            plan.assertions,
            plan.key,
            values.lookup(),
            tracer,
            suite=self._name,
            execution_id=self._execution_id,
            requires=plan.requires,
        )
        passed = not any(is_problem(r.status) for r in results)
        status: RunStatus = (
            "persist_failed" if persist_error else ("passed" if passed else "failed")
        )
        return SuiteResult(
            self._execution_id,
            self._name,
            plan.key,
            status,
            results,
            metrics,
            statements,
            sampled,
            started,
            _utcnow(),
            str(persist_error) if persist_error else None,
        )

    def _publish(
        self, result: SuiteResult, root: Span, run_log: RunLog, enable_plugins: bool
    ) -> None:
        """The run's record, its trace attributes, the plugins; then PersistError when
        the store did not take the metrics or the final record."""
        if root.is_recording():
            root.set_attributes(outcome_attributes(result))
        record_error = self._record(
            result.run_record(), run_log, result.assertion_records(), result.statements
        )
        self._result = result
        counts = result.counts()
        run_log.info(
            "dqx run %s finished: %d ok, %d failed, %d errors, %d skipped",
            result.execution_id,
            counts["OK"],
            counts["FAILURE"],
            counts["ERROR"],
            counts["SKIPPED"],
        )
        self._measure(result, root, run_log)
        if enable_plugins:
            run_plugins(self._plugins, result, get_tracer(self._tracer_provider), run_log)
        if result.persist_error:
            # Raised inside the root span, which records it.
            raise self._persist_failure(
                result, f"its {len(result.metrics)} metrics", result.persist_error
            )
        if record_error is not None:
            raise self._persist_failure(result, "its run record", str(record_error))

    def _measure(self, result: SuiteResult, root: Span, run_log: RunLog) -> None:
        try:
            record_run(get_meter(self._meter_provider), result, root)
        except Exception as exc:
            # Metrics are a view of the run, like a plugin: one that breaks must not
            # turn a judged run into an error.
            run_log.warning("could not record the metrics of run %s: %s", result.execution_id, exc)

    def _interrupted(
        self,
        interrupt: KeyboardInterrupt,
        bare: RunRecord,
        progress: Progress,
        root: Span,
        run_log: RunLog,
    ) -> None:
        """Record the run as interrupted, saying where, and end its root span in error."""
        reason = str(interrupt) or type(interrupt).__name__
        message = f"interrupted ({reason}) while {progress.stage}"
        if root.is_recording():
            root.record_exception(interrupt, escaped=True)
            root.set_status(Status(StatusCode.ERROR, message))
            root.set_attributes(interrupted_attributes(message))
        run_log.info("dqx run %s %s", self._execution_id, message)
        self._record(replace(bare, metric_count=progress.metrics_stored, message=message), run_log)

    def _bare_record(
        self, key: ResultKey, started: dt.datetime, sampled: bool, status: RunStatus
    ) -> RunRecord:
        """The record of a run that has no results: running, or broken midway."""
        finished = None if status == "running" else _utcnow()
        return RunRecord(
            self._execution_id,
            self._name,
            key.yyyy_mm_dd,
            key.identity_tags,
            started,
            finished,
            status,
            sampled,
            0,
        )

    def _record(
        self,
        run: RunRecord,
        run_log: RunLog,
        assertions: Sequence[AssertionRecord] = (),
        statements: Sequence[Statement] = (),
    ) -> DQXError | None:
        """Write the run's record; the error, if the store refused (the caller decides)."""
        try:
            self._db.record_run(run, assertions, statements)
        except DQXError as exc:
            run_log.warning("could not record run %s as %s: %s", run.execution_id, run.status, exc)
            return exc
        return None

    def _persist_failure(self, result: SuiteResult, what: str, problem: str) -> PersistError:
        execution_id = result.execution_id
        # Only a recorded trace holds the run; a sampled-out or SDK-less run must not
        # send the user looking for one.
        recovery = (
            f"the trace {execution_id} holds the run; once the database is back, write it "
            f"there with `dqx reconcile {execution_id} --recover` or "
            "dqx.reconcile(db, execution_id, source).recover(db)"
            if result.trace_sampled
            else f"trace {execution_id} was not recorded (sampled out or no OpenTelemetry "
            "SDK); write the metrics from this process with "
            "db.persist(error.result.metrics) once the database is back"
        )
        return PersistError(
            f"suite {self._name!r} ran, but {what} could not be written to {self._db.url}: "
            f"{problem}. The results are on this error (.result) and from "
            f"collect_results(); {recovery}",
            execution_id=execution_id,
            result=result,
        )


def _note_history_error(history: History, root: Span, run_log: RunLog) -> None:
    # An unreadable store must not sink the run: partitioned sources recompute the
    # lagged days, snapshots report ERROR saying why.
    if history.error is None:
        return
    if root.is_recording():
        root.record_exception(history.error)
    run_log.warning("could not read metric history: %s", history.error)
