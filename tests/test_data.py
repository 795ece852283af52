"""metrics_by_execution_id and reconcile, through the public API on real runs.

Runs go through DuckDB into a SQLite file, traced by the real SDK into memory; the
trace is read back with InMemoryTraceSource or from OTLP JSON lines.
The seed plan's own tests close the file as the user wrote them (two of them on
mocks of MetricDB and Metric); the module has no ``from __future__ import annotations``
so their check functions' annotations are evaluated as in the plan.
"""

import datetime as dt
import re
import uuid
from datetime import date
from pathlib import Path
from unittest.mock import Mock

import pytest
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from pytest_mock import MockerFixture
from returns.result import Failure, Success
from sqlalchemy import text

from dqx import Context, MetricProvider, check, metrics_by_execution_id, reconcile
from dqx.common import InvalidExecutionIdError, StoreError
from dqx.data import Reconciliation, metrics_table
from dqx.orm.repositories import Metric, MetricDB, MetricRow
from dqx.traces import InMemoryTraceSource, OTLPFileTraceSource
from tests.support.backends import write_otlp_lines
from tests.support.runs import DAY, Traced, many_metrics_check, run_suite


def _delete_rows(db: MetricDB, execution_id: str, names: list[str] | None = None) -> None:
    """Lose (some of) a run's rows, as a failed or partial write would."""
    query = "DELETE FROM dq_metric WHERE execution_id = :e"
    with db.engine.begin() as connection:
        if names is None:
            connection.execute(text(query), {"e": execution_id})
        for name in names or ():
            connection.execute(text(query + " AND name = :n"), {"e": execution_id, "n": name})


# -- metrics_by_execution_id --------------------------------------------------------------


def test_every_metric_of_the_run_comes_back_sorted_named_and_tagged(
    db: MetricDB, traced: Traced
) -> None:
    suite = run_suite(db, traced, tags={"env": "prod", "region": "eu"})
    other = run_suite(db, traced)  # another run in the same database stays out
    assert suite.result is not None and other.result is not None

    symbols = metrics_by_execution_id(db, suite.execution_id)

    expected = sorted((m.yyyy_mm_dd, m.name, m.value) for m in suite.result.metrics)
    assert [(s.yyyy_mm_dd, s.metric, s.value.unwrap()) for s in symbols] == expected
    assert [s.name for s in symbols] == [f"m_{i}" for i in range(1, len(symbols) + 1)]
    # The lagged value and the extended metric are part of the run's record.
    assert (DAY - dt.timedelta(days=1), "sum(price)") in {(s.yyyy_mm_dd, s.metric) for s in symbols}
    assert "day_over_day(sum(price))" in {s.metric for s in symbols}
    for symbol in symbols:
        assert isinstance(symbol.value, Success) and isinstance(symbol.value.unwrap(), float)
        assert symbol.tags == {
            "env": "prod",
            "region": "eu",
            "__execution_id": suite.execution_id,
        }
        assert symbol.dataset == "orders" and symbol.suite == "Orders"


def test_the_dashed_uuid_form_of_an_execution_id_is_the_same_run(
    db: MetricDB, traced: Traced
) -> None:
    suite = run_suite(db, traced)
    dashed = str(uuid.UUID(suite.execution_id))

    assert metrics_by_execution_id(db, dashed) == metrics_by_execution_id(db, suite.execution_id)
    assert metrics_by_execution_id(db, dashed.upper())


@pytest.mark.parametrize("bad", ["", "abc", "g" * 32, "a" * 31, "a" * 33])
def test_a_malformed_execution_id_is_a_value_error(db: MetricDB, bad: str) -> None:
    with pytest.raises(ValueError, match="execution id") as raised:
        metrics_by_execution_id(db, bad)
    assert isinstance(raised.value, InvalidExecutionIdError)


def test_an_unknown_execution_id_has_no_metrics(db: MetricDB) -> None:
    assert metrics_by_execution_id(db, "0" * 32) == []


