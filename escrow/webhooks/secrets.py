"""Endpoint signing secrets: made here, shown once, sealed at rest under the keyring.

Each secret is encrypted with its own data key (the keyring's envelope: a random DEK wrapped
by the active KEK, bound to the secret's id as associated data), so a database dump reveals
nothing, and ``escrow keys rotate`` re-wraps these DEKs like those of dataset versions.
Plaintext exists only while a delivery is signed and in the one response that hands it out.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.orm import Session

from crypto import KeyManager, WrappedDataKey
from escrow.ids import IdFactory
from escrow.webhooks.signing import new_secret
from storage.models import WebhookSecret

MAX_GRACE = timedelta(days=7)


@dataclass(frozen=True)
class IssuedSecret:
    """A new secret: the only moment its plaintext leaves the service."""

    secret: str = field(repr=False)  # kept out of logs and tracebacks
    created_at: datetime
    previous_expires_at: datetime | None


def _associated_data(secret_id: str) -> bytes:
    return f"partner-escrow/webhook-secret/{secret_id}".encode()


def issue(
    session: Session, keyring: KeyManager, new_id: IdFactory, endpoint_id: str, now: datetime
) -> IssuedSecret:
    """A fresh random secret for the endpoint, stored sealed; its plaintext is returned once."""
    secret = new_secret()  # the Standard Webhooks form (escrow/webhooks/signing.py)
    store(session, keyring, new_id, endpoint_id, now, secret)
    return IssuedSecret(secret, now, None)


def store(
    session: Session,
    keyring: KeyManager,
    new_id: IdFactory,
    endpoint_id: str,
    now: datetime,
    secret: str,
) -> None:
    """Seals ``secret`` as a live secret of the endpoint."""
    secret_id = new_id()
    ad = _associated_data(secret_id)
    wrapped, aead = keyring.new_data_key(ad)
    session.add(
        WebhookSecret(
            id=secret_id,
            endpoint_id=endpoint_id,
            ciphertext=base64.b64encode(aead.encrypt(secret.encode("utf-8"), ad)).decode(),
            wrapped_dek=wrapped.to_text(),
            kek_id=wrapped.kek_id,
            created_at=now,
            expires_at=None,
        )
    )


def rotate(
    session: Session,
    keyring: KeyManager,
    new_id: IdFactory,
    endpoint_id: str,
    now: datetime,
    grace: timedelta,
) -> IssuedSecret:
    """A new current secret; the old one signs too until ``now + grace``, then is erased.

    An older secret still in an earlier grace period ends now, so a delivery never carries
    more than two signatures.
    """
    for row in session.scalars(_live(endpoint_id, now)):
        row.expires_at = now + grace if row.expires_at is None else now
    session.flush()
    erase_expired(session, now)
    issued = issue(session, keyring, new_id, endpoint_id, now)
    previous = now + grace if grace > timedelta(0) else None
    return IssuedSecret(issued.secret, now, previous)


def live_rows(session: Session, endpoint_ids: list[str], now: datetime) -> list[WebhookSecret]:
    """The secrets that sign now, newest first."""
    return list(
        session.scalars(
            select(WebhookSecret)
            .where(
                WebhookSecret.endpoint_id.in_(endpoint_ids),
                or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
            )
            .order_by(WebhookSecret.created_at.desc(), WebhookSecret.id.desc())
        )
    )


def reveal(keyring: KeyManager, row: WebhookSecret) -> str:
    """Fails closed: KeyringError or crypto IntegrityError unless the sealed secret opens."""
    ad = _associated_data(row.id)
    aead = keyring.open_data_key(WrappedDataKey.parse(row.wrapped_dek), ad)
    return aead.decrypt(base64.b64decode(row.ciphertext), ad).decode("utf-8")


def previous_expiry(
    session: Session, endpoint_ids: list[str], now: datetime
) -> dict[str, datetime]:
    """Endpoint id -> when its previous secret stops signing, for those in a grace period."""
    rows = session.execute(
        select(WebhookSecret.endpoint_id, func.max(WebhookSecret.expires_at))
        .where(WebhookSecret.endpoint_id.in_(endpoint_ids), WebhookSecret.expires_at > now)
        .group_by(WebhookSecret.endpoint_id)
    ).all()
    return {endpoint_id: expires for endpoint_id, expires in rows if expires is not None}


def erase_expired(session: Session, now: datetime) -> None:
    """Secrets past their grace period are deleted: nothing can sign with them again."""
    session.execute(
        delete(WebhookSecret).where(
            WebhookSecret.expires_at.is_not(None), WebhookSecret.expires_at <= now
        )
    )


def erase_all(session: Session, endpoint_id: str) -> None:
    session.execute(delete(WebhookSecret).where(WebhookSecret.endpoint_id == endpoint_id))


def rewrap(session: Session, keyring: KeyManager, new_kek_id: str, limit: int) -> int:
    """Re-wraps up to ``limit`` secrets' DEKs under ``new_kek_id``; returns how many."""
    rows = list(
        session.scalars(
            select(WebhookSecret)
            .where(WebhookSecret.kek_id != new_kek_id)
            .order_by(WebhookSecret.id)
            .limit(limit)
            .with_for_update()
        )
    )
    for row in rows:
        wrapped = keyring.rewrap(WrappedDataKey.parse(row.wrapped_dek), _associated_data(row.id))
        row.wrapped_dek, row.kek_id = wrapped.to_text(), wrapped.kek_id
    return len(rows)


def kek_usage(session: Session) -> dict[str, int]:
    """KEK id -> how many webhook secrets are wrapped under it."""
    rows = session.execute(
        select(WebhookSecret.kek_id, func.count()).group_by(WebhookSecret.kek_id)
    ).all()
    return {str(kek_id): int(count) for kek_id, count in rows}


def _live(endpoint_id: str, now: datetime) -> Select[tuple[WebhookSecret]]:
    return select(WebhookSecret).where(
        WebhookSecret.endpoint_id == endpoint_id,
        or_(WebhookSecret.expires_at.is_(None), WebhookSecret.expires_at > now),
    )
