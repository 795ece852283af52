"""MetricDB: every metric with its history, every run and its assertion results.

One class over any SQLAlchemy URL or Engine: SQLite by default (a file, or memory
for :class:`InMemoryMetricDB`), PostgreSQL in production. ``persist`` is the only
write path for metrics and writes a batch in one transaction.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    ColumnElement,
    Engine,
    delete,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

import dqx.orm.baselines as baselines
from dqx.common import (
    StoreError,
    normalize_execution_id,
)
from dqx.orm.engines import engine_for, secrets_of
from dqx.orm.models import AssertionRow, MetricRow, RunRow, StatementRow
from dqx.orm.rows import (
    StoredValue,
    assertion_from_row,
    has_tags,
    metric_from_row,
    metric_row,
    metrics_table,
    run_from_row,
    statement_rows,
    statements_of,
    stored_values,
)
from dqx.orm.schema import ensure_schema
from dqx.records import (
    AssertionRecord,
    BadRunMark,
    Metric,
    MissingHistory,
    Origin,
    RunRecord,
    Statement,
    metric_identity,
)
from dqx.redaction import redact
from dqx.runlog import get_logger

if TYPE_CHECKING:
    import pyarrow as pa

# Metric, RunRecord and AssertionRecord are defined in dqx.records and re-exported
# here, where users of the store look for them; MetricRow holds the columns that
# search() criteria are written over.
__all__ = [
    "AssertionRecord",
    "InMemoryMetricDB",
    "Metric",
    "MetricDB",
    "MetricRow",
    "RunRecord",
    "metric_identity",
]

# Records logged during a run carry its execution id.
log = get_logger(__name__)

#: A run still "running" this long after it started is taken for dead (reap_stale).
STALE_AFTER = dt.timedelta(hours=6)
# A metric write that timed out waiting for a lock is tried this often in all.
_WRITE_ATTEMPTS = 3
_WRITE_BACKOFF = 0.5
# What PostgreSQL and SQLite say when a statement gave up waiting for another's lock.
_WAIT_MARKERS = (
    "lock timeout",
    "canceling statement due to lock timeout",
    "deadlock detected",
    "could not serialize",
    "database is locked",
)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _marking(execution_id: str, reason: str | None, by: str | None) -> tuple[str, str, str]:
    """A mark's run, reason and author (default: the login name), checked."""
    if reason is not None and (not isinstance(reason, str) or "\x00" in reason):
        raise StoreError(f"a mark's reason must be text without NUL, got {reason!r}")
    if not by:
        import getpass

        try:
            by = getpass.getuser()
        except (OSError, KeyError):
            by = "unknown"
    return normalize_execution_id(execution_id), (reason or "").strip(), by


def _waited(exc: StoreError) -> bool:
    cause = exc.__cause__
    code = getattr(getattr(cause, "orig", None), "sqlstate", None)
    if code in ("55P03", "40P01", "40001"):
        return True
    return any(marker in str(exc).lower() for marker in _WAIT_MARKERS)