def test_a_null_value_comes_back_as_a_failure_naming_the_metric(db: MetricDB) -> None:
    execution_id = "1" * 32
    db.persist(
        [
            Metric(
                "average",
                {"column": "price"},
                "average(price)",
                "orders",
                DAY,
                {},
                None,
                execution_id,
            ),
        ]
    )
    (symbol,) = metrics_by_execution_id(db, execution_id)
    assert isinstance(symbol.value, Failure) and "average(price)" in symbol.value.failure()


def test_with_a_trace_the_list_is_the_union_marked_with_its_origin(
    db: MetricDB, traced: Traced
) -> None:
    suite = run_suite(db, traced)
    assert suite.result is not None
    source = InMemoryTraceSource(traced.exporter)
    both = metrics_by_execution_id(db, suite.execution_id, trace=source)
    assert {s.tags["__origin"] for s in both} == {"db+trace"}

    _delete_rows(db, suite.execution_id, ["num_rows()"])
    extra = Metric(
        "sum",
        {"column": "price"},
        "sum(price)",
        "orders",
        DAY + dt.timedelta(days=1),
        {"env": "test"},
        1.5,
        suite.execution_id,
    )
    db.persist([extra])  # a row the trace never saw
    union = metrics_by_execution_id(db, suite.execution_id, trace=source)

    origins = {(s.metric, s.yyyy_mm_dd): s.tags["__origin"] for s in union}
    assert origins[("num_rows()", DAY)] == "trace"
    assert origins[("sum(price)", extra.yyyy_mm_dd)] == "db"
    assert len(union) == len(both) + 1
    assert [s.name for s in union] == [f"m_{i}" for i in range(1, len(union) + 1)]
    assert [(s.yyyy_mm_dd, s.metric) for s in union] == sorted(
        (s.yyyy_mm_dd, s.metric) for s in union
    )
    # Values from the trace are the exact floats the run computed.
    from_trace = next(s for s in union if s.tags["__origin"] == "trace")
    computed = next(m for m in suite.result.metrics if m.name == "num_rows()")
    assert from_trace.value.unwrap() == computed.value


def test_with_a_trace_source_that_lacks_the_trace_every_metric_is_db_only(
    db: MetricDB, traced: Traced
) -> None:
    suite = run_suite(db, traced)
    empty = Traced()
    symbols = metrics_by_execution_id(
        db, suite.execution_id, trace=InMemoryTraceSource(empty.exporter)
    )
    assert symbols and {s.tags["__origin"] for s in symbols} == {"db"}


def test_the_metrics_list_as_an_arrow_table(db: MetricDB, traced: Traced) -> None:
    suite = run_suite(db, traced)
    symbols = metrics_by_execution_id(
        db, suite.execution_id, trace=InMemoryTraceSource(traced.exporter)
    )

    table = metrics_table(symbols)

    assert table.num_rows == len(symbols)
    assert table.column("name").to_pylist() == [s.name for s in symbols]
    assert table.column("value").to_pylist() == [s.value.unwrap() for s in symbols]
    assert set(table.column("origin").to_pylist()) == {"db+trace"}
    assert set(table.column("execution_id").to_pylist()) == {suite.execution_id}


def test_metrics_are_read_with_one_search_on_the_execution_id(
    db: MetricDB, traced: Traced, mocker: MockerFixture
) -> None:
    suite = run_suite(db, traced)
    search = mocker.spy(db, "search")
    symbols = metrics_by_execution_id(db, suite.execution_id)
    search.assert_called_once()
    assert sorted(s.metric for s in symbols) == sorted(m.name for m in search.spy_return)


def test_values_read_back_answer_is_success_and_equal_plain_results(
    db: MetricDB, traced: Traced
) -> None:
    suite = run_suite(db, traced)
    for symbol in metrics_by_execution_id(db, suite.execution_id):
        assert symbol.value.is_success() and not symbol.value.is_failure()  # type: ignore[attr-defined]
        number = symbol.value.unwrap()
        assert symbol.value == Success(number) and Success(number) == symbol.value
        assert symbol.value != Failure(number) and symbol.value.value_or(None) == number
    rows = next(r for r in suite.collect_results() if r.assertion == "rows arrived")
    assert rows.value.is_success()  # type: ignore[attr-defined]


