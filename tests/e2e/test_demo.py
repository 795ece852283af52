"""The demo suite, end to end through the console script's function."""

from pathlib import Path

from click.testing import CliRunner

from dqx.cli import main


def test_demo_prints_results_and_finds_the_planted_anomaly(tmp_path: Path) -> None:
    outcome = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert outcome.exit_code == 0, outcome.output
    assert "average price steady" in outcome.output
    assert "FAILURE" in outcome.output
    assert (tmp_path / "dqx.db").exists()
    assert (tmp_path / "dqx-traces.jsonl").read_text().strip()
