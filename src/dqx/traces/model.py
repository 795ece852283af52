"""A trace as every reader returns it, whatever back-end or format it came from.

Readers normalise ids to lowercase hex (Tempo's protobuf JSON writes base64, Jaeger's
v1 API may drop the high half of a 64-bit-only trace id), attribute values to plain
Python values, and times to nanoseconds since the epoch.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from dqx.common import TraceReadError

__all__ = [
    "JSON_DECODER",
    "SpanEvent",
    "TimeWindow",
    "Trace",
    "TraceSource",
    "TraceSpan",
    "malformed_document",
    "normalize_span_id",
    "normalize_trace_id",
    "otlp_any_value",
    "otlp_attributes",
]

_HEX = frozenset("0123456789abcdefABCDEF")


def _json_int(text: str) -> int | float:
    # Go (Jaeger, Tempo, the Collector's file exporter) writes the double -0.0 as
    # "-0", which Python would read as the integer 0: keep the sign, bit for bit.
    return -0.0 if text == "-0" else int(text)


#: How every reader parses a back-end's JSON.
JSON_DECODER = json.JSONDecoder(parse_int=_json_int)


@contextmanager
def malformed_document(where: str, what: str) -> Iterator[None]:
    """Turn a parse failure inside a trace document into a TraceReadError naming it."""
    try:
        yield
    except TraceReadError as exc:
        raise TraceReadError(f"{where}: {exc}") from exc
    except (AttributeError, TypeError, ValueError, KeyError) as exc:
        raise TraceReadError(f"{where}: malformed {what}: {type(exc).__name__}: {exc}") from exc


def _normalize_id(value: Any, *, size: int, what: str) -> str:
    """``size`` bytes as lowercase hex, from hex (any case, possibly short) or base64."""
    if not isinstance(value, str) or not value:
        raise TraceReadError(f"{what} {value!r} is not an id")
    text = value.strip()
    if len(text) == 2 * size + 4 and text.count("-") == 4:
        text = text.replace("-", "")  # the dashed UUID form of a trace id
    if len(text) <= 2 * size and all(ch in _HEX for ch in text):
        # Hex, possibly Jaeger's short form of an id whose high half is zero. Padded
        # base64 of 16 or 8 bytes ends in "=", so it never reaches this branch.
        return text.lower().rjust(2 * size, "0")
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise TraceReadError(f"{what} {value!r} is neither hex nor base64 of {size} bytes")
    return raw.hex()


def normalize_trace_id(value: Any) -> str:
    """A trace id as 32 lowercase hex digits, from hex or base64."""
    return _normalize_id(value, size=16, what="trace id")


def normalize_span_id(value: Any) -> str:
    """A span id as 16 lowercase hex digits, from hex or base64."""
    return _normalize_id(value, size=8, what="span id")


_SPECIAL_DOUBLES = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def otlp_any_value(value: Any) -> Any:
    """An OTLP ``AnyValue`` in JSON (either int64 encoding, either bytes encoding) as Python."""
    if not isinstance(value, Mapping):
        raise TraceReadError(f"attribute value {value!r} is not an OTLP AnyValue object")
    if not value:
        return None
    if "stringValue" in value:
        return str(value["stringValue"])
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        # Protobuf JSON writes int64 as a string, so 2**63-1 survives JavaScript readers.
        return int(value["intValue"])
    if "doubleValue" in value:
        number = value["doubleValue"]
        if isinstance(number, str):
            return _SPECIAL_DOUBLES[number] if number in _SPECIAL_DOUBLES else float(number)
        return float(number)
    if "arrayValue" in value:
        return [otlp_any_value(item) for item in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return otlp_attributes(value["kvlistValue"].get("values", []))
    if "bytesValue" in value:
        return base64.b64decode(value["bytesValue"])
    raise TraceReadError(f"attribute value {value!r} has no known OTLP AnyValue field")


def otlp_attributes(items: Iterable[Any] | None) -> dict[str, Any]:
    """OTLP ``KeyValue`` list as a dict."""
    attributes: dict[str, Any] = {}
    for item in items or ():
        if not isinstance(item, Mapping) or "key" not in item:
            raise TraceReadError(f"attribute {item!r} is not an OTLP KeyValue object")
        attributes[str(item["key"])] = otlp_any_value(item.get("value", {}))
    return attributes


@dataclass(frozen=True)
class SpanEvent:
    name: str
    time_unix_nano: int
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TraceSpan:
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_unix_nano: int = 0
    end_time_unix_nano: int = 0
    attributes: Mapping[str, Any] = field(default_factory=dict)
    events: tuple[SpanEvent, ...] = ()
    status: str = "UNSET"
    service_name: str | None = None


@dataclass(frozen=True)
class Trace:
    """Every span a back-end returned for one trace id."""

    trace_id: str
    spans: tuple[TraceSpan, ...]
    #: Where the trace was read: a URL or a file list, for messages.
    origin: str = ""
    #: What the back-end said about completeness (Tempo's PARTIAL), duplicates dropped.
    warnings: tuple[str, ...] = ()
    #: The back-end said it could not return every span (Tempo's status PARTIAL).
    partial: bool = False

    @classmethod
    def of(
        cls,
        trace_id: str,
        spans: Iterable[TraceSpan],
        *,
        origin: str = "",
        warnings: Iterable[str] = (),
        partial: bool = False,
    ) -> Trace:
        """Keep the spans of ``trace_id``, each span id once, in start order."""
        trace_id = normalize_trace_id(trace_id)
        seen: dict[str, TraceSpan] = {}
        for span in spans:
            if span.trace_id == trace_id:
                seen.setdefault(span.span_id, span)
        ordered = sorted(seen.values(), key=lambda s: (s.start_time_unix_nano, s.span_id))
        return cls(trace_id, tuple(ordered), origin, tuple(warnings), partial)

    @property
    def root(self) -> TraceSpan | None:
        """The span without a parent inside this trace (``dqx.suite.run`` for a dqx run)."""
        ids = {span.span_id for span in self.spans}
        for span in self.spans:
            if span.parent_span_id is None or span.parent_span_id not in ids:
                return span
        return None

    def events(self, name: str | None = None) -> Iterator[tuple[TraceSpan, SpanEvent]]:
        """Every event of every span, or only those called ``name``."""
        for span in self.spans:
            for event in span.events:
                if name is None or event.name == name:
                    yield span, event


@dataclass(frozen=True)
class TimeWindow:
    """When a trace's spans are to be looked for: from ``start`` to ``end``, in UTC.

    Back-ends that index spans by time find a trace by its id only within a window:
    Jaeger on Elasticsearch or OpenSearch searches ``max_span_age`` (72 hours by
    default) unless the lookup names one, Tempo all its blocks unless it does.
    """

    start: dt.datetime
    end: dt.datetime

    #: How far around a run's own times to look: clocks of the process and the
    #: back-end disagree, and spans reach the back-end after they end.
    MARGIN = dt.timedelta(hours=1)

    @classmethod
    def around(cls, started: dt.datetime, finished: dt.datetime | None = None) -> TimeWindow:
        """The window of a run that started and finished then (naive times are UTC, as
        dq_run keeps them); a run with no end yet is looked for until now."""
        start = _utc(started)
        end = _utc(finished) if finished is not None else max(start, dt.datetime.now(dt.UTC))
        return cls(start - cls.MARGIN, end + cls.MARGIN)


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


@runtime_checkable
class TraceSource(Protocol):
    """Where a run's trace can be read back from.

    ``get_trace`` returns ``None`` when the back-end does not know the trace and raises
    :class:`~dqx.common.TraceReadError` when it cannot be reached or answers with
    something that is not a trace. A source that can use a time window takes it as
    ``get_trace(trace_id, window=TimeWindow(...))``; readers pass one only to a
    ``get_trace`` that has that keyword, so a source without it keeps working.
    """

    def get_trace(self, trace_id: str) -> Trace | None: ...
