"""Blob keys: '/'-separated relative names such as ``datasets/<uuid>/v1.bin``.

Every store validates keys before touching its backend, so one rule set keeps them
interchangeable: a key valid for one store is valid for all, and no key can name a path
outside a local root or collide with a store's own bookkeeping (dot-segments are reserved).
"""

from __future__ import annotations

__all__ = ["MAX_KEY_BYTES", "MAX_SEGMENT_BYTES", "validate_key", "validate_prefix"]

from storage.blobs.errors import InvalidBlobKeyError

MAX_KEY_BYTES = 1024  # the S3 limit on object names
MAX_SEGMENT_BYTES = 255  # the usual file-name limit (ext4, xfs, APFS)


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe relative name, else raise InvalidBlobKeyError.

    Fails closed: rejects empty keys and segments, absolute names, backslashes, control
    characters (NUL included), and segments starting with '.' (so '.' and '..' too).
    """
    if not isinstance(key, str):  # callers are typed, but keys may come from parsed input
        raise InvalidBlobKeyError(repr(key), "not a string")
    if not key:
        raise InvalidBlobKeyError(key, "empty")
    if key.startswith("/"):
        raise InvalidBlobKeyError(key, "absolute")
    if "\\" in key:
        raise InvalidBlobKeyError(key, "contains a backslash")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        raise InvalidBlobKeyError(key, "contains a control character")
    try:
        encoded = key.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates cannot be stored under any backend
        raise InvalidBlobKeyError(key, "not encodable as UTF-8") from None
    if len(encoded) > MAX_KEY_BYTES:
        raise InvalidBlobKeyError(key, f"longer than {MAX_KEY_BYTES} bytes")
    for segment in key.split("/"):
        if not segment:
            raise InvalidBlobKeyError(key, "empty segment")
        if segment.startswith("."):
            raise InvalidBlobKeyError(key, "segment starts with '.'")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidBlobKeyError(key, f"segment longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_prefix(prefix: str) -> str:
    """Return ``prefix`` if some valid key could start with it, else raise InvalidBlobKeyError.

    A prefix is a plain string prefix (``datasets/ab`` matches ``datasets/abc/v1.bin``);
    the empty prefix matches every key. It may end with '/'.
    """
    if prefix == "":
        return prefix
    validate_key(prefix.removesuffix("/"))
    return prefix
