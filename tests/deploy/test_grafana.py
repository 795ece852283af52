"""Grafana provisioning: references resolve, and the dashboard's SQL runs on PostgreSQL.

The SQL test stores real runs in a PostgreSQL metric store, expands the dashboard's
macros and variables the way Grafana does for a PostgreSQL data source (variable
queries included, so "All" means what the store holds), runs every query and checks
what comes back.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
import yaml
from psycopg import sql

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import MetricDB
from dqx.telemetry import trace_url

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "dqx.json"
FIRST_DAY = dt.date(2024, 6, 1)


def datasources() -> list[dict[str, Any]]:
    documents = [yaml.safe_load(p.read_text()) for p in (GRAFANA / "provisioning").rglob("*.yaml")]
    return [s for d in documents if "datasources" in d for s in d["datasources"]]


def dashboard() -> dict[str, Any]:
    document = json.loads(DASHBOARD.read_text())
    assert isinstance(document, dict)
    return document


def sql_panels() -> list[dict[str, Any]]:
    """The panels that query the metric store (the others query Prometheus)."""
    return [
        panel
        for panel in dashboard()["panels"]
        if panel["datasource"]["type"] == "grafana-postgresql-datasource"
    ]


def walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def test_dashboard_references_only_provisioned_data_sources() -> None:
    uids = {s["uid"]: s["type"] for s in datasources()}
    assert len(uids) == len(datasources()), "data source uids must be unique"
    referenced = [
        n["datasource"] for n in walk(dashboard()) if isinstance(n.get("datasource"), dict)
    ]
    assert referenced
    for reference in referenced:
        assert uids.get(reference["uid"]) == reference["type"], reference
    internal = [n["internal"] for n in walk(dashboard()) if "internal" in n]
    assert {link["datasourceUid"] for link in internal} <= set(uids)
    # dqx's own trace links open Grafana Explore on this uid.
    assert uids["tempo"] == "tempo"
    assert "%22uid%22%3A%22tempo%22" in (trace_url("a" * 32, grafana="http://g").grafana or "")


def test_dashboard_provider_serves_the_dashboard_directory() -> None:
    providers = [
        p
        for path in (GRAFANA / "provisioning" / "dashboards").glob("*.yaml")
        for p in yaml.safe_load(path.read_text())["providers"]
    ]
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    volumes = dict(
        reversed(str(v).split(":")[:2]) for v in compose["services"]["grafana"]["volumes"]
    )
    [provider] = providers
    assert volumes[provider["options"]["path"]] == "./grafana/dashboards"


def test_execution_ids_link_to_their_traces() -> None:
    for panel in sql_panels():
        queries = " ".join(t["rawSql"] for t in panel["targets"])
        # The column, not the internal tag '__execution_id' a query may strip from tags.
        if not re.search(r"\bexecution_id\b", queries.split("WHERE")[0]):
            continue
        overrides = panel["fieldConfig"]["overrides"]
        links = next(
            p["value"]
            for o in overrides
            if o["matcher"] == {"id": "byName", "options": "execution_id"}
            for p in o["properties"]
            if p["id"] == "links"
        )
        titles = {link["title"]: link for link in links}
        assert titles["Trace in Tempo"]["internal"]["query"]["query"] == "${__value.raw}"
        assert titles["Trace in Jaeger"]["url"] == "${jaeger_url}/trace/${__value.raw}"


# -- the SQL, on a real PostgreSQL metric store ------------------------------------------


@check(name="Orders", severity="P1", datasets=["orders"])
def orders(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price sane", severity="P0").is_lt(20)
    # SKIPPED on the day "price sane" fails: shown in the run, never among failures.
    ctx.assert_that(mp.average("price")).where(
        name="price above floor", requires="price sane"
    ).is_gt(1)


@dataclass
class Store:
    conninfo: str
    schema: str
    runs: list[str]
    averages: dict[dt.date, float]


@pytest.fixture(scope="module")
def store(postgres_database: str) -> Iterator[Store]:
    schema = f"grafana_{secrets.token_hex(5)}"
    conninfo = postgres_database.replace("postgresql+psycopg", "postgresql")
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    db = MetricDB(f"{postgres_database}?options=-csearch_path%3D{schema}")
    prices = {FIRST_DAY: [10.0, 12.0, 14.0], FIRST_DAY + dt.timedelta(days=1): [30.0, 31.5]}
    runs, averages = [], {}
    for day, values in prices.items():
        suite = VerificationSuite([orders], db, "Orders suite")
        table = pa.table({"price": values})
        suite.run(
            [DuckRelationDataSource.from_arrow(table, "orders")], ResultKey(day, {"env": "prod"})
        )
        runs.append(suite.execution_id)
        averages[day] = sum(values) / len(values)
    db.dispose()
    try:
        yield Store(conninfo, schema, runs, averages)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


_TIME_FILTER = re.compile(r"\$__timeFilter\(([^()]+)\)")


class Grafana:
    """Enough of Grafana's PostgreSQL interpolation to run the dashboard's SQL."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self.connection = connection
        self.values: dict[str, list[str]] = {}

    def expand(self, text: str) -> str:
        text = _TIME_FILTER.sub(
            r"\1 BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'", text
        )
        for name in sorted(self.values, key=len, reverse=True):
            values = self.values[name]
            # Multi-value variables become a quoted list; a single one is inserted raw.
            quoted = ",".join("'" + v.replace("'", "''") + "'" for v in values)
            text = text.replace(f"'${name}'", quoted if len(values) > 1 else f"'{values[0]}'")
            text = text.replace(f"${name}", quoted)
        leftover = re.findall(r"\$\{?\w+", text)
        assert not leftover, f"unexpanded Grafana macros {leftover} in {text}"
        return text

    def query(self, text: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        cursor = self.connection.execute(self.expand(text).encode())
        assert cursor.description is not None
        return [c.name for c in cursor.description], cursor.fetchall()


def test_dashboard_queries_run_against_a_real_run(store: Store) -> None:
    board = dashboard()
    with psycopg.connect(store.conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
        grafana = Grafana(connection)
        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue
            _, rows = grafana.query(variable["query"])
            grafana.values[variable["name"]] = (
                [str(row[0]) for row in rows][:1]
                if not (variable["multi"])
                else [str(row[0]) for row in rows]
            )
        assert grafana.values["suite"] == ["Orders suite"]
        assert grafana.values["dataset"] == ["orders"]
        assert set(grafana.values["metric"]) == {"num_rows()", "average(price)"}
        assert grafana.values["execution_id"] == [store.runs[-1]]  # newest first

        results = {}
        for panel in sql_panels():
            [target] = panel["targets"]
            results[panel["id"]] = grafana.query(target["rawSql"])

    by_title = {panel["title"]: results[panel["id"]] for panel in sql_panels()}
    columns, rows = by_title["Runs"]
    assert columns[0] == "time" and "execution_id" in columns
    listed = [dict(zip(columns, row, strict=True)) for row in rows]
    assert [r["execution_id"] for r in listed] == list(reversed(store.runs))
    assert [r["status"] for r in listed] == ["failed", "passed"]

    with psycopg.connect(store.conninfo) as connection:
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(store.schema)))
        statuses = connection.execute(
            "SELECT assertion, status FROM dq_assertion WHERE execution_id = %s",
            (store.runs[-1],),
        ).fetchall()
    assert ("price above floor", "SKIPPED") in statuses  # the run has a SKIPPED assertion

    columns, rows = by_title["Failed and errored assertions"]
    [failure] = [dict(zip(columns, row, strict=True)) for row in rows]
    assert (failure["check"], failure["assertion"], failure["severity"]) == (
        "Orders",
        "price sane",
        "P0",
    )
    assert failure["value"] == store.averages[FIRST_DAY + dt.timedelta(days=1)]
    assert failure["execution_id"] == store.runs[-1]

    [history_title] = [t for t in by_title if t.startswith("Metric history")]
    columns, rows = by_title[history_title]
    assert columns == ["time", "metric", "value"]
    averages = {r[0].date(): r[2] for r in rows if "average(price)" in r[1]}
    assert averages == store.averages
    # Each run stores its metrics under its own __execution_id tag; the runs of different
    # days must still draw one line per metric, labelled with the caller's tags only.
    assert len(store.averages) >= 2
    assert {r[1] for r in rows} == {
        'orders num_rows() {"env": "prod"}',
        'orders average(price) {"env": "prod"}',
    }
    assert [r[0] for r in rows] == sorted(r[0] for r in rows)  # Grafana wants time ascending

    [run_title] = [t for t in by_title if t.startswith("Metrics of run")]
    columns, rows = by_title[run_title]
    metrics = {row[columns.index("name")]: row[columns.index("value")] for row in rows}
    assert metrics == {
        "num_rows()": 2.0,
        "average(price)": store.averages[FIRST_DAY + dt.timedelta(days=1)],
    }

    columns, [stat] = by_title["Runs in range"]
    assert dict(zip(columns, stat, strict=True)) == {
        "runs": 2,
        "not passed": 1,
        "failed assertions": 1,
        "errored assertions": 0,
    }
