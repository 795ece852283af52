"""Backfills: one suite over every day of a date range, scanned in batches of days.

A backfill is a run per day, each with its own execution id, trace and record, like
``run()`` would leave; what differs is the scanning. Before the first day of a batch
runs, nothing is read: the first day's analyze phase computes every value the batch's
days need from a date-partitioned source in the analyzer's batch shape (one shared
statement and one per grouped column set, each grouped by the date column), so a
year costs a few statements, not 365 x 3. Those statements belong to that first
day's run (its trace and its record hold them, their ``dates`` list the batch); the
other days of the batch take their values from memory and execute nothing.

Days run in date order and each is persisted before the next starts, so day N+1's
lags and windows read day N from the store like any later run would.

Only date-partitioned sources can be backfilled: a source without a date column
holds today's rows, and recording them as a past day's values would be a lie, so it
is refused before anything is read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from dqx.analyzer import Analyzer, Computed
from dqx.common import AssertionResult, DefinitionError, DQXError
from dqx.datasource import DataSource
from dqx.plan import Plan
from dqx.records import Statement, SuiteResult
from dqx.specs import MetricSpec

__all__ = [
    "BATCH_DAYS",
    "MAX_DAYS",
    "BackfillError",
    "BackfillResult",
    "BatchValues",
    "backfill",
    "days_between",
]

#: Days computed per batch of statements. Each batch's statements are scans of their
#: own, so fewer batches cost less: a year of the 12-metric bench suite over 6M rows
#: takes 18.9 s of statements one day at a time, 1.06 s in batches of 31 days, 0.54 s
#: in one batch of 366 (bench/backfill_batches.py, bench/FINDINGS.md). What grows with
#: a batch is the grouped statements' hash table (one group per date and distinct
#: key), so a batch stops at a year rather than taking a decade at once.
BATCH_DAYS = 366
#: The longest range one backfill takes: ten years. Longer ones are usually a typo in
#: a year (0024 for 2024); split a real one into several backfills.
MAX_DAYS = 3660


class BackfillError(DQXError):
    """A backfill stopped at one day; the days before it are recorded as their own runs.

    ``day`` is where it stopped, ``results`` the finished days' results (in date
    order) and ``__cause__`` the error that stopped it.
    """

    def __init__(self, message: str, *, day: dt.date, results: Sequence[SuiteResult]) -> None:
        super().__init__(message)
        self.day = day
        self.results = list(results)


@dataclass(frozen=True)
class BackfillResult:
    """Every day's :class:`~dqx.records.SuiteResult`, in date order."""

    since: dt.date
    until: dt.date
    days: tuple[SuiteResult, ...]

    @property
    def execution_ids(self) -> dict[dt.date, str]:
        """Each day's own execution id (and trace id)."""
        return {day.key.yyyy_mm_dd: day.execution_id for day in self.days}

    @property
    def statements(self) -> list[Statement]:
        """Every statement the backfill executed, in order."""
        return [statement for day in self.days for statement in day.statements]

    @property
    def passed(self) -> bool:
        return all(day.passed for day in self.days)

    def failed(self, at_or_above: str = "P3") -> list[AssertionResult]:
        """Every day's results not OK at ``at_or_above`` or more urgent."""
        return [result for day in self.days for result in day.failed(at_or_above)]


def days_between(since: object, until: object, *, max_days: int = MAX_DAYS) -> list[dt.date]:
    """Every day from ``since`` to ``until``, both included; refuses anything else."""
    for name, value in (("since", since), ("until", until)):
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            raise DefinitionError(f"a backfill's {name} must be a datetime.date, got {value!r}")
    assert isinstance(since, dt.date) and isinstance(until, dt.date)
    if since > until:
        raise DefinitionError(
            f"a backfill's since ({since.isoformat()}) is after its until "
            f"({until.isoformat()}); the range runs from since to until, both included"
        )
    count = (until - since).days + 1
    if count > max_days:
        raise DefinitionError(
            f"a backfill from {since.isoformat()} to {until.isoformat()} is {count:,} days; "
            f"one backfill takes at most {max_days:,} (ten years): split the range"
        )
    return [since + dt.timedelta(days=offset) for offset in range(count)]


