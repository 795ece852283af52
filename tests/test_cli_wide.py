"""`dqx run` on a wide suite: past the display's row limit, the results table lists what
did not pass and one line counts the passes it left out; `--all` lists every row."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dqx.display import TABLE_ROWS
from tests.support.slow_scan import dqx, one_line

DAY = "2024-01-03"
# The assertions that do not pass: the status each ends in, its metric and comparison.
NOT_PASSING = {
    "too few rows": ("FAILURE", "mp.num_rows()", "is_gt(100)"),
    "price too high": ("FAILURE", "mp.maximum('price')", "is_lt(1)"),
    "rows per nothing": ("ERROR", "mp.num_rows() / (mp.num_rows() - mp.num_rows())", "is_gt(0)"),
    "rows week on week": ("SKIPPED", "mp.ext.week_over_week(mp.num_rows())", "is_lt(2)"),
}
STATUSES = {name: status for name, (status, _, _) in NOT_PASSING.items()}


def workspace(directory: Path, passes: int) -> list[str]:
    """A checks file of ``passes`` passing assertions and the four above; the args that run it."""
    lines = [
        "from dqx import check",
        "",
        "@check(name='Wide', severity='P1')",
        "def wide(mp, ctx):",
    ]
    lines += [
        f"    ctx.assert_that({metric}).where(name={name!r}).{comparison}"
        for name, (_, metric, comparison) in NOT_PASSING.items()
    ]
    lines += [
        f"    ctx.assert_that(mp.sum('price')).where(name='pass {i}').is_gt({-i})"
        for i in range(passes)
    ]
    (directory / "checks.py").write_text("\n".join(lines) + "\n")
    day = dt.date.fromisoformat(DAY)
    table = pa.table({"yyyy_mm_dd": pa.array([day] * 3, pa.date32()), "price": [1.5, 2.0, 4.0]})
    pq.write_table(table, directory / "orders.parquet")
    return ["run", "checks.py", "--data", "orders=orders.parquet", "--date", DAY]


def table_rows(stdout: str) -> dict[str, str]:
    """Each assertion row of the results table: its name, then its status."""
    rows = {}
    for line in stdout.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 4 and cells[3] == "Wide":
            rows[cells[4]] = cells[1]
    return rows


@pytest.mark.slow
def test_a_wide_run_lists_every_assertion_not_passing_and_counts_the_passes(
    tmp_path: Path,
) -> None:
    passes = TABLE_ROWS + 1 - len(NOT_PASSING)
    args = workspace(tmp_path, passes)

    wide = dqx(*args, "--db", "sqlite:///wide.db", cwd=tmp_path)
    assert wide.returncode == 1, wide.stderr
    assert table_rows(wide.stdout) == STATUSES
    summary = one_line(wide.stdout)
    assert (
        f"{passes} ok, 2 failed, 1 errors, 1 skipped (the {passes} ok not listed: more than "
        f"{TABLE_ROWS} assertions; --all lists them, --format json carries every result)"
    ) in summary

    everything = dqx(*args, "--db", "sqlite:///all.db", "--all", cwd=tmp_path)
    assert everything.returncode == 1, everything.stderr
    listed = table_rows(everything.stdout)
    assert listed == {**STATUSES, **{f"pass {i}": "OK" for i in range(passes)}}
    assert "not listed" not in everything.stdout

    # At the limit, the table is what it always was: every row, no count of left-outs.
    (tmp_path / "at-limit").mkdir()
    at_limit = dqx(
        *workspace(tmp_path / "at-limit", passes - 1),
        "--db",
        "sqlite:///a.db",
        cwd=tmp_path / "at-limit",
    )
    listed = table_rows(at_limit.stdout)
    assert len(listed) == TABLE_ROWS and listed["pass 0"] == "OK"
    assert re.search(
        rf"{passes - 1} ok, 2 failed, 1 errors, 1 skipped +execution id", at_limit.stdout
    )


def test_only_failures_and_all_together_are_a_usage_error(tmp_path: Path) -> None:
    args = workspace(tmp_path, 1)
    both = dqx(*args, "--only-failures", "--all", "--db", "sqlite:///x.db", cwd=tmp_path)
    assert both.returncode == 2
    assert "--only-failures and --all" in both.stderr
    assert not (tmp_path / "x.db").exists()
