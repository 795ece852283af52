"""What changed between two runs: metric values, assertion statuses, SQL statements.

:func:`diff` reads both runs' records from the metric store (``dq_metric``,
``dq_assertion``, ``dq_statement``) and pairs them up:

* metrics by identity and date (kind, parameters, dataset, user tags, day; the
  execution id is never part of it), so a lagged value one run took from history
  meets the value the other run computed for that day;
* assertions by check and assertion name (the n-th of a repeated name meets the
  n-th);
* statements by dataset and the set of metrics they compute; what is left of a
  dataset is paired by the most metrics in common, so a check that gained a metric
  shows its statement changed rather than one removed and one added.

Statuses are compared as the text the store holds, so statuses added later need no
change here. :meth:`RunDiff.to_dict` is the one JSON form (``dqx diff --format json``);
docs/cli.md documents it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from dqx.common import DQXError, identity_tags, normalize_execution_id
from dqx.orm.repositories import MetricDB
from dqx.records import AssertionRecord, Metric, RunRecord, Statement

__all__ = [
    "DIFF_SCHEMA",
    "RELATIVE_TOLERANCE",
    "AssertionChange",
    "MetricChange",
    "MetricValue",
    "RunDiff",
    "StatementChange",
    "UnknownRunError",
    "diff",
    "same_value",
]

#: Names the JSON document's shape; a change that breaks readers bumps the number.
DIFF_SCHEMA = "dqx.diff/1"

#: Values closer than this, relative to the larger, are the same value: what separates
#: them is float rounding (a parallel SUM adds in another order), not the data.
RELATIVE_TOLERANCE = 1e-12

T = TypeVar("T")


class UnknownRunError(DQXError, LookupError):
    """The store holds neither a run record nor a metric under this execution id."""

    def __init__(self, execution_id: str, where: str) -> None:
        super().__init__(
            f"no run {execution_id} in {where}: it has neither a run record nor metrics "
            "under that execution id (list runs with `dqx runs`)"
        )
        self.execution_id = execution_id


def same_value(a: float | None, b: float | None, rel_tol: float = RELATIVE_TOLERANCE) -> bool:
    """Whether two stored values are the same: NULL only equals NULL, NaN only NaN,
    numbers within ``rel_tol`` of the larger's magnitude."""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if a == b:
        return True
    return abs(a - b) <= rel_tol * max(abs(a), abs(b))


# -- the result -------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricValue:
    """A metric only one of the two runs holds."""

    metric: str
    dataset: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    value: float | None
    origin: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "dataset": self.dataset,
            "yyyy_mm_dd": self.yyyy_mm_dd.isoformat(),
            "tags": self.tags,
            "value": self.value,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class MetricChange:
    """One metric (same identity and date) whose value differs between the runs.

    ``absolute`` is ``b - a``; ``relative`` is that over ``|a|``. Both are None when
    either side is NULL or NaN, and ``relative`` also when ``a`` is zero or infinite.
    """

    metric: str
    dataset: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    a: float | None
    b: float | None

    @property
    def absolute(self) -> float | None:
        if self.a is None or self.b is None or math.isnan(self.a) or math.isnan(self.b):
            return None
        change = self.b - self.a
        return None if math.isnan(change) else change

    @property
    def relative(self) -> float | None:
        change, base = self.absolute, self.a
        if change is None or base is None or base == 0.0 or not math.isfinite(base):
            return None
        return change / abs(base)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "dataset": self.dataset,
            "yyyy_mm_dd": self.yyyy_mm_dd.isoformat(),
            "tags": self.tags,
            "a": self.a,
            "b": self.b,
            "absolute": self.absolute,
            "relative": self.relative,
        }


@dataclass(frozen=True)
class AssertionChange:
    """One assertion of both runs whose status differs; ``a`` and ``b`` are each run's
    record of it (status, value, message, expression, bound)."""

    a: AssertionRecord
    b: AssertionRecord

    @property
    def check(self) -> str:
        return self.b.check

    @property
    def assertion(self) -> str:
        return self.b.assertion

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "assertion": self.assertion,
            "severity": self.b.severity,
            "a": _assertion_side(self.a),
            "b": _assertion_side(self.b),
        }


