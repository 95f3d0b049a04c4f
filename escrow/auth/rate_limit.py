"""Rate limits on token issuance: token buckets on the injected clock, kept in this process.

Three buckets decide whether ``POST /v1/auth/token`` may even look at a secret:

- every request from one client address (scrypt costs CPU and memory; this caps it);
- failed attempts from one client address (brute force from one place stops quickly);
- failed attempts naming one key id, from every address (brute force spread over many).

A failure is charged before the secret is checked and given back when the secret was right,
so concurrent guesses cannot overdraw a bucket and a client whose secret is right never pays
the failure buckets. One address can never empty a key's failure bucket on its own
(config.py refuses settings that would allow it), so locking a key out takes several
addresses failing at full speed, and then only for as long as they keep it up.

State lives in this process: with N replicas behind a balancer the limits are N times
looser. Memory is bounded: full buckets are forgotten, and beyond ``MAX_TRACKED`` subjects
per bucket the least recently charged one is dropped (which only ever forgives).
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import TracebackType

from escrow.clock import Clock
from escrow.config import Rate, TokenRateSettings
from escrow.errors import AuthenticationError

MAX_TRACKED = 50_000  # subjects remembered per bucket
AUDIT_WINDOW_SECONDS = 60  # one audited refusal per limited subject and window
UNKNOWN_ADDRESS = "-"
_EPSILON = 1e-9  # refill arithmetic in floats: a token due now must count as there


class Buckets:
    """Token buckets by subject, refilled continuously; not thread-safe (the caller locks)."""

    def __init__(self, rate: Rate, capacity: int = MAX_TRACKED) -> None:
        self._burst = float(rate.burst)
        self._per_second = rate.per_minute / 60
        self._capacity = capacity
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, at)

    def __len__(self) -> int:
        return len(self._levels)

    def wait(self, subject: str, now: float) -> float:
        """Seconds until ``subject`` has a whole token again (0: it has one now)."""
        level = self._level(subject, now)
        return 0.0 if level >= 1 - _EPSILON else (1 - level) / self._per_second

    def take(self, subject: str, now: float) -> None:
        self._store(subject, self._level(subject, now) - 1, now)

    def give_back(self, subject: str, now: float) -> None:
        self._store(subject, self._level(subject, now) + 1, now)

    def _level(self, subject: str, now: float) -> float:
        found = self._levels.get(subject)
        if found is None:
            return self._burst
        tokens, at = found
        return min(self._burst, tokens + max(0.0, now - at) * self._per_second)

    def _store(self, subject: str, level: float, now: float) -> None:
        if level >= self._burst:  # a full bucket is the same as none
            self._levels.pop(subject, None)
            return
        self._levels[subject] = (level, now)
        self._levels.move_to_end(subject)
        if len(self._levels) > self._capacity:
            self._levels.popitem(last=False)


@dataclass(frozen=True)
class Refusal:
    """An attempt turned away before its secret was looked at."""

    limit: str  # "address", "address_failures" or "key_failures"
    retry_after: int  # whole seconds until the limit lets a request through again
    audit: bool  # the first refusal of this subject in its audit window
    unaudited: int  # refusals of this subject since its last audited one, not audited alone


class Attempt:
    """An admitted attempt; leaving the block with AuthenticationError keeps it a failure."""

    def __init__(self, limits: TokenRateLimits | None, address: str, key_id: str) -> None:
        self._limits = limits
        self.address = address
        self.key_id = key_id

    def __enter__(self) -> Attempt:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._limits is not None and not isinstance(exc, AuthenticationError):
            self._limits.forgive(self)


class TokenRateLimits:
    """Admits or refuses token requests; thread-safe (token exchanges run in worker threads)."""

    def __init__(self, settings: TokenRateSettings, clock: Clock) -> None:
        self._enabled = settings.enabled
        self._clock = clock
        self._lock = threading.Lock()
        self._per_address = _buckets(settings.per_ip)
        self._failures_per_address = _buckets(settings.failures_per_ip)
        self._failures_per_key = _buckets(settings.failures_per_key)
        self._audited: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def admit(self, key_id: str, client_ip: str | None) -> Attempt | Refusal:
        """Charge one request and reserve one failure, or refuse if a bucket is empty."""
        address = bucket_address(client_ip)
        if not self._enabled:
            return Attempt(None, address, key_id)
        checks = [
            ("address", self._per_address, address),
            ("address_failures", self._failures_per_address, address),
            ("key_failures", self._failures_per_key, key_id),
        ]
        with self._lock:
            now = self._now()
            waits = [(b.wait(s, now), name, s) for name, b, s in checks if b is not None]
            longest, limit, subject = max(waits, default=(0.0, "", ""))
            if longest > 0:
                return self._refusal(limit, subject, longest, now)
            for _, buckets, charged in checks:
                if buckets is not None:
                    buckets.take(charged, now)
        return Attempt(self, address, key_id)

    def forgive(self, attempt: Attempt) -> None:
        """The attempt did not fail: give back the failure it was charged in advance."""
        with self._lock:
            now = self._now()
            if self._failures_per_address is not None:
                self._failures_per_address.give_back(attempt.address, now)
            if self._failures_per_key is not None:
                self._failures_per_key.give_back(attempt.key_id, now)

    def _refusal(self, limit: str, subject: str, wait: float, now: float) -> Refusal:
        key = (limit, subject)
        last = self._audited.get(key)
        if last is None or now - last[0] >= AUDIT_WINDOW_SECONDS:
            self._remember(key, (now, 0))
            return Refusal(limit, _whole_seconds(wait), True, last[1] if last else 0)
        self._remember(key, (last[0], last[1] + 1))
        return Refusal(limit, _whole_seconds(wait), False, last[1] + 1)

    def _remember(self, key: tuple[str, str], value: tuple[float, int]) -> None:
        self._audited[key] = value
        self._audited.move_to_end(key)
        if len(self._audited) > MAX_TRACKED:
            self._audited.popitem(last=False)

    def _now(self) -> float:
        return self._clock.now().timestamp()


def _buckets(rate: Rate) -> Buckets | None:
    return Buckets(rate) if rate.limited else None


def _whole_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


def bucket_address(client_ip: str | None) -> str:
    """The rate-limit subject for a client address: IPv4 as is, IPv6 by its /64.

    One IPv6 host is usually handed a whole /64, so counting single addresses would give it
    an unlimited supply of fresh buckets; IPv4-mapped addresses count as their IPv4 form.
    """
    if not client_ip:
        return UNKNOWN_ADDRESS
    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
