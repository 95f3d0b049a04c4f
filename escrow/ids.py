"""Identifier factory: time-ordered UUIDs (RFC 9562 version 7), injectable for tests."""

from __future__ import annotations

import os
import threading
import uuid
from typing import Protocol

from escrow.clock import Clock

_RAND_BITS = 74  # rand_a (12 bits) and rand_b (62 bits)


class IdFactory(Protocol):
    def __call__(self) -> str: ...


class Uuid7Factory:
    """UUIDv7 strings that strictly increase: sorting them sorts by creation.

    Keyset pagination relies on it. Within one millisecond (or when the clock stands still,
    as a test clock does) the random bits are incremented instead of redrawn: RFC 9562's
    "monotonic random" method.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last = (-1, 0)

    def __call__(self) -> str:
        millis = int(self._clock.now().timestamp() * 1000) & ((1 << 48) - 1)
        with self._lock:
            last_millis, last_rand = self._last
            if millis <= last_millis:
                millis, rand = last_millis, last_rand + 1 + (os.urandom(1)[0] & 0x0F)
            else:
                rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RAND_BITS + 1)
            self._last = (millis, rand)
        rand &= (1 << _RAND_BITS) - 1
        value = (millis << 80) | (0x7 << 76) | ((rand >> 62) << 64)
        value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
        return str(uuid.UUID(int=value))
