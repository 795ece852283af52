"""Storage of metrics, runs and assertion results."""

from dqx.orm.repositories import (
    AssertionRecord,
    InMemoryMetricDB,
    Metric,
    MetricDB,
    RunRecord,
    metric_identity,
)

__all__ = [
    "AssertionRecord",
    "InMemoryMetricDB",
    "Metric",
    "MetricDB",
    "RunRecord",
    "metric_identity",
]