class MetricDB:
    """The metric database: ``MetricDB("sqlite:///dqx.db")``, a PostgreSQL URL, or an Engine.

    Opening one touches nothing: the schema is created, or migrated, on first use.
    PostgreSQL URLs use psycopg 3 (``postgresql://`` is read as ``postgresql+psycopg://``).
    On SQLite files dqx turns on WAL and a busy timeout, so several processes can write
    to one file; an Engine passed in is used as it is.

    On PostgreSQL, ``schema="dq"`` keeps dqx's tables (and its migration history) in
    that schema, created if missing; ``timeout`` (seconds, default 30) bounds how long
    a statement waits for a lock another connection holds (``lock_timeout``; the
    ``statement_timeout`` is ten times it). A write that times out is retried with
    backoff, then fails with a StoreError naming the wait.
    """

    def __init__(
        self,
        url_or_engine: str | URL | Engine,
        *,
        schema: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if schema is not None and (not isinstance(schema, str) or not schema.strip()):
            raise StoreError(f"MetricDB(..., schema=...) needs a schema name, got {schema!r}")
        self._engine = engine_for(url_or_engine, schema=schema, timeout=timeout)
        self._schema = schema
        self._secrets = secrets_of(self._engine.url)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        # An in-memory database is one connection; sessions of several threads on it
        # would interleave their transactions.
        self._serial: threading.RLock | None = (
            threading.RLock() if isinstance(self._engine.pool, StaticPool) else None
        )

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return redact(self._engine.url.render_as_string(hide_password=True), self._secrets)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def ensure_schema(self) -> None:
        """Create or migrate the schema now rather than on first use."""
        if self._schema_ready:
            return
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._errors("create or migrate its schema"):
                if self._schema is not None:
                    self._create_schema(self._schema)
                ensure_schema(self._engine)
            self._schema_ready = True

    def _create_schema(self, schema: str) -> None:
        quoted = self._engine.dialect.identifier_preparer.quote(schema)
        with self._engine.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
            connection.commit()

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            first = redact(detail[0] if detail else "", self._secrets)
            raise StoreError(
                f"metric database {self.url} could not {doing}: {type(exc).__name__}: {first}"
            ) from exc

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        self.ensure_schema()
        with self._serial or nullcontext():
            connection = self._engine.connect().execution_options(dqx_write=write)
            try:
                with Session(bind=connection) as session, session.begin():
                    yield session
            finally:
                connection.close()

    # -- writes ---------------------------------------------------------------------

    def persist(self, metrics: Iterable[Metric]) -> int:
        """Write metrics in one transaction; all or none. Returns how many were written.

        A metric that cannot be stored (a bad date, execution id or origin) raises
        :class:`StoreError` naming it before anything is written.
        """
        # Most of a batch shares one execution id: check each distinct id once.
        checked: dict[str, str] = {}
        rows = [metric_row(metric, checked) for metric in metrics]
        if not rows:
            return 0
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with (
                    self._errors(f"persist {len(rows)} metrics"),
                    self._session(write=True) as session,
                ):
                    # One executemany: SQLite runs it as a prepared loop, psycopg 3
                    # pipelines it.
                    session.connection().execute(insert(MetricRow), rows)
                return len(rows)
            except StoreError as exc:
                if attempt == _WRITE_ATTEMPTS or not _waited(exc):
                    raise
                delay = _WRITE_BACKOFF * 2 ** (attempt - 1)
                log.warning(
                    "persisting %d metrics waited too long for a lock (attempt %d of %d); "
                    "retrying in %.1fs: %s",
                    len(rows),
                    attempt,
                    _WRITE_ATTEMPTS,
                    delay,
                    exc,
                )
                time.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def record_run(
        self,
        run: RunRecord,
        assertions: Sequence[AssertionRecord] = (),
        statements: Sequence[Statement] = (),
    ) -> None:
        """Write or update a run's record, replacing its assertion results and, when
        ``statements`` are given, the SQL statements it executed."""
        execution_id = normalize_execution_id(run.execution_id)
        row = {**asdict(run), "execution_id": execution_id}
        with self._errors(f"record run {execution_id}"), self._session(write=True) as session:
            session.merge(RunRow(**row))
            session.execute(delete(AssertionRow).where(AssertionRow.execution_id == execution_id))
            if assertions:
                session.connection().execute(
                    insert(AssertionRow),
                    [{"execution_id": execution_id, **asdict(a)} for a in assertions],
                )
            if statements:
                ran = StatementRow.execution_id == execution_id
                session.execute(delete(StatementRow).where(ran))
                rows = statement_rows(execution_id, statements)
                session.connection().execute(insert(StatementRow), rows)

    def reap_stale(self, older_than: dt.timedelta = STALE_AFTER) -> list[RunRecord]:
        """Record runs still ``running`` after ``older_than`` as ``interrupted``.

        A process killed outright (SIGKILL, a lost machine) cannot finish its record;
        this says so, with the reason, instead of leaving it running forever. Returns
        the runs it changed.
        """
        if not isinstance(older_than, dt.timedelta) or older_than <= dt.timedelta(0):
            raise StoreError(f"reap_stale needs a positive timedelta, got {older_than!r}")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        cutoff = now - older_than
        message = (
            f"reaped as stale: still running more than {older_than} after it started; its process "
            "ended without recording how the run finished"
        )
        stale = (RunRow.status == "running") & (RunRow.started < cutoff)
        with self._errors("reap stale runs"), self._session(write=True) as session:
            rows = list(session.scalars(select(RunRow).where(stale)))
            for row in rows:
                row.status, row.finished, row.message = "interrupted", now, message
            return [run_from_row(row) for row in rows]

    def record_trace_export(self, execution_id: str, exported: bool) -> bool:
        """Set ``dq_run.trace_exported`` alone, once the application has flushed the run's
        spans and knows whether they arrived; False when no run has that id."""
        execution_id = normalize_execution_id(execution_id)
        change = update(RunRow).where(RunRow.execution_id == execution_id)
        with self._errors(f"record run {execution_id}'s export"), self._session(write=True) as s:
            return bool(getattr(s.execute(change.values(trace_exported=exported)), "rowcount", 0))

    def delete_before(self, day: dt.date) -> int:
        """Delete metrics dated before ``day``, and runs about dates before it with their
        assertion results. Returns how many metrics were deleted. Nothing expires unless
        this is called."""
        if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
            raise StoreError(f"delete_before needs a datetime.date, got {day!r}")
        with self._errors(f"delete metrics before {day}"), self._session(write=True) as session:
            deleted = session.execute(delete(MetricRow).where(MetricRow.yyyy_mm_dd < day))
            old_runs = select(RunRow.execution_id).where(RunRow.yyyy_mm_dd < day)
            session.execute(delete(AssertionRow).where(AssertionRow.execution_id.in_(old_runs)))
            session.execute(delete(StatementRow).where(StatementRow.execution_id.in_(old_runs)))
            session.execute(delete(RunRow).where(RunRow.yyyy_mm_dd < day))
            return int(getattr(deleted, "rowcount", 0) or 0)

    # -- reads ----------------------------------------------------------------------

    def latest(self, wanted: Iterable[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], Metric]:
        """The newest computed value of each (identity, date) pair that history holds.

        Values other runs took from history are copies and never count; neither do
        NULLs, which are no value to reuse, nor values of runs marked bad.
        """
        pairs = set(wanted)
        if not pairs:
            return {}
        with self._errors("read metric history"), self._session(write=False) as session:
            return baselines.latest_values(session, pairs)

    def missing_history(self, wanted: Iterable[tuple[str, dt.date]]) -> MissingHistory:
        """Why history lacks these (identity, date) pairs: each metric's first usable
        day (before it: warm-up; after it: a gap) and the bad marks setting values aside."""
        pairs = set(wanted)
        if not pairs:
            return MissingHistory()
        with self._errors("read metric history"), self._session(write=False) as session:
            return baselines.missing_history(session, pairs)

    def metrics_for_execution(self, execution_id: str) -> list[Metric]:
        """Every metric a run persisted, computed or taken from history."""
        return self.search(MetricRow.execution_id == normalize_execution_id(execution_id))

    def run(self, execution_id: str) -> RunRecord | None:
        execution_id = normalize_execution_id(execution_id)
        with self._errors(f"read run {execution_id}"), self._session(write=False) as session:
            row = session.get(RunRow, execution_id)
            return run_from_row(row) if row is not None else None

    def runs(
        self, *, suite: str | None = None, since: dt.date | None = None, limit: int = 100
    ) -> list[RunRecord]:
        """Runs, newest first."""
        query = select(RunRow).order_by(RunRow.started.desc()).limit(limit)
        if suite is not None:
            query = query.where(RunRow.suite == suite)
        if since is not None:
            query = query.where(RunRow.yyyy_mm_dd >= since)
        with self._errors("list runs"), self._session(write=False) as session:
            return [run_from_row(row) for row in session.scalars(query)]

    def assertions(self, execution_id: str) -> list[AssertionRecord]:
        execution_id = normalize_execution_id(execution_id)
        query = (
            select(AssertionRow)
            .where(AssertionRow.execution_id == execution_id)
            .order_by(AssertionRow.id)
        )
        with (
            self._errors(f"read assertions of run {execution_id}"),
            self._session(write=False) as session,
        ):
            return [assertion_from_row(row) for row in session.scalars(query)]

    def stored_values(
        self, ids: Iterable[str], since: dt.date, until: dt.date
    ) -> list[StoredValue]:
        """Every stored value of these metric identities between two dates, inclusive."""
        with self._errors("read metric history"), self._session(write=False) as session:
            return stored_values(session, sorted(set(ids)), since, until)

    def statements(self, execution_id: str) -> list[Statement]:
        """The SQL statements a run executed, in the order it ran them."""
        execution_id = normalize_execution_id(execution_id)
        with self._errors(f"read run {execution_id}'s SQL"), self._session(write=False) as session:
            return statements_of(session, execution_id)

    def load(
        self,
        *,
        suite: str | None = None,
        dataset: str | None = None,
        name: str | None = None,
        tags: Mapping[str, str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        execution_id: str | None = None,
        origin: Origin | None = None,
    ) -> list[Metric]:
        """Metrics matching every filter given, by date then name.

        ``tags`` matches metrics carrying at least those tag values; ``since`` and
        ``until`` are inclusive.
        """
        query = select(MetricRow).order_by(MetricRow.yyyy_mm_dd, MetricRow.name, MetricRow.created)
        if suite is not None:
            query = query.where(MetricRow.suite == suite)
        if dataset is not None:
            query = query.where(MetricRow.dataset == dataset)
        if name is not None:
            query = query.where(MetricRow.name == name)
        if since is not None:
            query = query.where(MetricRow.yyyy_mm_dd >= since)
        if until is not None:
            query = query.where(MetricRow.yyyy_mm_dd <= until)
        if execution_id is not None:
            query = query.where(MetricRow.execution_id == normalize_execution_id(execution_id))
        if origin is not None:
            query = query.where(MetricRow.origin == origin)
        if tags:
            query = query.where(*has_tags(self._engine.dialect.name, tags))
        with self._errors("load metrics"), self._session(write=False) as session:
            return [metric_from_row(row) for row in session.scalars(query)]

    def search(self, *criteria: ColumnElement[bool]) -> list[Metric]:
        """Metrics matching every criterion (AND), by date, name and dataset.

        Criteria are SQLAlchemy boolean expressions over the columns of
        :class:`~dqx.orm.models.MetricRow` (re-exported here), for example
        ``db.search(MetricRow.dataset == "sales", MetricRow.yyyy_mm_dd >= day)``.
        No criteria returns every stored metric. Values compared with columns are
        bound as parameters by SQLAlchemy, never pasted into the SQL text.
        """
        for criterion in criteria:
            if not isinstance(criterion, ColumnElement):
                raise StoreError(
                    "search() takes SQLAlchemy expressions over MetricRow's columns, such "
                    f"as MetricRow.dataset == 'sales'; got {type(criterion).__name__} "
                    f"{criterion!r}"
                )
        query = (
            select(MetricRow)
            .where(*criteria)
            .order_by(MetricRow.yyyy_mm_dd, MetricRow.name, MetricRow.dataset, MetricRow.created)
        )
        with self._errors("search metrics"), self._session(write=False) as session:
            return [metric_from_row(row) for row in session.scalars(query)]

    def load_table(self, **filters: Any) -> pa.Table:
        """:meth:`load` as a pyarrow Table, tags and parameters as JSON text."""
        return metrics_table(self.load(**filters))

    # -- bad baselines ----------------------------------------------------------------

    def mark_bad(self, execution_id: str, reason: str, *, by: str | None = None) -> BadRunMark:
        """Mark a run as a bad baseline: from now on windows, lags and anomaly bands
        skip its computed metrics (a date-partitioned source recomputes that day; a
        snapshot's assertion is SKIPPED saying why). Recorded with ``by`` (default: the
        login name), the time and ``reason``; the run and its trace stay as they are.
        A run already marked keeps its first mark, which is returned."""
        execution_id, reason, who = _marking(execution_id, reason, by)
        with self._errors(f"mark run {execution_id} bad"), self._session(write=True) as session:
            if not baselines.known_run(session, execution_id):
                raise StoreError(f"no run {execution_id} in {self.url}: nothing to mark bad")
            mark, _ = baselines.mark_bad(session, execution_id, reason, who, _utcnow())
            return mark

    def unmark_bad(
        self, execution_id: str, reason: str | None = None, *, by: str | None = None
    ) -> BadRunMark | None:
        """Clear a run's bad mark (recorded: who, when, why); its metrics are history
        again. The cleared mark, or None when the run was not marked."""
        execution_id, reason, who = _marking(execution_id, reason, by)
        with self._errors(f"clear run {execution_id}'s mark"), self._session(write=True) as s:
            return baselines.clear_mark(s, execution_id, reason or None, who, _utcnow())

    def bad_runs(
        self, execution_ids: Sequence[str] | None = None, *, include_cleared: bool = False
    ) -> list[BadRunMark]:
        """Runs marked bad, oldest mark first (with ``include_cleared``, every mark ever
        made, cleared ones too); ``execution_ids`` narrows to those runs."""
        ids = None if execution_ids is None else [normalize_execution_id(i) for i in execution_ids]
        with self._errors("read bad baselines"), self._session(write=False) as session:
            return baselines.bad_marks(session, ids, include_cleared=include_cleared)

    def dispose(self) -> None:
        """Close the engine's connections."""
        self._engine.dispose()


class InMemoryMetricDB(MetricDB):
    """A MetricDB on in-memory SQLite: history lasts as long as the object."""

    def __init__(self) -> None:
        super().__init__("sqlite://")
