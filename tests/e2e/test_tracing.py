"""Every suite run is one OpenTelemetry trace whose trace id is the execution id.

Runs go through the public API on real DuckDB and SQLite, traced by the real SDK with
an in-memory exporter handed to the suite as ``tracer_provider=``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, Sampler, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider, ProxyTracerProvider, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import text

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import PersistError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from tests.support.runs import DAY, Traced


def lose_metric_table(db: MetricDB) -> None:
    """A real write failure: the metric table is gone (renamed away) behind dqx's back."""
    db.runs()  # the schema exists once the database has been used
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE dq_metric RENAME TO dq_metric_away"))


# Not tests.support.runs' orders and check: these tests count on three assertions, no
# lagged metric, and "price sane" failing on one day of four rows (the average is 11.5).
def orders(days: int = 1, rows: int = 4) -> DuckRelationDataSource:
    dates = [DAY - dt.timedelta(days=d) for d in range(days) for _ in range(rows)]
    table = pa.table(
        {
            "yyyy_mm_dd": dates,
            "price": [10.0 + i for i in range(len(dates))],
            "email": [None if i % 4 == 0 else f"u{i}@x.io" for i in range(len(dates))],
        }
    )
    return DuckRelationDataSource.from_arrow(table, "orders")


@check(name="Orders", severity="P1")
def orders_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price sane", severity="P0").is_lt(11)
    ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails").is_lt(0.5)


