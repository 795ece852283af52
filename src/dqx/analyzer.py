"""Plan metrics into as few SQL statements as the engine needs, run them, read values.

For one dataset and a batch of dates the plan is:

* one statement holding every *shared* aggregate (counts, sums, averages, min/max,
  variance, filtered counts, custom_sql), grouped by date on a partitioned source;
* one grouped statement per column set of the *grouped* metrics (``unique_count(c)``
  and ``duplicate_count([c])`` over the same columns share it).
  DuckDB does not share a scan between DISTINCT aggregates anyway: on 6M rows
  (bench/distinct_strategies.py) COUNT(DISTINCT) in the shared statement, separate
  COUNT(DISTINCT) statements and this grouped shape were within noise of each other
  (1.36-1.45 s best of 5), so the shape that lets both metrics of a column set share
  one grouping stays. PostgreSQL is the exception (``groups_with_distinct``): its
  hash aggregate over many groups loses to the sort behind COUNT(DISTINCT), so there
  the same statement is written with DISTINCT aggregates when every metric has one.

What goes where is the specs' to say (:attr:`~dqx.specs.MetricSpec.grouped_by`,
``counts_rows``, ``user_written``), and each renders its own SQL; the source renders the
statement in its dialect. A date of the batch without rows still gets every shared
value in the same statement: a UNION ALL branch over zero rows says what each aggregate
is then.

Aggregates are aliased by position (``m_0``, ``m_1``, ...), so a plan always renders to
the same SQL text. If a statement fails, it is split so only the metrics that caused
the failure become errors.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from returns.result import Failure, Result, Success
from sqlglot import exp

from dqx.common import ComputeError, DefinitionError
from dqx.datasource import DataSource
from dqx.records import Statement
from dqx.specs import MetricSpec, Params

__all__ = ["Analyzer", "Computed", "Statement", "validate_specs"]

_DATE_ALIAS = "dqx_date"
_ROWS_ALIAS = "dqx_rows"
_GROUP_ROWS = "n"

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
        self._run_shared(batch, [spec for spec in unique_specs if spec.grouped_by is None])
        by_columns: dict[tuple[str, ...], list[MetricSpec]] = {}
        for spec in unique_specs:
            if spec.grouped_by is not None:
                by_columns.setdefault(tuple(sorted(spec.grouped_by)), []).append(spec)
        for columns, grouped in by_columns.items():
            self._run_grouped(batch, columns, grouped)
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

    def _run_shared(self, batch: _Batch, specs: list[MetricSpec]) -> None:
        # The row count rides along in every shared statement: it is the rows-scanned
        # figure and the value of any spec that counts rows, at no extra cost in the scan.
        counted = [spec for spec in specs if spec.counts_rows]
        specs = [spec for spec in specs if not spec.counts_rows]
        if self._try_shared(batch, specs, counted):
            return
        # Isolate the failure: user-written SQL is the usual culprit, so the built-in
        # aggregates go together and every user-written expression alone.
        builtin = [spec for spec in specs if not spec.user_written]
        custom = [spec for spec in specs if spec.user_written]
        if custom and self._try_shared(batch, builtin, counted):
            for spec in custom:
                self._try_shared(batch, [spec], None, record_failure=True)
            return
        self._try_shared(batch, [], counted, record_failure=True)
        for spec in specs:
            self._try_shared(batch, [spec], None, record_failure=True)

    def _try_shared(
        self,
        batch: _Batch,
        specs: list[MetricSpec],
        counted: list[MetricSpec] | None,
        *,
        record_failure: bool = False,
    ) -> bool:
        """Run ``specs`` in one statement; ``counted`` (when not None) get its row count.

        On failure the statement is recorded, and so are the failed values if
        ``record_failure``; returns whether the statement ran.
        """
        params: Params = {}
        selections: list[exp.Expr] = []
        if counted is not None:
            selections.append(exp.alias_(exp.Count(this=exp.Star()), _ROWS_ALIAS, quoted=True))
        for index, spec in enumerate(specs):
            aggregate = self._as_named_by_source(spec.aggregate(params, self.source.dialect))
            selections.append(exp.alias_(aggregate, f"m_{index}", quoted=True))
        if not selections:
            return True
        query, key_offset = self._select(selections, params, batch.dates)
        sql = self.source.render(query)
        names = tuple(spec.name for spec in [*(counted or []), *specs])
        try:
            rows, seconds = self._execute(batch, sql, params, names)
        except _EngineFailed as failed:
            if record_failure:
                batch.fail([*(counted or []), *specs], failed.message)
            return False
        scanned = self._read_shared(batch, rows, key_offset, specs, counted)
        batch.statements.append(
            Statement(
                self.source.name,
                sql,
                dict(params),
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

    def _as_named_by_source(self, aggregate: exp.Expr) -> exp.Expr:
        """The aggregate with every column spelled as the source's schema spells it.

        Specs write columns as the user did; an engine that matches quoted names
        exactly (PostgreSQL) needs the schema's spelling, which validation found.
        """
        resolve = self.source.resolve_column

        def respell(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column):
                return exp.Column(this=exp.to_identifier(resolve(node.name), quoted=True))
            return node

        # transform() copies: a spec may hand out a tree it keeps.
        return aggregate.transform(respell)

    # -- grouped metrics ---------------------------------------------------------------

    def _run_grouped(
        self, batch: _Batch, columns: tuple[str, ...], specs: list[MetricSpec]
    ) -> None:
        params: Params = {}
        query = self._distinct_query(columns, specs, params, batch.dates)
        if query is None:
            params = {}
            query = self._grouped_query(columns, specs, params, batch.dates)
        sql = self.source.render(query)
        names = tuple(spec.name for spec in specs)
        try:
            rows, seconds = self._execute(batch, sql, params, names)
        except _EngineFailed as failed:
            batch.fail(specs, failed.message)
            return
        by_date, _ = self._split_rows(rows, batch.dates, 1 if self.source.partitioned else 0)
        batch.seen.update(by_date)
        for day in batch.dates:
            row = by_date.get(day)
            for index, spec in enumerate(specs):
                batch.values[(spec, day)] = (
                    _computed(row[index], spec, self.source.name, day)
                    if row is not None
                    else Success(spec.empty_value)
                )
        batch.statements.append(
            Statement(self.source.name, sql, dict(params), batch.dates, names, seconds)
        )

    def _grouped_query(
        self,
        columns: tuple[str, ...],
        specs: list[MetricSpec],
        params: Params,
        dates: tuple[dt.date, ...],
    ) -> exp.Query:
        """One row per date and distinct combination of ``columns``, then each spec's
        aggregate over those rows."""
        source = self.source
        partitioned = source.partitioned
        keys = {column: f"k_{i}" for i, column in enumerate(columns)}
        inner_selections: list[exp.Expr] = []
        if partitioned:
            inner_selections.append(exp.alias_(source.date_key(), _DATE_ALIAS, quoted=True))
        for column, key in keys.items():
            inner_selections.append(
                exp.alias_(exp.column(source.resolve_column(column), quoted=True), key, quoted=True)
            )
        inner_selections.append(exp.alias_(exp.Count(this=exp.Star()), _GROUP_ROWS, quoted=True))
        inner = exp.select(*inner_selections).from_(source.table_expression())
        date_filter = self._date_filter(params, dates)
        if date_filter is not None:
            inner = inner.where(date_filter)
        inner = inner.group_by(*(exp.Literal.number(i) for i in range(1, len(inner_selections))))

        key_columns = {column: exp.column(key, quoted=True) for column, key in keys.items()}
        group_rows = exp.column(_GROUP_ROWS, quoted=True)
        outer_selections: list[exp.Expr] = []
        if partitioned:
            outer_selections.append(exp.column(_DATE_ALIAS, quoted=True))
        for index, spec in enumerate(specs):
            value = spec.grouped_value(key_columns, group_rows, params, source.dialect)
            outer_selections.append(exp.alias_(value, f"m_{index}"))
        query = exp.select(*outer_selections).from_(inner.subquery("g"))
        if partitioned:
            query = query.group_by(exp.column(_DATE_ALIAS, quoted=True))
        return query

    def _distinct_query(
        self,
        columns: tuple[str, ...],
        specs: list[MetricSpec],
        params: Params,
        dates: tuple[dt.date, ...],
    ) -> exp.Query | None:
        """The grouped statement as DISTINCT aggregates over the rows, when the source
        prefers that shape and every spec has it; ``None`` otherwise."""
        source = self.source
        if not source.groups_with_distinct():
            return None
        keys = {
            column: exp.column(source.resolve_column(column), quoted=True) for column in columns
        }
        values = [spec.distinct_value(keys, params, source.dialect) for spec in specs]
        if any(value is None for value in values):
            return None
        selections = [exp.alias_(value, f"m_{i}") for i, value in enumerate(values) if value]
        if not source.partitioned:
            return exp.select(*selections).from_(source.table_expression())
        key = exp.alias_(source.date_key(), _DATE_ALIAS, quoted=True)
        date_filter = self._date_filter(params, dates)
        assert date_filter is not None
        query = exp.select(key, *selections).from_(source.table_expression()).where(date_filter)
        return query.group_by(exp.Literal.number(1))

    # -- shared plumbing ---------------------------------------------------------------

    def _execute(
        self, batch: _Batch, sql: str, params: Params, names: tuple[str, ...]
    ) -> tuple[_Rows, float]:
        """The statement's rows and seconds; a failure is recorded, then raised."""
        started = time.perf_counter()
        try:
            rows = self.source.execute(sql, dict(params))
        except Exception as exc:  # the engine's own error types vary by source
            if self.source.interrupted(exc):
                # Ctrl-C or SIGTERM, as the engine reports it: not a failed statement
                # whose error becomes results, but the end of the run.
                raise KeyboardInterrupt(_engine_message(exc)) from exc
            message = _engine_message(exc)
            batch.statements.append(
                Statement(
                    self.source.name,
                    sql,
                    dict(params),
                    batch.dates,
                    names,
                    time.perf_counter() - started,
                    error=message,
                    error_type=type(exc).__name__,
                )
            )
            raise _EngineFailed(message) from exc
        return rows, time.perf_counter() - started

    def _select(
        self,
        selections: list[exp.Expr],
        params: Params,
        dates: tuple[dt.date, ...],
    ) -> tuple[exp.Query, int]:
        source = self.source
        if not source.partitioned:
            return exp.select(*selections).from_(source.table_expression()), 0
        key = exp.alias_(source.date_key(), _DATE_ALIAS, quoted=True)
        query = exp.select(key, *selections).from_(source.table_expression())
        date_filter = self._date_filter(params, dates)
        assert date_filter is not None
        query = query.where(date_filter).group_by(exp.Literal.number(1))
        # A date without rows has no group. What each aggregate is over zero rows (COUNT 0,
        # SUM NULL, whatever a custom expression makes of it) is SQL's to say, so one more
        # branch over no rows at all answers it, keyed NULL, inside the same statement.
        empty = (
            exp.select(exp.alias_(exp.Null(), _DATE_ALIAS, quoted=True), *selections)
            .from_(source.table_expression())
            .where(exp.false())
        )
        return exp.union(query, empty, distinct=False), 1

    def _date_filter(self, params: Params, dates: tuple[dt.date, ...]) -> exp.Expr | None:
        source = self.source
        if not source.partitioned:
            return None
        placeholders: list[exp.Expr] = []
        for index, day in enumerate(dates):
            name = f"d_{index}"
            params[name] = source.date_bind_value(day)
            placeholders.append(exp.Placeholder(this=name))
        if len(placeholders) == 1:
            return exp.EQ(this=source.date_key(), expression=placeholders[0])
        return exp.In(this=source.date_key(), expressions=placeholders)

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
