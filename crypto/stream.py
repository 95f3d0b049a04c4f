"""Segmented streaming AEAD in Tink's AES-GCM-HKDF-Streaming wire format.

Format (developers.google.com/tink/streaming-aead/aes_gcm_hkdf_streaming)::

    ciphertext  = header || segment_0 || segment_1 || ... || segment_{n-1}
    header      = len(header) as 1 byte || salt (32 bytes) || nonce_prefix (7 bytes)
    segment_key = HKDF-SHA256(ikm=data key, salt=salt, info=associated data, L=32)
    segment_i   = AES-256-GCM(segment_key, nonce_i, M_i)          # M_i plus a 16-byte tag
    nonce_i     = nonce_prefix || uint32_be(i) || (0x01 if i is the last segment else 0x00)

Plaintext segments hold ``segment_size`` bytes (the first ``len(header)`` fewer, the last
1..segment_size; see crypto.stream_layout); Tink's ``CiphertextSegmentSize`` is that plus 16.

The last-segment flag detects truncation, the counter in the nonce detects reordering, and the
per-stream salt (mixed with the associated data into the segment key) detects splicing from
another stream or another dataset version.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from typing import Final, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from crypto.errors import IntegrityError
from crypto.stream_layout import (
    DEFAULT_SEGMENT_SIZE,
    HEADER_SIZE,
    KEY_SIZE,
    NONCE_PREFIX_SIZE,
    TAG_SIZE,
    SegmentRange,
    StreamLayout,
)

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "HEADER_SIZE",
    "DataKey",
    "SegmentRange",
    "StreamDecryptor",
    "StreamEncryptor",
    "StreamLayout",
    "StreamingAead",
]

BytesLike: TypeAlias = bytes | bytearray | memoryview

# Tink refuses segment numbers at or above 2**32 - 1.
_MAX_SEGMENTS: Final = 2**32 - 1


class DataKey:
    """A 256-bit data encryption key (DEK); nothing in the public API reveals its bytes."""

    __slots__ = ("_material",)

    def __init__(self, material: bytes) -> None:
        if len(material) != KEY_SIZE:
            raise ValueError(f"a data key is {KEY_SIZE} bytes, got {len(material)}")
        self._material = bytes(material)

    @classmethod
    def generate(cls) -> DataKey:
        """Draws a fresh key from the operating system's CSPRNG."""
        return cls(os.urandom(KEY_SIZE))

    def __repr__(self) -> str:
        return "DataKey(<redacted>)"


def _key_material(key: DataKey) -> bytes:
    """Raw DEK bytes, for the envelope module only: it wraps them under a KEK."""
    return key._material


class _SegmentCipher:
    """AES-GCM under one stream's derived key; builds every nonce itself."""

    __slots__ = ("_aead", "_nonce_prefix")

    def __init__(self, aead: AESGCM, nonce_prefix: bytes) -> None:
        self._aead = aead
        self._nonce_prefix = nonce_prefix

    def _nonce(self, segment: int, last: bool) -> bytes:
        return self._nonce_prefix + struct.pack(">IB", segment, last)

    def seal(self, segment: int, plaintext: BytesLike, last: bool) -> bytes:
        if segment >= _MAX_SEGMENTS:
            raise ValueError("stream too long for 32-bit segment numbers")
        return self._aead.encrypt(self._nonce(segment, last), plaintext, None)

    def open(self, segment: int, ciphertext: BytesLike, last: bool) -> bytes:
        """Fails closed: returns plaintext only if the tag verifies for this position."""
        if segment >= _MAX_SEGMENTS or len(ciphertext) < TAG_SIZE:
            raise IntegrityError(f"segment {segment} truncated or out of range")
        if last and segment > 0 and len(ciphertext) == TAG_SIZE:
            raise IntegrityError("empty final segment after the first")
        try:
            return self._aead.decrypt(self._nonce(segment, last), ciphertext, None)
        except InvalidTag:
            raise IntegrityError(
                f"segment {segment} failed authentication (tampered, truncated, reordered, "
                "spliced, or wrong associated data)"
            ) from None


CipherFactory: TypeAlias = Callable[[bytes], _SegmentCipher]
SegmentHandler: TypeAlias = Callable[[int, BytesLike, bool], bytes]


