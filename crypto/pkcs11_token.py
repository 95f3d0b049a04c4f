"""One logged-in session on a PKCS#11 token, narrowed to what the KEK manager asks of it.

python-pkcs11 does the C calls; this module keeps its objects and exceptions inside: callers
see ``TokenKey`` values and ``KeyringError``s. Secret keys are generated in the token as
``CKA_TOKEN``, ``CKA_PRIVATE``, ``CKA_SENSITIVE`` and not ``CKA_EXTRACTABLE`` AES keys that
may only encrypt and decrypt: their value never crosses the PKCS#11 interface.

``C_Initialize`` is process-wide, so each module path is loaded once per process and finalized
when the last token that uses it closes (a later open reads the module's configuration anew).
One session serves every thread of a process: PKCS#11 allows one operation at a time per
session, so calls take a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

import pkcs11
from pkcs11 import Attribute, DecryptMixin, EncryptMixin, KeyType, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.mechanisms import GCMParams, Mechanism

if TYPE_CHECKING:
    from pkcs11._pkcs11 import lib as Library

from crypto.errors import IntegrityError, KeyringError, UnknownKeyError

__all__ = ["StaleKeyError", "TokenKey", "TokenSession"]

_AES_BITS: Final = 256
_TAG_BITS: Final = 128
# Object data (CKO_DATA) this package writes is marked with this CKA_APPLICATION.
_APPLICATION: Final = "partner-escrow"
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class TokenKey:
    """An AES key object on the token: its label and id, and a handle only this module uses."""

    label: str
    key_id: bytes
    handle: pkcs11.SecretKey


class StaleKeyError(UnknownKeyError):
    """A key object this process knew is gone from the token (destroyed by another process)."""


class _Modules:
    """PKCS#11 modules loaded in this process, each with the number of sessions using it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loaded: dict[str, tuple[Library, int]] = {}

    def acquire(self, module: Path) -> Library:
        key = str(module)
        with self._lock:
            library, users = self._loaded.get(key) or (None, 0)
            if library is None:
                try:
                    library = pkcs11.lib(key)
                except p11.PKCS11Error as error:
                    raise KeyringError(f"cannot load PKCS#11 module {key}: {error}") from None
            self._loaded[key] = (library, users + 1)
            return library

    def release(self, module: Path) -> None:
        key = str(module)
        with self._lock:
            library, users = self._loaded[key]
            if users > 1:
                self._loaded[key] = (library, users - 1)
                return
            del self._loaded[key]
            library.finalize()


_MODULES: Final = _Modules()


def _gcm(key: TokenKey, encrypt: bool, data: bytes, params: GCMParams) -> bytes:
    """One AES-GCM operation with the key object (python-pkcs11 types it only as SecretKey)."""
    handle, gcm = key.handle, Mechanism.AES_GCM
    if encrypt and isinstance(handle, EncryptMixin):
        result = handle.encrypt(data, mechanism=gcm, mechanism_param=params)
    elif not encrypt and isinstance(handle, DecryptMixin):
        result = handle.decrypt(data, mechanism=gcm, mechanism_param=params)
    else:
        raise KeyringError(f"key object {key.label!r} cannot encrypt and decrypt")
    if not isinstance(result, bytes):  # an iterator only when handed an iterable of chunks
        raise KeyringError("the PKCS#11 module answered with chunks for one buffer")
    return result


@contextmanager
def _refusals(action: str) -> Iterator[None]:
    """Turns the token's refusals into KeyringError, naming the PKCS#11 return code."""
    try:
        yield
    except (p11.KeyHandleInvalid, p11.ObjectHandleInvalid):
        raise StaleKeyError(f"cannot {action}: the key object is gone from the token") from None
    except p11.PKCS11Error as error:
        raise KeyringError(f"the PKCS#11 token refused to {action}: {_code(error)}") from None


def _code(error: p11.PKCS11Error) -> str:
    detail = str(error)
    return f"{type(error).__name__} ({detail})" if detail else type(error).__name__


