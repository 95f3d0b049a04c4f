"""The protocol's response actions in parquet format: one JSON object per NDJSON line."""

from __future__ import annotations

from typing import Any

from escrow.sharing.protocol import FileLink
from escrow.sharing.results import Snapshot


def protocol_line() -> dict[str, Any]:
    return {"protocol": {"minReaderVersion": 1}}


def metadata_line(snapshot: Snapshot, as_of: bool) -> dict[str, Any]:
    """``as_of``: the query named a version, so the metadata says which."""
    meta: dict[str, Any] = {
        "id": snapshot.table.id,
        "name": snapshot.table.name,
        "format": {"provider": "parquet"},
        "schemaString": snapshot.file.schema_string,
        "partitionColumns": [],
        "configuration": {},
        "size": snapshot.file.size,
        "numFiles": 1,
    }
    if snapshot.description:
        meta["description"] = snapshot.description
    if as_of:
        meta["version"] = snapshot.version
    return {"metaData": meta}


def file_line(snapshot: Snapshot, link: FileLink, as_of: bool) -> dict[str, Any]:
    file: dict[str, Any] = {
        "url": link.url,
        "id": snapshot.file.id,
        "partitionValues": {},
        "size": snapshot.file.size,
        "stats": snapshot.file.stats,
        "expirationTimestamp": link.expires_ms,
    }
    if as_of:
        file["version"] = snapshot.version
        file["timestamp"] = int(snapshot.deposited_at.timestamp() * 1000)
    return {"file": file}
