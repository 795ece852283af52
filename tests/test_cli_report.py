"""`dqx history`, `dqx report` and `dqx run --only-failures`, through the console script."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB

DQX = Path(sys.executable).with_name("dqx")
FIRST = dt.date(2024, 5, 1)
DAYS = 4


def dqx(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    environment["COLUMNS"] = "200"
    return subprocess.run(
        [str(DQX), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120
    )


def orders() -> DuckRelationDataSource:
    # Day i has 1000 * (i + 1) orders at price 10 + i; one email in four is missing.
    days, prices, emails = [], [], []
    for i in range(DAYS):
        for j in range(1000 * (i + 1)):
            days.append(FIRST + dt.timedelta(days=i))
            prices.append(10.0 + i)
            emails.append(None if j % 4 == 0 else "a@x.io")
    table = pa.table({"yyyy_mm_dd": days, "price": prices, "email": emails})
    return DuckRelationDataSource.from_arrow(table, "orders")


@check(name="Orders", severity="P1")
def orders_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price").is_lt(100)


def _history(store_url: str) -> dict[tuple[dt.date, str], str]:
    """Runs for every day under env=ci, the last day under env=dev too, and day two
    recomputed: the execution id of each (day, env) that wrote the newest value."""
    db = MetricDB(store_url)
    source = orders()
    writers: dict[tuple[dt.date, str], str] = {}
    runs = [(FIRST + dt.timedelta(days=i), "ci") for i in range(DAYS)]
    runs += [(FIRST + dt.timedelta(days=DAYS - 1), "dev"), (FIRST + dt.timedelta(days=1), "ci")]
    for day, env in runs:
        suite = VerificationSuite([orders_check], db, "Orders", recompute="always")
        suite.run([source], ResultKey(day, {"env": env}))
        writers[(day, env)] = suite.execution_id
    db.dispose()
    return writers


def test_history_lists_each_day_with_the_run_that_wrote_it(store_url: str, tmp_path: Path) -> None:
    writers = _history(store_url)
    db = ["--db", store_url]

    shown = dqx(
        "history", "num_rows()", "--dataset", "orders", "--tags", "env=ci", *db, cwd=tmp_path
    )
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if re.match(r"^│ \d{4}-", line)]
    assert len(rows) == DAYS
    for i, row in enumerate(rows):
        day = FIRST + dt.timedelta(days=i)
        assert day.isoformat() in row and writers[(day, "ci")] in row
        assert f"{1000 * (i + 1):,}" in row  # separators for people
    assert "recomputed" not in shown.stdout and "computed (2 rows)" in rows[1]
    assert re.search(r"^▁\S*█  4 day\(s\), min 1,000, max 4,000, last 4,000$", shown.stdout, re.M)

    as_json = dqx(
        "history", "average(price)", "--dataset", "orders", *db, "--format", "json", cwd=tmp_path
    )
    assert as_json.returncode == 0, as_json.stderr
    series = json.loads(as_json.stdout)["series"]
    assert [s["tags"] for s in series] == [{"env": "ci"}, {"env": "dev"}]
    assert [d["value"] for d in series[0]["days"]] == [10.0, 11.0, 12.0, 13.0]
    assert [d["yyyy_mm_dd"] for d in series[1]["days"]] == ["2024-05-04"]

    windowed = dqx(
        "history",
        "num_rows()",
        "--dataset",
        "orders",
        "--tags",
        "env=ci",
        "--since",
        "2024-05-02",
        "--until",
        "2024-05-03",
        *db,
        "--format",
        "csv",
        cwd=tmp_path,
    )
    assert windowed.returncode == 0, windowed.stderr
    listed = list(csv.DictReader(io.StringIO(windowed.stdout)))
    assert [(r["yyyy_mm_dd"], r["value"], r["execution_id"]) for r in listed] == [
        ("2024-05-02", "2000.0", writers[(FIRST + dt.timedelta(days=1), "ci")]),
        ("2024-05-03", "3000.0", writers[(FIRST + dt.timedelta(days=2), "ci")]),
    ]

    missing = dqx("history", "num_rows()", "--dataset", "refunds", *db, cwd=tmp_path)
    assert missing.returncode == 1 and "no values of num_rows() on dataset 'refunds'" in (
        missing.stderr
    )


def test_history_of_a_series_holding_nan_and_an_inverted_range(tmp_path: Path) -> None:
    # The first day's average is NaN: min() and max() starting from it would say NaN.
    # The last day's is NULL (no price): "last" is that day's, not the day before's.
    days = [FIRST + dt.timedelta(days=i) for i in range(4)]
    table = pa.table({"yyyy_mm_dd": days, "price": [float("nan"), 5.0, 1.0, None]})
    db_url = f"sqlite:///{tmp_path / 'dqx.db'}"
    db = MetricDB(db_url)
    suite = VerificationSuite([orders_check], db, "Orders")
    suite.run_range([DuckRelationDataSource.from_arrow(table, "orders")], days[0], days[-1])
    db.dispose()

    shown = dqx("history", "average(price)", "--dataset", "orders", "--db", db_url, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "4 day(s), min 1, max 5, last NULL" in shown.stdout

    inverted = ["--since", "2024-05-03", "--until", "2024-05-01", "--db", db_url]
    refused = dqx("history", "average(price)", "--dataset", "orders", *inverted, cwd=tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert "--since 2024-05-03 is after --until 2024-05-01" in refused.stderr


CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Volume", severity="P1", datasets=["orders"])
    def volume(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)

    @check(name="Contacts <b>", severity="P2", datasets=["orders"])
    def contacts(mp, ctx):
        share = mp.null_count("email") / mp.num_rows()
        ctx.assert_that(share).where(name="emails <set>").is_lt(0.01)
    """
)


