"""What :func:`dqx.diff.diff` returns: the changed, the lone, the counts, and the one
JSON form (:meth:`RunDiff.to_dict`, ``dqx diff --format json``, schema ``dqx.diff/1``)."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from dqx.common import DQXError
from dqx.records import AssertionRecord, RunRecord, Statement

__all__ = [
    "ALIGNS",
    "DIFF_SCHEMA",
    "RELATIVE_TOLERANCE",
    "Align",
    "AssertionChange",
    "MetricChange",
    "MetricValue",
    "RunDiff",
    "StatementChange",
    "UnknownRunError",
    "same_value",
]

#: Names the JSON document's shape; a change that breaks readers bumps the number.
DIFF_SCHEMA = "dqx.diff/1"

#: Values closer than this, relative to the larger, are the same value: what separates
#: them is float rounding (a parallel SUM adds in another order), not the data.
RELATIVE_TOLERANCE = 1e-12

#: How the two runs' metrics meet: ``identity`` (history's identity, the same date) or
#: ``run`` (kind, parameters, dataset and days before each run's date; tags aside).
Align: TypeAlias = Literal["identity", "run"]
ALIGNS: tuple[Align, ...] = ("identity", "run")


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
    """A metric only one of the two runs holds; ``lag`` is its days before that run's
    date (None for a run without a ``dq_run`` record)."""

    metric: str
    dataset: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    value: float | None
    origin: str
    lag: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "dataset": self.dataset,
            "yyyy_mm_dd": self.yyyy_mm_dd.isoformat(),
            "tags": self.tags,
            "lag": self.lag,
            "value": self.value,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class MetricChange:
    """One metric (same identity and date) whose value differs between the runs.

    ``absolute`` is ``b - a``; ``relative`` is that over ``|a|``. Both are None when
    either side is NULL or NaN, and ``relative`` also when ``a`` is zero or infinite.
    Date, tags and ``lag`` (days before the run's date) are run B's: with
    ``align="run"`` A's date is A's run date minus the same lag.
    """

    metric: str
    dataset: str
    yyyy_mm_dd: dt.date
    tags: dict[str, str]
    a: float | None
    b: float | None
    lag: int | None = None

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
            "lag": self.lag,
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
    #: How the metrics were paired (see :data:`Align`).
    align: Align
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
            "align": self.align,
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
