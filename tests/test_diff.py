"""dqx.data.diff and `dqx diff`: two real runs over DuckDB data, on SQLite and PostgreSQL.

Run A and run B read the same orders for two days; B's last day has one price
changed and one more email missing, B's check trades minimum(price) for
maximum(price) and B also reads a customers dataset. Every value the diff reports is
checked against the same numbers computed in plain Python from the tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import DQXError, InvalidExecutionIdError
from dqx.data import UnknownRunError, diff
from dqx.datasource import DuckRelationDataSource
from dqx.diff import MetricChange, same_value
from dqx.orm.repositories import MetricDB

DQX = Path(sys.executable).with_name("dqx")
DAY = dt.date(2024, 3, 10)
YESTERDAY = DAY - dt.timedelta(days=1)

# Yesterday's rows are the same for both runs; today's differ by one price and one email.
YESTERDAY_ROWS = [(12.0, "a@x.io"), (14.0, "b@x.io"), (10.0, None)]
TODAY_A = [(10.0, "a@x.io"), (20.0, "b@x.io"), (30.0, None), (40.0, "d@x.io")]
TODAY_B = [(10.0, "a@x.io"), (25.0, "b@x.io"), (30.0, None), (40.0, None)]


def orders(today: Sequence[tuple[float, str | None]]) -> DuckRelationDataSource:
    rows = [(YESTERDAY, *row) for row in YESTERDAY_ROWS] + [(DAY, *row) for row in today]
    table = pa.table(
        {
            "yyyy_mm_dd": [row[0] for row in rows],
            "price": [row[1] for row in rows],
            "email": [row[2] for row in rows],
        }
    )
    return DuckRelationDataSource.from_arrow(table, "orders")


def customers() -> DuckRelationDataSource:
    return DuckRelationDataSource.from_arrow(pa.table({"id": [1, 2, 3]}), "customers")


def _common(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price sane").is_between(1, 100)
    ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails set").is_lt(0.3)
    ctx.assert_that(mp.ext.day_over_day(mp.sum("price"))).where(name="sum steady").is_lt(5)


@check(name="Orders", severity="P1", datasets=["orders"])
def orders_a(mp: MetricProvider, ctx: Context) -> None:
    _common(mp, ctx)
    ctx.assert_that(mp.minimum("price")).where(name="min positive").is_gt(0)


@check(name="Orders", severity="P1", datasets=["orders"])
def orders_b(mp: MetricProvider, ctx: Context) -> None:
    _common(mp, ctx)
    ctx.assert_that(mp.maximum("price")).where(name="max").is_lt(1000)


@check(name="Customers", severity="P2", datasets=["customers"])
def customers_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="customers").is_gt(0)


def run(
    db: MetricDB,
    checks: Sequence[Any],
    sources: Sequence[DuckRelationDataSource],
    tags: dict[str, str] | None = None,
) -> VerificationSuite:
    suite = VerificationSuite(list(checks), db, "Shop")
    suite.run(list(sources), ResultKey(DAY, tags if tags is not None else {"env": "test"}))
    return suite


def the_two_runs(db: MetricDB) -> tuple[str, str]:
    a = run(db, [orders_a], [orders(TODAY_A)])
    b = run(db, [orders_b, customers_check], [orders(TODAY_B), customers()])
    return a.execution_id, b.execution_id


def expected_today(today: Sequence[tuple[float, str | None]]) -> dict[str, float]:
    """Today's metrics of one run, computed in plain Python from its rows."""
    prices = [price for price, _ in today]
    yesterday = sum(price for price, _ in YESTERDAY_ROWS)
    return {
        "num_rows()": float(len(today)),
        "average(price)": statistics.fmean(prices),
        "sum(price)": math.fsum(prices),
        "null_count(email)": float(sum(email is None for _, email in today)),
        "day_over_day(sum(price))": (math.fsum(prices) - yesterday) / yesterday,
    }


# -- the library --------------------------------------------------------------------------


