"""History: which of a plan's lagged values the metric store already holds, and why the
others are missing.

A value stored for the same metric, dataset, tags and date (by any earlier run) is
reused instead of scanned again, so a daily suite with a 7-day window reads one day.
``recompute="always"`` rescans the lagged days of date-partitioned sources instead.
Values of runs marked as bad baselines are never reused: a partitioned source
recomputes that day, and a snapshot has no value for it (its assertion is SKIPPED,
naming the mark). A missing day before the first day the store holds for that metric
is history not there *yet* (warm-up: SKIPPED); a missing day after it is a gap (ERROR).
A store that cannot be read does not sink the run: the lookup finds nothing and says
why, so partitioned sources recompute and snapshots report an ERROR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from dqx.common import DQXError
from dqx.datasource import DataSource
from dqx.evaluator import SkipReason
from dqx.plan import Plan
from dqx.records import BadRunMark, HistoryDetails, Metric, MetricStore, metric_identity
from dqx.specs import MetricSpec

__all__ = ["History", "Recompute", "read_history"]

Recompute = Literal["missing", "always"]
RECOMPUTE: tuple[Recompute, ...] = ("missing", "always")

_Key = tuple[MetricSpec, str, dt.date]


@dataclass(frozen=True)
class History:
    """Stored values the run reuses, by (spec, dataset, date), and what is known of
    the lagged values it lacks."""

    found: Mapping[_Key, Metric] = field(default_factory=dict)
    #: Why the store could not be read, when it could not.
    error: DQXError | None = None
    #: Whether the store said why values are missing (see ``HistoryDetails``).
    explained: bool = False
    #: The first day each (spec, dataset) has usable history; absent: none yet.
    first_days: Mapping[tuple[MetricSpec, str], dt.date] = field(default_factory=dict)
    #: Lagged values set aside because the run holding them is marked bad.
    bad: Mapping[_Key, BadRunMark] = field(default_factory=dict)

    def before_history(self, spec: MetricSpec, dataset: str, day: dt.date) -> bool:
        """Whether ``day`` comes before the metric's history begins (warm-up)."""
        if not self.explained:
            return False
        first = self.first_days.get((spec, dataset))
        return first is None or day < first

    def unavailable(
        self, spec: MetricSpec, dataset: str, day: dt.date, why: str = ""
    ) -> SkipReason | None:
        """Why a lagged value is not available by rule or not yet (a bad baseline,
        warm-up), or None when its absence is a gap. ``why`` adds what the source
        said (a partitioned source with no rows that day)."""
        what = f"{spec.name} on dataset {dataset!r} for {day.isoformat()}"
        mark = self.bad.get((spec, dataset, day))
        if mark is not None:
            return SkipReason(
                f"{what}: the stored value is from run {mark.execution_id}, marked bad by "
                f"{mark.marked_by} on {mark.marked_at:%Y-%m-%d %H:%M} UTC ({mark.reason}), "
                "and a dataset without a date column cannot recompute it"
            )
        if not self.before_history(spec, dataset, day):
            return None
        first = self.first_days.get((spec, dataset))
        since = f"history of it starts {first.isoformat()}" if first else "no history of it yet"
        return SkipReason(f"{what} is not in history yet ({since}{why})")


def read_history(
    plan: Plan, sources: Mapping[str, DataSource], store: MetricStore, recompute: Recompute
) -> History:
    """The plan's lagged values that ``store`` holds (today's are always computed),
    and, when the store can say, why the rest are missing."""
    key = plan.key
    lagged: dict[tuple[str, dt.date], tuple[MetricSpec, str]] = {}
    wanted: set[tuple[str, dt.date]] = set()
    for dataset, needs in plan.needs.items():
        rescan = recompute == "always" and sources[dataset].partitioned
        for spec, day in needs:
            if day != key.yyyy_mm_dd:
                identity = metric_identity(spec.kind, spec.parameters, dataset, key.tags)
                lagged[(identity, day)] = (spec, dataset)
                if not rescan:
                    wanted.add((identity, day))
    if not lagged:
        return History()
    try:
        stored = store.latest(wanted) if wanted else {}
        details = (
            store.missing_history(set(lagged) - set(stored))
            if isinstance(store, HistoryDetails)
            else None
        )
    except DQXError as exc:
        return History(error=exc)
    found = {_key(lagged[pair], pair[1]): metric for pair, metric in stored.items()}
    if details is None:
        return History(found)
    by_identity = {identity: lagged[(identity, day)] for identity, day in lagged}
    first_days = {
        by_identity[identity]: day
        for identity, day in details.first_days.items()
        if identity in by_identity
    }
    bad = {_key(lagged[pair], pair[1]): mark for pair, mark in details.bad.items()}
    return History(found, explained=True, first_days=first_days, bad=bad)


def _key(spec_and_dataset: tuple[MetricSpec, str], day: dt.date) -> _Key:
    spec, dataset = spec_and_dataset
    return (spec, dataset, day)
