"""Reading a trace from Jaeger or Grafana Tempo over their HTTP query APIs.

Each source asks the current API first and falls back to the older one:

* Jaeger: ``/api/v3/traces/{id}`` (OTLP JSON under ``"result"``, hex ids), then v1
  ``/api/traces/{id}`` (``data[].spans[]`` with events as ``logs``).
* Tempo: ``/api/v2/traces/{id}`` (``{"trace": TracesData}`` in protobuf JSON: base64
  ids, enums by name), then ``/api/traces/{id}`` (top level ``batches``). A v2 answer
  with ``"status": "PARTIAL"`` gives a trace marked :attr:`~Trace.partial`.

Redirects (a proxy in front of the back-end) are followed.

Given a :class:`~dqx.traces.model.TimeWindow`, every lookup by id carries it, as each
API takes it: Jaeger api_v3 ``start_time``/``end_time`` (RFC 3339), v1 ``start``/``end``
(microseconds), Tempo ``start``/``end`` (seconds). Jaeger on Elasticsearch or
OpenSearch finds a trace older than ``max_span_age`` (72 h) only so.

404 from every API means the back-end does not know the trace (``None``). A back-end
that cannot be reached, refuses the credentials, or answers with something that is not
a trace raises :class:`~dqx.common.TraceReadError` naming the URL and what went wrong.
Pass ``client=`` to share an ``httpx.Client`` (or one on ``httpx.MockTransport``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from dqx.common import TraceReadError
from dqx.traces.jaeger_json import spans_from_jaeger_v1
from dqx.traces.model import JSON_DECODER, TimeWindow, Trace, TraceSpan, normalize_trace_id
from dqx.traces.otlp_json import spans_from_otlp_json

if TYPE_CHECKING:
    import httpx

__all__ = ["JaegerTraceSource", "TempoTraceSource"]

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class _Parsed:
    """What one API's answer held: spans, what it said about them, whether it said the
    trace is incomplete."""

    spans: list[TraceSpan]
    warnings: tuple[str, ...] = ()
    partial: bool = False


Parser = Callable[[Any, str], _Parsed]
#: The query parameters that say a time window, as one API takes them.
WindowParams = Callable[[TimeWindow], dict[str, str]]


def _rfc3339(window: TimeWindow) -> dict[str, str]:
    def text(moment: dt.datetime) -> str:
        return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    return {"start_time": text(window.start), "end_time": text(window.end)}


def _microseconds(window: TimeWindow) -> dict[str, str]:
    return {
        "start": str(math.floor(window.start.timestamp() * 1_000_000)),
        "end": str(math.ceil(window.end.timestamp() * 1_000_000)),
    }


def _seconds(window: TimeWindow) -> dict[str, str]:
    return {
        "start": str(math.floor(window.start.timestamp())),
        "end": str(math.ceil(window.end.timestamp())),
    }


@dataclass(frozen=True)
class _Endpoint:
    """One API to ask: a path template, how it takes a time window, how to read it."""

    label: str
    path: str
    parse: Parser
    window: WindowParams


@dataclass(frozen=True)
class _Answer:
    url: str
    parsed: _Parsed | None = None  # None: this API had nothing to say
    not_found: bool = False
    problem: str | None = None


def _json_documents(text: str, where: str) -> list[Any]:
    """One JSON value, or several back to back (Jaeger may stream chunks of a trace)."""
    decoder = JSON_DECODER
    documents: list[Any] = []
    position = 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        try:
            document, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise TraceReadError(f"{where}: response is not JSON: {exc}") from exc
        documents.append(document)
    if not documents:
        raise TraceReadError(f"{where}: empty response")
    return documents


def _parse_jaeger_v3(text: str, where: str) -> _Parsed:
    spans: list[TraceSpan] = []
    for document in _json_documents(text, where):
        if isinstance(document, Mapping) and "error" in document and "result" not in document:
            raise TraceReadError(f"{where}: Jaeger answered with an error: {document['error']}")
        # The gRPC gateway wraps each TracesData in "result"; early v3 versions did not.
        body = document.get("result", document) if isinstance(document, Mapping) else document
        spans.extend(spans_from_otlp_json(body, where=where))
    return _Parsed(spans)


def _parse_jaeger_v1(text: str, where: str) -> _Parsed:
    spans: list[TraceSpan] = []
    warnings: list[str] = []
    for document in _json_documents(text, where):
        if isinstance(document, Mapping) and document.get("errors") and not document.get("data"):
            raise TraceReadError(f"{where}: Jaeger answered with errors: {document['errors']}")
        spans.extend(spans_from_jaeger_v1(document, where=where))
        for trace in document.get("data") or ():
            warnings.extend(str(w) for w in trace.get("warnings") or ())
    return _Parsed(spans, tuple(warnings))


def _parse_tempo_v2(text: str, where: str) -> _Parsed:
    spans: list[TraceSpan] = []
    warnings: list[str] = []
    partial = False
    for document in _json_documents(text, where):
        if not isinstance(document, Mapping) or "trace" not in document:
            raise TraceReadError(
                f"{where}: not a Tempo v2 trace response (no 'trace'): {document!r:.80}"
            )
        # An empty trace object ({}) is how protobuf JSON writes a trace without spans.
        trace = document["trace"] or {}
        if trace:
            spans.extend(spans_from_otlp_json(trace, where=where))
        status = document.get("status")
        if status and status != "COMPLETE":
            # Tempo stopped short (a limit on the trace's size, a querier timeout): the
            # spans returned are some of the trace's, not all.
            partial = True
            message = document.get("message") or ""
            warnings.append(f"Tempo returned a {status} trace{': ' + message if message else ''}")
    return _Parsed(spans, tuple(warnings), partial)


def _parse_tempo_v1(text: str, where: str) -> _Parsed:
    spans: list[TraceSpan] = []
    for document in _json_documents(text, where):
        spans.extend(spans_from_otlp_json(document, where=where))
    return _Parsed(spans)


class _HTTPTraceSource:
    """Shared request and fallback logic of the Jaeger and Tempo sources."""

    _kind = "trace back-end"
    _endpoints: tuple[_Endpoint, ...] = ()

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.Client | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
    ) -> None:
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise TraceReadError(
                f"{type(self).__name__} needs an http(s) base URL such as "
                f"'http://localhost:16686', got {base_url!r}"
            )
        self._base_url = base_url.rstrip("/")
        self._client = client
        self._timeout = timeout
        self._headers = {"Accept": "application/json", **dict(headers or {})}
        self._auth = auth

    @property
    def base_url(self) -> str:
        return self._base_url

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._base_url!r})"

    def _ask(
        self,
        client: httpx.Client,
        endpoint: _Endpoint,
        trace_id: str,
        window: TimeWindow | None,
    ) -> _Answer:
        import httpx

        url = self._base_url + endpoint.path.format(trace_id=trace_id)
        if window is not None:
            url = str(httpx.URL(url, params=endpoint.window(window)))
        # A proxy in front of the back-end may answer with a redirect (to a path prefix,
        # to https): followed, as a browser would. httpx drops credentials it was given
        # when a redirect leaves their origin.
        kwargs: dict[str, Any] = {
            "headers": self._headers,
            "timeout": self._timeout,
            "follow_redirects": True,
        }
        if self._auth is not None:
            kwargs["auth"] = self._auth
        try:
            response = client.get(url, **kwargs)
        except httpx.TimeoutException as exc:
            raise TraceReadError(
                f"{self._kind} at {self._base_url} did not answer within {self._timeout} s "
                f"(GET {url}): {type(exc).__name__}"
            ) from exc
        except httpx.HTTPError as exc:
            raise TraceReadError(
                f"cannot reach {self._kind} at {self._base_url} (GET {url}): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        status = response.status_code
        if status in (401, 403):
            # Another endpoint of the same server will refuse the same credentials.
            raise TraceReadError(
                f"{self._kind} at {self._base_url} refused the request (HTTP {status} for "
                f"GET {url}); pass the credentials with headers= or auth="
            )
        if status == 404:
            return _Answer(url, not_found=True)
        if status != 200:
            body = response.text.strip().replace("\n", " ")[:200]
            return _Answer(url, problem=f"HTTP {status} for GET {url}: {body}")
        url = str(response.url)  # where the answer came from, redirects followed
        try:
            parsed = endpoint.parse(response.text, f"{endpoint.label} GET {url}")
        except TraceReadError as exc:
            return _Answer(url, problem=str(exc))
        return _Answer(url, parsed=parsed)

    def get_trace(self, trace_id: str, *, window: TimeWindow | None = None) -> Trace | None:
        """The trace from the first API that has it; ``None`` when every API says 404.

        ``window`` (the run's start and end, widened) goes with every lookup.
        """
        import httpx

        trace_id = normalize_trace_id(trace_id)
        answers: list[_Answer] = []
        client = self._client if self._client is not None else httpx.Client()
        try:
            for endpoint in self._endpoints:
                answer = self._ask(client, endpoint, trace_id, window)
                answers.append(answer)
                if (parsed := answer.parsed) is not None:
                    trace = Trace.of(
                        trace_id,
                        parsed.spans,
                        origin=answer.url,
                        warnings=parsed.warnings,
                        partial=parsed.partial,
                    )
                    if trace.spans:
                        return trace
                    # A 200 without this trace's spans is how some versions say "unknown".
                    answers[-1] = _Answer(answer.url, not_found=True)
        finally:
            if client is not self._client:
                client.close()
        problems = [a.problem for a in answers if a.problem]
        if problems:
            raise TraceReadError(
                f"could not read trace {trace_id} from {self._kind} at {self._base_url}: "
                + "; ".join(problems)
            )
        return None


class JaegerTraceSource(_HTTPTraceSource):
    """Jaeger's query service, e.g. ``JaegerTraceSource("http://localhost:16686")``."""

    _kind = "Jaeger"
    _endpoints = (
        _Endpoint("Jaeger api_v3", "/api/v3/traces/{trace_id}", _parse_jaeger_v3, _rfc3339),
        _Endpoint("Jaeger api v1", "/api/traces/{trace_id}", _parse_jaeger_v1, _microseconds),
    )


class TempoTraceSource(_HTTPTraceSource):
    """Grafana Tempo's query frontend, e.g. ``TempoTraceSource("http://localhost:3200")``.

    For a multi-tenant Tempo pass ``headers={"X-Scope-OrgID": "tenant"}``.
    """

    _kind = "Tempo"
    _endpoints = (
        _Endpoint("Tempo api v2", "/api/v2/traces/{trace_id}", _parse_tempo_v2, _seconds),
        _Endpoint("Tempo api v1", "/api/traces/{trace_id}", _parse_tempo_v1, _seconds),
    )
