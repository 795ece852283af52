"""Plan metrics into as few SQL statements as the engine needs, run them, read values.

For one dataset and a batch of dates the plan is:

* one statement holding every *shared* aggregate (counts, sums, averages, min/max,
  variance, filtered counts, custom_sql), grouped by date on a partitioned source;
* one grouped statement per column set of the DISTINCT-style metrics
  (``unique_count(c)`` and ``duplicate_count([c])`` over the same columns share it).
  DuckDB does not share a scan between DISTINCT aggregates anyway: on 6M rows
  (bench/distinct_strategies.py) COUNT(DISTINCT) in the shared statement, separate
  COUNT(DISTINCT) statements and this grouped shape were within noise of each other
  (1.36-1.45 s best of 5), so the shape that lets both metrics of a column set share
  one grouping stays.

A date of the batch without rows still gets every shared value in the same statement:
a UNION ALL branch over zero rows says what each aggregate is then.

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
from dqx.specs import BindValue, CountValues, CustomSQL, MetricSpec, NumRows

__all__ = ["Analyzer", "Computed", "Statement", "validate_specs"]

_DATE_ALIAS = "dqx_date"
_ROWS_ALIAS = "dqx_rows"

#: A computed value: a float, ``None`` for SQL NULL, or the engine's error message.
Computed = Result[float | None, str]


@dataclass
class _Batch:
    source: DataSource
    dates: tuple[dt.date, ...]
    values: dict[tuple[MetricSpec, dt.date], Computed] = field(default_factory=dict)
    statements: list[Statement] = field(default_factory=list)


def validate_specs(
    source: DataSource, specs: Iterable[MetricSpec], *, where: str | None = None
) -> None:
    """Check every column against the schema before any data is read.

    ``where`` (say, ``check 'Sales', assertion 'avg'``) is added to every message.
    """
    for spec in specs:
        for column in spec.columns:
            resolved = source.resolve_column(column, metric=spec.name, where=where)
            if column in spec.numeric_columns and not source.is_numeric(resolved):
                raise DefinitionError(
                    f"{spec.name} needs a numeric column, but {column!r} in dataset "
                    f"{source.name!r} is {source.schema[resolved]}{_in(where)}",
                    dataset=source.name,
                    column=column,
                    metric=spec.name,
                )
            if isinstance(spec, CountValues):
                _check_value_types(source, spec, resolved, where)


def _in(where: str | None) -> str:
    return f" (in {where})" if where else ""


def _check_value_types(
    source: DataSource, spec: CountValues, column: str, where: str | None
) -> None:
    # The engine would fail to cast while scanning and take the whole batch with it;
    # a value that can never match the column's type is a definition error instead.
    column_type = source.schema[column].upper()
    numeric = source.is_numeric(column)
    text = column_type == "VARCHAR"
    boolean = column_type == "BOOLEAN"
    nested = column_type.endswith("]") or column_type.startswith(("STRUCT", "MAP", "UNION"))
    for value in spec.values:
        is_bool = isinstance(value, bool)
        is_number = isinstance(value, int | float) and not is_bool
        if (
            nested
            or (numeric and isinstance(value, str))
            or (text and (is_number or is_bool))
            or (is_bool and not boolean and not numeric)
            or (boolean and isinstance(value, str))
        ):
            raise DefinitionError(
                f"{spec.name}: {value!r} cannot match column {column!r} of dataset "
                f"{source.name!r}, which is {source.schema[column]}{_in(where)}",
                dataset=source.name,
                column=column,
                metric=spec.name,
            )


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
        shared = [spec for spec in unique_specs if spec.shared]
        self._run_shared(batch, shared)
        by_columns: dict[tuple[str, ...], list[MetricSpec]] = {}
        for spec in unique_specs:
            if not spec.shared:
                by_columns.setdefault(tuple(sorted(spec.columns)), []).append(spec)
        for columns, grouped in by_columns.items():
            self._run_grouping(batch, columns, grouped)
        return batch.values, batch.statements

    # -- shared aggregates -------------------------------------------------------------

    def _run_shared(self, batch: _Batch, specs: list[MetricSpec]) -> None:
        # The row count rides along in every shared statement: it is num_rows() and the
        # rows-scanned figure, and it costs nothing extra in the same scan.
        specs = [spec for spec in specs if not isinstance(spec, NumRows)]
        if self._try_shared(batch, specs, True):
            return
        # Isolate the failure: custom_sql is the usual culprit, so the built-in
        # aggregates go together and every custom expression alone.
        builtin = [spec for spec in specs if not isinstance(spec, CustomSQL)]
        custom: list[MetricSpec] = [spec for spec in specs if isinstance(spec, CustomSQL)]
        if custom and self._try_shared(batch, builtin, True):
            for spec in custom:
                self._try_shared(batch, [spec], False, record_failure=True)
            return
        self._try_shared(batch, [], True, record_failure=True)
        for spec in specs:
            self._try_shared(batch, [spec], False, record_failure=True)

    def _try_shared(
        self,
        batch: _Batch,
        specs: list[MetricSpec],
        with_rows: bool,
        *,
        record_failure: bool = False,
    ) -> bool:
        params: dict[str, BindValue] = {}
        selections: list[exp.Expr] = []
        if with_rows:
            selections.append(exp.alias_(exp.Count(this=exp.Star()), _ROWS_ALIAS, quoted=True))
        for index, spec in enumerate(specs):
            selections.append(exp.alias_(spec.aggregate(params), f"m_{index}", quoted=True))
        if not selections:
            return True
        query, key_offset = self._select(selections, params, batch.dates)
        sql = query.sql(dialect=self.source.dialect)
        names = ((NumRows().name,) if with_rows else ()) + tuple(spec.name for spec in specs)
        started = time.perf_counter()
        try:
            rows = self.source.execute(sql, dict(params))
        except Exception as exc:  # the engine's own error types vary by source
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
                )
            )
            if record_failure:
                failed = [NumRows(), *specs] if with_rows else specs
                for spec in failed:
                    for day in batch.dates:
                        batch.values[(spec, day)] = Failure(
                            f"{spec.name} on dataset {self.source.name!r} for {day}: "
                            f"the engine failed: {message}"
                        )
            return False
        seconds = time.perf_counter() - started
        by_date, empty_row = self._split_rows(rows, batch.dates, key_offset)
        scanned = 0
        for day in batch.dates:
            row = by_date.get(day, empty_row)
            if row is None:
                raise ComputeError(
                    f"dataset {self.source.name!r}: the statement returned no row for {day}"
                )
            offset = 0
            if with_rows:
                count = row[0] or 0
                scanned += int(count)
                batch.values[(NumRows(), day)] = Success(float(count))
                offset = 1
            for index, spec in enumerate(specs):
                batch.values[(spec, day)] = _computed(
                    row[offset + index], spec, self.source.name, day
                )
        batch.statements.append(
            Statement(
                self.source.name,
                sql,
                dict(params),
                batch.dates,
                names,
                seconds,
                rows_scanned=scanned if with_rows else None,
            )
        )
        return True

    # -- DISTINCT-style metrics ------------------------------------------------------

    def _run_grouping(
        self, batch: _Batch, columns: tuple[str, ...], specs: list[MetricSpec]
    ) -> None:
        source = self.source
        partitioned = source.partitioned
        keys = [f"k_{i}" for i in range(len(columns))]
        inner_selections: list[exp.Expr] = []
        if partitioned:
            inner_selections.append(exp.alias_(source.date_key(), _DATE_ALIAS, quoted=True))
        for key, column in zip(keys, columns, strict=True):
            inner_selections.append(
                exp.alias_(exp.column(source.resolve_column(column), quoted=True), key, quoted=True)
            )
        inner_selections.append(exp.alias_(exp.Count(this=exp.Star()), "n", quoted=True))
        inner = exp.select(*inner_selections).from_(source.table_expression())
        params: dict[str, BindValue] = {}
        date_filter = self._date_filter(params, batch.dates)
        if date_filter is not None:
            inner = inner.where(date_filter)
        group_positions = range(1, len(inner_selections))
        inner = inner.group_by(*(exp.Literal.number(i) for i in group_positions))

        outer_selections: list[exp.Expr] = []
        if partitioned:
            outer_selections.append(exp.column(_DATE_ALIAS, quoted=True))
        for index, spec in enumerate(specs):
            outer_selections.append(exp.alias_(self._grouping_value(spec), f"m_{index}"))
        query = exp.select(*outer_selections).from_(inner.subquery("g"))
        if partitioned:
            query = query.group_by(exp.column(_DATE_ALIAS, quoted=True))
        sql = query.sql(dialect=source.dialect)
        names = tuple(spec.name for spec in specs)
        started = time.perf_counter()
        try:
            rows = source.execute(sql, dict(params))
        except Exception as exc:  # the engine's own error types vary by source
            message = _engine_message(exc)
            batch.statements.append(
                Statement(
                    source.name,
                    sql,
                    dict(params),
                    batch.dates,
                    names,
                    time.perf_counter() - started,
                    error=message,
                )
            )
            for spec in specs:
                for day in batch.dates:
                    batch.values[(spec, day)] = Failure(
                        f"{spec.name} on dataset {source.name!r} for {day}: "
                        f"the engine failed: {message}"
                    )
            return
        seconds = time.perf_counter() - started
        by_date, _ = self._split_rows(rows, batch.dates, 1 if partitioned else 0)
        for day in batch.dates:
            row = by_date.get(day)
            for index, spec in enumerate(specs):
                batch.values[(spec, day)] = (
                    _computed(row[index], spec, source.name, day)
                    if row is not None
                    else Success(spec.empty_value)
                )
        batch.statements.append(
            Statement(source.name, sql, dict(params), batch.dates, names, seconds)
        )

    @staticmethod
    def _grouping_value(spec: MetricSpec) -> exp.Expr:
        n = exp.column("n", quoted=True)
        if spec.kind == "unique_count":
            return exp.Count(this=exp.column("k_0", quoted=True))
        if spec.kind == "duplicate_count":
            # Every group of equal rows contributes (its size - 1) duplicates.
            return exp.Coalesce(
                this=exp.Sub(this=exp.Sum(this=n), expression=exp.Count(this=exp.Star())),
                expressions=[exp.Literal.number(0)],
            )
        raise AssertionError(f"{spec.kind} is not a grouping metric")

    # -- shared plumbing ---------------------------------------------------------------

    def _select(
        self,
        selections: list[exp.Expr],
        params: dict[str, BindValue],
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

    def _date_filter(
        self, params: dict[str, BindValue], dates: tuple[dt.date, ...]
    ) -> exp.Expr | None:
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
        self, rows: list[tuple[Any, ...]], dates: tuple[dt.date, ...], key_offset: int
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


def _computed(value: Any, spec: MetricSpec, dataset: str, day: dt.date) -> Computed:
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
