"""Metric expressions: arithmetic builds trees whose text keeps their shape."""

from __future__ import annotations

import ast
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dqx import MetricProvider
from dqx.common import DefinitionError
from dqx.provider import Expr, as_expr

mp = MetricProvider()
LEAVES: list[Expr] = [
    mp.num_rows(),
    mp.sum("price"),
    mp.average("qty", lag=2),
    mp.ext.day_over_day(mp.maximum("price")),
]


def expressions() -> st.SearchStrategy[Any]:
    """Pairs (dqx expression, the tree's shape) built side by side."""
    metric_leaves = st.sampled_from(range(len(LEAVES))).map(lambda i: (LEAVES[i], ("leaf", i)))
    numbers = st.floats(-1e6, 1e6, allow_nan=False).filter(lambda f: f == 0 or abs(f) > 1e-6)
    number_leaves = numbers.map(lambda f: (as_expr(f), ("num", f)))

    def extend(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        binary = st.tuples(st.sampled_from("+-*/"), children, children).map(
            lambda t: (_apply(t[0], t[1][0], t[2][0]), (t[0], t[1][1], t[2][1]))
        )
        unary = children.map(lambda c: (-c[0], ("neg", c[1])))
        absolute = children.map(lambda c: (abs(c[0]), ("abs", c[1])))
        return binary | unary | absolute

    return st.recursive(metric_leaves | number_leaves, extend, max_leaves=8)


def _apply(op: str, left: Expr, right: Expr) -> Expr:
    match op:
        case "+":
            return left + right
        case "-":
            return left - right
        case "*":
            return left * right
    return left / right


def _shape(node: ast.expr, names: dict[str, int]) -> Any:
    """The same shape as ``expressions`` records, read back from Python's parser."""
    match node:
        case ast.BinOp(left, op, right):
            symbol = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}[type(op)]
            return (symbol, _shape(left, names), _shape(right, names))
        case ast.UnaryOp(ast.USub(), ast.Constant(value)):
            return ("num", -float(value))
        case ast.UnaryOp(ast.USub(), operand):
            return ("neg", _shape(operand, names))
        case ast.Constant(value):
            return ("num", float(value))
        case ast.Call(ast.Name("abs"), [argument]):
            return ("abs", _shape(argument, names))
    return ("leaf", names[ast.unparse(node)])


def _normalise(shape: Any) -> Any:
    # A negated number and a negative number print alike; compare them as one.
    match shape:
        case ("leaf", _):
            return shape
        case ("num", value):
            return ("num", float(value) + 0.0)
        case ("neg", child):
            inner = _normalise(child)
            return ("num", -inner[1] + 0.0) if inner[0] == "num" else ("neg", inner)
        case (op, *children):
            return (op, *(_normalise(c) for c in children))
    return shape


@given(expressions())
def test_expression_text_parses_back_to_the_same_tree(pair: Any) -> None:
    expr, shape = pair
    names = {
        ast.unparse(ast.parse(str(leaf), mode="eval").body): i for i, leaf in enumerate(LEAVES)
    }
    parsed = _shape(ast.parse(str(expr), mode="eval").body, names)
    assert _normalise(parsed) == _normalise(shape)


@pytest.mark.parametrize(
    ("build", "text"),
    [
        (lambda a, b, c: a - (b - c), "sum(price) - (num_rows() - average(qty, lag=2))"),
        (lambda a, b, c: (a - b) - c, "sum(price) - num_rows() - average(qty, lag=2)"),
        (lambda a, b, c: a / (b * c), "sum(price) / (num_rows() * average(qty, lag=2))"),
        (lambda a, b, c: a * (b / c), "sum(price) * (num_rows() / average(qty, lag=2))"),
        (lambda a, b, c: (a + b) * c, "(sum(price) + num_rows()) * average(qty, lag=2)"),
        (lambda a, b, c: -(a + b), "-(sum(price) + num_rows())"),
        (lambda a, b, c: -a * b, "-sum(price) * num_rows()"),
        (lambda a, b, c: a - -b, "sum(price) - (-num_rows())"),
        (lambda a, b, c: a - (-1), "sum(price) - (-1)"),
        (lambda a, b, c: abs(a - b) / 2, "abs(sum(price) - num_rows()) / 2"),
        (lambda a, b, c: 1 - a * 0.5, "1 - sum(price) * 0.5"),
        (lambda a, b, c: 1e20 * a, "1e+20 * sum(price)"),
    ],
)
def test_expression_text(build: Any, text: str) -> None:
    assert str(build(mp.sum("price"), mp.num_rows(), mp.average("qty", lag=2))) == text


@pytest.mark.parametrize("bad", [math.nan, "3", None, True])
def test_expressions_combine_metrics_and_numbers_only(bad: Any) -> None:
    with pytest.raises(DefinitionError):
        mp.num_rows() + bad


def test_an_expression_has_no_truth_value() -> None:
    with pytest.raises(DefinitionError, match="assert_that"):
        bool(mp.num_rows())
    with pytest.raises(DefinitionError, match="assert_that"):
        mp.num_rows() > 0  # noqa: B015


def test_extended_metrics_take_one_plain_metric() -> None:
    with pytest.raises(DefinitionError, match="day_over_day"):
        mp.ext.day_over_day(mp.num_rows() + 1)  # type: ignore[arg-type]
    with pytest.raises(DefinitionError, match="n >= 2"):
        mp.ext.stddev(mp.num_rows(), n=1)


def test_a_lagged_metric_without_columns_reads_as_a_call() -> None:
    assert str(mp.custom_sql("COUNT(*)", lag=1)) == "custom_sql(COUNT(*), lag=1)"
    assert str(mp.num_rows(lag=3)) == "num_rows(lag=3)"


def test_an_expression_over_two_datasets_names_each_metrics_dataset() -> None:
    flights, airlines = (
        mp.unique_count("carrier", dataset="flights"),
        mp.num_rows(dataset="airlines"),
    )
    assert str(flights - airlines) == "flights.unique_count(carrier) - airlines.num_rows()"
    window = mp.ext.day_over_day(mp.average("delay", dataset="flights", lag=1))
    assert str(abs(window) / mp.num_rows(dataset="airlines")) == (
        "abs(flights.day_over_day(average(delay, lag=1))) / airlines.num_rows()"
    )
    # Each part prints for itself: a single-dataset part stays as written.
    assert str(flights) == "unique_count(carrier)"


def test_an_expression_over_one_dataset_prints_as_written() -> None:
    named = mp.sum("price", dataset="orders") / mp.num_rows(dataset="orders")
    assert str(named) == "sum(price) / num_rows()"
    # A metric whose dataset the run resolves later is no second dataset.
    assert str(mp.sum("price") / mp.num_rows(dataset="orders")) == "sum(price) / num_rows()"
