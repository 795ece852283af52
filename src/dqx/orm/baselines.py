"""History as the suite reads it: the newest usable value of each metric and day, what a
missing one is missing for, and runs marked as bad baselines.

A value is usable history when a run computed it (copies a later run took from history
never count), it is not NULL, and its run is not marked bad. A mark is a row of
``dq_bad_run`` with who, when and why; clearing it fills in who, when and why too, so
the table keeps the whole story. Functions here take an open session: ``MetricDB``
owns sessions, errors and retries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dqx.orm.models import BadRunRow, MetricRow, RunRow
from dqx.orm.rows import bad_mark_from_row, metric_from_row
from dqx.records import BadRunMark, Metric, MissingHistory

__all__ = ["bad_marks", "clear_mark", "latest_values", "mark_bad", "missing_history"]

# SQLite allows 32766 bound variables per statement; stay far below on every backend.
_CHUNK = 500


def _bad_runs() -> Select[Any]:
    """The execution ids of the runs marked bad now."""
    return select(BadRunRow.execution_id).where(BadRunRow.cleared_at.is_(None))


def _usable() -> tuple[object, ...]:
    return (
        MetricRow.origin == "computed",
        MetricRow.value.is_not(None),
        MetricRow.execution_id.not_in(_bad_runs()),
    )


def latest_values(
    session: Session, pairs: Collection[tuple[str, dt.date]]
) -> dict[tuple[str, dt.date], Metric]:
    """The newest usable value of each (identity, date) pair."""
    identities = sorted({identity for identity, _ in pairs})
    dates = sorted({day for _, day in pairs})
    found: dict[tuple[str, dt.date], Metric] = {}
    for start in range(0, len(identities), _CHUNK):
        query = (
            select(MetricRow)
            .where(MetricRow.identity.in_(identities[start : start + _CHUNK]))
            .where(MetricRow.yyyy_mm_dd.in_(dates), *_usable())  # type: ignore[arg-type]
            .order_by(MetricRow.created, MetricRow.id)
        )
        for row in session.scalars(query):
            key = (row.identity, row.yyyy_mm_dd)
            if key in pairs:
                found[key] = metric_from_row(row)
    return found


def missing_history(session: Session, pairs: Collection[tuple[str, dt.date]]) -> MissingHistory:
    """Why history lacks these (identity, date) pairs: the first day each metric has a
    usable value (a day before it is warm-up, after it a gap), and the marks of the
    bad runs whose values were set aside."""
    identities = sorted({identity for identity, _ in pairs})
    dates = sorted({day for _, day in pairs})
    first_days: dict[str, dt.date] = {}
    bad: dict[tuple[str, dt.date], BadRunMark] = {}
    for start in range(0, len(identities), _CHUNK):
        chunk = identities[start : start + _CHUNK]
        first = (
            select(MetricRow.identity, func.min(MetricRow.yyyy_mm_dd))
            .where(MetricRow.identity.in_(chunk), *_usable())  # type: ignore[arg-type]
            .group_by(MetricRow.identity)
        )
        first_days.update({identity: day for identity, day in session.execute(first)})
        set_aside = (
            select(MetricRow.identity, MetricRow.yyyy_mm_dd, BadRunRow)
            .join(BadRunRow, BadRunRow.execution_id == MetricRow.execution_id)
            .where(
                MetricRow.identity.in_(chunk),
                MetricRow.yyyy_mm_dd.in_(dates),
                MetricRow.origin == "computed",
                BadRunRow.cleared_at.is_(None),
            )
            .order_by(BadRunRow.marked_at, BadRunRow.id)
        )
        for identity, day, mark in session.execute(set_aside):
            if (identity, day) in pairs:
                bad[(identity, day)] = bad_mark_from_row(mark)
    return MissingHistory(first_days, bad)


def _active(session: Session, execution_id: str) -> BadRunRow | None:
    query = select(BadRunRow).where(
        BadRunRow.execution_id == execution_id, BadRunRow.cleared_at.is_(None)
    )
    return session.scalars(query.order_by(BadRunRow.id)).first()


def known_run(session: Session, execution_id: str) -> bool:
    """Whether the store has the run's record or any of its metrics."""
    if session.get(RunRow, execution_id) is not None:
        return True
    query = select(MetricRow.id).where(MetricRow.execution_id == execution_id).limit(1)
    return session.scalars(query).first() is not None


def mark_bad(
    session: Session, execution_id: str, reason: str, by: str, now: dt.datetime
) -> tuple[BadRunMark, bool]:
    """Mark the run bad; the mark, and whether it is new (a run already marked keeps
    its first mark)."""
    standing = _active(session, execution_id)
    if standing is not None:
        return bad_mark_from_row(standing), False
    row = BadRunRow(execution_id=execution_id, reason=reason, marked_by=by, marked_at=now)
    session.add(row)
    session.flush()
    return bad_mark_from_row(row), True


def clear_mark(
    session: Session, execution_id: str, reason: str | None, by: str, now: dt.datetime
) -> BadRunMark | None:
    """Clear the run's standing mark; the cleared mark, or None when it had none."""
    standing = _active(session, execution_id)
    if standing is None:
        return None
    standing.cleared_by, standing.cleared_at, standing.cleared_reason = by, now, reason
    session.flush()
    return bad_mark_from_row(standing)


def bad_marks(
    session: Session, execution_ids: Sequence[str] | None = None, *, include_cleared: bool
) -> list[BadRunMark]:
    """Marks, oldest first: standing ones, or every one ever made."""
    query = select(BadRunRow).order_by(BadRunRow.marked_at, BadRunRow.id)
    if execution_ids is not None:
        query = query.where(BadRunRow.execution_id.in_(list(execution_ids)))
    if not include_cleared:
        query = query.where(BadRunRow.cleared_at.is_(None))
    return [bad_mark_from_row(row) for row in session.scalars(query)]
