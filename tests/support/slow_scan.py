"""A real ``dqx run`` whose scan never ends by itself, for tests that stop it with signals.

The dataset is a view over ``range()`` of 10^12 rows in a DuckDB database file: the file
is a few hundred kilobytes and built in milliseconds, and no machine scans it before a
test is over, so a signal sent once the run says it is scanning always lands mid-query.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import duckdb

DAY = "2024-03-10"

CHECKS = """
from dqx import check


@check(name="Orders", severity="P1")
def orders(mp, ctx):
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price sane").is_gt(0)
"""


def endless_orders(directory: Path) -> str:
    """The ``--data`` location of a dataset of 10^12 rows, all dated :data:`DAY`."""
    path = directory / "endless.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"CREATE VIEW orders AS SELECT DATE '{DAY}' AS yyyy_mm_dd, "
            "(i % 9973)::DOUBLE AS price FROM range(1000000000000) t(i)"
        )
    return f"orders=duckdb:///{path}#orders"


def dqx_argv(*args: str) -> list[str]:
    """The installed ``dqx`` command (the one beside this Python) with ``args``."""
    return [str(Path(sys.executable).with_name("dqx")), *args]


def dqx_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without DQX_* and OTEL_* settings, wide enough not to wrap."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DQX_"))}
    return {**clean, "COLUMNS": "400", **(env or {})}


def dqx(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``dqx args``, run to its end."""
    return subprocess.run(
        dqx_argv(*args), cwd=cwd, env=dqx_env(env), capture_output=True, text=True, timeout=120
    )


def one_line(text: str) -> str:
    """Terminal output with its wrapping undone, for matching a sentence."""
    return " ".join(text.split())


def start_scanning(directory: Path, db_url: str, *extra: str) -> subprocess.Popen[str]:
    """``dqx run`` on the endless dataset, returned once it says it is scanning."""
    (directory / "checks.py").write_text(CHECKS)
    run = subprocess.Popen(
        dqx_argv(
            "run",
            "checks.py",
            "--data",
            endless_orders(directory),
            "--date",
            DAY,
            "--db",
            db_url,
            *extra,
        ),
        cwd=directory,
        env=dqx_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert run.stderr is not None
    # Not on a terminal, the CLI prints this line just before the statement goes out.
    seen = []
    for line in run.stderr:
        seen.append(line)
        if line.startswith("scanning dataset 'orders'"):
            time.sleep(0.5)  # well inside the query
            return run
    out, rest = run.communicate()
    raise AssertionError(f"dqx run ended before scanning: {''.join(seen)}{rest}{out}")
