"""The caller's trace, handed to ``dqx run`` in the environment.

An orchestrator that runs dqx as a process (an Airflow task, a Dagster op, a CI job)
cannot share its OpenTelemetry context in memory; the convention is the W3C headers
as environment variables, ``TRACEPARENT`` and ``TRACESTATE``. With them set, the run's
root span links to that span, as it links to an ambient span in a library call (the
run keeps a trace of its own: its trace id is the execution id).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from dqx.cli.output import say, stderr

__all__ = ["caller_trace"]


@contextmanager
def caller_trace(environ: Mapping[str, str] | None = None) -> Iterator[None]:
    """Make the span ``TRACEPARENT`` names current inside the block.

    A span already current wins (the caller's own context is the nearer one); an
    unparsable value is reported on stderr and ignored: the run goes on, unlinked.
    """
    env = os.environ if environ is None else environ
    traceparent = env.get("TRACEPARENT", "").strip()
    if not traceparent or trace.get_current_span().get_span_context().is_valid:
        yield
        return
    carrier = {"traceparent": traceparent, "tracestate": env.get("TRACESTATE", "")}
    context = TraceContextTextMapPropagator().extract(carrier)
    if not trace.get_current_span(context).get_span_context().is_valid:
        say(
            stderr(),
            f"dqx: TRACEPARENT {traceparent!r} is not a W3C traceparent "
            "(00-<32 hex trace id>-<16 hex span id>-<2 hex flags>); the run links to no caller",
        )
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