def test_changed_values_carry_both_values_and_their_absolute_and_relative_change(
    store: MetricDB,
) -> None:
    a, b = the_two_runs(store)
    result = diff(store, a, b)

    before, after = expected_today(TODAY_A), expected_today(TODAY_B)
    changed = {(c.metric, c.yyyy_mm_dd): c for c in result.metrics_changed}
    assert set(changed) == {(name, DAY) for name in before if before[name] != after[name]}
    assert len(changed) == 4  # rows arrived is the one of today's five that held still
    for (name, _), change in changed.items():
        assert change.dataset == "orders" and change.tags == {"env": "test"}
        assert change.a == pytest.approx(before[name], rel=1e-12)
        assert change.b == pytest.approx(after[name], rel=1e-12)
        assert change.absolute == pytest.approx(after[name] - before[name], rel=1e-9)
        assert change.relative == pytest.approx(
            (after[name] - before[name]) / abs(before[name]), rel=1e-9
        )
    # num_rows() today, and yesterday's sum(price): A computed it, B took A's value
    # from history; same identity and date, same value.
    assert result.metrics_unchanged == 2


def test_metrics_one_run_lacks_are_listed_with_their_value(store: MetricDB) -> None:
    a, b = the_two_runs(store)
    result = diff(store, a, b)

    (only_a,) = result.metrics_only_in_a
    assert (only_a.metric, only_a.dataset, only_a.yyyy_mm_dd) == ("minimum(price)", "orders", DAY)
    assert only_a.value == min(price for price, _ in TODAY_A)
    assert only_a.origin == "computed" and only_a.tags == {"env": "test"}
    assert [(m.metric, m.dataset, m.value) for m in result.metrics_only_in_b] == [
        ("maximum(price)", "orders", max(price for price, _ in TODAY_B)),
        ("num_rows()", "customers", 3.0),
    ]


def test_assertions_whose_status_changed_carry_both_records(store: MetricDB) -> None:
    a, b = the_two_runs(store)
    result = diff(store, a, b)

    (change,) = result.assertions_changed
    assert (change.check, change.assertion) == ("Orders", "emails set")
    assert (change.a.status, change.b.status) == ("OK", "FAILURE")
    assert change.a.value == pytest.approx(1 / 4) and change.b.value == pytest.approx(2 / 4)
    assert [r.assertion for r in result.assertions_only_in_a] == ["min positive"]
    assert [(r.check, r.assertion) for r in result.assertions_only_in_b] == [
        ("Customers", "customers"),
        ("Orders", "max"),
    ]
    # rows arrived, price sane and sum steady kept their status (their values moved).
    assert result.assertions_unchanged == 3


def test_statements_are_paired_by_dataset_and_metrics_and_show_both_texts(
    store: MetricDB,
) -> None:
    a, b = the_two_runs(store)
    result = diff(store, a, b)

    (statement_a,) = store.statements(a)
    statement_b = next(s for s in store.statements(b) if s.dataset == "orders")
    (change,) = result.statements_changed
    assert change.dataset == "orders"
    assert (change.a.sql, change.b.sql) == (statement_a.sql, statement_b.sql)
    assert change.a.sql != change.b.sql
    assert "MIN(" in change.a.sql and "MAX(" in change.b.sql
    # A scanned yesterday for its sum too; B found that value in history.
    assert (change.a.dates, change.b.dates) == ((YESTERDAY, DAY), (DAY,))
    (lone,) = result.statements_only_in_b
    assert lone.dataset == "customers" and lone.metrics == ("num_rows()",)
    assert result.statements_only_in_a == [] and result.statements_unchanged == 0
    assert not result.identical


def test_two_runs_over_the_same_data_are_identical(store: MetricDB) -> None:
    snapshot = DuckRelationDataSource.from_arrow(pa.table({"price": [1.0, 2.0]}), "prices")

    @check(name="Prices")
    def prices(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.sum("price")).where(name="sum").is_gt(0)
        ctx.assert_that(mp.variance("price")).where(name="spread").is_lt(1)

    a = run(store, [prices], [snapshot]).execution_id
    b = run(store, [prices], [snapshot]).execution_id
    result = diff(store, a, b)

    assert result.identical and not any(result.counts().values())
    assert (result.metrics_unchanged, result.assertions_unchanged) == (2, 2)
    assert result.statements_unchanged == 1
    assert result.run_a is not None and result.run_a.execution_id == a
    # The same run against itself, named in its dashed and upper-case forms.
    dashed = str(uuid.UUID(a)).upper()
    assert diff(store, dashed, a).identical


