"""Our Standard Webhooks signatures checked by the reference library, not by our own code."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from secrets import token_urlsafe

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from escrow.webhooks import signing

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z


@given(
    message_id=st.text(alphabet="abcdef0123456789-", min_size=1, max_size=40),
    timestamp=st.integers(min_value=0, max_value=4_000_000_000),
    body=st.binary(max_size=256),
)
def test_signatures_match_the_reference_library(
    message_id: str, timestamp: int, body: bytes
) -> None:
    secret = signing.new_secret()
    ours = signing.signature_header([secret], message_id, timestamp, body)
    assert ours == Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, UTC), body)


def test_the_reference_library_verifies_a_delivery_under_either_rotated_secret() -> None:
    new, old = signing.new_secret(), signing.new_secret()
    now = int(datetime.now(UTC).timestamp())
    body = b'{"type": "ping"}'
    headers = signing.signed_headers([new, old], "evt_1", now, body)
    assert headers["webhook-signature"].count(" ") == 1
    for secret in (new, old):
        assert Webhook(secret).verify(body, headers) == {"type": "ping"}
    with pytest.raises(WebhookVerificationError):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new).verify(body + b" ", headers)


def test_new_secrets_are_whsec_and_base64_of_32_random_bytes() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(key) == 32 and signing.signing_key(secret) == key
    assert signing.new_secret() != secret


def test_a_legacy_secret_signs_with_its_own_text_as_it_always_did() -> None:
    legacy = "whsec_" + token_urlsafe(32)
    assert signing.signing_key(legacy) == legacy.encode()
    header = signing.signature_header([legacy], "evt_1", NOW, b"{}")
    assert header == Webhook(legacy.encode()).sign("evt_1", datetime.fromtimestamp(NOW, UTC), b"{}")


def test_no_secret_means_no_header() -> None:
    with pytest.raises(ValueError, match="live secret"):
        signing.signature_header([], "evt_1", NOW, b"{}")
