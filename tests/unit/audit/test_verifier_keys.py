"""Reading published verifier keys offline, and opening checkpoints signed across rotations."""

from __future__ import annotations

import json
from typing import Any

import pytest

from crypto import Checkpoint, FormatError, ServiceSigner, sign_note
from escrow.audit.bundle import BundleError, open_checkpoint
from escrow.audit.verifier_keys import PUBLIC_KEYS_FORMAT, read_verifier_keys

ORIGIN = "partner-escrow.dev/audit/test"
OLD, NEW = ServiceSigner.generate(), ServiceSigner.generate()


def _document(*signers: ServiceSigner, origin: str = ORIGIN) -> dict[str, Any]:
    return {
        "format": PUBLIC_KEYS_FORMAT,
        "origin": origin,
        "keys": [
            {
                "key_id": signer.key_id,
                "state": "active",
                "algorithm": "Ed25519",
                "verifier_key": signer.verifier(origin).key_string(),
                "public_key_pem": signer.public_key_pem(),
                "valid_from": None,
                "valid_until": None,
            }
            for signer in signers
        ],
    }


def _note(signer: ServiceSigner, size: int = 3, origin: str = ORIGIN) -> str:
    return sign_note(Checkpoint(origin, size, bytes(32)).to_text(), origin, signer)


def test_a_document_gives_every_key_for_receipts_and_checkpoints() -> None:
    keys = read_verifier_keys(json.dumps(_document(OLD, NEW)))
    assert keys.public_keys == [OLD.public_key, NEW.public_key]
    assert [v.key_string() for v in keys.note_verifiers] == [
        OLD.verifier(ORIGIN).key_string(),
        NEW.verifier(ORIGIN).key_string(),
    ]
    for note in (_note(OLD), _note(NEW)):
        assert open_checkpoint(note, keys.note_verifiers).size == 3


def test_a_single_key_still_works() -> None:
    single = read_verifier_keys(OLD.verifier(ORIGIN).key_string() + "\n")
    assert single.public_keys == [OLD.public_key] and len(single.note_verifiers) == 1
    pem = read_verifier_keys(OLD.public_key_pem())
    assert pem.public_keys == [OLD.public_key] and pem.note_verifiers == []


def _tampered(change: Any) -> str:
    document = _document(OLD, NEW)
    change(document)
    return json.dumps(document)


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        _tampered(lambda d: d.update(format="something-else")),
        _tampered(lambda d: d.update(keys=[])),
        _tampered(lambda d: d["keys"][0].pop("verifier_key")),
        _tampered(lambda d: d["keys"][0].update(key_id=NEW.key_id)),  # names another key
        _tampered(lambda d: d["keys"][1].update(public_key_pem=OLD.public_key_pem())),
        _tampered(lambda d: d.update(origin="another.example/log")),
        _tampered(lambda d: d["keys"][0].update(verifier_key="name+00000000+AAAA")),
    ],
)
def test_an_inconsistent_document_is_refused(text: str) -> None:
    with pytest.raises(FormatError):
        read_verifier_keys(text)


def test_a_checkpoint_by_an_unknown_key_or_under_another_origin_is_refused() -> None:
    verifiers = read_verifier_keys(json.dumps(_document(OLD))).note_verifiers
    with pytest.raises(BundleError, match="signature"):
        open_checkpoint(_note(NEW), verifiers)
    other = "another.example/log"
    mixed = [*verifiers, OLD.verifier(other)]
    note = sign_note(Checkpoint(ORIGIN, 3, bytes(32)).to_text(), other, OLD)  # name != origin
    with pytest.raises(BundleError, match="signature"):
        open_checkpoint(note, mixed)
