"""One delivery attempt: a signed POST to the address that passed the SSRF check, and how
it went.

The body is signed with every live secret of the endpoint (Standard Webhooks, see
signing.py); the request goes to the address ``resolve`` checked, never to one looked up
again, with no redirects followed and no proxies from the environment. An attempt ends
after ``timeout_seconds`` in all (deadline.py), whatever part of it is slow.
"""

from __future__ import annotations

import logging
import ssl
import time
from dataclasses import dataclass
from datetime import datetime

import httpcore

from crypto import CryptoError, KeyManager
from escrow import __version__
from escrow.clock import Clock
from escrow.settings import WebhookSettings
from escrow.webhooks import secrets, signing
from escrow.webhooks.deadline import Deadline, DeadlineBackend, DeadlineExceededError
from escrow.webhooks.destinations import RefusedDestinationError, resolve
from storage.models import WebhookSecret

log = logging.getLogger("escrow.webhooks")

USER_AGENT = f"partner-escrow-webhooks/{__version__}"
MAX_ERROR = 500


@dataclass(frozen=True)
class Claimed:
    """A delivery this run is sending, with what sending it needs (no session attached)."""

    delivery_id: str
    claim_id: str
    attempt: int
    endpoint_id: str
    url: str
    event_id: str
    event_type: str
    body: bytes
    sealed_secrets: tuple[WebhookSecret, ...]


@dataclass(frozen=True)
class Outcome:
    started_at: datetime
    duration_ms: int
    status_code: int | None = None
    reason: str | None = None  # a short code for the audit log; None when delivered
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.reason is None


def send(
    keyring: KeyManager,
    clock: Clock,
    policy: WebhookSettings,
    tls: ssl.SSLContext,
    claimed: Claimed,
) -> Outcome:
    """One signed POST to the address that passed the SSRF check; never raises.

    One deadline, ``timeout_seconds`` from now, bounds the whole attempt: the name lookup,
    connecting, TLS, sending and the receiver's status line and headers (deadline.py)."""
    started = clock.now()
    began = time.monotonic()  # latency only: scheduling uses the injected clock
    deadline = Deadline(policy.timeout_seconds)

    def failed(reason: str, error: str, status: int | None = None) -> Outcome:
        elapsed = int((time.monotonic() - began) * 1000)
        return Outcome(started, elapsed, status, reason, error[:MAX_ERROR])

    try:
        keys = [secrets.reveal(keyring, row) for row in claimed.sealed_secrets]
        signed = signing.signed_headers(
            keys, claimed.event_id, int(started.timestamp()), claimed.body
        )
    except (CryptoError, ValueError) as exc:
        log.error("webhook delivery %s: cannot sign: %s", claimed.delivery_id, exc)
        return failed("no_signing_secret", "the endpoint's signing secret is unavailable")
    try:
        destination = deadline.call(lambda: resolve(claimed.url, policy))
    except RefusedDestinationError as exc:
        return failed("refused_destination", str(exc))
    except DeadlineExceededError:
        return failed("timeout", "the name lookup did not finish within the timeout")
    headers = _headers(claimed, destination.host_header, signed)
    extensions = {"sni_hostname": destination.sni_hostname} if destination.sni_hostname else {}
    try:
        status = _post(deadline, tls, destination.url, headers, claimed.body, extensions)
    except httpcore.TimeoutException:
        return failed("timeout", "no answer within the timeout")
    except httpcore.ConnectError as exc:
        return failed("connect_error", f"could not connect: {exc}")
    except _TRANSPORT_ERRORS as exc:
        return failed("transport_error", f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return Outcome(started, int((time.monotonic() - began) * 1000), status)
    if 300 <= status < 400:
        redirected = "the receiver redirected; redirects are not followed"
        return failed(f"http_{status}", redirected, status)
    return failed(f"http_{status}", f"the receiver answered {status}", status)


def _headers(claimed: Claimed, host: str, signed: dict[str, str]) -> dict[str, str]:
    """The request's headers: the Standard Webhooks signature and our event's ids."""
    return {
        "Host": host,
        "Content-Type": "application/json",
        "Content-Length": str(len(claimed.body)),
        "User-Agent": USER_AGENT,
        **signed,
        signing.EVENT_ID_HEADER: claimed.event_id,
        signing.EVENT_TYPE_HEADER: claimed.event_type,
        signing.DELIVERY_ID_HEADER: claimed.delivery_id,
        signing.ATTEMPT_HEADER: str(claimed.attempt),
    }


_TRANSPORT_ERRORS = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol)


def _post(
    deadline: Deadline,
    tls: ssl.SSLContext,
    url: str,
    headers: dict[str, str],
    body: bytes,
    extensions: dict[str, str],
) -> int:
    """The receiver's status; its body is never read. No redirects are followed, no proxies
    from the environment are used, and the connection (opened to the checked address, never
    reused for another host) is closed before this returns."""
    with (
        httpcore.ConnectionPool(
            ssl_context=tls, max_keepalive_connections=0, network_backend=DeadlineBackend(deadline)
        ) as pool,
        pool.stream(
            "POST", url, headers=list(headers.items()), content=body, extensions=extensions
        ) as response,
    ):
        return response.status


def tls_context() -> ssl.SSLContext:
    """The system's trust store, hostname checking on (one per run: loading it is costly)."""
    return ssl.create_default_context()
