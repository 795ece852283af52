"""Numbers for people: the one rule the terminal, the report and history share."""

from __future__ import annotations

import math

import pytest

from dqx.humanize import (
    format_bound,
    format_exact,
    format_value,
    parse_bound,
    sparkline,
    split_top_level,
    value_style,
)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (2000.0, "2,000"),
        (-1234567.0, "-1,234,567"),
        (11.166666666666666, "11.1667"),
        (1234567.891, "1,234,568"),
        (1234.5, "1,234.5"),
        (0.0123456789, "0.0123457"),
        (0.0, "0"),
        (-0.0, "0"),
        (1e20, "1e+20"),
        (1.23456e-7, "1.235e-07"),
        (math.nan, "NaN"),
        (math.inf, "inf"),
        (-math.inf, "-inf"),
        (None, "-"),
    ],
)
def test_plain_numbers_get_separators_and_six_significant_digits(
    value: float | None, shown: str
) -> None:
    assert format_value(value) == shown


def test_shares_read_as_percent_and_changes_carry_their_sign() -> None:
    assert format_value(0.1535, "percent") == "15.35%"
    assert format_value(1.0, "percent") == "100%"
    assert format_value(0.9577835621728537, "change") == "+95.78%"
    assert format_value(-0.031, "change") == "-3.1%"
    assert format_value(0.0, "change") == "0%"
    assert format_value(math.nan, "percent") == "NaN"


@pytest.mark.parametrize(
    ("expression", "style"),
    [
        ("null_count(email) / num_rows()", "percent"),
        ("count_values(status, ['paid', 'a/b']) / num_rows()", "percent"),
        ("orders.null_count(email) / orders.num_rows()", "number"),
        ("num_rows() / num_rows(lag=1)", "percent"),
        ("day_over_day(average(price))", "change"),
        ("week_over_week(num_rows())", "change"),
        ("day_over_day(num_rows()) * 2", "number"),
        ("sum(price) / num_rows()", "number"),
        ("abs(average(price) - average(price, lag=7)) / stddev(average(price), n=7)", "number"),
        ("num_rows()", "number"),
        ("custom_sql('SUM(a) / COUNT(*)')", "number"),
    ],
)
def test_the_style_comes_from_the_expression_as_written(expression: str, style: str) -> None:
    assert value_style(expression) == style


def test_operators_inside_calls_lists_and_quotes_do_not_split() -> None:
    assert split_top_level("count_values(s, ['a-b', \"c/d\"]) / num_rows()") == [
        "count_values(s, ['a-b', \"c/d\"]) ",
        "/",
        " num_rows()",
    ]
    assert split_top_level("-num_rows()") == ["-num_rows()"]


def test_bounds_are_read_when_they_are_numbers_and_shown_in_the_value_style() -> None:
    bound = parse_bound("between -0.2 and 0.2")
    assert bound is not None and (bound.op, bound.low, bound.high) == ("between", -0.2, 0.2)
    equal = parse_bound("== 0 ± 1e-09")
    assert equal is not None and (equal.op, equal.low, equal.tolerance) == ("==", 0.0, "1e-09")
    assert parse_bound("< average(price, lag=1) * 2") is None
    assert format_bound("between -0.2 and 0.2", "change") == "between -20% and +20%"
    assert format_bound("< 0.05", "percent") == "< 5%"
    assert format_bound(">= 1000000") == ">= 1,000,000"
    assert format_bound("< average(price)", "percent") == "< average(price)"


def test_exact_values_keep_every_digit() -> None:
    assert format_exact(0.1 + 0.2) == "0.30000000000000004"
    assert format_exact(2000.0) == "2000"
    assert format_exact(None) == "-"


def test_a_sparkline_has_one_mark_per_value_and_gaps_for_none() -> None:
    assert sparkline([1, 2, None, 8]) == "▁▂ █"
    assert sparkline([5, 5]) == "▅▅"
    assert sparkline([None]) == " "
