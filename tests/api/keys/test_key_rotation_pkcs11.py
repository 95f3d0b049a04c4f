"""Deposits, downloads and `escrow keys` with the KEKs in a PKCS#11 token (SoftHSM2).

The running app and each CLI command have sessions of their own on the token, as a server
and the operator's shell would: what the CLI stages or rotates, the app uses at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from crypto import Pkcs11KeyManager
from escrow.app import build_components
from escrow.cli.main import cli
from escrow.clock import FrozenClock
from escrow.components import Components
from escrow.config import load_settings
from escrow.keys.configured import close_key_manager
from storage.blobs import BlobStore
from storage.db import Database
from storage.models import DatasetVersion
from tests.fixtures.datasets import Partners, create_dataset, deposit
from tests.fixtures.softhsm import SoftHsmToken

CSV = b"region,amount\nEU,10\n"


@pytest.fixture
def settings_env(softhsm_token: SoftHsmToken, tmp_path: Path, postgres_url: str) -> dict[str, str]:
    return {
        "ESCROW_DATA_DIR": str(tmp_path / "data"),
        "ESCROW_DATABASE_URL": postgres_url,
        "ESCROW_BLOB_URL": f"file://{tmp_path / 'blobs'}",
        "ESCROW_KEYRING": str(softhsm_token.keyring_path),
        "ESCROW_KEY_MANAGER": "pkcs11",
        "ESCROW_PKCS11_MODULE": str(softhsm_token.module),
        "ESCROW_PKCS11_TOKEN_LABEL": softhsm_token.label,
        "ESCROW_PKCS11_PIN_FILE": str(softhsm_token.pin_file),
        "ESCROW_TOKEN_RATE_LIMIT": "false",
        "ESCROW_AUTH_FAILURE_LIMIT": "false",
    }


@pytest.fixture
def components(
    settings_env: dict[str, str], db: Database, clock: FrozenClock, blobs: BlobStore
) -> Iterator[Components]:
    built = build_components(load_settings(settings_env), clock=clock, db=db, blobs=blobs)
    yield built
    close_key_manager(built.keyring)


def _kek_ids(components: Components) -> set[str]:
    with components.db.session() as session:
        return {k for k in session.scalars(select(DatasetVersion.kek_id)) if k is not None}


def _content(partners: Partners, dataset_id: str, number: int) -> bytes:
    response = partners.member.get(f"/v1/datasets/{dataset_id}/versions/{number}/content")
    assert response.status_code == 200, response.text
    return bytes(response.content)


def test_deposit_and_download_round_trip_with_the_kek_in_the_token(
    partners: Partners, components: Components, softhsm_token: SoftHsmToken
) -> None:
    assert isinstance(components.keyring, Pkcs11KeyManager)
    dataset = create_dataset(partners.steward)
    assert deposit(partners.steward, dataset["id"], CSV).status_code == 201
    [kek_id] = _kek_ids(components)
    with softhsm_token.open_manager() as token:  # the KEK is the token's, not the file's
        assert token.active_kek_id == kek_id
    assert _content(partners, dataset["id"], 1) == CSV


def test_keys_commands_stage_rotate_and_retire_in_the_token(
    partners: Partners, components: Components, settings_env: dict[str, str]
) -> None:
    dataset = create_dataset(partners.steward)
    for i in range(2):
        assert (
            deposit(partners.steward, dataset["id"], CSV + f"US,{i}\n".encode()).status_code == 201
        )
    [old_kek] = _kek_ids(components)
    runner = CliRunner()
    staged = runner.invoke(cli, ["keys", "stage"], env=settings_env)
    assert staged.exit_code == 0, staged.output
    assert "in token" in staged.output
    staged_kek = staged.output.split()[2]
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"], env=settings_env).output)
    assert {row["kek_id"]: (row["state"], row["versions"]) for row in listed} == {
        old_kek: ("active", 2),
        staged_kek: ("staged", 0),
    }
    refused = runner.invoke(cli, ["keys", "retire", old_kek], env=settings_env)
    assert refused.exit_code == 1 and "rotate first" in refused.output
    rotated = runner.invoke(cli, ["keys", "rotate", "--to", staged_kek], env=settings_env)
    assert rotated.exit_code == 0, rotated.output
    assert f"active KEK {staged_kek}; re-wrapped 2 data keys" in rotated.output
    assert _kek_ids(components) == {staged_kek}
    # The running app meets a KEK id it did not know and reads it from the token: no restart.
    assert _content(partners, dataset["id"], 2) == CSV + b"US,1\n"
    retired = runner.invoke(cli, ["keys", "retire", old_kek], env=settings_env)
    assert retired.exit_code == 0, retired.output
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"], env=settings_env).output)
    assert {row["kek_id"]: row["state"] for row in listed} == {
        old_kek: "retired",
        staged_kek: "active",
    }
    # The app's old KEK is gone from the token: its next deposit wraps under the new one.
    assert deposit(partners.steward, dataset["id"], CSV).status_code == 201
    assert _kek_ids(components) == {staged_kek}
    assert _content(partners, dataset["id"], 3) == CSV
    assert runner.invoke(cli, ["keys", "rotate"], env=settings_env).exit_code == 0
    assert runner.invoke(cli, ["keys", "retire", staged_kek], env=settings_env).exit_code == 0
    assert _content(partners, dataset["id"], 1) == CSV + b"US,0\n"


def test_a_wrong_pin_stops_the_cli_with_a_clear_message(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    pin_file = tmp_path / "wrong-pin"
    pin_file.write_text("0000\n")
    pin_file.chmod(0o600)
    env = {**settings_env, "ESCROW_PKCS11_PIN_FILE": str(pin_file)}
    result = CliRunner().invoke(cli, ["keys", "list"], env=env)
    assert result.exit_code == 1
    assert "refused the PIN" in result.output