# -- search and to_spec ------------------------------------------------------------------


def test_search_combines_criteria_over_the_stored_columns(db: MetricDB, traced: Traced) -> None:
    first = run_suite(db, traced, tags={"env": "prod"})
    second = run_suite(db, traced, tags={"env": "dev"})
    assert first.result is not None and second.result is not None
    everything = db.search()
    assert len(everything) == len(first.result.metrics) + len(second.result.metrics)

    found = db.search(MetricRow.execution_id == first.execution_id, MetricRow.name == "sum(price)")
    assert {(m.yyyy_mm_dd, m.origin) for m in found} == {
        (DAY, "computed"),
        (DAY - dt.timedelta(days=1), "computed"),
    }
    assert all(m.tags == {"env": "prod", "__execution_id": first.execution_id} for m in found)
    # Values are bound, never pasted: a quote in a compared value is just a character.
    assert db.search(MetricRow.dataset == "orders' OR '1'='1") == []


def test_search_refuses_what_is_not_an_sqlalchemy_expression(db: MetricDB) -> None:
    with pytest.raises(StoreError, match=re.escape("MetricRow.dataset == 'sales'")):
        db.search(True)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="str"):
        db.search("dataset = 'sales'")  # type: ignore[arg-type]


def test_every_stored_metric_rebuilds_the_spec_it_is_named_after(
    db: MetricDB, traced: Traced
) -> None:
    @check(name="Every kind")
    def every_kind(mp: MetricProvider, ctx: Context) -> None:
        metrics = [
            mp.num_rows(),
            mp.sum("price"),
            mp.average("price"),
            mp.minimum("price"),
            mp.maximum("price"),
            mp.variance("price"),
            mp.null_count("email"),
            mp.unique_count("email"),
            mp.duplicate_count(["email", "price"]),
            mp.count_values("email", ["a@x.io", "b@x.io"]),
            mp.count_values("price", 1.5),
            mp.custom_sql("SUM(CASE WHEN price > 2 THEN 1 ELSE 0 END)"),
            mp.ext.day_over_day(mp.num_rows()),
            mp.ext.week_over_week(mp.sum("price")),
            mp.ext.stddev(mp.maximum("price"), offset=1, n=3),
        ]
        for index, metric in enumerate(metrics):
            ctx.assert_that(metric).where(name=f"m{index}").is_geq(-1e300)

    suite = run_suite(db, traced, [every_kind])
    stored = db.metrics_for_execution(suite.execution_id)
    assert {m.kind for m in stored} >= {"custom_sql", "stddev", "week_over_week", "count_values"}
    for metric in stored:
        spec = metric.to_spec()
        assert (spec.kind, spec.name, spec.parameters) == (
            metric.kind,
            metric.name,
            metric.parameters,
        )


# -- reconcile ----------------------------------------------------------------------------


def test_a_clean_run_reconciles(db: MetricDB, traced: Traced) -> None:
    suite = run_suite(db, traced)
    assert suite.result is not None

    rec = reconcile(db, suite.execution_id, InMemoryTraceSource(traced.exporter))

    assert isinstance(rec, Reconciliation)
    assert rec.ok and rec.trace_found and rec.trace_expected
    assert len(rec.matched) == len(suite.result.metrics)
    assert not rec.missing_in_db and not rec.missing_in_trace and not rec.mismatched
    assert "\n" not in rec.summary and suite.execution_id in rec.summary
    assert rec.recover(db) == 0


