"""Identifier factory: time-ordered UUIDs (RFC 9562 version 7), injectable for tests."""

from __future__ import annotations

import os
import uuid
from typing import Protocol

from escrow.clock import Clock


class IdFactory(Protocol):
    def __call__(self) -> str: ...


class Uuid7Factory:
    """UUIDv7 strings: sorting them sorts by creation time, which keyset pagination relies on."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def __call__(self) -> str:
        millis = int(self._clock.now().timestamp() * 1000) & ((1 << 48) - 1)
        rand = int.from_bytes(os.urandom(10), "big")
        value = (millis << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64
        value |= (0b10 << 62) | (rand & ((1 << 62) - 1))
        return str(uuid.UUID(int=value))
