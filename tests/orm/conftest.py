"""One MetricDB per test on each backend: SQLite file, SQLite in memory, PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dqx.orm.repositories import InMemoryMetricDB, MetricDB


@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'metrics.db'}"
    if request.param == "sqlite-memory":
        return "sqlite://"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db(store_url: str) -> Iterator[MetricDB]:
    store = InMemoryMetricDB() if store_url == "sqlite://" else MetricDB(store_url)
    yield store
    store.dispose()