class TokenSession:
    """A read-write session logged in as the user; ``close`` it when done."""

    __slots__ = ("_label", "_lock", "_module", "_session")

    def __init__(self, module: Path, token_label: str, pin: str) -> None:
        self._module = module
        self._label = token_label
        self._lock = threading.Lock()
        library = _MODULES.acquire(module)
        try:
            token = library.get_token(token_label=token_label)
            try:
                self._session = token.open(rw=True, user_pin=pin)
            except p11.UserAlreadyLoggedIn:  # PKCS#11 logins are per process, not per session
                self._session = token.open(rw=True)
        except p11.NoSuchToken:
            _MODULES.release(module)
            raise KeyringError(f"no PKCS#11 token labelled {token_label!r} in {module}") from None
        except (p11.PinIncorrect, p11.PinInvalid, p11.PinLenRange, p11.PinLocked) as error:
            _MODULES.release(module)
            raise KeyringError(
                f"token {token_label!r} refused the PIN: {type(error).__name__}"
            ) from None
        except p11.PKCS11Error as error:
            _MODULES.release(module)
            raise KeyringError(f"cannot open token {token_label!r}: {_code(error)}") from None

    def __repr__(self) -> str:
        return f"TokenSession({str(self._module)!r}, token={self._label!r})"

    @property
    def token_label(self) -> str:
        return self._label

    def close(self) -> None:
        with self._lock:
            try:
                self._session.close()
            finally:
                _MODULES.release(self._module)

    def aes_keys(self) -> list[TokenKey]:
        """Every AES secret key object this session can see."""

        def find(session: pkcs11.Session) -> list[TokenKey]:
            found = session.get_objects(
                {Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.KEY_TYPE: KeyType.AES}
            )
            return [
                TokenKey(str(key[Attribute.LABEL]), bytes(key[Attribute.ID]), key)
                for key in found
                if isinstance(key, pkcs11.SecretKey)
            ]

        return self._call("list its keys", find)

    def generate_aes_key(self, label: str, key_id: bytes) -> TokenKey:
        """A new AES-256 key, made in the token and kept there: never extractable."""

        def generate(session: pkcs11.Session) -> pkcs11.SecretKey:
            return session.generate_key(
                KeyType.AES,
                _AES_BITS,
                id=key_id,
                label=label,
                store=True,
                capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
                template={
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.MODIFIABLE: True,  # the label carries the lifecycle state
                },
            )

        return TokenKey(label, key_id, self._call("generate a key", generate))

    def relabel(self, key: TokenKey, label: str) -> TokenKey:
        def change(_session: pkcs11.Session) -> None:
            key.handle[Attribute.LABEL] = label

        self._call("relabel a key", change)
        return TokenKey(label, key.key_id, key.handle)

    def destroy(self, key: TokenKey) -> None:
        self._call("destroy a key", lambda _session: key.handle.destroy())

    def data_labels(self) -> list[str]:
        """Labels of the data objects this package wrote (CKA_APPLICATION partner-escrow)."""

        def find(session: pkcs11.Session) -> list[str]:
            found = session.get_objects(
                {Attribute.CLASS: ObjectClass.DATA, Attribute.APPLICATION: _APPLICATION}
            )
            return [str(item[Attribute.LABEL]) for item in found]

        return self._call("list its data objects", find)

    def add_data_label(self, label: str) -> None:
        """A private, empty data object on the token that carries only its label."""

        def create(session: pkcs11.Session) -> None:
            session.create_object(
                {
                    Attribute.CLASS: ObjectClass.DATA,
                    Attribute.TOKEN: True,
                    Attribute.PRIVATE: True,
                    Attribute.APPLICATION: _APPLICATION,
                    Attribute.LABEL: label,
                    Attribute.VALUE: b"",
                }
            )

        self._call("store a data object", create)

    def seal(self, key: TokenKey, nonce: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
        """AES-GCM in the token: ``ciphertext || 16-byte tag``; the caller picks a random nonce."""
        params = GCMParams(nonce, associated_data, _TAG_BITS)
        return self._call(
            "encrypt",
            lambda _session: _gcm(key, True, plaintext, params),
        )

    def unseal(self, key: TokenKey, nonce: bytes, sealed: bytes, associated_data: bytes) -> bytes:
        """Fails closed: IntegrityError unless the tag verifies for this associated data."""
        params = GCMParams(nonce, associated_data, _TAG_BITS)

        def decrypt(_session: pkcs11.Session) -> bytes:
            try:
                return _gcm(key, False, sealed, params)
            # A failed tag is CKR_ENCRYPTED_DATA_INVALID in the standard; SoftHSM2 answers
            # CKR_GENERAL_ERROR. Either way nothing from the operation is used.
            except (p11.EncryptedDataInvalid, p11.EncryptedDataLenRange, p11.GeneralError):
                raise IntegrityError("authentication failed in the token") from None

        return self._call("decrypt", decrypt)

    def _call(self, action: str, operation: Callable[[pkcs11.Session], _T]) -> _T:
        with self._lock, _refusals(action):
            return operation(self._session)
