"""Token buckets for the authentication rate limits, in this process or shared by replicas.

A bucket holds up to ``burst`` tokens and refills continuously at ``per_minute``; a request
takes one. Two stores keep the levels, with one arithmetic:

- ``LocalBuckets``: in this process (the embedded SQLite default, one process). Memory is
  bounded: full buckets are forgotten, and beyond ``capacity`` subjects per bucket the least
  recently charged one is dropped (which only ever forgives).
- ``SharedBuckets``: rows of ``rate_buckets`` in PostgreSQL, so a limit holds across every
  replica and worker. Each decision locks its rows (in one order: no deadlock) in a short
  transaction of its own, never the caller's; full rows are deleted by the periodic
  ``forget_full_buckets``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from escrow.settings import Rate
from storage.db import Database
from storage.models import RateBucket

MAX_TRACKED = 50_000  # subjects remembered per bucket, in one process
CLEANUP_SECONDS = 300  # how often refilled rows are deleted
_EPSILON = 1e-9  # refill arithmetic in floats: a token due now must count as there


@dataclass(frozen=True, slots=True)
class Charge:
    """One token asked of ``subject``'s bucket in the limit named ``bucket``."""

    bucket: str
    rate: Rate
    subject: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.bucket, self.subject)


@dataclass(frozen=True, slots=True)
class Wait:
    """Seconds until ``charge``'s bucket has a whole token again."""

    seconds: float
    charge: Charge


class BucketStore(Protocol):
    def admit(self, charges: Sequence[Charge], now: float) -> Wait | None:
        """Takes one token from each bucket if every one has a token (None); otherwise takes
        nothing and returns the longest wait."""

    def charge(self, charge: Charge, now: float) -> float:
        """Takes a token even from an empty bucket; seconds until it has one again."""

    def give_back(self, charges: Sequence[Charge], now: float) -> None:
        """Returns one token to each bucket (never above its burst)."""


def refilled(tokens: float, at: float, rate: Rate, now: float) -> float:
    return min(float(rate.burst), tokens + max(0.0, now - at) * rate.per_minute / 60)


def seconds_to_token(level: float, rate: Rate) -> float:
    return 0.0 if level >= 1 - _EPSILON else (1 - level) * 60 / rate.per_minute


def _longest(levels: Sequence[tuple[Charge, float]]) -> Wait | None:
    waits = [Wait(seconds_to_token(level, charge.rate), charge) for charge, level in levels]
    longest = max(waits, key=lambda wait: wait.seconds, default=None)
    return longest if longest is not None and longest.seconds > 0 else None


class LocalBuckets:
    """Thread-safe; levels in this process only."""

    def __init__(self, capacity: int = MAX_TRACKED) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._levels: dict[str, OrderedDict[str, tuple[float, float]]] = {}  # (tokens, at)

    def tracked(self, bucket: str) -> int:
        return len(self._levels.get(bucket, ()))

    def admit(self, charges: Sequence[Charge], now: float) -> Wait | None:
        with self._lock:
            levels = [(charge, self._level(charge, now)) for charge in charges]
            if (wait := _longest(levels)) is not None:
                return wait
            for charge, level in levels:
                self._store(charge, level - 1, now)
        return None

    def charge(self, charge: Charge, now: float) -> float:
        with self._lock:
            level = self._level(charge, now) - 1
            self._store(charge, level, now)
        return seconds_to_token(level, charge.rate)

    def give_back(self, charges: Sequence[Charge], now: float) -> None:
        with self._lock:
            for charge in charges:
                self._store(charge, self._level(charge, now) + 1, now)

    def _level(self, charge: Charge, now: float) -> float:
        levels = self._levels.get(charge.bucket)
        found = levels.get(charge.subject) if levels is not None else None
        if found is None:
            return float(charge.rate.burst)
        tokens, at = found
        return refilled(tokens, at, charge.rate, now)

    def _store(self, charge: Charge, level: float, now: float) -> None:
        levels = self._levels.setdefault(charge.bucket, OrderedDict())
        if level >= charge.rate.burst:  # a full bucket is the same as none
            levels.pop(charge.subject, None)
            return
        levels[charge.subject] = (level, now)
        levels.move_to_end(charge.subject)
        if len(levels) > self._capacity:
            levels.popitem(last=False)


