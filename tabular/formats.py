"""Which media types are tables, and in which format."""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

__all__ = ["MEDIA_TYPE_OF", "TableFormat", "table_format"]

TableFormat: TypeAlias = Literal["csv", "jsonl", "parquet"]

_FORMATS: Final[dict[str, TableFormat]] = {
    "text/csv": "csv",
    "application/x-ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/json-lines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
}
MEDIA_TYPE_OF: Final[dict[TableFormat, str]] = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


def table_format(media_type: str) -> TableFormat | None:
    """The table format of a media type (parameters ignored): csv, jsonl, parquet or None."""
    return _FORMATS.get(media_type.split(";", 1)[0].strip().lower())