def test_lost_rows_are_missing_in_db_and_recover_writes_them_back_once(
    db: MetricDB, traced: Traced
) -> None:
    suite = run_suite(db, traced)
    before = metrics_by_execution_id(db, suite.execution_id)
    _delete_rows(db, suite.execution_id, ["average(price)", "sum(price)"])
    source = InMemoryTraceSource(traced.exporter)

    rec = reconcile(db, suite.execution_id, source)

    assert not rec.ok
    assert sorted(m.name for m in rec.missing_in_db) == [
        "average(price)",
        "sum(price)",
        "sum(price)",
    ]
    assert "3 missing in db" in rec.summary
    assert rec.recover(db) == 3
    assert rec.recover(db) == 0  # the same reconciliation again
    assert reconcile(db, suite.execution_id, source).recover(db) == 0
    assert reconcile(db, suite.execution_id, source).ok
    assert metrics_by_execution_id(db, suite.execution_id) == before


def test_a_tampered_value_is_mismatched(db: MetricDB, traced: Traced) -> None:
    suite = run_suite(db, traced)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE dq_metric SET value = value + 1 WHERE execution_id = :e AND name = :n"),
            {"e": suite.execution_id, "n": "num_rows()"},
        )

    rec = reconcile(db, suite.execution_id, InMemoryTraceSource(traced.exporter))

    assert not rec.ok and not rec.missing_in_db and not rec.missing_in_trace
    (mismatch,) = rec.mismatched
    assert mismatch.fields == ("value",)
    assert mismatch.trace.value is not None and mismatch.db.value == mismatch.trace.value + 1
    assert "num_rows()" in str(mismatch)
    table = rec.to_arrow()
    statuses = dict(
        zip(table.column("name").to_pylist(), table.column("status").to_pylist(), strict=True)
    )
    assert statuses["num_rows()"] == "mismatched"
    assert table.num_rows == len(rec.matched) + 1


def test_a_difference_within_float_noise_is_not_a_mismatch(db: MetricDB, traced: Traced) -> None:
    suite = run_suite(db, traced)
    with db.engine.begin() as connection:
        connection.execute(
            text("UPDATE dq_metric SET value = value * (1 + 1e-15) WHERE execution_id = :e"),
            {"e": suite.execution_id},
        )
    assert reconcile(db, suite.execution_id, InMemoryTraceSource(traced.exporter)).ok


def test_a_row_the_trace_never_saw_is_missing_in_trace(db: MetricDB, traced: Traced) -> None:
    suite = run_suite(db, traced)
    stray = Metric(
        "num_rows",
        {},
        "num_rows()",
        "orders",
        DAY + dt.timedelta(days=3),
        {"env": "test"},
        4.0,
        suite.execution_id,
    )
    db.persist([stray])

    rec = reconcile(db, suite.execution_id, InMemoryTraceSource(traced.exporter))

    assert not rec.ok and [m.id for m in rec.missing_in_trace] == [stray.id]
    assert rec.to_arrow().column("status").to_pylist().count("missing_in_trace") == 1


def test_a_sampled_out_run_is_ok_without_a_trace(db: MetricDB) -> None:
    unsampled = Traced(ALWAYS_OFF)
    suite = run_suite(db, unsampled)
    run = db.run(suite.execution_id)
    assert run is not None and run.trace_sampled is False

    rec = reconcile(db, suite.execution_id, InMemoryTraceSource(unsampled.exporter))

    assert rec.ok and not rec.trace_found and not rec.trace_expected
    assert "sampled out" in rec.summary
    unsampled.provider.shutdown()


def test_a_missing_trace_that_was_expected_is_not_ok(db: MetricDB, traced: Traced) -> None:
    suite = run_suite(db, traced)
    rec = reconcile(db, suite.execution_id, InMemoryTraceSource(Traced().exporter))
    assert not rec.ok and not rec.trace_found and rec.trace_expected
    assert "trace not found" in rec.summary


