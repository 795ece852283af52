"""The demo, end to end through the real console script (what `make run` runs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dqx.orm.repositories import MetricDB


def test_demo_finds_the_planted_anomaly_and_reconciles_with_its_trace(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    environment["COLUMNS"] = "200"
    outcome = subprocess.run(
        [str(Path(sys.executable).with_name("dqx")), "demo", "--dir", str(tmp_path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert outcome.returncode == 0, outcome.stderr
    out = outcome.stdout
    failures = {
        line.split("│")[4].strip() for line in out.splitlines() if line.startswith("│ FAILURE")
    }
    # The planted anomaly: prices doubled and emails dropped on the last day.
    assert failures == {
        "average price steady",
        "average within 4 sigma of last week",
        "emails mostly set",
    }
    [execution_id] = re.findall(r"^trace id\s+([0-9a-f]{32})", out, flags=re.MULTILINE)
    assert f"jaeger    http://localhost:16686/trace/{execution_id}" in out

    db = MetricDB(f"sqlite:///{tmp_path / 'dqx.db'}")
    stored = db.metrics_for_execution(execution_id)
    assert len(db.runs(suite="Orders")) == 14
    # Every metric of the run is listed as found in both records, and they agree.
    metric_rows = [line for line in out.splitlines() if re.match(r"^│ m_\d+ ", line)]
    assert len(metric_rows) == len(stored) > 0
    assert all("db+trace" in row for row in metric_rows)
    assert f"run {execution_id}: ok; {len(stored)} matched, 0 missing in db" in out
    assert execution_id in (tmp_path / "dqx-traces.jsonl").read_text()
