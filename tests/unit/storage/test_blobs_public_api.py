"""storage.blobs exposes exactly its __all__."""

from __future__ import annotations
import __future__

import types

import storage.blobs


def test_public_names_are_exactly_all() -> None:
    public = {
        name
        for name, value in vars(storage.blobs).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and value is not __future__.annotations
    }
    assert public == set(storage.blobs.__all__)
    assert len(storage.blobs.__all__) == len(set(storage.blobs.__all__))
