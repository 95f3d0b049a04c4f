"""Blob key and prefix validation."""

from __future__ import annotations

import pytest

from storage.blobs import InvalidBlobKeyError, validate_key
from storage.blobs.keys import validate_prefix


@pytest.mark.parametrize(
    "key",
    [
        "k",
        "datasets/0b7e4c1e-8f7a-4c52-9a41-1f0e2b3c4d5e/v1.bin",
        "a/b.c/d-e_f",
        "ü/名前",
        "x" * 255,
    ],
)
def test_relative_names_are_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "empty"),
        ("/abs", "absolute"),
        ("a\\b", "backslash"),
        ("a\x00b", "control character"),
        ("a\x7fb", "control character"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("..", "starts with '.'"),
        ("a/../b", "starts with '.'"),
        ("./a", "starts with '.'"),
        (".tmp/x", "starts with '.'"),
        ("x" * 256, "segment longer"),
        ("/".join(["abcdefg"] * 130), "longer than 1024"),
        ("\udcff", "UTF-8"),
    ],
)
def test_unsafe_names_are_rejected_with_a_reason(key: str, reason: str) -> None:
    with pytest.raises(InvalidBlobKeyError, match=reason) as caught:
        validate_key(key)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("prefix", ["", "datasets/", "datasets/ab", "datasets/ab/"])
def test_prefixes_may_be_partial_or_end_with_a_slash(prefix: str) -> None:
    assert validate_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["/", "../", "a//", "/a"])
def test_unsafe_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        validate_prefix(prefix)
