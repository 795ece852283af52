"""The services tests reach, and what a test does when one is not there.

Tests never start services: ``make services`` does (``tools/services.sh``). When a
service is missing, a test skips and says why, so ``make test`` works on a laptop
without PostgreSQL; with ``DQX_REQUIRE_SERVICES`` set (``.ci/run`` sets it) it fails
instead, so CI never passes by skipping what it was meant to run.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

REQUIRE_ENV = "DQX_REQUIRE_SERVICES"

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
#: The server ``make services`` starts: user postgres, no password, from 127.0.0.1.
POSTGRES_CONNINFO = f"host={POSTGRES_HOST} port={POSTGRES_PORT} dbname=test user=postgres"
POSTGRES_SERVER = f"postgresql+psycopg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/test"


def services_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")


def unavailable(what: str, reason: str, *, remedy: str = "run `make services`") -> NoReturn:
    """Skip the test because ``what`` is missing, or fail it when services are required."""
    if services_required():
        pytest.fail(
            f"{what} is unavailable: {reason}. {REQUIRE_ENV} is set, so this fails instead "
            f"of skipping; {remedy}",
            pytrace=False,
        )
    pytest.skip(f"{what} is unavailable: {reason}; {remedy} to run this test")


def postgres_down() -> str | None:
    """Why the PostgreSQL server cannot be reached, or None when it can."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_CONNINFO, connect_timeout=3).close()
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


def require_postgres() -> str:
    """The server's SQLAlchemy URL; skips (or fails, see above) when it is unreachable."""
    reason = postgres_down()
    if reason is not None:
        unavailable(f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} (database test)", reason)
    return POSTGRES_SERVER


#: Debian's Chromium, which ``make browser`` (tools/chromium.sh) installs.
CHROMIUM = "/usr/bin/chromium"
#: What the browser tests pass it: headless, no sandbox (root in CI), and nothing that
#: phones home, so the only request a page can make is one it asked for itself.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def require_chromium() -> str:
    """Chromium's path, with Playwright's Python package to drive it (never a browser of
    its own: no ``playwright install``); skips (or fails, see above) when either is
    missing."""
    import shutil

    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        found = shutil.which("chromium")
        if found is None:
            unavailable("Chromium", f"{CHROMIUM} is not installed", remedy="run `make browser`")
        return found
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        unavailable(
            "Playwright's Python package",
            str(exc),
            remedy="install the test extra: pip install -e '.[test]'",
        )
    return CHROMIUM
