"""A metric's history by day, as people read it: one value per stored day.

The store may hold several rows for one metric and day: the run that computed it,
later runs that reused it (``origin = history``, pointing at the first) and runs that
recomputed it. :func:`daily` keeps one per day, the newest computed value with the
run that computed it (a day held only by reused copies shows the run they name).
``dqx history``, the HTML report's charts and the bench all read history through
this module, so they agree on what "the value of that day" is.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dqx.common import identity_tags
from dqx.orm.repositories import MetricDB
from dqx.orm.rows import StoredValue
from dqx.records import Metric, Origin

__all__ = ["DayValue", "Series", "daily", "histories", "metric_history"]


@dataclass(frozen=True)
class DayValue:
    """The value of a metric on one day, and the run that computed it."""

    yyyy_mm_dd: dt.date
    value: float | None
    #: The run that computed the value (for a day held only by copies, the run the
    #: copies name as their source).
    execution_id: str
    #: ``computed`` when a run computed the value; ``history`` when only copies remain.
    origin: Origin
    #: How many stored rows hold the metric on that day (the computing run, reuses,
    #: recomputations).
    rows: int = 1


@dataclass(frozen=True)
class Series:
    """One metric (name, dataset, tags) and its values by day, oldest first."""

    name: str
    dataset: str
    kind: str
    tags: dict[str, str]
    identity: str
    days: list[DayValue] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "dataset": self.dataset,
            "tags": dict(self.tags),
            "days": [
                {
                    "yyyy_mm_dd": day.yyyy_mm_dd.isoformat(),
                    "value": day.value,
                    "execution_id": day.execution_id,
                    "origin": day.origin,
                    "rows": day.rows,
                }
                for day in self.days
            ],
        }


class _Stored(Protocol):
    """A stored row of a metric: a Metric, or the lighter StoredValue."""

    @property
    def yyyy_mm_dd(self) -> dt.date: ...
    @property
    def value(self) -> float | None: ...
    @property
    def execution_id(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def source_execution_id(self) -> str | None: ...
    @property
    def created(self) -> dt.datetime: ...
    @property
    def id(self) -> str: ...


def daily(metrics: Iterable[_Stored]) -> list[DayValue]:
    """One value per day of one metric's stored rows, oldest day first."""
    by_day: dict[dt.date, list[_Stored]] = defaultdict(list)
    for metric in metrics:
        by_day[metric.yyyy_mm_dd].append(metric)
    days: list[DayValue] = []
    for day in sorted(by_day):
        rows = sorted(by_day[day], key=lambda m: (m.created, m.id))
        computed = [m for m in rows if m.origin == "computed"]
        if computed:
            chosen = computed[-1]
            days.append(DayValue(day, chosen.value, chosen.execution_id, "computed", len(rows)))
        else:
            chosen = rows[-1]
            source = chosen.source_execution_id or chosen.execution_id
            days.append(DayValue(day, chosen.value, source, "history", len(rows)))
    return days


def _series(metrics: Iterable[Metric]) -> list[Series]:
    by_identity: dict[str, list[Metric]] = defaultdict(list)
    for metric in metrics:
        by_identity[metric.identity].append(metric)
    found = []
    for identity, rows in by_identity.items():
        first = rows[0]
        found.append(
            Series(
                first.name,
                first.dataset,
                first.kind,
                identity_tags(first.tags),
                identity,
                daily(rows),
            )
        )
    return sorted(found, key=lambda s: sorted(s.tags.items()))


def metric_history(
    db: MetricDB,
    name: str,
    *,
    dataset: str,
    tags: Mapping[str, str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    days: int = 30,
) -> list[Series]:
    """The metric ``name`` on ``dataset`` by day, one :class:`Series` per tag set.

    ``tags`` keeps the series carrying at least those tags. Without ``since`` the
    series end at ``until`` (else at the newest stored day) and cover ``days`` days.
    """
    found = db.load(dataset=dataset, name=name, tags=tags or None, since=since, until=until)
    if since is None and found:
        last = until or max(m.yyyy_mm_dd for m in found)
        first = last - dt.timedelta(days=days - 1)
        found = [m for m in found if m.yyyy_mm_dd >= first]
    return _series(found)


def histories(
    db: MetricDB, identities: Collection[str], since: dt.date, until: dt.date
) -> dict[str, list[DayValue]]:
    """Each metric identity's values by day between ``since`` and ``until`` (inclusive),
    read in a few statements whatever the number of metrics."""
    by_identity: dict[str, list[StoredValue]] = defaultdict(list)
    for stored in db.stored_values(identities, since, until):
        by_identity[stored.identity].append(stored)
    return {identity: daily(by_identity.get(identity, [])) for identity in set(identities)}