def test_a_trace_with_hundreds_of_metrics_over_several_spans_is_read_completely(
    db: MetricDB, traced: Traced, tmp_path: Path
) -> None:
    suite = run_suite(db, traced, [many_metrics_check(260)])
    assert suite.result is not None and len(suite.result.metrics) >= 260
    spans = traced.spans(suite.execution_id)
    chunks = [s for s in spans if s.name == "dqx.metrics"]
    assert len(chunks) >= 3 and all(len(s.events) <= 100 for s in chunks)
    path = tmp_path / "traces.jsonl"
    write_otlp_lines(path, spans, per_line=2)
    _delete_rows(db, suite.execution_id)

    for source in (InMemoryTraceSource(traced.exporter), OTLPFileTraceSource(path)):
        rec = reconcile(db, suite.execution_id, source)
        assert {m.id for m in rec.missing_in_db} == {m.id for m in suite.result.metrics}

    assert rec.recover(db) == len(suite.result.metrics)
    assert len(metrics_by_execution_id(db, suite.execution_id)) == len(suite.result.metrics)
    assert reconcile(db, suite.execution_id, OTLPFileTraceSource(path)).ok


# -- the seed plan's tests (000_fc7275ffa7bbd67a.txt), as the user wrote them ----------
# Kept exactly as written, so the plan's own commands run them; the formatter and the
# import sorter leave them alone.
# fmt: off
# isort: off

class TestMetricsByExecutionId:
    """Test the metrics_by_execution_id function."""

    def test_retrieves_metrics_by_execution_id(self):
        """Test successful retrieval and conversion of metrics."""
        from dqx.data import metrics_by_execution_id

        # Setup
        exec_id = str(uuid.uuid4())
        mock_db = Mock(spec=MetricDB)

        # Create mock Metric objects
        mock_metric1 = Mock(spec=Metric)
        mock_metric1.dataset = "sales"
        mock_metric1.value = 42.5
        mock_metric1.yyyy_mm_dd = date(2024, 1, 1)
        mock_metric1.tags = {"env": "prod", "__execution_id": exec_id}

        mock_spec1 = Mock()
        mock_spec1.name = "average(price)"
        mock_metric1.to_spec.return_value = mock_spec1

        mock_metric2 = Mock(spec=Metric)
        mock_metric2.dataset = "sales"
        mock_metric2.value = 40.0
        mock_metric2.yyyy_mm_dd = date(2023, 12, 31)  # Lagged metric
        mock_metric2.tags = {"env": "prod", "__execution_id": exec_id}

        mock_spec2 = Mock()
        mock_spec2.name = "average(price)"
        mock_metric2.to_spec.return_value = mock_spec2

        mock_db.search.return_value = [mock_metric1, mock_metric2]

        # Execute
        results = metrics_by_execution_id(mock_db, exec_id)

        # Verify
        assert len(results) == 2

        # Check first metric
        assert results[0].name == "m_1"
        assert results[0].metric == "average(price)"
        assert results[0].dataset == "sales"
        assert results[0].value == Success(40.0)  # Older date comes first
        assert results[0].yyyy_mm_dd == date(2023, 12, 31)
        assert results[0].tags["__execution_id"] == exec_id

        # Check second metric
        assert results[1].name == "m_2"
        assert results[1].metric == "average(price)"
        assert results[1].value == Success(42.5)
        assert results[1].yyyy_mm_dd == date(2024, 1, 1)

        # Verify search was called correctly
        mock_db.search.assert_called_once()
        # The exact call depends on SQLAlchemy expression, just verify it was called

    def test_empty_results(self):
        """Test handling of no metrics found."""
        from dqx.data import metrics_by_execution_id

        exec_id = str(uuid.uuid4())
        mock_db = Mock(spec=MetricDB)
        mock_db.search.return_value = []

        results = metrics_by_execution_id(mock_db, exec_id)

        assert results == []
        assert isinstance(results, list)

