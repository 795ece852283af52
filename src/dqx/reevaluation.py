"""Re-evaluation: new or changed assertions judged over the metrics a past run stored.

No data source is read. The past run's record (every value it computed or took from
history) stands in for both history and the engine: a value it has is used as
history (``origin`` = history, its ``source_execution_id`` that run); a value it does
not have is a plain failure naming metric, dataset and date, so the assertion needing
it is an ERROR, never judged on something the run did not see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from returns.result import Failure

from dqx.analyzer import Computed
from dqx.common import DQXError, ResultKey, identity_tags, normalize_execution_id
from dqx.evaluator import MetricKey
from dqx.history import History
from dqx.plan import Plan
from dqx.records import Metric, RunRecord, metric_identity
from dqx.specs import MetricSpec

__all__ = ["RunReader", "StoredRun", "replay"]


@runtime_checkable
class RunReader(Protocol):
    """A store that can give back a past run (MetricDB can): for re-evaluation."""

    def run(self, execution_id: str) -> RunRecord | None: ...

    def metrics_for_execution(self, execution_id: str) -> list[Metric]: ...


class StoredRun:
    """A past run as the store keeps it: its key, datasets and metrics."""

    def __init__(self, execution_id: str, run: RunRecord | None, metrics: Sequence[Metric]):
        self.execution_id = normalize_execution_id(execution_id)
        if not metrics:
            known = "has no metrics stored" if run is not None else "is not in the store"
            raise DQXError(f"run {self.execution_id} {known}: there is nothing to re-evaluate")
        self.metrics = list(metrics)
        self.run = run

    @classmethod
    def load(cls, store: object, execution_id: str, suite: str) -> StoredRun:
        """Run ``execution_id`` as ``store`` keeps it, for suite ``suite`` to judge."""
        if not isinstance(store, RunReader):
            raise DQXError(
                f"suite {suite!r}: re-evaluation reads a past run's metrics from the "
                f"store, which {type(store).__name__} cannot list; use MetricDB"
            )
        original = normalize_execution_id(execution_id)
        return cls(original, store.run(original), store.metrics_for_execution(original))

    @property
    def day(self) -> dt.date:
        """The date the run was about (the newest of its metrics' when unrecorded)."""
        if self.run is not None:
            return self.run.yyyy_mm_dd
        return max(metric.yyyy_mm_dd for metric in self.metrics)

    @property
    def tags(self) -> dict[str, str]:
        if self.run is not None:
            return dict(self.run.tags)
        return identity_tags(self.metrics[0].tags)

    @property
    def suite(self) -> str | None:
        return self.run.suite if self.run is not None else self.metrics[0].suite

    @property
    def datasets(self) -> list[str]:
        return sorted({metric.dataset for metric in self.metrics})

    def key(self, tags: Mapping[str, str]) -> ResultKey:
        """The run's key, with ``tags`` (the new run's internal ones) added."""
        return ResultKey(self.day, {**self.tags, **tags})


def replay(plan: Plan, stored: StoredRun) -> tuple[History, dict[MetricKey, Computed]]:
    """The plan's values from the stored run: found ones as history, the others as
    failures naming what the run did not compute."""
    by_identity: dict[tuple[str, dt.date], Metric] = {}
    for metric in stored.metrics:
        # The run's own tags are the same on every metric: identity without them.
        identity = metric_identity(metric.kind, metric.parameters, metric.dataset, {})
        by_identity[(identity, metric.yyyy_mm_dd)] = metric
    found: dict[tuple[MetricSpec, str, dt.date], Metric] = {}
    missing: dict[MetricKey, Computed] = {}
    for dataset, needs in plan.needs.items():
        for spec, day in needs:
            identity = metric_identity(spec.kind, spec.parameters, dataset, {})
            stored_value = by_identity.get((identity, day))
            if stored_value is not None:
                found[(spec, dataset, day)] = stored_value
                continue
            missing[(spec, dataset, day)] = Failure(
                f"run {stored.execution_id} did not compute {spec.name} on dataset "
                f"{dataset!r} for {day.isoformat()}; re-evaluation reads no data, only "
                "what that run stored"
            )
    return History(found), missing
