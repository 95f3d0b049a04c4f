"""Failed bearer authentication: rate limited per client address, counted rather than logged.

Anonymous traffic (no token, a forged, expired or unknown one) must not grow the audit log
or slow its writers by one permanent event per request (DESIGN section 5). So failures are
tallied per client address in fixed windows: the first failure of an address in a window is
audited, carrying the tally of that address's failures since its previous event, and the
others only add to the tally. An address that fails faster than its bucket refills is
answered 429 with Retry-After before its token is looked at, like ``POST /v1/auth/token``.

Failures are counted in the buckets of escrow/auth/buckets.py, shared by every replica on
PostgreSQL; only failures pay for that. Each process remembers which addresses a charge
found over the limit and until when, so a request is checked without a query, and an
address limited through one replica is refused by another at its first failure there. The
audit windows are per process (at most one event per address, window and process), under a
lock held only for the arithmetic (never a database lock, never while auditing). Memory is
bounded: beyond ``MAX_TRACKED`` addresses the least recently seen is forgotten with its
tally (which only ever forgives, or drops a count).
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

from escrow.auth.buckets import MAX_TRACKED, BucketStore, Charge
from escrow.auth.rate_limit import bucket_address
from escrow.clock import Clock
from escrow.settings import BearerFailureSettings

RATE_LIMITED = "rate_limited"
BUCKET = "bearer_failures"


@dataclass
class _Tally:
    window: int  # index of the window whose event has been written
    since_event: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class FailureReport:
    """What the audit event for a failure says, when this failure is the one to audit."""

    address: str
    window_seconds: int
    earlier: dict[str, int]  # reason -> failures since this address's previous event


class BearerFailures:
    """Thread-safe: authentication runs in worker threads."""

    def __init__(self, settings: BearerFailureSettings, clock: Clock, buckets: BucketStore) -> None:
        self._clock = clock
        self._window = settings.audit_window_seconds
        limited = settings.enabled and settings.failures_per_ip.limited
        self._rate = settings.failures_per_ip if limited else None
        self._buckets = buckets
        # Addresses whose bucket a charge found empty, until when: checked on every request
        # without asking the shared buckets, which only failures pay for.
        self._blocked: OrderedDict[str, float] = OrderedDict()
        self._tallies: OrderedDict[str, _Tally] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, client_ip: str | None) -> int | None:
        """Whole seconds this address must wait before its token is even checked, or None."""
        if self._rate is None:
            return None
        address = bucket_address(client_ip)
        with self._lock:
            wait = self._blocked.get(address, 0.0) - self._now()
            if wait <= 0:
                self._blocked.pop(address, None)
                return None
        return max(1, math.ceil(wait))

    def charge(self, client_ip: str | None) -> None:
        """One failure against the address's bucket, audited by the caller on its own."""
        self._charge(bucket_address(client_ip), self._now())

    def _charge(self, address: str, now: float) -> None:
        if self._rate is None:
            return
        wait = self._buckets.charge(Charge(BUCKET, self._rate, address), now)
        if wait > 0:
            with self._lock:
                self._blocked[address] = now + wait
                self._blocked.move_to_end(address)
                if len(self._blocked) > MAX_TRACKED:
                    self._blocked.popitem(last=False)

    def failed(
        self, client_ip: str | None, reason: str, *, charge: bool = True
    ) -> FailureReport | None:
        """Counts one failure (charging the address's bucket); a report if it is to be audited."""
        address = bucket_address(client_ip)
        now = self._now()
        window = int(now // self._window)
        if charge:
            self._charge(address, now)
        with self._lock:
            tally = self._tallies.get(address)
            if tally is None or tally.window != window:
                earlier = dict(tally.since_event) if tally else {}
                self._remember(address, _Tally(window))
                return FailureReport(address, self._window, earlier)
            tally.since_event[reason] += 1
            self._tallies.move_to_end(address)
            return None

    def _remember(self, address: str, tally: _Tally) -> None:
        self._tallies[address] = tally
        self._tallies.move_to_end(address)
        if len(self._tallies) > MAX_TRACKED:
            self._tallies.popitem(last=False)

    def _now(self) -> float:
        return self._clock.now().timestamp()
