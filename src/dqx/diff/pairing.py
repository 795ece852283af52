"""Pairing two runs' records: metrics by place, assertions by name, statements by
dataset and metrics (see :mod:`dqx.diff`)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from dqx.common import canonical_json, identity_tags
from dqx.diff.result import (
    Align,
    AssertionChange,
    MetricChange,
    MetricValue,
    StatementChange,
    same_value,
)
from dqx.records import AssertionRecord, Metric, RunRecord, Statement

__all__ = ["diff_assertions", "diff_metrics", "diff_statements"]

T = TypeVar("T")


def _numbered(items: Iterable[T], key: Callable[[T], Hashable]) -> dict[tuple[Hashable, int], T]:
    """Items keyed by (key, occurrence): the n-th of a repeated key meets the n-th."""
    seen: dict[Hashable, int] = defaultdict(int)
    keyed: dict[tuple[Hashable, int], T] = {}
    for item in items:
        k = key(item)
        keyed[(k, seen[k])] = item
        seen[k] += 1
    return keyed


def _lag(metric: Metric, run: RunRecord | None) -> int | None:
    return (run.yyyy_mm_dd - metric.yyyy_mm_dd).days if run is not None else None


def _place(align: Align, run: RunRecord | None) -> Callable[[Metric], Hashable]:
    """Where a metric sits, for meeting its counterpart in the other run."""
    if align == "identity":
        return lambda metric: (metric.identity, metric.yyyy_mm_dd)
    return lambda metric: (
        metric.kind,
        canonical_json(metric.parameters),
        metric.dataset,
        _lag(metric, run),
    )


def _by_place(
    metrics: Iterable[Metric], place: Callable[[Metric], Hashable]
) -> dict[Hashable, Metric]:
    """A run's metrics by place. Should a run hold one twice, the value it computed
    wins over a copy it took from history."""
    found: dict[Hashable, Metric] = {}
    for metric in metrics:
        key = place(metric)
        held = found.get(key)
        if held is None or (held.origin != "computed" and metric.origin == "computed"):
            found[key] = metric
    return found


def _only(metric: Metric, run: RunRecord | None) -> MetricValue:
    return MetricValue(
        metric=metric.name,
        dataset=metric.dataset,
        yyyy_mm_dd=metric.yyyy_mm_dd,
        tags=identity_tags(metric.tags),
        value=metric.value,
        origin=metric.origin,
        lag=_lag(metric, run),
    )


def _metric_order(item: MetricValue | MetricChange) -> tuple[dt.date, str, str, str]:
    return (item.yyyy_mm_dd, item.metric, item.dataset, repr(sorted(item.tags.items())))


def diff_metrics(
    a: tuple[RunRecord | None, Sequence[Metric]],
    b: tuple[RunRecord | None, Sequence[Metric]],
    rel_tol: float,
    align: Align,
) -> tuple[list[MetricChange], list[MetricValue], list[MetricValue], int]:
    (run_a, metrics_a), (run_b, metrics_b) = a, b
    left = _by_place(metrics_a, _place(align, run_a))
    right = _by_place(metrics_b, _place(align, run_b))
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
                    lag=_lag(new, run_b),
                )
            )
    only_a = [_only(left[key], run_a) for key in left.keys() - right.keys()]
    only_b = [_only(right[key], run_b) for key in right.keys() - left.keys()]
    unchanged = len(left.keys() & right.keys()) - len(changed)
    return (
        sorted(changed, key=_metric_order),
        sorted(only_a, key=_metric_order),
        sorted(only_b, key=_metric_order),
        unchanged,
    )


def diff_assertions(
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


def diff_statements(
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
