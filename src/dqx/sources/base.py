"""What the analyzer and the specs ask of any source of rows, whatever the engine.

:class:`DataSource` is the contract: a name, a sqlglot ``dialect`` in which statements
are rendered and ``custom_sql`` is read, a schema with each column's
:data:`TypeFamily`, the relation to read FROM, how a row's date is keyed and bound, and
``execute()``. :class:`SchemaSource` is what the built-in engines share once they have
read their schema: column lookup, the choice of date column, date keys and bind values.

A source is either *date-partitioned* (it has a date column, so it can produce any
day's rows) or a *snapshot* (no date column: its rows are the run's date only).
"""

from __future__ import annotations

import abc
import datetime as dt
import difflib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from sqlglot import exp

from dqx.common import DefinitionError
from dqx.shapes import StatementShape

__all__ = [
    "ColumnType",
    "DataSource",
    "DateKind",
    "SchemaSource",
    "TypeFamily",
    "check_source_name",
    "qualified_table",
    "run_interruptibly",
]

#: What a column holds, whatever the engine calls its type.
TypeFamily = Literal["numeric", "text", "boolean", "temporal", "nested", "other"]
#: How a column can serve as the date column: a date, a timestamp (its day), or
#: 'YYYY-MM-DD' text (a Hive partition directory's value, a CSV column).
DateKind = Literal["date", "timestamp", "text"]

DEFAULT_DATE_COLUMN = "yyyy_mm_dd"


class DataSource(abc.ABC):
    """What the analyzer needs from a source of rows.

    A subclass sets ``name``, ``dialect`` (a sqlglot dialect name, in which statements
    are rendered and ``custom_sql`` is read) and ``date_column`` (``None`` for a
    snapshot), and implements the abstract methods below.
    """

    name: str
    dialect: str
    date_column: str | None
    #: How the analyzer cuts this source's metrics into statements. Each engine sets
    #: the shape measured for it; assign another to a source to change its plan.
    statement_shape: StatementShape = StatementShape(width=256, filtered_width=16, fold_from=16)
    #: Called while a statement runs, from the thread waiting for it, with how far the
    #: engine says it is (0-100); engines that cannot tell never call it. The CLI's
    #: progress line sets it; library code leaves it None.
    on_progress: Callable[[float], None] | None = None

    @property
    @abc.abstractmethod
    def schema(self) -> dict[str, str]:
        """Each column's type, as the engine names it."""

    @abc.abstractmethod
    def type_family(self, column: str) -> TypeFamily:
        """The family of the column's type; ``column`` is spelled as in :attr:`schema`."""

    @abc.abstractmethod
    def table_expression(self) -> exp.Expr:
        """The relation statements read FROM."""

    @abc.abstractmethod
    def date_key(self) -> exp.Expr:
        """The row's date as an expression, for filtering and grouping by day."""

    @abc.abstractmethod
    def date_bind_value(self, day: dt.date) -> Any:
        """``day`` as a bind value comparable with :meth:`date_key`."""

    @abc.abstractmethod
    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run one statement (as :meth:`render` wrote it) with named bind parameters
        and return every row."""

    def render(self, statement: exp.Expr) -> str:
        """The statement's text as :meth:`execute` takes it: the dialect's SQL, with
        each ``exp.Placeholder`` written as the driver's named parameter marker.

        The statement is the renderer's to change: each is built for one rendering,
        and sqlglot's defensive copy of it took a tenth of a 10,000-metric run.
        """
        return statement.sql(dialect=self.dialect, copy=False)

    def close(self) -> None:  # noqa: B027 - optional: most sources hold something
        """Release what the source holds (a connection, a temporary view); the default
        holds nothing. A source is not used after it is closed."""

    def interrupted(self, error: Exception) -> bool:
        """Whether ``error``, raised by :meth:`execute`, means the statement was
        interrupted (Ctrl-C, SIGTERM, a cancel) rather than that it failed.

        An engine that turns an interrupt into an error of its own says so here, and
        the run stops as interrupted instead of recording the error as its results.
        The default knows no such error.
        """
        return False

    def stray_date_text(self, day: dt.date) -> str | None:
        """Why ``day`` has no rows when the date column holds text that starts like the
        day but is not it (``'2013-01-01T10:00:00Z'``), or None.

        A text date column matches a day by equality with ``'YYYY-MM-DD'``, so
        timestamps written as text match no day and every day would look empty. The
        analyzer asks only about days without rows; the default knows no such column.
        """
        return None

    @property
    def partitioned(self) -> bool:
        return self.date_column is not None

    def date_from_key(self, value: Any) -> dt.date:
        """The date a :meth:`date_key` value read back from the engine stands for."""
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        return dt.date.fromisoformat(str(value))

    def is_numeric(self, column: str) -> bool:
        return self.type_family(column) == "numeric"

    def why_not_numeric(self, column: str) -> str | None:
        """Why ``column`` is not numeric when the data says so (a CSV line holding a
        word where numbers were expected), for the error that refuses it; None when the
        source cannot tell, which is the default."""
        return None

    def compares_booleans_with_numbers(self) -> bool:
        """Whether ``flag = 1`` and ``amount = TRUE`` mean something to the engine.

        DuckDB reads TRUE as 1; PostgreSQL and Spark refuse the comparison, so
        ``count_values`` refuses it there before any scan rather than fail mid-batch.
        """
        return True

    def groups_with_distinct(self) -> bool:
        """Whether a grouped statement runs faster as COUNT(DISTINCT ...) over the rows.

        The plan is the same either way (one statement per grouped column set); only
        its shape differs. PostgreSQL sorts for DISTINCT and beats its own hash
        aggregate of a GROUP BY with many groups (bench/FINDINGS.md, benchmark 10).
        """
        return False

    def resolve_column(
        self, column: str, *, metric: str | None = None, where: str | None = None
    ) -> str:
        """The schema's spelling of ``column``, or a DefinitionError naming it.

        An exact match wins; otherwise a match ignoring case, if only one column has
        it (PostgreSQL folds unquoted names to lower case, users write them as they
        like). ``metric`` and ``where`` (the check and assertion) say who asked.
        """
        schema = self.schema
        if column in schema:
            return column
        folded = [name for name in schema if name.lower() == column.lower()]
        if len(folded) == 1:
            return folded[0]
        hint = difflib.get_close_matches(column, list(schema), n=1)
        asker = " in ".join(part for part in (metric, where) if part)
        where = f" ({asker})" if asker else ""
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        raise DefinitionError(
            f"dataset {self.name!r} has no column {column!r}{where}{suggestion}",
            dataset=self.name,
            column=column,
            metric=metric,
        )


@dataclass(frozen=True)
class ColumnType:
    """One column's type as an engine reported it, and what dqx makes of it."""

    #: The engine's own name for the type, shown to users in messages.
    name: str
    family: TypeFamily
    #: How the column can key rows by day, or ``None`` when it cannot.
    date_kind: DateKind | None = None


