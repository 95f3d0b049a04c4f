"""Rotation of the token key and the receipt/checkpoint key from the server-side CLI.

Nothing verified yesterday fails today: JWKS and the published verifier keys carry the old
key until it is retired, and receipts and checkpoints signed before a rotation still verify
offline after it (a retired receipt key's public half stays published).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from escrow.cli.main import cli
from escrow.components import Components
from tests.fixtures.api import Caller, Ecosystem
from tests.fixtures.datasets import Partners, create_dataset, deposit

CSV = b"region,amount\nEU,10\n"


@pytest.fixture
def settings_env(settings_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A keyring of this test's own: rotating the session's would retire other tests' keys."""
    return {
        **settings_env,
        "ESCROW_KEYRING": str(tmp_path / "own-keyring.json"),
        "ESCROW_BLOB_URL": f"file://{tmp_path / 'blobs'}",
    }


def _keys(env: dict[str, str], *args: str) -> Result:
    result = CliRunner().invoke(cli, ["keys", "signing", *args], env=env)
    assert result.exit_code == 0, result.output
    return result


def _rotate(env: dict[str, str], kind: str) -> tuple[str, str]:
    """Stage and promote a new ``kind`` key; (old id, new id)."""
    staged = _keys(env, "stage", kind).output.split()[3].rstrip(";")
    promoted = _keys(env, "promote", kind, staged).output
    old = promoted.split()[4]
    assert promoted.startswith(f"active {kind} key {staged};")
    return old, staged


def _kids(caller: Caller) -> list[str]:
    response = caller.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    return [key["kid"] for key in response.json()["keys"]]


