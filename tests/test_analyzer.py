"""What the analyzer executes: one statement per (dataset, date batch), and why."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from returns.result import Failure, Success

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.analyzer import Analyzer
from dqx.checks import Check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB
from dqx.specs import CustomSQL, NumRows, Sum, UniqueCount
from tests.support.stores import EngineValuesStore

DAY = dt.date(2024, 5, 2)
YESTERDAY = DAY - dt.timedelta(days=1)


def sales_table() -> pa.Table:
    days = [YESTERDAY] * 4 + [DAY] * 6
    return pa.table(
        {
            "yyyy_mm_dd": pa.array(days, pa.date32()),
            "price": [10.0, 12.0, None, 8.0, 11.0, 13.0, 9.5, None, 10.0, 10.0],
            "qty": pa.array([1, 2, 3, 4, 5, 6, 7, 8, 9, None], pa.int64()),
            "status": ["a", "b", "a", None, "a", "b", "c", "a", None, "a"],
            "email": ["x@y", None, "z@y", "w@y", None, None, "q@y", "r@y", "s@y", "t@y"],
        }
    )


def plain_checks() -> list[Check]:
    """Three checks with 30+ distinct plain metrics, day-over-day lags and overlaps."""

    @check(name="Prices")
    def prices(mp: MetricProvider, ctx: Context) -> None:
        for method in ("sum", "average", "minimum", "maximum", "variance", "null_count"):
            for column in ("price", "qty"):
                metric = getattr(mp, method)(column)
                ctx.assert_that(metric).where(name=f"{method} {column}").is_geq(-1e9)
                ctx.assert_that(mp.ext.day_over_day(metric)).where(
                    name=f"dod {method} {column}"
                ).is_gt(-100)

    @check(name="Statuses")
    def statuses(mp: MetricProvider, ctx: Context) -> None:
        for value in ("a", "b", "c", "zzz"):
            ctx.assert_that(mp.count_values("status", value)).where(name=f"is {value}").is_geq(0)
        ctx.assert_that(mp.count_values("status", ["a", "b"])).where(name="a or b").is_geq(0)
        for qty in (1, 2, 3):
            ctx.assert_that(mp.count_values("qty", qty)).where(name=f"qty {qty}").is_geq(0)
        ctx.assert_that(mp.null_count("status")).where(name="no status").is_geq(0)
        ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails").is_lt(1)
        # The same metrics as in Prices: computed once.
        ctx.assert_that(mp.average("price")).where(name="avg price again").is_gt(0)
        ctx.assert_that(mp.sum("qty", lag=1)).where(name="qty yesterday").is_gt(0)

    @check(name="Custom")
    def custom(mp: MetricProvider, ctx: Context) -> None:
        for threshold in range(5, 14):
            ctx.assert_that(mp.custom_sql(f"COUNT(*) FILTER (WHERE price > {threshold})")).where(
                name=f"price over {threshold}"
            ).is_geq(0)
        ctx.assert_that(mp.custom_sql("SUM(price * qty)")).where(name="revenue").is_gt(0)
        ctx.assert_that(mp.ext.day_over_day(mp.num_rows())).where(name="rows dod").is_gt(-1)

    return [prices, statuses, custom]


def run(checks: list[Check], *sources: DuckRelationDataSource) -> VerificationSuite:
    # The engine's values as they are, an empty lagged day included (no warm-up).
    suite = VerificationSuite(checks, EngineValuesStore(), "plan")
    suite.run(list(sources), ResultKey(DAY))
    return suite


def test_thirty_plain_metrics_with_lags_run_as_one_statement() -> None:
    suite = run(plain_checks(), DuckRelationDataSource.from_arrow(sales_table(), "sales"))
    [statement] = suite.statements
    assert statement.error is None
    assert statement.dates == (YESTERDAY, DAY)
    assert len(statement.metrics) >= 30
    # Duplicates across checks appear once; those differing in parameters stay apart.
    assert len(set(statement.metrics)) == len(statement.metrics)
    assert statement.metrics.count("average(price)") == 1
    for value in ("'a'", "'b'", "'c'", "'zzz'", "['a', 'b']"):
        assert f"count_values(status, {value})" in statement.metrics
    assert statement.rows_scanned == 10

    results = {r.assertion: r for r in suite.collect_results()}
    # qty had no NULLs yesterday: its day-over-day change divides by zero.
    errors = {name: r.message for name, r in results.items() if r.status == "ERROR"}
    assert list(errors) == ["dod null_count qty"]
    assert "division by zero" in errors["dod null_count qty"]
    assert YESTERDAY.isoformat() in errors["dod null_count qty"]
    assert results["is a"].value == Success(3.0)
    assert results["is zzz"].value == Success(0.0)
    assert results["a or b"].value == Success(4.0)
    assert results["price over 10"].value == Success(2.0)
    assert results["qty yesterday"].value == Success(10.0)
    assert results["rows dod"].value == Success((6 - 4) / 4)
    assert results["dod sum price"].value == Success((53.5 - 30.0) / 30.0)
    assert results["emails"].value == Success(2 / 6)


def test_the_same_plan_renders_the_same_sql_every_run() -> None:
    first = run(plain_checks(), DuckRelationDataSource.from_arrow(sales_table(), "sales"))
    second = run(plain_checks(), DuckRelationDataSource.from_arrow(sales_table(), "sales"))
    assert [s.sql for s in first.statements] == [s.sql for s in second.statements]


def test_distinct_metrics_add_one_grouped_statement_per_column_set() -> None:
    @check(name="Distinct")
    def distinct(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.unique_count("status")).where(name="u status").is_geq(0)
        ctx.assert_that(mp.duplicate_count(["status"])).where(name="d status").is_geq(0)
        ctx.assert_that(mp.unique_count("email")).where(name="u email").is_geq(0)
        ctx.assert_that(mp.duplicate_count(["status", "qty"])).where(name="d sq").is_geq(0)
        ctx.assert_that(mp.duplicate_count(["qty", "status"])).where(name="d qs").is_geq(0)
        ctx.assert_that(mp.ext.day_over_day(mp.unique_count("status"))).where(
            name="u status dod"
        ).is_gt(-1)

    source = DuckRelationDataSource.from_arrow(sales_table(), "sales")
    suite = run([*plain_checks(), distinct], source)
    statements = suite.statements
    # One shared statement, plus column sets {status}, {email}, {qty, status}.
    assert len(statements) == 4
    assert all(s.error is None and s.dates == (YESTERDAY, DAY) for s in statements)
    grouped = sorted(tuple(sorted(s.metrics)) for s in statements[1:])
    assert grouped == [
        ("duplicate_count([qty, status])", "duplicate_count([status, qty])"),
        ("duplicate_count([status])", "unique_count(status)"),
        ("unique_count(email)",),
    ]
    results = {r.assertion: r.value for r in suite.collect_results()}
    assert results["u status"] == Success(3.0)  # a, b, c
    assert results["d status"] == Success(2.0)  # 6 rows, 4 distinct counting NULL
    assert results["u email"] == Success(4.0)
    assert results["d sq"] == results["d qs"] == Success(0.0)
    assert results["u status dod"] == Success((3 - 2) / 2)


def test_two_datasets_get_one_statement_each() -> None:
    @check(name="Both")
    def both(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows(dataset="sales")).where(name="sales rows").is_gt(0)
        ctx.assert_that(mp.sum("price", dataset="sales")).where(name="sales sum").is_gt(0)
        ctx.assert_that(mp.num_rows(dataset="refunds") / mp.num_rows(dataset="sales")).where(
            name="refund rate"
        ).is_lt(1)
        ctx.assert_that(mp.average("amount", dataset="refunds")).where(name="refund avg").is_gt(0)

    refunds = pa.table({"amount": [1.0, 2.0, 4.0]})
    suite = run(
        [both],
        DuckRelationDataSource.from_arrow(sales_table(), "sales"),
        DuckRelationDataSource.from_arrow(refunds, "refunds"),
    )
    assert sorted(s.dataset for s in suite.statements) == ["refunds", "sales"]
    results = {r.assertion: r.value for r in suite.collect_results()}
    assert results["refund rate"] == Success(3 / 6)
    assert results["refund avg"] == Success(7 / 3)


def test_a_failing_custom_sql_errors_only_what_depends_on_it() -> None:
    @check(name="Mixed")
    def mixed(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows()).where(name="rows").is_eq(6)
        ctx.assert_that(mp.sum("qty")).where(name="qty").is_eq(35)
        ctx.assert_that(mp.ext.day_over_day(mp.num_rows())).where(name="rows dod").is_gt(0)
        ctx.assert_that(mp.custom_sql("SUM(CAST(status AS INTEGER))")).where(name="bad").is_gt(0)
        ctx.assert_that(mp.custom_sql("COUNT(*) FILTER (WHERE qty > 5)")).where(
            name="good custom"
        ).is_eq(4)
        ctx.assert_that(mp.num_rows() + mp.custom_sql("SUM(CAST(status AS INTEGER))")).where(
            name="uses bad"
        ).is_gt(0)

    @check(name="Other")
    def other(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.unique_count("status")).where(name="statuses").is_eq(3)

    suite = run([mixed, other], DuckRelationDataSource.from_arrow(sales_table(), "sales"))
    results = {r.assertion: r for r in suite.collect_results()}
    assert {name for name, r in results.items() if r.status == "ERROR"} == {"bad", "uses bad"}
    for name in ("bad", "uses bad"):
        message = results[name].message
        assert "custom_sql(SUM(CAST(status AS INTEGER)))" in message
        assert "'sales'" in message and DAY.isoformat() in message
        assert "Conversion" in message
    assert {name: r.status for name, r in results.items() if r.status != "ERROR"} == {
        "rows": "OK",
        "qty": "OK",
        "rows dod": "OK",
        "good custom": "OK",
        "statuses": "OK",
    }
    assert results["rows dod"].value == Success(0.5)
    assert any(s.error for s in suite.statements)


def test_a_date_without_rows_needs_no_extra_statement() -> None:
    @check(name="Gap")
    def gap(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.num_rows(lag=30)).where(name="rows then").is_eq(0)
        ctx.assert_that(mp.null_count("price", lag=30)).where(name="nulls then").is_eq(0)
        ctx.assert_that(mp.sum("price", lag=30)).where(name="sum then").is_eq(0)
        ctx.assert_that(mp.custom_sql("COUNT(price) + 1", lag=30)).where(name="custom").is_eq(1)
        ctx.assert_that(mp.num_rows()).where(name="rows now").is_eq(6)

    suite = run([gap], DuckRelationDataSource.from_arrow(sales_table(), "sales"))
    assert len(suite.statements) == 1
    results = {r.assertion: r for r in suite.collect_results()}
    assert results["rows then"].status == results["nulls then"].status == "OK"
    assert results["custom"].value == Success(1.0)
    assert results["rows now"].status == "OK"
    assert results["sum then"].status == "ERROR"
    # The statement's own row count tells an empty day from a column of NULLs.
    then = (DAY - dt.timedelta(days=30)).isoformat()
    assert results["sum then"].message == f"sum(price): no rows for {then} in dataset 'sales'"


def test_an_empty_snapshot_says_it_has_no_rows() -> None:
    @check(name="Snapshot")
    def snapshot(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.maximum("price")).where(name="maximum").is_gt(0)

    empty = pa.table({"price": pa.array([], pa.float64())})
    suite = run([snapshot], DuckRelationDataSource.from_arrow(empty, "sales"))
    [result] = suite.collect_results()
    assert result.message == f"maximum(price): no rows for {DAY.isoformat()} in dataset 'sales'"


def test_a_day_whose_rows_are_all_null_is_not_called_empty() -> None:
    @check(name="Nulls")
    def nulls(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.average("price")).where(name="average").is_gt(0)
        ctx.assert_that(mp.custom_sql("MAX(price)")).where(name="custom").is_gt(0)

    table = pa.table({"yyyy_mm_dd": [DAY, DAY], "price": pa.array([None, None], pa.float64())})
    suite = run([nulls], DuckRelationDataSource.from_arrow(table, "sales"))
    for result in suite.collect_results():
        assert result.status == "ERROR"
        assert "is NULL (no non-null values to aggregate)" in result.message
        assert "no rows" not in result.message


def test_values_travel_as_bind_parameters_never_as_sql_text() -> None:
    nasty = "x'); DROP TABLE dqx_source; --"
    table = pa.table({"name": [nasty, "ok", nasty]})

    @check(name="Nasty")
    def nasty_check(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.count_values("name", nasty)).where(name="nasty").is_eq(2)
        ctx.assert_that(mp.count_values("name", [nasty, "ok"])).where(name="all").is_eq(3)

    suite = run([nasty_check], DuckRelationDataSource.from_arrow(table, "people"))
    assert all(r.status == "OK" for r in suite.collect_results())
    [statement] = suite.statements
    assert nasty not in statement.sql
    assert nasty in statement.params.values()


@pytest.mark.parametrize("recompute", ["missing", "always"])
def test_lagged_values_in_history_are_not_rescanned(recompute: str) -> None:
    @check(name="Trend")
    def trend(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.sum("qty"))).where(name="qty dod").is_gt(-1)

    db = InMemoryMetricDB()
    table = sales_table()
    yesterday = VerificationSuite([trend], db, "trend")
    yesterday.run([DuckRelationDataSource.from_arrow(table, "sales")], ResultKey(YESTERDAY))
    today = VerificationSuite([trend], db, "trend", recompute=recompute)  # type: ignore[arg-type]
    today.run([DuckRelationDataSource.from_arrow(table, "sales")], ResultKey(DAY))
    [statement] = today.statements
    expected_dates = (DAY,) if recompute == "missing" else (YESTERDAY, DAY)
    assert statement.dates == expected_dates
    [result] = today.collect_results()
    assert result.value == Success((35 - 10) / 10)
    assert not isinstance(result.value, Failure)


def test_an_engine_failure_is_kept_with_its_exception_type() -> None:
    source = DuckRelationDataSource.from_arrow(sales_table(), "sales")
    bad = CustomSQL.of("SUM(CAST(status AS INTEGER))")
    good = CustomSQL.of("COUNT(*) FILTER (WHERE qty > 5)")
    values, statements = Analyzer(source).compute([NumRows(), bad, good, Sum("qty")], [DAY])

    failed = [s for s in statements if s.error]
    assert failed and all(s.error_type == "ConversionException" for s in failed)
    assert all(s.error and s.error.startswith("ConversionException: ") for s in failed)
    assert all(s.error_type is None for s in statements if not s.error)
    assert values[(NumRows(), DAY)] == Success(6.0)
    assert values[(good, DAY)] == Success(4.0)
    assert values[(Sum("qty"), DAY)] == Success(35.0)
    assert "the engine failed: ConversionException" in values[(bad, DAY)].failure()


def test_only_the_metrics_asked_for_come_back() -> None:
    # The row count is in every shared statement, but it is a value only when asked.
    source = DuckRelationDataSource.from_arrow(sales_table(), "sales")
    values, [shared, grouped] = Analyzer(source).compute(
        [Sum("qty"), UniqueCount("status")], [YESTERDAY, DAY]
    )
    assert set(values) == {
        (spec, day) for spec in (Sum("qty"), UniqueCount("status")) for day in (YESTERDAY, DAY)
    }
    assert shared.metrics == ("sum(qty)",) and shared.rows_scanned == 10
    assert grouped.metrics == ("unique_count(status)",)
