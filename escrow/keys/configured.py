"""The key manager the settings name, built in this one place for the server and the CLI."""

from __future__ import annotations

from crypto import KeyManager, Keyring, Pkcs11KeyManager
from escrow.settings import Settings


def open_key_manager(settings: Settings) -> KeyManager:
    """The keyring file (created on first start), or a PKCS#11 token holding the KEKs with
    the signing and MAC keys from that file; raises crypto's KeyringError naming what failed."""
    settings.keyring_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    keyring = Keyring.load_or_create(settings.keyring_path)
    token = settings.key_manager.pkcs11
    if token is None:
        return keyring
    return Pkcs11KeyManager.open(token.module, token.token_label, token.pin_file, keyring)


def close_key_manager(keys: KeyManager) -> None:
    """Logs out of the token, if any (the keyring file holds nothing open)."""
    if isinstance(keys, Pkcs11KeyManager):
        keys.close()