def _whoami(caller: Caller, token: str) -> int:
    response = caller.client.get("/v1/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    return int(response.status_code)


def test_jwks_carries_the_old_token_key_until_it_is_retired(
    eco: Ecosystem, settings_env: dict[str, str], components: Components
) -> None:
    eco.org("acme")
    member = eco.principal("acme", "member")
    old_token = member.token
    [old] = _kids(member)

    staged = _keys(settings_env, "stage", "token").output.split()[3].rstrip(";")
    assert _kids(member) == [old, staged]  # published before it signs anything
    assert components.authentication.tokens.kid == old
    _keys(settings_env, "promote", "token", staged)
    assert _kids(member) == [staged, old]  # the signing key first, the old one kept
    member.refresh()
    assert json.loads(_b64_header(member.token))["kid"] == staged
    assert _whoami(member, member.token) == 200
    assert _whoami(member, old_token) == 200  # unexpired tokens of the old key still work

    _keys(settings_env, "retire", "token", old)
    assert _kids(member) == [staged]
    assert _whoami(member, old_token) == 401
    assert _whoami(member, member.token) == 200


def test_the_active_key_can_be_neither_retired_nor_replaced_by_an_unstaged_one(
    settings_env: dict[str, str], components: Components
) -> None:
    active = components.authentication.tokens.kid
    refused = CliRunner().invoke(
        cli, ["keys", "signing", "retire", "token", active], env=settings_env
    )
    assert refused.exit_code == 1 and "active" in refused.output
    unknown = CliRunner().invoke(
        cli, ["keys", "signing", "promote", "receipt", "no-such-key"], env=settings_env
    )
    assert unknown.exit_code == 1 and "no receipt signing key" in unknown.output


@pytest.mark.usefixtures("components")
@pytest.mark.parametrize("command", ["promote", "retire"])
def test_a_key_id_may_begin_with_a_dash(settings_env: dict[str, str], command: str) -> None:
    """Thumbprints are base64url: one in 32 begins with "-", which is not an option here."""
    refused = CliRunner().invoke(
        cli, ["keys", "signing", command, "token", "-Yq3f0"], env=settings_env
    )
    assert refused.exit_code == 1 and "no token signing key" in refused.output


def test_public_keys_list_every_receipt_key_with_its_validity(
    partners: Partners, settings_env: dict[str, str], components: Components
) -> None:
    client = partners.member.client
    before = client.get("/v1/audit/public-keys")  # public: no token
    assert before.status_code == 200
    [first] = before.json()["keys"]
    assert (first["state"], first["valid_from"], first["valid_until"]) == ("active", None, None)
    origin = before.json()["origin"]
    assert first["verifier_key"] == client.get("/v1/audit/public-key").text.strip()

    old, new = _rotate(settings_env, "receipt")
    _keys(settings_env, "retire", "receipt", old)
    document = client.get("/v1/audit/public-keys").json()
    assert document["format"] == "partner-escrow/audit-public-keys/v1"
    assert document["origin"] == origin  # the log keeps its name across rotations
    retired, active = document["keys"]
    assert (retired["key_id"], retired["state"]) == (old, "retired")
    assert (active["key_id"], active["state"]) == (new, "active")
    assert retired["valid_until"] == active["valid_from"] is not None
    assert retired["verifier_key"] == first["verifier_key"]  # still published
    assert client.get("/v1/audit/public-key").text.strip() == active["verifier_key"]
    assert client.get("/v1/keys/signing").json()["key_id"] == new
    local = CliRunner().invoke(cli, ["audit", "public-key", "--all", "--local"], env=settings_env)
    assert local.exit_code == 0, local.output
    assert json.loads(local.output) == document  # the server host's keyring, same document


def test_receipts_and_checkpoints_signed_before_a_rotation_verify_offline_after_it(
    partners: Partners, settings_env: dict[str, str], tmp_path: Path
) -> None:
    operator = partners.operator
    dataset = create_dataset(partners.steward)
    old_receipt = deposit(partners.steward, dataset["id"], CSV).json()["receipt"]
    old_checkpoint = operator.get("/v1/audit/checkpoint").text
    old_bundle = operator.get("/v1/audit/export").content
    old_key = operator.client.get("/v1/audit/public-key").text

    old, new = _rotate(settings_env, "receipt")
    _keys(settings_env, "retire", "receipt", old)
    new_receipt = deposit(partners.steward, dataset["id"], CSV + b"US,5\n").json()["receipt"]
    assert (old_receipt["key_id"], new_receipt["key_id"]) == (old, new)
    new_checkpoint = operator.get("/v1/audit/checkpoint").text  # extends the old chain
    new_bundle = operator.get("/v1/audit/export").content
    files = _write(
        tmp_path,
        old_receipt=json.dumps(old_receipt),
        new_receipt=json.dumps(new_receipt),
        old_checkpoint=old_checkpoint,
        new_checkpoint=new_checkpoint,
        old_bundle=old_bundle.decode(),
        new_bundle=new_bundle.decode(),
        keys=operator.client.get("/v1/audit/public-keys").text,
        old_key=old_key,
        proof=_proof(operator, old_checkpoint, new_checkpoint),
    )
    keys = files["keys"]
    for receipt in ("old_receipt", "new_receipt"):
        _ok(["receipt", "verify", files[receipt], "--public-key", keys])
    for bundle in ("old_bundle", "new_bundle"):
        _ok(["audit", "verify", files[bundle], "--public-key", keys])
    checkpoints = [files["old_checkpoint"], files["new_checkpoint"]]
    _ok(
        [
            "audit",
            "verify-checkpoint",
            *checkpoints,
            "--public-key",
            keys,
            "--proof",
            files["proof"],
        ]
    )
    # With the old key alone, what the new key signed does not verify, and vice versa.
    refused = CliRunner().invoke(
        cli, ["audit", "verify", files["new_bundle"], "--public-key", files["old_key"]]
    )
    assert refused.exit_code == 1 and "checkpoint" in refused.output


def test_every_signing_key_change_is_audited(
    operator: Caller, settings_env: dict[str, str]
) -> None:
    old_token, new_token = _rotate(settings_env, "token")
    _keys(settings_env, "retire", "token", old_token)
    _, new_receipt = _rotate(settings_env, "receipt")
    operator.refresh()
    events = operator.get("/v1/audit/events", params={"resource_type": "token_signing_key"})
    entries = [json.loads(item["entry"]) for item in events.json()["items"]]
    assert [(e["action"], e["resource"]["id"]) for e in entries] == [
        ("keys.stage", new_token),
        ("keys.promote", new_token),
        ("keys.retire", old_token),
    ]
    assert entries[1]["details"] == {"previous": old_token}
    receipts = operator.get("/v1/audit/events", params={"resource_type": "receipt_signing_key"})
    actions = [json.loads(item["entry"])["action"] for item in receipts.json()["items"]]
    assert actions == ["keys.stage", "keys.promote"]
    listed = json.loads(_keys(settings_env, "list", "--json").output)
    states = {(row["kind"], row["key_id"]): row["state"] for row in listed}
    assert states[("token", old_token)] == "retired"
    assert states[("receipt", new_receipt)] == "active"


def _b64_header(token: str) -> str:
    import base64

    header = token.split(".")[0]
    return base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)).decode()


def _proof(operator: Caller, old_note: str, new_note: str) -> str:
    old_size, new_size = (int(note.split("\n")[1]) for note in (old_note, new_note))
    response = operator.get(f"/v1/audit/proofs/consistency?from={old_size}&to={new_size}")
    assert response.status_code == 200, response.text
    return str(response.text)


def _write(tmp_path: Path, **texts: str) -> dict[str, str]:
    paths = {}
    for name, text in texts.items():
        path = tmp_path / name
        path.write_text(text)
        paths[name] = str(path)
    return paths


def _ok(args: list[str]) -> Any:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "OK" in result.output or "verifies" in result.output
    return result
