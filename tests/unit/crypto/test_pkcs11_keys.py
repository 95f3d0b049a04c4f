"""What only the PKCS#11 manager promises: KEKs made in the token and never out of it, their
state kept on the token, and other processes on the token seeing changes at once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pkcs11 import Attribute, KeyType, Mechanism, WrapMixin
from pkcs11 import exceptions as p11

from crypto import Keyring, KeyringError, Pkcs11KeyManager, WrappedDataKey
from crypto.pkcs11_token import TokenSession
from tests.fixtures.softhsm import USER_PIN, SoftHsmToken

VERSION = b"dataset-version-a"


@pytest.fixture
def session(softhsm_token: SoftHsmToken, pkcs11_manager: Pkcs11KeyManager):
    """A session of the test's own on the token, to look at the objects directly."""
    opened = TokenSession(softhsm_token.module, softhsm_token.label, USER_PIN)
    yield opened
    opened.close()


def test_kek_is_generated_in_the_token_and_never_extractable(
    pkcs11_manager: Pkcs11KeyManager, session: TokenSession
) -> None:
    [kek] = session.aes_keys()
    assert kek.key_id == pkcs11_manager.active_kek_id.encode()
    handle = kek.handle
    assert handle[Attribute.TOKEN] is True
    assert handle[Attribute.SENSITIVE] is True
    assert handle[Attribute.ALWAYS_SENSITIVE] is True
    assert handle[Attribute.EXTRACTABLE] is False
    assert handle[Attribute.NEVER_EXTRACTABLE] is True
    assert handle[Attribute.LOCAL] is True  # generated on the token, not imported
    with pytest.raises(p11.AttributeSensitive):
        handle[Attribute.VALUE]
    with pytest.raises(p11.AttributeReadOnly):  # CKA_EXTRACTABLE never goes back to true
        handle[Attribute.EXTRACTABLE] = True


def test_kek_cannot_be_wrapped_out_of_the_token(
    pkcs11_manager: Pkcs11KeyManager, session: TokenSession
) -> None:
    [kek] = session.aes_keys()
    wrapping = session._session.generate_key(KeyType.AES, 256, label="exporter")  # session key
    assert isinstance(wrapping, WrapMixin)
    with pytest.raises((p11.KeyUnextractable, p11.KeyNotWrappable)):
        wrapping.wrap_key(kek.handle, mechanism=Mechanism.AES_KEY_WRAP)


def test_lifecycle_state_is_kept_on_the_token(
    pkcs11_manager: Pkcs11KeyManager, session: TokenSession
) -> None:
    first = pkcs11_manager.active_kek_id
    staged = pkcs11_manager.stage()
    labels = {key.label for key in session.aes_keys()}
    assert labels == {f"{first}:promoted:1", f"{staged}:staged"}
    pkcs11_manager.promote(staged)
    labels = {key.label for key in session.aes_keys()}
    assert labels == {f"{first}:promoted:1", f"{staged}:promoted:2"}
    pkcs11_manager.retire(first)
    assert {key.label for key in session.aes_keys()} == {f"{staged}:promoted:2"}
    assert session.data_labels() == [f"{first}:retired"]


def test_other_keys_on_the_token_are_left_alone(
    softhsm_token: SoftHsmToken, session: TokenSession
) -> None:
    session.generate_aes_key("someone-elses-key", b"other")
    session.generate_aes_key("kek-00000000:promoted:99", b"not-the-label")
    with softhsm_token.open_manager() as manager:
        assert len(manager.keks()) == 1
        assert manager.active_kek_id != "kek-00000000"


def test_first_open_makes_one_active_kek_and_later_opens_reuse_it(
    softhsm_token: SoftHsmToken, pkcs11_manager: Pkcs11KeyManager
) -> None:
    with softhsm_token.open_manager() as again:
        assert again.keks() == pkcs11_manager.keks()
        assert len(again.keks()) == 1


