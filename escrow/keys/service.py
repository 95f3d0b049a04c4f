"""Key-encryption-key rotation: re-wrap every DEK without touching the encrypted data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto import KeyManager, WrappedDataKey
from escrow.audit.log import AuditLog, AuditRecord
from escrow.context import RequestContext
from escrow.errors import ConflictError
from escrow.sharing import keys as sharing_keys
from escrow.webhooks import secrets as webhook_secrets
from storage.db import Database
from storage.models import DatasetVersion

BATCH = 500


@dataclass(frozen=True)
class Rotation:
    new_kek_id: str
    rewrapped: int


def system_context(action: str) -> RequestContext:
    return RequestContext(request_id=f"{action}-{uuid.uuid4().hex[:12]}")


class KekRotation:
    """Stages, rotates to and retires the keyring's KEKs, each step audited."""

    def __init__(self, db: Database, keyring: KeyManager, audit: AuditLog) -> None:
        self._db = db
        self._keyring = keyring
        self._audit = audit

    def stage(self) -> str:
        """A new KEK every replica can unwrap with before ``rotate(to=...)`` uses it."""
        kek_id = self._keyring.stage()
        with self._db.session() as session:
            self._audit.append(
                session,
                system_context("keys-stage"),
                AuditRecord("keys.stage", "success", "kek", kek_id),
            )
            session.commit()
        return kek_id

    def rotate(self, to: str | None = None) -> Rotation:
        """A new (or the staged ``to``) active KEK, then every DEK re-wrapped in audited batches."""
        if to is None:
            new_kek_id = self._keyring.rotate()
        else:
            self._keyring.promote(to)
            new_kek_id = to
        ctx = system_context("keys-rotate")
        rewrapped = self._rewrap_versions(new_kek_id, ctx)
        for kind, rewrap in SEALED:
            rewrapped += self._rewrap_sealed(new_kek_id, ctx, kind, rewrap)
        with self._db.session() as session:
            self._audit.append(
                session,
                ctx,
                AuditRecord(
                    "keys.rotate", "success", "kek", new_kek_id, details={"rewrapped": rewrapped}
                ),
            )
            session.commit()
        return Rotation(new_kek_id, rewrapped)

    def _rewrap_versions(self, new_kek_id: str, ctx: RequestContext) -> int:
        """Re-wraps the dataset versions' DEKs, a batch per transaction, each batch audited."""
        rewrapped = 0
        while True:
            with self._db.session() as session:
                versions = list(
                    session.scalars(
                        select(DatasetVersion)
                        .where(
                            DatasetVersion.kek_id.is_not(None), DatasetVersion.kek_id != new_kek_id
                        )
                        .order_by(DatasetVersion.id)
                        .limit(BATCH)
                        .with_for_update()
                    )
                )
                if not versions:
                    return rewrapped
                for version in versions:
                    wrapped = self._keyring.rewrap(
                        WrappedDataKey.parse(version.wrapped_dek or ""), version.id.encode()
                    )
                    version.wrapped_dek, version.kek_id = wrapped.to_text(), wrapped.kek_id
                rewrapped += len(versions)
                self._audit.append(
                    session,
                    ctx,
                    AuditRecord(
                        "keys.rewrap",
                        "success",
                        "kek",
                        new_kek_id,
                        details={"versions": len(versions)},
                    ),
                )
                session.commit()

    def _rewrap_sealed(
        self,
        new_kek_id: str,
        ctx: RequestContext,
        kind: str,
        rewrap: Callable[[Session, KeyManager, str, int], int],
    ) -> int:
        """Re-wraps one kind of sealed secret, a batch per transaction, each batch audited."""
        rewrapped = 0
        while True:
            with self._db.session() as session:
                count = rewrap(session, self._keyring, new_kek_id, BATCH)
                if not count:
                    return rewrapped
                rewrapped += count
                self._audit.append(
                    session,
                    ctx,
                    AuditRecord("keys.rewrap", "success", "kek", new_kek_id, details={kind: count}),
                )
                session.commit()

    def retire(self, kek_id: str) -> None:
        """Erases a KEK; refuses while any DEK is still wrapped under it (it would be lost)."""
        in_use = kek_usage(self._db).get(kek_id, 0)
        if in_use:
            raise ConflictError(f"{in_use} versions are still wrapped under {kek_id}: rotate first")
        with self._db.session() as session:
            sealed = webhook_secrets.kek_usage(session).get(kek_id, 0)
        if sealed:
            raise ConflictError(
                f"{sealed} webhook secrets are still wrapped under {kek_id}: rotate first"
            )
        with self._db.session() as session:
            shared = sharing_keys.kek_usage(session).get(kek_id, 0)
        if shared:
            raise ConflictError(
                f"{shared} sharing files are still wrapped under {kek_id}: rotate first"
            )
        self._keyring.retire(kek_id)
        with self._db.session() as session:
            self._audit.append(
                session,
                system_context("keys-retire"),
                AuditRecord("keys.retire", "success", "kek", kek_id),
            )
            session.commit()


# Secrets sealed under DEKs of their own (webhook signing secrets, Delta Sharing's
# materialized Parquet files), each re-wrapped in batches by its module's ``rewrap``.
SEALED: tuple[tuple[str, Callable[[Session, KeyManager, str, int], int]], ...] = (
    ("webhook_secrets", webhook_secrets.rewrap),
    ("sharing_files", sharing_keys.rewrap),
)


def kek_usage(db: Database) -> dict[str, int]:
    """How many dataset versions each KEK wraps the DEK of."""
    with db.session() as session:
        rows = session.execute(
            select(DatasetVersion.kek_id, func.count())
            .where(DatasetVersion.kek_id.is_not(None))
            .group_by(DatasetVersion.kek_id)
        ).all()
    return {str(kek_id): int(count) for kek_id, count in rows}
