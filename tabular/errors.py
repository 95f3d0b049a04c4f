"""Errors of the tabular engine. Messages never carry data (no field values, no row text).

TabularError
├── BadTableError       the bytes are not a table of their format (ragged rows, not
│                       UTF-8, a record over the block limit, duplicate column names...)
├── SchemaMismatchError a table's schema differs from the one it must have
└── ViewError           a view cannot be applied (invalid view, missing granted column)
"""

from __future__ import annotations

__all__ = ["BadTableError", "SchemaMismatchError", "TabularError", "ViewError"]


class TabularError(Exception):
    """Base of every error this package raises on bad input."""


class BadTableError(TabularError):
    """The bytes are not a well-formed table of their format; ``reason`` is stable."""

    def __init__(self, reason: str, detail: str | None = None) -> None:
        super().__init__(detail or reason)
        self.reason = reason


class SchemaMismatchError(TabularError):
    """A table's schema differs from the expected one; ``differences`` name each change."""

    def __init__(self, differences: list[str]) -> None:
        super().__init__("; ".join(differences))
        self.differences = differences


class ViewError(TabularError):
    """The view cannot be applied; the download must be refused or aborted."""
