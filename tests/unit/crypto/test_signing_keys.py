"""Rotation of the receipt/checkpoint and token signing keys: stage, promote, retire."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from crypto import (
    Checkpoint,
    Keyring,
    KeyringError,
    RetiredKeyError,
    SignatureError,
    SigningKeyKind,
    UnknownKeyError,
    open_note,
    sign_document,
    sign_note,
    verify_document_among,
)
from crypto.signing import ServiceSigner

T0 = datetime(2025, 1, 1, tzinfo=UTC)
T1 = T0 + timedelta(days=30)
T2 = T0 + timedelta(days=60)
ORIGIN = "partner-escrow.dev/audit/test"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "keyring.json"


@pytest.fixture
def keyring(path: Path) -> Keyring:
    return Keyring.create(path)


def _states(keyring: Keyring, kind: SigningKeyKind) -> list[tuple[str, str]]:
    return [(info.key_id, info.state) for info in keyring.signing_keys(kind)]


@pytest.mark.parametrize("kind", ["receipt", "token"])
def test_a_new_keyring_has_one_active_key_of_each_kind(
    keyring: Keyring, kind: SigningKeyKind
) -> None:
    [info] = keyring.signing_keys(kind)
    active = keyring.service_signer.key_id if kind == "receipt" else keyring.token_signing_key.kid
    assert (info.key_id, info.state, info.activated_at) == (active, "active", None)


@pytest.mark.parametrize("kind", ["receipt", "token"])
def test_stage_promote_retire_moves_signing_to_the_new_key(
    keyring: Keyring, path: Path, kind: SigningKeyKind
) -> None:
    def signing_id(ring: Keyring) -> str:
        return ring.service_signer.key_id if kind == "receipt" else ring.token_signing_key.kid

    old = signing_id(keyring)
    new = keyring.stage_signing_key(kind, at=T0)
    assert _states(keyring, kind) == [(old, "active"), (new, "staged")]
    assert signing_id(keyring) == old  # a staged key is published but never signs
    assert set(keyring.verification_keys(kind)) == {old, new}

    keyring.promote_signing_key(kind, new, at=T1)
    assert _states(keyring, kind) == [(old, "verify-only"), (new, "active")]
    assert signing_id(keyring) == new
    previous, current = keyring.signing_keys(kind)
    assert (previous.activated_at, previous.deactivated_at) == (None, T1)
    assert (current.created_at, current.activated_at, current.deactivated_at) == (T0, T1, None)

    keyring.retire_signing_key(kind, old, at=T2)
    assert _states(keyring, kind) == [(old, "retired"), (new, "active")]
    assert keyring.signing_keys(kind)[0].retired_at == T2
    stored = json.loads(path.read_text())[f"{kind}_signing_keys"][0]
    assert "key" not in stored and stored["public_key"]  # the seed is gone, the public half not
    reloaded = Keyring.load(path)
    assert _states(reloaded, kind) == _states(keyring, kind)
    assert reloaded.signing_keys(kind)[0].deactivated_at == T1


def test_retired_receipt_keys_still_verify_and_retired_token_keys_do_not(
    keyring: Keyring,
) -> None:
    kinds: tuple[SigningKeyKind, ...] = ("receipt", "token")
    old = {kind: keyring.signing_keys(kind)[0].key_id for kind in kinds}
    for kind in kinds:
        new = keyring.stage_signing_key(kind, at=T0)
        keyring.promote_signing_key(kind, new, at=T1)
        keyring.retire_signing_key(kind, old[kind], at=T2)
    assert old["receipt"] in keyring.verification_keys("receipt")
    assert old["token"] not in keyring.verification_keys("token")


def test_documents_and_notes_signed_before_a_rotation_verify_after_it(keyring: Keyring) -> None:
    before = keyring.service_signer
    receipt = sign_document({"dataset": "q3", "version": 1}, before)
    note = sign_note(Checkpoint(ORIGIN, 1, bytes(32)).to_text(), ORIGIN, before)
    staged = keyring.stage_signing_key("receipt", at=T0)
    keyring.promote_signing_key("receipt", staged, at=T1)
    keyring.retire_signing_key("receipt", before.key_id, at=T2)
    after = keyring.service_signer
    later = sign_document({"dataset": "q3", "version": 2}, after)

    published = [info.public_key for info in keyring.verification_keys("receipt").values()]
    assert verify_document_among(receipt, published)["version"] == 1
    assert verify_document_among(later, published)["version"] == 2
    verifiers = [ServiceSigner.generate().verifier(ORIGIN), before.verifier(ORIGIN)]
    assert open_note(note, verifiers).startswith(ORIGIN)
    with pytest.raises(SignatureError, match="none of these keys"):
        verify_document_among(receipt, [after.public_key])
    with pytest.raises(SignatureError, match="no signature by"):
        open_note(note, [after.verifier(ORIGIN)])


def test_a_token_signed_by_the_old_key_verifies_until_it_is_retired(keyring: Keyring) -> None:
    old = keyring.token_signing_key
    token = jwt.encode({"sub": "svc"}, old.private_key, algorithm="EdDSA", headers={"kid": old.kid})
    new = keyring.stage_signing_key("token", at=T0)
    keyring.promote_signing_key("token", new, at=T1)
    kid = jwt.get_unverified_header(token)["kid"]
    public = keyring.verification_keys("token")[kid].public_key
    assert jwt.decode(token, public, algorithms=["EdDSA"])["sub"] == "svc"
    keyring.retire_signing_key("token", old.kid, at=T2)
    assert kid not in keyring.verification_keys("token")


def test_lifecycle_refuses_what_would_break_signing(keyring: Keyring) -> None:
    active = keyring.service_signer.key_id
    with pytest.raises(KeyringError, match="active"):
        keyring.retire_signing_key("receipt", active, at=T0)
    with pytest.raises(UnknownKeyError):
        keyring.promote_signing_key("receipt", "no-such-key", at=T0)
    with pytest.raises(UnknownKeyError):
        keyring.retire_signing_key("token", active, at=T0)  # a receipt key is no token key
    staged = keyring.stage_signing_key("receipt", at=T0)
    keyring.promote_signing_key("receipt", staged, at=T1)
    with pytest.raises(KeyringError, match="only a staged key"):
        keyring.promote_signing_key("receipt", active, at=T2)  # verify-only: stage a new one
    keyring.retire_signing_key("receipt", active, at=T2)
    with pytest.raises(RetiredKeyError):
        keyring.promote_signing_key("receipt", active, at=T2)
    assert keyring.service_signer.key_id == staged


def test_a_retired_staged_key_never_had_a_validity(keyring: Keyring) -> None:
    staged = keyring.stage_signing_key("token", at=T0)
    keyring.retire_signing_key("token", staged, at=T1)
    info = keyring.signing_keys("token")[1]
    assert (info.state, info.activated_at, info.deactivated_at) == ("retired", None, None)


def test_changes_by_another_process_are_seen_without_a_restart(
    keyring: Keyring, path: Path
) -> None:
    other = Keyring.load(path)  # the CLI on the same host, or a replica sharing the file
    staged = other.stage_signing_key("token", at=T0)
    assert staged in keyring.verification_keys("token")
    other.promote_signing_key("token", staged, at=T1)
    assert keyring.token_signing_key.kid == staged
    assert keyring.service_signer.key_id == other.service_signer.key_id


def test_a_v1_keyring_loads_as_one_active_key_of_each_kind(tmp_path: Path) -> None:
    receipt_seed, token_seed = bytes(range(32)), bytes(range(32, 64))
    path = tmp_path / "v1.json"
    path.write_text(
        json.dumps(
            {
                "format": "partner-escrow-keyring/v1",
                "keks": [{"id": "kek-1a2b3c4d", "state": "active", "key": _b64(bytes(32))}],
                "receipt_signing_key": _b64(receipt_seed),
                "token_signing_key": _b64(token_seed),
                "audit_hmac_key": _b64(bytes(32)),
            }
        )
    )
    path.chmod(0o600)
    keyring = Keyring.load(path)
    receipt_id = ServiceSigner(Ed25519PrivateKey.from_private_bytes(receipt_seed)).key_id
    token_id = ServiceSigner(Ed25519PrivateKey.from_private_bytes(token_seed)).key_id
    assert keyring.service_signer.key_id == receipt_id  # receipts keep naming the same key
    assert keyring.token_signing_key.kid == token_id  # issued tokens stay valid
    assert _states(keyring, "receipt") == [(receipt_id, "active")]
    assert _states(keyring, "token") == [(token_id, "active")]
    assert json.loads(path.read_text())["format"] == "partner-escrow-keyring/v1"  # not rewritten

    staged = keyring.stage_signing_key("receipt", at=T0)  # the first change writes v2
    document = json.loads(path.read_text())
    assert document["format"] == "partner-escrow-keyring/v2"
    assert [entry["id"] for entry in document["receipt_signing_keys"]] == [receipt_id, staged]
    assert Keyring.load(path).keks() == keyring.keks()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
