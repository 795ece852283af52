"""The demo, end to end through the real console script (what `make run` runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dqx.orm.repositories import MetricDB


def _demo(directory: Path) -> str:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    environment["COLUMNS"] = "200"
    outcome = subprocess.run(
        [str(Path(sys.executable).with_name("dqx")), "demo", "--dir", str(directory)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome.returncode == 0, outcome.stderr
    return outcome.stdout


@dataclass(frozen=True)
class Demos:
    directory: Path
    first: str
    second: str

    @property
    def db(self) -> MetricDB:
        return MetricDB(f"sqlite:///{self.directory / 'demo.db'}")


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> Demos:
    """`make run` twice in one directory, which also holds a database of the user's."""
    directory = tmp_path_factory.mktemp("demo")
    (directory / "dqx.db").write_bytes(b"not the demo's")
    return Demos(directory, _demo(directory), _demo(directory))


def test_demo_finds_the_planted_anomaly_and_reconciles_with_its_trace(demos: Demos) -> None:
    out = demos.second
    failures = {
        line.split("│")[4].strip() for line in out.splitlines() if line.startswith("│ FAILURE")
    }
    # The planted anomaly: prices doubled and emails dropped on the last day.
    assert failures == {
        "average price steady",
        "average price usual",
        "emails mostly set",
    }
    assert "planted on purpose on 2024-03-14: prices doubled" in out
    assert "3 of 9 assertion(s) not OK on 2024-03-14: the anomaly planted on purpose" in out
    execution_id = _execution_id(out)
    stored = demos.db.metrics_for_execution(execution_id)
    # Every metric of the run is listed as found in both records, and they agree.
    metric_rows = [line for line in out.splitlines() if re.match(r"^│ m_\d+ ", line)]
    assert len(metric_rows) == len(stored) > 0
    assert all("db+trace" in row for row in metric_rows)
    assert f"run {execution_id}: ok; {len(stored)} matched, 0 missing in db" in out
    assert execution_id in (demos.directory / "demo-traces.jsonl").read_text()


def test_warm_up_is_skipped_and_a_bad_baseline_is_left_out(demos: Demos) -> None:
    from dqx.demo import BAD_DAY, PARTIAL

    db = demos.db
    runs = sorted(db.runs(suite="Orders"), key=lambda run: run.yyyy_mm_dd)
    # No yesterday on the first day, too little history for a band in the first week:
    # those assertions are SKIPPED, and nothing errors for want of a past.
    first = {a.assertion: a.status for a in db.assertions(runs[0].execution_id)}
    assert first["volume steady day over day"] == "SKIPPED"
    assert first["average price usual"] == "SKIPPED"
    assert runs[0].status == "passed" and runs[0].assertions_skipped == 3
    eighth = {a.assertion: a.status for a in db.assertions(runs[7].execution_id)}
    assert eighth["average price usual"] == "OK"
    assert all(run.assertions_error == 0 for run in runs)
    assert "warm-up on 2024-03-01: 3 assertion(s) SKIPPED" in demos.second
    # The partial load's run failed and was marked bad; every other earlier day passed.
    [bad] = [run for run in runs if run.yyyy_mm_dd == BAD_DAY]
    assert bad.status == "failed"
    [mark] = db.bad_runs()
    assert (mark.execution_id, mark.reason) == (bad.execution_id, PARTIAL)
    assert [run.status for run in runs[:-1] if run is not bad] == ["passed"] * 12
    assert "13 earlier day(s): 1 failed, 12 passed" in demos.second
    # The last run's window holds the recomputed day, not the bad run's partial one.
    [used] = [
        m
        for m in db.metrics_for_execution(runs[-1].execution_id)
        if m.yyyy_mm_dd == BAD_DAY and m.name == "average(price)"
    ]
    assert used.source_execution_id not in (None, bad.execution_id)
    assert f"run {bad.execution_id} was marked bad" in demos.second.replace("\n", " ")


def test_a_second_demo_starts_from_a_fresh_database(demos: Demos) -> None:
    assert "(the previous demo's runs removed)" not in demos.first
    database = demos.directory / "demo.db"
    assert f"in a fresh database {database} (the previous demo's runs removed)" in (
        demos.second.replace("\n", " ")
    )
    assert len(demos.db.runs(suite="Orders")) == 14
    # The trace file is the second run's alone, and the two records agree.
    assert _execution_id(demos.first) not in (demos.directory / "demo-traces.jsonl").read_text()
    assert f"run {_execution_id(demos.second)}: ok;" in demos.second


def test_the_demo_links_no_service_it_did_not_start(demos: Demos) -> None:
    out = demos.second
    assert "http://localhost:16686" not in out and "http://localhost:3000" not in out
    trace_file = demos.directory / "demo-traces.jsonl"
    assert f"trace id  {_execution_id(out)}  (written to {trace_file})" in out
    assert "start the stack (docker compose -f deploy/compose.yaml up -d)" in out
    assert "deploy/README.md" in out


def test_the_demo_leaves_a_database_of_the_users_alone(demos: Demos) -> None:
    assert (demos.directory / "dqx.db").read_bytes() == b"not the demo's"


def _execution_id(out: str) -> str:
    [execution_id] = re.findall(r"^trace id\s+([0-9a-f]{32})", out, flags=re.MULTILINE)
    return execution_id


def test_a_demo_directory_that_cannot_be_made_is_a_usage_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dqx.cli import main

    (tmp_path / "afile").write_text("")
    refused = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "afile" / "sub")])
    assert refused.exit_code == 2, refused.output
    assert f"cannot create the demo directory {tmp_path / 'afile' / 'sub'}" in refused.output
    assert refused.exception is None or isinstance(refused.exception, SystemExit)
