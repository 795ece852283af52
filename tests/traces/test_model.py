"""Trace and span ids read the same whichever encoding a back-end writes them in."""

from __future__ import annotations

import base64

import pytest

from dqx.common import TraceReadError
from dqx.traces.model import normalize_span_id, normalize_trace_id

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize(
    "written",
    [
        TRACE_ID,
        TRACE_ID.upper(),
        base64.b64encode(bytes.fromhex(TRACE_ID)).decode(),
        "0af76519-16cd-43dd-8448-eb211c80319c",
    ],
    ids=["hex", "upper hex", "base64", "dashed uuid"],
)
def test_a_trace_id_reads_as_lowercase_hex_from_any_encoding(written: str) -> None:
    assert normalize_trace_id(written) == TRACE_ID


def test_jaegers_short_form_of_a_64_bit_trace_id_is_padded() -> None:
    assert normalize_trace_id("8448eb211c80319c") == "0000000000000000" + "8448eb211c80319c"


def test_a_span_id_reads_from_hex_or_base64() -> None:
    assert normalize_span_id(base64.b64encode(bytes.fromhex("b7ad6b7169203331")).decode()) == (
        "b7ad6b7169203331"
    )
    assert normalize_span_id("B7AD6B7169203331") == "b7ad6b7169203331"


@pytest.mark.parametrize("bad", ["", "xyz", "0af7651916cd43dd8448eb211c80319c00", "AA=="])
def test_an_id_in_no_known_encoding_is_a_trace_read_error(bad: str) -> None:
    with pytest.raises(TraceReadError, match="trace id"):
        normalize_trace_id(bad)