def _assertion_side(record: AssertionRecord) -> dict[str, Any]:
    return {
        "status": record.status,
        "value": record.value,
        "message": record.message,
        "expression": record.expression,
        "bound": record.bound,
    }


def _assertion_dict(record: AssertionRecord) -> dict[str, Any]:
    return {
        "check": record.check,
        "assertion": record.assertion,
        "severity": record.severity,
        **_assertion_side(record),
    }


@dataclass(frozen=True)
class StatementChange:
    """A statement of each run over one dataset, paired, whose SQL text differs."""

    a: Statement
    b: Statement

    @property
    def dataset(self) -> str:
        return self.b.dataset

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "a": _statement_side(self.a), "b": _statement_side(self.b)}


def _statement_side(statement: Statement) -> dict[str, Any]:
    return {
        "metrics": list(statement.metrics),
        "dates": [day.isoformat() for day in statement.dates],
        "sql": statement.sql,
    }


def _statement_dict(statement: Statement) -> dict[str, Any]:
    return {"dataset": statement.dataset, **_statement_side(statement)}


@dataclass(frozen=True)
class RunDiff:
    """What differs from run ``a`` to run ``b``. Each list is sorted (metrics by date,
    name, dataset; assertions by check and name; statements by dataset)."""

    a: str
    b: str
    #: Each run's ``dq_run`` record; None for a run known only by its metrics.
    run_a: RunRecord | None
    run_b: RunRecord | None
    metrics_changed: list[MetricChange]
    metrics_only_in_a: list[MetricValue]
    metrics_only_in_b: list[MetricValue]
    #: How many metrics both runs hold with the same value.
    metrics_unchanged: int
    assertions_changed: list[AssertionChange]
    assertions_only_in_a: list[AssertionRecord]
    assertions_only_in_b: list[AssertionRecord]
    assertions_unchanged: int
    statements_changed: list[StatementChange]
    statements_only_in_a: list[Statement]
    statements_only_in_b: list[Statement]
    statements_unchanged: int

    @property
    def identical(self) -> bool:
        """Nothing differs: every metric, assertion status and statement text agrees."""
        return not any(self.counts().values())

    def counts(self) -> dict[str, int]:
        """How many differences of each kind, keyed as the JSON document's sections."""
        return {
            "metrics_changed": len(self.metrics_changed),
            "metrics_only_in_a": len(self.metrics_only_in_a),
            "metrics_only_in_b": len(self.metrics_only_in_b),
            "assertions_changed": len(self.assertions_changed),
            "assertions_only_in_a": len(self.assertions_only_in_a),
            "assertions_only_in_b": len(self.assertions_only_in_b),
            "statements_changed": len(self.statements_changed),
            "statements_only_in_a": len(self.statements_only_in_a),
            "statements_only_in_b": len(self.statements_only_in_b),
        }

    def to_dict(self) -> dict[str, Any]:
        """The JSON document ``dqx diff --format json`` prints (schema ``dqx.diff/1``);
        floats stay exact, NaN and infinities are left to the writer."""
        return {
            "schema": DIFF_SCHEMA,
            "a": _run_dict(self.a, self.run_a),
            "b": _run_dict(self.b, self.run_b),
            "identical": self.identical,
            "counts": self.counts(),
            "metrics": {
                "changed": [change.to_dict() for change in self.metrics_changed],
                "only_in_a": [value.to_dict() for value in self.metrics_only_in_a],
                "only_in_b": [value.to_dict() for value in self.metrics_only_in_b],
                "unchanged": self.metrics_unchanged,
            },
            "assertions": {
                "changed": [change.to_dict() for change in self.assertions_changed],
                "only_in_a": [_assertion_dict(r) for r in self.assertions_only_in_a],
                "only_in_b": [_assertion_dict(r) for r in self.assertions_only_in_b],
                "unchanged": self.assertions_unchanged,
            },
            "statements": {
                "changed": [change.to_dict() for change in self.statements_changed],
                "only_in_a": [_statement_dict(s) for s in self.statements_only_in_a],
                "only_in_b": [_statement_dict(s) for s in self.statements_only_in_b],
                "unchanged": self.statements_unchanged,
            },
        }


