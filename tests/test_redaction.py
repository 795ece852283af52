"""dqx.redaction.redact: the shapes of secret it hides, and the links it leaves whole."""

from __future__ import annotations

import pytest

from dqx.redaction import redact, url_secrets

TRACE = "0af7651916cd43dd8448eb211c80319c"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        # Webhooks whose address is the key.
        (
            "posted to https://hooks.slack.com/services/T0A1/B0B2/XyZsecret (HTTP 200)",
            "posted to https://hooks.slack.com/services/*** (HTTP 200)",
        ),
        (
            "https://hooks.slack.com/triggers/T0A1/123/abcdef",
            "https://hooks.slack.com/triggers/***",
        ),
        ("https://discord.com/api/webhooks/123/tok-en", "https://discord.com/api/webhooks/***"),
        (
            "https://acme.webhook.office.com/webhookb2/a-b@c/IncomingWebhook/d/e",
            "https://acme.webhook.office.com/webhookb2/***",
        ),
        ("<https://chat.acme.io/hooks/k3yk3yk3y|open>", "<https://chat.acme.io/hooks/***|open>"),
        ("http://proxy:8080/slack/services/T01/B02/zzz", "http://proxy:8080/slack/services/***"),
        # Credentials in the query, the userinfo, a libpq string.
        (
            "http://am:9093/api/v2/alerts?token=abc123&team=ops",
            "http://am:9093/api/v2/alerts?token=***&team=ops",
        ),
        (
            "https://h/x?api_key=k1&X-Amz-Signature=s1",
            "https://h/x?api_key=***&X-Amz-Signature=***",
        ),
        ("http://u:pa55@jaeger:16686/trace/1", "http://u:***@jaeger:16686/trace/1"),
        (
            "postgresql+psycopg://dq:s3cret@db:5432/m?options=-c",
            "postgresql+psycopg://dq:***@db:5432/m?options=-c",
        ),
        ("host=db password=hunter22 user=dq", "host=db password=*** user=dq"),
        # Links the reader needs, untouched.
        (f"http://jaeger:16686/trace/{TRACE}", f"http://jaeger:16686/trace/{TRACE}"),
        (
            f"[Jaeger](http://jaeger:16686/trace/{TRACE})",
            f"[Jaeger](http://jaeger:16686/trace/{TRACE})",
        ),
        (
            "https://g/explore?schemaVersion=1&panes=%7B%22dqx%22%3A1%7D",
            "https://g/explore?schemaVersion=1&panes=%7B%22dqx%22%3A1%7D",
        ),
        ("http://postgres@127.0.0.1:5432/test", "http://postgres@127.0.0.1:5432/test"),
        ("https://registry/@scope/pkg?keyword=x", "https://registry/@scope/pkg?keyword=x"),
    ],
)
def test_secrets_are_hidden_by_their_shape_and_links_are_left_whole(text: str, shown: str) -> None:
    assert redact(text) == shown


def test_secrets_the_caller_names_are_hidden_as_given_and_url_encoded() -> None:
    url = "http://127.0.0.1:8080/alert/Pl4nted?x=1"
    secrets = url_secrets(url, address=True)
    assert (
        redact(f"sent to {url}: refused", secrets) == "sent to http://127.0.0.1:8080/***: refused"
    )
    # As SQLAlchemy reads a database URL: a '/' may stand in the password.
    password = url_secrets("postgresql://dq:pa/ss w0rd!@db/m")
    assert password == ["pa/ss w0rd!"]
    assert redact("dq:pa%2Fss%20w0rd%21@db; pa%2Fss+w0rd%21", password) == "dq:***@db; ***"


def test_a_secret_too_short_to_replace_everywhere_is_still_hidden_in_its_url() -> None:
    # Replacing "ab" in every word would garble the text; its URL shape still gives it away.
    assert redact("about http://u:ab@h/x", ["ab"]) == "about http://u:***@h/x"
