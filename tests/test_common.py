"""Value types: ResultKey identity, execution ids."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from returns.result import Success

from dqx import ResultKey, SymbolInfo
from dqx.common import DefinitionError, InvalidExecutionIdError, normalize_execution_id

DAY = dt.date(2024, 1, 2)
# Any text every backend stores: no NUL, no lone surrogate (those are refused, below).
storable = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
tag_dicts = st.dictionaries(
    st.text(storable, min_size=1, max_size=5).filter(lambda k: not k.startswith("__")),
    st.text(storable, max_size=5),
    max_size=6,
)


@given(tag_dicts, st.randoms(use_true_random=False))
def test_tag_order_never_changes_equality_or_hash(tags: dict[str, str], rnd: object) -> None:
    items = list(tags.items())
    rnd.shuffle(items)  # type: ignore[attr-defined]
    shuffled = dict(items)
    a, b = ResultKey(DAY, tags), ResultKey(DAY, shuffled)
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    assert a.tags == tags


@given(
    tag_dicts,
    st.text(storable, min_size=1, max_size=5),
    st.text(storable, max_size=5),
    st.text(storable, max_size=5),
)
def test_different_tag_values_are_different_keys(
    tags: dict[str, str], key: str, one: str, other: str
) -> None:
    assume(not key.startswith("__") and one != other)
    a = ResultKey(DAY, {**tags, key: one})
    b = ResultKey(DAY, {**tags, key: other})
    assert a != b
    assert len({a, b}) == 2


def test_prod_and_dev_are_different_keys() -> None:
    prod, dev = ResultKey(DAY, {"env": "prod"}), ResultKey(DAY, {"env": "dev"})
    assert prod != dev
    assert hash(prod) != hash(dev)
    assert ResultKey(DAY, {"env": "prod"}) != ResultKey(DAY + dt.timedelta(1), {"env": "prod"})


@pytest.mark.parametrize(
    "tags",
    [{"__execution_id": "x"}, {"__origin": "db"}, {"__": "x"}, {"": "x"}, {"env": 1}, {1: "x"}],
)
def test_bad_tags_are_refused(tags: dict[object, object]) -> None:
    with pytest.raises(DefinitionError):
        ResultKey(DAY, tags)  # type: ignore[arg-type]


@pytest.mark.parametrize("tags", [[("env", "prod")], "env=prod"])
def test_tags_that_are_not_a_mapping_are_refused(tags: object) -> None:
    with pytest.raises(DefinitionError, match="mapping"):
        ResultKey(DAY, tags)  # type: ignore[arg-type]


def test_result_key_needs_a_date_not_a_datetime() -> None:
    with pytest.raises(DefinitionError, match=r"datetime\.date"):
        ResultKey(dt.datetime(2024, 1, 2))
    with pytest.raises(DefinitionError):
        ResultKey("2024-01-02")  # type: ignore[arg-type]


def test_execution_ids_normalise_from_dashed_form() -> None:
    hex_id = "0123456789abcdef0123456789ABCDEF"
    dashed = "01234567-89ab-cdef-0123-456789abcdef"
    assert normalize_execution_id(hex_id) == hex_id.lower()
    assert normalize_execution_id(dashed) == dashed.replace("-", "")
    for bad in ("xyz", "0" * 31, "g" * 32):
        with pytest.raises(InvalidExecutionIdError) as raised:
            normalize_execution_id(bad)
        assert isinstance(raised.value, ValueError)


def test_symbol_info_takes_its_fields_in_the_plans_order() -> None:
    # The seed plan lists name, metric, dataset, value, yyyy_mm_dd, tags: a positional
    # sixth argument is the tags, and the suite (not in the plan) stays unset.
    symbol = SymbolInfo("x_1", "average(price)", "sales", Success(1.0), DAY, {"env": "prod"})
    assert symbol.tags == {"env": "prod"}
    assert symbol.suite is None
    assert [f.name for f in dataclasses.fields(SymbolInfo)][:6] == [
        "name",
        "metric",
        "dataset",
        "value",
        "yyyy_mm_dd",
        "tags",
    ]
