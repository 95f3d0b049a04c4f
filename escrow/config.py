"""Settings, read once from the environment, validated, and passed down.

Nothing else in the code base reads ``os.environ``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from escrow.errors import ConfigError

DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_AUDIENCE = "partner-escrow"
DEFAULT_TOKEN_TTL = 900


@dataclass(frozen=True)
class S3Settings:
    endpoint: str | None
    access_key: str | None
    secret_key: str | None
    region: str | None
    secure: bool


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
    agreement_sweep_interval: int  # seconds; 0 disables the schedule

    @property
    def service_url(self) -> str:
        return f"http://{self.host}:{self.port}"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
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
    """Read and validate every ``ESCROW_*`` setting; raise ConfigError naming the variable."""
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
        agreement_sweep_interval=_int(env, "ESCROW_AGREEMENT_SWEEP_INTERVAL", 30, minimum=0),
    )


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
