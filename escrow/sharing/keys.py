"""Materialized sharing files under key rotation: their DEKs are re-wrapped like any other."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto import KeyManager, WrappedDataKey
from storage.models import SharingFile


def rewrap(session: Session, keyring: KeyManager, new_kek_id: str, limit: int) -> int:
    """Re-wraps up to ``limit`` files' DEKs under ``new_kek_id``; returns how many."""
    rows = list(
        session.scalars(
            select(SharingFile)
            .where(SharingFile.kek_id != new_kek_id)
            .order_by(SharingFile.id)
            .limit(limit)
            .with_for_update()
        )
    )
    for row in rows:
        wrapped = keyring.rewrap(WrappedDataKey.parse(row.wrapped_dek), row.id.encode())
        row.wrapped_dek, row.kek_id = wrapped.to_text(), wrapped.kek_id
    return len(rows)


def kek_usage(session: Session) -> dict[str, int]:
    """KEK id -> how many sharing files are wrapped under it."""
    rows = session.execute(
        select(SharingFile.kek_id, func.count()).group_by(SharingFile.kek_id)
    ).all()
    return {str(kek_id): int(count) for kek_id, count in rows}
