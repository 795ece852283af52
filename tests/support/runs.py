"""Real runs for tests: an SDK provider keeping its spans in memory, the orders data and
checks several modules run, and a finished run as the trace readers see it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Sampler

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.datasource import DuckRelationDataSource
from dqx.orm.repositories import Metric, MetricDB

DAY = dt.date(2024, 3, 2)


class Traced:
    """An SDK provider whose finished spans stay in memory."""

    def __init__(self, sampler: Sampler | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        resource = Resource.create({"service.name": "dqx-tests"})
        self.provider = (
            TracerProvider(sampler=sampler, resource=resource)
            if sampler
            else TracerProvider(resource=resource)
        )
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self, trace_id: str | None = None) -> list[ReadableSpan]:
        """Every finished span, or those of one trace (an execution id)."""
        return [
            span
            for span in self.exporter.get_finished_spans()
            if trace_id is None
            or (span.context is not None and f"{span.context.trace_id:032x}" == trace_id)
        ]

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.exporter.get_finished_spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        (span,) = self.named(name)
        return span

    def events(self, name: str) -> list[dict[str, Any]]:
        """The attributes of every event of that name, in the order the spans finished."""
        return [
            dict(event.attributes or {})
            for span in self.spans()
            for event in span.events
            if event.name == name
        ]


def orders(days: int = 8, rows: int = 5) -> DuckRelationDataSource:
    """``days`` partitions ending on DAY: enough history for the day-over-day check."""
    dates = [DAY - dt.timedelta(days=d) for d in range(days) for _ in range(rows)]
    table = pa.table(
        {
            "yyyy_mm_dd": dates,
            "price": [10.0 + i / 3 for i in range(len(dates))],
            "email": [None if i % 4 == 0 else f"u{i}@x.io" for i in range(len(dates))],
            "status": [f"s{i % 7}" for i in range(len(dates))],
        }
    )
    return DuckRelationDataSource.from_arrow(table, "orders")


@check(name="Orders", severity="P1")
def orders_check(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows arrived").is_gt(0)
    ctx.assert_that(mp.average("price")).where(name="price sane", severity="P0").is_lt(100)
    ctx.assert_that(mp.null_count("email") / mp.num_rows()).where(name="emails").is_lt(0.5)
    ctx.assert_that(mp.ext.day_over_day(mp.sum("price"))).where(name="sum steady").is_lt(1)


def many_metrics_check(count: int) -> Callable[[MetricProvider, Context], None]:
    """A check using ``count`` distinct metrics (one count_values per value)."""

    @check(name="Many", severity="P3")
    def many(mp: MetricProvider, ctx: Context) -> None:
        for i in range(count):
            ctx.assert_that(mp.count_values("status", f"s{i}")).where(name=f"s{i}").is_geq(0)

    return many


def run_suite(
    db: MetricDB,
    traced: Traced,
    checks: Sequence[Any] = (orders_check,),
    *,
    tags: Mapping[str, str] | None = None,
) -> VerificationSuite:
    suite = VerificationSuite(list(checks), db, "Orders", tracer_provider=traced.provider)
    suite.run([orders()], ResultKey(DAY, dict(tags or {"env": "test"})))
    return suite


@dataclass
class Run:
    """A finished run: its id, its exported spans and the metrics it recorded."""

    execution_id: str
    spans: list[ReadableSpan]
    metrics: list[Metric]
    traced: Traced
