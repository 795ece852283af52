"""One real run, traced in memory, shared by the reader tests (they only read it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dqx.orm.repositories import InMemoryMetricDB
from tests.support.runs import Run, Traced, many_metrics_check, orders_check, run_suite


@pytest.fixture(scope="package")
def run() -> Iterator[Run]:
    traced = Traced()
    suite = run_suite(InMemoryMetricDB(), traced, [orders_check, many_metrics_check(3)])
    assert suite.result is not None
    yield Run(suite.execution_id, traced.spans(suite.execution_id), suite.result.metrics, traced)
    traced.provider.shutdown()
