"""Metric kinds: how each is named, what identifies it, and the SQL that computes it.

A spec holds no dates and no connection. It checks itself against a source before any
scan (:meth:`MetricSpec.validate`) and renders its own SQL as a sqlglot expression in
the source's dialect, identifiers quoted and values as bind parameters. A *shared*
spec is one aggregate (:meth:`~MetricSpec.aggregate`), cut into statements by
:mod:`dqx.planner`. A *grouped* spec (``unique_count``, ``duplicate_count``) names
the columns it groups by (:attr:`~MetricSpec.grouped_by`) and aggregates over their
distinct combinations (:meth:`~MetricSpec.grouped_value`), sharing the statement with
specs grouped by the same columns. A new kind is one subclass: see :mod:`dqx.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from sqlglot import exp

from dqx.bind_values import BindValue, check_bind_value, comparable_kinds, value_kind
from dqx.common import DefinitionError, canonical_json
from dqx.custom_sql import parsed_once

if TYPE_CHECKING:
    from dqx.datasource import DataSource

__all__ = [
    "Average",
    "BindValue",
    "CountValues",
    "CustomSQL",
    "DuplicateCount",
    "GroupKeys",
    "Maximum",
    "MetricSpec",
    "Minimum",
    "NullCount",
    "NumRows",
    "Params",
    "Spec",
    "Sum",
    "UniqueCount",
    "Variance",
    "quoted_column",
]

#: Bind values by placeholder name, filled in while a statement is rendered.
Params = dict[str, BindValue]
#: A grouped spec's columns, as written, each mapped to its key column in a group.
GroupKeys = Mapping[str, exp.Expr]


def quoted_column(name: str) -> exp.Column:
    """A column reference that the dialect quotes whatever the name holds."""
    return exp.Column(this=exp.to_identifier(name, quoted=True))


#: Dialects that write a filtered count as COUNT(CASE ...), not COUNT(*) FILTER: DuckDB
#: plans FILTER clauses in time growing with the square of their number in a statement
#: (bench/RESULTS.md, width sweep), and CASE is no slower for a few.
_COUNT_WITH_CASE = frozenset({"duckdb"})


def _count_where(condition: exp.Expr, dialect: str) -> exp.Expr:
    # Both are 0 over zero rows, unlike COUNT_IF on some engines; COUNT skips CASE's NULLs.
    if dialect in _COUNT_WITH_CASE:
        case = exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))])
        return exp.Count(this=case)
    return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))


def _check_column_name(method: str, column: object) -> str:
    if not isinstance(column, str) or not column:
        raise DefinitionError(f"{method}() needs a column name, got {column!r}")
    return column


def _in(where: str | None) -> str:
    return f" (in {where})" if where else ""


class Spec:
    """Root of every metric kind: its name as written, parameters and identity.

    A kind is a subclass with a ``kind`` class attribute and ``from_parameters``; the
    class hierarchy is the only registry (see :mod:`dqx.kinds`), so a kind defined
    anywhere, a test included, is known while its class exists.
    """

    kind: ClassVar[str]

    @property
    def parameters(self) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def identity(self) -> tuple[str, str]:
        return (self.kind, canonical_json(self.parameters))

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class MetricSpec(Spec):
    """Base of every metric computed by SQL. Equal specs are the same metric."""

    kind: ClassVar[str]
    #: The value over zero rows (``None``: SQL gives NULL), for dates with no rows.
    empty_value: ClassVar[float | None] = None
    #: The metric is the row count, which every shared statement selects anyway.
    counts_rows: ClassVar[bool] = False
    #: The SQL is the user's own, so the engine may reject it: when a shared statement
    #: fails, such metrics are retried one by one and spoil only themselves.
    user_written: ClassVar[bool] = False

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        """The spec whose ``parameters`` these are: the inverse of ``parameters``."""
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
    def grouped_by(self) -> tuple[str, ...] | None:
        """Columns whose distinct combinations the metric counts over, or ``None`` for
        a plain aggregate that fits the shared statement."""
        return None

    def validate(self, source: DataSource, *, where: str | None = None) -> None:
        """Raise :class:`~dqx.common.DefinitionError` if the metric cannot run on
        ``source``; called before any data is read. ``where`` (say, ``check 'Sales',
        assertion 'avg'``) is added to every message."""
        for column in self.columns:
            resolved = source.resolve_column(column, metric=self.name, where=where)
            if column in self.numeric_columns and not source.is_numeric(resolved):
                why = source.why_not_numeric(resolved)
                raise DefinitionError(
                    f"{self.name} needs a numeric column, but {column!r} in dataset "
                    f"{source.name!r} is {source.schema[resolved]}{_in(where)}"
                    + (f": {why}" if why else ""),
                    dataset=source.name,
                    column=column,
                    metric=self.name,
                )

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
        """The aggregate expression for ``dialect``; bind values are added to ``params``."""
        raise NotImplementedError(f"{type(self).__qualname__} renders no shared aggregate")

    def grouped_value(
        self, keys: GroupKeys, rows: exp.Expr, params: Params, dialect: str
    ) -> exp.Expr:
        """The aggregate over the grouped rows, one per distinct combination of
        :attr:`grouped_by`: ``keys`` maps each of those columns to its key in a group,
        ``rows`` is the group's row count. Bind values are added to ``params``."""
        raise NotImplementedError(f"{type(self).__qualname__} renders no grouped value")

    def distinct_value(self, columns: GroupKeys, params: Params, dialect: str) -> exp.Expr | None:
        """:meth:`grouped_value` as an aggregate over the rows themselves (COUNT(DISTINCT
        ...)), for engines that run it faster (:meth:`DataSource.groups_with_distinct`);
        ``columns`` maps each of :attr:`grouped_by` to the source's column. ``None``
        when the metric has no such form: its statement is then grouped."""
        return None

    @property
    def counted_values(self) -> tuple[str, tuple[BindValue, ...]] | None:
        """``(column, values)`` (each value once) when the metric counts rows whose
        column equals one of the values; :mod:`dqx.planner` folds many into one count."""
        return None


