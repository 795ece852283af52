"""Numbers for people: one formatting rule for the terminal, the HTML report and history.

Machine outputs (``--format json``, CSV, the store, the trace) keep the exact float;
only what a person reads goes through :func:`format_value`. The rule:

* whole numbers print whole, with thousands separators: ``2,000``, ``-1,234,567``;
* other numbers keep six significant digits, with separators, trailing zeros dropped:
  ``11.1667``, ``1,234,568``, ``0.0123457``; beyond 10^15 or below 10^-4 (not zero)
  they print in scientific notation, ``1.235e+20``;
* NaN and infinities print as ``NaN``, ``inf``, ``-inf``; no value as ``-``.

Where the last digit matters (a reconciliation comparing the store's value with the
trace's) :func:`format_exact` prints every digit instead.

Some values read better as percentages. :func:`value_style` decides from the expression
(or metric name) as written, never from the value, so one assertion always prints the
same way:

* ``percent``: a share, the expression is one count metric divided by another
  (``null_count(email) / num_rows()``; counts are ``num_rows``, ``null_count``,
  ``count_values``, ``unique_count`` and ``duplicate_count``): ``15.35%``;
* ``change``: a relative change, the expression is one ``day_over_day(...)`` or
  ``week_over_week(...)``: ``+95.78%``, ``-3.1%``;
* ``number`` for everything else, bounds and sigmas included.

Percentages keep four significant digits. A bound shown beside a value is printed in
the value's style, so ``emails mostly set`` reads ``15.35%`` against ``< 5%``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeAlias

__all__ = [
    "COUNT_KINDS",
    "RELATIVE_KINDS",
    "Bound",
    "ValueStyle",
    "format_bound",
    "format_exact",
    "format_number",
    "format_value",
    "parse_bound",
    "sparkline",
    "split_top_level",
    "value_style",
]

ValueStyle: TypeAlias = Literal["number", "percent", "change"]

#: Metrics that count rows: one divided by another is a share of rows.
COUNT_KINDS = frozenset(
    {"num_rows", "null_count", "count_values", "unique_count", "duplicate_count"}
)
#: Metrics whose value is already a relative change.
RELATIVE_KINDS = frozenset({"day_over_day", "week_over_week"})

_SIGNIFICANT = 6
_PERCENT_SIGNIFICANT = 4
_LARGEST_PLAIN = 1e15
_SMALLEST_PLAIN = 1e-4
_CALL = re.compile(r"^(?P<name>[A-Za-z_]\w*)\(")
_SPARKS = "▁▂▃▄▅▆▇█"


def format_number(value: float, significant: int = _SIGNIFICANT) -> str:
    """``value`` for a person, by the rule in the module's docstring."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    magnitude = abs(value)
    if value == int(value) and magnitude < _LARGEST_PLAIN:
        return f"{int(value):,}"
    if magnitude >= _LARGEST_PLAIN or magnitude < _SMALLEST_PLAIN:
        mantissa, _, exponent = f"{value:.{significant - 3}e}".partition("e")
        if "." in mantissa:
            mantissa = mantissa.rstrip("0").rstrip(".")
        return f"{mantissa}e{exponent}"
    decimals = max(0, significant - 1 - math.floor(math.log10(magnitude)))
    text = f"{value:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    # Rounding can leave "-0" from a tiny negative number.
    return "0" if text == "-0" else text


def format_exact(value: float | None) -> str:
    """Every digit of ``value``, for where the last one matters (a reconciliation's
    two records of one metric): the shortest text that reads back as the same float."""
    if value is None:
        return "-"
    if math.isfinite(value) and value == int(value) and abs(value) < _LARGEST_PLAIN:
        return str(int(value))
    return repr(value)


def format_value(value: float | None, style: ValueStyle = "number") -> str:
    """A value in ``style``: a plain number, a share in percent, or a signed change."""
    if value is None:
        return "-"
    if style == "number" or not math.isfinite(value):
        return format_number(value)
    text = format_number(value * 100, _PERCENT_SIGNIFICANT) + "%"
    if style == "change" and value > 0:
        text = "+" + text
    return text


