"""Metric kinds: how each is named, what identifies it, and the SQL that computes it.

A spec knows nothing about data sources or dates. It says which columns it reads,
which of them must be numeric, and gives its aggregate as a sqlglot expression with
identifiers quoted and values as named bind parameters, so the analyzer can render
it for any dialect and pack many of them into one statement.

Two shapes exist. *Shared* specs are plain aggregates that go together into one
SELECT per dataset and date batch. *Grouping* specs (``unique_count``,
``duplicate_count``) need a DISTINCT-style grouping of their own; DuckDB does not
share a scan between those, so each gets its own grouped statement.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from dqx.common import DefinitionError, canonical_json

__all__ = [
    "AnySpec",
    "Average",
    "CountValues",
    "CustomSQL",
    "DayOverDay",
    "DuplicateCount",
    "ExtendedSpec",
    "Maximum",
    "MetricSpec",
    "Minimum",
    "NullCount",
    "NumRows",
    "Stddev",
    "Sum",
    "UniqueCount",
    "Variance",
    "WeekOverWeek",
    "quoted_column",
    "spec_from_parameters",
]

BindValue = str | int | float | bool


def quoted_column(name: str) -> exp.Column:
    """A column reference that the dialect quotes whatever the name holds."""
    return exp.Column(this=exp.to_identifier(name, quoted=True))


def _count_where(condition: exp.Expr) -> exp.Expr:
    # COUNT(*) FILTER is 0 over zero rows, where some engines give NULL for COUNT_IF.
    return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))


def _check_column_name(method: str, column: object) -> str:
    if not isinstance(column, str) or not column:
        raise DefinitionError(f"{method}() needs a column name, got {column!r}")
    return column


@dataclass(frozen=True)
class MetricSpec:
    """Base of every metric kind. Equal specs are the same metric."""

    kind: ClassVar[str]
    #: The value over zero rows (``None``: SQL gives NULL), for dates with no rows.
    empty_value: ClassVar[float | None] = None
    #: Whether the aggregate fits the shared one-scan statement.
    shared: ClassVar[bool] = True

    @property
    def parameters(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def columns(self) -> tuple[str, ...]:
        """Columns the metric reads, as the user wrote them."""
        return ()

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        """Columns that must hold numbers for the metric to make sense."""
        return ()

    @property
    def identity(self) -> tuple[str, str]:
        return (self.kind, canonical_json(self.parameters))

    def aggregate(self, params: dict[str, BindValue]) -> exp.Expr:
        """The aggregate expression; bind values are added to ``params``."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class _ColumnSpec(MetricSpec):
    column: str

    def __post_init__(self) -> None:
        _check_column_name(self.kind, self.column)

    @property
    def parameters(self) -> dict[str, Any]:
        return {"column": self.column}

    @property
    def name(self) -> str:
        return f"{self.kind}({self.column})"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)


@dataclass(frozen=True)
class _NumericColumnSpec(_ColumnSpec):
    sql_function: ClassVar[type[exp.Func]]

    @property
    def numeric_columns(self) -> tuple[str, ...]:
        return (self.column,)

    def aggregate(self, params: dict[str, BindValue]) -> exp.Expr:
        return self.sql_function(this=quoted_column(self.column))


@dataclass(frozen=True)
class NumRows(MetricSpec):
    kind: ClassVar[str] = "num_rows"
    empty_value: ClassVar[float | None] = 0.0

    @property
    def parameters(self) -> dict[str, Any]:
        return {}

    @property
    def name(self) -> str:
        return "num_rows()"

    def aggregate(self, params: dict[str, BindValue]) -> exp.Expr:
        return exp.Count(this=exp.Star())


@dataclass(frozen=True)
class Sum(_NumericColumnSpec):
    kind: ClassVar[str] = "sum"
    sql_function: ClassVar[type[exp.Func]] = exp.Sum


@dataclass(frozen=True)
class Average(_NumericColumnSpec):
    kind: ClassVar[str] = "average"
    sql_function: ClassVar[type[exp.Func]] = exp.Avg


@dataclass(frozen=True)
class Minimum(_NumericColumnSpec):
    kind: ClassVar[str] = "minimum"
    sql_function: ClassVar[type[exp.Func]] = exp.Min


@dataclass(frozen=True)
class Maximum(_NumericColumnSpec):
    kind: ClassVar[str] = "maximum"
    sql_function: ClassVar[type[exp.Func]] = exp.Max


