from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import jwt
import pytest

from crypto import (
    DataKey,
    FormatError,
    IntegrityError,
    KekInfo,
    Keyring,
    KeyringError,
    RetiredKeyError,
    StreamingAead,
    UnknownKeyError,
    WrappedDataKey,
    verify_document,
)
from crypto.signing import sign_document

VERSION_A = b"dataset-version-a"
VERSION_B = b"dataset-version-b"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "keyring.json"


@pytest.fixture
def keyring(path: Path) -> Keyring:
    return Keyring.create(path)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _round_trip(writer: StreamingAead, reader: StreamingAead) -> None:
    ciphertext = writer.encrypt(b"escrowed rows", VERSION_A)
    assert reader.decrypt(ciphertext, VERSION_A) == b"escrowed rows"


def test_create_writes_an_owner_only_file(keyring: Keyring, path: Path) -> None:
    assert _mode(path) == 0o600
    assert re.fullmatch(r"kek-[0-9a-f]{8}", keyring.active_kek_id)
    assert keyring.keks() == [KekInfo(keyring.active_kek_id, "active")]
    document = json.loads(path.read_text())
    assert set(document) == {
        "format", "keks", "receipt_signing_keys", "token_signing_keys", "audit_hmac_key",
    }  # fmt: skip
    assert document["format"] == "partner-escrow-keyring/v2"
    assert [entry.name for entry in path.parent.iterdir()] == [path.name]  # no temp files left


def test_create_refuses_to_overwrite(keyring: Keyring, path: Path) -> None:
    with pytest.raises(KeyringError, match="already exists"):
        Keyring.create(path)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o601], ids=oct)
def test_load_refuses_files_others_can_reach(keyring: Keyring, path: Path, mode: int) -> None:
    path.chmod(mode)
    with pytest.raises(KeyringError, match=re.escape(str(path))):
        Keyring.load(path)


def test_load_accepts_owner_only_modes(keyring: Keyring, path: Path) -> None:
    for mode in (0o400, 0o600, 0o700):
        path.chmod(mode)
        assert Keyring.load(path).active_kek_id == keyring.active_kek_id


def test_load_reads_back_the_same_keys(keyring: Keyring, path: Path) -> None:
    wrapped, aead = keyring.new_data_key(VERSION_A)
    reloaded = Keyring.load(path)
    assert reloaded.keks() == keyring.keks()
    assert reloaded.service_signer.public_key_bytes == keyring.service_signer.public_key_bytes
    assert reloaded.token_signing_key.kid == keyring.token_signing_key.kid
    assert reloaded.keyed_digest(b"x") == keyring.keyed_digest(b"x")
    _round_trip(aead, reloaded.open_data_key(wrapped, VERSION_A))


def test_load_or_create_creates_once(path: Path) -> None:
    created = Keyring.load_or_create(path)
    loaded = Keyring.load_or_create(path)
    assert loaded.active_kek_id == created.active_kek_id


def test_load_of_a_missing_file_names_it(path: Path) -> None:
    with pytest.raises(KeyringError, match=re.escape(str(path))):
        Keyring.load(path)


def _rewrite(path: Path, change: Any) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.pop("audit_hmac_key"),
        lambda d: d.update(format="something-else"),
        lambda d: d["receipt_signing_keys"][0].update(key="not base64!"),
        lambda d: d["token_signing_keys"][0].update(key="AAAA"),
        lambda d: d["token_signing_keys"][0].update(state="staged"),
        lambda d: d["receipt_signing_keys"][0].update(id="not-the-thumbprint"),
        lambda d: d["receipt_signing_keys"][0].pop("key"),
        lambda d: d.update(token_signing_keys=[]),
        lambda d: d["token_signing_keys"][0].update(key=d["receipt_signing_keys"][0]["key"]),
        lambda d: d["token_signing_keys"].append(d["token_signing_keys"][0]),
        lambda d: d["token_signing_keys"][0].update(created_at="yesterday"),
        lambda d: d["keks"].append(dict(d["keks"][0], id="kek-00000000")),
        lambda d: d["keks"][0].update(state="retired"),
        lambda d: d["keks"][0].update(id="KEK-1"),
        lambda d: d["keks"][0].pop("key"),
        lambda d: d.update(keks=[]),
    ],
)
def test_load_rejects_malformed_keyrings(keyring: Keyring, path: Path, change: Any) -> None:
    _rewrite(path, change)
    with pytest.raises(KeyringError, match="not a valid keyring"):
        Keyring.load(path)


