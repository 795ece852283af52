"""``dqx runs mark-bad ID`` and ``dqx runs unmark-bad ID``: bad baselines.

A run over bad data (a double load, a broken upstream) stays in the store and in its
trace as it happened; marking it bad only takes its computed metrics out of history,
so the windows, lags and anomaly bands of later runs do not learn from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from dqx.cli.errors import bad_news, dqx_errors
from dqx.cli.options import db_option, format_option
from dqx.cli.output import emit_json, say, stdout
from dqx.cli.wiring import load, open_db

if TYPE_CHECKING:
    from dqx.records import BadRunMark

__all__ = ["mark_bad_command", "unmark_bad_command"]


def _mark_document(mark: BadRunMark) -> dict[str, Any]:
    return {
        "execution_id": mark.execution_id,
        "reason": mark.reason,
        "marked_by": mark.marked_by,
        "marked_at": mark.marked_at.isoformat(),
        "cleared_by": mark.cleared_by,
        "cleared_at": mark.cleared_at.isoformat() if mark.cleared_at else None,
        "cleared_reason": mark.cleared_reason,
        "active": mark.active,
    }


@click.command("mark-bad")
@click.argument("execution_id")
@click.option("--reason", required=True, help="Why the run's metrics are not history.")
@click.option("--by", metavar="NAME", help="Who marks it (default: the login name).")
@db_option
@format_option("text", "json")
def mark_bad_command(
    execution_id: str, reason: str, by: str | None, db_url: str | None, fmt: str
) -> None:
    """Mark run EXECUTION_ID as a bad baseline: later runs' windows, lags and anomaly
    bands skip its computed metrics (a date-partitioned source recomputes that day;
    otherwise the assertion is SKIPPED, naming this mark). The run and its trace stay
    as they are; `dqx runs unmark-bad` reverses it. Marking a marked run keeps the
    first mark."""
    if not reason.strip():
        raise click.BadParameter("say why the run is bad", param_hint="--reason")
    db = open_db(load(db_url=db_url), must_exist=True)
    with dqx_errors():
        # An unknown run is bad news (exit 1), as for every command, not a store failure.
        if db.run(execution_id) is None and not db.load(execution_id=execution_id):
            bad_news(f"no run {execution_id} in {db.url}: nothing to mark bad")
        mark = db.mark_bad(execution_id, reason, by=by)
    if fmt == "json":
        emit_json(_mark_document(mark))
        return
    say(
        stdout(),
        f"run {mark.execution_id} is marked bad by {mark.marked_by} at "
        f"{mark.marked_at:%Y-%m-%d %H:%M:%S} UTC ({mark.reason}): windows, lags and "
        "anomaly bands of later runs skip its metrics; "
        f"`dqx runs unmark-bad {mark.execution_id}` reverses it",
    )


@click.command("unmark-bad")
@click.argument("execution_id")
@click.option("--reason", help="Why the run's metrics are history again.")
@click.option("--by", metavar="NAME", help="Who clears it (default: the login name).")
@db_option
@format_option("text", "json")
def unmark_bad_command(
    execution_id: str, reason: str | None, by: str | None, db_url: str | None, fmt: str
) -> None:
    """Clear run EXECUTION_ID's bad mark: its metrics are history again. The mark stays
    on record, with who cleared it, when and why. Exit 1 when the run was not marked."""
    db = open_db(load(db_url=db_url), must_exist=True)
    with dqx_errors():
        mark = db.unmark_bad(execution_id, reason, by=by)
    if mark is None:
        bad_news(f"run {execution_id} is not marked bad in {db.url}: nothing to clear")
    if fmt == "json":
        emit_json(_mark_document(mark))
        return
    say(
        stdout(),
        f"run {mark.execution_id}'s bad mark ({mark.reason}) is cleared by {mark.cleared_by}: "
        "its metrics are history again",
    )
