"""MetricDB: every metric with its history, every run and its assertion results.

One class over any SQLAlchemy URL or Engine: SQLite by default (a file, or memory
for :class:`InMemoryMetricDB`), PostgreSQL in production. ``persist`` is the only
write path for metrics and writes a batch in one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, delete, event, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from dqx.common import StoreError, canonical_json, normalize_execution_id
from dqx.orm.models import AssertionRow, MetricRow, Origin, RunRow
from dqx.orm.schema import ensure_schema

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "AssertionRecord",
    "InMemoryMetricDB",
    "Metric",
    "MetricDB",
    "RunRecord",
    "metric_identity",
]

log = logging.getLogger(__name__)

# SQLite allows 32766 bound variables per statement; stay far below on every backend.
_CHUNK = 500
_BUSY_TIMEOUT_MS = 60_000


def metric_identity(
    kind: str, parameters: Mapping[str, Any], dataset: str, tags: Mapping[str, str]
) -> str:
    """What makes two metric values the same metric on a date; the execution id is not in it."""
    text = canonical_json([kind, dict(parameters), dataset, dict(tags)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Metric:
    """One metric value as stored: computed by a run, or taken from history by it."""

    kind: str
    parameters: dict[str, Any]
    name: str
    dataset: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    value: float | None
    execution_id: str
    origin: Origin = "computed"
    source_execution_id: str | None = None
    suite: str | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: dt.datetime = field(default_factory=_utcnow)

    @property
    def identity(self) -> str:
        return metric_identity(self.kind, self.parameters, self.dataset, self.tags)

    def _row(self) -> dict[str, Any]:
        row = asdict(self)
        row["identity"] = self.identity
        return row

    @classmethod
    def _from_row(cls, row: MetricRow) -> Metric:
        return cls(
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


@dataclass(frozen=True)
class AssertionRecord:
    check: str
    assertion: str
    severity: str
    status: str
    value: float | None
    message: str | None
    expression: str
    bound: str


@dataclass(frozen=True)
class RunRecord:
    """One run of a suite, as ``dq_run`` keeps it."""

    execution_id: str
    suite: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    started: dt.datetime
    finished: dt.datetime | None
    status: str
    trace_sampled: bool | None
    metric_count: int
    assertions_ok: int = 0
    assertions_failed: int = 0
    assertions_error: int = 0

    @classmethod
    def _from_row(cls, row: RunRow) -> RunRecord:
        return cls(
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


def _sqlite_engine(url: str) -> Engine:
    in_memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
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
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        writing = connection.get_execution_options().get("dqx_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")

    return engine


class MetricDB:
    """The metric database. ``MetricDB("sqlite:///dqx.db")`` or a PostgreSQL URL/Engine."""

    def __init__(self, url_or_engine: str | Engine) -> None:
        if isinstance(url_or_engine, Engine):
            self._engine = url_or_engine
        elif isinstance(url_or_engine, str) and url_or_engine:
            try:
                if url_or_engine.startswith("sqlite"):
                    self._engine = _sqlite_engine(url_or_engine)
                else:
                    self._engine = create_engine(url_or_engine, pool_pre_ping=True)
            except (SQLAlchemyError, ImportError, ValueError) as exc:
                raise StoreError(
                    f"cannot open metric database {_hide_password(url_or_engine)}: "
                    f"{type(exc).__name__}: {_hide_in_text(str(exc), url_or_engine)}"
                ) from None
        else:
            raise StoreError(f"MetricDB needs a database URL or an Engine, got {url_or_engine!r}")
        with self._errors("create the schema"):
            ensure_schema(self._engine)

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with any password masked."""
        return self._engine.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreError(
                f"metric database {self.url} could not {doing}: "
                f"{type(exc).__name__}: {detail[0] if detail else ''}"
            ) from exc

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        connection = self._engine.connect().execution_options(dqx_write=write)
        try:
            with Session(bind=connection) as session, session.begin():
                yield session
        finally:
            connection.close()

    # -- writes ---------------------------------------------------------------------

    def persist(self, metrics: Iterable[Metric]) -> int:
        """Write metrics in one transaction; all or none. Returns how many were written."""
        rows = [metric._row() for metric in metrics]
        if not rows:
            return 0
        with self._errors(f"persist {len(rows)} metrics"), self._session(write=True) as session:
            session.execute(insert(MetricRow), rows)
        return len(rows)

    def record_run(self, run: RunRecord, assertions: Sequence[AssertionRecord] = ()) -> None:
        """Write or update a run's record and replace its assertion results."""
        with self._errors(f"record run {run.execution_id}"), self._session(write=True) as session:
            session.merge(RunRow(**asdict(run)))
            session.execute(
                delete(AssertionRow).where(AssertionRow.execution_id == run.execution_id)
            )
            if assertions:
                session.execute(
                    insert(AssertionRow),
                    [{"execution_id": run.execution_id, **asdict(a)} for a in assertions],
                )

    def delete_before(self, day: dt.date) -> int:
        """Delete metrics dated before ``day`` and runs about dates before it."""
        with self._errors(f"delete metrics before {day}"), self._session(write=True) as session:
            deleted = session.execute(delete(MetricRow).where(MetricRow.yyyy_mm_dd < day))
            old_runs = select(RunRow.execution_id).where(RunRow.yyyy_mm_dd < day)
            session.execute(delete(AssertionRow).where(AssertionRow.execution_id.in_(old_runs)))
            session.execute(delete(RunRow).where(RunRow.yyyy_mm_dd < day))
            return int(getattr(deleted, "rowcount", 0) or 0)

    # -- reads ----------------------------------------------------------------------

    def latest(self, wanted: Iterable[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], Metric]:
        """The newest computed value of each (identity, date) pair that history holds."""
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
                    .order_by(MetricRow.created)
                )
                for row in session.scalars(query):
                    key = (row.identity, row.yyyy_mm_dd)
                    if key in pairs:
                        found[key] = Metric._from_row(row)
        return found

    def metrics_for_execution(self, execution_id: str) -> list[Metric]:
        """Every metric a run persisted, computed or taken from history."""
        execution_id = normalize_execution_id(execution_id)
        with (
            self._errors(f"read metrics of run {execution_id}"),
            self._session(write=False) as session,
        ):
            rows = session.scalars(select(MetricRow).where(MetricRow.execution_id == execution_id))
            return [Metric._from_row(row) for row in rows]

    def run(self, execution_id: str) -> RunRecord | None:
        execution_id = normalize_execution_id(execution_id)
        with self._errors(f"read run {execution_id}"), self._session(write=False) as session:
            row = session.get(RunRow, execution_id)
            return RunRecord._from_row(row) if row is not None else None

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
            return [RunRecord._from_row(row) for row in session.scalars(query)]

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
        for key, value in (tags or {}).items():
            query = query.where(MetricRow.tags[key].as_string() == value)
        with self._errors("load metrics"), self._session(write=False) as session:
            return [Metric._from_row(row) for row in session.scalars(query)]

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


def _hide_password(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return "<unparseable database URL>"


def _hide_in_text(text: str, url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        password = make_url(url).password
    except (SQLAlchemyError, ValueError):
        return text.replace(url, "<database URL>")
    return text.replace(str(password), "***") if password else text