def test_load_rejects_non_json(path: Path) -> None:
    path.write_bytes(b"\xff not json")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="not a valid keyring"):
        Keyring.load(path)


def test_data_keys_round_trip(keyring: Keyring) -> None:
    wrapped, aead = keyring.new_data_key(VERSION_A)
    assert wrapped.kek_id == keyring.active_kek_id
    _round_trip(aead, keyring.open_data_key(wrapped, VERSION_A))


def test_wrapped_key_is_bound_to_its_version(keyring: Keyring) -> None:
    wrapped, _ = keyring.new_data_key(VERSION_A)
    with pytest.raises(IntegrityError):
        keyring.open_data_key(wrapped, VERSION_B)
    with pytest.raises(IntegrityError):
        keyring.rewrap(wrapped, VERSION_B)


def test_tampered_wrapped_key_is_rejected(keyring: Keyring) -> None:
    wrapped, _ = keyring.new_data_key(VERSION_A)
    for position in (0, 12, len(wrapped.sealed) - 1):
        sealed = bytearray(wrapped.sealed)
        sealed[position] ^= 0x01
        with pytest.raises(IntegrityError):
            keyring.open_data_key(WrappedDataKey(wrapped.kek_id, bytes(sealed)), VERSION_A)


def test_unknown_kek_is_reported(keyring: Keyring) -> None:
    wrapped, _ = keyring.new_data_key(VERSION_A)
    with pytest.raises(UnknownKeyError):
        keyring.open_data_key(WrappedDataKey("kek-00000000", wrapped.sealed), VERSION_A)
    with pytest.raises(UnknownKeyError):
        keyring.retire("kek-00000000")


def test_wrapped_key_text_form_round_trips(keyring: Keyring) -> None:
    wrapped, _ = keyring.new_data_key(VERSION_A)
    text = wrapped.to_text()
    assert text.startswith(wrapped.kek_id + ".")
    assert WrappedDataKey.parse(text) == wrapped
    for bad in ("", text.replace(".", ":"), text[:-2], text + "A", "kek-zz.AAAA", text + "="):
        with pytest.raises(FormatError):
            WrappedDataKey.parse(bad)


def test_rotation_rewraps_without_touching_data(keyring: Keyring, path: Path) -> None:
    old_id = keyring.active_kek_id
    wrapped, aead = keyring.new_data_key(VERSION_A)
    ciphertext = aead.encrypt(b"stored before rotation", VERSION_A)

    new_id = keyring.rotate()
    assert new_id != old_id and keyring.active_kek_id == new_id
    assert keyring.keks() == [KekInfo(old_id, "decrypt-only"), KekInfo(new_id, "active")]
    assert _mode(path) == 0o600

    rewrapped = keyring.rewrap(wrapped, VERSION_A)
    assert rewrapped.kek_id == new_id
    assert keyring.rewrap(rewrapped, VERSION_A) is rewrapped
    reopened = keyring.open_data_key(rewrapped, VERSION_A)
    assert reopened.decrypt(ciphertext, VERSION_A) == b"stored before rotation"
    assert Keyring.load(path).keks() == keyring.keks()


def test_staged_kek_lets_replicas_read_keys_wrapped_after_promotion(
    keyring: Keyring, path: Path, tmp_path: Path
) -> None:
    old_id = keyring.active_kek_id
    staged_id = keyring.stage()
    assert keyring.keks() == [KekInfo(old_id, "active"), KekInfo(staged_id, "staged")]
    before, aead = keyring.new_data_key(VERSION_A)
    assert before.kek_id == old_id  # a staged KEK never wraps
    ciphertext = aead.encrypt(b"written before promotion", VERSION_A)

    replica_path = tmp_path / "replica" / "keyring.json"  # what a replica was given
    replica_path.parent.mkdir()
    replica_path.write_bytes(path.read_bytes())
    replica_path.chmod(0o600)
    replica = Keyring.load(replica_path)

    keyring.promote(staged_id)
    assert keyring.keks() == [KekInfo(old_id, "decrypt-only"), KekInfo(staged_id, "active")]
    rewrapped = keyring.rewrap(before, VERSION_A)
    assert rewrapped.kek_id == staged_id
    # The replica never saw the promotion and still opens the re-wrapped key ...
    opened = replica.open_data_key(rewrapped, VERSION_A)
    assert opened.decrypt(ciphertext, VERSION_A) == b"written before promotion"
    # ... while what it wraps meanwhile stays readable by the promoted keyring.
    from_replica, replica_aead = replica.new_data_key(VERSION_B)
    assert from_replica.kek_id == old_id
    _round_trip(replica_aead, keyring.open_data_key(from_replica, VERSION_B))
    assert Keyring.load(path).active_kek_id == staged_id


