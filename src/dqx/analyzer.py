"""Run the statements of one dataset and a batch of dates, and read their values back.

:mod:`dqx.planner` cuts the metrics into statements, as the source's statement shape
says: shared aggregates in statements of a measured width, ``count_values`` on one
column folded into one grouped count, one grouped statement per column set of
``unique_count`` / ``duplicate_count``. DuckDB does not share a scan between DISTINCT
aggregates anyway: on 6M rows (bench/distinct_strategies.py) COUNT(DISTINCT) in the
shared statement, separate COUNT(DISTINCT) statements and the grouped shape were
within noise of each other (1.36-1.45 s best of 5), so the shape that lets both
metrics of a column set share one grouping stays. PostgreSQL is the exception
(``groups_with_distinct``): its hash aggregate over many groups loses to the sort
behind COUNT(DISTINCT), so there the same statement is written with DISTINCT
aggregates when every metric has one.

A date of the batch without rows still gets every shared value in the same statement:
a UNION ALL branch over zero rows says what each aggregate is then. If a statement
fails, it is split so only the metrics that caused the failure become errors; a
folded count that fails is counted again the plain way.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from returns.result import Failure, Result, Success

from dqx.common import ComputeError, DefinitionError
from dqx.datasource import DataSource
from dqx.planner import Aggregate, Folded, Grouped, Planner, Rendered
from dqx.records import Statement
from dqx.specs import MetricSpec

__all__ = ["Analyzer", "Computed", "Statement", "validate_specs"]

#: A computed value: a float, ``None`` for SQL NULL, or the engine's error message.
Computed = Result[float | None, str]

_Rows = list[tuple[Any, ...]]


@dataclass
class _Batch:
    source: DataSource
    dates: tuple[dt.date, ...]
    values: dict[tuple[MetricSpec, dt.date], Computed] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)
    #: Rows per date, from the shared statement that counts them.
    rows: dict[dt.date, int] = field(default_factory=dict)
    #: Dates some statement returned rows for.
    seen: set[dt.date] = field(default_factory=set)

    def fail(self, specs: Iterable[MetricSpec], message: str) -> None:
        for spec in specs:
            for day in self.dates:
                self.values[(spec, day)] = Failure(
                    f"{spec.name} on dataset {self.source.name!r} for {day}: "
                    f"the engine failed: {message}"
                )


class _EngineFailed(Exception):
    """A statement the engine rejected; its Statement is already recorded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def validate_specs(
    source: DataSource, specs: Iterable[MetricSpec], *, where: str | None = None
) -> None:
    """Check every spec against the source (columns, types, SQL) before any data is read.

    ``where`` (say, ``check 'Sales', assertion 'avg'``) is added to every message.
    """
    for spec in specs:
        spec.validate(source, where=where)


