"""The records a run leaves behind, in one place for their writers and their readers.

A run produces metric values (:class:`Metric`), SQL statements (:class:`Statement`),
one run record (:class:`RunRecord`, a ``dq_run`` row) with one
:class:`AssertionRecord` per assertion, and the :class:`SuiteResult` that ``run()``
returns and plugins receive. The store, the suite, the trace readers, the CLI and
the alerts all use these types, so each format is defined exactly once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

from dqx.common import (
    SEVERITIES,
    AssertionResult,
    AssertionStatus,
    ResultKey,
    canonical_json,
    identity_tags,
    validate_severity,
)
from dqx.kinds import AnySpec, spec_from_parameters

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "ASSERTION_STATUSES",
    "PROBLEM_STATUSES",
    "RUN_STATUSES",
    "AssertionRecord",
    "BadRunMark",
    "HistoryDetails",
    "Metric",
    "MetricStore",
    "MissingHistory",
    "Origin",
    "RunRecord",
    "RunStatus",
    "Statement",
    "SuiteResult",
    "arrow_table",
    "count_statuses",
    "is_problem",
    "metric_identity",
    "severity_at_or_above",
]

#: Where a run's metric value came from: computed by it, or reused from history.
Origin: TypeAlias = Literal["computed", "history"]
ORIGINS: tuple[Origin, ...] = ("computed", "history")

#: ``running`` while it runs; ``passed`` (every assertion OK), ``failed`` (one was
#: not), ``persist_failed`` (its metrics are only in the trace), ``error`` (it broke
#: and raised to the caller) or ``interrupted`` (Ctrl-C, SIGTERM, or reaped as stale
#: after its process died).
RunStatus: TypeAlias = Literal[
    "running", "passed", "failed", "persist_failed", "error", "interrupted"
]
RUN_STATUSES: tuple[RunStatus, ...] = (
    "running",
    "passed",
    "failed",
    "persist_failed",
    "error",
    "interrupted",
)
ASSERTION_STATUSES: tuple[AssertionStatus, ...] = ("OK", "FAILURE", "ERROR", "SKIPPED")
#: What fails a run and pages: a bound violated or an assertion broken. ``SKIPPED``
#: (not evaluable yet, or a prerequisite did not pass) is neither.
PROBLEM_STATUSES: frozenset[str] = frozenset({"FAILURE", "ERROR"})


def is_problem(status: str) -> bool:
    """Whether an assertion with this status fails its run (and may page)."""
    return status in PROBLEM_STATUSES


def metric_identity(
    kind: str, parameters: Mapping[str, Any], dataset: str, tags: Mapping[str, str]
) -> str:
    """What makes two values the same metric on a date.

    Internal tags (``__execution_id``) are left out: a run must find the values other
    runs stored for the same metric, dataset and tags.
    """
    text = canonical_json([kind, dict(parameters), dataset, identity_tags(tags)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def severity_at_or_above(severity: str, limit: str) -> bool:
    """Whether ``severity`` is ``limit`` or more urgent (P0 is the most urgent).

    A severity dqx does not know (read from an old or foreign record) always counts.
    """
    bound = SEVERITIES.index(validate_severity(limit, where="the severity threshold"))
    known = severity if severity in SEVERITIES else None
    return known is None or SEVERITIES.index(known) <= bound


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Metric:
    """One metric value as stored: computed by a run, or taken from history by it.

    ``tags`` are the run's tags, ``__execution_id`` included; ``value`` is ``None``
    for SQL NULL.
    """

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

    def to_spec(self) -> AnySpec:
        """The metric's spec, rebuilt from its kind and parameters; ``.name`` is the
        name as written (``average(price)``)."""
        return spec_from_parameters(self.kind, self.parameters)


@dataclass(frozen=True)
class Statement:
    """One SQL statement a run executed, as a user or a span shows it."""

    dataset: str
    sql: str
    params: dict[str, Any]
    dates: tuple[dt.date, ...]
    metrics: tuple[str, ...]
    seconds: float
    rows_scanned: int | None = None
    #: "ExceptionType: first line of its message" when the engine failed.
    error: str | None = None
    #: The engine exception's type name, kept apart so spans need not parse ``error``.
    error_type: str | None = None


@dataclass(frozen=True)
class AssertionRecord:
    """One assertion's outcome as ``dq_assertion`` keeps it."""

    check: str
    assertion: str
    severity: str
    status: str
    value: float | None
    message: str | None
    expression: str
    bound: str
    #: The band an ``is_not_anomalous`` assertion's history expected, and the score.
    band_low: float | None = None
    band_high: float | None = None
    score: float | None = None

    @classmethod
    def of(cls, result: AssertionResult) -> AssertionRecord:
        low, high = result.band if result.band is not None else (None, None)
        return cls(
            check=result.check,
            assertion=result.assertion,
            severity=result.severity,
            status=result.status,
            value=result.number,
            message=result.message or None,
            expression=result.expression,
            bound=result.bound,
            band_low=low,
            band_high=high,
            score=result.score,
        )


