"""The repository tests run on one more backend than the rest: SQLite in memory."""

from __future__ import annotations

from pathlib import Path

import pytest


# Overrides tests/conftest.py's store_url, and so the store built on it, in this
# package: ``sqlite://`` is the one-connection database InMemoryMetricDB opens, and
# the repositories must behave there exactly as on a file or on PostgreSQL.
@pytest.fixture(params=["sqlite-file", "sqlite-memory", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite-file":
        return f"sqlite:///{tmp_path / 'metrics.db'}"
    if request.param == "sqlite-memory":
        return "sqlite://"
    url: str = request.getfixturevalue("postgres_url")
    return url
