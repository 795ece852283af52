"""The README's quick start is code users paste: it must run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_quick_start_runs_and_prints_its_results(tmp_path: Path) -> None:
    quick_start = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    code = re.search(r"```python\n(.*?)```", quick_start, re.DOTALL)
    assert code is not None, "README has no python block under 'Quick start'"
    completed = _python(code.group(1), tmp_path)
    lines = completed.stdout.splitlines()
    assert any(line.startswith("Orders orders arrived OK") for line in lines), lines
    execution_id = lines[-1].rsplit(" ", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{32}", execution_id)
    assert (tmp_path / "dqx.db").exists()


def test_every_python_block_runs_in_order_in_one_interpreter(tmp_path: Path) -> None:
    """A newcomer pastes the blocks one after the other into one session."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 6, "the README lost its examples"
    completed = _python("\n".join(blocks), tmp_path)
    assert "failures at P1 or above: 1" in completed.stdout  # the emails, 1 in 3 missing
    assert "ok; " in completed.stdout  # the reconciliation summary against the trace file
    assert (tmp_path / "dqx-traces.jsonl").stat().st_size > 0


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("DQX_", "OTEL_"))}
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**environment, "PYTHONWARNINGS": "error::DeprecationWarning:dqx"},
    )
    assert completed.returncode == 0, completed.stderr
    return completed