def test_identity_includes_tags_so_other_tags_are_other_metrics(store: MetricDB) -> None:
    a = run(store, [orders_a], [orders(TODAY_A)], {"env": "prod"}).execution_id
    b = run(store, [orders_a], [orders(TODAY_A)], {"env": "dev"}).execution_id
    result = diff(store, a, b)

    assert result.metrics_changed == [] and result.metrics_unchanged == 0
    assert {m.tags["env"] for m in result.metrics_only_in_a} == {"prod"}
    assert len(result.metrics_only_in_a) == len(result.metrics_only_in_b) > 0
    assert result.assertions_changed == [] and result.assertions_unchanged == 5


@check(name="Odd")
def odd(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.average("price")).where(name="avg").is_gt(0)
    ctx.assert_that(mp.maximum("q")).where(name="max q").is_gt(0)
    ctx.assert_that(mp.sum("z")).where(name="sum z").is_gt(0)


def odd_runs(db: MetricDB) -> tuple[str, str]:
    """A: average(price) NaN, maximum(q) NULL; B: both numbers; sum(z) NaN in both."""

    def source(price: float, q: float | None) -> DuckRelationDataSource:
        table = pa.table(
            {
                "price": [1.0, price],
                "q": pa.array([None, q], pa.float64()),
                "z": [float("nan"), 1.0],
            }
        )
        return DuckRelationDataSource.from_arrow(table, "odd")

    a = run(db, [odd], [source(float("nan"), None)]).execution_id
    b = run(db, [odd], [source(3.0, 5.0)]).execution_id
    return a, b


def test_null_and_nan_are_values_like_any_other(store: MetricDB) -> None:
    a, b = odd_runs(store)
    result = diff(store, a, b)

    changed = {c.metric: c for c in result.metrics_changed}
    assert set(changed) == {"average(price)", "maximum(q)"}
    assert math.isnan(changed["average(price)"].a or 0.0) and changed["average(price)"].b == 2.0
    assert (changed["maximum(q)"].a, changed["maximum(q)"].b) == (None, 5.0)
    for change in changed.values():
        assert change.absolute is None and change.relative is None
    assert result.metrics_unchanged == 1  # sum(z) is NaN in both runs
    assert {(c.assertion, c.a.status, c.b.status) for c in result.assertions_changed} == {
        ("avg", "ERROR", "OK"),
        ("max q", "ERROR", "OK"),
    }


# Three days of prices: yesterday's run (staging) and today's (prod) overlap on one.
PRICES = {
    DAY - dt.timedelta(days=2): [4.0, 6.0],
    YESTERDAY: [5.0, 7.0, 9.0],
    DAY: [8.0, 8.0, 11.0, 13.0],
}


