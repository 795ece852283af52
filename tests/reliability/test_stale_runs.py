"""A process killed outright cannot record how its run ended: ``dqx runs`` shows such a
run as stale once it has been running too long, and ``--reap`` records it as interrupted,
saying why.

The run is a real ``dqx run`` killed with SIGKILL mid-scan; ``dqx runs`` is invoked in
this process (click's runner), where it starts in milliseconds, not seconds.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from click.testing import CliRunner, Result

from dqx.cli.runs import runs_command
from tests.support.slow_scan import one_line, start_scanning


def _runs(*args: str) -> Result:
    # The command itself, not the `dqx` group, whose set-up owns the root logger.
    return CliRunner().invoke(runs_command, list(args), env={"COLUMNS": "400"})


def _listed(store_url: str, *flags: str) -> tuple[dict[str, object], str]:
    """The one run ``dqx runs --format json`` lists, and what it said on stderr."""
    runs = _runs("--db", store_url, "--format", "json", *flags)
    assert runs.exit_code == 0, runs.output
    [row] = json.loads(runs.stdout)
    return row, one_line(runs.stderr)


def test_a_run_whose_process_was_killed_shows_as_stale_and_is_reaped_as_interrupted(
    store_url: str, tmp_path: Path
) -> None:
    run = start_scanning(tmp_path, store_url)
    run.send_signal(signal.SIGKILL)  # no handler runs, no record is written
    run.communicate(timeout=30)
    assert run.returncode == -signal.SIGKILL
    time.sleep(1.2)  # older than the 1s this test calls stale

    # The record says running, as the dead process left it; by default (6h) it is not
    # stale yet, with --stale-after 1s it is, and the status itself is left as stored.
    row, _ = _listed(store_url)
    assert (row["status"], row["stale"], row["finished"]) == ("running", False, None)
    row, _ = _listed(store_url, "--stale-after", "1s")
    assert (row["status"], row["stale"]) == ("running", True)
    table = _runs("--db", store_url, "--stale-after", "1s")
    assert table.exit_code == 0, table.output
    [line] = [line for line in table.stdout.splitlines() if str(row["execution_id"]) in line]
    assert " stale " in line and "running" not in line

    # Reaping records it as interrupted, with the reason, and says what it did.
    row, said = _listed(store_url, "--stale-after", "1s", "--reap")
    assert said == (
        "reaped 1 run(s) still running more than 1s after they started, now recorded as "
        f"interrupted: {row['execution_id']} (checks)"
    )
    assert (row["status"], row["stale"]) == ("interrupted", False)
    assert row["finished"] is not None
    # The age is a lower bound: the run was found past it, not exactly that old.
    assert str(row["message"]).startswith("reaped as stale: still running more than 0:00:01 ")
    _, said = _listed(store_url, "--stale-after", "1s", "--reap")
    assert said == "no stale runs: none still running more than 1s after it started"


def test_stale_after_reads_minutes_hours_and_days_and_refuses_the_rest(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'dqx.db'}"
    (tmp_path / "dqx.db").touch()
    for good in ("90m", "6h", "2d", "1h30m"):
        listed = _runs("--db", db, "--stale-after", good)
        assert listed.exit_code == 0, listed.output
    for bad in ("6", "6x", "-1h", "0m", "h"):
        refused = _runs("--db", db, "--stale-after", bad)
        assert refused.exit_code == 2, refused.output
        assert "Invalid value for '--stale-after'" in refused.stderr