@dataclass(frozen=True)
class _ColumnSpec(MetricSpec):
    column: str

    def __post_init__(self) -> None:
        _check_column_name(self.kind, self.column)

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls(parameters["column"])

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

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
        return self.sql_function(this=quoted_column(self.column))


@dataclass(frozen=True)
class NumRows(MetricSpec):
    kind: ClassVar[str] = "num_rows"
    empty_value: ClassVar[float | None] = 0.0
    counts_rows: ClassVar[bool] = True

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls()

    @property
    def parameters(self) -> dict[str, Any]:
        return {}

    @property
    def name(self) -> str:
        return "num_rows()"

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
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

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
        # Rows minus values: no condition per row, so any number of them is one pass.
        column = quoted_column(self.column)
        return exp.Sub(this=exp.Count(this=exp.Star()), expression=exp.Count(this=column))


@dataclass(frozen=True)
class UniqueCount(_ColumnSpec):
    """Distinct non-null values."""

    kind: ClassVar[str] = "unique_count"
    empty_value: ClassVar[float | None] = 0.0

    @property
    def grouped_by(self) -> tuple[str, ...]:
        return (self.column,)

    def grouped_value(
        self, keys: GroupKeys, rows: exp.Expr, params: Params, dialect: str
    ) -> exp.Expr:
        # COUNT skips the NULL group, which DISTINCT would have kept.
        return exp.Count(this=keys[self.column].copy())

    def distinct_value(self, columns: GroupKeys, params: Params, dialect: str) -> exp.Expr | None:
        return exp.Count(this=exp.Distinct(expressions=[columns[self.column].copy()]))