class DqxLogs(logging.Handler):
    """Collects dqx's log records with the trace context current when each was emitted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[tuple[logging.LogRecord, str, dict[str, str]]] = []

    def emit(self, record: logging.LogRecord) -> None:
        context = trace.get_current_span().get_span_context()
        carrier: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(carrier)
        self.records.append((record, f"{context.trace_id:032x}", carrier))


@pytest.fixture
def dqx_logs() -> Iterator[DqxLogs]:
    # The test, as the application, decides what dqx's logger shows.
    logger = logging.getLogger("dqx")
    handler = DqxLogs()
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


# -- the root span ----------------------------------------------------------------------


def test_root_span_trace_id_is_the_execution_id_and_it_has_no_parent(
    traced: Traced, db: MetricDB
) -> None:
    suite = VerificationSuite([orders_check], db, "Orders suite", tracer_provider=traced.provider)
    result = suite.run([orders()], ResultKey(DAY, {"env": "prod", "team": "sales"}))

    root = traced.one("dqx.suite.run")
    assert root.context.trace_id == int(suite.execution_id, 16)
    assert root.parent is None
    assert {s.context.trace_id for s in traced.spans()} == {root.context.trace_id}
    counts = result.counts()
    assert dict(root.attributes or {}) == {
        "dqx.execution_id": suite.execution_id,
        "dqx.suite.name": "Orders suite",
        "dqx.date": "2024-03-02",
        "dqx.tags.env": "prod",
        "dqx.tags.team": "sales",
        "dqx.run.tags": '{"env":"prod","team":"sales"}',
        "dqx.run.tags.length": 29,
        "dqx.metric.count": len(result.metrics),
        "dqx.statement.count": len(suite.statements),
        "dqx.assertion.count": 3,
        "dqx.assertion.ok": counts["OK"],
        "dqx.assertion.failure": counts["FAILURE"],
        "dqx.assertion.error": counts["ERROR"],
        "dqx.assertion.skipped": counts["SKIPPED"],
        "dqx.suite.passed": False,
        "dqx.run.status": "failed",
    }
    # price averages 11.5 on the four rows: one assertion fails, the suite does not pass.
    assert counts == {"OK": 2, "FAILURE": 1, "ERROR": 0, "SKIPPED": 0}
    assert root.status.status_code is not StatusCode.ERROR
    run = db.run(suite.execution_id)
    assert run is not None and run.trace_sampled is True


def test_ambient_caller_span_becomes_a_link_not_the_parent(traced: Traced, db: MetricDB) -> None:
    suite = VerificationSuite([orders_check], db, "Orders", tracer_provider=traced.provider)
    caller = traced.provider.get_tracer("airflow").start_span("task orders_dq")
    with trace.use_span(caller, end_on_exit=True):
        suite.run([orders()], ResultKey(DAY))

    root = traced.one("dqx.suite.run")
    assert root.parent is None
    assert (
        root.context.trace_id == int(suite.execution_id, 16) != caller.get_span_context().trace_id
    )
    (link,) = root.links
    assert link.context.trace_id == caller.get_span_context().trace_id
    assert link.context.span_id == caller.get_span_context().span_id
    # No span of the run joined the caller's trace.
    caller_trace = caller.get_span_context().trace_id
    assert [s.name for s in traced.spans() if s.context.trace_id == caller_trace] == [
        "task orders_dq"
    ]


def test_concurrent_runs_in_threads_each_get_their_own_trace(traced: Traced, db: MetricDB) -> None:
    threads, runs_per_thread = 8, 3
    start = threading.Barrier(threads)
    ids: dict[str, str] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            for n in range(runs_per_thread):
                tag = f"{worker}-{n}"
                suite = VerificationSuite(
                    [orders_check], db, "Orders", tracer_provider=traced.provider
                )
                suite.run([orders()], ResultKey(DAY, {"run": tag}))
                ids[tag] = suite.execution_id
        except BaseException as exc:
            errors.append(exc)

    pool = [threading.Thread(target=work, args=(w,)) for w in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert errors == []

    assert len(set(ids.values())) == threads * runs_per_thread
    spans_by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in traced.spans():
        spans_by_trace[span.context.trace_id].append(span)
    assert set(spans_by_trace) == {int(i, 16) for i in ids.values()}
    for tag, execution_id in ids.items():
        spans = spans_by_trace[int(execution_id, 16)]
        (root,) = [s for s in spans if s.name == "dqx.suite.run"]
        assert root.parent is None
        assert (root.attributes or {})["dqx.tags.run"] == tag
        # Every metric event of this trace belongs to this run, none to a neighbour.
        tags = {
            (event.attributes or {})["dqx.tags.run"]
            for span in spans
            for event in span.events
            if event.name == "dqx.metric"
        }
        assert tags == {tag}


# -- without an SDK ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["noop", "proxy", "sdk disabled"])
def test_run_without_an_sdk_completes_and_its_context_carries_the_execution_id(
    kind: str, db: MetricDB, dqx_logs: DqxLogs, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider: trace.TracerProvider
    if kind == "noop":
        provider = NoOpTracerProvider()
    elif kind == "proxy":
        provider = ProxyTracerProvider()
    else:
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        provider = TracerProvider()
    suite = VerificationSuite([orders_check], db, "Orders", tracer_provider=provider)
    result = suite.run([orders()], ResultKey(DAY))

    assert [r.status for r in suite.collect_results()] == ["OK", "FAILURE", "OK"]
    assert len(db.metrics_for_execution(suite.execution_id)) == len(result.metrics) > 0
    run = db.run(suite.execution_id)
    assert run is not None and run.trace_sampled is False and result.trace_sampled is False
    # Log correlation and traceparent propagation from inside the run see the id.
    assert dqx_logs.records
    for _record, trace_id, carrier in dqx_logs.records:
        assert trace_id == suite.execution_id
        assert carrier["traceparent"].split("-")[1] == suite.execution_id
    # Nothing of the run leaked into the context outside it.
    assert not trace.get_current_span().get_span_context().is_valid


# -- child spans ------------------------------------------------------------------------


def test_analyze_spans_carry_sql_engine_and_rows_scanned_per_dataset(
    traced: Traced, db: MetricDB
) -> None:
    @check(name="Two datasets")
    def two(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows(dataset="orders")).where(name="orders").is_gt(0)
        ctx.assert_that(mp.sum("qty", dataset="items")).where(name="items").is_gt(0)

    items = DuckRelationDataSource.from_arrow(pa.table({"qty": [1, 2, 3, 4, 5]}), "items")
    suite = VerificationSuite([two], db, "Two", tracer_provider=traced.provider)
    suite.run([orders(days=3, rows=4), items], ResultKey(DAY))

    root = traced.one("dqx.suite.run")
    analyze = {(s.attributes or {})["dqx.dataset"]: s for s in traced.named("dqx.analyze")}
    assert set(analyze) == {"orders", "items"}
    for dataset, span in analyze.items():
        attributes = span.attributes or {}
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert attributes["db.system"] == "duckdb"
        ran = [s for s in suite.statements if s.dataset == dataset]
        assert attributes["db.statement"] == ";\n".join(s.sql for s in ran)
        assert attributes["dqx.statement.count"] == len(ran)
    # The orders source is partitioned: only the run's day is scanned, 4 of its 12 rows.
    assert (analyze["orders"].attributes or {})["dqx.rows_scanned"] == 4
    assert (analyze["items"].attributes or {})["dqx.rows_scanned"] == 5
    for name in ("dqx.persist", "dqx.evaluate"):
        span = traced.one(name)
        assert span.parent is not None and span.parent.span_id == root.context.span_id


def test_failing_custom_sql_is_recorded_on_its_analyze_span(traced: Traced, db: MetricDB) -> None:
    @check(name="Custom")
    def custom(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
        ctx.assert_that(mp.custom_sql("SUM(CAST(email AS INTEGER))")).where(name="cast").is_gt(0)

    suite = VerificationSuite([custom], db, "Custom", tracer_provider=traced.provider)
    suite.run([orders()], ResultKey(DAY))

    by_name = {r.assertion: r for r in suite.collect_results()}
    assert by_name["rows"].status == "OK"
    assert by_name["cast"].status == "ERROR"
    analyze = traced.one("dqx.analyze")
    assert analyze.status.status_code is StatusCode.ERROR
    failures = [e for e in analyze.events if e.name == "exception"]
    assert failures
    for event in failures:
        attributes = event.attributes or {}
        assert "Conversion" in str(attributes["exception.message"])
        assert "CAST" in str(attributes["db.statement"]).upper()
        assert str(attributes["exception.message"]) in by_name["cast"].message
    # The failure stayed on the span that failed.
    assert traced.one("dqx.suite.run").status.status_code is not StatusCode.ERROR


# -- events -----------------------------------------------------------------------------


def test_every_persisted_metric_and_assertion_is_an_event_under_default_span_limits(
    traced: Traced, db: MetricDB
) -> None:
    # 520 metrics and 520 assertions: four times the 128 events the SDK keeps per span.
    values = list(range(520))

    @check(name="Many")
    def many(mp: MetricProvider, ctx: Context) -> None:
        for value in values:
            ctx.assert_that(mp.count_values("code", value)).where(name=f"code {value}").is_eq(1)

    table = pa.table({"code": values, "yyyy_mm_dd": [DAY] * len(values)})
    source = DuckRelationDataSource.from_arrow(table, "codes")
    suite = VerificationSuite([many], db, "Many", tracer_provider=traced.provider)
    result = suite.run([source], ResultKey(DAY, {"env": "prod"}))

    stored = {m.id: m for m in db.metrics_for_execution(suite.execution_id)}
    assert len(stored) == len(values)
    events = {e["dqx.metric.id"]: e for e in traced.events("dqx.metric")}
    assert set(events) == set(stored)
    for metric_id, metric in stored.items():
        parameters = json.dumps(metric.parameters, sort_keys=True, separators=(",", ":"))
        assert events[metric_id] == {
            "dqx.metric.id": metric_id,
            "dqx.metric.name": metric.name,
            "dqx.metric.name.length": len(metric.name),
            "dqx.metric.kind": metric.kind,
            "dqx.metric.parameters": parameters,
            "dqx.metric.parameters.length": len(parameters),
            "dqx.metric.origin": "computed",
            "dqx.metric.value": metric.value,
            "dqx.dataset": "codes",
            "dqx.date": "2024-03-02",
            "dqx.tags.env": "prod",
            "dqx.metric.tags": '{"env":"prod"}',
            "dqx.metric.tags.length": 14,
            "dqx.metric.format": 2,
        }
        # What a limit may cut comes first, the identity last: id, then value.
        assert list(events[metric_id])[-3:] == [
            "dqx.metric.id",
            "dqx.metric.format",
            "dqx.metric.value",
        ]
    assertions = traced.events("dqx.assertion")
    assert len(assertions) == len(result.results) == len(values)
    assert {(a["dqx.assertion.name"], a["dqx.assertion.status"]) for a in assertions} == {
        (r.assertion, r.status) for r in result.results
    }
    assert {a["dqx.assertion.value"] for a in assertions} == {1.0}
    for span in traced.spans():
        assert len(span.events) <= 100
        assert span.dropped_events == 0
    persist = traced.one("dqx.persist")
    for span in traced.named("dqx.metrics"):
        assert span.parent is not None and span.parent.span_id == persist.context.span_id


def test_values_taken_from_history_are_events_with_their_source_run(
    traced: Traced, db: MetricDB
) -> None:
    @check(name="Trend")
    def trend(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.average("price"))).where(name="dod").is_lt(1)

    yesterday = VerificationSuite([orders_check], db, "Orders", tracer_provider=traced.provider)
    yesterday.run([orders(days=2)], ResultKey(DAY - dt.timedelta(days=1)))
    traced.exporter.clear()
    today = VerificationSuite([trend], db, "Trend", tracer_provider=traced.provider)
    today.run([orders(days=2)], ResultKey(DAY))

    events = traced.events("dqx.metric")
    stored = {m.id: m for m in db.metrics_for_execution(today.execution_id)}
    assert {e["dqx.metric.id"] for e in events} == set(stored)
    reused = [e for e in events if e["dqx.metric.origin"] == "history"]
    assert [(e["dqx.metric.name"], e["dqx.date"]) for e in reused] == [
        ("average(price)", "2024-03-01")
    ]
    assert reused[0]["dqx.metric.source_execution_id"] == yesterday.execution_id
    assert {e["dqx.metric.name"] for e in events} >= {"day_over_day(average(price))"}


# -- sampling ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sampler", "sampled"),
    [(ALWAYS_OFF, False), (TraceIdRatioBased(0), False), (ALWAYS_ON, True)],
    ids=["always_off", "ratio_0", "always_on"],
)
def test_sampling_decides_trace_sampled_and_never_the_run(
    sampler: Sampler, sampled: bool, db: MetricDB, dqx_logs: DqxLogs
) -> None:
    tracing = Traced(sampler)
    suite = VerificationSuite([orders_check], db, "Orders", tracer_provider=tracing.provider)
    result = suite.run([orders()], ResultKey(DAY))

    assert len(suite.collect_results()) == 3
    assert len(db.metrics_for_execution(suite.execution_id)) == len(result.metrics) > 0
    run = db.run(suite.execution_id)
    assert run is not None and run.trace_sampled is sampled
    assert result.trace_sampled is sampled
    assert bool(tracing.spans()) is sampled
    # Sampled out or not, logs inside the run carry the execution id as trace id.
    assert {trace_id for _r, trace_id, _c in dqx_logs.records} == {suite.execution_id}
    tracing.provider.shutdown()


# -- a lost database write --------------------------------------------------------------


def test_a_failed_metric_write_keeps_the_run_and_its_trace(traced: Traced, db: MetricDB) -> None:
    lose_metric_table(db)
    suite = VerificationSuite([orders_check], db, "Orders", tracer_provider=traced.provider)

    with pytest.raises(PersistError) as raised:
        suite.run([orders()], ResultKey(DAY))

    message = str(raised.value)
    assert raised.value.execution_id == suite.execution_id
    assert "dq_metric" in message
    assert f"trace {suite.execution_id}" in message and "recover" in message
    assert [r.status for r in suite.collect_results()] == ["OK", "FAILURE", "OK"]
    result = suite.result
    assert result is not None and result.metrics
    events = traced.events("dqx.metric")
    assert sorted((e["dqx.metric.name"], e["dqx.metric.value"]) for e in events) == sorted(
        (m.name, m.value) for m in result.metrics
    )
    assert len(traced.events("dqx.assertion")) == 3
    persist = traced.one("dqx.persist")
    assert persist.status.status_code is StatusCode.ERROR
    assert [e.attributes["exception.type"] for e in persist.events if e.attributes] == [
        "dqx.common.StoreError"
    ]
    root = traced.one("dqx.suite.run")
    assert root.status.status_code is StatusCode.ERROR
    root_errors = [e for e in root.events if e.name == "exception"]
    assert len(root_errors) == 1
    assert (root_errors[0].attributes or {})["exception.type"] == "dqx.common.PersistError"
    run = db.run(suite.execution_id)
    assert run is not None and run.status == "persist_failed"

    # The way out the message names: once the table is back, the values go in as they were.
    with db.engine.begin() as connection:
        connection.execute(text("ALTER TABLE dq_metric_away RENAME TO dq_metric"))
    db.persist(result.metrics)
    assert {m.id for m in db.metrics_for_execution(suite.execution_id)} == {
        m.id for m in result.metrics
    }


def test_a_failed_write_of_an_unsampled_run_does_not_promise_a_trace(db: MetricDB) -> None:
    lose_metric_table(db)
    suite = VerificationSuite(
        [orders_check], db, "Orders", tracer_provider=Traced(ALWAYS_OFF).provider
    )

    with pytest.raises(PersistError) as raised:
        suite.run([orders()], ResultKey(DAY))

    message = str(raised.value)
    assert "not recorded" in message and "db.persist(error.result.metrics)" in message
    assert "reconcile" not in message
    assert len(suite.collect_results()) == 3


# -- the host process -------------------------------------------------------------------


def _logging_state() -> dict[str, tuple[Any, ...]]:
    loggers: dict[str, logging.Logger] = {"": logging.getLogger()}
    for name, logger in logging.Logger.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            loggers[name] = logger
    return {
        name: (
            logger.level,
            logger.propagate,
            logger.disabled,
            tuple(logger.handlers),
            tuple(logger.filters),
        )
        for name, logger in loggers.items()
    }


def test_every_dqx_log_record_of_a_run_carries_its_execution_id(
    tmp_path: Path, traced: Traced, db: MetricDB, dqx_logs: DqxLogs
) -> None:
    # A database first used inside the run: the storage layer logs there too.
    fresh = MetricDB(f"sqlite:///{tmp_path / 'fresh.db'}")
    first = VerificationSuite([orders_check], fresh, "Orders", tracer_provider=traced.provider)
    dqx_logs.records.clear()
    first.run([orders()], ResultKey(DAY))
    assert dqx_logs.records
    for record, _trace_id, _carrier in dqx_logs.records:
        assert getattr(record, "execution_id", None) == first.execution_id, record.getMessage()
    fresh.dispose()

    lose_metric_table(db)  # so the error paths log too
    second = VerificationSuite([orders_check], db, "Orders", tracer_provider=traced.provider)
    dqx_logs.records.clear()
    with pytest.raises(PersistError):
        second.run([orders()], ResultKey(DAY))
    assert logging.ERROR in {record.levelno for record, _t, _c in dqx_logs.records}
    for record, _trace_id, _carrier in dqx_logs.records:
        assert getattr(record, "execution_id", None) == second.execution_id, record.getMessage()

    # Outside a run, dqx adds nothing to the application's records.
    dqx_logs.records.clear()
    MetricDB(f"sqlite:///{tmp_path / 'outside.db'}").runs()
    assert all(not hasattr(record, "execution_id") for record, _t, _c in dqx_logs.records)


def test_a_run_leaves_logging_and_the_global_tracer_provider_alone(
    traced: Traced, db: MetricDB
) -> None:
    logging_before = _logging_state()
    provider_before = trace.get_tracer_provider()

    suite = VerificationSuite([orders_check], db, "Orders", tracer_provider=traced.provider)
    suite.run([orders()], ResultKey(DAY))

    assert trace.get_tracer_provider() is provider_before
    after = _logging_state()
    for name, state in logging_before.items():
        assert after[name] == state, name
    for name in set(after) - set(logging_before):
        if name == "dqx" or name.startswith("dqx."):
            assert after[name] == (logging.NOTSET, True, False, (), ()), name