def test_run_only_failures_and_the_report_of_the_run(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    table = pa.table(
        {
            "yyyy_mm_dd": [dt.date(2024, 1, 3)] * 4,
            "email": ["a@x.io", None, "b@x.io", "c@x.io"],
        }
    )
    pq.write_table(table, tmp_path / "orders.parquet")
    db_url = f"sqlite:///{tmp_path / 'dqx.db'}"
    common = ["--data", "orders=orders.parquet", "--date", "2024-01-03", "--db", db_url]
    shown = dqx("run", "checks.py", *common, "--only-failures", "--fail-on", "P1", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "emails <set>" in shown.stdout and "25%" in shown.stdout
    assert "orders arrived" not in shown.stdout
    assert "1 ok, 1 failed, 0 errors, 0 skipped (the 1 ok not listed)" in shown.stdout

    as_json = dqx("run", "checks.py", *common, "--only-failures", "--format", "json", cwd=tmp_path)
    document = json.loads(as_json.stdout)
    values = {r["assertion"]: r["value"] for r in document["results"]}
    assert values == {"orders arrived": 4.0, "emails <set>": 0.25}  # raw floats, every result

    out = tmp_path / "out" / "report.html"
    written = dqx(
        "report", document["execution_id"], "--db", db_url, "--out", str(out), cwd=tmp_path
    )
    assert written.returncode == 0, written.stderr
    assert f"wrote {out}" in written.stderr
    page = out.read_text()
    # User text is escaped; the SQL comes from the store; no trace source was given.
    assert "emails &lt;set&gt;" in page and "Contacts &lt;b&gt;" in page
    assert "<set>" not in page and "Contacts <b>" not in page
    assert 'data-assertion="emails &lt;set&gt;"' in page
    assert "as the metric store recorded them" in page and "SELECT" in page
    assert "No trace source was given" in page

    unknown = dqx("report", "0" * 32, "--db", db_url, cwd=tmp_path)
    assert unknown.returncode == 1 and f"no run {'0' * 32}" in unknown.stderr

    # A path that cannot be written is the --out flag's fault, said so, not a traceback.
    blocked = tmp_path / "orders.parquet" / "report.html"  # under a file, not a directory
    refused = dqx(
        "report", document["execution_id"], "--db", db_url, "--out", str(blocked), cwd=tmp_path
    )
    assert refused.returncode == 2, refused.stderr
    assert f"cannot write the report to {blocked}" in refused.stderr and "--out" in refused.stderr
    assert "Traceback" not in refused.stderr