@dataclass(frozen=True)
class Variance(_NumericColumnSpec):
    """Sample variance (n - 1); NULL below two values, as SQL's VAR_SAMP."""

    kind: ClassVar[str] = "variance"
    sql_function: ClassVar[type[exp.Func]] = exp.Variance


@dataclass(frozen=True)
class NullCount(_ColumnSpec):
    kind: ClassVar[str] = "null_count"
    empty_value: ClassVar[float | None] = 0.0

    def aggregate(self, params: dict[str, BindValue]) -> exp.Expr:
        return _count_where(exp.Is(this=quoted_column(self.column), expression=exp.Null()))


@dataclass(frozen=True)
class UniqueCount(_ColumnSpec):
    """Distinct non-null values."""

    kind: ClassVar[str] = "unique_count"
    empty_value: ClassVar[float | None] = 0.0
    shared: ClassVar[bool] = False


@dataclass(frozen=True)
class DuplicateCount(MetricSpec):
    """Rows minus distinct rows over the columns; NULLs compare equal, as in DISTINCT."""

    kind: ClassVar[str] = "duplicate_count"
    empty_value: ClassVar[float | None] = 0.0
    shared: ClassVar[bool] = False
    over: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.over:
            raise DefinitionError("duplicate_count() needs at least one column")
        for column in self.over:
            _check_column_name(self.kind, column)
        if len(set(self.over)) != len(self.over):
            raise DefinitionError(f"duplicate_count() lists a column twice: {list(self.over)!r}")

    @property
    def parameters(self) -> dict[str, Any]:
        return {"columns": list(self.over)}

    @property
    def name(self) -> str:
        return f"duplicate_count([{', '.join(self.over)}])"

    @property
    def columns(self) -> tuple[str, ...]:
        return self.over


def _check_bind_value(value: object) -> BindValue:
    if value is None:
        raise DefinitionError(
            "count_values() cannot match NULL (in SQL, c = NULL is never true); "
            "count NULLs with mp.null_count(column)"
        )
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            raise DefinitionError("count_values() cannot match NaN: use a custom_sql with isnan()")
        return value
    raise DefinitionError(
        f"count_values() takes strings, numbers or booleans, got {type(value).__name__} {value!r}"
    )


@dataclass(frozen=True)
class CountValues(MetricSpec):
    """Rows where the column equals the value, or is in the list of values."""

    kind: ClassVar[str] = "count_values"
    empty_value: ClassVar[float | None] = 0.0
    column: str = ""
    values: tuple[BindValue, ...] = ()
    as_list: bool = False
    # Python says 1 == 1.0 == True, but they are written, named and stored differently,
    # so equality (and the plan's dedupe) must tell them apart as identity does.
    value_types: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        object.__setattr__(self, "value_types", tuple(type(v).__name__ for v in self.values))

    @classmethod
    def of(cls, column: str, values: BindValue | Sequence[BindValue]) -> CountValues:
        _check_column_name("count_values", column)
        if isinstance(values, list | tuple):
            if not values:
                raise DefinitionError("count_values() needs at least one value")
            checked = tuple(_check_bind_value(v) for v in values)
            return cls(column=column, values=checked, as_list=True)
        return cls(column=column, values=(_check_bind_value(values),), as_list=False)

    @property
    def parameters(self) -> dict[str, Any]:
        shown: Any = list(self.values) if self.as_list else self.values[0]
        return {"column": self.column, "values": shown}

    @property
    def name(self) -> str:
        shown = (
            "[" + ", ".join(repr(v) for v in self.values) + "]"
            if self.as_list
            else repr(self.values[0])
        )
        return f"count_values({self.column}, {shown})"

    @property
    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def aggregate(self, params: dict[str, BindValue]) -> exp.Expr:
        placeholders: list[exp.Expr] = []
        for value in self.values:
            key = f"p{len(params)}"
            params[key] = value
            placeholders.append(exp.Placeholder(this=key))
        column = quoted_column(self.column)
        condition: exp.Expr = (
            exp.EQ(this=column, expression=placeholders[0])
            if len(placeholders) == 1
            else exp.In(this=column, expressions=placeholders)
        )
        return _count_where(condition)


