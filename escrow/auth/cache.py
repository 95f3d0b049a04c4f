"""The owners of verified access tokens, remembered per process until the auth epoch moves.

Every change that may end or alter a token's owner (a key revoked, expiring differently or
moved; a principal's status, roles, kind or organization; an organization's status or slug;
a token revoked) moves ``auth_epoch.value`` in the transaction that makes it (database
triggers, migration 0018). Each process reads the epoch every ``ESCROW_AUTH_EPOCH_POLL_MS``
and forgets every owner it remembers when the value moved. An owner is served from memory
only while the epoch it was read under is the current one and that was read less than
``stale_after`` seconds ago: a revocation takes effect on every replica within one poll
interval (plus a poll's duration), and never later than ``stale_after`` even if polls fail.

An owner read from the database is remembered under the epoch read *before* that read: a
change committed in between is either seen by the read (no owner) or moves the epoch past it.
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
        self._lock = threading.Lock()

    def poll(self, session: Session) -> None:
        """Reads the epoch; forgets every owner if it moved (or is missing: then nothing is
        remembered until it is back)."""
        value = session.execute(
            select(AuthEpoch.value).where(AuthEpoch.id == 1)
        ).scalar_one_or_none()
        with self._lock:
            if value is None:
                self._entries.clear()
                self._epoch, self._read_at = None, -math.inf
                return
            if value != self._epoch:
                self._entries.clear()
            self._epoch, self._read_at = value, self._monotonic()

    def epoch(self) -> int | None:
        """The current epoch, or None when it was not read recently enough to trust."""
        with self._lock:
            return self._fresh_epoch()

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
        self, token_id: str, actor: Actor, epoch: int | None, key_expires_at: datetime | None
    ) -> None:
        """Remembers an owner read from the database under ``epoch`` (read before it)."""
        with self._lock:
            if epoch is None or epoch != self._epoch:  # moved since: the read may be stale
                return
            self._entries[token_id] = _Entry(actor, epoch, key_expires_at)
            self._entries.move_to_end(token_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

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