class Analyzer:
    """Computes metrics for one data source."""

    def __init__(self, source: DataSource) -> None:
        self.source = source

    def compute(
        self, specs: Iterable[MetricSpec], dates: Sequence[dt.date]
    ) -> tuple[dict[tuple[MetricSpec, dt.date], Computed], list[Statement]]:
        """Values of every spec on every date, and the statements that produced them.

        A snapshot source takes exactly one date: its rows are that day's.
        """
        unique_specs = list(dict.fromkeys(specs))
        unique_dates = tuple(sorted(set(dates)))
        if not unique_specs or not unique_dates:
            return {}, []
        if not self.source.partitioned and len(unique_dates) != 1:
            raise DefinitionError(
                f"dataset {self.source.name!r} has no date column, so it holds one day only; "
                f"asked for {', '.join(d.isoformat() for d in unique_dates)}",
                dataset=self.source.name,
            )
        validate_specs(self.source, unique_specs)
        batch = _Batch(self.source, unique_dates)
        planner = Planner(self.source, unique_dates)
        cut = planner.cut(unique_specs)
        unfolded: list[MetricSpec] = []
        for fold in cut.folded:
            if not self._run_folded(batch, planner, fold):
                unfolded.extend(fold.specs)
        chunks = cut.chunks + (planner.chunks(unfolded) if unfolded else [])
        if not chunks:
            # The row count is the rows-scanned figure: counted even with nothing else.
            chunks = [[]]
        for index, chunk in enumerate(chunks):
            # The row count rides along in every shared statement: it is the rows-scanned
            # figure and the value of any spec that counts rows, at no extra cost.
            self._run_shared(batch, planner, chunk, cut.counted if index == 0 else [])
        for group in cut.grouped:
            self._run_grouped(batch, planner, group)
        self._refuse_stray_dates(batch)
        return batch.values, batch.statements

    def _refuse_stray_dates(self, batch: _Batch) -> None:
        """A day without rows whose date column holds text like the day but not it
        (timestamps written as text) is an error for every metric of that day, not an
        empty day: null and row counts of 0 would pass checks on data never read."""
        if not self.source.partitioned:
            return
        for day in batch.dates:
            if day in batch.seen:
                continue
            problem = self.source.stray_date_text(day)
            if problem is None:
                continue
            for spec, when in list(batch.values):
                # A day whose statement failed keeps the engine's error.
                if when == day and not isinstance(batch.values[(spec, when)], Failure):
                    batch.values[(spec, day)] = Failure(f"{spec.name}: {problem}")

    # -- shared aggregates -------------------------------------------------------------

    def _run_shared(
        self,
        batch: _Batch,
        planner: Planner,
        aggregates: list[Aggregate],
        counted: list[MetricSpec],
    ) -> None:
        if self._try_shared(batch, planner, aggregates, counted):
            return
        # Isolate the failure: user-written SQL is the usual culprit, so the built-in
        # aggregates go together and every user-written expression alone.
        builtin = [a for a in aggregates if not a.spec.user_written]
        custom = [a for a in aggregates if a.spec.user_written]
        if custom and self._try_shared(batch, planner, builtin, counted):
            for aggregate in custom:
                self._try_shared(batch, planner, [aggregate], None, record_failure=True)
            return
        self._try_shared(batch, planner, [], counted, record_failure=True)
        for aggregate in aggregates:
            self._try_shared(batch, planner, [aggregate], None, record_failure=True)

    def _try_shared(
        self,
        batch: _Batch,
        planner: Planner,
        aggregates: list[Aggregate],
        counted: list[MetricSpec] | None,
        *,
        record_failure: bool = False,
    ) -> bool:
        """Run ``aggregates`` in one statement; ``counted`` (when not None) get its row
        count. On failure the statement is recorded, and so are the failed values if
        ``record_failure``; returns whether the statement ran.
        """
        if not aggregates and counted is None:
            return True
        rendered = planner.shared(aggregates, count_rows=counted is not None)
        specs = [a.spec for a in aggregates]
        names = tuple(spec.name for spec in [*(counted or []), *specs])
        try:
            rows, seconds = self._execute(batch, rendered, names)
        except _EngineFailed as failed:
            if record_failure:
                batch.fail([*(counted or []), *specs], failed.message)
            return False
        scanned = self._read_shared(batch, rows, rendered.key_offset, specs, counted)
        batch.statements.append(
            Statement(
                self.source.name,
                rendered.sql,
                dict(rendered.params),
                batch.dates,
                names,
                seconds,
                rows_scanned=scanned,
            )
        )
        return True

    def _read_shared(
        self,
        batch: _Batch,
        rows: _Rows,
        key_offset: int,
        specs: list[MetricSpec],
        counted: list[MetricSpec] | None,
    ) -> int | None:
        """Store each date's values; the rows scanned, when the statement counted them."""
        by_date, empty_row = self._split_rows(rows, batch.dates, key_offset)
        batch.seen.update(by_date)
        scanned = 0
        for day in batch.dates:
            row = by_date.get(day, empty_row)
            if row is None:
                raise ComputeError(
                    f"dataset {self.source.name!r}: the statement returned no row for {day}"
                )
            offset = 0
            if counted is not None:
                count = row[0] or 0
                scanned += int(count)
                batch.rows[day] = int(count)
                for spec in counted:
                    batch.values[(spec, day)] = Success(float(count))
                offset = 1
            for index, spec in enumerate(specs):
                batch.values[(spec, day)] = _computed(
                    row[offset + index], spec, self.source.name, day, rows=batch.rows.get(day)
                )
        return scanned if counted is not None else None

    # -- folded counts and grouped metrics ---------------------------------------------

    def _run_folded(self, batch: _Batch, planner: Planner, fold: Folded) -> bool:
        """Count every value of the fold in one statement; False if the engine refused
        it (its metrics are then computed the plain way, which isolates the culprit)."""
        rendered = planner.folded(fold)
        names = tuple(spec.name for spec in fold.specs)
        try:
            rows, seconds = self._execute(batch, rendered, names)
        except _EngineFailed:
            return False
        counts: dict[tuple[dt.date | None, int], int] = {}
        for row in rows:
            day = self.source.date_from_key(row[0]) if rendered.key_offset else None
            counts[(day, int(row[-2]))] = int(row[-1])
        batch.seen.update(day for day, _ in counts if day is not None)
        for day in batch.dates:
            key_day = day if rendered.key_offset else None
            for index, spec in enumerate(fold.specs):
                batch.values[(spec, day)] = Success(float(counts.get((key_day, index), 0)))
        batch.statements.append(
            Statement(
                self.source.name, rendered.sql, dict(rendered.params), batch.dates, names, seconds
            )
        )
        return True

    def _run_grouped(self, batch: _Batch, planner: Planner, group: Grouped) -> None:
        rendered = planner.grouped(group)
        names = tuple(spec.name for spec in group.specs)
        try:
            rows, seconds = self._execute(batch, rendered, names)
        except _EngineFailed as failed:
            batch.fail(group.specs, failed.message)
            return
        by_date, _ = self._split_rows(rows, batch.dates, rendered.key_offset)
        batch.seen.update(by_date)
        for day in batch.dates:
            row = by_date.get(day)
            for index, spec in enumerate(group.specs):
                batch.values[(spec, day)] = (
                    _computed(row[index], spec, self.source.name, day)
                    if row is not None
                    else Success(spec.empty_value)
                )
        batch.statements.append(
            Statement(
                self.source.name, rendered.sql, dict(rendered.params), batch.dates, names, seconds
            )
        )

    # -- shared plumbing ---------------------------------------------------------------

    def _execute(
        self, batch: _Batch, rendered: Rendered, names: tuple[str, ...]
    ) -> tuple[_Rows, float]:
        """The statement's rows and seconds; a failure is recorded, then raised."""
        started = time.perf_counter()
        try:
            rows = self.source.execute(rendered.sql, dict(rendered.params))
        except Exception as exc:  # the engine's own error types vary by source
            if self.source.interrupted(exc):
                # Ctrl-C or SIGTERM, as the engine reports it: not a failed statement
                # whose error becomes results, but the end of the run.
                raise KeyboardInterrupt(_engine_message(exc)) from exc
            message = _engine_message(exc)
            batch.statements.append(
                Statement(
                    self.source.name,
                    rendered.sql,
                    dict(rendered.params),
                    batch.dates,
                    names,
                    time.perf_counter() - started,
                    error=message,
                    error_type=type(exc).__name__,
                )
            )
            raise _EngineFailed(message) from exc
        return rows, time.perf_counter() - started

    def _split_rows(
        self, rows: _Rows, dates: tuple[dt.date, ...], key_offset: int
    ) -> tuple[dict[dt.date, tuple[Any, ...]], tuple[Any, ...] | None]:
        """Rows by date, and the row over zero rows (key NULL) when the statement has one."""
        if key_offset == 0:
            return ({dates[0]: rows[0]} if rows else {}), None
        by_date: dict[dt.date, tuple[Any, ...]] = {}
        empty_row: tuple[Any, ...] | None = None
        for row in rows:
            if row[0] is None:
                empty_row = row[key_offset:]
            else:
                by_date[self.source.date_from_key(row[0])] = row[key_offset:]
        return by_date, empty_row


def _computed(
    value: Any, spec: MetricSpec, dataset: str, day: dt.date, *, rows: int | None = None
) -> Computed:
    if value is None and rows == 0:
        # SQL's NULL over no rows reads like a column of NULLs; the row count the same
        # statement took tells the two apart, so the reason names the empty day.
        return Failure(f"{spec.name}: no rows for {day} in dataset {dataset!r}")
    if value is None:
        return Success(None)
    if isinstance(value, bool | int | float | Decimal):
        return Success(float(value))
    return Failure(
        f"{spec.name} on dataset {dataset!r} for {day}: the aggregate returned "
        f"{type(value).__name__} {value!r}, not a number"
    )


def _engine_message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