class _Segmenter:
    """Cuts a byte stream into segments of known sizes, always holding back the newest one.

    A full segment is handed on (as not last) only once a further byte shows it is not the
    end of the stream; ``finish`` hands on the held-back remainder as the last segment. At
    most one segment is ever buffered; whole segments inside a chunk are not copied.
    """

    __slots__ = ("_buffer", "_handle", "_size_of", "segment")

    def __init__(self, size_of: Callable[[int], int], handle: SegmentHandler, first: int) -> None:
        self._size_of = size_of
        self._handle = handle
        self._buffer = bytearray()
        self.segment = first

    def feed(self, view: memoryview, pos: int = 0) -> bytes:
        out: list[bytes] = []
        size = len(view)
        while pos < size:
            need = self._size_of(self.segment)
            if len(self._buffer) == need:
                out.append(self._emit(self._buffer, last=False))
                self._buffer.clear()
            elif not self._buffer and size - pos > need:
                out.append(self._emit(view[pos : pos + need], last=False))
                pos += need
            else:
                take = min(need - len(self._buffer), size - pos)
                self._buffer += view[pos : pos + take]
                pos += take
        return b"".join(out)

    def finish(self, last: bool) -> bytes:
        result = self._emit(self._buffer, last)
        self._buffer.clear()
        return result

    def _emit(self, data: BytesLike, last: bool) -> bytes:
        result = self._handle(self.segment, data, last)
        self.segment += 1
        return result


class StreamEncryptor:
    """Encrypts one stream, emitting whole ciphertext segments as they complete.

    Concatenating everything returned by ``update`` and ``finalize`` gives the complete
    ciphertext, header first. The newest full segment is held back until more data (or
    ``finalize``) shows whether it is the last, so at most one segment is buffered.
    """

    __slots__ = ("_done", "_header", "_header_sent", "_segments")

    def __init__(self, cipher: _SegmentCipher, layout: StreamLayout, header: bytes) -> None:
        self._header = header
        self._header_sent = False
        self._segments = _Segmenter(layout.plaintext_capacity, cipher.seal, first=0)
        self._done = False

    @property
    def header(self) -> bytes:
        """The stream header (also the first bytes of the output), e.g. to store with metadata."""
        return self._header

    def update(self, data: BytesLike) -> bytes:
        """Ciphertext of every segment that is now known not to be the last."""
        self._check_open()
        return b"".join([*self._take_header(), self._segments.feed(memoryview(data).cast("B"))])

    def finalize(self) -> bytes:
        """Seals the buffered remainder as the last segment; an empty stream gets one."""
        self._check_open()
        self._done = True
        return b"".join([*self._take_header(), self._segments.finish(last=True)])

    def _take_header(self) -> list[bytes]:
        if self._header_sent:
            return []
        self._header_sent = True
        return [self._header]

    def _check_open(self) -> None:
        if self._done:
            raise RuntimeError("stream already finalized")


class StreamDecryptor:
    """Decrypts one stream (or one segment range of it) fed in chunks of any size.

    Fails closed: each segment's plaintext is released only after its tag verified at its
    position, and truncation, reordering, splicing, flipped bits, trailing bytes and wrong
    associated data raise IntegrityError no later than ``finalize``. Plaintext already
    returned must be discarded when ``finalize`` raises. After any error every call raises.
    """

    __slots__ = (
        "_cipher",
        "_done",
        "_expected",
        "_failed",
        "_final",
        "_header",
        "_layout",
        "_make_cipher",
        "_received",
        "_remaining",
        "_segments",
        "_skip",
    )

    def __init__(
        self,
        layout: StreamLayout,
        make_cipher: CipherFactory,
        header: bytes | None = None,
        window: SegmentRange | None = None,
    ) -> None:
        self._layout = layout
        self._make_cipher = make_cipher
        self._header = bytearray()
        self._cipher = None if header is None else make_cipher(header)
        first = 0 if window is None else window.first_segment
        self._segments = _Segmenter(self._ciphertext_size_of, self._open, first)
        self._expected = None if window is None else window.ciphertext_length
        self._final = True if window is None else window.ends_with_final_segment
        self._skip = 0 if window is None else window.skip_prefix_bytes
        self._remaining = None if window is None else window.plaintext_length
        self._received = 0
        self._failed = False
        self._done = False

    def update(self, data: BytesLike) -> bytes:
        """Authenticated plaintext of every segment now known not to be the last."""
        self._check_usable()
        view = memoryview(data).cast("B")
        try:
            self._count(len(view))
            return self._trim(self._segments.feed(view, self._consume_header(view)))
        except IntegrityError:
            self._failed = True
            raise

    def finalize(self) -> bytes:
        """Authenticates the final segment; IntegrityError if the stream was cut short."""
        self._check_usable()
        self._done = True
        try:
            if self._expected is not None and self._received != self._expected:
                raise IntegrityError("segment range truncated")
            return self._trim(self._segments.finish(last=self._final))
        except IntegrityError:
            self._failed = True
            raise

    def _consume_header(self, view: memoryview) -> int:
        if self._cipher is not None:
            return 0
        take = min(self._layout.header_size - len(self._header), len(view))
        self._header += view[:take]
        if len(self._header) == self._layout.header_size:
            self._cipher = self._make_cipher(bytes(self._header))
        return take

    def _ciphertext_size_of(self, segment: int) -> int:
        return self._layout.plaintext_capacity(segment) + TAG_SIZE

    def _open(self, segment: int, ciphertext: BytesLike, last: bool) -> bytes:
        if self._cipher is None:
            raise IntegrityError("stream truncated inside the header")
        return self._cipher.open(segment, ciphertext, last)

    def _count(self, size: int) -> None:
        self._received += size
        if self._expected is not None and self._received > self._expected:
            raise IntegrityError("more ciphertext than the segment range holds")

    def _trim(self, plaintext: bytes) -> bytes:
        if self._skip:
            dropped = min(self._skip, len(plaintext))
            plaintext, self._skip = plaintext[dropped:], self._skip - dropped
        if self._remaining is not None:
            plaintext = plaintext[: self._remaining]
            self._remaining -= len(plaintext)
        return plaintext

    def _check_usable(self) -> None:
        if self._failed:
            raise IntegrityError("stream already failed authentication")
        if self._done:
            raise RuntimeError("stream already finalized")


