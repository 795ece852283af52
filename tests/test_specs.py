"""Every metric kind against an independent oracle (plain Python), through a real run.

Tables are generated with NULLs, NaN, duplicates, zero and one row, and column names
that need quoting. Counts must match exactly; float aggregates to rounding error.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Failure, Result, Success
from sqlglot import exp

from dqx import MetricProvider
from dqx.analyzer import validate_specs
from dqx.common import DefinitionError, canonical_json
from dqx.datasource import DataSource, DuckRelationDataSource, TypeFamily
from dqx.kinds import spec_from_parameters
from dqx.specs import BindValue, CountValues, CustomSQL

DAY = dt.date(2024, 3, 10)
Measure = Callable[..., dict[str, Result[float, str]]]  # the `measure` fixture of conftest

AWKWARD_NAMES = [
    "a b",
    'say "hi"',
    "it's",
    "select",
    "from",
    "Ünïcødé",
    "MiXed Case",
    "group",
    "列",
    "x;--",
]

names = st.lists(
    st.sampled_from(AWKWARD_NAMES)
    | st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=6).filter(
        lambda n: n.strip() == n and n.lower() != "yyyy_mm_dd"
    ),
    min_size=3,
    max_size=3,
    unique_by=str.lower,  # DuckDB matches identifiers case-insensitively
)
floats = (
    st.none()
    | st.just(math.nan)
    | st.floats(-1e6, 1e6, allow_nan=False)
    | st.sampled_from([0.0, -0.0, 1.5])
)
ints = st.none() | st.integers(-(2**40), 2**40) | st.sampled_from([0, 7])
texts = st.none() | st.sampled_from(["a", "b", "c", "", "A", "ä"])


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, str, str, str]:
    f, i, s = draw(names)
    rows = draw(st.lists(st.tuples(floats, ints, texts), max_size=30))
    table = pa.table(
        {
            f: pa.array([r[0] for r in rows], pa.float64()),
            i: pa.array([r[1] for r in rows], pa.int64()),
            s: pa.array([r[2] for r in rows], pa.string()),
        }
    )
    return table, f, i, s


def number(value: Result[float, str]) -> float | None:
    match value:
        case Success(found):
            return float(found)
    return None


def present(values: Sequence[Any]) -> list[Any]:
    return [v for v in values if v is not None]


def canon(value: Any) -> Any:
    # SQL groups every NaN together and -0.0 with 0.0; Python's set needs telling.
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def sql_max(values: list[float]) -> float | None:
    if not values:
        return None
    return math.nan if any(math.isnan(v) for v in values) else max(values)


def sql_min(values: list[float]) -> float | None:
    # NaN sorts above every number in SQL engines, so it is the minimum only when alone.
    if not values:
        return None
    numbers = [v for v in values if not math.isnan(v)]
    return min(numbers) if numbers else math.nan


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def expect_float(
    got: Result[float, str], expected: float | None, rows: int, **approx: float
) -> None:
    """``expected`` None or NaN means the run must report ERROR for that metric; a NULL
    over no ``rows`` at all is reported as the empty day it is."""
    if expected is None or math.isnan(expected):
        assert isinstance(got, Failure), got
        reason = got.failure()
        if expected is not None:
            assert "NaN" in reason, reason
        else:
            assert ("no rows for" in reason) if rows == 0 else ("is NULL" in reason), reason
    else:
        assert number(got) == pytest.approx(expected, **approx), got


@pytest.mark.slow
@given(tables())
def test_every_metric_matches_a_python_oracle(measure: Measure, drawn: Any) -> None:
    table, f, i, s = drawn
    fv: list[float | None] = table.column(f).to_pylist()
    iv: list[int | None] = table.column(i).to_pylist()
    sv: list[str | None] = table.column(s).to_pylist()
    metrics: dict[str, Callable[[MetricProvider], Any]] = {
        "num_rows": lambda mp: mp.num_rows(),
        "sum f": lambda mp: mp.sum(f),
        "sum i": lambda mp: mp.sum(i),
        "average f": lambda mp: mp.average(f),
        "average i": lambda mp: mp.average(i),
        "minimum f": lambda mp: mp.minimum(f),
        "maximum f": lambda mp: mp.maximum(f),
        "minimum i": lambda mp: mp.minimum(i),
        "maximum i": lambda mp: mp.maximum(i),
        "variance f": lambda mp: mp.variance(f),
        "variance i": lambda mp: mp.variance(i),
        "null_count f": lambda mp: mp.null_count(f),
        "null_count s": lambda mp: mp.null_count(s),
        "unique_count f": lambda mp: mp.unique_count(f),
        "unique_count s": lambda mp: mp.unique_count(s),
        "duplicate_count s": lambda mp: mp.duplicate_count([s]),
        "duplicate_count f i s": lambda mp: mp.duplicate_count([f, i, s]),
        "count_values s": lambda mp: mp.count_values(s, "a"),
        "count_values s list": lambda mp: mp.count_values(s, ["a", "", "ä"]),
        "count_values i": lambda mp: mp.count_values(i, 7),
        "custom_sql": lambda mp: mp.custom_sql(
            f"COUNT({quote(s)}) + COUNT(*) FILTER (WHERE {quote(i)} > 0)"
        ),
    }
    got = measure(table, metrics)

    assert number(got["num_rows"]) == len(fv)
    pf = present(fv)
    pi = present(iv)
    expect_float(
        got["sum f"], rows=len(fv), expected=(math.fsum(pf) if pf else None), rel=1e-9, abs=1e-6
    )
    # Integer sums are exact in SQL and below 2**53 here, so exactly equal as floats.
    if pi:
        assert number(got["sum i"]) == float(sum(pi))
    else:
        expect_float(got["sum i"], rows=len(fv), expected=None)
    expect_float(
        got["average f"],
        rows=len(fv),
        expected=statistics.fmean(pf) if pf else None,
        rel=1e-9,
        abs=1e-6,
    )
    expect_float(
        got["average i"], rows=len(fv), expected=statistics.fmean(pi) if pi else None, rel=1e-12
    )
    expect_float(got["minimum f"], rows=len(fv), expected=sql_min(pf))
    expect_float(got["maximum f"], rows=len(fv), expected=sql_max(pf))
    expect_float(got["minimum i"], rows=len(fv), expected=min(pi) if pi else None)
    expect_float(got["maximum i"], rows=len(fv), expected=max(pi) if pi else None)
    has_nan = any(math.isnan(v) for v in pf)
    variance_f = None if len(pf) < 2 else (math.nan if has_nan else statistics.variance(pf))
    expect_float(got["variance f"], rows=len(fv), expected=variance_f, rel=1e-6, abs=1e-3)
    variance_i = None if len(pi) < 2 else statistics.variance(pi)
    expect_float(got["variance i"], rows=len(fv), expected=variance_i, rel=1e-6, abs=1e-3)
    assert number(got["null_count f"]) == fv.count(None)
    assert number(got["null_count s"]) == sv.count(None)
    assert number(got["unique_count f"]) == len({canon(v) for v in pf})
    assert number(got["unique_count s"]) == len(set(present(sv)))
    assert number(got["duplicate_count s"]) == len(sv) - len(set(sv))
    rows = {(canon(a), b, c) for a, b, c in zip(fv, iv, sv, strict=True)}
    assert number(got["duplicate_count f i s"]) == len(fv) - len(rows)
    assert number(got["count_values s"]) == sv.count("a")
    assert number(got["count_values s list"]) == sum(v in ("a", "", "ä") for v in sv)
    assert number(got["count_values i"]) == iv.count(7)
    assert number(got["custom_sql"]) == len(present(sv)) + sum(v > 0 for v in pi)


DAYS = [DAY - dt.timedelta(days=n) for n in range(3)]
date_kinds = st.sampled_from(["date", "timestamp", "text"])


def _date_array(days: list[dt.date], kind: str, hours: list[int]) -> pa.Array:
    if kind == "date":
        return pa.array(days, pa.date32())
    if kind == "timestamp":
        stamps = [dt.datetime.combine(d, dt.time(h, 30)) for d, h in zip(days, hours, strict=True)]
        return pa.array(stamps, pa.timestamp("us"))
    return pa.array([d.isoformat() for d in days], pa.string())


@pytest.mark.slow
@given(
    rows=st.lists(st.tuples(st.sampled_from(DAYS), floats, texts, st.integers(0, 23)), max_size=30),
    kind=date_kinds,
    column=st.sampled_from(["yyyy_mm_dd", "event day", "Select"]),
)
def test_partitioned_source_gives_each_day_its_own_rows(
    measure: Measure,
    rows: list[tuple[dt.date, float | None, str | None, int]],
    kind: str,
    column: str,
) -> None:
    table = pa.table(
        {
            column: _date_array([r[0] for r in rows], kind, [r[3] for r in rows]),
            "v": pa.array([r[1] for r in rows], pa.float64()),
            "s": pa.array([r[2] for r in rows], pa.string()),
        }
    )
    metrics: dict[str, Callable[[MetricProvider], Any]] = {}
    # Lags 0..2 have rows (maybe); lag 5 never does.
    for lag in (0, 1, 2, 5):
        metrics[f"num_rows {lag}"] = lambda mp, lag=lag: mp.num_rows(lag=lag)
        metrics[f"sum {lag}"] = lambda mp, lag=lag: mp.sum("v", lag=lag)
        metrics[f"null_count {lag}"] = lambda mp, lag=lag: mp.null_count("v", lag=lag)
        metrics[f"unique_count {lag}"] = lambda mp, lag=lag: mp.unique_count("s", lag=lag)
        metrics[f"duplicate_count {lag}"] = lambda mp, lag=lag: mp.duplicate_count(
            ["s", "v"], lag=lag
        )
        metrics[f"custom {lag}"] = lambda mp, lag=lag: mp.custom_sql("COUNT(s)", lag=lag)
    got = measure(table, metrics, date_column=None if column == "yyyy_mm_dd" else column)

    for lag in (0, 1, 2, 5):
        day = DAY - dt.timedelta(days=lag)
        mine = [r for r in rows if r[0] == day]
        values = [r[1] for r in mine]
        texts_ = [r[2] for r in mine]
        assert number(got[f"num_rows {lag}"]) == len(mine)
        pv = present(values)
        expect_float(
            got[f"sum {lag}"], math.fsum(pv) if pv else None, len(mine), rel=1e-9, abs=1e-6
        )
        assert number(got[f"null_count {lag}"]) == values.count(None)
        assert number(got[f"unique_count {lag}"]) == len(set(present(texts_)))
        pairs = {(t, canon(v)) for t, v in zip(texts_, values, strict=True)}
        assert number(got[f"duplicate_count {lag}"]) == len(mine) - len(pairs)
        assert number(got[f"custom {lag}"]) == len(present(texts_))


@pytest.mark.slow
@given(tables())
def test_snapshot_source_reads_the_whole_table_as_the_run_date(
    measure: Measure, drawn: Any
) -> None:
    table, f, _, s = drawn
    got = measure(
        table,
        {
            "rows": lambda mp: mp.num_rows(),
            "unique": lambda mp: mp.unique_count(s),
            "nulls": lambda mp: mp.null_count(f),
        },
        key_date=dt.date(1999, 12, 31),
    )
    assert number(got["rows"]) == table.num_rows
    assert number(got["unique"]) == len(set(present(table.column(s).to_pylist())))
    assert number(got["nulls"]) == table.column(f).null_count


def test_metric_names_are_the_method_and_arguments_as_written() -> None:
    mp = MetricProvider()
    assert str(mp.num_rows()) == "num_rows()"
    assert str(mp.average("price")) == "average(price)"
    assert str(mp.duplicate_count(["a", "b"])) == "duplicate_count([a, b])"
    assert str(mp.count_values("s", ["x", 1])) == "count_values(s, ['x', 1])"
    assert str(mp.custom_sql("SUM(x)")) == "custom_sql(SUM(x))"
    assert str(mp.ext.day_over_day(mp.average("price"))) == "day_over_day(average(price))"
    assert str(mp.ext.stddev(mp.sum("x"), n=3)) == "stddev(sum(x), offset=0, n=3)"
    assert str(mp.sum("x", lag=2)) == "sum(x, lag=2)"


def test_count_values_keeps_values_of_different_types_apart(measure: Measure) -> None:
    table = pa.table({"flag": pa.array([1, 1, 0, None], pa.int64())})
    got = measure(
        table,
        {
            "int": lambda mp: mp.count_values("flag", 1),
            "float": lambda mp: mp.count_values("flag", 1.0),
        },
    )
    assert number(got["int"]) == number(got["float"]) == 2
    mp = MetricProvider()
    assert mp.count_values("flag", 1).spec != mp.count_values("flag", 1.0).spec
    assert mp.count_values("flag", 1).spec != mp.count_values("flag", True).spec


@pytest.mark.parametrize(
    ("sql", "complaint"),
    [
        ("SELECT SUM(x) FROM t", "one aggregate expression"),
        ("(SELECT MAX(x) FROM t)", "subquery"),
        ("SUM(x) FILTER (WHERE y IN (SELECT 1))", "subquery"),
        ("SUM(x); DROP TABLE t", "exactly one expression"),
        ("read_csv('/etc/passwd')", "read_csv"),
        ("MAX(getenv('HOME'))", "getenv"),
        ("x + 1", "must aggregate"),
        ("x + SUM(y)", "outside any aggregate"),
        ("SUM(other.x)", "other.x"),
        ("SUM(x) OVER ()", "window"),
        ("SUM(x) AS total", "alias"),
        ("SUM(x) FROM t", "not valid SQL"),
        ("", "needs an SQL expression"),
        # Star expansions become several result columns and would shift every later
        # metric of the shared statement onto its neighbour's value.
        ("SUM(COLUMNS(*))", "columns"),
        ("SUM(*COLUMNS(*))", "columns"),
        ("MAX(COLUMNS('x'))", "columns"),
        ("MAX(struct_pack(*))", "*"),
        ("MAX(#1)", "#1"),
    ],
)
def test_custom_sql_is_one_aggregate_expression(sql: str, complaint: str) -> None:
    # Declaration checks what needs no dialect; the rest is checked, before any scan,
    # against the source the expression will run on.
    source = DuckRelationDataSource.from_arrow(pa.table({"x": [1], "y": [2]}), "t")
    with pytest.raises(DefinitionError, match="custom_sql") as raised:
        validate_specs(source, [CustomSQL.of(sql)])
    assert complaint in str(raised.value)


def test_custom_sql_problems_name_the_check_that_wrote_them() -> None:
    source = DuckRelationDataSource.from_arrow(pa.table({"x": [1]}), "t")
    where = "check 'Sales', assertion 'total'"
    with pytest.raises(DefinitionError, match=r"must aggregate.*check 'Sales'") as raised:
        validate_specs(source, [CustomSQL.of("x + 1")], where=where)
    assert raised.value.metric == "custom_sql(x + 1)"
    with pytest.raises(DefinitionError, match=r"'pirce'.*check 'Sales'.*did you mean 'price'"):
        validate_specs(
            DuckRelationDataSource.from_arrow(pa.table({"price": [1.0]}), "t"),
            [CustomSQL.of("SUM(pirce)")],
            where=where,
        )


class SchemaOnly(DataSource):
    """A source in another dialect, enough to validate against; it never runs a statement."""

    def __init__(self, dialect: str, schema: dict[str, TypeFamily]) -> None:
        self.name = "elsewhere"
        self.dialect = dialect
        self.date_column = None
        self._families = schema

    @property
    def schema(self) -> dict[str, str]:
        return {column: family.upper() for column, family in self._families.items()}

    def type_family(self, column: str) -> TypeFamily:
        return self._families[self.resolve_column(column)]

    def table_expression(self) -> exp.Expr:
        return exp.to_table("t")

    def date_key(self) -> exp.Expr:
        raise AssertionError("a snapshot has no date key")

    def date_bind_value(self, day: dt.date) -> Any:
        raise AssertionError("a snapshot has no date key")

    def execute(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        raise AssertionError("validation must not read data")


def test_custom_sql_is_read_in_the_dialect_of_its_source(measure: Measure) -> None:
    # DuckDB's integer division and power operator: valid DuckDB, so valid here.
    table = pa.table({"x": pa.array([1, 2, 3, None, 7], pa.int64())})
    got = measure(
        table,
        {
            "halves": lambda mp: mp.custom_sql("SUM(x // 2)"),
            "squares": lambda mp: mp.custom_sql("SUM(x ** 2)"),
        },
    )
    present_x = [v for v in table.column("x").to_pylist() if v is not None]
    assert number(got["halves"]) == sum(v // 2 for v in present_x)
    assert number(got["squares"]) == sum(v**2 for v in present_x)

    # PostgreSQL has no // operator: the same text is refused for a PostgreSQL source,
    # and the message says which dialect could not read it.
    postgres = SchemaOnly("postgres", {"x": "numeric"})
    with pytest.raises(DefinitionError, match=r"custom_sql\(SUM\(x // 2\)\).*postgres"):
        validate_specs(postgres, [CustomSQL.of("SUM(x // 2)")])


def test_the_same_custom_sql_text_means_what_its_dialect_says() -> None:
    # ^ is a power in DuckDB and a bitwise XOR in Spark: parsed once for both, the
    # expression would compute the wrong thing on one of them.
    spec = CustomSQL.of("SUM(x ^ 2)")
    for dialect in ("duckdb", "spark"):
        validate_specs(SchemaOnly(dialect, {"x": "numeric"}), [spec])
    assert spec.aggregate({}, "duckdb").find(exp.Pow) is not None
    assert spec.aggregate({}, "spark").find(exp.BitwiseXor) is not None
    # Spark quotes identifiers with backticks, which DuckDB cannot read.
    backticks = CustomSQL.of("SUM(`x`)")
    validate_specs(SchemaOnly("spark", {"x": "numeric"}), [backticks])
    with pytest.raises(DefinitionError, match="duckdb"):
        validate_specs(SchemaOnly("duckdb", {"x": "numeric"}), [backticks])


def test_custom_sql_identity_is_its_text_whatever_reads_it() -> None:
    spec = CustomSQL.of("  SUM(x)\n")
    assert spec.parameters == {"sql": "SUM(x)"}
    assert spec.name == "custom_sql(SUM(x))"
    assert spec.identity == ("custom_sql", canonical_json({"sql": "SUM(x)"}))
    fresh = CustomSQL.of("SUM(x)")
    validate_specs(SchemaOnly("duckdb", {"x": "numeric"}), [spec])
    validate_specs(SchemaOnly("spark", {"x": "numeric"}), [spec])
    assert spec == fresh and hash(spec) == hash(fresh)
    assert spec_from_parameters("custom_sql", {"sql": "SUM(x)"}) == spec
    # Text the dialect cannot read is still declared, stored and rebuilt: it fails
    # where it is checked against a source, not where it is named.
    assert CustomSQL.of("SUM(x) FROM t").parameters == {"sql": "SUM(x) FROM t"}


def test_count_values_checks_values_against_the_columns_type_family() -> None:
    source = SchemaOnly(
        "postgres",
        {"n": "numeric", "s": "text", "b": "boolean", "d": "temporal", "l": "nested"},
    )
    accepted: list[tuple[str, BindValue]] = [
        ("n", 1),
        ("n", 2.5),
        ("n", True),
        ("s", "a"),
        ("b", True),
        ("b", 1),
        ("d", "2024-01-01"),
    ]
    for column, value in accepted:
        validate_specs(source, [CountValues.of(column, value)])
    refused: list[tuple[str, BindValue]] = [
        ("n", "1"),
        ("s", 1),
        ("s", False),
        ("b", "yes"),
        ("d", True),
        ("l", 1),
    ]
    for column, value in refused:
        with pytest.raises(DefinitionError, match=f"{value!r} cannot match column '{column}'") as e:
            validate_specs(source, [CountValues.of(column, [value])], where="check 'C'")
        assert "(in check 'C')" in str(e.value) and e.value.dataset == "elsewhere"


def test_count_values_of_null_points_to_null_count() -> None:
    with pytest.raises(DefinitionError, match=r"null_count"):
        MetricProvider().count_values("s", None)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match=r"null_count"):
        MetricProvider().count_values("s", ["a", None])  # type: ignore[list-item]


def test_count_values_refuses_a_nested_column_before_reading_it(measure: Measure) -> None:
    table = pa.table({"tags": pa.array([[1], [2], None], pa.list_(pa.int64()))})
    with pytest.raises(DefinitionError, match=r"'tags'") as raised:
        measure(table, {"ones": lambda mp: mp.count_values("tags", 1)})
    assert "BIGINT[]" in str(raised.value)
