"""The webhook SSRF table: every URL an admin may not point a webhook at, through HTTP.

Default settings (https only, no private networks). Each row is refused with 422 naming the
``url`` field, and nothing is stored.
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

import pytest

from escrow.webhooks.destinations import address_allowed
from tests.fixtures.api import Caller, Ecosystem

# Each is refused; the problem names the host as written (or the port).
REFUSED = [
    "https://127.0.0.1/x",
    "https://169.254.169.254/latest/meta-data",
    "https://[::1]/x",
    # IPv4-compatible (::/96, deprecated) embedding loopback
    "https://[::127.0.0.1]/",
    # IPv4-mapped
    "https://[::ffff:127.0.0.1]/",
    # SIIT IPv4-translated (::ffff:0:0:0/96)
    "https://[::ffff:0:127.0.0.1]/",
    # NAT64 well-known prefix
    "https://[64:ff9b::7f00:1]/",
    "https://[64:ff9b::a9fe:a9fe]/",
    # NAT64 local-use prefix (RFC 8215), whatever it embeds
    "https://[64:ff9b:1::7f00:1]/",
    "https://[64:ff9b:1::a9fe:a9fe]/",
    "https://[64:ff9b:1::808:808]/",
    # 6to4 of 10.0.0.1 and of 169.254.169.254
    "https://[2002:a00:1::1]/",
    "https://[2002:a9fe:a9fe::]/",
    # Teredo whose client (obfuscated) is 127.0.0.1
    "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
    # port 0
    "https://hooks.example.com:0/x",
    "https://8.8.8.8:0/x",
]


@pytest.fixture
def admin(eco: Ecosystem) -> Caller:
    eco.org("acme", "strategic")
    return eco.principal("acme", "admin")


@pytest.mark.parametrize("url", REFUSED)
def test_webhook_urls_reaching_internal_addresses_are_refused(admin: Caller, url: str) -> None:
    port = urlsplit(url).port
    named = "port" if port == 0 else str(urlsplit(url).hostname)
    response = admin.post("/v1/orgs/acme/webhooks", json={"url": url})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"].endswith("/validation-error")
    assert problem["field"] == "url"
    assert named in problem["detail"]
    listed = admin.get("/v1/orgs/acme/webhooks")
    assert listed.status_code == 200
    assert listed.json()["items"] == []


@pytest.mark.parametrize(
    "url",
    ["https://8.8.8.8/hook", "https://[2001:4860:4860::8888]/hook", "https://[64:ff9b::808:808]/"],
)
def test_webhook_urls_reaching_public_addresses_are_accepted(admin: Caller, url: str) -> None:
    response = admin.post("/v1/orgs/acme/webhooks", json={"url": url})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
        ("::a9fe:a9fe", False),  # IPv4-compatible 169.254.169.254
        ("::808:808", True),  # IPv4-compatible 8.8.8.8
        ("::ffff:0:7f00:1", False),  # SIIT 127.0.0.1
        ("::ffff:0:a00:1", False),  # SIIT 10.0.0.1
        ("::ffff:0:808:808", True),  # SIIT 8.8.8.8
        ("64:ff9b::a9fe:a9fe", False),  # NAT64 169.254.169.254
        ("64:ff9b::808:808", True),  # NAT64 8.8.8.8
        ("64:ff9b:1::7f00:1", False),  # NAT64 local-use
        ("64:ff9b:1::808:808", False),  # NAT64 local-use, never globally routed
        ("2002:c0a8:101::", False),  # 6to4 192.168.1.1
        ("2001:0:a00:1:8000:63bf:f7f7:f7f7", False),  # Teredo server 10.0.0.1
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo client 127.0.0.1
    ],
)
def test_ipv6_forms_embedding_a_non_global_ipv4_address_are_unreachable(
    address: str, allowed: bool
) -> None:
    assert address_allowed(ip_address(address), allow_private=False) is allowed