def test_wrapped_key_has_the_keyring_envelope(
    pkcs11_manager: Pkcs11KeyManager, tmp_path: Path
) -> None:
    from_token, _ = pkcs11_manager.new_data_key(VERSION)
    from_file, _ = Keyring.create(tmp_path / "keyring.json").new_data_key(VERSION)
    assert len(from_token.sealed) == len(from_file.sealed) == 12 + 32 + 16
    assert WrappedDataKey.parse(from_token.to_text()) == from_token


def test_a_kek_staged_by_another_process_is_used_without_restarting(
    softhsm_token: SoftHsmToken, pkcs11_manager: Pkcs11KeyManager
) -> None:
    script = """
import sys
from crypto import Keyring, Pkcs11KeyManager
module, label, pin_file, keyring = sys.argv[1:]
with Pkcs11KeyManager.open(module, label, pin_file, Keyring.load(keyring)) as manager:
    manager.promote(manager.stage())
    wrapped, aead = manager.new_data_key(b"dataset-version-a")
    print(wrapped.to_text())
    print(aead.encrypt(b"written elsewhere", b"dataset-version-a").hex())
"""
    before = pkcs11_manager.active_kek_id
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [
            sys.executable, "-c", script, str(softhsm_token.module), softhsm_token.label,
            str(softhsm_token.pin_file), str(softhsm_token.keyring_path),
        ],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **softhsm_token.env},
        timeout=60,
    )  # fmt: skip
    wrapped_text, ciphertext = done.stdout.split()
    wrapped = WrappedDataKey.parse(wrapped_text)
    assert wrapped.kek_id != before
    reader = pkcs11_manager.open_data_key(wrapped, VERSION)  # unknown id: the token is re-read
    assert reader.decrypt(bytes.fromhex(ciphertext), VERSION) == b"written elsewhere"
    assert pkcs11_manager.active_kek_id == wrapped.kek_id


def test_wrong_pin_is_refused(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    pin_file = tmp_path / "wrong-pin"
    pin_file.write_text("not-the-pin\n")
    pin_file.chmod(0o600)
    keyring = Keyring.load_or_create(softhsm_token.keyring_path)
    with pytest.raises(KeyringError, match="refused the PIN"):
        Pkcs11KeyManager.open(softhsm_token.module, softhsm_token.label, pin_file, keyring)


def test_pin_file_others_can_read_is_refused(softhsm_token: SoftHsmToken) -> None:
    softhsm_token.pin_file.chmod(0o644)
    keyring = Keyring.load_or_create(softhsm_token.keyring_path)
    with pytest.raises(KeyringError, match="chmod 600"):
        Pkcs11KeyManager.open(
            softhsm_token.module, softhsm_token.label, softhsm_token.pin_file, keyring
        )


def test_unknown_token_and_module_are_named(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    keyring = Keyring.load_or_create(softhsm_token.keyring_path)
    with pytest.raises(KeyringError, match="no PKCS#11 token labelled 'absent'"):
        Pkcs11KeyManager.open(softhsm_token.module, "absent", softhsm_token.pin_file, keyring)
    with pytest.raises(KeyringError, match="cannot load PKCS#11 module"):
        Pkcs11KeyManager.open(
            tmp_path / "missing.so", softhsm_token.label, softhsm_token.pin_file, keyring
        )


def test_nothing_secret_in_reprs(pkcs11_manager: Pkcs11KeyManager) -> None:
    text = repr(pkcs11_manager)
    assert pkcs11_manager.active_kek_id in text
    assert USER_PIN not in text


def test_a_kek_retired_by_another_process_is_never_used_to_wrap(
    softhsm_token: SoftHsmToken, pkcs11_manager: Pkcs11KeyManager
) -> None:
    old = pkcs11_manager.active_kek_id
    with softhsm_token.open_manager() as other:
        new = other.rotate()
        other.retire(old)
    # This process never reloaded: its key object is gone, so it looks again and wraps under
    # the KEK that is active now.
    wrapped, _ = pkcs11_manager.new_data_key(VERSION)
    assert wrapped.kek_id == new
