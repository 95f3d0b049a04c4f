"""The settings the service runs with: frozen dataclasses, one per concern.

``escrow.config`` reads them once from the environment and validates them; the rest of the
code is handed the ``Settings`` (or the part of them) it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DEFAULT_BEARER_FAILURES",
    "KEYRING_MANAGER",
    "PROFILE_TTL_CEILING",
    "PROFILE_TTL_FLOOR",
    "BearerFailureSettings",
    "InputLimits",
    "KeyManagerSettings",
    "Pkcs11Settings",
    "Rate",
    "S3Settings",
    "Settings",
    "SharingSettings",
    "TokenRateSettings",
    "WebhookSettings",
]

# A Delta Sharing recipient profile lives between a minute and a year; the configured
# maximum (ESCROW_SHARING_PROFILE_MAX_TTL) may lower the ceiling, never raise it.
PROFILE_TTL_FLOOR = 60
PROFILE_TTL_CEILING = 365 * 86400


@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None
    access_key: str | None
    secret_key: str | None
    region: str | None
    secure: bool


@dataclass(frozen=True)
class Pkcs11Settings:
    """A PKCS#11 token that holds the KEKs (README: Key managers)."""

    module: Path  # the vendor's PKCS#11 shared library
    token_label: str
    pin_file: Path  # the user PIN, read when the token is opened; never from env or argv


@dataclass(frozen=True)
class KeyManagerSettings:
    """Who holds the KEKs: the keyring file (``keyring``) or a PKCS#11 token (``pkcs11``).

    Either way the signing and MAC keys are in the keyring file (``Settings.keyring_path``).
    """

    kind: Literal["keyring", "pkcs11"]
    pkcs11: Pkcs11Settings | None = None  # set exactly when kind is pkcs11


KEYRING_MANAGER = KeyManagerSettings("keyring")


@dataclass(frozen=True)
class WebhookSettings:
    interval: int  # seconds between delivery runs; 0: this process delivers nothing
    backoff_seconds: int  # the wait after a first failed attempt; doubles after each
    backoff_max_seconds: int  # the longest wait between two attempts
    max_attempts: int  # then the delivery is dead
    timeout_seconds: int  # one attempt in total: DNS, connect, send and the receiver's answer
    allow_http: bool  # endpoints may be http:// (development, tests)
    allow_private_networks: bool  # endpoints may resolve to loopback/private/link-local
    concurrency: int  # attempts in flight at once in one delivery run, all endpoints together
    concurrency_per_endpoint: int  # attempts in flight at once to one endpoint
    disable_after_dead: int  # consecutive dead deliveries that disable an endpoint; 0: never
    retention_days: int  # delivered, dead and cancelled deliveries are deleted after this


@dataclass(frozen=True)
class InputLimits:
    """Bounds on what a request may carry before any handler sees it (README: Input limits)."""

    max_json_depth: int  # nesting of arrays and objects in a JSON body (422 beyond)
    max_header_count: int  # header fields per request (431 beyond)
    max_header_bytes: int  # names and values of all header fields together (431 beyond)


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``burst`` at once, refilled at ``per_minute``; 0 per minute: no limit."""

    per_minute: int
    burst: int

    @property
    def limited(self) -> bool:
        return self.per_minute > 0


@dataclass(frozen=True)
class TokenRateSettings:
    """Limits on POST /v1/auth/token, kept in each process (per replica)."""

    enabled: bool
    per_ip: Rate  # every request from one client address
    failures_per_ip: Rate  # failed attempts from one client address
    failures_per_key: Rate  # failed attempts naming one key id, from every address


@dataclass(frozen=True)
class BearerFailureSettings:
    """Failed bearer authentication, per client address (see escrow.auth.failures)."""

    enabled: bool
    failures_per_ip: Rate  # failed authentications from one address before 429
    audit_window_seconds: int  # one audit event per address and window


DEFAULT_BEARER_FAILURES = BearerFailureSettings(True, Rate(30, 30), 60)


@dataclass(frozen=True)
class SharingSettings:
    """Delta Sharing (README: Delta Sharing)."""

    public_url: str | None  # the base URL recipients reach; None: the bind address
    url_ttl: int  # seconds a signed file URL stays valid
    profile_max_ttl: int  # the longest lifetime a recipient profile may be given


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    blob_url: str
    s3: S3Settings
    keyring_path: Path
    host: str
    port: int
    token_issuer: str
    token_audience: str
    token_ttl: int
    max_body_bytes: int
    max_deposit_bytes: int
    policies_dir: Path
    audit_origin: str | None  # None: derived from the checkpoint key
    checkpoint_interval: int  # seconds; 0 disables the schedule
    policy_reload_seconds: int  # seconds between checks for a newly activated policy; 0: none
    key_reload_seconds: int  # seconds between re-reads of the KEKs (file or token); 0: none
    agreement_sweep_interval: int  # seconds; 0 disables the schedule
    webhooks: WebhookSettings
    metrics_token: str | None  # None: GET /metrics is open to whoever reaches the bind
    # Proxies whose X-Forwarded-For gives the client address (rate limits, audit): uvicorn's
    # comma-separated addresses/networks; "*" trusts anyone, so clients could pick their IP.
    forwarded_allow_ips: str
    input_limits: InputLimits
    token_rate: TokenRateSettings
    policy_validation_seconds: float  # a candidate bundle's checks run at most this long
    sharing: SharingSettings
    bearer_failures: BearerFailureSettings = DEFAULT_BEARER_FAILURES
    workers: int = 1  # `escrow serve` processes on one bind (ESCROW_WORKERS, or --workers)
    # Threads per process for blocking work, in each of its two pools (escrow.threads); the
    # database pool keeps a connection for each of them (ESCROW_THREADS).
    threads: int = 16
    # prometheus_client's multiprocess directory: set, GET /metrics adds up every worker's
    # files there (`escrow serve --workers N` makes one when it is not set).
    metrics_dir: Path | None = None
    key_manager: KeyManagerSettings = KEYRING_MANAGER
    # An append that must return its index (receipts) waits this long for the log's head.
    audit_index_wait_seconds: int = 5
    # Milliseconds between the background integrator's looks at the audit queue; 0: none.
    audit_integrate_ms: int = 100
    # Milliseconds between reads of the auth epoch (escrow.auth.cache); 0: no token owner is
    # remembered, every request reads its token's owner from the database.
    auth_epoch_poll_ms: int = 250

    @property
    def service_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def public_url(self) -> str:
        """Where recipients reach this service: ESCROW_PUBLIC_URL, or the bind address."""
        return self.sharing.public_url or self.service_url
