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
    completed = subprocess.run(
        [sys.executable, "-c", code.group(1)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONWARNINGS": "error::DeprecationWarning:dqx"},
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert any(line.startswith("Orders orders arrived OK") for line in lines), lines
    execution_id = lines[-1].rsplit(" ", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{32}", execution_id)
    assert (tmp_path / "dqx.db").exists()
