"""What authentication keeps: API keys, revoked tokens, the auth epoch and rate buckets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import ID, Base


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class RevokedToken(Base):
    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    principal_id: Mapped[str] = mapped_column(ID)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    revoked_at: Mapped[datetime]


class AuthEpoch(Base):
    """One row; moved by database triggers whenever a token's owner may change (migration
    0018), so that processes know when to forget the owners they remember."""

    __tablename__ = "auth_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class RateBucket(Base):
    """A token bucket of an authentication rate limit, shared by every replica on PostgreSQL
    (escrow/auth/buckets.py). Times are seconds since the epoch; a row whose ``full_at`` has
    passed holds a full bucket, the same as no row, and is deleted by a periodic job."""

    __tablename__ = "rate_buckets"

    bucket: Mapped[str] = mapped_column(String(32), primary_key=True)  # which limit
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)  # address or key id
    tokens: Mapped[float]
    at: Mapped[float]  # when ``tokens`` was the level
    full_at: Mapped[float] = mapped_column(index=True)
