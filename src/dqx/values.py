"""Every value a run uses, where it came from, and the metric records it makes.

Values are keyed by (spec, dataset, date). A base value comes from history (stored
by an earlier run) or from the engine; an extended value is derived from base values
once, here, and only looked up afterwards. :meth:`RunValues.metrics` turns them
into the run's record: one :class:`~dqx.records.Metric` per value it has, stored
under the run's execution id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from returns.result import Result, Success

from dqx.analyzer import Computed
from dqx.common import ResultKey
from dqx.evaluator import MetricKey, Values, derive
from dqx.history import History
from dqx.plan import Plan
from dqx.records import Metric

__all__ = ["RunValues"]


@dataclass(frozen=True)
class RunValues:
    key: ResultKey
    history: History
    computed: Mapping[MetricKey, Computed]
    derived: Mapping[MetricKey, Result[float, str]]

    @classmethod
    def gather(
        cls, plan: Plan, history: History, computed: Mapping[MetricKey, Computed]
    ) -> RunValues:
        """The run's values, extended ones derived once from the base values."""
        base: dict[MetricKey, Computed] = {
            key: Success(metric.value) for key, metric in history.found.items()
        }
        base.update(computed)
        key_date = plan.key.yyyy_mm_dd
        derived: dict[MetricKey, Result[float, str]] = {}
        for symbol in plan.extended:
            assert symbol.dataset is not None, "the plan resolves every dataset"
            day = key_date - dt.timedelta(days=symbol.lag)
            derived[(symbol.spec, symbol.dataset, day)] = derive(symbol, key_date, base)
        return cls(plan.key, history, computed, derived)

    def lookup(self) -> Values:
        """Every value by (spec, dataset, date), for the evaluator."""
        merged: dict[MetricKey, Result[float | None, str]] = {
            key: Success(metric.value) for key, metric in self.history.found.items()
        }
        merged.update(self.computed)
        merged.update(self.derived)
        return merged

    def metrics(self, execution_id: str, suite: str) -> list[Metric]:
        """The run's record: every value it has, stored or computed or derived.

        A value taken from history is recorded again under this run (``origin`` =
        history, with the run that computed it), so the run's record is complete.
        """
        tags = self.key.tags
        records: list[Metric] = []

        def record(spec_key: MetricKey, value: float | None, source: str | None = None) -> None:
            spec, dataset, day = spec_key
            records.append(
                Metric(
                    kind=spec.kind,
                    parameters=spec.parameters,
                    name=spec.name,
                    dataset=dataset,
                    yyyy_mm_dd=day,
                    tags=tags,
                    value=value,
                    execution_id=execution_id,
                    origin="history" if source else "computed",
                    source_execution_id=source,
                    suite=suite,
                )
            )

        for (spec, dataset, day), stored in self.history.found.items():
            record((spec, dataset, day), stored.value, stored.execution_id)
        for values in (self.computed, self.derived):
            for spec_key, value in values.items():
                match value:
                    case Success(number):
                        record(spec_key, number)
        records.sort(key=lambda m: (m.yyyy_mm_dd, m.name, m.dataset))
        return records
