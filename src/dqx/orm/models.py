"""Tables of the metric database: dq_metric, dq_run, dq_assertion, dq_statement.

Types are said once on the base (JSON becomes JSONB on PostgreSQL, floats are
:class:`ExactDouble`, names users choose are unbounded text); constraint and index
names follow one convention so migrations diff cleanly on every backend.

Any change here needs a new revision in ``dqx/orm/migrations/versions``: the tests
compare the migrated schema with this metadata.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar, Literal

from sqlalchemy import BigInteger, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from dqx.orm.types import ExactDouble, JSONDocument

__all__ = [
    "AssertionRow",
    "BadRunRow",
    "Base",
    "MetricRow",
    "Origin",
    "RunRow",
    "StatementRow",
]

Origin = Literal["computed", "history"]

_NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONDocument(),
        dict[str, str]: JSONDocument(),
        float: ExactDouble(),
        # Suite, check, dataset and metric names are the user's: no length to outgrow.
        str: Text(),
    }


class MetricRow(Base):
    __tablename__ = "dq_metric"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]]
    name: Mapped[str]
    dataset: Mapped[str]
    yyyy_mm_dd: Mapped[dt.date]
    tags: Mapped[dict[str, str]]
    # sha256 of (kind, parameters, dataset, tags) in canonical form: history lookups
    # become one indexed equality on every backend, whatever order tags came in.
    identity: Mapped[str] = mapped_column(String(64))
    value: Mapped[float | None]
    execution_id: Mapped[str] = mapped_column(String(32))
    origin: Mapped[Origin] = mapped_column(String(16))
    source_execution_id: Mapped[str | None] = mapped_column(String(32))
    suite: Mapped[str | None]
    # Naive UTC everywhere: SQLite has no time zones, and one convention beats two.
    created: Mapped[dt.datetime]

    __table_args__ = (
        Index(None, "execution_id"),
        Index(None, "kind", "dataset", "yyyy_mm_dd"),
        Index(None, "identity", "yyyy_mm_dd"),
    )


class RunRow(Base):
    __tablename__ = "dq_run"

    execution_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    suite: Mapped[str]
    yyyy_mm_dd: Mapped[dt.date]
    tags: Mapped[dict[str, str]]
    started: Mapped[dt.datetime]
    finished: Mapped[dt.datetime | None]
    # One of dqx.records.RUN_STATUSES.
    status: Mapped[str] = mapped_column(String(16))
    trace_sampled: Mapped[bool | None]
    # False when the run's spans could not be exported; None when nobody checked.
    trace_exported: Mapped[bool | None]
    metric_count: Mapped[int]
    assertions_ok: Mapped[int]
    assertions_failed: Mapped[int]
    assertions_error: Mapped[int]
    # Why the run ended as it did, when that is not in its assertions.
    message: Mapped[str | None]
    # Assertions not judged: too little history yet, or a prerequisite did not pass.
    assertions_skipped: Mapped[int] = mapped_column(server_default="0")
    # A re-evaluation names the run whose stored metrics it judged.
    source_execution_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index(None, "suite", "yyyy_mm_dd"),)


class AssertionRow(Base):
    __tablename__ = "dq_assertion"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(32))
    check: Mapped[str]
    assertion: Mapped[str]
    severity: Mapped[str] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(8))
    value: Mapped[float | None]
    message: Mapped[str | None]
    expression: Mapped[str]
    bound: Mapped[str]
    # What an is_not_anomalous assertion's history expected, and its value's score.
    band_low: Mapped[float | None]
    band_high: Mapped[float | None]
    score: Mapped[float | None]

    __table_args__ = (Index(None, "execution_id"),)


class BadRunRow(Base):
    """A run marked as a bad baseline: its computed metrics are not history.

    The run, its metrics and its trace stay as they were; this row says who marked
    it, when and why, and once cleared, who cleared it, when and why. Marking again
    adds a row, so the table is the whole story of the run's standing.
    """

    __tablename__ = "dq_bad_run"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str]
    marked_by: Mapped[str]
    marked_at: Mapped[dt.datetime]
    cleared_by: Mapped[str | None]
    cleared_at: Mapped[dt.datetime | None]
    cleared_reason: Mapped[str | None]

    __table_args__ = (Index(None, "execution_id"),)


class StatementRow(Base):
    """One SQL statement a run executed, with the metrics it computed: the report
    shows the statement behind each failure without needing the run's trace."""

    __tablename__ = "dq_statement"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    execution_id: Mapped[str] = mapped_column(String(32))
    # The statement's place in the run, so the record reads back in the order it ran.
    position: Mapped[int]
    dataset: Mapped[str]
    sql: Mapped[str]
    params: Mapped[dict[str, Any]]
    # ISO dates and metric names as written: lists, so JSON like the other documents.
    dates: Mapped[list[str]] = mapped_column(JSONDocument())
    metrics: Mapped[list[str]] = mapped_column(JSONDocument())
    seconds: Mapped[float]
    rows_scanned: Mapped[int | None] = mapped_column(BigInteger())
    error: Mapped[str | None]

    __table_args__ = (Index(None, "execution_id"),)