def test_metrics_by_execution_id_integration():
    """Integration test: write metrics to DB and retrieve by execution_id."""
    import pyarrow as pa
    from dqx import check, MetricProvider, Context, VerificationSuite, ResultKey
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import InMemoryMetricDB
    from dqx.data import metrics_by_execution_id
    from datetime import date

    # Setup
    db = InMemoryMetricDB()

    # Create a check that uses extended metrics (to test lagged metrics)
    @check(name="Sales Check", severity="P1")
    def sales_check(mp: MetricProvider, ctx: Context):
        # Regular metric
        avg_price = mp.average("price", dataset="sales")
        ctx.assert_that(avg_price).where(name="Average price > 0").is_gt(0)

        # Extended metric that creates lagged metrics
        dow_avg = mp.ext.day_over_day(avg_price, dataset="sales")
        ctx.assert_that(dow_avg).where(name="DoD growth < 50%").is_lt(0.5)

    # Create suite and run
    suite = VerificationSuite([sales_check], db, "Sales Suite")
    exec_id = suite.execution_id  # Capture for later

    # Create test data for today
    data_today = pa.table({
        "price": [10.0, 15.0, 20.0, 25.0],
        "yyyy_mm_dd": [date(2024, 1, 2)] * 4
    })

    # Create test data for yesterday (for day_over_day)
    data_yesterday = pa.table({
        "price": [8.0, 12.0, 16.0, 20.0],
        "yyyy_mm_dd": [date(2024, 1, 1)] * 4
    })

    # Combine data
    data = pa.concat_tables([data_yesterday, data_today])
    datasource = DuckRelationDataSource.from_arrow(data, "sales")

    # Run the suite
    key = ResultKey(yyyy_mm_dd=date(2024, 1, 2), tags={"env": "test"})
    suite.run([datasource], key)

    # Retrieve metrics using execution_id
    persisted = metrics_by_execution_id(db, exec_id)

    # Assertions
    assert len(persisted) >= 2  # At least avg_price for 2 days

    # Check we got metrics for different dates (lagged metrics)
    dates = {s.yyyy_mm_dd for s in persisted}
    assert date(2024, 1, 2) in dates  # Nominal date
    assert date(2024, 1, 1) in dates  # Lagged date

    # Check all have the execution_id
    for symbol in persisted:
        assert symbol.tags.get("__execution_id") == exec_id
        assert symbol.tags.get("env") == "test"  # Original tags preserved

    # Check metric names
    metric_names = {s.metric for s in persisted}
    assert "average(price)" in metric_names

    # Check values are Success
    for symbol in persisted:
        assert symbol.value.is_success()
        assert isinstance(symbol.value.unwrap(), float)


def test_multiple_suite_executions_isolated():
    """Test that different suite executions don't interfere."""
    import pyarrow as pa
    from dqx import check, MetricProvider, Context, VerificationSuite, ResultKey
    from dqx.datasource import DuckRelationDataSource
    from dqx.orm.repositories import InMemoryMetricDB
    from dqx.data import metrics_by_execution_id
    from datetime import date

    db = InMemoryMetricDB()

    @check(name="Simple Check", severity="P1")
    def simple_check(mp: MetricProvider, ctx: Context):
        rows = mp.num_rows(dataset="test")
        ctx.assert_that(rows).where(name="Has rows").is_gt(0)

    # Create and run first suite
    suite1 = VerificationSuite([simple_check], db, "Suite 1")
    exec_id1 = suite1.execution_id

    data = pa.table({"x": [1, 2, 3]})
    datasource = DuckRelationDataSource.from_arrow(data, "test")
    key = ResultKey(yyyy_mm_dd=date(2024, 1, 1), tags={})

    suite1.run([datasource], key)

    # Create and run second suite
    suite2 = VerificationSuite([simple_check], db, "Suite 2")
    exec_id2 = suite2.execution_id

    suite2.run([datasource], key)

    # Verify different execution IDs
    assert exec_id1 != exec_id2

    # Retrieve metrics for each execution
    metrics1 = metrics_by_execution_id(db, exec_id1)
    metrics2 = metrics_by_execution_id(db, exec_id2)

    # Both should have metrics
    assert len(metrics1) > 0
    assert len(metrics2) > 0

    # Metrics should be isolated
    for m in metrics1:
        assert m.tags["__execution_id"] == exec_id1

    for m in metrics2:
        assert m.tags["__execution_id"] == exec_id2

# isort: on
# fmt: on