@dataclass(frozen=True)
class Bound:
    """An assertion's bound when it is plain numbers: ``op`` is ``between`` or one of
    ``> >= < <= == !=``; ``high`` only for ``between``; ``tolerance`` as written."""

    op: str
    low: float
    high: float | None = None
    tolerance: str | None = None
    #: What follows the numbers in brackets: how an anomaly band was found.
    note: str | None = None


_NUMBER = r"(-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|-?inf|nan)"
_BETWEEN = re.compile(rf"^between {_NUMBER} and {_NUMBER}(?: \((.+)\))?$")
_COMPARE = re.compile(rf"^(>=|<=|==|!=|>|<) {_NUMBER}(?: ± (\S+))?$")


def parse_bound(bound: str) -> Bound | None:
    """The numbers of a bound as ``describe()`` writes it; None when the bound is an
    expression of metrics (``< average(price, lag=1) * 2``)."""
    if match := _BETWEEN.match(bound.strip()):
        return Bound("between", float(match.group(1)), float(match.group(2)), note=match.group(3))
    if match := _COMPARE.match(bound.strip()):
        return Bound(match.group(1), float(match.group(2)), tolerance=match.group(3))
    return None


def format_bound(bound: str, style: ValueStyle = "number") -> str:
    """A bound in the style of the value it bounds: ``between -0.2 and 0.2`` for a
    change reads ``between -20% and +20%``; an expression is left as written."""
    parsed = parse_bound(bound)
    if parsed is None:
        return bound
    if parsed.op == "between":
        note = f" ({parsed.note})" if parsed.note else ""
        low, high = format_value(parsed.low, style), format_value(parsed.high, style)
        return f"between {low} and {high}{note}"
    tolerance = f" ± {parsed.tolerance}" if parsed.tolerance else ""
    return f"{parsed.op} {format_value(parsed.low, style)}{tolerance}"


def split_top_level(expression: str, operators: str = "+-*/") -> list[str]:
    """``expression`` cut at the ``operators`` outside parentheses, brackets and quotes.

    The pieces alternate operand and operator: ``a / b`` gives ``['a ', '/', ' b']``.
    A sign (a ``-`` with no operand before it) stays with its operand.
    """
    pieces: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for index, char in enumerate(expression):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif depth == 0 and char in operators and expression[start:index].strip():
            pieces += [expression[start:index], char]
            start = index + 1
    pieces.append(expression[start:])
    return pieces


def _single_call(text: str) -> str | None:
    """The function name when ``text`` is exactly one call, ``name(...)``."""
    text = text.strip()
    match = _CALL.match(text)
    if not match or not text.endswith(")"):
        return None
    inner = text[match.end() : -1]
    # One call: its own parenthesis closes at the very end, none before.
    if split_top_level(inner, operators=")") != [inner]:
        return None
    depth = 0
    quote: str | None = None
    for char in inner:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return None
    return match.group("name")


def value_style(expression: str) -> ValueStyle:
    """How a person reads the value of ``expression`` (an assertion's, or a metric's
    name): a share in percent, a relative change, or a plain number."""
    pieces = split_top_level(expression)
    if len(pieces) == 1:
        return "change" if _single_call(expression) in RELATIVE_KINDS else "number"
    if len(pieces) == 3 and pieces[1] == "/":
        numerator, denominator = _single_call(pieces[0]), _single_call(pieces[2])
        if numerator in COUNT_KINDS and denominator in COUNT_KINDS:
            return "percent"
    return "number"


def sparkline(values: Sequence[float | None]) -> str:
    """One block character per value, lowest to highest; a gap for no value."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return " " * len(values)
    low, high = min(finite), max(finite)
    span = high - low
    marks = []
    for value in values:
        if value is None or not math.isfinite(value):
            marks.append(" ")
        elif span == 0:
            marks.append(_SPARKS[len(_SPARKS) // 2])
        else:
            marks.append(_SPARKS[round((value - low) / span * (len(_SPARKS) - 1))])
    return "".join(marks)