class BatchValues:
    """Values a backfill computed ahead, by (dataset, spec, date), kept as long as a
    later day may read them: a day asking for an earlier one again
    (``recompute="always"``) finds it here instead of scanning."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, MetricSpec, dt.date], Computed] = {}
        self._pending: dict[str, set[tuple[MetricSpec, dt.date]]] = {}

    def expect(
        self, plan: Plan, days: Sequence[dt.date], sources: Mapping[str, DataSource]
    ) -> None:
        """The next batch: what ``plan`` (its first day's) reads from each partitioned
        source, moved to each of ``days``, lagged days before the range included.

        Planning every day ahead would double the backfill's planning for checks that
        read the same metrics every day; a day that reads more than its first day
        (a check that looks at ``ctx.key``) is still right: what it asks for that is
        not held is computed when it asks."""
        self._pending = {}
        first = plan.key.yyyy_mm_dd
        # Values older than the batch's longest lag are never asked for again: a
        # backfill of years of a wide suite must not hold them all.
        oldest = min((date for needs in plan.needs.values() for _, date in needs), default=first)
        horizon = days[0] - (first - oldest)
        self._values = {key: value for key, value in self._values.items() if key[2] >= horizon}
        for dataset, needs in plan.needs.items():
            if sources[dataset].partitioned:
                self._pending[dataset] = {
                    (spec, day - (first - date)) for spec, date in needs for day in days
                }

    def analyzer(self, source: DataSource) -> Analyzer:
        """What the day's analyze phase computes with, for ``source``."""
        return _BatchAnalyzer(source, self)

    def compute(
        self, analyzer: Analyzer, specs: Sequence[MetricSpec], dates: Sequence[dt.date]
    ) -> tuple[dict[tuple[MetricSpec, dt.date], Computed], list[Statement]]:
        dataset = analyzer.source.name
        missing = [
            (spec, day)
            for spec in specs
            for day in dates
            if (dataset, spec, day) not in self._values
        ]
        statements: list[Statement] = []
        if missing:
            # The first miss of a batch scans for all of it; what is already held is
            # not asked again.
            wanted = {
                pair
                for pair in (*self._pending.pop(dataset, ()), *missing)
                if (dataset, *pair) not in self._values
            }
            computed, statements = Analyzer.compute(
                analyzer, {spec for spec, _ in wanted}, sorted({day for _, day in wanted})
            )
            for (spec, day), value in computed.items():
                self._values[(dataset, spec, day)] = value
        values = {
            (spec, day): self._values[(dataset, spec, day)] for spec in specs for day in dates
        }
        return values, statements


class _BatchAnalyzer(Analyzer):
    def __init__(self, source: DataSource, batch: BatchValues) -> None:
        super().__init__(source)
        self._batch = batch

    def compute(
        self, specs: Iterable[MetricSpec], dates: Sequence[dt.date]
    ) -> tuple[dict[tuple[MetricSpec, dt.date], Computed], list[Statement]]:
        return self._batch.compute(self, list(dict.fromkeys(specs)), sorted(set(dates)))


#: Runs one day: its key's date and the analyzer factory its analyze phase uses.
RunDay = Callable[[dt.date, Callable[[DataSource], Analyzer]], SuiteResult]


def backfill(
    days: Sequence[dt.date],
    sources: Mapping[str, DataSource],
    plan_day: Callable[[dt.date], Plan],
    run_day: RunDay,
    *,
    suite: str,
    batch_days: int = BATCH_DAYS,
) -> BackfillResult:
    """Run every day of ``days`` (consecutive, ascending) in order, batch by batch."""
    if not isinstance(batch_days, int) or isinstance(batch_days, bool) or batch_days < 1:
        raise DefinitionError(f"batch_days must be a whole number >= 1, got {batch_days!r}")
    _refuse_snapshots(plan_day(days[0]), sources, suite)
    values = BatchValues()
    finished: list[SuiteResult] = []
    for start in range(0, len(days), batch_days):
        batch = days[start : start + batch_days]
        values.expect(plan_day(batch[0]), batch, sources)
        for day in batch:
            try:
                finished.append(run_day(day, values.analyzer))
            except Exception as exc:
                # Anything a day raises, so the caller learns what is recorded; an
                # interrupt goes up as it is (the day records itself interrupted).
                raise _stopped(exc, day, days, finished, suite) from exc
    return BackfillResult(days[0], days[-1], tuple(finished))


def _refuse_snapshots(plan: Plan, sources: Mapping[str, DataSource], suite: str) -> None:
    snapshots = sorted(name for name in plan.needs if not sources[name].partitioned)
    if snapshots:
        raise DefinitionError(
            f"suite {suite!r} cannot backfill dataset(s) {', '.join(map(repr, snapshots))}: "
            "a source without a date column holds only today's rows, and a backfill "
            "would record them as every past day's values; give the source a date "
            "column (date_column=..., or --date-column NAME=COLUMN), or run the days "
            "one by one with run()",
            dataset=snapshots[0],
        )


def _stopped(
    exc: Exception,
    day: dt.date,
    days: Sequence[dt.date],
    finished: Sequence[SuiteResult],
    suite: str,
) -> BackfillError:
    before = (
        f"the {len(finished)} day(s) from {days[0].isoformat()} to "
        f"{finished[-1].key.yyyy_mm_dd.isoformat()} are recorded as their own runs"
        if finished
        else "no day before it finished"
    )
    rest = len(days) - len(finished) - 1
    return BackfillError(
        f"backfill of suite {suite!r} stopped at {day.isoformat()}: "
        f"{exc if isinstance(exc, DQXError) else f'{type(exc).__name__}: {exc}'}. {before}; "
        f"{day.isoformat()} did not finish (a run that started is recorded with the status "
        f"it reached) and {rest} later day(s) did not run; resume with "
        f"since={day.isoformat()}",
        day=day,
        results=finished,
    )
