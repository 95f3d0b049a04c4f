"""The owners of verified access tokens, remembered per process until the auth epoch moves.

Every change that may end or alter a token's owner (a key revoked, expiring differently or
moved; a principal's status, roles, kind or organization; an organization's status or slug;
a token revoked) moves ``auth_epoch.value`` in the transaction that makes it (database
triggers, migration 0018). Each process reads the epoch every ``ESCROW_AUTH_EPOCH_POLL_MS``
and forgets every owner it remembers when the value moved. An owner is served from memory
only while the epoch it was read under is the current one and that was read less than
``stale_after`` seconds ago: a revocation takes effect on every replica within one poll
interval (plus a poll's duration), and never later than ``stale_after`` even if polls fail.

An owner read from the database is remembered under a stamp taken *before* that read (the
epoch, and how often this process forgot everything): a change committed in between is
either seen by the read (no owner) or makes the stamp stale, and the owner is not kept.
"""

from __future__ import annotations

import math
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import event, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker
from sqlalchemy.orm.attributes import instance_state

from escrow.context import Actor
from storage.models import ApiKey, AuthEpoch, Organization, Principal, RevokedToken

__all__ = ["AuthCache"]

MAX_ENTRIES = 10_000
Stamp = tuple[int, int]  # the epoch, and how many times this process forgot everything


# The columns whose change moves the epoch (the triggers of migration 0018), by model.
_WATCHED: Final[dict[type, tuple[str, ...]]] = {
    ApiKey: ("revoked_at", "expires_at", "principal_id"),
    Principal: ("status", "roles", "kind", "org_id"),
    Organization: ("status", "slug"),
    RevokedToken: (),
}
_WATCHED_TABLES: Final = frozenset(model.__tablename__ for model in _WATCHED)  # type: ignore[attr-defined]
_CHANGED: Final = "escrow.auth.cache.changed"


def _moves_epoch(session: Session) -> bool:
    """Whether the session's pending flush (seen after it, before it is forgotten) changes a
    watched row: any insert or delete, or an update of a watched column."""
    if any(type(row) in _WATCHED for row in (*session.new, *session.deleted)):
        return True
    for row in session.dirty:
        columns = _WATCHED.get(type(row), ())
        state = instance_state(row)
        if any(state.attrs[name].history.has_changes() for name in columns):
            return True
    return False


# The caches each session factory's commits may clear (its listeners are added once).
_CACHES: weakref.WeakKeyDictionary[sessionmaker[Session], weakref.WeakSet[AuthCache]] = (
    weakref.WeakKeyDictionary()
)


def _watch(sessions: sessionmaker[Session], caches: weakref.WeakSet[AuthCache]) -> None:
    def flushed(session: Session, _context: object) -> None:
        if _moves_epoch(session):
            session.info[_CHANGED] = True

    def executed(state: ORMExecuteState) -> None:
        table = getattr(state.statement, "table", None)
        if (state.is_update or state.is_delete or state.is_insert) and getattr(
            table, "name", None
        ) in _WATCHED_TABLES:
            state.session.info[_CHANGED] = True

    def committed(session: Session) -> None:
        if session.info.pop(_CHANGED, False):
            for cache in list(caches):
                cache.clear()

    event.listen(sessions, "after_flush", flushed)
    event.listen(sessions, "do_orm_execute", executed)
    event.listen(sessions, "after_commit", committed)
    event.listen(sessions, "after_rollback", lambda session: session.info.pop(_CHANGED, None))


@dataclass(frozen=True)
class _Entry:
    actor: Actor
    epoch: int
    key_expires_at: datetime | None


class AuthCache:
    """Thread-safe: authentication runs on the event loop and in worker threads."""

    def __init__(
        self,
        *,
        stale_after: float = 1.0,
        max_entries: int = MAX_ENTRIES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stale_after = stale_after
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._epoch: int | None = None
        self._read_at = -math.inf
        self._forgotten = 0  # times everything was forgotten: a stamp from before is stale
        self._lock = threading.Lock()

    def poll(self, session: Session) -> None:
        """Reads the epoch; forgets every owner if it moved (or is missing: then nothing is
        remembered until it is back)."""
        value = session.execute(
            select(AuthEpoch.value).where(AuthEpoch.id == 1)
        ).scalar_one_or_none()
        with self._lock:
            if value != self._epoch:
                self._forget()
            if value is None:
                self._epoch, self._read_at = None, -math.inf
                return
            self._epoch, self._read_at = value, self._monotonic()

    def stamp(self) -> Stamp | None:
        """What an owner about to be read from the database is remembered under (``put``);
        None when the epoch was not read recently enough to trust."""
        with self._lock:
            epoch = self._fresh_epoch()
            return None if epoch is None else (epoch, self._forgotten)

    def get(self, token_id: str, now: datetime) -> Actor | None:
        """The token's remembered owner, if it is still current."""
        with self._lock:
            entry = self._entries.get(token_id)
            if entry is None or entry.epoch != self._fresh_epoch():
                return None
            if entry.key_expires_at is not None and entry.key_expires_at <= now:
                return None
            self._entries.move_to_end(token_id)
            return entry.actor

    def put(
        self, token_id: str, actor: Actor, stamp: Stamp | None, key_expires_at: datetime | None
    ) -> None:
        """Remembers an owner read from the database after ``stamp`` was taken, unless the
        epoch moved or this process committed a change since (the read may be stale)."""
        with self._lock:
            if stamp is None or stamp != (self._epoch, self._forgotten):
                return
            self._entries[token_id] = _Entry(actor, stamp[0], key_expires_at)
            self._entries.move_to_end(token_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._forget()

    def _forget(self) -> None:
        self._entries.clear()
        self._forgotten += 1

    def forget_on_commit(self, sessions: sessionmaker[Session]) -> None:
        """Forgets every owner when a session of ``sessions`` commits a change that moves the
        epoch: this process sees its own revocations at once, not at the next poll."""
        caches = _CACHES.get(sessions)
        if caches is None:
            caches = _CACHES[sessions] = weakref.WeakSet()
            _watch(sessions, caches)
        caches.add(self)

    def __len__(self) -> int:
        return len(self._entries)

    def _fresh_epoch(self) -> int | None:
        if self._monotonic() - self._read_at > self._stale_after:
            return None
        return self._epoch
