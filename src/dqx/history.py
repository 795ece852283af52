"""History: which of a plan's lagged values the metric store already holds.

A value stored for the same metric, dataset, tags and date (by any earlier run) is
reused instead of scanned again, so a daily suite with a 7-day window reads one day.
``recompute="always"`` rescans the lagged days of date-partitioned sources instead.
A store that cannot be read does not sink the run: the lookup finds nothing and
says why, so partitioned sources recompute and snapshots report an ERROR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dqx.common import DQXError
from dqx.datasource import DataSource
from dqx.plan import Plan
from dqx.records import Metric, MetricStore, metric_identity
from dqx.specs import MetricSpec

__all__ = ["History", "Recompute", "read_history"]

Recompute = Literal["missing", "always"]
RECOMPUTE: tuple[Recompute, ...] = ("missing", "always")


@dataclass(frozen=True)
class History:
    """Stored values the run reuses, by (spec, dataset, date)."""

    found: Mapping[tuple[MetricSpec, str, dt.date], Metric] = field(default_factory=dict)
    #: Why the store could not be read, when it could not.
    error: DQXError | None = None


def read_history(
    plan: Plan, sources: Mapping[str, DataSource], store: MetricStore, recompute: Recompute
) -> History:
    """The plan's lagged values that ``store`` holds (today's are always computed)."""
    key = plan.key
    wanted: dict[tuple[str, dt.date], tuple[MetricSpec, str]] = {}
    for dataset, needs in plan.needs.items():
        if recompute == "always" and sources[dataset].partitioned:
            continue
        for spec, day in needs:
            if day != key.yyyy_mm_dd:
                identity = metric_identity(spec.kind, spec.parameters, dataset, key.tags)
                wanted[(identity, day)] = (spec, dataset)
    if not wanted:
        return History()
    try:
        stored = store.latest(wanted)
    except DQXError as exc:
        return History(error=exc)
    found: dict[tuple[MetricSpec, str, dt.date], Metric] = {}
    for (identity, day), metric in stored.items():
        spec, dataset = wanted[(identity, day)]
        found[(spec, dataset, day)] = metric
    return History(found)
