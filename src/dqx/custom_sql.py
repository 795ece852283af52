"""The rules a ``custom_sql`` expression must keep, checked on its parse in one dialect.

A user's expression goes into the shared statement beside every other metric of its
dataset, so it must be exactly one aggregate over that dataset's own columns: no
statement, subquery, table or file function, window, alias, star expansion or
positional column, no function returning a set of rows, and no column outside an
aggregate. The text is read by the source's dialect, because the same characters mean
different things on different engines (``x ^ 2`` is a power in DuckDB and PostgreSQL,
a bitwise XOR in Spark).

The :class:`~dqx.specs.CustomSQL` spec holds the text; this module holds the reading.
"""

from __future__ import annotations

import functools
import itertools

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ParseError
from sqlglot.tokenizer_core import TokenType

from dqx.common import DefinitionError

__all__ = ["parse_custom_sql", "parsed_once"]

# Functions that read files, tables, other databases or the server's settings, run SQL
# of their own, sleep or write, by the engine that has them. Each has no place inside
# one aggregate over the dataset's own rows. The union is refused on every dialect: a
# name that reaches outside the dataset on one engine is no aggregate on another.
_FORBIDDEN_BY_ENGINE: dict[str, frozenset[str]] = {
    "duckdb": frozenset(
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
    ),
    "postgres": frozenset(
        {
            # the server's files and logs
            "pg_read_file",
            "pg_read_binary_file",
            "pg_stat_file",
            "pg_ls_dir",
            "pg_ls_logdir",
            "pg_ls_waldir",
            "pg_ls_tmpdir",
            "pg_ls_archive_statusdir",
            "pg_current_logfile",
            "pg_file_write",
            "pg_file_rename",
            "pg_file_unlink",
            # other databases, large objects
            "dblink",
            "dblink_exec",
            "dblink_connect",
            "dblink_send_query",
            "dblink_get_result",
            "lo_import",
            "lo_export",
            "lo_get",
            "lo_put",
            "lo_open",
            "lo_create",
            "lo_creat",
            "lo_unlink",
            "lo_from_bytea",
            "loread",
            "lowrite",
            # settings, sessions, the server itself
            "current_setting",
            "set_config",
            "pg_sleep",
            "pg_sleep_for",
            "pg_sleep_until",
            "pg_terminate_backend",
            "pg_cancel_backend",
            "pg_reload_conf",
            "pg_rotate_logfile",
            "pg_switch_wal",
            "pg_create_restore_point",
            "pg_promote",
            "pg_notify",
            "pg_logical_emit_message",
            "pg_advisory_lock",
            "pg_advisory_xact_lock",
            "pg_try_advisory_lock",
            "pg_try_advisory_xact_lock",
            # writes: sequences, transaction ids
            "nextval",
            "setval",
            "currval",
            "lastval",
            "txid_current",
            "pg_current_xact_id",
            # functions that run a query given as text
            "query_to_xml",
            "query_to_xmlschema",
            "query_to_xml_and_xmlschema",
            "table_to_xml",
            "table_to_xmlschema",
            "table_to_xml_and_xmlschema",
            "cursor_to_xml",
            "schema_to_xml",
            "database_to_xml",
            "ts_stat",
            "ts_rewrite",
        }
    ),
    "spark": frozenset(
        {
            # JVM calls
            "reflect",
            "java_method",
            "try_reflect",
            # the files under the rows, other files
            "input_file_name",
            "input_file_block_start",
            "input_file_block_length",
            "read_files",
            # Databricks' secrets and network calls, for the Spark dialects built on it
            "secret",
            "try_secret",
            "http_request",
        }
    ),
}
_FORBIDDEN_FUNCTIONS = frozenset().union(*_FORBIDDEN_BY_ENGINE.values())