def test_promote_refuses_unknown_and_retired_keks(keyring: Keyring) -> None:
    with pytest.raises(UnknownKeyError):
        keyring.promote("kek-00000000")
    old_id = keyring.active_kek_id
    keyring.rotate()
    keyring.retire(old_id)
    with pytest.raises(RetiredKeyError):
        keyring.promote(old_id)


def test_retired_kek_is_refused_and_erased(keyring: Keyring, path: Path) -> None:
    old_id = keyring.active_kek_id
    wrapped, _ = keyring.new_data_key(VERSION_A)
    with pytest.raises(KeyringError, match="active"):
        keyring.retire(old_id)
    keyring.rotate()
    rewrapped = keyring.rewrap(wrapped, VERSION_A)
    keyring.retire(old_id)

    with pytest.raises(RetiredKeyError):
        keyring.open_data_key(wrapped, VERSION_A)
    keyring.open_data_key(rewrapped, VERSION_A)
    stored = json.loads(path.read_text())["keks"]
    assert stored[0] == {"id": old_id, "state": "retired"}
    with pytest.raises(RetiredKeyError):
        Keyring.load(path).open_data_key(wrapped, VERSION_A)


def test_changes_by_another_process_are_kept_and_seen(keyring: Keyring, path: Path) -> None:
    other = Keyring.load(path)
    rotated_elsewhere = other.rotate()
    wrapped_elsewhere, aead = other.new_data_key(VERSION_A)
    _round_trip(aead, keyring.open_data_key(wrapped_elsewhere, VERSION_A))  # reloads once
    rotated_here = keyring.rotate()
    ids = [info.kek_id for info in Keyring.load(path).keks()]
    assert ids[1:] == [rotated_elsewhere, rotated_here]


def test_service_signer_signs_receipts(keyring: Keyring) -> None:
    signer = keyring.service_signer
    receipt = sign_document({"dataset": "q3-sales", "version": 1}, signer)
    assert verify_document(receipt, signer.public_key)["version"] == 1
    assert signer.public_key_bytes != keyring.token_signing_key.public_key.public_bytes_raw()


def test_token_signing_key_works_with_pyjwt(keyring: Keyring) -> None:
    key = keyring.token_signing_key
    claims = {"iss": "escrow", "aud": "partner-escrow", "sub": "svc-1", "jti": "j1"}
    token = jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})
    assert jwt.get_unverified_header(token)["kid"] == key.kid
    jwk = key.public_jwk()
    assert {k: jwk[k] for k in ("kty", "crv", "alg", "use", "kid")} == {
        "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": key.kid,
    }  # fmt: skip
    public = jwt.PyJWK(jwk).key
    decoded = jwt.decode(token, public, algorithms=["EdDSA"], audience="partner-escrow")
    assert decoded["sub"] == "svc-1"


def test_keyed_digest_is_a_stable_keyed_hmac(keyring: Keyring, tmp_path: Path) -> None:
    digest = keyring.keyed_digest(b"event-1")
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert keyring.keyed_digest(b"event-1") == digest
    assert keyring.keyed_digest(b"event-2") != digest
    assert Keyring.create(tmp_path / "other.json").keyed_digest(b"event-1") != digest


def test_nothing_secret_in_reprs(keyring: Keyring, path: Path) -> None:
    secrets = json.loads(path.read_text())
    objects = [keyring, keyring.service_signer, keyring.token_signing_key, DataKey.generate()]
    text = " ".join(repr(item) for item in [*objects, keyring.new_data_key(VERSION_A)[1]])
    for value in (secrets["keks"][0]["key"], secrets["receipt_signing_keys"][0]["key"]):
        assert value not in text
    assert str(path) in repr(keyring)


def test_keyring_file_never_exists_with_wider_permissions(path: Path) -> None:
    previous = os.umask(0)
    try:
        Keyring.create(path)
    finally:
        os.umask(previous)
    assert _mode(path) == 0o600