def _run_dict(execution_id: str, run: RunRecord | None) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "suite": run.suite if run else None,
        "yyyy_mm_dd": run.yyyy_mm_dd.isoformat() if run else None,
        "tags": run.tags if run else None,
        "status": run.status if run else None,
    }


# -- pairing ------------------------------------------------------------------------------


def _numbered(items: Iterable[T], key: Callable[[T], Hashable]) -> dict[tuple[Hashable, int], T]:
    """Items keyed by (key, occurrence): the n-th of a repeated key meets the n-th."""
    seen: dict[Hashable, int] = defaultdict(int)
    keyed: dict[tuple[Hashable, int], T] = {}
    for item in items:
        k = key(item)
        keyed[(k, seen[k])] = item
        seen[k] += 1
    return keyed


def _by_identity(metrics: Iterable[Metric]) -> dict[tuple[str, dt.date], Metric]:
    """A run's metrics by (identity, date). Should a run hold one twice, the value it
    computed wins over a copy it took from history."""
    found: dict[tuple[str, dt.date], Metric] = {}
    for metric in metrics:
        key = (metric.identity, metric.yyyy_mm_dd)
        held = found.get(key)
        if held is None or (held.origin != "computed" and metric.origin == "computed"):
            found[key] = metric
    return found


def _only(metric: Metric) -> MetricValue:
    return MetricValue(
        metric=metric.name,
        dataset=metric.dataset,
        yyyy_mm_dd=metric.yyyy_mm_dd,
        tags=identity_tags(metric.tags),
        value=metric.value,
        origin=metric.origin,
    )


def _metric_order(item: MetricValue | MetricChange) -> tuple[dt.date, str, str, str]:
    return (item.yyyy_mm_dd, item.metric, item.dataset, repr(sorted(item.tags.items())))


def _diff_metrics(
    a: Sequence[Metric], b: Sequence[Metric], rel_tol: float
) -> tuple[list[MetricChange], list[MetricValue], list[MetricValue], int]:
    left, right = _by_identity(a), _by_identity(b)
    changed: list[MetricChange] = []
    for key in left.keys() & right.keys():
        old, new = left[key], right[key]
        if not same_value(old.value, new.value, rel_tol):
            changed.append(
                MetricChange(
                    metric=new.name,
                    dataset=new.dataset,
                    yyyy_mm_dd=new.yyyy_mm_dd,
                    tags=identity_tags(new.tags),
                    a=old.value,
                    b=new.value,
                )
            )
    only_a = [_only(left[key]) for key in left.keys() - right.keys()]
    only_b = [_only(right[key]) for key in right.keys() - left.keys()]
    unchanged = len(left.keys() & right.keys()) - len(changed)
    return (
        sorted(changed, key=_metric_order),
        sorted(only_a, key=_metric_order),
        sorted(only_b, key=_metric_order),
        unchanged,
    )


def _diff_assertions(
    a: Sequence[AssertionRecord], b: Sequence[AssertionRecord]
) -> tuple[list[AssertionChange], list[AssertionRecord], list[AssertionRecord], int]:
    def name(record: AssertionRecord) -> tuple[str, str]:
        return (record.check, record.assertion)

    left, right = _numbered(a, name), _numbered(b, name)
    both = sorted(left.keys() & right.keys(), key=repr)
    changed = [
        AssertionChange(left[key], right[key])
        for key in both
        if left[key].status != right[key].status
    ]
    only_a = [left[key] for key in left.keys() - right.keys()]
    only_b = [right[key] for key in right.keys() - left.keys()]
    return (
        sorted(changed, key=lambda change: name(change.b)),
        sorted(only_a, key=name),
        sorted(only_b, key=name),
        len(both) - len(changed),
    )


def _pair_leftovers(
    a: list[Statement], b: list[Statement]
) -> tuple[list[tuple[Statement, Statement]], list[Statement], list[Statement]]:
    """Statements of one dataset that matched nothing exactly, paired by the most
    metrics in common (at least one); the rest stand alone."""
    pairs: list[tuple[Statement, Statement]] = []
    left, right = list(a), list(b)
    while left and right:
        overlap, i, j = max(
            (len(set(x.metrics) & set(y.metrics)), i, j)
            for i, x in enumerate(left)
            for j, y in enumerate(right)
        )
        if overlap == 0:
            break
        pairs.append((left.pop(i), right.pop(j)))
    return pairs, left, right


