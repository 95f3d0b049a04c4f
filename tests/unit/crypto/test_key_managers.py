"""The KeyManager contract, run against both managers: the keyring file and a PKCS#11 token.

Each test gets a manager and a way to open a second one on the same keys, as another process
(another replica, or ``escrow keys`` on the server host) would.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from crypto import (
    IntegrityError,
    KekInfo,
    KeyManager,
    Keyring,
    KeyringError,
    RetiredKeyError,
    SigningKeyKind,
    StreamingAead,
    UnknownKeyError,
    WrappedDataKey,
    verify_document,
)
from crypto.signing import sign_document
from tests.fixtures.softhsm import SoftHsmToken

VERSION_A = b"dataset-version-a"
VERSION_B = b"dataset-version-b"

OpenAnother = Callable[[], KeyManager]


@pytest.fixture(params=["keyring", "pkcs11"])
def managers(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[KeyManager, OpenAnother]]:
    opened: list[KeyManager] = []
    if request.param == "keyring":
        path = tmp_path / "keyring.json"
        Keyring.create(path)

        def open_another() -> KeyManager:
            opened.append(Keyring.load(path))
            return opened[-1]

    else:
        token: SoftHsmToken = request.getfixturevalue("softhsm_token")

        def open_another() -> KeyManager:
            opened.append(token.open_manager())
            return opened[-1]

    try:
        yield open_another(), open_another
    finally:
        for manager in opened:
            close = getattr(manager, "close", None)
            if close is not None:
                close()


@pytest.fixture
def manager(managers: tuple[KeyManager, OpenAnother]) -> KeyManager:
    return managers[0]


@pytest.fixture
def open_another(managers: tuple[KeyManager, OpenAnother]) -> OpenAnother:
    return managers[1]


def _states(manager: KeyManager) -> dict[str, str]:
    return {info.kek_id: info.state for info in manager.keks()}


def _round_trip(writer: StreamingAead, reader: StreamingAead) -> None:
    ciphertext = writer.encrypt(b"escrowed rows", VERSION_A)
    assert reader.decrypt(ciphertext, VERSION_A) == b"escrowed rows"


def test_starts_with_exactly_one_active_kek(manager: KeyManager) -> None:
    assert re.fullmatch(r"kek-[0-9a-f]{8}", manager.active_kek_id)
    assert manager.keks() == [KekInfo(manager.active_kek_id, "active")]


def test_data_keys_round_trip(manager: KeyManager) -> None:
    wrapped, writer = manager.new_data_key(VERSION_A)
    assert wrapped.kek_id == manager.active_kek_id
    stored = WrappedDataKey.parse(wrapped.to_text())  # as a database row holds it
    _round_trip(writer, manager.open_data_key(stored, VERSION_A))


def test_every_data_key_is_new(manager: KeyManager) -> None:
    first, _ = manager.new_data_key(VERSION_A)
    second, _ = manager.new_data_key(VERSION_A)
    assert first.sealed != second.sealed
    assert first.sealed[:12] != second.sealed[:12]  # a fresh nonce each time


def test_wrong_associated_data_fails_closed(manager: KeyManager) -> None:
    wrapped, _ = manager.new_data_key(VERSION_A)
    with pytest.raises(IntegrityError, match=wrapped.kek_id):
        manager.open_data_key(wrapped, VERSION_B)


@pytest.mark.parametrize(
    "index", [0, 11, 12, 43, 59], ids=["nonce", "nonce-end", "key", "key-end", "tag"]
)
def test_tampered_wrapped_key_fails_closed(manager: KeyManager, index: int) -> None:
    wrapped, _ = manager.new_data_key(VERSION_A)
    flipped = bytearray(wrapped.sealed)
    flipped[index] ^= 0x01
    with pytest.raises(IntegrityError):
        manager.open_data_key(WrappedDataKey(wrapped.kek_id, bytes(flipped)), VERSION_A)


def test_unknown_kek_id_is_an_error(manager: KeyManager) -> None:
    wrapped, _ = manager.new_data_key(VERSION_A)
    unknown = "kek-00000000" if manager.active_kek_id != "kek-00000000" else "kek-00000001"
    with pytest.raises(UnknownKeyError, match=unknown):
        manager.open_data_key(WrappedDataKey(unknown, wrapped.sealed), VERSION_A)
    with pytest.raises(UnknownKeyError):
        manager.promote(unknown)
    with pytest.raises(UnknownKeyError):
        manager.retire(unknown)


def test_staged_kek_unwraps_but_does_not_wrap(
    manager: KeyManager, open_another: OpenAnother
) -> None:
    active = manager.active_kek_id
    staged = manager.stage()
    assert _states(manager) == {active: "active", staged: "staged"}
    wrapped, _ = manager.new_data_key(VERSION_A)
    assert wrapped.kek_id == active  # staging changes nothing for writers
    # Another process promotes the staged KEK and wraps under it; this one, which still holds
    # it as staged, opens the result.
    other = open_another()
    other.promote(staged)
    wrapped_later, writer = other.new_data_key(VERSION_A)
    assert wrapped_later.kek_id == staged
    assert _states(manager)[staged] == "staged"
    _round_trip(writer, manager.open_data_key(wrapped_later, VERSION_A))


def test_promote_makes_the_staged_kek_active(manager: KeyManager) -> None:
    old = manager.active_kek_id
    before, writer = manager.new_data_key(VERSION_A)
    staged = manager.stage()
    manager.promote(staged)
    assert manager.active_kek_id == staged
    assert _states(manager) == {old: "decrypt-only", staged: "active"}
    after, _ = manager.new_data_key(VERSION_A)
    assert after.kek_id == staged
    _round_trip(writer, manager.open_data_key(before, VERSION_A))  # old DEKs still open
    manager.promote(staged)  # promoting the active KEK changes nothing
    assert _states(manager) == {old: "decrypt-only", staged: "active"}
    manager.promote(old)  # a decrypt-only KEK may become active again (a roll-back)
    assert _states(manager) == {old: "active", staged: "decrypt-only"}


def test_rewrap_moves_a_data_key_to_the_active_kek(manager: KeyManager) -> None:
    wrapped, writer = manager.new_data_key(VERSION_A)
    ciphertext = writer.encrypt(b"escrowed rows", VERSION_A)
    new_kek = manager.rotate()
    assert manager.active_kek_id == new_kek
    rewrapped = manager.rewrap(wrapped, VERSION_A)
    assert rewrapped.kek_id == new_kek
    reader = manager.open_data_key(rewrapped, VERSION_A)
    assert reader.decrypt(ciphertext, VERSION_A) == b"escrowed rows"  # same DEK, data untouched
    assert manager.rewrap(rewrapped, VERSION_A) == rewrapped  # already under the active KEK
    with pytest.raises(IntegrityError):
        manager.rewrap(wrapped, VERSION_B)


def test_retire_makes_its_data_keys_unrecoverable(manager: KeyManager) -> None:
    old = manager.active_kek_id
    wrapped, _ = manager.new_data_key(VERSION_A)
    with pytest.raises(KeyringError, match="active"):
        manager.retire(old)
    new_kek = manager.rotate()
    manager.retire(old)
    assert _states(manager) == {old: "retired", new_kek: "active"}
    with pytest.raises(RetiredKeyError):
        manager.open_data_key(wrapped, VERSION_A)
    with pytest.raises(RetiredKeyError):
        manager.rewrap(wrapped, VERSION_A)
    with pytest.raises(RetiredKeyError):
        manager.promote(old)


def test_another_process_sees_changes_without_restarting(
    manager: KeyManager, open_another: OpenAnother
) -> None:
    other = open_another()  # opened before the change, like a running replica
    staged = manager.stage()
    manager.promote(staged)
    wrapped, writer = manager.new_data_key(VERSION_A)
    # An unknown KEK id makes the other process look again, without a reload.
    _round_trip(writer, other.open_data_key(wrapped, VERSION_A))
    other.reload()
    assert other.active_kek_id == staged
    assert _states(other) == _states(manager)


def test_retire_by_another_process_is_seen(manager: KeyManager, open_another: OpenAnother) -> None:
    old = manager.active_kek_id
    wrapped, _ = manager.new_data_key(VERSION_A)
    other = open_another()
    other.rotate()
    other.retire(old)
    manager.reload()
    with pytest.raises(RetiredKeyError):
        manager.open_data_key(wrapped, VERSION_A)


def test_signers_and_keyed_digest(manager: KeyManager, open_another: OpenAnother) -> None:
    other = open_another()
    document = sign_document({"kind": "receipt"}, manager.service_signer)
    assert verify_document(document, other.service_signer.public_key)["kind"] == "receipt"
    assert manager.token_signing_key.kid == other.token_signing_key.kid
    assert manager.keyed_digest(b"x") == other.keyed_digest(b"x") != manager.keyed_digest(b"y")
    assert re.fullmatch(r"[0-9a-f]{64}", manager.keyed_digest(b"x"))


@pytest.mark.parametrize("kind", ["receipt", "token"])
def test_signing_keys_rotate_and_another_process_sees_it(
    manager: KeyManager, open_another: OpenAnother, kind: SigningKeyKind
) -> None:
    at = datetime(2026, 12, 6, tzinfo=UTC)
    first = manager.signing_keys(kind)[0].key_id
    staged = manager.stage_signing_key(kind, at=at)
    manager.promote_signing_key(kind, staged, at=at)
    other = open_another()
    assert {k.key_id: k.state for k in other.signing_keys(kind)} == {
        first: "verify-only",
        staged: "active",
    }
    active = manager.service_signer.key_id if kind == "receipt" else manager.token_signing_key.kid
    assert active == staged
    manager.retire_signing_key(kind, first, at=at)
    assert (first in other.verification_keys(kind)) is (kind == "receipt")