class SchemaSource(DataSource):
    """A source whose engine reported each column's type when it was built.

    The engines dqx ships derive from it; each reads its schema its own way and says
    what every type is (:class:`ColumnType`). ``date_column`` defaults to a column
    named ``yyyy_mm_dd`` when one exists.
    """

    def __init__(
        self, name: str, columns: Mapping[str, ColumnType], date_column: str | None
    ) -> None:
        self.name = check_source_name(name)
        self._columns = dict(columns)
        self.date_column = self._pick_date_column(date_column)

    @property
    def schema(self) -> dict[str, str]:
        return {column: column_type.name for column, column_type in self._columns.items()}

    def type_family(self, column: str) -> TypeFamily:
        return self._columns[self.resolve_column(column)].family

    def date_key(self) -> exp.Expr:
        if self.date_column is None:
            raise DefinitionError(f"dataset {self.name!r} has no date column")
        column = exp.column(self.date_column, quoted=True)
        if self._columns[self.date_column].date_kind == "timestamp":
            return exp.Cast(this=column, to=exp.DataType.build("DATE"))
        return column

    def date_bind_value(self, day: dt.date) -> Any:
        assert self.date_column is not None
        return day.isoformat() if self._columns[self.date_column].date_kind == "text" else day

    def stray_date_text(self, day: dt.date) -> str | None:
        column = self.date_column
        if column is None or self._columns[column].date_kind != "text" or day == dt.date.max:
            return None
        key = exp.column(column, quoted=True)
        # Text that sorts after 'YYYY-MM-DD' and before the next day starts with the day:
        # a range, so the engine can use what it has (an index, partition pruning).
        after = exp.GT(this=key, expression=exp.Placeholder(this="d_0"))
        before = exp.LT(this=key.copy(), expression=exp.Placeholder(this="d_1"))
        query = exp.select(key.copy()).from_(self.table_expression()).where(after, before)
        next_day = day + dt.timedelta(days=1)
        rows = self.execute(
            self.render(query.limit(1)), {"d_0": day.isoformat(), "d_1": next_day.isoformat()}
        )
        if not rows:
            return None
        return (
            f"dataset {self.name!r} has no row whose date_column {column!r} is "
            f"{day.isoformat()!r}, but it holds {str(rows[0][0])!r}: a text date column "
            f"must hold 'YYYY-MM-DD' dates, and timestamps written as text match no day; "
            f"give a DATE or TIMESTAMP column (cast it in the source or its query)"
        )

    def _pick_date_column(self, date_column: str | None) -> str | None:
        if date_column is None:
            if DEFAULT_DATE_COLUMN not in self._columns:
                return None
            # The default is checked like an explicit choice: a mistyped yyyy_mm_dd would
            # otherwise match no date and every metric would look like an empty day.
            column = DEFAULT_DATE_COLUMN
        else:
            try:
                column = self.resolve_column(date_column, metric="date_column")
            except DefinitionError as exc:
                # A file read without the expected header (or with another one) shows
                # itself in the names found, which a did-you-mean alone does not.
                raise DefinitionError(
                    f"{exc}; its columns are {_listing(list(self._columns))}",
                    dataset=self.name,
                    column=date_column,
                ) from exc
        if self._columns[column].date_kind is None:
            raise DefinitionError(
                f"date_column {column!r} of dataset {self.name!r} has type "
                f"{self._columns[column].name}; it must be DATE, TIMESTAMP or "
                f"'YYYY-MM-DD' text",
                dataset=self.name,
                column=column,
            )
        return column

    def __repr__(self) -> str:
        partition = f", date_column={self.date_column!r}" if self.date_column else ""
        return f"{type(self).__name__}(name={self.name!r}{partition})"