def _diff_statements(
    a: Sequence[Statement], b: Sequence[Statement]
) -> tuple[list[StatementChange], list[Statement], list[Statement], int]:
    def shape(statement: Statement) -> tuple[str, tuple[str, ...]]:
        return (statement.dataset, tuple(sorted(statement.metrics)))

    left, right = _numbered(a, shape), _numbered(b, shape)
    pairs = [(left[key], right[key]) for key in left.keys() & right.keys()]
    rest_a: dict[str, list[Statement]] = defaultdict(list)
    rest_b: dict[str, list[Statement]] = defaultdict(list)
    for key in left.keys() - right.keys():
        rest_a[left[key].dataset].append(left[key])
    for key in right.keys() - left.keys():
        rest_b[right[key].dataset].append(right[key])
    only_a: list[Statement] = []
    only_b: list[Statement] = []
    for dataset in sorted(rest_a.keys() | rest_b.keys()):
        paired, alone_a, alone_b = _pair_leftovers(rest_a[dataset], rest_b[dataset])
        pairs.extend(paired)
        only_a.extend(alone_a)
        only_b.extend(alone_b)
    changed = [StatementChange(x, y) for x, y in pairs if x.sql != y.sql]

    def order(statement: Statement) -> tuple[str, tuple[str, ...], str]:
        return (*shape(statement), statement.sql)

    return (
        sorted(changed, key=lambda change: order(change.b)),
        sorted(only_a, key=order),
        sorted(only_b, key=order),
        len(pairs) - len(changed),
    )


# -- diff ---------------------------------------------------------------------------------


def _records(
    db: MetricDB, execution_id: str
) -> tuple[RunRecord | None, list[Metric], list[AssertionRecord], list[Statement]]:
    run = db.run(execution_id)
    metrics = db.metrics_for_execution(execution_id)
    if run is None and not metrics:
        raise UnknownRunError(execution_id, db.url)
    return run, metrics, db.assertions(execution_id), db.statements(execution_id)


def diff(db: MetricDB, a: str, b: str, *, rel_tol: float = RELATIVE_TOLERANCE) -> RunDiff:
    """What changed from run ``a`` to run ``b``, both read from ``db``.

    Ids are taken in any form the other readers take (plain or dashed UUID, any case);
    a malformed one raises :class:`~dqx.common.InvalidExecutionIdError` (a ValueError),
    one the store does not know :class:`UnknownRunError` naming it. Two values are the
    same within ``rel_tol`` of the larger (default 1e-12: float rounding); pass 0.0
    to call any difference in the last bit a change.
    """
    if not isinstance(rel_tol, int | float) or not 0.0 <= rel_tol < 1.0 or math.isnan(rel_tol):
        raise ValueError(f"diff(..., rel_tol=...) takes a number in [0, 1), got {rel_tol!r}")
    a, b = normalize_execution_id(a), normalize_execution_id(b)
    run_a, metrics_a, assertions_a, statements_a = _records(db, a)
    run_b, metrics_b, assertions_b, statements_b = _records(db, b)
    m_changed, m_only_a, m_only_b, m_same = _diff_metrics(metrics_a, metrics_b, rel_tol)
    a_changed, a_only_a, a_only_b, a_same = _diff_assertions(assertions_a, assertions_b)
    s_changed, s_only_a, s_only_b, s_same = _diff_statements(statements_a, statements_b)
    return RunDiff(
        a=a,
        b=b,
        run_a=run_a,
        run_b=run_b,
        metrics_changed=m_changed,
        metrics_only_in_a=m_only_a,
        metrics_only_in_b=m_only_b,
        metrics_unchanged=m_same,
        assertions_changed=a_changed,
        assertions_only_in_a=a_only_a,
        assertions_only_in_b=a_only_b,
        assertions_unchanged=a_same,
        statements_changed=s_changed,
        statements_only_in_a=s_only_a,
        statements_only_in_b=s_only_b,
        statements_unchanged=s_same,
    )
