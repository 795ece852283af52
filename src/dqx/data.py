"""Reading a run's metrics back: from the database, and reconciled against its trace."""

from __future__ import annotations

from collections.abc import Sequence

from returns.result import Failure, Result, Success

from dqx.common import SymbolInfo, normalize_execution_id
from dqx.orm.repositories import Metric, MetricDB

__all__ = ["metrics_by_execution_id"]


def _value(metric: Metric) -> Result[float, str]:
    if metric.value is None:
        return Failure(
            f"{metric.name} on dataset {metric.dataset!r} for {metric.yyyy_mm_dd} is NULL"
        )
    return Success(float(metric.value))


def _symbols(metrics: Sequence[Metric], execution_id: str) -> list[SymbolInfo]:
    ordered = sorted(metrics, key=lambda m: (m.yyyy_mm_dd, m.name, m.dataset))
    return [
        SymbolInfo(
            name=f"m_{index}",
            metric=metric.name,
            dataset=metric.dataset,
            value=_value(metric),
            yyyy_mm_dd=metric.yyyy_mm_dd,
            suite=metric.suite,
            tags={**metric.tags, "__execution_id": execution_id},
        )
        for index, metric in enumerate(ordered, start=1)
    ]


def metrics_by_execution_id(db: MetricDB, execution_id: str) -> list[SymbolInfo]:
    """Every metric the run persisted, lagged and extended ones included.

    Sorted by (date, metric name) and named ``m_1..m_n``. Accepts the dashed UUID form;
    an id that is not 32 hex digits raises ValueError; an unknown id gives ``[]``.
    """
    execution_id = normalize_execution_id(execution_id)
    return _symbols(db.metrics_for_execution(execution_id), execution_id)
