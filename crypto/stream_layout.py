"""Size arithmetic of the segmented stream format (see crypto.stream); no keys involved.

With ``H`` the header size, ``P`` the plaintext segment size and ``C = P + 16``::

    segment 0 holds plaintext [0, P - H)          at ciphertext [H, C)
    segment i holds plaintext [i*P - H, (i+1)*P - H) at ciphertext [i*C, (i+1)*C)

so plaintext offset ``x`` lies in segment ``(x + H) // P`` and byte ranges map to ciphertext by
arithmetic alone. The header and the first segment fill one ciphertext segment (Tink's layout
with ``firstSegmentOffset = 0``). The final segment holds 1..P bytes, or 0 only when it is
the only segment: Tink's encrypters never emit an empty final segment after others, and the
decrypter here rejects one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from crypto.errors import IntegrityError

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "KEY_SIZE",
    "NONCE_PREFIX_SIZE",
    "TAG_SIZE",
    "SegmentRange",
    "StreamLayout",
]

DEFAULT_SEGMENT_SIZE: Final = 1 << 20
TAG_SIZE: Final = 16
KEY_SIZE: Final = 32
NONCE_PREFIX_SIZE: Final = 7
HEADER_SIZE: Final = 1 + KEY_SIZE + NONCE_PREFIX_SIZE
# Tink refuses ciphertext segments above 2**31 - 1 bytes.
_MAX_CIPHERTEXT_SEGMENT_SIZE: Final = 2**31 - 1


@dataclass(frozen=True, slots=True)
class SegmentRange:
    """Which ciphertext to read, and which plaintext to keep, for plaintext[start:end]."""

    first_segment: int
    last_segment: int
    ciphertext_offset: int
    ciphertext_length: int
    skip_prefix_bytes: int
    plaintext_length: int
    ends_with_final_segment: bool


@dataclass(frozen=True, slots=True)
class StreamLayout:
    """Pure size arithmetic of the segmented format; no keys involved."""

    segment_size: int = DEFAULT_SEGMENT_SIZE
    header_size: int = HEADER_SIZE

    def __post_init__(self) -> None:
        if self.header_size < 1 or self.segment_size <= self.header_size:
            raise ValueError("segment_size must exceed the header size")
        if self.ciphertext_segment_size > _MAX_CIPHERTEXT_SEGMENT_SIZE:
            raise ValueError("segment_size too large for the Tink format")

    @property
    def ciphertext_segment_size(self) -> int:
        return self.segment_size + TAG_SIZE

    def plaintext_capacity(self, segment: int) -> int:
        """Plaintext bytes a full segment holds."""
        return self.segment_size - self.header_size if segment == 0 else self.segment_size

    def segment_of(self, plaintext_offset: int) -> int:
        return (plaintext_offset + self.header_size) // self.segment_size

    def segment_count(self, plaintext_size: int) -> int:
        return 1 if plaintext_size == 0 else self.segment_of(plaintext_size - 1) + 1

    def plaintext_offset(self, segment: int) -> int:
        return 0 if segment == 0 else segment * self.segment_size - self.header_size

    def ciphertext_offset(self, segment: int) -> int:
        return self.header_size if segment == 0 else segment * self.ciphertext_segment_size

    def ciphertext_size(self, plaintext_size: int) -> int:
        if plaintext_size < 0:
            raise ValueError("plaintext_size must not be negative")
        return self.header_size + plaintext_size + TAG_SIZE * self.segment_count(plaintext_size)

    def plaintext_size(self, ciphertext_size: int) -> int:
        """Inverse of ciphertext_size; IntegrityError for a size no stream can have."""
        segments = max(1, -(-ciphertext_size // self.ciphertext_segment_size))
        plaintext_size = ciphertext_size - self.header_size - TAG_SIZE * segments
        if plaintext_size < 0 or self.ciphertext_size(plaintext_size) != ciphertext_size:
            raise IntegrityError(f"no stream has {ciphertext_size} ciphertext bytes")
        return plaintext_size

    def segment_range(self, start: int, end: int, plaintext_size: int) -> SegmentRange:
        """Segments covering plaintext[start:end] (end exclusive) of a stream of that size."""
        if not 0 <= start < end <= plaintext_size:
            raise ValueError(f"bad range [{start}, {end}) for {plaintext_size} bytes")
        first, last = self.segment_of(start), self.segment_of(end - 1)
        final = last == self.segment_count(plaintext_size) - 1
        offset = self.ciphertext_offset(first)
        stop = self.ciphertext_size(plaintext_size) if final else self.ciphertext_offset(last + 1)
        return SegmentRange(
            first_segment=first,
            last_segment=last,
            ciphertext_offset=offset,
            ciphertext_length=stop - offset,
            skip_prefix_bytes=start - self.plaintext_offset(first),
            plaintext_length=end - start,
            ends_with_final_segment=final,
        )
