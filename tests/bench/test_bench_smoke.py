"""The benchmark scripts run start to finish on tiny data, so they cannot rot.

Timings are never asserted here: on tiny data they mean nothing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_harness_runs_every_benchmark_in_quick_mode(tmp_path: Path) -> None:
    out = tmp_path / "RESULTS.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--out",
            str(out),
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    report = out.read_text()
    for number in ("| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5a |", "| 5b |", "| 6 |", "| 9 |"):
        assert number in report
    # The engines: PostgreSQL may be down (skipped, said so); Spark must start.
    for number in ("| 10 |", "| 11 |"):
        assert number in report
    assert report.count("| 7 |") == 2 and report.count("| 8 |") == 2
    assert "| 12a |" in report and "| 12b |" in report  # the HTML report's time and size
    assert "| 20 |" in report  # a year's backfill (ten days in quick mode)
    # Spark's width sweep and fold comparison: measured, not skipped, as Spark must start.
    assert "| 13d |" in report and "| 13e |" in report
    assert "Spark unavailable" not in report
    assert "QUICK" in report


def test_distinct_strategies_script_checks_its_shapes_agree_on_tiny_data() -> None:
    # The script refuses to time shapes that disagree, so a run on tiny data is a
    # real check of the three plans, not just of the script starting.
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "distinct_strategies.py"), "3000", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    for shape in ("same", "separate", "grouped"):
        assert shape in completed.stdout


def test_anomaly_benchmark_scores_every_method_on_every_planted_type(tmp_path: Path) -> None:
    out = tmp_path / "ANOMALY.md"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "anomaly.py"), "--series", "6", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = [line.split("|")[1:3] for line in out.read_text().splitlines() if line.startswith("| ")]
    pairs = {(kind.strip(), method.strip()) for kind, method in rows}
    for kind in ("level shift", "spike", "slow drift", "weekly pattern"):
        for method in (
            "dqx mad",
            "dqx seasonal",
            "Deequ RelativeRateOfChange",
            "Deequ OnlineNormal",
        ):
            assert (kind, method) in pairs