# Functions that return a set of rows, not one value. Beside an aggregate they multiply
# the statement's single row, and only one of those rows would be stored as the metric;
# given an empty input they leave the statement with no row at all, which sinks every
# metric of the batch. sqlglot reads some of them into the node classes below; the rest
# arrive as plain function names. PostgreSQL's are every `pg_proc` row with `proretset`
# (PostgreSQL 15), less the ones already refused above. As with the functions above, the
# union is refused on every dialect, judged after the dialect has read the text: DuckDB
# reads its boolean regexp_matches() as a regex match, which stays allowed there.
_SET_RETURNING_BY_ENGINE: dict[str, frozenset[str]] = {
    "duckdb": frozenset({"unnest", "unlist", "generate_subscripts", "json_each", "json_tree"}),
    "postgres": frozenset(
        [
            "unnest",
            "generate_series",
            "generate_subscripts",
            "regexp_matches",
            "regexp_split_to_table",
            "string_to_table",
            "json_array_elements",
            "json_array_elements_text",
            "json_each",
            "json_each_text",
            "json_object_keys",
            "json_populate_recordset",
            "json_to_recordset",
            "jsonb_array_elements",
            "jsonb_array_elements_text",
            "jsonb_each",
            "jsonb_each_text",
            "jsonb_object_keys",
            "jsonb_path_query",
            "jsonb_path_query_tz",
            "jsonb_populate_recordset",
            "jsonb_to_recordset",
            "ts_debug",
            "ts_parse",
            "ts_token_type",
            "aclexplode",
            "_pg_expandarray",
            "txid_snapshot_xip",
            "pg_snapshot_xip",
            "pg_options_to_table",
            "pg_get_keywords",
            "pg_config",
            "pg_cursor",
            "pg_prepared_statement",
            "pg_prepared_xact",
            "pg_lock_status",
            "pg_listening_channels",
            "pg_tablespace_databases",
            "pg_timezone_abbrevs",
            "pg_timezone_names",
            "pg_show_all_settings",
            "pg_show_all_file_settings",
            "pg_hba_file_rules",
            "pg_ident_file_mappings",
            "pg_available_extensions",
            "pg_available_extension_versions",
            "pg_extension_update_paths",
            "pg_mcv_list_items",
            "pg_partition_tree",
            "pg_partition_ancestors",
            "pg_get_catalog_foreign_keys",
            "pg_get_publication_tables",
            "pg_get_replication_slots",
            "pg_get_multixact_members",
            "pg_get_backend_memory_contexts",
            "pg_get_shmem_allocations",
            "pg_get_wal_resource_managers",
            "pg_event_trigger_ddl_commands",
            "pg_event_trigger_dropped_objects",
            "pg_logical_slot_get_changes",
            "pg_logical_slot_get_binary_changes",
            "pg_logical_slot_peek_changes",
            "pg_logical_slot_peek_binary_changes",
            "pg_ls_logicalmapdir",
            "pg_ls_logicalsnapdir",
            "pg_ls_replslotdir",
            "pg_stat_get_activity",
            "pg_stat_get_backend_idset",
            "pg_stat_get_progress_info",
            "pg_stat_get_recovery_prefetch",
            "pg_stat_get_slru",
            "pg_stat_get_subscription",
            "pg_stat_get_wal_senders",
            "pg_show_replication_origin_status",
        ]
    ),
    "spark": frozenset(
        {
            "explode",
            "explode_outer",
            "posexplode",
            "posexplode_outer",
            "inline",
            "inline_outer",
            "stack",
            "json_tuple",
            "variant_explode",
            "variant_explode_outer",
        }
    ),
}
_SET_RETURNING_FUNCTIONS = frozenset().union(*_SET_RETURNING_BY_ENGINE.values())
# UDTF covers UNNEST, EXPLODE and its kin, INLINE, STACK, LATERAL and VALUES.
_SET_RETURNING_NODES: tuple[type[exp.Expr], ...] = (
    exp.UDTF,
    exp.GenerateSeries,
    exp.ExplodingGenerateSeries,
    exp.JSONTable,
    exp.XMLTable,
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


def parse_custom_sql(sql: str, dialect: str, *, where: str | None = None) -> exp.Expr:
    """The one aggregate expression ``sql`` holds, read in ``dialect``.

    Raises :class:`~dqx.common.DefinitionError` naming the metric (and ``where``, the
    check and assertion that asked for it) when the text breaks any rule above.
    """
    metric = f"custom_sql({sql})"
    tree = _parse_one(sql, dialect, metric, where)
    for node in tree.walk():
        _check_node(node, sql, dialect, where)
    if not any(isinstance(node, exp.AggFunc) for node in tree.walk()):
        raise DefinitionError(
            f"{metric} must aggregate over the rows (SUM, COUNT, AVG, ...); "
            f"a per-row expression has no single value{_in(where)}",
            metric=metric,
        )
    for column in tree.find_all(exp.Column):
        _check_column(column, dialect, metric, where)
    return tree


def parsed_once(sql: str, dialect: str, *, where: str | None = None) -> exp.Expr:
    """:func:`parse_custom_sql`, once per text and dialect in a process: each run declares
    its checks afresh (new specs) and a backfill plans every day, so the same text would
    otherwise be parsed by sqlglot once per run. The tree is shared: never change it."""
    try:
        return _parsed(sql, dialect)
    except DefinitionError:
        # Again, for the message that says where the text was written.
        parse_custom_sql(sql, dialect, where=where)
        raise


@functools.lru_cache(maxsize=1024)
def _parsed(sql: str, dialect: str) -> exp.Expr:
    return parse_custom_sql(sql, dialect)


def _in(where: str | None) -> str:
    return f" (in {where})" if where else ""


def _parse_one(sql: str, dialect: str, metric: str, where: str | None) -> exp.Expr:
    try:
        parsed = [tree for tree in sqlglot.parse(sql, read=dialect) if tree is not None]
    except ParseError as exc:
        raise DefinitionError(
            f"{metric} is not valid SQL in the {dialect} dialect{_in(where)}: {exc}",
            metric=metric,
        ) from exc
    if len(parsed) != 1:
        raise DefinitionError(
            f"{metric} must be exactly one expression, found {len(parsed)} statements{_in(where)}",
            metric=metric,
        )
    tree = parsed[0]
    if isinstance(tree, exp.Alias):
        raise DefinitionError(
            f"{metric} names its result ({tree.alias!r}); drop the alias: dqx names "
            f"the metric after the expression{_in(where)}",
            metric=metric,
        )
    return tree


def _check_node(node: exp.Expr, sql: str, dialect: str, where: str | None) -> None:
    metric = f"custom_sql({sql})"
    if isinstance(node, _FORBIDDEN_NODES):
        raise DefinitionError(
            f"{metric} may hold one aggregate expression only; "
            f"found {type(node).__name__.lower()} {node.sql(dialect)!r}{_in(where)}",
            metric=metric,
        )
    if isinstance(node, _INDIRECT_COLUMNS) or (
        isinstance(node, exp.Star) and not _counts_rows(node)
    ):
        raise DefinitionError(
            f"{metric} selects columns by pattern or position ({node.sql(dialect)!r}); "
            f"name each column, and use * only as COUNT(*){_in(where)}",
            metric=metric,
        )
    function_name = _function_name(node)
    if isinstance(node, _SET_RETURNING_NODES) or function_name in _SET_RETURNING_FUNCTIONS:
        called = _written_name(node, sql, dialect)
        raise DefinitionError(
            f"{metric} may not call {called}(): it returns a set of rows, not one value, "
            f"so the metric would keep one arbitrary row or none; aggregate over the "
            f"dataset's columns instead{_in(where)}",
            metric=metric,
        )
    if function_name in _FORBIDDEN_FUNCTIONS:
        raise DefinitionError(
            f"{metric} may not call {function_name}(): it reads outside the dataset{_in(where)}",
            metric=metric,
        )


def _check_column(column: exp.Column, dialect: str, metric: str, where: str | None) -> None:
    if column.table:
        # The statement reads one relation; a qualifier can only point elsewhere
        # (or at a struct field, which struct_extract() reaches unambiguously).
        raise DefinitionError(
            f"{metric} refers to {column.sql(dialect)!r}; use the dataset's column names "
            f"without a table or struct qualifier{_in(where)}",
            metric=metric,
            column=column.sql(dialect),
        )
    if not _inside_aggregate(column):
        # Caught here rather than by the engine at run time, where it would take the
        # whole batch down with it.
        raise DefinitionError(
            f"{metric} uses column {column.name!r} outside any aggregate; a per-row value "
            f"has no single value over the dataset{_in(where)}",
            metric=metric,
            column=column.name,
        )


def _written_name(node: exp.Expr, sql: str, dialect: str) -> str:
    """The function's name as the user spelled it: sqlglot reads UNNEST, EXPLODE and
    their kin into one node that renders under each dialect's own name."""
    rendered = node.sql(dialect).split("(", 1)[0].strip().lower()
    tokens = Dialect.get_or_raise(dialect).tokenize(sql)
    written = {
        token.text.lower()
        for token, after in itertools.pairwise(tokens)
        if after.token_type == TokenType.L_PAREN
    }
    if rendered in written:
        return rendered
    known = sorted(written & (_SET_RETURNING_FUNCTIONS | _FORBIDDEN_FUNCTIONS))
    return known[0] if known else rendered


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
