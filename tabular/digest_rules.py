"""The limits of content digests (``tabular.digests``) and the reasons they give up with."""

from __future__ import annotations

from typing import Final, Protocol

__all__ = [
    "COLUMN_NAME_TOO_LONG",
    "DUPLICATE_COLUMNS",
    "MAX_COLUMNS",
    "MAX_COLUMN_NAME_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_RECORD_BYTES",
    "NOT_UTF8",
    "RECORD_TOO_LARGE",
    "SLICE_BYTES",
    "TOO_MANY_COLUMNS",
    "GiveUp",
    "Hasher",
    "check_column_names",
]

MAX_RECORD_BYTES: Final = 16 << 20
MAX_JSON_DEPTH: Final = 100
# The digest rides in every receipt: it must stay small whatever the body holds.
MAX_COLUMNS: Final = 4096
MAX_COLUMN_NAME_BYTES: Final = 1024

NOT_UTF8: Final = "not utf-8"
RECORD_TOO_LARGE: Final = "record too large"
DUPLICATE_COLUMNS: Final = "duplicate column names"
TOO_MANY_COLUMNS: Final = "too many columns"
COLUMN_NAME_TOO_LONG: Final = "column name too long"
# Chunks are cut to this size: parsing blocks that stay in cache measured faster than 1 MiB
# blocks, and it bounds the rows held at once.
SLICE_BYTES: Final = 64 << 10


class Hasher(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def copy(self) -> Hasher: ...
    def hexdigest(self) -> str: ...


class GiveUp(Exception):
    """The digest cannot be computed; ``reason`` goes into the result."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_column_names(names: list[str], known: int = 0) -> None:
    """Gives up past MAX_COLUMNS columns (``known`` of them already) or on a name too long."""
    if known + len(names) > MAX_COLUMNS:
        raise GiveUp(TOO_MANY_COLUMNS)
    if any(len(name.encode()) > MAX_COLUMN_NAME_BYTES for name in names):
        raise GiveUp(COLUMN_NAME_TOO_LONG)