class SharedBuckets:
    """Levels in PostgreSQL's ``rate_buckets``: every replica and worker draws on one bucket."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def admit(self, charges: Sequence[Charge], now: float) -> Wait | None:
        with self._db.session() as session:
            levels = self._locked(session, charges, now)
            wait = _longest(levels)
            if wait is None:
                self._store(session, [(charge, level - 1) for charge, level in levels], now)
            session.commit()
        return wait

    def charge(self, charge: Charge, now: float) -> float:
        with self._db.session() as session:
            [(_, level)] = self._locked(session, [charge], now)
            self._store(session, [(charge, level - 1)], now)
            session.commit()
        return seconds_to_token(level - 1, charge.rate)

    def give_back(self, charges: Sequence[Charge], now: float) -> None:
        with self._db.session() as session:
            levels = self._locked(session, charges, now)
            self._store(session, [(charge, level + 1) for charge, level in levels], now)
            session.commit()

    @staticmethod
    def _locked(
        session: Session, charges: Sequence[Charge], now: float
    ) -> list[tuple[Charge, float]]:
        """Each charge's current level, its row created (full) or locked until commit."""
        ordered = sorted(charges, key=lambda charge: charge.key)  # one lock order everywhere
        rows = [
            {"bucket": c.bucket, "subject": c.subject, "tokens": c.rate.burst, "at": now}
            for c in ordered
        ]
        inserted = insert(RateBucket).values([{**row, "full_at": now} for row in rows])
        # A no-op update: it locks an existing row and returns it as it stands.
        statement = inserted.on_conflict_do_update(
            index_elements=[RateBucket.bucket, RateBucket.subject],
            set_={"bucket": inserted.excluded.bucket},
        ).returning(RateBucket.bucket, RateBucket.subject, RateBucket.tokens, RateBucket.at)
        found = {(b, s): (tokens, at) for b, s, tokens, at in session.execute(statement)}
        return [(c, refilled(*found[c.key], c.rate, now)) for c in charges]

    @staticmethod
    def _store(session: Session, levels: Sequence[tuple[Charge, float]], now: float) -> None:
        rows = [
            {
                "b": charge.bucket,
                "s": charge.subject,
                "tokens": min(level, float(charge.rate.burst)),
                "at": now,
                # when the bucket is full again, and its row no longer needed
                "full_at": now + max(0.0, charge.rate.burst - level) * 60 / charge.rate.per_minute,
            }
            for charge, level in levels
        ]
        # The table's, not the entity's: an ORM update given many rows is an update by
        # primary key, which takes no WHERE of its own.
        table = cast(Table, RateBucket.__table__)
        statement = (
            update(table)
            .where(table.c.bucket == bindparam("b"), table.c.subject == bindparam("s"))
            .values(tokens=bindparam("tokens"), at=bindparam("at"), full_at=bindparam("full_at"))
        )
        session.execute(statement, rows)


def forget_full_buckets(db: Database, now: datetime) -> int:
    """Deletes the rows of buckets that have refilled: a full bucket is the same as none."""
    with db.session() as session:
        deleted = session.execute(delete(RateBucket).where(RateBucket.full_at <= now.timestamp()))
        session.commit()
    return int(getattr(deleted, "rowcount", 0))


def bucket_store(db: Database) -> BucketStore:
    """Shared across replicas on PostgreSQL; in this process on the embedded SQLite default."""
    return LocalBuckets() if db.is_sqlite else SharedBuckets(db)