@check(name="Daily", datasets=["sales"])
def daily(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
    ctx.assert_that(mp.ext.day_over_day(mp.sum("price"))).where(name="dod").is_lt(1)


def daily_runs(db: MetricDB) -> tuple[str, str]:
    rows = [(day, price) for day, prices in PRICES.items() for price in prices]
    table = pa.table({"yyyy_mm_dd": [r[0] for r in rows], "price": [r[1] for r in rows]})
    sales = DuckRelationDataSource.from_arrow(table, "sales")
    a = VerificationSuite([daily], db, "Daily")
    a.run([sales], ResultKey(YESTERDAY, {"env": "staging"}))
    b = VerificationSuite([daily], db, "Daily")
    b.run([sales], ResultKey(DAY, {"env": "prod"}))
    return a.execution_id, b.execution_id


def test_aligned_by_run_yesterdays_run_meets_todays_day_by_day(store: MetricDB) -> None:
    a, b = daily_runs(store)

    by_identity = diff(store, a, b)
    by_run = diff(store, a, b, align="run")

    # By identity nothing meets: other tags, and the dates overlap under other tags.
    assert by_identity.metrics_changed == [] and by_identity.metrics_unchanged == 0
    days = sorted(PRICES)
    sums = {day: math.fsum(PRICES[day]) for day in days}
    dod = {day: (sums[day] - sums[prev]) / sums[prev] for prev, day in itertools.pairwise(days)}
    expected = {
        ("num_rows()", 0): (len(PRICES[YESTERDAY]), len(PRICES[DAY])),
        ("sum(price)", 0): (sums[YESTERDAY], sums[DAY]),
        ("sum(price)", 1): (sums[days[0]], sums[YESTERDAY]),
        ("day_over_day(sum(price))", 0): (dod[YESTERDAY], dod[DAY]),
    }
    got = {(c.metric, c.lag): c for c in by_run.metrics_changed}
    assert set(got) == set(expected)
    for key, (before, after) in expected.items():
        change = got[key]
        assert (change.a, change.b) == (pytest.approx(before), pytest.approx(after))
        assert change.absolute == pytest.approx(after - before)
        assert change.yyyy_mm_dd == DAY - dt.timedelta(days=key[1])
        assert change.tags == {"env": "prod"}
    assert by_run.metrics_only_in_a == by_run.metrics_only_in_b == []
    # dod < 1: (21 - 10) / 10 = 1.1 fails yesterday, (40 - 21) / 21 passes today.
    assert [(c.assertion, c.a.status, c.b.status) for c in by_run.assertions_changed] == [
        ("dod", "FAILURE", "OK")
    ]
    assert by_run.to_dict()["align"] == "run"
    assert by_run.to_dict()["metrics"]["changed"][0]["lag"] in (0, 1)


def test_aligning_by_run_needs_each_runs_record(store: MetricDB) -> None:
    a, b = daily_runs(store)
    orphan = uuid.uuid4().hex
    (metric, *_) = store.metrics_for_execution(a)
    store.persist([dataclasses.replace(metric, id=uuid.uuid4().hex, execution_id=orphan)])

    # By identity, a run known only by its metrics is compared as it is.
    result = diff(store, orphan, a)
    assert result.run_a is None and result.metrics_unchanged == 1
    assert result.to_dict()["a"]["suite"] is None
    with pytest.raises(ValueError, match=f"run {orphan} has metrics but no run record"):
        diff(store, orphan, b, align="run")
    with pytest.raises(ValueError, match="align"):
        diff(store, a, b, align="tags")  # type: ignore[arg-type]


def test_values_within_the_tolerance_are_the_same_value(store: MetricDB) -> None:
    a, b = the_two_runs(store)

    loose = diff(store, a, b, rel_tol=0.1)

    # Prices and the day-over-day moved by less than a tenth; the null count doubled.
    assert [c.metric for c in loose.metrics_changed] == ["null_count(email)"]
    assert loose.metrics_unchanged == diff(store, a, b).metrics_unchanged + 3
    with pytest.raises(ValueError, match="rel_tol"):
        diff(store, a, b, rel_tol=-1.0)


def test_an_unknown_or_malformed_id_is_an_error_naming_it(store: MetricDB) -> None:
    a, _ = the_two_runs(store)
    unknown = uuid.uuid4().hex

    with pytest.raises(UnknownRunError, match=unknown) as raised:
        diff(store, a, unknown)
    assert isinstance(raised.value, DQXError) and raised.value.execution_id == unknown
    with pytest.raises(UnknownRunError, match=unknown):
        diff(store, unknown, a)
    with pytest.raises(InvalidExecutionIdError, match="'not-a-run'"):
        diff(store, "not-a-run", a)


def test_same_value_and_the_change_of_awkward_values() -> None:
    nan, inf = float("nan"), float("inf")
    assert same_value(None, None) and same_value(nan, nan) and same_value(-0.0, 0.0)
    assert not same_value(None, 0.0) and not same_value(nan, 1.0) and not same_value(1.0, nan)
    assert same_value(1.0, 1.0 + 1e-15) and not same_value(1.0, 1.0 + 1e-15, rel_tol=0.0)

    def change(a: float | None, b: float | None) -> MetricChange:
        return MetricChange("sum(x)", "d", DAY, {}, a, b)

    assert (change(0.0, 2.0).absolute, change(0.0, 2.0).relative) == (2.0, None)
    assert (change(-4.0, -2.0).absolute, change(-4.0, -2.0).relative) == (2.0, 0.5)
    assert change(inf, inf).absolute is None and change(inf, 1.0).relative is None
    assert change(1.0, inf).absolute == inf and change(1.0, inf).relative == inf


def _shape(value: Any) -> Any:
    """Keys all the way down (a list by its first item), leaving out placeholders and
    tags, whose keys are the user's."""
    if isinstance(value, dict):
        if "…" in value:
            return None
        return {k: None if k == "tags" else _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value else []
    return None


def _same_shape(documented: Any, real: Any, where: str = "") -> None:
    if isinstance(documented, dict) and isinstance(real, dict):
        assert list(documented) == list(real), where
        for key in documented:
            _same_shape(documented[key], real[key], f"{where}.{key}")
    elif isinstance(documented, list) and documented and real:
        _same_shape(documented[0], real[0], where + "[0]")


def test_docs_cli_md_shows_the_json_document_as_it_is(store: MetricDB) -> None:
    text = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text(encoding="utf-8")
    example = text.split("### `dqx diff", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]
    a, b = the_two_runs(store)
    real = diff(store, a, b).to_dict()
    # Sections the two runs leave empty are shown by their counterpart.
    real["statements"]["only_in_a"] = real["statements"]["only_in_b"]
    real["metrics"]["only_in_a"] = real["metrics"]["only_in_b"]

    _same_shape(_shape(json.loads(example)), _shape(real))


# -- the command line ---------------------------------------------------------------------


def dqx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    return subprocess.run(
        [str(DQX), *args],
        cwd=cwd,
        env={**environment, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_cli_json_is_the_documented_document(
    store: MetricDB, store_url: str, tmp_path: Path
) -> None:
    a, b = the_two_runs(store)

    done = dqx("diff", a, str(uuid.UUID(b)), "--db", store_url, "--format", "json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["schema"] == "dqx.diff/1" and document["identical"] is False
    assert document["a"] == {
        "execution_id": a,
        "suite": "Shop",
        "yyyy_mm_dd": DAY.isoformat(),
        "tags": {"env": "test"},
        "status": "passed",
    }
    assert document["b"]["execution_id"] == b and document["b"]["status"] == "failed"
    before, after = expected_today(TODAY_A), expected_today(TODAY_B)
    average = next(m for m in document["metrics"]["changed"] if m["metric"] == "average(price)")
    assert average["a"] == pytest.approx(before["average(price)"], rel=1e-12)
    assert average["b"] == pytest.approx(after["average(price)"], rel=1e-12)
    assert average["absolute"] == pytest.approx(after["average(price)"] - before["average(price)"])
    assert average["yyyy_mm_dd"] == DAY.isoformat() and average["tags"] == {"env": "test"}
    assert document["counts"] == {
        "metrics_changed": 4,
        "metrics_only_in_a": 1,
        "metrics_only_in_b": 2,
        "assertions_changed": 1,
        "assertions_only_in_a": 1,
        "assertions_only_in_b": 2,
        "statements_changed": 1,
        "statements_only_in_a": 0,
        "statements_only_in_b": 1,
    }
    (emails,) = document["assertions"]["changed"]
    assert (emails["assertion"], emails["a"]["status"], emails["b"]["status"]) == (
        "emails set",
        "OK",
        "FAILURE",
    )
    (sql,) = document["statements"]["changed"]
    assert sql["a"]["sql"] == store.statements(a)[0].sql
    assert sql["a"]["dates"] == [YESTERDAY.isoformat(), DAY.isoformat()]
    assert document["statements"]["only_in_b"][0]["dataset"] == "customers"


@pytest.mark.slow
def test_cli_table_names_each_section_and_exit_code_flags_differences(
    store: MetricDB, store_url: str, tmp_path: Path
) -> None:
    a, b = the_two_runs(store)

    table = dqx("diff", a, b, "--db", store_url, cwd=tmp_path)
    flagged = dqx("diff", a, b, "--db", store_url, "--exit-code", cwd=tmp_path)
    same = dqx("diff", a, a.upper(), "--db", store_url, "--exit-code", cwd=tmp_path)

    assert table.returncode == 0, table.stderr
    for title in (
        "metrics changed (4)",
        "metrics only in A (1)",
        "metrics only in B (2)",
        "assertions changed (1)",
        "statement changed on dataset orders",
        "statement only in B on dataset customers",
    ):
        assert title in table.stdout
    # The statement's words A alone had, then B's, as git's --word-diff marks them.
    assert '[-MIN("price")' in table.stdout and '{+MAX("price")' in table.stdout
    assert "emails set" in table.stdout and "+100%" in table.stdout  # null_count 1 -> 2
    assert flagged.returncode == 1 and flagged.stdout == table.stdout
    assert same.returncode == 0, same.stderr
    assert f"no differences: {len(store.metrics_for_execution(a))} metrics" in same.stdout


@pytest.mark.slow
def test_cli_json_stays_strict_with_nan_and_null(
    store: MetricDB, store_url: str, tmp_path: Path
) -> None:
    a, b = odd_runs(store)

    done = dqx("diff", a, b, "--db", store_url, "--format", "json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    document = json.loads(done.stdout, parse_constant=refuse)
    changed = {m["metric"]: m for m in document["metrics"]["changed"]}
    assert (changed["average(price)"]["a"], changed["average(price)"]["b"]) == ("NaN", 2.0)
    assert (changed["maximum(q)"]["a"], changed["maximum(q)"]["b"]) == (None, 5.0)
    assert all(m["absolute"] is None and m["relative"] is None for m in changed.values())
    assert document["metrics"]["unchanged"] == 1


@pytest.mark.slow
def test_cli_align_run_pairs_days_before_each_runs_date(
    store: MetricDB, store_url: str, tmp_path: Path
) -> None:
    a, b = daily_runs(store)

    done = dqx("diff", a, b, "--db", store_url, "--align", "run", "--format", "json", cwd=tmp_path)
    table = dqx("diff", a, b, "--db", store_url, "--align", "run", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["align"] == "run" and document["counts"]["metrics_changed"] == 4
    sums = {
        (m["lag"], m["yyyy_mm_dd"]): (m["a"], m["b"])
        for m in document["metrics"]["changed"]
        if m["metric"] == "sum(price)"
    }
    assert sums == {
        (0, DAY.isoformat()): (math.fsum(PRICES[YESTERDAY]), math.fsum(PRICES[DAY])),
        (1, YESTERDAY.isoformat()): (
            math.fsum(PRICES[DAY - dt.timedelta(days=2)]),
            math.fsum(PRICES[YESTERDAY]),
        ),
    }
    assert table.returncode == 0, table.stderr
    assert f"t-1 ({YESTERDAY.isoformat()})" in table.stdout and "tags aside" in table.stdout


@pytest.mark.slow
def test_cli_unknown_run_exits_1_and_malformed_id_exits_2(store_url: str, tmp_path: Path) -> None:
    db = MetricDB(store_url)
    try:
        a, _ = the_two_runs(db)
    finally:
        db.dispose()
    unknown = uuid.uuid4().hex

    missing = dqx("diff", a, unknown, "--db", store_url, cwd=tmp_path)
    malformed = dqx("diff", "12345", a, "--db", store_url, cwd=tmp_path)

    assert missing.returncode == 1 and f"no run {unknown}" in missing.stderr
    assert missing.stdout == ""
    assert malformed.returncode == 2 and "'12345'" in malformed.stderr