@dataclass(frozen=True)
class RunRecord:
    """One run of a suite, as ``dq_run`` keeps it; ``tags`` are the user's tags."""

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
    #: False when the run's spans could not be exported; None when nobody checked.
    trace_exported: bool | None = None
    #: Why the run ended as it did (interrupted, reaped, a failed write), if known.
    message: str | None = None
    #: Assertions not judged (warm-up, a prerequisite that did not pass).
    assertions_skipped: int = 0
    #: A re-evaluation's original run: the run whose stored metrics it judged.
    source_execution_id: str | None = None

    def is_stale(self, older_than: dt.timedelta, now: dt.datetime | None = None) -> bool:
        """Still ``running`` ``older_than`` after it started: its process is taken for
        dead (``MetricDB.reap_stale`` records such runs as interrupted). Times are UTC."""
        now = now or _utcnow()
        return self.status == "running" and self.started < now - older_than

    @property
    def counts(self) -> dict[str, int]:
        return {
            "OK": self.assertions_ok,
            "FAILURE": self.assertions_failed,
            "ERROR": self.assertions_error,
            "SKIPPED": self.assertions_skipped,
        }


@dataclass(frozen=True)
class BadRunMark:
    """A run marked as a bad baseline: who marked it, when and why; once cleared, who
    cleared it, when and why. While it stands, history skips the run's computed
    metrics (windows, lags and anomaly bands); the run and its trace are untouched."""

    execution_id: str
    reason: str
    marked_by: str
    marked_at: dt.datetime
    cleared_by: str | None = None
    cleared_at: dt.datetime | None = None
    cleared_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.cleared_at is None


def count_statuses(results: Sequence[AssertionResult]) -> dict[str, int]:
    counts: dict[str, int] = dict.fromkeys(ASSERTION_STATUSES, 0)
    for result in results:
        counts[result.status] += 1
    return counts


@dataclass(frozen=True)
class SuiteResult:
    """What one run produced: ``run()`` returns it and every plugin receives it."""

    execution_id: str
    suite: str
    #: The key the run computed under: the caller's tags plus ``__execution_id``.
    key: ResultKey
    status: RunStatus
    results: list[AssertionResult]
    metrics: list[Metric]
    statements: list[Statement]
    trace_sampled: bool
    started: dt.datetime
    finished: dt.datetime
    persist_error: str | None = None
    #: For a re-evaluation: the run whose stored metrics it judged.
    source_execution_id: str | None = None

    @property
    def passed(self) -> bool:
        """No assertion failed or errored (skipped ones do not count against it)."""
        return not any(is_problem(result.status) for result in self.results)

    def counts(self) -> dict[str, int]:
        return count_statuses(self.results)

    def failed(self, at_or_above: str = "P3") -> list[AssertionResult]:
        """Results that failed or errored whose severity is ``at_or_above`` or more
        urgent (P0 is most); skipped ones never count."""
        return [
            result
            for result in self.results
            if is_problem(result.status) and severity_at_or_above(result.severity, at_or_above)
        ]

    def run_record(self) -> RunRecord:
        """The ``dq_run`` row this result makes."""
        counts = self.counts()
        return RunRecord(
            execution_id=self.execution_id,
            suite=self.suite,
            yyyy_mm_dd=self.key.yyyy_mm_dd,
            tags=self.key.identity_tags,
            started=self.started,
            finished=self.finished,
            status=self.status,
            trace_sampled=self.trace_sampled,
            metric_count=0 if self.persist_error else len(self.metrics),
            assertions_ok=counts["OK"],
            assertions_failed=counts["FAILURE"],
            assertions_error=counts["ERROR"],
            assertions_skipped=counts["SKIPPED"],
            source_execution_id=self.source_execution_id,
        )

    def assertion_records(self) -> list[AssertionRecord]:
        return [AssertionRecord.of(result) for result in self.results]


