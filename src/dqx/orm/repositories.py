"""MetricDB: every metric with its history, every run and its assertion results.

One class over any SQLAlchemy URL or Engine: SQLite by default (a file, or memory
for :class:`InMemoryMetricDB`), PostgreSQL in production. ``persist`` is the only
write path for metrics and writes a batch in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from sqlalchemy import (
    URL,
    ColumnElement,
    Engine,
    create_engine,
    delete,
    event,
    exists,
    func,
    insert,
    make_url,
    select,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from dqx.common import (
    InvalidExecutionIdError,
    StoreError,
    canonical_json,
    normalize_execution_id,
)
from dqx.orm.models import AssertionRow, MetricRow, RunRow
from dqx.orm.schema import ensure_schema
from dqx.records import AssertionRecord, Metric, Origin, RunRecord, metric_identity
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

# SQLite allows 32766 bound variables per statement; stay far below on every backend.
_CHUNK = 500
_BUSY_TIMEOUT_MS = 60_000
_HEX32 = re.compile(r"[0-9a-f]{32}")


def _metric_from_row(row: MetricRow) -> Metric:
    return Metric(
        kind=row.kind,
        parameters=dict(row.parameters),
        name=row.name,
        dataset=row.dataset,
        yyyy_mm_dd=row.yyyy_mm_dd,
        tags=dict(row.tags),
        value=row.value,
        execution_id=row.execution_id,
        origin=row.origin,
        source_execution_id=row.source_execution_id,
        suite=row.suite,
        id=row.id,
        created=row.created,
    )


def _run_from_row(row: RunRow) -> RunRecord:
    return RunRecord(
        execution_id=row.execution_id,
        suite=row.suite,
        yyyy_mm_dd=row.yyyy_mm_dd,
        tags=dict(row.tags),
        started=row.started,
        finished=row.finished,
        status=row.status,
        trace_sampled=row.trace_sampled,
        metric_count=row.metric_count,
        assertions_ok=row.assertions_ok,
        assertions_failed=row.assertions_failed,
        assertions_error=row.assertions_error,
    )


def _sqlite_engine(url: URL) -> Engine:
    in_memory = url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    if in_memory:
        # One connection shared by every session, or each would see its own empty database.
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" hook issue BEGIN itself, so writers can take the
        # write lock up front (BEGIN IMMEDIATE) instead of failing to upgrade later.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
            if not in_memory:
                _use_wal(cursor)
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get("dqx_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


def _use_wal(cursor: Any) -> None:
    # WAL lets readers run beside the one writer. The mode is stored in the file, so
    # only the first connection to a fresh file switches it; switching needs an
    # exclusive lock, which SQLite refuses at once (no busy wait) while a second
    # process opens the same fresh file: retry until it is in WAL mode.
    deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cursor.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _engine_for(url_or_engine: str | URL | Engine) -> Engine:
    if isinstance(url_or_engine, Engine):
        return url_or_engine
    if not isinstance(url_or_engine, str | URL) or not str(url_or_engine):
        raise StoreError(
            # Not the value itself: whatever it is, it may hold a password.
            f"MetricDB needs a database URL or an Engine, got {type(url_or_engine).__name__}"
        )
    try:
        url = make_url(url_or_engine)
        if url.drivername in ("postgresql", "postgres"):
            # dqx depends on psycopg 3, not SQLAlchemy's default psycopg2.
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite":
            return _sqlite_engine(url)
        return create_engine(url, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError, ValueError) as exc:
        raise StoreError(
            f"cannot open metric database {_hide_password(url_or_engine)}: "
            f"{type(exc).__name__}: {_scrub(str(exc), _secrets(url_or_engine))}"
        ) from None


class MetricDB:
    """The metric database: ``MetricDB("sqlite:///dqx.db")``, a PostgreSQL URL, or an Engine.

    Opening one touches nothing: the schema is created, or migrated, on first use.
    PostgreSQL URLs use psycopg 3 (``postgresql://`` is read as ``postgresql+psycopg://``).
    On SQLite files dqx turns on WAL and a busy timeout, so several processes can write
    to one file; an Engine passed in is used as it is.
    """

    def __init__(self, url_or_engine: str | URL | Engine) -> None:
        self._engine = _engine_for(url_or_engine)
        self._secrets = _secrets(self._engine.url)
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
        return self._engine.url.render_as_string(hide_password=True)

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
                ensure_schema(self._engine)
            self._schema_ready = True

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            first = _scrub(detail[0] if detail else "", self._secrets)
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
        rows = [_metric_row(metric, checked) for metric in metrics]
        if not rows:
            return 0
        with self._errors(f"persist {len(rows)} metrics"), self._session(write=True) as session:
            # One executemany: SQLite runs it as a prepared loop, psycopg 3 pipelines it.
            session.connection().execute(insert(MetricRow), rows)
        return len(rows)

    def record_run(self, run: RunRecord, assertions: Sequence[AssertionRecord] = ()) -> None:
        """Write or update a run's record and replace its assertion results."""
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
            session.execute(delete(RunRow).where(RunRow.yyyy_mm_dd < day))
            return int(getattr(deleted, "rowcount", 0) or 0)

    # -- reads ----------------------------------------------------------------------

    def latest(self, wanted: Iterable[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], Metric]:
        """The newest computed value of each (identity, date) pair that history holds.

        Values other runs took from history are copies and never count; neither do
        NULLs, which are no value to reuse.
        """
        pairs = set(wanted)
        if not pairs:
            return {}
        identities = sorted({identity for identity, _ in pairs})
        dates = sorted({day for _, day in pairs})
        found: dict[tuple[str, dt.date], Metric] = {}
        with self._errors("read metric history"), self._session(write=False) as session:
            for start in range(0, len(identities), _CHUNK):
                query = (
                    select(MetricRow)
                    .where(MetricRow.identity.in_(identities[start : start + _CHUNK]))
                    .where(MetricRow.yyyy_mm_dd.in_(dates))
                    .where(MetricRow.origin == "computed")
                    .where(MetricRow.value.is_not(None))
                    .order_by(MetricRow.created, MetricRow.id)
                )
                for row in session.scalars(query):
                    key = (row.identity, row.yyyy_mm_dd)
                    if key in pairs:
                        found[key] = _metric_from_row(row)
        return found

    def metrics_for_execution(self, execution_id: str) -> list[Metric]:
        """Every metric a run persisted, computed or taken from history."""
        return self.search(MetricRow.execution_id == normalize_execution_id(execution_id))

    def run(self, execution_id: str) -> RunRecord | None:
        execution_id = normalize_execution_id(execution_id)
        with self._errors(f"read run {execution_id}"), self._session(write=False) as session:
            row = session.get(RunRow, execution_id)
            return _run_from_row(row) if row is not None else None

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
            return [_run_from_row(row) for row in session.scalars(query)]

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
            return [
                AssertionRecord(
                    check=row.check,
                    assertion=row.assertion,
                    severity=row.severity,
                    status=row.status,
                    value=row.value,
                    message=row.message,
                    expression=row.expression,
                    bound=row.bound,
                )
                for row in session.scalars(query)
            ]

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
            query = query.where(*self._has_tags(tags))
        with self._errors("load metrics"), self._session(write=False) as session:
            return [_metric_from_row(row) for row in session.scalars(query)]

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
            return [_metric_from_row(row) for row in session.scalars(query)]

    def _has_tags(self, tags: Mapping[str, str]) -> list[ColumnElement[bool]]:
        # Tag keys are the user's: any character, quotes and non-ASCII included, which
        # JSON path expressions mangle. PostgreSQL compares JSONB by containment;
        # SQLite looks each pair up among the decoded pairs json_each yields.
        if self._engine.dialect.name == "postgresql":
            return [type_coerce(MetricRow.tags, JSONB).contains(dict(tags))]
        conditions: list[ColumnElement[bool]] = []
        for key, value in tags.items():
            pairs = func.json_each(MetricRow.tags).table_valued("key", "value")
            conditions.append(
                exists().select_from(pairs).where(pairs.c.key == key, pairs.c.value == value)
            )
        return conditions

    def load_table(self, **filters: Any) -> pa.Table:
        """:meth:`load` as a pyarrow Table, tags and parameters as JSON text."""
        import pyarrow as pa

        metrics = self.load(**filters)
        columns: dict[str, list[Any]] = {
            "execution_id": [m.execution_id for m in metrics],
            "suite": [m.suite for m in metrics],
            "yyyy_mm_dd": [m.yyyy_mm_dd for m in metrics],
            "dataset": [m.dataset for m in metrics],
            "name": [m.name for m in metrics],
            "kind": [m.kind for m in metrics],
            "value": [m.value for m in metrics],
            "origin": [m.origin for m in metrics],
            "source_execution_id": [m.source_execution_id for m in metrics],
            "tags": [canonical_json(m.tags) for m in metrics],
            "parameters": [canonical_json(m.parameters) for m in metrics],
            "id": [m.id for m in metrics],
            "created": [m.created for m in metrics],
        }
        schema = pa.schema(
            [
                ("execution_id", pa.string()),
                ("suite", pa.string()),
                ("yyyy_mm_dd", pa.date32()),
                ("dataset", pa.string()),
                ("name", pa.string()),
                ("kind", pa.string()),
                ("value", pa.float64()),
                ("origin", pa.string()),
                ("source_execution_id", pa.string()),
                ("tags", pa.string()),
                ("parameters", pa.string()),
                ("id", pa.string()),
                ("created", pa.timestamp("us")),
            ]
        )
        return pa.table(columns, schema=schema)

    def dispose(self) -> None:
        """Close the engine's connections."""
        self._engine.dispose()


class InMemoryMetricDB(MetricDB):
    """A MetricDB on in-memory SQLite: history lasts as long as the object."""

    def __init__(self) -> None:
        super().__init__("sqlite://")


def _hex_id(value: str, checked: dict[str, str]) -> str:
    known = checked.get(value)
    if known is None:
        known = checked[value] = normalize_execution_id(value)
    return known


def _metric_row(metric: Metric, checked: dict[str, str]) -> dict[str, Any]:
    def bad(problem: str) -> StoreError:
        return StoreError(
            f"cannot persist metric {getattr(metric, 'name', metric)!r} of dataset "
            f"{getattr(metric, 'dataset', '?')!r} for {getattr(metric, 'yyyy_mm_dd', '?')}: "
            f"{problem}"
        )

    if not isinstance(metric, Metric):
        raise bad(f"expected a Metric, got {type(metric).__name__}")
    day = metric.yyyy_mm_dd
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise bad(f"yyyy_mm_dd must be a datetime.date, got {day!r}")
    value = metric.value
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise bad(f"value must be a float or None, got {value!r}")
    if metric.origin not in ("computed", "history"):
        raise bad(f"origin must be 'computed' or 'history', got {metric.origin!r}")
    for key, tag in metric.tags.items():
        if not isinstance(key, str) or not isinstance(tag, str):
            raise bad(f"tags must map strings to strings, got {key!r}: {tag!r}")
    try:
        execution_id = _hex_id(metric.execution_id, checked)
        source = metric.source_execution_id
        source_execution_id = _hex_id(source, checked) if source is not None else None
        # A uuid4 hex, as Metric makes them; the dashed form is accepted too.
        metric_id = metric.id if _HEX32.fullmatch(metric.id) else uuid.UUID(metric.id).hex
    except (InvalidExecutionIdError, ValueError, TypeError, AttributeError) as exc:
        raise bad(str(exc)) from None
    return {
        "id": metric_id,
        "kind": metric.kind,
        "parameters": metric.parameters,
        "name": metric.name,
        "dataset": metric.dataset,
        "yyyy_mm_dd": day,
        "tags": metric.tags,
        "identity": metric.identity,
        "value": None if value is None else float(value),
        "execution_id": execution_id,
        "origin": metric.origin,
        "source_execution_id": source_execution_id,
        "suite": metric.suite,
        "created": metric.created,
    }


def _hide_password(url: str | URL) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "<unparseable database URL>"


def _secrets(url: str | URL) -> list[str]:
    """What must never be shown of a URL: its password as given and as URL-encoded."""
    try:
        password = make_url(url).password
    except (SQLAlchemyError, ValueError):
        # Unparseable, so no telling where the password is: hide the whole text.
        return [str(url)]
    if not password:
        return []
    password = str(password)
    return sorted({password, quote(password, safe=""), quote_plus(password)}, key=len)[::-1]


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