# Functions that read files, tables or the environment have no place inside one
# aggregate over the dataset's own rows.
_FORBIDDEN_FUNCTIONS = frozenset(
    {
        "read_csv",
        "read_csv_auto",
        "read_parquet",
        "parquet_scan",
        "read_json",
        "read_json_auto",
        "read_text",
        "read_blob",
        "glob",
        "query",
        "query_table",
        "getenv",
        "sniff_csv",
        "range",
        "generate_series",
        "current_setting",
        "getvariable",
    }
)
_FORBIDDEN_NODES: tuple[type[exp.Expr], ...] = (
    exp.Query,
    exp.Subquery,
    exp.Table,
    exp.Command,
    exp.Create,
    exp.Drop,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Exists,
    exp.Window,
    exp.Placeholder,
    exp.Parameter,
)
# COLUMNS(...) and * expand to several result columns and #n names a column by
# position: either would shift the shared statement's values onto other metrics.
_INDIRECT_COLUMNS: tuple[type[exp.Expr], ...] = (exp.Columns, exp.PositionalColumn)


@dataclass(frozen=True)
class CustomSQL(MetricSpec):
    """One aggregate expression over the dataset's own columns, written in DuckDB SQL."""

    kind: ClassVar[str] = "custom_sql"
    sql: str = ""
    expression: exp.Expr = field(default_factory=exp.Null, compare=False, repr=False)

    @classmethod
    def parse(cls, sql: str) -> CustomSQL:
        if not isinstance(sql, str) or not sql.strip():
            raise DefinitionError(f"custom_sql() needs an SQL expression, got {sql!r}")
        text = sql.strip()
        try:
            parsed = [tree for tree in sqlglot.parse(text, read="duckdb") if tree is not None]
        except ParseError as exc:
            raise DefinitionError(
                f"custom_sql({text}) is not valid SQL: {exc}", metric=f"custom_sql({text})"
            ) from exc
        if len(parsed) != 1:
            raise DefinitionError(
                f"custom_sql({text}) must be exactly one expression, found {len(parsed)} "
                "statements",
                metric=f"custom_sql({text})",
            )
        tree = parsed[0]
        metric = f"custom_sql({text})"
        if isinstance(tree, exp.Alias):
            raise DefinitionError(
                f"{metric} names its result ({tree.alias!r}); drop the alias: dqx names "
                "the metric after the expression",
                metric=metric,
            )
        for node in tree.walk():
            if isinstance(node, _FORBIDDEN_NODES):
                raise DefinitionError(
                    f"{metric} may hold one aggregate expression only; "
                    f"found {type(node).__name__.lower()} {node.sql('duckdb')!r}",
                    metric=metric,
                )
            if isinstance(node, _INDIRECT_COLUMNS) or (
                isinstance(node, exp.Star) and not _counts_rows(node)
            ):
                raise DefinitionError(
                    f"{metric} selects columns by pattern or position "
                    f"({node.sql('duckdb')!r}); name each column, and use * only as COUNT(*)",
                    metric=metric,
                )
            function_name = _function_name(node)
            if function_name in _FORBIDDEN_FUNCTIONS:
                raise DefinitionError(
                    f"{metric} may not call {function_name}(): it reads outside the dataset",
                    metric=metric,
                )
        if not any(isinstance(node, exp.AggFunc) for node in tree.walk()):
            raise DefinitionError(
                f"{metric} must aggregate over the rows (SUM, COUNT, AVG, ...); "
                "a per-row expression has no single value",
                metric=metric,
            )
        for column in tree.find_all(exp.Column):
            if column.table:
                # The statement reads one relation; a qualifier can only point elsewhere
                # (or at a struct field, which struct_extract() reaches unambiguously).
                raise DefinitionError(
                    f"{metric} refers to {column.sql('duckdb')!r}; use the dataset's "
                    "column names without a table or struct qualifier",
                    metric=metric,
                    column=column.sql("duckdb"),
                )
            if not _inside_aggregate(column):
                # Caught here rather than by the engine at run time, where it would
                # take the whole batch down with it.
                raise DefinitionError(
                    f"{metric} uses column {column.name!r} outside any aggregate; a "
                    "per-row value has no single value over the dataset",
                    metric=metric,
                    column=column.name,
                )
        return cls(sql=text, expression=tree)

    @property
    def parameters(self) -> dict[str, Any]:
        return {"sql": self.sql}

    @property
    def name(self) -> str:
        return f"custom_sql({self.sql})"

    @property
    def referenced_columns(self) -> list[exp.Column]:
        return [node for node in self.expression.find_all(exp.Column)]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(col.name for col in self.referenced_columns))

    def aggregate(self, params: dict[str, BindValue]) -> exp.Expr:
        return self.expression.copy()


def _counts_rows(star: exp.Star) -> bool:
    parent = star.parent
    if isinstance(parent, exp.Distinct):
        parent = parent.parent
    return isinstance(parent, exp.Count)