@runtime_checkable
class MetricStore(Protocol):
    """What a suite needs from a metric store; :class:`~dqx.orm.repositories.MetricDB`
    is one, and any object with these members can stand in for it."""

    @property
    def url(self) -> str:
        """Where the store is, for messages (never with a password)."""
        ...

    def latest(self, wanted: Iterable[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], Metric]:
        """The newest computed, non-NULL value of each (identity, date) pair stored,
        leaving out the values of runs marked as bad baselines."""
        ...

    def persist(self, metrics: Iterable[Metric]) -> int:
        """Write metrics in one transaction, all or none; raises StoreError."""
        ...

    def record_run(
        self,
        run: RunRecord,
        assertions: Sequence[AssertionRecord] = (),
        statements: Sequence[Statement] = (),
    ) -> None:
        """Write or replace a run's record, its assertion results and, when given,
        the SQL statements it executed."""
        ...


@dataclass(frozen=True)
class MissingHistory:
    """Why history lacks some (identity, date) pairs."""

    #: The first day each metric identity has a usable value: a missing day before it
    #: is history not there yet (warm-up), after it a gap.
    first_days: Mapping[str, dt.date] = field(default_factory=dict)
    #: The pairs whose value a run marked bad holds, with that mark.
    bad: Mapping[tuple[str, dt.date], BadRunMark] = field(default_factory=dict)


@runtime_checkable
class HistoryDetails(Protocol):
    """A store that can say why history lacks a value (MetricDB can). With one, a
    missing lagged value is told apart as warm-up, a bad baseline or a gap; without
    one, every missing value is an ERROR."""

    def missing_history(self, wanted: Iterable[tuple[str, dt.date]]) -> MissingHistory: ...


# -- as Arrow tables ----------------------------------------------------------------------

#: Every column any of dqx's Arrow tables has, with its one type: the stored metrics
#: (``MetricDB.load_table``), a run's metrics read back (``metrics_table``) and a
#: reconciliation (``Reconciliation.to_arrow``) share names and types through it.
ARROW_TYPES: dict[str, str] = {
    "execution_id": "string",
    "suite": "string",
    "status": "string",
    "id": "string",
    "name": "string",
    "metric": "string",
    "kind": "string",
    "dataset": "string",
    "yyyy_mm_dd": "date32",
    "value": "float64",
    "db_value": "float64",
    "trace_value": "float64",
    "error": "string",
    "origin": "string",
    "source_execution_id": "string",
    "differs": "string",
    "tags": "string",
    "parameters": "string",
    "created": "timestamp[us]",
}


def arrow_table(columns: Mapping[str, Sequence[Any]]) -> pa.Table:
    """A pyarrow Table of ``columns`` (names from :data:`ARROW_TYPES`), in that order."""
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "date32": pa.date32(),
        "float64": pa.float64(),
        "timestamp[us]": pa.timestamp("us"),
    }
    schema = pa.schema([(name, types[ARROW_TYPES[name]]) for name in columns])
    return pa.table(dict(columns), schema=schema)
