"""PostgreSQL's source: a table or a query, aggregated inside PostgreSQL.

Statements are rendered in sqlglot's ``postgres`` dialect and sent through psycopg 3
(SQLAlchemy's pool), values bound by the driver; only the aggregate rows, one per date
of a batch, come back. psycopg and SQLAlchemy's PostgreSQL dialect load when a source
is built, so the base install imports without them (the ``postgres`` extra installs
psycopg: ``pip install '.[postgres]'`` in a dqx clone).
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from dqx.common import ComputeError, DefinitionError
from dqx.shapes import StatementShape
from dqx.sources.base import (
    ColumnType,
    DateKind,
    SchemaSource,
    TypeFamily,
    check_source_name,
    qualified_table,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["PostgresDataSource"]

# pg_type.typcategory: which family each category of PostgreSQL type belongs to.
_CATEGORY_FAMILIES: dict[str, TypeFamily] = {
    "N": "numeric",
    "S": "text",
    "E": "text",
    "B": "boolean",
    "D": "temporal",
    "T": "temporal",
    "A": "nested",
    "C": "nested",
}
# In category N but not numbers one sums: object ids, and money (psycopg reads it as text).
_NOT_NUMERIC = re.compile(r"^(oid|reg\w+|money)$")
_TEXT_TYPES = frozenset({"text", "character varying", "character", "name", "citext"})
_QUERY_ALIAS = "dqx_query"


class PostgresDataSource(SchemaSource):
    """A PostgreSQL table or query, aggregated where it lives: no rows travel to Python.

    Build one with :meth:`from_table` or :meth:`from_query`, from a database URL
    (``postgresql://user@host/db``; psycopg 3 is used) or a SQLAlchemy ``Engine``. A URL
    gets an engine of the source's own, which :meth:`close` disposes of; an engine
    passed in stays the caller's.
    """

    dialect = "postgres"
    # bench 13c (width sweep): statements of 256 aggregates, FILTER clauses included
    # (PostgreSQL plans them in linear time), cost least per metric.
    statement_shape = StatementShape(width=256, filtered_width=None, fold_from=16)

    def __init__(
        self,
        engine: Engine,
        relation: exp.Expr,
        name: str,
        date_column: str | None = None,
        *,
        owns_engine: bool = False,
    ) -> None:
        # Set before the schema is read, so its errors can name the dataset.
        self.name = check_source_name(name)
        self._engine = engine
        self._owns_engine = owns_engine
        self._relation = relation
        super().__init__(name, self._read_columns(), date_column)

    @classmethod
    def from_table(
        cls,
        url_or_engine: str | Engine,
        table: str,
        name: str,
        *,
        schema: str | None = None,
        date_column: str | None = None,
    ) -> PostgresDataSource:
        """The table (or view) ``schema.table``; without a schema, the connection's
        ``search_path`` finds it. Both are names, quoted as written: ``Orders`` is not
        ``orders``."""
        relation = qualified_table(table, schema, dataset=name)
        return cls._build(url_or_engine, relation, name, date_column)

    @classmethod
    def from_query(
        cls,
        url_or_engine: str | Engine,
        sql: str,
        name: str,
        date_column: str | None = None,
    ) -> PostgresDataSource:
        """The rows of ``sql``, one SELECT, run as a subquery of every statement.

        The query is the caller's own SQL and is sent as written, so give it only text
        you would run yourself: dqx does not check it the way it checks ``custom_sql``.
        Its result columns are read (a ``LIMIT 0`` probe) and validated like a table's.
        """
        text = _one_query(sql, name)
        relation = exp.Subquery(
            this=exp.Var(this=text),
            alias=exp.TableAlias(this=exp.to_identifier(_QUERY_ALIAS, quoted=True)),
        )
        return cls._build(url_or_engine, relation, name, date_column)

    @classmethod
    def _build(
        cls, url_or_engine: str | Engine, relation: exp.Expr, name: str, date_column: str | None
    ) -> PostgresDataSource:
        engine, owned = _engine(url_or_engine, name)
        try:
            return cls(engine, relation, name, date_column, owns_engine=owned)
        except BaseException:
            if owned:
                engine.dispose()
            raise

    def _read_columns(self) -> dict[str, ColumnType]:
        probe = exp.select("*").from_(self._relation.copy()).limit(0)
        try:
            with _cursor(self._engine) as cursor:
                cursor.execute(self.render(probe), {})
                described = [(column.name, column.type_code) for column in cursor.description]
                cursor.execute(
                    "SELECT oid, format_type(oid, NULL), typcategory FROM pg_type "
                    "WHERE oid = ANY(CAST(%(oids)s AS oid[]))",
                    {"oids": sorted({oid for _, oid in described})},
                )
                types = {oid: (shown, category) for oid, shown, category in cursor.fetchall()}
        except Exception as exc:  # the driver's error types: psycopg's or SQLAlchemy's
            if _unreachable(exc):
                raise ComputeError(
                    f"dataset {self.name!r}: cannot reach PostgreSQL: {_first_line(exc)}"
                ) from exc
            raise DefinitionError(
                f"dataset {self.name!r}: cannot read {self._describe()} from PostgreSQL: "
                f"{_first_line(exc)}",
                dataset=self.name,
            ) from exc
        columns: dict[str, ColumnType] = {}
        for column, oid in described:
            if column in columns:
                raise DefinitionError(
                    f"dataset {self.name!r}: {self._describe()} has two columns named "
                    f"{column!r}; name each column once",
                    dataset=self.name,
                    column=column,
                )
            shown, category = types.get(oid, (f"type {oid}", "X"))
            columns[column] = ColumnType(shown, _family(shown, category), _date_kind(shown))
        return columns

    def _describe(self) -> str:
        if isinstance(self._relation, exp.Table):
            return f"table {self._relation.sql(dialect='postgres')}"
        return "its query"

    def table_expression(self) -> exp.Expr:
        return self._relation.copy()

    def compares_booleans_with_numbers(self) -> bool:
        return False

    def groups_with_distinct(self) -> bool:
        return True

    def render(self, statement: exp.Expr) -> str:
        """The statement for psycopg: ``%(name)s`` markers, and every other ``%`` doubled.

        psycopg reads ``%`` as the start of a marker anywhere in the text, string
        literals and quoted names included, so a ``LIKE 'a%'`` in a custom_sql or a
        column named ``share %`` must reach it as ``%%``. Markers are written as a
        random token first, so nothing the user wrote can pass for one.
        """
        token = f"dqxparam{secrets.token_hex(8)}"
        tree = statement.copy()
        for placeholder in list(tree.find_all(exp.Placeholder)):
            placeholder.replace(exp.Var(this=f"{token}_{placeholder.name}"))
        text = tree.sql(dialect=self.dialect, copy=False).replace("%", "%%")
        return re.sub(rf"{token}_(\w+)", r"%(\1)s", text)

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        # Always with a parameter dict, even an empty one: psycopg then reads the %%
        # that render() wrote as %, whether or not the statement binds anything.
        with _cursor(self._engine) as cursor:
            cursor.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()]

    def close(self) -> None:
        if self._owns_engine:
            self._engine.dispose()


@contextlib.contextmanager
def _cursor(engine: Engine) -> Iterator[Any]:
    """A DB-API cursor on a pooled connection, rolled back and returned when done.

    The driver's own cursor, not SQLAlchemy's text(): text() would read ``:word``
    inside a user's string literal as a parameter.
    """
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()
            connection.rollback()
    finally:
        connection.close()


def _engine(url_or_engine: str | Engine, name: str) -> tuple[Engine, bool]:
    """The engine to use, and whether the source made it (and so disposes of it)."""
    import sqlalchemy
    from sqlalchemy.engine import Engine

    if isinstance(url_or_engine, Engine):
        if url_or_engine.dialect.name != "postgresql":
            raise DefinitionError(
                f"dataset {name!r}: PostgresDataSource needs a PostgreSQL engine, "
                f"got {url_or_engine.dialect.name}",
                dataset=name,
            )
        return url_or_engine, False
    if not isinstance(url_or_engine, str):
        raise DefinitionError(
            f"dataset {name!r}: give a postgresql:// URL or a SQLAlchemy Engine, "
            f"got {type(url_or_engine).__name__}",
            dataset=name,
        )
    # Plain postgresql:// means psycopg 3 here, which the postgres extra installs;
    # SQLAlchemy alone would pick psycopg2.
    url = re.sub(r"^postgres(ql)?://", "postgresql+psycopg://", url_or_engine)
    try:
        parsed = sqlalchemy.engine.make_url(url)
    except sqlalchemy.exc.ArgumentError as exc:
        raise DefinitionError(
            f"dataset {name!r}: not a database URL: {url_or_engine!r}", dataset=name
        ) from exc
    if parsed.get_backend_name() != "postgresql":
        raise DefinitionError(
            f"dataset {name!r}: PostgresDataSource needs a postgresql:// URL, "
            f"got {parsed.render_as_string(hide_password=True)}",
            dataset=name,
        )
    try:
        return sqlalchemy.create_engine(parsed, pool_pre_ping=True), True
    except ImportError as exc:
        raise DefinitionError(
            f"dataset {name!r}: the PostgreSQL driver is missing ({exc}); "
            "pip install 'psycopg[binary]>=3.1' (what dqx's postgres extra installs)",
            dataset=name,
        ) from exc


def _one_query(sql: object, name: str) -> str:
    if not isinstance(sql, str) or not sql.strip().rstrip(";").strip():
        raise DefinitionError(f"dataset {name!r}: from_query() needs a SELECT, got {sql!r}")
    text = sql.strip().rstrip(";").strip()
    try:
        parsed = [tree for tree in sqlglot.parse(text, read="postgres") if tree is not None]
    except ParseError:
        # sqlglot does not know every PostgreSQL construct: PostgreSQL judges the text
        # when its columns are read.
        return text
    if len(parsed) != 1 or not isinstance(parsed[0], exp.Query):
        raise DefinitionError(
            f"dataset {name!r}: from_query() takes exactly one SELECT, got {text!r}",
            dataset=name,
        )
    return text


def _family(shown: str, category: str) -> TypeFamily:
    if category == "N" and _NOT_NUMERIC.match(shown):
        return "other"
    return _CATEGORY_FAMILIES.get(category, "other")


def _date_kind(shown: str) -> DateKind | None:
    if shown == "date":
        return "date"
    if shown.startswith("timestamp"):
        return "timestamp"
    return "text" if shown in _TEXT_TYPES else None


def _unreachable(exc: BaseException) -> bool:
    # DB-API's OperationalError (psycopg's, and SQLAlchemy's wrapping of it at connect)
    # is the server or the network, not the table named: an outage, not a typo.
    return any(cls.__name__ == "OperationalError" for cls in type(exc).__mro__)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