def _inside_aggregate(node: exp.Expr) -> bool:
    parent = node.parent
    while parent is not None:
        # FILTER (WHERE ...) belongs to the aggregate it filters.
        if isinstance(parent, exp.AggFunc | exp.Filter):
            return True
        parent = parent.parent
    return False


def _function_name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return None


@dataclass(frozen=True)
class ExtendedSpec:
    """A metric computed from a base metric's values on several days; it has no SQL.

    Its name wraps the base's (``day_over_day(average(price))``) and its parameters
    nest the base's kind and parameters, so it is stored and rebuilt like any metric.
    """

    kind: ClassVar[str]
    base: MetricSpec

    @property
    def parameters(self) -> dict[str, Any]:
        return {"metric": self.base.kind, "parameters": self.base.parameters}

    @property
    def name(self) -> str:
        return f"{self.kind}({self.base.name})"

    def base_lags(self, lag: int) -> tuple[int, ...]:
        """Days before the run's date whose base values the metric reads, when the base
        itself is ``lag`` days back."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class DayOverDay(ExtendedSpec):
    """(m(t) - m(t-1)) / m(t-1)."""

    kind: ClassVar[str] = "day_over_day"

    def base_lags(self, lag: int) -> tuple[int, ...]:
        return (lag, lag + 1)


@dataclass(frozen=True)
class WeekOverWeek(ExtendedSpec):
    """(m(t) - m(t-7)) / m(t-7)."""

    kind: ClassVar[str] = "week_over_week"

    def base_lags(self, lag: int) -> tuple[int, ...]:
        return (lag, lag + 7)


@dataclass(frozen=True)
class Stddev(ExtendedSpec):
    """Sample standard deviation of m over the n days ending at t - offset."""

    kind: ClassVar[str] = "stddev"
    offset: int = 0
    n: int = 7

    @property
    def parameters(self) -> dict[str, Any]:
        return {**super().parameters, "offset": self.offset, "n": self.n}

    @property
    def name(self) -> str:
        return f"stddev({self.base.name}, offset={self.offset}, n={self.n})"

    def base_lags(self, lag: int) -> tuple[int, ...]:
        start = lag + self.offset
        return tuple(range(start, start + self.n))


#: Any metric a run can use: one computed by SQL, or one computed from a base's values.
AnySpec = MetricSpec | ExtendedSpec


def spec_from_parameters(kind: str, parameters: dict[str, Any]) -> AnySpec:
    """Rebuild a spec from its stored (kind, parameters); the inverse of ``identity``."""
    # Stored metrics are read back in bulk, custom_sql ones parsed each time: cache by
    # the canonical text, which is also what identity compares.
    return _spec_from_text(kind, canonical_json(parameters))


@functools.lru_cache(maxsize=4096)
def _spec_from_text(kind: str, parameters_json: str) -> AnySpec:
    parameters = json.loads(parameters_json)
    try:
        return _build_spec(kind, parameters)
    except (KeyError, TypeError) as exc:
        raise DefinitionError(
            f"stored metric of kind {kind!r} has unusable parameters {parameters_json}: "
            f"missing or wrong {exc}"
        ) from exc


def _build_spec(kind: str, parameters: dict[str, Any]) -> AnySpec:
    match kind:
        case "num_rows":
            return NumRows()
        case "sum":
            return Sum(parameters["column"])
        case "average":
            return Average(parameters["column"])
        case "minimum":
            return Minimum(parameters["column"])
        case "maximum":
            return Maximum(parameters["column"])
        case "variance":
            return Variance(parameters["column"])
        case "null_count":
            return NullCount(parameters["column"])
        case "unique_count":
            return UniqueCount(parameters["column"])
        case "duplicate_count":
            return DuplicateCount(over=tuple(parameters["columns"]))
        case "count_values":
            return CountValues.of(parameters["column"], parameters["values"])
        case "custom_sql":
            return CustomSQL.parse(parameters["sql"])
        case "day_over_day" | "week_over_week" | "stddev":
            base = _build_spec(parameters["metric"], parameters["parameters"])
            if not isinstance(base, MetricSpec):
                raise DefinitionError(f"{kind} of {base.name}: the base must be a plain metric")
            if kind == "day_over_day":
                return DayOverDay(base)
            if kind == "week_over_week":
                return WeekOverWeek(base)
            return Stddev(base, offset=int(parameters["offset"]), n=int(parameters["n"]))
    raise DefinitionError(f"unknown metric kind {kind!r}")
