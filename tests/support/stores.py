"""Metric stores for tests that measure what engines compute, not what history means."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from dqx.orm.repositories import InMemoryMetricDB
from dqx.records import AssertionRecord, Metric, RunRecord, Statement


class EngineValuesStore:
    """An in-memory store that keeps history but cannot say why a value is missing
    (no ``missing_history``). The suite then takes every lagged value as the engine
    computes it, an empty day's 0 or "no rows" included, with no warm-up: for tests
    of the engines' values. History's own rules are tested on MetricDB."""

    def __init__(self) -> None:
        self._db = InMemoryMetricDB()

    @property
    def url(self) -> str:
        return self._db.url

    def latest(self, wanted: Iterable[tuple[str, dt.date]]) -> dict[tuple[str, dt.date], Metric]:
        return self._db.latest(wanted)

    def persist(self, metrics: Iterable[Metric]) -> int:
        return self._db.persist(metrics)

    def record_run(
        self,
        run: RunRecord,
        assertions: Sequence[AssertionRecord] = (),
        statements: Sequence[Statement] = (),
    ) -> None:
        self._db.record_run(run, assertions, statements)