@dataclass(frozen=True)
class DuplicateCount(MetricSpec):
    """Rows minus distinct rows over the columns; NULLs compare equal, as in DISTINCT."""

    kind: ClassVar[str] = "duplicate_count"
    empty_value: ClassVar[float | None] = 0.0
    over: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.over:
            raise DefinitionError("duplicate_count() needs at least one column")
        for column in self.over:
            _check_column_name(self.kind, column)
        if len(set(self.over)) != len(self.over):
            raise DefinitionError(f"duplicate_count() lists a column twice: {list(self.over)!r}")

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls(over=tuple(parameters["columns"]))

    @property
    def parameters(self) -> dict[str, Any]:
        return {"columns": list(self.over)}

    @property
    def name(self) -> str:
        return f"duplicate_count([{', '.join(self.over)}])"

    @property
    def columns(self) -> tuple[str, ...]:
        return self.over

    @property
    def grouped_by(self) -> tuple[str, ...]:
        return self.over

    def grouped_value(
        self, keys: GroupKeys, rows: exp.Expr, params: Params, dialect: str
    ) -> exp.Expr:
        # Every group of equal rows contributes (its size - 1) duplicates.
        return exp.Coalesce(
            this=exp.Sub(this=exp.Sum(this=rows.copy()), expression=exp.Count(this=exp.Star())),
            expressions=[exp.Literal.number(0)],
        )

    def distinct_value(self, columns: GroupKeys, params: Params, dialect: str) -> exp.Expr | None:
        if dialect not in ("postgres", "duckdb"):
            return None
        # A ROW(...) is never NULL, so rows of NULLs are one distinct value, as in DISTINCT.
        row = exp.Anonymous(this="ROW", expressions=[columns[c].copy() for c in self.over])
        distinct = exp.Count(this=exp.Distinct(expressions=[row]))
        return exp.Sub(this=exp.Count(this=exp.Star()), expression=distinct)


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
            checked = tuple(check_bind_value(v) for v in values)
            return cls(column=column, values=checked, as_list=True)
        return cls(column=column, values=(check_bind_value(values),), as_list=False)

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls.of(parameters["column"], parameters["values"])

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

    def validate(self, source: DataSource, *, where: str | None = None) -> None:
        super().validate(source, where=where)
        column = source.resolve_column(self.column, metric=self.name, where=where)
        accepted = comparable_kinds(
            source.type_family(column),
            booleans_with_numbers=source.compares_booleans_with_numbers(),
        )
        for value in self.values:
            if value_kind(value) not in accepted:
                raise DefinitionError(
                    f"{self.name}: {value!r} cannot match column {column!r} of dataset "
                    f"{source.name!r}, which is {source.schema[column]} "
                    f"(on {source.dialect}){_in(where)}",
                    dataset=source.name,
                    column=column,
                    metric=self.name,
                )

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
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
        return _count_where(condition, dialect)

    @property
    def counted_values(self) -> tuple[str, tuple[BindValue, ...]] | None:
        # One type only: folded, the values share a VALUES list whose type the engine
        # infers from them. Equal values count a row once in IN (...), twice in a join.
        if len(set(self.value_types)) != 1:
            return None
        return self.column, tuple(dict.fromkeys(self.values))


@dataclass(frozen=True)
class CustomSQL(MetricSpec):
    """One aggregate expression over the dataset's own columns, in the source's SQL.

    The metric is its text: equal text, equal metric, on any engine. The text is read
    in the dialect of the source it runs on (:func:`dqx.custom_sql.parse_custom_sql`),
    so its columns and its SQL exist only for a dialect: :meth:`validate` checks them
    and :meth:`aggregate` renders them; :attr:`columns` is empty.
    """

    kind: ClassVar[str] = "custom_sql"
    user_written: ClassVar[bool] = True
    sql: str = ""
    # Parses by dialect, kept with the spec: a plan validates and renders it repeatedly.
    _trees: dict[str, exp.Expr] = field(default_factory=dict, init=False, compare=False, repr=False)

    @classmethod
    def of(cls, sql: str) -> CustomSQL:
        """The metric for ``sql``; what needs a dialect is checked by :meth:`validate`."""
        if not isinstance(sql, str) or not sql.strip():
            raise DefinitionError(f"custom_sql() needs an SQL expression, got {sql!r}")
        return cls(sql=sql.strip())

    @classmethod
    def from_parameters(cls, parameters: dict[str, Any]) -> MetricSpec:
        return cls.of(parameters["sql"])

    @property
    def parameters(self) -> dict[str, Any]:
        return {"sql": self.sql}

    @property
    def name(self) -> str:
        return f"custom_sql({self.sql})"

    def _tree(self, dialect: str, *, where: str | None = None) -> exp.Expr:
        # Shared by every caller: read it, never change it (aggregate() hands out copies).
        found = self._trees.get(dialect)
        if found is None:
            found = parsed_once(self.sql, dialect, where=where)
            self._trees[dialect] = found
        return found

    def validate(self, source: DataSource, *, where: str | None = None) -> None:
        tree = self._tree(source.dialect, where=where)
        for column in dict.fromkeys(node.name for node in tree.find_all(exp.Column)):
            source.resolve_column(column, metric=self.name, where=where)

    def aggregate(self, params: Params, dialect: str) -> exp.Expr:
        return self._tree(dialect).copy()
