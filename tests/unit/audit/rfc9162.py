"""An independent RFC 9162 verifier, written from the RFC's text (sections 2.1.1, 2.1.3.2 and
2.1.4.2) and deliberately sharing no code with ``crypto.merkle``: the tests check the service's
trees and proofs against it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaf hashes (2.1.1), by its recursive definition."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _node(mth(leaves[:k]), mth(leaves[k:]))


def inclusion_ok(
    index: int, size: int, leaf_hash: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """2.1.3.2: verifying an inclusion proof."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = _node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_ok(
    first: int, second: int, path: Sequence[bytes], first_hash: bytes, second_hash: bytes
) -> bool:
    """2.1.4.2: verifying a consistency proof (first < second)."""
    if not path:
        return False
    path = list(path)
    if first & (first - 1) == 0:
        path.insert(0, first_hash)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = _node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0
