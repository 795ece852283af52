"""The one redaction function: secrets out of every text dqx lets leave the process.

:func:`redact` is what every output path calls: the messages of dqx's exceptions, the
log records dqx's loggers emit, alert payloads, and the command line's tables, JSON,
CSV and messages (its streams and its log handler). It hides two kinds of secret:

* what any text may carry, found by shape, in every URL in it: the password of its
  userinfo (``https://user:***@host``), the value of a query parameter that names a
  credential (``?token=***``, ``&api_key=***``, ``&sig=***``), and the token path of a
  webhook whose address is its credential (``https://hooks.slack.com/services/***``,
  ``.../api/webhooks/***``, ``.../hooks/***``); outside URLs, a ``password=`` pair;
* what only the caller knows is secret, passed as ``secrets``: a database password, or
  the whole path of a webhook URL the user configured (:func:`url_secrets` lists what
  must never be shown of a URL). Each is hidden as given and as URL-encoded.

Links without credentials are left exactly as they are, so a Jaeger or Grafana link
still opens the trace. The function is pure: the caller holds its secrets, so there
is no registry to fill or reset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = ["REDACTED", "redact", "url_secrets"]

#: What a secret is replaced with.
REDACTED = "***"

# A secret shorter than this is hidden only where its shape gives it away (a URL's
# password): replacing every occurrence of a two-letter password would garble the text.
_SHORTEST_LITERAL = 4
_SUB_DELIMITERS = "!$&'()*+,;=~"

# A URL runs to whitespace, a quote, or the delimiters that close it in Markdown
# (``[text](url)``), Slack (``<url|text>``) and prose.
_URL = re.compile(r"""\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s"'<>|`()\[\]{}\\]+""")
# userinfo as RFC 3986 allows it: no '/', '?', '#' or '@' before the host.
_USERINFO = re.compile(r"^(?P<scheme>[^:]+://)(?P<user>[^:/?#@]*):(?P<password>[^/?#@]+)@")
_CREDENTIAL_NAME = re.compile(
    r"(?i)^(?:.*[_.\-])?(?:token|secret|password|passwd|pwd|pass|key|apikey|sig|signature|"
    r"auth|authorization|credential|credentials|jwt|code|session)$"
)
_PARAMETER = re.compile(r"(?P<lead>[?&;#])(?P<name>[^=&;#?]+)=(?P<value>[^&;#]*)")
# Webhooks whose path is the credential, by host, then by a path segment naming a hook.
_HOOK_HOSTS = re.compile(
    r"(?i)^(?:hooks\.slack(?:-gov)?\.com|(?:[\w-]+\.)*webhook\.office\.com|"
    r"(?:[\w-]+\.)*discord(?:app)?\.com)$"
)
_HOOK_SEGMENT = re.compile(r"(?i)^(?:hooks?|webhooks?|webhookb2)$")
_SLACK_PATH = re.compile(r"/services/T[A-Z0-9]+/B[A-Z0-9]+/\w+")
_LOOSE_PASSWORD = re.compile(r"^[^:/]+://[^:/@]*:([^@]+)@")
_DSN_PASSWORD = re.compile(r"(?i)\b(?P<name>password|passwd|pwd)=(?P<value>'[^']*'|[^\s&;]+)")


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret replaced by ``***``.

    ``secrets`` are the literal values the caller knows to be secret; the shapes above
    are hidden whether or not they are listed.
    """
    for secret in _literal_forms(secrets):
        text = text.replace(secret, REDACTED)
    text = _URL.sub(lambda match: _redact_url(match.group(0)), text)
    return _DSN_PASSWORD.sub(lambda m: f"{m.group('name')}={REDACTED}", text)


def url_secrets(url: str, *, address: bool = False) -> list[str]:
    """What must never be shown of ``url``: the password of its userinfo and, with
    ``address`` (a webhook, whose address is its credential), its path and query."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        # No telling where the secret is in an unparseable URL: all of it is.
        return [url]
    found: list[str] = []
    if parts.password:
        found.append(parts.password)
    # SQLAlchemy reads a database URL's password up to the first '@', '/' included.
    loose = _LOOSE_PASSWORD.match(url.strip())
    if loose and not loose.group(1)[:1].isdigit():
        found.append(loose.group(1))
    if address:
        tail = url.strip().split(parts.netloc, 1)[-1] if parts.netloc else url
        tail = tail.lstrip("/")
        if tail:
            found.append(tail)
    return found


def _literal_forms(secrets: Iterable[str]) -> list[str]:
    forms: set[str] = set()
    for secret in secrets:
        if not isinstance(secret, str) or len(secret) < _SHORTEST_LITERAL:
            continue
        forms.update({secret, unquote(secret), quote(secret, safe=""), quote_plus(secret)})
        # As userinfo is encoded (SQLAlchemy, browsers): sub-delimiters left as they are.
        forms.add(quote(secret, safe=_SUB_DELIMITERS))
    # Longest first, so a secret that contains another is hidden whole.
    return sorted((form for form in forms if len(form) >= _SHORTEST_LITERAL), key=len)[::-1]


def _redact_url(url: str) -> str:
    url = _USERINFO.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{REDACTED}@", url)
    url = _PARAMETER.sub(_redact_parameter, url)
    return _redact_hook_path(url)


def _redact_parameter(match: re.Match[str]) -> str:
    if not _CREDENTIAL_NAME.match(unquote(match.group("name"))) or not match.group("value"):
        return match.group(0)
    return f"{match.group('lead')}{match.group('name')}={REDACTED}"


def _redact_hook_path(url: str) -> str:
    scheme, _, rest = url.partition("://")
    authority, slash, path = rest.partition("/")
    if not slash:
        return url
    path, query_mark, query = _split_query(path)
    host = authority.rpartition("@")[2].split(":")[0]
    segments = path.split("/")
    if _HOOK_HOSTS.match(host):
        # The first segment says what kind of hook (services, api); the rest is the key.
        keep = 2 if segments[0] == "api" else 1
    elif _SLACK_PATH.search("/" + path):
        keep = segments.index("services") + 1
    else:
        named = [i for i, segment in enumerate(segments) if _HOOK_SEGMENT.match(segment)]
        if not named or named[0] == len(segments) - 1:
            return url
        keep = named[0] + 1
    if len(segments) <= keep or not any(segments[keep:]):
        return url
    shown = "/".join([*segments[:keep], REDACTED])
    return f"{scheme}://{authority}/{shown}{query_mark}{query}"


def _split_query(path: str) -> tuple[str, str, str]:
    for mark in ("?", "#"):
        if mark in path:
            head, _, tail = path.partition(mark)
            return head, mark, tail
    return path, "", ""
