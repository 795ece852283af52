"""Documents written by Go programs: Jaeger, Tempo and the Collector's file exporter.

Go writes the double -0.0 as ``-0``, which Python's json module reads as the integer
0. A metric whose value is -0.0 (the minimum of a column holding -0.0) must come back
with its sign, or a value recovered from the trace differs from the computed one.
Found by the real end-to-end tests (tests/e2e_real); the documents below are cut
down from what Jaeger v1.76.0 and the Collector v0.140.0 wrote there.
"""

from __future__ import annotations

import math
from pathlib import Path

import httpx

from dqx.traces import JaegerTraceSource, OTLPFileTraceSource

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
SPAN_ID = "b7ad6b7169203331"

OTLP_LINE = (
    '{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":'
    '{"stringValue":"dqx"}}]},"scopeSpans":[{"scope":{"name":"dqx"},"spans":[{"traceId":'
    f'"{TRACE_ID}","spanId":"{SPAN_ID}","parentSpanId":"","name":"dqx.persist","kind":1,'
    '"startTimeUnixNano":"1709337600000000000","endTimeUnixNano":"1709337600000001000",'
    '"events":[{"timeUnixNano":"1709337600000000500","name":"dqx.metric","attributes":['
    '{"key":"dqx.metric.value","value":{"doubleValue":-0}},'
    '{"key":"dqx.metric.count","value":{"intValue":"0"}}]}],"status":{}}]}]}]}'
)

JAEGER_V1 = (
    '{"data":[{"traceID":"' + TRACE_ID + '","spans":[{"traceID":"' + TRACE_ID + '",'
    '"spanID":"' + SPAN_ID + '","operationName":"dqx.persist","references":[],'
    '"startTime":1709337600000000,"duration":1,"tags":[],"logs":[{"timestamp":'
    '1709337600000000,"fields":[{"key":"event","type":"string","value":"dqx.metric"},'
    '{"key":"dqx.metric.value","type":"float64","value":-0}]}],"processID":"p1",'
    '"warnings":null}],"processes":{"p1":{"serviceName":"dqx","tags":[]}},'
    '"warnings":null}],"total":0,"limit":0,"offset":0,"errors":null}'
)


def _value(trace: object) -> float:
    [(_span, event)] = list(trace.events("dqx.metric"))  # type: ignore[attr-defined]
    value = event.attributes["dqx.metric.value"]
    assert isinstance(value, float)
    return value


def test_negative_zero_from_the_collectors_file_keeps_its_sign(tmp_path: Path) -> None:
    path = tmp_path / "dqx-traces.jsonl"
    path.write_text(OTLP_LINE + "\n")
    value = _value(OTLPFileTraceSource(path).get_trace(TRACE_ID))
    assert value == 0.0 and math.copysign(1.0, value) == -1.0


def test_negative_zero_from_jaeger_keeps_its_sign() -> None:
    v3 = '{"result":' + OTLP_LINE + "}"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/v3/") and request.headers.get("x-v3") == "yes":
            return httpx.Response(200, text=v3)
        if request.url.path.startswith("/api/v3/"):
            return httpx.Response(404, json={"error": {"httpCode": 404}})
        return httpx.Response(200, text=JAEGER_V1)

    for api in ("yes", "no"):
        client = httpx.Client(transport=httpx.MockTransport(handler), headers={"x-v3": api})
        trace = JaegerTraceSource("http://jaeger:16686", client=client).get_trace(TRACE_ID)
        value = _value(trace)
        assert value == 0.0 and math.copysign(1.0, value) == -1.0, api
