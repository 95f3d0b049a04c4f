"""Key-encryption-key rotation: re-wrap every DEK without touching the encrypted data."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crypto import KeyManager, WrappedDataKey
from escrow.audit.log import AuditRecord
from escrow.components import Components
from escrow.context import RequestContext
from escrow.errors import ConflictError
from escrow.sharing import keys as sharing_keys
from escrow.webhooks import secrets as webhook_secrets
from storage.models import DatasetVersion

BATCH = 500


@dataclass(frozen=True)
class Rotation:
    new_kek_id: str
    rewrapped: int


def system_context(action: str) -> RequestContext:
    return RequestContext(request_id=f"{action}-{uuid.uuid4().hex[:12]}")


def stage_kek(components: Components) -> str:
    """A new KEK every replica can unwrap with before ``rotate_kek(..., to=...)`` uses it."""
    kek_id = components.keyring.stage()
    with components.db.session() as session:
        components.audit.append(
            session,
            system_context("keys-stage"),
            AuditRecord("keys.stage", "success", "kek", kek_id),
        )
        session.commit()
    return kek_id


def rotate_kek(components: Components, to: str | None = None) -> Rotation:
    """A new (or the staged ``to``) active KEK, then every DEK re-wrapped in audited batches."""
    keyring = components.keyring
    if to is None:
        new_kek_id = keyring.rotate()
    else:
        keyring.promote(to)
        new_kek_id = to
    ctx = system_context("keys-rotate")
    rewrapped = 0
    while True:
        with components.db.session() as session:
            versions = list(
                session.scalars(
                    select(DatasetVersion)
                    .where(DatasetVersion.kek_id.is_not(None), DatasetVersion.kek_id != new_kek_id)
                    .order_by(DatasetVersion.id)
                    .limit(BATCH)
                    .with_for_update()
                )
            )
            if not versions:
                break
            for version in versions:
                wrapped = keyring.rewrap(
                    WrappedDataKey.parse(version.wrapped_dek or ""), version.id.encode()
                )
                version.wrapped_dek, version.kek_id = wrapped.to_text(), wrapped.kek_id
            rewrapped += len(versions)
            components.audit.append(
                session,
                ctx,
                AuditRecord(
                    "keys.rewrap", "success", "kek", new_kek_id, details={"versions": len(versions)}
                ),
            )
            session.commit()
    for kind, rewrap in SEALED:
        rewrapped += _rewrap_sealed(components, new_kek_id, ctx, kind, rewrap)
    with components.db.session() as session:
        components.audit.append(
            session,
            ctx,
            AuditRecord(
                "keys.rotate", "success", "kek", new_kek_id, details={"rewrapped": rewrapped}
            ),
        )
        session.commit()
    return Rotation(new_kek_id, rewrapped)


# Secrets sealed under DEKs of their own (webhook signing secrets, Delta Sharing's
# materialized Parquet files), each re-wrapped in batches by its module's ``rewrap``.
SEALED: tuple[tuple[str, Callable[[Session, KeyManager, str, int], int]], ...] = (
    ("webhook_secrets", webhook_secrets.rewrap),
    ("sharing_files", sharing_keys.rewrap),
)


def _rewrap_sealed(
    components: Components,
    new_kek_id: str,
    ctx: RequestContext,
    kind: str,
    rewrap: Callable[[Session, KeyManager, str, int], int],
) -> int:
    """Re-wraps one kind of sealed secret, a batch per transaction, each batch audited."""
    rewrapped = 0
    while True:
        with components.db.session() as session:
            count = rewrap(session, components.keyring, new_kek_id, BATCH)
            if not count:
                return rewrapped
            rewrapped += count
            components.audit.append(
                session,
                ctx,
                AuditRecord("keys.rewrap", "success", "kek", new_kek_id, details={kind: count}),
            )
            session.commit()


def kek_usage(components: Components) -> dict[str, int]:
    with components.db.session() as session:
        rows = session.execute(
            select(DatasetVersion.kek_id, func.count())
            .where(DatasetVersion.kek_id.is_not(None))
            .group_by(DatasetVersion.kek_id)
        ).all()
    return {str(kek_id): int(count) for kek_id, count in rows}


def retire_kek(components: Components, kek_id: str) -> None:
    """Erases a KEK; refuses while any DEK is still wrapped under it (it would be lost)."""
    in_use = kek_usage(components).get(kek_id, 0)
    if in_use:
        raise ConflictError(f"{in_use} versions are still wrapped under {kek_id}: rotate first")
    with components.db.session() as session:
        sealed = webhook_secrets.kek_usage(session).get(kek_id, 0)
    if sealed:
        raise ConflictError(
            f"{sealed} webhook secrets are still wrapped under {kek_id}: rotate first"
        )
    with components.db.session() as session:
        shared = sharing_keys.kek_usage(session).get(kek_id, 0)
    if shared:
        raise ConflictError(
            f"{shared} sharing files are still wrapped under {kek_id}: rotate first"
        )
    components.keyring.retire(kek_id)
    with components.db.session() as session:
        components.audit.append(
            session,
            system_context("keys-retire"),
            AuditRecord("keys.retire", "success", "kek", kek_id),
        )
        session.commit()
