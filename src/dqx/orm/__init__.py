"""Storage of metrics, runs and assertion results."""

from dqx.orm.repositories import InMemoryMetricDB, Metric, MetricDB

__all__ = ["InMemoryMetricDB", "Metric", "MetricDB"]
