"""Shared by the Airflow and the Dagster tests, each run in its own virtualenv with
``--confcutdir=tests/integrations`` (tests/conftest.py needs the test extra, which
these virtualenvs do not install): a checks file, a day of orders, a store, a trace
file, and nothing of the machine's DQX_*, OTEL_* or TRACEPARENT settings."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

DAY = dt.date(2024, 3, 2)
CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"
JAEGER = "http://jaeger.example:16686"

CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Volume", severity="P1", datasets=["orders"])
    def volume(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)

    @check(name="Contacts", severity="P2", datasets=["orders"])
    def contacts(mp, ctx):
        ctx.assert_that(mp.null_count("email")).where(name="emails set").is_eq(0)
    """
)


def pytest_configure(config: pytest.Config) -> None:
    # Airflow reads its configuration when first imported, at collection: a home of
    # the session's own, so no test touches ~/airflow.
    home = Path(tempfile.mkdtemp(prefix="dqx-airflow-"))
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(home / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{home / 'airflow.db'}"


@dataclass
class Workspace:
    root: Path
    checks: Path
    orders: Path
    db_url: str
    trace_file: Path

    def root_links(self, execution_id: str) -> list[dict[str, Any]]:
        """The links of run ``execution_id``'s root span, from the trace file."""
        for line in self.trace_file.read_text().splitlines():
            for resource in json.loads(line).get("resourceSpans", []):
                for scope in resource["scopeSpans"]:
                    for span in scope["spans"]:
                        if span["name"] == "dqx.suite.run" and span["traceId"] == execution_id:
                            links: list[dict[str, Any]] = span.get("links", [])
                            return links
        raise AssertionError(f"no root span of {execution_id} in {self.trace_file}")

    def expected_values(self) -> dict[str, float]:
        """DAY's metrics computed from the parquet file with pyarrow, not with dqx."""
        table = pq.read_table(self.orders)
        day = table.filter(pc.equal(table["yyyy_mm_dd"], pa.scalar(DAY)))
        return {"num_rows()": day.num_rows, "null_count(email)": day["email"].null_count}

    def stored_values(self, execution_id: str) -> dict[str, float]:
        """DAY's metrics as run ``execution_id`` stored them."""
        from dqx.orm.repositories import MetricDB

        db = MetricDB(self.db_url)
        try:
            metrics = db.metrics_for_execution(execution_id)
        finally:
            db.dispose()
        return {m.name: m.value for m in metrics if m.yyyy_mm_dd == DAY and m.value is not None}

    def stored_run(self, execution_id: str) -> Any:
        from dqx.orm.repositories import MetricDB

        db = MetricDB(self.db_url)
        try:
            return db.run(execution_id)
        finally:
            db.dispose()


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    for name in [n for n in os.environ if n.startswith(("DQX_", "OTEL_", "TRACE"))]:
        monkeypatch.delenv(name)
    checks = tmp_path / "checks.py"
    checks.write_text(CHECKS)
    # DAY holds three orders, one without an email: "emails set" (P2) fails.
    table = pa.table(
        {
            "yyyy_mm_dd": [DAY - dt.timedelta(days=1)] * 2 + [DAY] * 3,
            "email": ["a@x.io", None, "b@x.io", "c@x.io", None],
        }
    )
    orders = tmp_path / "orders.parquet"
    pq.write_table(table, orders)
    return Workspace(
        tmp_path, checks, orders, f"sqlite:///{tmp_path / 'dqx.db'}", tmp_path / "traces.jsonl"
    )
