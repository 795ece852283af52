"""Data sources: Parquet and CSV scanned where they lie, date columns, type families."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from returns.result import Success

from dqx import Context, MetricProvider, ResultKey, VerificationSuite, check
from dqx.analyzer import validate_specs
from dqx.common import DefinitionError
from dqx.datasource import DataSource, DuckRelationDataSource
from dqx.orm.repositories import InMemoryMetricDB
from dqx.specs import CountValues, Sum

DAY = dt.date(2024, 7, 3)


def part(day: dt.date, prices: list[float | None]) -> pa.Table:
    return pa.table(
        {
            "yyyy_mm_dd": pa.array([day] * len(prices), pa.date32()),
            "price": pa.array(prices, pa.float64()),
        }
    )


@check(name="Prices")
def prices(mp: MetricProvider, ctx: Context) -> None:
    ctx.assert_that(mp.num_rows()).where(name="rows").is_gt(0)
    ctx.assert_that(mp.sum("price")).where(name="sum").is_gt(0)
    ctx.assert_that(mp.null_count("price")).where(name="nulls").is_eq(0)
    ctx.assert_that(mp.num_rows(lag=1)).where(name="rows yesterday").is_gt(0)


def run(source: DuckRelationDataSource) -> dict[str, object]:
    suite = VerificationSuite([prices], InMemoryMetricDB(), "files")
    suite.run([source], ResultKey(DAY))
    return {r.assertion: r.value for r in suite.collect_results()}


def write_parts(directory: Path) -> pa.Table:
    parts = [
        part(DAY - dt.timedelta(days=1), [1.0, 2.0]),
        part(DAY, [3.0, None, 4.5]),
        part(DAY, [10.0]),
    ]
    for index, table in enumerate(parts):
        pq.write_table(table, directory / f"part-{index}.parquet")
    return pa.concat_tables(parts)


def expected(table: pa.Table, day: dt.date) -> tuple[int, float, int]:
    mine = table.filter(pc.equal(table["yyyy_mm_dd"], pa.scalar(day, pa.date32())))
    return mine.num_rows, pc.sum(mine["price"]).as_py(), mine["price"].null_count


def test_parquet_glob_of_several_files_is_one_dataset(tmp_path: Path) -> None:
    table = write_parts(tmp_path)
    got = run(DuckRelationDataSource.from_parquet(tmp_path / "*.parquet", "sales"))
    rows, total, nulls = expected(table, DAY)
    assert got["rows"] == Success(float(rows))
    assert got["sum"] == Success(total)
    assert got["nulls"] == Success(float(nulls))
    assert got["rows yesterday"] == Success(float(expected(table, DAY - dt.timedelta(1))[0]))


def test_parquet_list_of_paths(tmp_path: Path) -> None:
    table = write_parts(tmp_path)
    paths = sorted(tmp_path.glob("*.parquet"))
    got = run(DuckRelationDataSource.from_parquet(paths, "sales"))
    assert got["rows"] == Success(float(expected(table, DAY)[0]))


def test_parquet_is_scanned_at_run_time_not_loaded_up_front(tmp_path: Path) -> None:
    write_parts(tmp_path)
    source = DuckRelationDataSource.from_parquet(tmp_path / "*.parquet", "sales")
    # A file arriving after the source was built is seen: the source is a view over
    # read_parquet, not a copy of the rows.
    pq.write_table(part(DAY, [100.0, 200.0]), tmp_path / "late.parquet")
    got = run(source)
    assert got["rows"] == Success(6.0)
    assert got["sum"] == Success(3.0 + 4.5 + 10.0 + 300.0)


def test_files_gone_at_run_time_make_errors_not_a_crash(tmp_path: Path) -> None:
    write_parts(tmp_path)
    source = DuckRelationDataSource.from_parquet(tmp_path / "part-0.parquet", "sales")
    (tmp_path / "part-0.parquet").unlink()
    suite = VerificationSuite([prices], InMemoryMetricDB(), "files")
    suite.run([source], ResultKey(DAY))
    results = suite.collect_results()
    assert {r.status for r in results} == {"ERROR"}
    for result in results:
        assert "'sales'" in result.message
        assert "part-0.parquet" in result.message
    assert all(s.error for s in suite.statements)


def test_csv_with_text_dates(tmp_path: Path) -> None:
    table = pa.table(
        {
            "day": [
                (DAY - dt.timedelta(1)).isoformat(),
                DAY.isoformat(),
                DAY.isoformat(),
            ],
            "price": [5.0, 1.5, 2.5],
        }
    )
    pacsv.write_csv(table, tmp_path / "sales.csv")
    got = run(DuckRelationDataSource.from_csv(tmp_path / "sales.csv", "sales", date_column="day"))
    assert got == {
        "rows": Success(2.0),
        "sum": Success(4.0),
        "nulls": Success(0.0),
        "rows yesterday": Success(1.0),
    }


def test_csv_without_date_column_is_a_snapshot(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("price\n1\n2\n")
    (tmp_path / "b.csv").write_text("price\n4\n")
    got = run(DuckRelationDataSource.from_csv(tmp_path / "*.csv", "sales"))
    assert got["rows"] == Success(3.0)
    assert got["sum"] == Success(7.0)
    # A snapshot holds only the run's date: no history, so yesterday is an ERROR naming it.
    message = got["rows yesterday"].failure()  # type: ignore[attr-defined]
    assert "'sales'" in message and (DAY - dt.timedelta(1)).isoformat() in message
    assert "num_rows()" in message


def test_unknown_date_column_is_refused_with_a_suggestion() -> None:
    table = pa.table({"event_day": pa.array([DAY], pa.date32()), "x": [1]})
    with pytest.raises(DefinitionError, match=r"'event_dya'.*did you mean 'event_day'"):
        DuckRelationDataSource.from_arrow(table, "events", date_column="event_dya")


def test_a_csv_without_the_date_column_lists_the_columns_it_has(tmp_path: Path) -> None:
    (tmp_path / "flights.csv").write_text("year,month,day,dep_delay\n2013,1,1,2\n")
    with pytest.raises(DefinitionError) as raised:
        DuckRelationDataSource.from_csv(tmp_path / "flights.csv", "flights", date_column="date")
    assert str(raised.value).startswith("dataset 'flights' has no column 'date' (date_column)")
    assert str(raised.value).endswith("its columns are 'year', 'month', 'day', 'dep_delay'")
    assert raised.value.dataset == "flights" and raised.value.column == "date"


def _sum_of(source: DuckRelationDataSource, column: str) -> DefinitionError:
    @check(name="Delays")
    def delays(mp: MetricProvider, ctx: Context) -> None:
        ctx.assert_that(mp.sum(column)).where(name="sum").is_gt(0)

    scans: list[str] = []
    execute = source.execute

    def counting(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        scans.append(sql)
        return execute(sql, params)

    source.execute = counting  # type: ignore[method-assign]
    with pytest.raises(DefinitionError) as raised:
        VerificationSuite([delays], InMemoryMetricDB(), "csv").run([source], ResultKey(DAY))
    assert scans == [], "refused before any metric was computed"
    return raised.value


def test_a_stray_header_row_in_a_csv_is_named_by_its_line(tmp_path: Path) -> None:
    # Two exports concatenated: the second one's header sits on line 4.
    path = tmp_path / "flights.csv"
    path.write_text("carrier,dep_delay\nAA,5\nUA,-3\ncarrier,dep_delay\nDL,7\n")
    error = _sum_of(DuckRelationDataSource.from_csv(path, "flights"), "dep_delay")
    assert str(error) == (
        "sum(dep_delay) needs a numeric column, but 'dep_delay' in dataset 'flights' is "
        "VARCHAR (in check 'Delays', assertion 'sum'): line 4 of "
        f"{path} holds 'dep_delay', not a number (the header row, repeated)"
    )


def test_a_header_only_csv_says_it_has_no_rows(tmp_path: Path) -> None:
    # An export of a day without data: the sniffer sees no value and types text.
    (tmp_path / "empty.csv").write_text("carrier,dep_delay\n")
    error = _sum_of(DuckRelationDataSource.from_csv(tmp_path / "empty.csv", "flights"), "dep_delay")
    assert str(error).endswith(
        ": the CSV holds no rows (a header only), so DuckDB read every column as text"
    )
    (tmp_path / "blank.csv").write_text("carrier,dep_delay\nAA,\nUA,\n")
    error = _sum_of(DuckRelationDataSource.from_csv(tmp_path / "blank.csv", "flights"), "dep_delay")
    assert str(error).endswith(
        ": no row of the CSV has a value in 'dep_delay', so DuckDB read it as text"
    )


def test_the_line_is_counted_in_the_file_that_holds_it(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("carrier,dep_delay\nAA,5\nUA,-3\n")
    (tmp_path / "b.csv").write_text("carrier,dep_delay\nDL,7\nDL,n/a\n")
    source = DuckRelationDataSource.from_csv(tmp_path / "*.csv", "flights", all_varchar=True)
    error = _sum_of(source, "dep_delay")
    assert str(error).endswith(f"line 3 of {tmp_path / 'b.csv'} holds 'n/a', not a number")


def test_a_text_column_names_its_first_word_and_no_header(tmp_path: Path) -> None:
    (tmp_path / "flights.csv").write_text("carrier,dep_delay\nAA,5\n")
    error = _sum_of(DuckRelationDataSource.from_csv(tmp_path / "flights.csv", "flights"), "carrier")
    assert str(error).endswith(" holds 'AA', not a number")
    # Only a CSV can point at a line; other sources say the type alone.
    table = pa.table({"carrier": ["AA"]})
    error = _sum_of(DuckRelationDataSource.from_arrow(table, "flights"), "carrier")
    assert str(error).endswith("is VARCHAR (in check 'Delays', assertion 'sum')")


@pytest.mark.parametrize("column", ["x", "yyyy_mm_dd"])
def test_a_date_column_must_hold_dates(column: str) -> None:
    table = pa.table({"yyyy_mm_dd": [20240703], "x": [1.5]})
    with pytest.raises(DefinitionError, match=f"'{column}'.*DATE, TIMESTAMP"):
        DuckRelationDataSource.from_arrow(
            table, "events", date_column=None if column == "yyyy_mm_dd" else column
        )


def test_unreadable_inputs_are_definition_errors(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="'ghost'"):
        DuckRelationDataSource.from_parquet(tmp_path / "missing-*.parquet", "ghost")
    with pytest.raises(DefinitionError, match="'ghost'"):
        DuckRelationDataSource.from_csv(tmp_path / "missing.csv", "ghost")
    with pytest.raises(DefinitionError, match=r"pyarrow\.Table"):
        DuckRelationDataSource.from_arrow([1, 2], "ghost")  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="name"):
        DuckRelationDataSource.from_arrow(pa.table({"x": [1]}), "")


DUCKDB_TYPES: dict[str, tuple[str, str]] = {
    # column: (DuckDB type, family)
    "tiny": ("TINYINT", "numeric"),
    "huge": ("HUGEINT", "numeric"),
    "uhuge": ("UHUGEINT", "numeric"),
    "money": ("DECIMAL(18,3)", "numeric"),
    "wide money": ("DECIMAL(38,10)", "numeric"),
    "ratio": ("DOUBLE", "numeric"),
    "small ratio": ("FLOAT", "numeric"),
    "label": ("VARCHAR", "text"),
    "mood": ("ENUM('sad', 'ok')", "text"),
    "flag": ("BOOLEAN", "boolean"),
    "day": ("DATE", "temporal"),
    "clock": ("TIME", "temporal"),
    "stamp": ("TIMESTAMP", "temporal"),
    "stamp tz": ("TIMESTAMP WITH TIME ZONE", "temporal"),
    "stamp ns": ("TIMESTAMP_NS", "temporal"),
    "span": ("INTERVAL", "temporal"),
    "list": ("INTEGER[]", "nested"),
    "array": ("INTEGER[2]", "nested"),
    "record": ("STRUCT(a INTEGER, b VARCHAR)", "nested"),
    "lookup": ("MAP(VARCHAR, INTEGER)", "nested"),
    "either": ("UNION(n INTEGER, s VARCHAR)", "nested"),
    "id": ("UUID", "other"),
    "bytes": ("BLOB", "other"),
    "doc": ("JSON", "other"),
}


@pytest.fixture(scope="module")
def every_type() -> DuckRelationDataSource:
    connection = duckdb.connect()
    columns = ", ".join(
        f'CAST(NULL AS {duck_type}) AS "{column}"'
        for column, (duck_type, _) in DUCKDB_TYPES.items()
    )
    connection.execute(f"CREATE VIEW every_type AS SELECT {columns}")
    return DuckRelationDataSource(connection, "every_type", "types")


@pytest.mark.parametrize("column", list(DUCKDB_TYPES))
def test_duckdb_types_fall_into_families(every_type: DuckRelationDataSource, column: str) -> None:
    duck_type, family = DUCKDB_TYPES[column]
    assert every_type.schema[column] == duck_type
    assert every_type.type_family(column) == family
    assert every_type.is_numeric(column) == (family == "numeric")


def test_type_family_takes_the_column_as_a_user_spells_it(
    every_type: DuckRelationDataSource,
) -> None:
    assert every_type.type_family("FLAG") == "boolean"
    with pytest.raises(DefinitionError, match=r"'flga'.*did you mean 'flag'"):
        every_type.type_family("flga")


def test_numeric_metrics_and_value_checks_follow_the_family(
    every_type: DuckRelationDataSource,
) -> None:
    # Every numeric family member sums; nothing else does. The message shows the
    # engine's own type name, which is what the user sees in their schema.
    for column, (duck_type, family) in DUCKDB_TYPES.items():
        if family == "numeric":
            validate_specs(every_type, [Sum(column)])
        else:
            with pytest.raises(DefinitionError, match=re.escape(f"is {duck_type}")):
                validate_specs(every_type, [Sum(column)])
    with pytest.raises(DefinitionError, match=r"1 cannot match column 'mood'"):
        validate_specs(every_type, [CountValues.of("mood", 1)])
    validate_specs(every_type, [CountValues.of("mood", "sad")])


def test_a_data_source_states_what_it_cannot_do_without() -> None:
    with pytest.raises(TypeError):
        DataSource()  # type: ignore[abstract]

    class NoTypes(DataSource):
        dialect = "duckdb"

        @property
        def schema(self) -> dict[str, str]:
            return {}

        def table_expression(self) -> Any:
            raise NotImplementedError

        def date_key(self) -> Any:
            raise NotImplementedError

        def date_bind_value(self, day: dt.date) -> Any:
            raise NotImplementedError

        def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
            raise NotImplementedError

    # A source that cannot say what its columns hold cannot be made: specs ask it.
    with pytest.raises(TypeError, match="type_family"):
        NoTypes()  # type: ignore[abstract]
