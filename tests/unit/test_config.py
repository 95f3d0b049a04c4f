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
    ],
)
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})
