"""Rate limits on token issuance: token buckets on the injected clock.

Three buckets decide whether ``POST /v1/auth/token`` may even look at a secret:

- every request from one client address (scrypt costs CPU and memory; this caps it);
- failed attempts from one client address (brute force from one place stops quickly);
- failed attempts naming one key id, from every address (brute force spread over many).

A failure is charged before the secret is checked and given back when the secret was right,
so concurrent guesses cannot overdraw a bucket and a client whose secret is right never pays
the failure buckets. One address can never empty a key's failure bucket on its own
(config.py refuses settings that would allow it), so locking a key out takes several
addresses failing at full speed, and then only for as long as they keep it up.

The buckets are shared by every replica on PostgreSQL (escrow/auth/buckets.py), so N
replicas behind a balancer hold one limit. Which refusals are audited is decided per
process: at most one audited refusal per limited subject and window in each process.
"""

from __future__ import annotations

import ipaddress
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from types import TracebackType

from escrow.auth.buckets import MAX_TRACKED, BucketStore, Charge
from escrow.clock import Clock
from escrow.errors import AuthenticationError
from escrow.settings import TokenRateSettings

AUDIT_WINDOW_SECONDS = 60  # one audited refusal per limited subject and window
UNKNOWN_ADDRESS = "-"
MAX_SUBJECT = 128  # the longest subject a shared bucket row holds (rate_buckets.subject)


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

    def __init__(self, settings: TokenRateSettings, clock: Clock, buckets: BucketStore) -> None:
        self._settings = settings
        self._clock = clock
        self._buckets = buckets
        self._lock = threading.Lock()  # guards the audit windows; the buckets lock themselves
        self._audited: OrderedDict[tuple[str, str], tuple[float, int]] = OrderedDict()

    def admit(self, key_id: str, client_ip: str | None) -> Attempt | Refusal:
        """Charge one request and reserve one failure, or refuse if a bucket is empty."""
        address = bucket_address(client_ip)
        if not self._settings.enabled:
            return Attempt(None, address, key_id)
        now = self._now()
        wait = self._buckets.admit(self._charges(address, key_id, request=True), now)
        if wait is not None:
            with self._lock:
                return self._refusal(wait.charge.bucket, wait.charge.subject, wait.seconds, now)
        return Attempt(self, address, key_id)

    def forgive(self, attempt: Attempt) -> None:
        """The attempt did not fail: give back the failure it was charged in advance."""
        charges = self._charges(attempt.address, attempt.key_id, request=False)
        self._buckets.give_back(charges, self._now())

    def _charges(self, address: str, key_id: str, *, request: bool) -> list[Charge]:
        """The buckets an attempt draws on: every request's, then its reserved failures'."""
        settings = self._settings
        limits = [
            *([("address", settings.per_ip, address)] if request else []),
            ("address_failures", settings.failures_per_ip, address),
            ("key_failures", settings.failures_per_key, key_id),
        ]
        return [Charge(name, rate, subject) for name, rate, subject in limits if rate.limited]

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
    except ValueError:  # not an address (a test client's name, a socket path): as is, bounded
        return client_ip[:MAX_SUBJECT]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)
