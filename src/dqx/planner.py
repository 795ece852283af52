"""Cut one dataset's metrics for a batch of dates into statements, and write each.

The cut follows the source's :class:`~dqx.shapes.StatementShape`:

* ``count_values`` on one column, once ``fold_from`` of them ask (with values of one
  type), fold into one grouped count: the column's rows joined to a VALUES list of
  the wanted values, counted per metric. The engine compares each row with each
  value as it would in the metric's own ``column = value``, so the counts are the
  same; one scan answers any number of values.
* Every other plain aggregate is *shared*: they go together into statements of at
  most ``width`` aggregates (``filtered_width`` of them with a FILTER clause), each
  taking the metrics of a few columns, so no column is read by two of them. Each
  selects the row count too: the rows scanned, and the value of ``num_rows()``.
* Grouped metrics (``unique_count``, ``duplicate_count``) get one statement per
  column set, as GROUP BY or, where the source prefers it, as DISTINCT aggregates.

Aggregates are aliased by position (``m_0``, ``m_1``, ...) and values are bound, so a
plan always renders to the same SQL text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlglot import exp

from dqx.bind_values import BindValue
from dqx.datasource import DataSource
from dqx.specs import MetricSpec, Params

__all__ = ["Aggregate", "Cut", "Folded", "Grouped", "Planner", "Rendered"]

DATE_ALIAS = "dqx_date"
ROWS_ALIAS = "dqx_rows"
_GROUP_ROWS = "n"
_KEY = "dqx_k"
_VALUE = "dqx_v"
_INDEX = "dqx_i"


@dataclass(frozen=True)
class Rendered:
    """A statement as the source executes it. Its rows start with ``key_offset``
    columns of date key (0 or 1); a key of NULL marks the row over zero rows."""

    sql: str
    params: Params
    key_offset: int


@dataclass(frozen=True)
class Aggregate:
    """One shared metric's aggregate, written once for the whole batch."""

    spec: MetricSpec
    tree: exp.Expr
    #: Its bind values, named uniquely within the batch.
    params: Params

    @property
    def filtered(self) -> bool:
        return self.tree.find(exp.Filter) is not None


@dataclass(frozen=True)
class Folded:
    """``count_values`` on one column, counted by one grouped statement."""

    column: str
    specs: tuple[MetricSpec, ...]


@dataclass(frozen=True)
class Grouped:
    """Metrics over the distinct combinations of one column set."""

    columns: tuple[str, ...]
    specs: tuple[MetricSpec, ...]


@dataclass
class Cut:
    """A batch's metrics as statements: shared chunks, folds, grouped column sets."""

    #: Specs whose value is the row count: every shared statement selects it.
    counted: list[MetricSpec] = field(default_factory=list)
    chunks: list[list[Aggregate]] = field(default_factory=list)
    folded: list[Folded] = field(default_factory=list)
    grouped: list[Grouped] = field(default_factory=list)


