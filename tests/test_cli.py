"""The `dqx` console script, run as a subprocess on real files and a real SQLite database."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
import pytest

from dqx.orm.repositories import MetricDB

DQX = Path(sys.executable).with_name("dqx")
DAY = dt.date(2024, 1, 3)

CHECKS = textwrap.dedent(
    """
    from dqx import check

    @check(name="Volume", severity="P1", datasets=["orders"])
    def volume(mp, ctx):
        ctx.assert_that(mp.num_rows()).where(name="orders arrived").is_gt(0)
        ctx.assert_that(mp.average("price")).where(name="price sane").is_between(0, 100)

    @check(name="Contacts", severity="P2", datasets=["orders"])
    def contacts(mp, ctx):
        share = mp.null_count("email") / mp.num_rows()
        ctx.assert_that(share).where(name="emails set").is_lt(0.01)
    """
)


def dqx(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("DQX_", "OTEL_"))
    }
    environment.update({"COLUMNS": "200", **(env or {})})
    return subprocess.run(
        [str(DQX), *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def orders_table() -> pa.Table:
    # Three days of four orders; one email in four is missing, so "emails set" fails.
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i // 4) for i in range(12)]
    return pa.table(
        {
            "yyyy_mm_dd": days,
            "email": ["a@x.io", None, "b@x.io", "c@x.io"] * 3,
            "price": [10.0 + i for i in range(12)],
        }
    )


@dataclass
class Workspace:
    root: Path
    db_url: str
    trace_file: Path
    execution_id: str


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    """A real run, through `dqx run`, that later tests read back."""
    root = tmp_path_factory.mktemp("cli")
    (root / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), root / "orders.parquet")
    db_url = f"sqlite:///{root / 'dqx.db'}"
    outcome = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--date",
        DAY.isoformat(),
        "--tag",
        "env=ci",
        "--db",
        db_url,
        "--trace-file",
        "traces.jsonl",
        "--format",
        "json",
        cwd=root,
    )
    assert outcome.returncode == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    return Workspace(root, db_url, root / "traces.jsonl", document["execution_id"])


def test_run_passes_when_only_failures_below_fail_on(workspace: Workspace) -> None:
    runs = MetricDB(workspace.db_url).runs()
    assert [(r.execution_id, r.suite, r.yyyy_mm_dd, r.tags) for r in runs] == [
        (workspace.execution_id, "checks", DAY, {"env": "ci"})
    ]
    assertions = {
        a.assertion: a for a in MetricDB(workspace.db_url).assertions(runs[0].execution_id)
    }
    assert assertions["emails set"].status == "FAILURE"
    assert assertions["emails set"].value == 0.25
    assert assertions["orders arrived"].value == 4.0
    assert workspace.execution_id in workspace.trace_file.read_text()


@pytest.mark.slow
def test_run_fails_with_exit_1_at_or_above_fail_on_and_shows_progress(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    data = tmp_path / "data"
    data.mkdir()
    table = orders_table()
    # A glob over CSV files: the dataset spans two files.
    pa_csv.write_csv(table.slice(0, 6), data / "part-1.csv")
    pa_csv.write_csv(table.slice(6), data / "part-2.csv")
    outcome = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=data/*.csv",
        "--date",
        DAY.isoformat(),
        "--fail-on",
        "P2",
        "--db",
        f"sqlite:///{tmp_path / 'dqx.db'}",
        cwd=tmp_path,
    )
    assert outcome.returncode == 1, outcome.stderr
    assert "scanning dataset 'orders'" in outcome.stderr
    assert "1 assertion(s) at P2 or above did not pass" in outcome.stderr
    failure_line = next(line for line in outcome.stdout.splitlines() if "emails set" in line)
    # A share of rows reads as a percentage; --format json keeps the raw 0.25.
    assert "FAILURE" in failure_line and "25%" in failure_line
    assert "trace id" in outcome.stdout and "not recorded" in outcome.stdout


@pytest.mark.parametrize(
    ("checks", "data", "expected"),
    [
        (CHECKS, "orders=missing.parquet", "--data orders=missing.parquet: no such file"),
        (
            CHECKS.replace('"email"', '"emial"'),
            "orders=orders.parquet",
            "dataset 'orders' has no column 'emial'",
        ),
        ("from dqx import check\ndef broken(:\n", "orders=orders.parquet", "SyntaxError"),
        ("x = 1\n", "orders=orders.parquet", "defines no checks"),
    ],
    ids=["missing-data", "unknown-column", "broken-file", "no-checks"],
)
def test_run_usage_errors_exit_2_naming_the_culprit(
    tmp_path: Path, checks: str, data: str, expected: str
) -> None:
    (tmp_path / "checks.py").write_text(checks)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    outcome = dqx(
        "run", "checks.py", "--data", data, "--db", f"sqlite:///{tmp_path / 'x.db'}", cwd=tmp_path
    )
    assert outcome.returncode == 2, (outcome.stdout, outcome.stderr)
    assert expected in outcome.stderr


def test_metrics_lists_the_run_from_db_and_trace(workspace: Workspace) -> None:
    outcome = dqx(
        "metrics",
        workspace.execution_id,
        "--db",
        workspace.db_url,
        "--trace-file",
        str(workspace.trace_file),
        "--format",
        "json",
        cwd=workspace.root,
    )
    assert outcome.returncode == 0, outcome.stderr
    listed = json.loads(outcome.stdout)["metrics"]
    stored = MetricDB(workspace.db_url).metrics_for_execution(workspace.execution_id)
    assert sorted((m["metric"], m["value"]) for m in listed) == sorted(
        (m.name, m.value) for m in stored
    )
    assert {m["origin"] for m in listed} == {"db+trace"}
    assert all(m["tags"] == {"env": "ci"} for m in listed)


@pytest.mark.slow
def test_reconcile_detects_a_lost_write_and_recovers_it(workspace: Workspace) -> None:
    base = ["--db", workspace.db_url, "--trace-file", str(workspace.trace_file)]
    agreed = dqx("reconcile", workspace.execution_id, *base, cwd=workspace.root)
    assert agreed.returncode == 0, agreed.stderr
    assert "ok;" in agreed.stdout

    # The database loses one metric row of the run, as a failed write would.
    with sqlite3.connect(workspace.root / "dqx.db") as connection:
        lost = connection.execute(
            "SELECT name FROM dq_metric WHERE execution_id = ? ORDER BY name LIMIT 1",
            (workspace.execution_id,),
        ).fetchone()[0]
        connection.execute(
            "DELETE FROM dq_metric WHERE execution_id = ? AND name = ?",
            (workspace.execution_id, lost),
        )
    broken = dqx("reconcile", workspace.execution_id, *base, "--format", "csv", cwd=workspace.root)
    assert broken.returncode == 1
    rows = broken.stdout.strip().splitlines()
    assert rows[0].startswith("problem,metric,dataset")
    assert [row.split(",")[:2] for row in rows[1:]] == [["missing_in_db", lost]]
    # The way out is the CLI's flag, not a Python method.
    assert "--recover" in broken.stderr and "recover()" not in broken.stdout + broken.stderr

    recovered = dqx("reconcile", workspace.execution_id, *base, "--recover", cwd=workspace.root)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    assert "recovered 1 metric(s)" in recovered.stderr
    names = {
        m.name for m in MetricDB(workspace.db_url).metrics_for_execution(workspace.execution_id)
    }
    assert lost in names

    # A value edited by hand: the CSV says which metric (by id) and which field differ.
    with sqlite3.connect(workspace.root / "dqx.db") as connection:
        edited = connection.execute(
            "SELECT id FROM dq_metric WHERE execution_id = ? ORDER BY name LIMIT 1",
            (workspace.execution_id,),
        ).fetchone()[0]
        connection.execute("UPDATE dq_metric SET value = value + 1 WHERE id = ?", (edited,))
    mismatched = dqx(
        "reconcile", workspace.execution_id, *base, "--format", "csv", cwd=workspace.root
    )
    assert mismatched.returncode == 1
    [row] = list(csv.DictReader(io.StringIO(mismatched.stdout)))
    assert (row["problem"], row["id"], row["differs"]) == ("mismatched", edited, "value")
    with sqlite3.connect(workspace.root / "dqx.db") as connection:
        connection.execute("UPDATE dq_metric SET value = value - 1 WHERE id = ?", (edited,))


def test_reconcile_explains_an_unknown_run_and_a_missing_trace(workspace: Workspace) -> None:
    base = ["--db", workspace.db_url, "--trace-file", str(workspace.trace_file)]
    unknown = dqx("reconcile", "0" * 32, *base, cwd=workspace.root)
    assert unknown.returncode == 1
    assert f"no run {'0' * 32} in {workspace.db_url}" in unknown.stderr
    assert "┏" not in unknown.stdout  # no empty discrepancy table

    empty = workspace.root / "other-traces.jsonl"
    empty.write_text("")
    missing = dqx(
        "reconcile",
        workspace.execution_id,
        "--db",
        workspace.db_url,
        "--trace-file",
        str(empty),
        cwd=workspace.root,
    )
    assert missing.returncode == 1
    assert "trace not found" in missing.stdout and "┏" not in missing.stdout
    assert "trace-missing.md" in missing.stderr


def test_runs_and_alert_read_the_run_back(workspace: Workspace) -> None:
    runs = dqx(
        "runs",
        "--db",
        workspace.db_url,
        "--suite",
        "checks",
        "--grafana",
        "http://grafana.example:3000",
        "--format",
        "csv",
        cwd=workspace.root,
    )
    assert runs.returncode == 0, runs.stderr
    lines = runs.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"{workspace.execution_id},checks,2024-01-03,")
    [row] = list(csv.DictReader(io.StringIO(runs.stdout)))
    assert row["trace_sampled"] == "True"
    # UTC, said so: a reader in another zone must not take the times as local.
    started, finished = (dt.datetime.fromisoformat(row[k]) for k in ("started", "finished"))
    assert started.utcoffset() == dt.timedelta(0) and finished.utcoffset() == dt.timedelta(0)
    assert row["trace_url"].startswith("http://grafana.example:3000/explore?")
    assert workspace.execution_id in urllib.parse.unquote(row["trace_url"])
    # runs reads no trace: a trace source flag is a usage error, not silently ignored.
    ignored = dqx("runs", "--db", workspace.db_url, "--trace-file", "x.jsonl", cwd=workspace.root)
    assert ignored.returncode == 2

    alert = dqx(
        "alert",
        workspace.execution_id,
        "--db",
        workspace.db_url,
        "--format",
        "alertmanager",
        cwd=workspace.root,
        env={
            "DQX_JAEGER_URL": "http://jaeger.example:16686",
            "DQX_RUNBOOK_BASE_URL": "https://runbooks.example/dqx",
        },
    )
    assert alert.returncode == 0, alert.stderr
    [item] = json.loads(alert.stdout)
    assert item["labels"] == {
        "alertname": "DQXAssertionFailed",
        "severity": "P2",
        "status": "FAILURE",
        "suite": "checks",
        "check": "Contacts",
        "assertion": "emails set",
        "execution_id": workspace.execution_id,
        "yyyy_mm_dd": "2024-01-03",
        "tag_env": "ci",
    }
    trace = f"http://jaeger.example:16686/trace/{workspace.execution_id}"
    assert item["annotations"]["trace_url"] == trace
    assert item["generatorURL"] == trace
    assert item["annotations"]["runbook_url"] == "https://runbooks.example/dqx/assertion-failed.md"
    assert item["annotations"]["value"] == "0.25"


@pytest.mark.slow
def test_reading_commands_reject_unknown_runs_and_databases(workspace: Workspace) -> None:
    unknown = dqx("metrics", "0" * 32, "--db", workspace.db_url, cwd=workspace.root)
    assert unknown.returncode == 1
    assert f"no run {'0' * 32}" in unknown.stderr
    malformed = dqx("alert", "not-an-id", "--db", workspace.db_url, cwd=workspace.root)
    assert malformed.returncode == 2
    assert "invalid execution id 'not-an-id'" in malformed.stderr
    missing_db = dqx("runs", "--db", "sqlite:///nowhere.db", cwd=workspace.root)
    assert missing_db.returncode == 2
    assert "no metric database at nowhere.db" in missing_db.stderr
    assert not (workspace.root / "nowhere.db").exists()
    bad_url = dqx("runs", "--db", "nosuchdriver://x", cwd=workspace.root)
    assert bad_url.returncode == 2
    assert bad_url.stderr.count("cannot open metric database") == 1
    assert "Traceback" not in bad_url.stderr


def test_json_output_stays_strict_json_when_a_metric_is_nan(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    table = orders_table()
    prices = [float("nan"), *table.column("price").to_pylist()[1:]]
    pq.write_table(table.set_column(2, "price", pa.array(prices)), tmp_path / "orders.parquet")
    db_url = f"sqlite:///{tmp_path / 'dqx.db'}"
    run = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--date",
        "2024-01-01",
        "--db",
        db_url,
        "--format",
        "json",
        cwd=tmp_path,
    )
    execution_id = _strict_json(run.stdout)["execution_id"]
    listed = dqx("metrics", execution_id, "--db", db_url, "--format", "json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    values = {m["metric"]: m["value"] for m in _strict_json(listed.stdout)["metrics"]}
    assert values["average(price)"] == "NaN"
    assert values["num_rows()"] == 4.0


def _strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_run_refuses_an_unwritable_trace_file_before_reading_data(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    outcome = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--trace-file",
        "orders.parquet/traces.jsonl",  # its "directory" is a file
        cwd=tmp_path,
    )
    assert outcome.returncode == 2, outcome.stdout
    assert "orders.parquet/traces.jsonl" in outcome.stderr and "Traceback" not in outcome.stderr
    assert "scanning" not in outcome.stderr
    assert not (tmp_path / "dqx.db").exists()


def test_run_whose_database_write_fails_says_how_to_recover_with_the_cli(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    (tmp_path / "not-a-dir").write_text("")
    db_url = f"sqlite:///{tmp_path / 'not-a-dir' / 'dqx.db'}"
    run = ("run", "checks.py", "--data", "orders=orders.parquet", "--date", DAY.isoformat())
    outcome = dqx(*run, "--db", db_url, "--trace-file", "traces.jsonl", cwd=tmp_path)
    assert outcome.returncode == 3, outcome.stderr
    execution_id = next(
        line.split()[2] for line in outcome.stdout.splitlines() if line.startswith("trace id")
    )
    expected = f"dqx reconcile {execution_id} --db {db_url} --trace-file traces.jsonl --recover"
    assert expected in " ".join(outcome.stderr.split())
    assert "collect_results" not in outcome.stderr and "Traceback" not in outcome.stderr

    # As JSON, the document itself says the metrics did not reach the store, and why.
    as_json = dqx(*run, "--db", db_url, "--format", "json", cwd=tmp_path)
    assert as_json.returncode == 3, as_json.stderr
    document = json.loads(as_json.stdout)
    assert (document["status"], document["suite"], document["date"]) == (
        "persist_failed",
        "checks",
        DAY.isoformat(),
    )
    assert document["persist_error"] and "dqx.db" in document["persist_error"]


def test_flags_beat_environment_which_beats_dqx_toml(workspace: Workspace, tmp_path: Path) -> None:
    (tmp_path / "dqx.toml").write_text(
        'db_url = "sqlite:///from-toml.db"\n'
        'jaeger_url = "http://toml-jaeger:16686"\n'
        'grafana_url = "http://toml-grafana:3000"\n'
    )
    shown = dqx(
        "config", "--format", "json", cwd=tmp_path, env={"DQX_JAEGER_URL": "http://env-jaeger"}
    )
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["values"]["db_url"] == "sqlite:///from-toml.db"
    assert config["values"]["jaeger_url"] == "http://env-jaeger"
    assert config["origin"]["jaeger_url"] == "env DQX_JAEGER_URL"
    assert config["values"]["fail_on"] == "P1"

    # dqx.toml's database does not exist, the environment's does, the flag's does too.
    listed = dqx(
        "runs",
        "--db",
        workspace.db_url,
        "--format",
        "json",
        cwd=tmp_path,
        env={"DQX_DB_URL": "sqlite:///also-missing.db"},
    )
    assert listed.returncode == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert run["execution_id"] == workspace.execution_id
    assert run["trace_url"] == f"http://toml-jaeger:16686/trace/{workspace.execution_id}"


def test_reading_commands_take_a_rotated_trace_directory(
    workspace: Workspace, tmp_path: Path
) -> None:
    # The Collector rotates its file; on-call engineers point at the folder it writes to.
    folder = tmp_path / "collector"
    folder.mkdir()
    # A copy: the workspace is shared by the module's tests.
    (folder / "traces-2024-05-02T10-00-00.000.jsonl").write_bytes(workspace.trace_file.read_bytes())
    rotated = dqx(
        "reconcile",
        workspace.execution_id,
        "--db",
        workspace.db_url,
        "--trace-file",
        str(folder),
        cwd=workspace.root,
    )
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    assert "ok;" in rotated.stdout
    missing = dqx(
        "metrics",
        workspace.execution_id,
        "--db",
        workspace.db_url,
        "--trace-file",
        str(tmp_path / "nowhere" / "*.jsonl"),
        cwd=workspace.root,
    )
    assert missing.returncode == 2
    assert "no OTLP trace file" in missing.stderr and "Traceback" not in missing.stderr


def test_run_posts_its_alert_to_each_sink_given_with_alert(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[tuple[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    try:
        outcome = dqx(
            "run",
            "checks.py",
            "--data",
            "orders=orders.parquet",
            "--date",
            DAY.isoformat(),
            "--fail-on",
            "P2",
            "--db",
            f"sqlite:///{tmp_path / 'dqx.db'}",
            "--alert",
            f"alertmanager={base}/api/v2/alerts",
            "--alert",
            f"webhook={base}/chat",
            cwd=tmp_path,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert outcome.returncode == 1, outcome.stderr
    by_path = dict(received)
    assert set(by_path) == {"/api/v2/alerts", "/chat"}
    (alert,) = by_path["/api/v2/alerts"]
    assert (alert["labels"]["assertion"], alert["labels"]["severity"]) == ("emails set", "P2")
    assert "emails set" in by_path["/chat"]["text"]
    # The table is still printed, before the alerts go out.
    assert "emails set" in outcome.stdout


@pytest.mark.parametrize("alert", ["pagerduty=http://x/y", "slack=", "slack=not-a-url"])
def test_run_refuses_a_bad_alert_sink_before_reading_data(tmp_path: Path, alert: str) -> None:
    (tmp_path / "checks.py").write_text(CHECKS)
    pq.write_table(orders_table(), tmp_path / "orders.parquet")
    outcome = dqx(
        "run",
        "checks.py",
        "--data",
        "orders=orders.parquet",
        "--db",
        f"sqlite:///{tmp_path / 'dqx.db'}",
        "--alert",
        alert,
        cwd=tmp_path,
    )
    assert outcome.returncode == 2, outcome.stderr
    assert "--alert" in outcome.stderr or "URL" in outcome.stderr
    if alert == "slack=":  # `--alert slack=$SLACK_WEBHOOK_URL` with the variable unset
        assert "--alert slack= has an empty URL" in outcome.stderr
    assert not (tmp_path / "dqx.db").exists()


@pytest.mark.parametrize("flag", ["--jaeger", "--tempo"])
def test_a_trace_source_that_is_not_an_http_url_is_a_usage_error(
    workspace: Workspace, flag: str
) -> None:
    outcome = dqx(
        "metrics",
        workspace.execution_id,
        "--db",
        workspace.db_url,
        flag,
        "localhost:16686",
        cwd=workspace.root,
    )
    assert outcome.returncode == 2, outcome.stderr
    assert f"{flag} localhost:16686: " in outcome.stderr and "http(s) base URL" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_the_alert_choices_are_the_sink_table(tmp_path: Path) -> None:
    from dqx.alerts import FORMATS, SINKS

    def help_text(command: str) -> str:
        return " ".join(dqx(command, "--help", cwd=tmp_path).stdout.split())

    assert f"--format [{'|'.join(FORMATS)}]" in help_text("alert")
    *first, last = SINKS
    assert f"SINK is {', '.join(first)} or {last}." in help_text("run")


def test_python_dash_m_is_the_same_command(tmp_path: Path) -> None:
    outcome = subprocess.run(
        [sys.executable, "-m", "dqx.cli", "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert outcome.returncode == 0, outcome.stderr
    assert outcome.stdout.startswith("Usage: python -m dqx.cli [OPTIONS] COMMAND")
    assert all(name in outcome.stdout for name in ("run", "metrics", "reconcile", "alert"))


_COMMAND_PROBE = textwrap.dedent(
    """
    import json, sys
    from click.testing import CliRunner
    from dqx.cli import main
    CliRunner().invoke(main, ["runs", "--help"], catch_exceptions=False)
    print(json.dumps(sorted(m for m in sys.modules if m.startswith("dqx.cli."))))
    """
)


def test_each_command_module_loads_only_when_its_command_is_asked_for() -> None:
    import click

    from dqx.cli import main

    context = click.Context(main)
    names = main.list_commands(context)
    assert names == sorted(names) and {"run", "runs", "diff", "demo"} <= set(names)
    for name in names:
        command = main.get_command(context, name)
        assert command is not None and command.name == name
    assert main.get_command(context, "nope") is None

    # A fresh interpreter: this one has imported every command already.
    probe = subprocess.run(
        [sys.executable, "-c", _COMMAND_PROBE], capture_output=True, text=True, timeout=60
    )
    assert probe.returncode == 0, probe.stderr
    loaded = {m.removeprefix("dqx.cli.") for m in json.loads(probe.stdout)}
    assert "runs" in loaded
    assert not loaded & {"run", "diff", "demo", "alert", "report", "evaluate"}


def test_run_shows_skipped_assertions_and_anomaly_bands_in_table_and_json(tmp_path: Path) -> None:
    (tmp_path / "checks.py").write_text(
        textwrap.dedent(
            """
            from dqx import check

            @check(name="Orders", severity="P0")
            def orders(mp, ctx):
                ctx.assert_that(mp.ext.week_over_week(mp.num_rows())).where(
                    name="wow"
                ).is_lt(1)
                ctx.assert_that(mp.average("price")).where(name="usual").is_not_anomalous(
                    window=7
                )
            """
        )
    )
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(9)]
    prices = [10.0, 10.5, 9.5, 10.2, 9.8, 10.1, 9.9, 10.0, 30.0]
    pq.write_table(
        pa.table({"yyyy_mm_dd": pa.array(days, pa.date32()), "price": prices}),
        tmp_path / "orders.parquet",
    )
    args = ["run", "checks.py", "--data", "orders=orders.parquet", "--db", "sqlite:///dqx.db"]
    first = dqx(*args, "--date", "2024-01-01", cwd=tmp_path)
    # Nothing before the first day: both SKIPPED, the run passes (exit 0) and says why.
    assert first.returncode == 0, first.stderr
    assert "SKIPPED" in first.stdout and "not in history yet" in first.stdout
    assert "0 ok, 0 failed, 0 errors, 2 skipped" in first.stdout
    last = dqx(*args, "--date", "2024-01-09", "--format", "json", cwd=tmp_path)
    assert last.returncode == 1, last.stderr
    document = _strict_json(last.stdout)
    assert (document["status"], document["date"], document["persist_error"]) == (
        "failed",
        "2024-01-09",
        None,
    )
    results = {r["assertion"]: r for r in document["results"]}
    usual = results["usual"]
    assert usual["status"] == "FAILURE" and usual["value"] == 30.0
    low, high = usual["band"]
    assert low < 10.0 < high < 30.0 and usual["score"] > 4
    assert results["wow"]["status"] == "OK"
