"""Configuration is read once and bad values fail at start, naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from escrow.config import load_settings
from escrow.errors import ConfigError


def test_defaults_are_the_embedded_ones(tmp_path: Path) -> None:
    settings = load_settings({"ESCROW_DATA_DIR": str(tmp_path)})
    assert settings.database_url == f"sqlite:///{tmp_path / 'escrow.db'}"
    assert settings.blob_url == f"file://{tmp_path / 'blobs'}"
    assert settings.keyring_path == tmp_path / "keyring.json"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.token_audience == "partner-escrow" and settings.token_ttl == 900
    assert settings.token_issuer == "http://127.0.0.1:8000"


def test_postgres_urls_use_psycopg() -> None:
    url = load_settings({"ESCROW_DATABASE_URL": "postgresql://u@h/db"}).database_url
    assert url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ESCROW_BIND", "nonsense"),
        ("ESCROW_BIND", "127.0.0.1:99999"),
        ("ESCROW_TOKEN_TTL", "soon"),
        ("ESCROW_TOKEN_TTL", "5"),
        ("ESCROW_DATABASE_URL", "mysql://x/y"),
        ("ESCROW_BLOB_URL", "ftp://x"),
        ("ESCROW_BLOB_URL", "s3://bucket"),
        ("ESCROW_S3_SECURE", "maybe"),
        ("ESCROW_SHARING_PROFILE_MAX_TTL", "59"),
        ("ESCROW_SHARING_PROFILE_MAX_TTL", str(365 * 86400 + 1)),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_input_limits_and_token_rate_limits_have_documented_defaults() -> None:
    settings = load_settings({})
    limits = settings.input_limits
    assert (limits.max_json_depth, limits.max_header_count, limits.max_header_bytes) == (
        32,
        100,
        16384,
    )
    rate = settings.token_rate
    assert rate.enabled
    assert (rate.per_ip.per_minute, rate.per_ip.burst) == (120, 60)
    assert (rate.failures_per_ip.per_minute, rate.failures_per_ip.burst) == (10, 10)
    assert (rate.failures_per_key.per_minute, rate.failures_per_key.burst) == (30, 30)


def test_token_rate_limits_parse_and_can_be_switched_off() -> None:
    rate = load_settings(
        {
            "ESCROW_TOKEN_RATE_LIMIT": "off",
            "ESCROW_TOKEN_RATE_PER_IP": "0",
            "ESCROW_TOKEN_FAILURES_PER_IP": "3",
            "ESCROW_TOKEN_FAILURE_BURST_PER_IP": "2",
            "ESCROW_TOKEN_FAILURES_PER_KEY": "3",
            "ESCROW_TOKEN_FAILURE_BURST_PER_KEY": "3",
        }
    ).token_rate
    assert not rate.enabled and not rate.per_ip.limited
    assert (rate.failures_per_ip.per_minute, rate.failures_per_ip.burst) == (3, 2)
    assert rate.failures_per_key.limited


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ESCROW_TOKEN_RATE_LIMIT", "sometimes"),
        ("ESCROW_TOKEN_RATE_PER_IP", "-1"),
        ("ESCROW_TOKEN_BURST_PER_IP", "0"),
        ("ESCROW_TOKEN_FAILURES_PER_IP", "many"),
        ("ESCROW_TOKEN_FAILURE_BURST_PER_KEY", "0"),
        ("ESCROW_MAX_JSON_DEPTH", "1"),
        ("ESCROW_MAX_JSON_DEPTH", "1000"),
        ("ESCROW_MAX_HEADERS", "8"),
        ("ESCROW_MAX_HEADER_BYTES", "512"),
    ],
)
def test_bad_limit_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


@pytest.mark.parametrize(
    "env",
    [
        {"ESCROW_TOKEN_FAILURES_PER_KEY": "5"},  # below the address's 10 a minute
        {"ESCROW_TOKEN_FAILURE_BURST_PER_KEY": "10"},  # not above the address's burst of 10
        {"ESCROW_TOKEN_FAILURES_PER_IP": "0"},  # no per-address limit at all
    ],
)
def test_one_address_must_not_be_able_to_drain_a_key_alone(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="ESCROW_TOKEN_FAILURES_PER_KEY"):
        load_settings(env)


def test_key_manager_defaults_to_the_keyring_file(tmp_path: Path) -> None:
    settings = load_settings({"ESCROW_DATA_DIR": str(tmp_path)})
    assert settings.key_manager.kind == "keyring"
    assert settings.key_manager.pkcs11 is None


def test_pkcs11_key_manager_settings(tmp_path: Path) -> None:
    module, pin = tmp_path / "module.so", tmp_path / "pin"
    module.write_bytes(b"")
    pin.write_text("1234\n")
    settings = load_settings(
        {
            "ESCROW_KEY_MANAGER": "PKCS11",
            "ESCROW_PKCS11_MODULE": str(module),
            "ESCROW_PKCS11_TOKEN_LABEL": "escrow-keks",
            "ESCROW_PKCS11_PIN_FILE": str(pin),
        }
    )
    token = settings.key_manager.pkcs11
    assert settings.key_manager.kind == "pkcs11" and token is not None
    assert (token.module, token.token_label, token.pin_file) == (module, "escrow-keks", pin)
    assert "1234" not in repr(settings)  # the PIN is read when the token is opened, not here


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"ESCROW_KEY_MANAGER": "kms"}, "ESCROW_KEY_MANAGER"),
        ({"ESCROW_PKCS11_MODULE": "/nonexistent/libpkcs11.so"}, "ESCROW_PKCS11_MODULE"),
        ({"ESCROW_PKCS11_TOKEN_LABEL": ""}, "ESCROW_PKCS11_TOKEN_LABEL"),
        ({"ESCROW_PKCS11_TOKEN_LABEL": "x" * 33}, "ESCROW_PKCS11_TOKEN_LABEL"),
        ({"ESCROW_PKCS11_PIN_FILE": ""}, "ESCROW_PKCS11_PIN_FILE"),
        ({"ESCROW_PKCS11_PIN_FILE": "/nonexistent/pin"}, "ESCROW_PKCS11_PIN_FILE"),
        ({"ESCROW_PKCS11_PIN": "1234"}, "ESCROW_PKCS11_PIN_FILE"),
    ],
)
def test_bad_key_manager_settings_name_the_variable(
    tmp_path: Path, change: dict[str, str], named: str
) -> None:
    module, pin = tmp_path / "module.so", tmp_path / "pin"
    module.write_bytes(b"")
    pin.write_text("1234\n")
    env = {
        "ESCROW_KEY_MANAGER": "pkcs11",
        "ESCROW_PKCS11_MODULE": str(module),
        "ESCROW_PKCS11_TOKEN_LABEL": "escrow-keks",
        "ESCROW_PKCS11_PIN_FILE": str(pin),
        **change,
    }
    with pytest.raises(ConfigError, match=named):
        load_settings(env)


def test_threads_per_pool_default_to_16_and_are_bounded() -> None:
    assert load_settings({}).threads == 16
    assert load_settings({"ESCROW_THREADS": "4"}).threads == 4
    for bad in ("1", "257", "many"):
        with pytest.raises(ConfigError, match="ESCROW_THREADS"):
            load_settings({"ESCROW_THREADS": bad})