class Planner:
    """Cuts and writes the statements of one source for one batch of dates."""

    def __init__(self, source: DataSource, dates: tuple[dt.date, ...]) -> None:
        self.source = source
        self.dates = dates
        self._params: Params = {}

    # -- the cut -----------------------------------------------------------------------

    def cut(self, specs: Sequence[MetricSpec]) -> Cut:
        cut = Cut()
        shape = self.source.statement_shape
        by_columns: dict[tuple[str, ...], list[MetricSpec]] = {}
        folds: dict[tuple[str, str], list[MetricSpec]] = {}
        shared: list[MetricSpec] = []
        for spec in specs:
            if spec.grouped_by is not None:
                by_columns.setdefault(tuple(sorted(spec.grouped_by)), []).append(spec)
            elif spec.counts_rows:
                cut.counted.append(spec)
            elif (fold := self._fold_key(spec)) is not None and shape.fold_from is not None:
                folds.setdefault(fold, []).append(spec)
            else:
                shared.append(spec)
        for (column, _), members in folds.items():
            if len(members) >= (shape.fold_from or 0):
                cut.folded.append(Folded(column, tuple(members)))
            else:
                shared.extend(members)
        cut.chunks = self.chunks(shared)
        cut.grouped = [Grouped(columns, tuple(group)) for columns, group in by_columns.items()]
        return cut

    def _fold_key(self, spec: MetricSpec) -> tuple[str, str] | None:
        counted = spec.counted_values
        if counted is None:
            return None
        column, values = counted
        return self.source.resolve_column(column), type(values[0]).__name__

    def chunks(self, specs: Sequence[MetricSpec]) -> list[list[Aggregate]]:
        """The shared specs as statements no wider than the shape allows."""
        aggregates = [self.aggregate(spec) for spec in specs]
        shape = self.source.statement_shape
        width, filtered_width = shape.width, shape.filtered_width
        filtered = sum(1 for a in aggregates if a.filtered)
        if (width is None or len(aggregates) <= width) and (
            filtered_width is None or filtered <= filtered_width
        ):
            return [aggregates] if aggregates else []
        # A column's metrics side by side: each statement then reads few columns, and
        # a columnar engine reads each column once over all of them.
        aggregates.sort(key=lambda a: (a.spec.columns or ("\uffff",), a.spec.name))
        chunks: list[list[Aggregate]] = [[]]
        in_chunk = 0
        for aggregate in aggregates:
            full = width is not None and len(chunks[-1]) >= width
            if aggregate.filtered and filtered_width is not None:
                full = full or in_chunk >= filtered_width
            if full:
                chunks.append([])
                in_chunk = 0
            chunks[-1].append(aggregate)
            in_chunk += aggregate.filtered
        return chunks

    def aggregate(self, spec: MetricSpec) -> Aggregate:
        before = set(self._params)
        tree = self._as_named_by_source(spec.aggregate(self._params, self.source.dialect))
        mine = {name: self._params[name] for name in self._params if name not in before}
        return Aggregate(spec, tree, mine)

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

    # -- the statements ----------------------------------------------------------------

    def shared(self, aggregates: Sequence[Aggregate], *, count_rows: bool) -> Rendered:
        """One SELECT of the aggregates (the row count first, when ``count_rows``)."""
        params: Params = {}
        selections: list[exp.Expr] = []
        if count_rows:
            selections.append(exp.alias_(exp.Count(this=exp.Star()), ROWS_ALIAS, quoted=True))
        for index, aggregate in enumerate(aggregates):
            params.update(aggregate.params)
            selections.append(exp.alias_(aggregate.tree.copy(), f"m_{index}", quoted=True))
        source = self.source
        if not source.partitioned:
            query = exp.select(*selections).from_(source.table_expression())
            return Rendered(source.render(query), params, 0)
        key = exp.alias_(source.date_key(), DATE_ALIAS, quoted=True)
        query = exp.select(key, *selections).from_(source.table_expression())
        query = query.where(self._date_filter(params)).group_by(exp.Literal.number(1))
        # A date without rows has no group. What each aggregate is over zero rows (COUNT 0,
        # SUM NULL, whatever a custom expression makes of it) is SQL's to say, so one more
        # branch over no rows at all answers it, keyed NULL, inside the same statement.
        empty = (
            exp.select(exp.alias_(exp.Null(), DATE_ALIAS, quoted=True), *selections)
            .from_(source.table_expression())
            .where(exp.false())
        )
        return Rendered(source.render(exp.union(query, empty, distinct=False)), params, 1)

    def folded(self, fold: Folded) -> Rendered:
        """Rows (date, metric index, count): the column's rows joined to the values."""
        source = self.source
        params: Params = {}
        rows: list[exp.Expr] = []
        for index, spec in enumerate(fold.specs):
            counted = spec.counted_values
            assert counted is not None, "only count_values fold"
            for value in counted[1]:
                rows.append(exp.Tuple(expressions=[self._bind(params, value), _number(index)]))
        wanted = exp.Values(
            expressions=rows,
            alias=exp.TableAlias(
                this=exp.to_identifier("w", quoted=True),
                columns=[
                    exp.to_identifier(_VALUE, quoted=True),
                    exp.to_identifier(_INDEX, quoted=True),
                ],
            ),
        )
        column = exp.column(source.resolve_column(fold.column), quoted=True)
        inner = [exp.alias_(column, _KEY, quoted=True)]
        outer: list[exp.Expr] = [exp.column(_INDEX, "w", quoted=True)]
        if source.partitioned:
            inner.insert(0, exp.alias_(source.date_key(), DATE_ALIAS, quoted=True))
            outer.insert(0, exp.column(DATE_ALIAS, "s", quoted=True))
        rows_of = exp.select(*inner).from_(source.table_expression())
        if source.partitioned:
            rows_of = rows_of.where(self._date_filter(params))
        on = exp.EQ(
            this=exp.column(_KEY, "s", quoted=True), expression=exp.column(_VALUE, "w", quoted=True)
        )
        query = (
            exp.select(*outer, exp.alias_(exp.Count(this=exp.Star()), _GROUP_ROWS, quoted=True))
            .from_(rows_of.subquery("s"))
            .join(wanted, on=on)
            .group_by(*(_number(i) for i in range(1, len(outer) + 1)))
        )
        return Rendered(source.render(query), params, len(outer) - 1)

    def grouped(self, group: Grouped) -> Rendered:
        """One row per date: each spec's value over the column set's distinct values."""
        params: Params = {}
        query = self._distinct_query(group, params)
        if query is None:
            params = {}
            query = self._grouped_query(group, params)
        return Rendered(self.source.render(query), params, 1 if self.source.partitioned else 0)

    def _grouped_query(self, group: Grouped, params: Params) -> exp.Query:
        """One row per date and distinct combination of the columns, then each spec's
        aggregate over those rows."""
        source = self.source
        partitioned = source.partitioned
        keys = {column: f"k_{i}" for i, column in enumerate(group.columns)}
        inner_selections: list[exp.Expr] = []
        if partitioned:
            inner_selections.append(exp.alias_(source.date_key(), DATE_ALIAS, quoted=True))
        for column, key in keys.items():
            inner_selections.append(
                exp.alias_(exp.column(source.resolve_column(column), quoted=True), key, quoted=True)
            )
        inner_selections.append(exp.alias_(exp.Count(this=exp.Star()), _GROUP_ROWS, quoted=True))
        inner = exp.select(*inner_selections).from_(source.table_expression())
        if partitioned:
            inner = inner.where(self._date_filter(params))
        inner = inner.group_by(*(_number(i) for i in range(1, len(inner_selections))))

        key_columns = {column: exp.column(key, quoted=True) for column, key in keys.items()}
        group_rows = exp.column(_GROUP_ROWS, quoted=True)
        outer_selections: list[exp.Expr] = []
        if partitioned:
            outer_selections.append(exp.column(DATE_ALIAS, quoted=True))
        for index, spec in enumerate(group.specs):
            value = spec.grouped_value(key_columns, group_rows, params, source.dialect)
            outer_selections.append(exp.alias_(value, f"m_{index}"))
        query = exp.select(*outer_selections).from_(inner.subquery("g"))
        if partitioned:
            query = query.group_by(exp.column(DATE_ALIAS, quoted=True))
        return query

    def _distinct_query(self, group: Grouped, params: Params) -> exp.Query | None:
        """The grouped statement as DISTINCT aggregates over the rows, when the source
        prefers that shape and every spec has it; ``None`` otherwise."""
        source = self.source
        if not source.groups_with_distinct():
            return None
        keys = {
            column: exp.column(source.resolve_column(column), quoted=True)
            for column in group.columns
        }
        values = [spec.distinct_value(keys, params, source.dialect) for spec in group.specs]
        if any(value is None for value in values):
            return None
        selections = [exp.alias_(value, f"m_{i}") for i, value in enumerate(values) if value]
        if not source.partitioned:
            return exp.select(*selections).from_(source.table_expression())
        key = exp.alias_(source.date_key(), DATE_ALIAS, quoted=True)
        query = exp.select(key, *selections).from_(source.table_expression())
        return query.where(self._date_filter(params)).group_by(_number(1))

    def _date_filter(self, params: Params) -> exp.Expr:
        source = self.source
        placeholders: list[exp.Expr] = []
        for index, day in enumerate(self.dates):
            name = f"d_{index}"
            params[name] = source.date_bind_value(day)
            placeholders.append(exp.Placeholder(this=name))
        if len(placeholders) == 1:
            return exp.EQ(this=source.date_key(), expression=placeholders[0])
        return exp.In(this=source.date_key(), expressions=placeholders)

    @staticmethod
    def _bind(params: Params, value: BindValue) -> exp.Expr:
        name = f"p{len(params)}"
        params[name] = value
        return exp.Placeholder(this=name)


def _number(value: int) -> exp.Expr:
    # Literal.number() checks its argument's sign and type: 50 us a call, which a fold
    # of 10,000 values pays 10,000 times. An index is never negative.
    return exp.Literal(this=str(value), is_string=False)
