"""Settings, read once from the environment, validated, and passed down.

Nothing else in the code base reads ``os.environ``. The settings are the dataclasses of
``escrow.settings``; this module builds them from the environment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from escrow.errors import ConfigError
from escrow.settings import (
    KEYRING_MANAGER,
    PROFILE_TTL_CEILING,
    PROFILE_TTL_FLOOR,
    BearerFailureSettings,
    InputLimits,
    KeyManagerSettings,
    Pkcs11Settings,
    Rate,
    S3Settings,
    Settings,
    SharingSettings,
    TokenRateSettings,
    WebhookSettings,
)

__all__ = [
    "DEFAULT_AUDIENCE",
    "DEFAULT_BIND",
    "DEFAULT_PKCS11_MODULE",
    "DEFAULT_TOKEN_TTL",
    "MAX_JSON_DEPTH_CEILING",
    "load_settings",
]

DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_AUDIENCE = "partner-escrow"
DEFAULT_TOKEN_TTL = 900
_METRICS_TOKEN = re.compile(r"^[\x21-\x7e]{16,256}$")
# Debian's SoftHSM2 (package softhsm2); a real HSM ships its own PKCS#11 module.
DEFAULT_PKCS11_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")
_TOKEN_LABEL_BYTES = 32  # CK_TOKEN_INFO.label


def _int(
    env: Mapping[str, str], name: str, default: int, minimum: int = 1, maximum: int | None = None
) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name} must be at most {maximum}, got {value}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _bind(env: Mapping[str, str]) -> tuple[str, int]:
    raw = env.get("ESCROW_BIND") or DEFAULT_BIND
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"ESCROW_BIND must be host:port (e.g. {DEFAULT_BIND}), got {raw!r}")
    return host.strip("[]"), int(port)


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("ESCROW_DATABASE_URL") or f"sqlite:///{data_dir / 'escrow.db'}"
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if not scheme.startswith(("sqlite", "postgresql")):
        raise ConfigError(
            f"ESCROW_DATABASE_URL must be a sqlite:// or postgresql:// URL, got scheme {scheme!r}"
        )
    if scheme == "postgresql":  # the driver we ship is psycopg 3
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _blob_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("ESCROW_BLOB_URL") or f"file://{data_dir / 'blobs'}"
    if not url.startswith(("file://", "s3://")):
        raise ConfigError(f"ESCROW_BLOB_URL must start with file:// or s3://, got {url!r}")
    if url.startswith("s3://") and not env.get("ESCROW_S3_ENDPOINT"):
        raise ConfigError("ESCROW_S3_ENDPOINT is required when ESCROW_BLOB_URL is s3://")
    return url


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate every ``ESCROW_*`` setting; raise ConfigError naming the variable.

    Long by design: one line per setting, in the order of the README's table."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("ESCROW_DATA_DIR") or "./.escrow").expanduser().absolute()
    host, port = _bind(env)
    issuer = env.get("ESCROW_TOKEN_ISSUER") or f"http://{host}:{port}"
    return Settings(
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        blob_url=_blob_url(env, data_dir),
        s3=S3Settings(
            endpoint=env.get("ESCROW_S3_ENDPOINT") or None,
            access_key=env.get("ESCROW_S3_ACCESS_KEY") or None,
            secret_key=env.get("ESCROW_S3_SECRET_KEY") or None,
            region=env.get("ESCROW_S3_REGION") or None,
            secure=_bool(env, "ESCROW_S3_SECURE", default=True),
        ),
        keyring_path=Path(env.get("ESCROW_KEYRING") or data_dir / "keyring.json").absolute(),
        host=host,
        port=port,
        token_issuer=issuer,
        token_audience=env.get("ESCROW_TOKEN_AUDIENCE") or DEFAULT_AUDIENCE,
        token_ttl=_int(env, "ESCROW_TOKEN_TTL", DEFAULT_TOKEN_TTL, minimum=30),
        max_body_bytes=_int(env, "ESCROW_MAX_BODY_BYTES", 1 << 20, minimum=1024),
        max_deposit_bytes=_int(env, "ESCROW_MAX_DEPOSIT_BYTES", 16 << 30, minimum=1),
        policies_dir=Path(env.get("ESCROW_POLICIES_DIR") or _default_policies_dir()).absolute(),
        audit_origin=_audit_origin(env),
        checkpoint_interval=_int(env, "ESCROW_CHECKPOINT_INTERVAL", 60, minimum=0),
        policy_reload_seconds=_int(env, "ESCROW_POLICY_RELOAD_SECONDS", 2, minimum=0),
        key_reload_seconds=_int(env, "ESCROW_KEY_RELOAD_SECONDS", 30, minimum=0),
        agreement_sweep_interval=_int(env, "ESCROW_AGREEMENT_SWEEP_INTERVAL", 30, minimum=0),
        webhooks=_webhook_settings(env),
        metrics_token=_metrics_token(env),
        forwarded_allow_ips=env.get("ESCROW_FORWARDED_ALLOW_IPS") or "127.0.0.1",
        input_limits=_input_limits(env),
        token_rate=_token_rate(env),
        policy_validation_seconds=_int(env, "ESCROW_POLICY_VALIDATION_SECONDS", 10, minimum=1),
        audit_index_wait_seconds=_int(
            env, "ESCROW_AUDIT_INDEX_WAIT_SECONDS", 5, minimum=1, maximum=300
        ),
        audit_integrate_ms=_int(env, "ESCROW_AUDIT_INTEGRATE_MS", 100, minimum=0, maximum=60000),
        # An owner is remembered only while the epoch was read within the last second.
        auth_epoch_poll_ms=_int(env, "ESCROW_AUTH_EPOCH_POLL_MS", 250, minimum=0, maximum=900),
        bearer_failures=_bearer_failures(env),
        sharing=_sharing(env),
        workers=_int(env, "ESCROW_WORKERS", 1, minimum=1),
        threads=_int(env, "ESCROW_THREADS", 16, minimum=2, maximum=256),
        metrics_dir=Path(env["PROMETHEUS_MULTIPROC_DIR"]).absolute()
        if env.get("PROMETHEUS_MULTIPROC_DIR")
        else None,
        key_manager=_key_manager(env),
    )


def _key_manager(env: Mapping[str, str]) -> KeyManagerSettings:
    if "ESCROW_PKCS11_PIN" in env:
        raise ConfigError(
            "ESCROW_PKCS11_PIN is not read: put the PIN in an owner-only file and name it in"
            " ESCROW_PKCS11_PIN_FILE (the environment leaks to child processes and /proc)"
        )
    kind = (env.get("ESCROW_KEY_MANAGER") or "keyring").strip().lower()
    if kind == "keyring":
        return KEYRING_MANAGER
    if kind != "pkcs11":
        raise ConfigError(f"ESCROW_KEY_MANAGER must be keyring or pkcs11, got {kind!r}")
    module = Path(env.get("ESCROW_PKCS11_MODULE") or DEFAULT_PKCS11_MODULE).absolute()
    if not module.is_file():
        raise ConfigError(
            f"ESCROW_PKCS11_MODULE: no PKCS#11 module at {module} (your HSM's library;"
            " for SoftHSM2: apt-get install softhsm2)"
        )
    label = env.get("ESCROW_PKCS11_TOKEN_LABEL") or ""
    if not label.strip() or len(label.encode("utf-8")) > _TOKEN_LABEL_BYTES:
        raise ConfigError(
            "ESCROW_PKCS11_TOKEN_LABEL is required with ESCROW_KEY_MANAGER=pkcs11:"
            f" the label of the token that holds the KEKs (at most {_TOKEN_LABEL_BYTES} bytes)"
        )
    pin_file = env.get("ESCROW_PKCS11_PIN_FILE") or ""
    if not pin_file:
        raise ConfigError(
            "ESCROW_PKCS11_PIN_FILE is required with ESCROW_KEY_MANAGER=pkcs11:"
            " a file (mode 0600 or 0400) holding the token's user PIN"
        )
    pin_path = Path(pin_file).expanduser().absolute()
    if not pin_path.is_file():
        raise ConfigError(f"ESCROW_PKCS11_PIN_FILE: {pin_path} is not a file")
    return KeyManagerSettings("pkcs11", Pkcs11Settings(module, label, pin_path))


MAX_JSON_DEPTH_CEILING = 256  # deeper nesting would near the decoder's recursion limit


def _input_limits(env: Mapping[str, str]) -> InputLimits:
    depth = _int(env, "ESCROW_MAX_JSON_DEPTH", 32, minimum=2)
    if depth > MAX_JSON_DEPTH_CEILING:
        raise ConfigError(
            f"ESCROW_MAX_JSON_DEPTH must be at most {MAX_JSON_DEPTH_CEILING}, got {depth}"
        )
    return InputLimits(
        max_json_depth=depth,
        max_header_count=_int(env, "ESCROW_MAX_HEADERS", 100, minimum=16),
        max_header_bytes=_int(env, "ESCROW_MAX_HEADER_BYTES", 16 * 1024, minimum=1024),
    )


def _rate(env: Mapping[str, str], rate_name: str, burst_name: str, rate: int, burst: int) -> Rate:
    return Rate(_int(env, rate_name, rate, minimum=0), _int(env, burst_name, burst, minimum=1))


def _token_rate(env: Mapping[str, str]) -> TokenRateSettings:
    failures_per_ip = _rate(
        env, "ESCROW_TOKEN_FAILURES_PER_IP", "ESCROW_TOKEN_FAILURE_BURST_PER_IP", 10, 10
    )
    failures_per_key = _rate(
        env, "ESCROW_TOKEN_FAILURES_PER_KEY", "ESCROW_TOKEN_FAILURE_BURST_PER_KEY", 30, 30
    )
    # One address must never drain a key's budget alone, or it could lock the key's owner out.
    if failures_per_key.limited and (
        not failures_per_ip.limited
        or failures_per_key.per_minute < failures_per_ip.per_minute
        or failures_per_key.burst <= failures_per_ip.burst
    ):
        raise ConfigError(
            "ESCROW_TOKEN_FAILURES_PER_KEY must be at least ESCROW_TOKEN_FAILURES_PER_IP and"
            " ESCROW_TOKEN_FAILURE_BURST_PER_KEY more than ESCROW_TOKEN_FAILURE_BURST_PER_IP"
            " (and the per-address limit on), so that one address cannot lock a key out"
        )
    return TokenRateSettings(
        enabled=_bool(env, "ESCROW_TOKEN_RATE_LIMIT", default=True),
        per_ip=_rate(env, "ESCROW_TOKEN_RATE_PER_IP", "ESCROW_TOKEN_BURST_PER_IP", 120, 60),
        failures_per_ip=failures_per_ip,
        failures_per_key=failures_per_key,
    )


def _bearer_failures(env: Mapping[str, str]) -> BearerFailureSettings:
    return BearerFailureSettings(
        enabled=_bool(env, "ESCROW_AUTH_FAILURE_LIMIT", default=True),
        failures_per_ip=_rate(
            env, "ESCROW_AUTH_FAILURES_PER_IP", "ESCROW_AUTH_FAILURE_BURST_PER_IP", 30, 30
        ),
        audit_window_seconds=_int(env, "ESCROW_AUTH_FAILURE_WINDOW", 60, minimum=1),
    )


def _webhook_settings(env: Mapping[str, str]) -> WebhookSettings:
    backoff = _int(env, "ESCROW_WEBHOOK_BACKOFF_SECONDS", 30)
    backoff_max = _int(env, "ESCROW_WEBHOOK_BACKOFF_MAX_SECONDS", 21600)
    if backoff_max < backoff:
        raise ConfigError(
            "ESCROW_WEBHOOK_BACKOFF_MAX_SECONDS must be at least ESCROW_WEBHOOK_BACKOFF_SECONDS"
            f" ({backoff}), got {backoff_max}"
        )
    attempts = _int(env, "ESCROW_WEBHOOK_MAX_ATTEMPTS", 12)
    if attempts > 50:
        raise ConfigError(f"ESCROW_WEBHOOK_MAX_ATTEMPTS must be at most 50, got {attempts}")
    timeout = _int(env, "ESCROW_WEBHOOK_TIMEOUT", 10)
    if timeout > 60:
        raise ConfigError(f"ESCROW_WEBHOOK_TIMEOUT must be at most 60 seconds, got {timeout}")
    concurrency = _int(env, "ESCROW_WEBHOOK_CONCURRENCY", 8, maximum=64)
    per_endpoint = _int(env, "ESCROW_WEBHOOK_CONCURRENCY_PER_ENDPOINT", 1)
    if per_endpoint > concurrency:
        raise ConfigError(
            "ESCROW_WEBHOOK_CONCURRENCY_PER_ENDPOINT must be at most ESCROW_WEBHOOK_CONCURRENCY"
            f" ({concurrency}), got {per_endpoint}"
        )
    return WebhookSettings(
        interval=_int(env, "ESCROW_WEBHOOK_INTERVAL", 5, minimum=0),
        backoff_seconds=backoff,
        backoff_max_seconds=backoff_max,
        max_attempts=attempts,
        timeout_seconds=timeout,
        allow_http=_bool(env, "ESCROW_WEBHOOK_ALLOW_HTTP", default=False),
        allow_private_networks=_bool(env, "ESCROW_WEBHOOK_ALLOW_PRIVATE_NETWORKS", default=False),
        concurrency=concurrency,
        concurrency_per_endpoint=per_endpoint,
        disable_after_dead=_int(env, "ESCROW_WEBHOOK_DISABLE_AFTER_DEAD", 5, minimum=0),
        retention_days=_int(env, "ESCROW_WEBHOOK_RETENTION_DAYS", 30, maximum=3650),
    )


def _metrics_token(env: Mapping[str, str]) -> str | None:
    """The bearer token scrapers present to GET /metrics (unset: no token is asked for)."""
    token = env.get("ESCROW_METRICS_TOKEN") or None
    if token is not None and not _METRICS_TOKEN.match(token):
        raise ConfigError(
            "ESCROW_METRICS_TOKEN must be 16-256 visible ASCII characters (no spaces)"
        )
    return token


def _audit_origin(env: Mapping[str, str]) -> str | None:
    """The checkpoint origin line, which is also the signed-note key name."""
    origin = env.get("ESCROW_AUDIT_ORIGIN") or None
    if origin is not None and (
        "+" in origin or any(c.isspace() or not c.isprintable() for c in origin)
    ):
        raise ConfigError(f"ESCROW_AUDIT_ORIGIN must have no spaces or '+', got {origin!r}")
    return origin


def _default_policies_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "policies"


def _sharing(env: Mapping[str, str]) -> SharingSettings:
    public = (env.get("ESCROW_PUBLIC_URL") or "").strip() or None
    if public is not None:
        parts = urlsplit(public)
        if parts.scheme not in {"http", "https"} or not parts.netloc or parts.query:
            raise ConfigError(
                f"ESCROW_PUBLIC_URL must be an http(s) URL without a query, got {public!r}"
            )
        public = public.rstrip("/")
    ttl = _int(env, "ESCROW_SHARING_URL_TTL", 900, minimum=10)
    if ttl > 7 * 86400:
        raise ConfigError(f"ESCROW_SHARING_URL_TTL must be at most 604800 seconds, got {ttl}")
    return SharingSettings(
        public_url=public,
        url_ttl=ttl,
        profile_max_ttl=_int(
            env,
            "ESCROW_SHARING_PROFILE_MAX_TTL",
            PROFILE_TTL_CEILING,
            minimum=PROFILE_TTL_FLOOR,
            maximum=PROFILE_TTL_CEILING,
        ),
    )
