"""Sending an alert: one JSON POST, retried with backoff, and the check of a webhook URL.

A webhook's address is its credential (a Slack incoming webhook's path is the key), so
whatever this module says about a URL, in a log record or an error, shows its scheme,
host and port only: :func:`shown_url`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dqx.common import DefinitionError, DQXError
from dqx.redaction import redact, url_secrets
from dqx.runlog import get_logger

if TYPE_CHECKING:
    import httpx

__all__ = ["AlertDeliveryError", "check_webhook_url", "post_webhook", "shown_url"]

log = get_logger(__name__)

# How much of a refusing response's body an error quotes.
_QUOTED = 200


def shown_url(url: str, text: str | None = None) -> str:
    """``text`` (by default ``url`` itself) with ``url``'s path, query and password
    hidden: what may be said about a webhook URL."""
    return redact(url if text is None else text, url_secrets(url, address=True))


class AlertDeliveryError(DQXError):
    """A webhook did not accept an alert; carries the URL (its secret parts hidden in
    the message) and the last HTTP status."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status


def _retryable(status: int) -> bool:
    return status >= 500 or status == 429


def _quoted(text: str) -> str:
    return text if len(text) <= _QUOTED else text[: _QUOTED - 1] + "…"


def post_webhook(
    url: str,
    body: Any,
    *,
    timeout: float = 10.0,
    attempts: int = 4,
    backoff: float = 0.5,
    headers: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
) -> int:
    """POST ``body`` as JSON to ``url``; returns the accepting response's status.

    Connection errors, timeouts, 429 and 5xx are retried up to ``attempts`` times in
    all, waiting ``backoff``, then twice that, and so on. Any other 4xx fails at once:
    sending the same payload again cannot help. Raises :class:`AlertDeliveryError`.
    """
    import httpx

    if attempts < 1:
        raise DQXError(f"attempts must be at least 1, got {attempts}")
    owned = client is None
    session = client if client is not None else httpx.Client(timeout=timeout)
    last_status: int | None = None
    last_problem = ""
    try:
        for attempt in range(1, attempts + 1):
            try:
                response = session.post(url, json=body, headers=dict(headers or {}))
            except httpx.TransportError as exc:
                last_status, last_problem = None, shown_url(url, f"{type(exc).__name__}: {exc}")
            else:
                if response.is_success:
                    return response.status_code
                last_status = response.status_code
                # A receiver may echo the request, its URL included.
                last_problem = shown_url(
                    url, f"HTTP {response.status_code}: {_quoted(response.text)}"
                )
                if not _retryable(response.status_code):
                    break
            if attempt < attempts:
                delay = backoff * 2 ** (attempt - 1)
                log.warning(
                    "webhook %s attempt %d/%d failed (%s); retrying in %.1fs",
                    shown_url(url),
                    attempt,
                    attempts,
                    last_problem,
                    delay,
                )
                time.sleep(delay)
    finally:
        if owned:
            session.close()
    raise AlertDeliveryError(
        f"webhook {shown_url(url)} did not accept the alert: {last_problem}",
        url=url,
        status=last_status,
    )


def check_webhook_url(url: object, *, what: str = "webhook URL") -> str:
    """``url`` when it is an absolute http(s) URL; a DefinitionError saying so otherwise."""
    import httpx

    if not isinstance(url, str) or not url.strip():
        raise DefinitionError(f"the {what} is empty; pass an http:// or https:// URL")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError) as exc:
        # Not chained: httpx's error may quote the URL whole, secret path and all.
        raise DefinitionError(
            f"the {what} {shown_url(url)!r} is not a URL: {shown_url(url, str(exc))}"
        ) from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise DefinitionError(
            f"the {what} {shown_url(url)!r} is not an absolute http:// or https:// URL"
        )
    return url.strip()