class StreamingAead:
    """Streaming authenticated encryption under one data key (Tink AES-GCM-HKDF-Streaming).

    Every stream draws a fresh random salt and nonce prefix, so callers never handle nonces
    and no (key, nonce) pair repeats. The associated data (e.g. the dataset version id) is
    bound into the segment key: a stream only decrypts under the associated data it was
    encrypted with.
    """

    __slots__ = ("_hkdf_hash", "_ikm", "_key_size", "_layout")

    def __init__(self, key: DataKey, *, segment_size: int = DEFAULT_SEGMENT_SIZE) -> None:
        self._ikm = _key_material(key)
        self._key_size = KEY_SIZE
        self._hkdf_hash: hashes.HashAlgorithm = hashes.SHA256()
        self._layout = StreamLayout(segment_size, HEADER_SIZE)

    @classmethod
    def _with_tink_parameters(
        cls,
        ikm: bytes,
        *,
        derived_key_size: int,
        hkdf_hash: hashes.HashAlgorithm,
        ciphertext_segment_size: int,
    ) -> StreamingAead:
        """Any Tink AesGcmHkdfStreaming key; only for checking Tink's published vectors."""
        self = cls.__new__(cls)
        self._ikm = bytes(ikm)
        self._key_size = derived_key_size
        self._hkdf_hash = hkdf_hash
        header_size = 1 + derived_key_size + NONCE_PREFIX_SIZE
        self._layout = StreamLayout(ciphertext_segment_size - TAG_SIZE, header_size)
        return self

    def __repr__(self) -> str:
        return f"StreamingAead(<redacted>, segment_size={self._layout.segment_size})"

    @property
    def layout(self) -> StreamLayout:
        return self._layout

    def new_encryptor(self, associated_data: bytes) -> StreamEncryptor:
        """Never reuses a nonce: each stream gets a random salt, hence its own segment key."""
        salt = os.urandom(self._key_size)
        header = bytes([self._layout.header_size]) + salt + os.urandom(NONCE_PREFIX_SIZE)
        return self._encryptor_with_header(header, associated_data)

    def new_decryptor(self, associated_data: bytes) -> StreamDecryptor:
        """Decrypts a whole stream, header included, fed from its first byte."""
        return StreamDecryptor(self._layout, self._cipher_factory(associated_data))

    def new_range_decryptor(
        self, associated_data: bytes, header: bytes, segments: SegmentRange
    ) -> StreamDecryptor:
        """Decrypts the ciphertext bytes ``segments`` names into exactly plaintext[start:end].

        Feed it ciphertext[ciphertext_offset : ciphertext_offset + ciphertext_length]; the
        header comes from the stream's first bytes or from stored metadata.
        """
        make_cipher = self._cipher_factory(associated_data)
        return StreamDecryptor(self._layout, make_cipher, bytes(header), segments)

    def encrypt(self, plaintext: BytesLike, associated_data: bytes) -> bytes:
        """One-shot encryption of a small plaintext into the same stream format."""
        encryptor = self.new_encryptor(associated_data)
        return encryptor.update(plaintext) + encryptor.finalize()

    def decrypt(self, ciphertext: BytesLike, associated_data: bytes) -> bytes:
        """Fails closed: returns the plaintext only if the whole stream authenticates."""
        decryptor = self.new_decryptor(associated_data)
        return decryptor.update(ciphertext) + decryptor.finalize()

    def _encryptor_with_header(self, header: bytes, associated_data: bytes) -> StreamEncryptor:
        cipher = self._cipher_factory(associated_data)(header)
        return StreamEncryptor(cipher, self._layout, header)

    def _cipher_factory(self, associated_data: bytes) -> CipherFactory:
        associated = bytes(associated_data)

        def make_cipher(header: bytes) -> _SegmentCipher:
            if len(header) != self._layout.header_size or header[0] != len(header):
                raise IntegrityError("stream header has the wrong length")
            salt, nonce_prefix = header[1 : 1 + self._key_size], header[1 + self._key_size :]
            hkdf = HKDF(self._hkdf_hash, length=self._key_size, salt=salt, info=associated)
            return _SegmentCipher(AESGCM(hkdf.derive(self._ikm)), nonce_prefix)

        return make_cipher
