"""Re-evaluation: changed assertions judged over a past run's stored metrics, with no
data read, recorded as a run of its own whose trace links to the original's.

Each test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from pathlib import Path

import pyarrow as pa
import pytest
from click.testing import CliRunner

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.cli import main
from dqx.common import DQXError, new_execution_id
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.records import RunRecord
from tests.support.runs import Traced

DAY = dt.date(2024, 5, 14)
PRICES = [3.0, 5.0, 10.0]


@check(name="Prices", severity="P1")
def original_checks(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.average("price")).where(name="avg").is_gt(1)
    ctx.assert_that(mp.num_rows()).where(name="rows").is_geq(3)


@check(name="Prices", severity="P1")
def changed_checks(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.average("price")).where(name="avg").is_gt(7)  # a tighter bound
    ctx.assert_that(mp.num_rows() * 2).where(name="rows doubled").is_eq(6)
    ctx.assert_that(mp.null_count("price")).where(name="no nulls").is_zero()


def first_run(db: MetricDB, traced: Traced | None = None) -> VerificationSuite:
    source = DuckRelationDataSource.from_arrow(pa.table({"price": PRICES}), "orders")
    suite = VerificationSuite(
        [original_checks], db, "Shop", tracer_provider=traced.provider if traced else None
    )
    suite.run([source], ResultKey(DAY, {"env": "prod"}))
    return suite


def test_changed_assertions_are_judged_on_the_stored_metrics_without_a_scan(
    store_url: str, traced: Traced
) -> None:
    db = MetricDB(store_url)
    original = first_run(db, traced)
    before = db.run(original.execution_id)
    again = VerificationSuite([changed_checks], db, "Shop", tracer_provider=traced.provider)
    result = again.evaluate_execution(original.execution_id)

    by_name = {r.assertion: r for r in result.results}
    mean = statistics.fmean(PRICES)
    # The tighter bound fails on the same stored value the original passed.
    assert (by_name["avg"].status, by_name["avg"].number) == ("FAILURE", mean)
    assert (by_name["rows doubled"].status, by_name["rows doubled"].number) == ("OK", 6.0)
    nulls = by_name["no nulls"]
    assert nulls.status == "ERROR"
    assert nulls.message == (
        f"run {original.execution_id} did not compute null_count(price) on dataset 'orders' "
        "for 2024-05-14; re-evaluation reads no data, only what that run stored"
    )
    assert list(result.statements) == []
    assert result.key.identity_tags == {"env": "prod"} and result.key.yyyy_mm_dd == DAY

    record = db.run(again.execution_id)
    assert record is not None
    assert (record.source_execution_id, record.status, record.tags) == (
        original.execution_id,
        "failed",
        {"env": "prod"},
    )
    assert db.statements(again.execution_id) == []
    metrics = db.metrics_for_execution(again.execution_id)
    assert {(m.name, m.value) for m in metrics} == {("average(price)", mean), ("num_rows()", 3.0)}
    assert {(m.origin, m.source_execution_id) for m in metrics} == {
        ("history", original.execution_id)
    }
    # The original's record is untouched.
    assert db.run(original.execution_id) == before

    # Its trace is its own, linked to the original run's root span.
    [first_root, second_root] = traced.named("dqx.suite.run")
    assert f"{second_root.context.trace_id:032x}" == again.execution_id
    [link] = second_root.links
    assert link.context.trace_id == first_root.context.trace_id
    assert link.context.span_id == first_root.context.span_id
    assert link.attributes is not None and link.attributes["dqx.link"] == "evaluates"
    assert second_root.attributes is not None
    assert second_root.attributes["dqx.run.source_execution_id"] == original.execution_id
    assert not traced.named("dqx.analyze")[1:]  # only the first run analyzed anything
    db.dispose()


def test_an_unknown_run_cannot_be_re_evaluated(store_url: str) -> None:
    db = MetricDB(store_url)
    with pytest.raises(DQXError, match="is not in the store: there is nothing to re-evaluate"):
        VerificationSuite([changed_checks], db, "Shop").evaluate_execution(new_execution_id())
    db.dispose()


def test_dqx_evaluate_on_the_command_line(store_url: str, tmp_path: Path) -> None:
    db = MetricDB(store_url)
    original = first_run(db)
    checks = tmp_path / "new_checks.py"
    checks.write_text(
        "from dqx import check\n\n"
        "@check(name='Prices', severity='P1')\n"
        "def prices(mp, ctx):\n"
        "    ctx.assert_that(mp.average('price')).where(name='avg').is_gt(7)\n"
        "    ctx.assert_that(mp.maximum('price')).where(name='max').is_lt(100)\n"
    )
    cli = CliRunner()
    args = ["evaluate", original.execution_id, "--checks", str(checks), "--db", store_url]
    shown = cli.invoke(main, [*args, "--format", "json"])
    # "max" needs a metric the run never computed: an ERROR at P1, exit 1.
    assert shown.exit_code == 1, shown.output
    document = json.loads(shown.stdout)
    statuses = {r["assertion"]: (r["status"], r["value"]) for r in document["results"]}
    assert statuses == {"avg": ("FAILURE", statistics.fmean(PRICES)), "max": ("ERROR", None)}
    assert f"re-evaluated the metrics run {original.execution_id} stored" in shown.stderr
    runs = db.runs(suite="Shop")
    assert [(r.execution_id, r.source_execution_id) for r in runs] == [
        (document["execution_id"], original.execution_id),
        (original.execution_id, None),
    ]

    table = cli.invoke(main, [*args, "--fail-on", "P0"])
    assert table.exit_code == 0, table.output
    assert "maximum(price) on dataset 'orders'" in table.stdout
    missing = cli.invoke(
        main, ["evaluate", new_execution_id(), "--checks", str(checks), "--db", store_url]
    )
    assert missing.exit_code == 1 and "nothing to re-evaluate" in missing.stderr

    # A run a signal stopped before any metric was stored: bad news (1), not exit 3.
    stopped = new_execution_id()
    db.record_run(
        RunRecord(
            execution_id=stopped,
            suite="Shop",
            yyyy_mm_dd=dt.date(2024, 3, 1),
            tags={},
            started=dt.datetime(2024, 3, 1, 6, 0),
            finished=dt.datetime(2024, 3, 1, 6, 1),
            status="interrupted",
            trace_sampled=True,
            metric_count=0,
        )
    )
    empty = cli.invoke(main, ["evaluate", stopped, "--checks", str(checks), "--db", store_url])
    assert empty.exit_code == 1, empty.output
    assert f"run {stopped} (interrupted) has no metrics stored" in empty.stderr
    db.dispose()
