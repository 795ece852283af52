"""Inputs one backend would take and the other refuse are refused before any scan, by
one rule, naming the field; dates past the calendar's edge name the metric."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.common import DefinitionError
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB

DAY = dt.date(2024, 3, 10)
LONG = "x" * 100_000


@check(name="Rows")
def rows(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="has rows").is_gt(0)


def _source(name: str = "orders") -> DuckRelationDataSource:
    return DuckRelationDataSource.from_arrow(pa.table({"x": [1.0, 2.0]}), name)


@pytest.mark.parametrize(
    ("field", "build"),
    [
        ("tag key", lambda: ResultKey(DAY, {"env\x00": "prod"})),
        ("value of tag 'env'", lambda: ResultKey(DAY, {"env": "pr\x00od"})),
        ("value of tag 'env'", lambda: ResultKey(DAY, {"env": "\udcff"})),
        ("tag key", lambda: ResultKey(DAY, {"k" * 300: "v"})),
        ("suite name", lambda: VerificationSuite([rows], InMemoryMetricDB(), "Orders\x00")),
        ("suite name", lambda: VerificationSuite([rows], InMemoryMetricDB(), LONG)),
        ("check name", lambda: check(name="bad\udcff")(lambda mp, ctx: None)),
    ],
)
def test_names_and_tags_no_backend_can_store_are_refused_naming_the_field(
    field: str, build: object
) -> None:
    with pytest.raises(DefinitionError, match=field.replace("'", ".")):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("dataset", ["orders\x00", LONG, "\udcffrders"])
def test_a_dataset_name_no_backend_can_store_is_refused_before_the_scan(dataset: str) -> None:
    db = InMemoryMetricDB()
    suite = VerificationSuite([rows], db, "Orders")
    with pytest.raises(DefinitionError, match="data source name"):
        suite.run([_source(dataset)], ResultKey(DAY))
    assert db.runs() == [] and db.search() == []


def test_an_assertion_name_or_metric_with_a_nul_is_refused_before_the_scan() -> None:
    @check(name="Bad")
    def bad(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.count_values("s", "a\x00b")).where(name="nul value").is_geq(0)

    source = DuckRelationDataSource.from_arrow(pa.table({"s": ["a", "b"]}), "orders")
    with pytest.raises(DefinitionError, match="NUL") as raised:
        VerificationSuite([bad], InMemoryMetricDB(), "s").run([source], ResultKey(DAY))
    assert raised.value.check == "Bad"


@pytest.mark.parametrize(
    ("day", "lag"),
    [(dt.date(1, 1, 1), 0), (DAY, 10**6), (DAY, 10**10)],
    ids=["first-day-with-dod", "lag-a-million", "lag-past-timedelta"],
)
def test_a_window_before_the_first_date_is_refused_naming_the_metric(
    day: dt.date, lag: int
) -> None:
    @check(name="Edge")
    def edge(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.ext.day_over_day(mp.num_rows(lag=lag))).where(name="dod").is_lt(1)

    with pytest.raises(DefinitionError, match=r"day_over_day\(num_rows\(.*0001-01-01"):
        VerificationSuite([edge], InMemoryMetricDB(), "s").run([_source()], ResultKey(day))


def test_undecodable_bytes_in_a_cli_tag_are_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        "from dqx import check\n"
        "@check(name='Rows')\n"
        "def rows(mp, ctx):\n"
        "    ctx.assert_that(mp.num_rows()).where(name='has rows').is_gt(0)\n"
    )
    pq.write_table(pa.table({"x": [1]}), tmp_path / "orders.parquet")
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    outcome = subprocess.run(
        [
            os.fsencode(Path(sys.executable).with_name("dqx")),
            b"run",
            b"checks.py",
            b"--data",
            b"orders=orders.parquet",
            b"--db",
            os.fsencode(f"sqlite:///{tmp_path / 'dqx.db'}"),
            b"--tag",
            b"env=\xff",
        ],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        timeout=120,
    )
    stderr = outcome.stderr.decode("utf-8", "replace")
    assert outcome.returncode == 2, stderr
    assert "Traceback" not in stderr and "tag 'env'" in stderr