def _listing(names: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(name) for name in names[:limit])
    return shown if len(names) <= limit else f"{shown} and {len(names) - limit} more"


def check_source_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise DefinitionError(f"a data source needs a non-empty name, got {name!r}")
    return name


def qualified_table(table: str, schema: str | None, *, dataset: str) -> exp.Table:
    """``schema.table`` as a table reference whose every part the dialect quotes.

    Both are names, never SQL: a dot inside ``table`` is part of the name. A table
    name must be given; a schema is optional.
    """
    if not isinstance(table, str) or not table:
        raise DefinitionError(
            f"dataset {dataset!r} needs a table name, got {table!r}", dataset=dataset
        )
    if schema is not None and (not isinstance(schema, str) or not schema):
        raise DefinitionError(
            f"dataset {dataset!r}: schema must be a non-empty name or None, got {schema!r}",
            dataset=dataset,
        )
    return exp.Table(
        this=exp.to_identifier(table, quoted=True),
        db=exp.to_identifier(schema, quoted=True) if schema else None,
    )


T = TypeVar("T")


#: How often a waiting thread asks the engine for its progress: often enough for a
#: line that moves, rarely enough to cost nothing.
POLL_SECONDS = 0.2


def run_interruptibly(
    work: Callable[[], T],
    interrupt: Callable[[], None],
    *,
    name: str,
    poll: Callable[[], None] | None = None,
) -> T:
    """``work()`` on a thread of its own while the calling thread waits for it.

    Some drivers keep the calling thread inside C code until the query ends (DuckDB
    waits there for its worker threads), so Ctrl-C and SIGTERM wait for the whole
    scan. Here the caller waits in Python, where an interrupt is raised at once;
    ``interrupt()`` then aborts the engine's query, and the interrupt propagates once
    the worker has returned. ``poll()``, when given, is called every
    :data:`POLL_SECONDS` while the work runs: the waiting thread is free to ask the
    engine how far it is.
    """
    done = threading.Event()
    outcome: list[T] = []
    failure: list[BaseException] = []
    # A signal can land inside Thread.start(), before or after the thread exists: the
    # gate tells the waiting thread whether the work began (so it must be stopped and
    # waited out before the caller may close the connection) or never will.
    gate = threading.Lock()
    began, cancelled = threading.Event(), threading.Event()

    def run() -> None:
        with gate:
            if cancelled.is_set():
                return
            began.set()
        try:
            outcome.append(work())
        except BaseException as exc:  # handed over: the waiting thread raises it
            failure.append(exc)
        finally:
            done.set()

    try:
        threading.Thread(target=run, name=name, daemon=True).start()
        while not done.wait(POLL_SECONDS if poll is not None else None):
            if poll is not None:
                poll()
    except BaseException:
        with gate:
            cancelled.set()
        if began.is_set():
            interrupt()
            _wait_out(done, interrupt)
        raise
    if failure:
        raise failure[0]
    return outcome[0]


def _wait_out(done: threading.Event, interrupt: Callable[[], None]) -> None:
    # The engine's thread must be out before the interrupt goes on: the interpreter
    # aborts at exit while a thread is still inside the engine. A second signal
    # while waiting asks again; the first interrupt is the one that propagates.
    while True:
        try:
            if done.wait(0.5):
                return
        except BaseException:  # a second signal; the first interrupt still goes on
            pass
        interrupt()
