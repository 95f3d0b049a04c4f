from __future__ import annotations

import itertools
import os
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives import hashes
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto import (
    DEFAULT_SEGMENT_SIZE,
    DataKey,
    IntegrityError,
    SegmentRange,
    StreamingAead,
    StreamLayout,
)

SEGMENT = 64  # plaintext bytes per segment; the first holds 64 - 40 = 24
FIRST = SEGMENT - 40
CIPHER_SEGMENT = SEGMENT + 16
AAD = b"dataset-version-7f3a"


def _aead(segment_size: int = SEGMENT) -> StreamingAead:
    return StreamingAead(DataKey.generate(), segment_size=segment_size)


def _segments(aead: StreamingAead, ciphertext: bytes) -> list[bytes]:
    """Splits a ciphertext (header excluded) at its segment boundaries."""
    layout, pieces = aead.layout, []
    segment, offset = 0, layout.header_size
    while offset < len(ciphertext):
        end = min(layout.ciphertext_offset(segment + 1), len(ciphertext))
        pieces.append(ciphertext[offset:end])
        segment, offset = segment + 1, end
    return pieces


def _chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({0, len(data), *(cut % (len(data) + 1) for cut in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


# -- Tink's published known-answer vectors (tink-java AesGcmHkdfStreamingTestUtil) ------------


@dataclass(frozen=True)
class TinkVector:
    key: str
    hkdf: hashes.HashAlgorithm
    derived_key_size: int
    ciphertext_segment_size: int
    plaintext: bytes
    aad: bytes
    ciphertext: str


_KEY16 = "6eb56cdc726dfbe5d57f2fcdc6e9345b"
_KEY32 = "00112233445566778899aabbccddeeff6eb56cdc726dfbe5d57f2fcdc6e9345b"
# Tink's published vectors use SHA-1 as the HKDF hash (production uses SHA-256), hence S303.
_SHA1, _SHA256, _SHA512 = hashes.SHA1(), hashes.SHA256(), hashes.SHA512()  # noqa: S303
TINK_VECTORS = [
    TinkVector(
        _KEY16, _SHA1, 16, 64,
        b"This is a fairly long plaintext. It is of the exact length to create three output"
        b" blocks. ",
        b"aad",
        "1893b3af5e14ab378d065addfc8484da642c0862877baea8"
        "db92d9c77406a406168478821c4298eab3e6d531277f4c1a051714faebcaefcbca7b7be05e9445ea"
        "a0bb2904153398a25084dd80ae0edcd1c3079fcea2cd3770630ee36f7539207b8ec9d754956d486b"
        "71cdf989f0ed6fba6779b63558be0a66e668df14e1603cd2"
        "af8944844078345286d0b292e772e7190775c51a0f83e40c0b75821027e7e538e111",
    ),
    TinkVector(_KEY16, _SHA1, 16, 64, b"", b"",
               "18ec99b2c3884194023bd41bb9bff309205354c750fa0cb3c0d02609abf71f88eaeaa48d7deca27f"),
    TinkVector(_KEY16, _SHA256, 16, 64, b"", b"",
               "18be78bce0cab6fd38a9041eea8ab0ffc4cf17e3c00b661d3927f5f79069f41a210fedc40b25648c"),
    TinkVector(_KEY16, _SHA512, 16, 64, b"", b"",
               "18fec8139ccb406e0f140d7e2bcc41e1b899bc1b121574cc31d1c78ed2ca1cdf324665b8dce21095"),
    TinkVector(_KEY32, _SHA1, 16, 64, b"", b"",
               "180880e85a24207a7b72cefde26306ed09d7d76e58104b751d005a3ffd72dd6151f0d9c8ccf163f7"),
    TinkVector(_KEY32, _SHA1, 32, 64, b"", b"",
               "28fae780c70a82d1256c8303a1261ac6a98cf557b4e173967a62f3c149517ba5b2431da93b3c6e90"
               "f508b34dc14bfda59bab05681c6ad3fa"),
    TinkVector(_KEY32, _SHA1, 32, 128, b"", b"",
               "28fae780c70a82d1256c8303a1261ac6a98cf557b4e173967a62f3c149517ba5b2431da93b3c6e90"
               "f508b34dc14bfda59bab05681c6ad3fa"),
    TinkVector(
        _KEY32, _SHA1, 32, 120,
        b"BLOCK 1.BLOCK 2.BLOCK 3.BLOCK 4.BLOCK 5.BLOCK 6.BLOCK 7.BLOCK 8.",
        bytes([0, 1, 2, 3]),
        "28782994617714a80fa085e15051a16854522330d6d0f26c049b2192f09cdd98b2eb90c753bfff277a"
        "29e54fa4afb15d648c28477eb07f012535c767f5fdce24ffffae318480c1d37357d6d3c511159318af"
        "a09ef38aa3f5456fd7817c5c02dd6e1a7fef174c8bd24e38b5982ac105497c0101ac5581fe5b",
    ),
]  # fmt: skip


def _tink(vector: TinkVector) -> StreamingAead:
    return StreamingAead._with_tink_parameters(
        bytes.fromhex(vector.key),
        derived_key_size=vector.derived_key_size,
        hkdf_hash=vector.hkdf,
        ciphertext_segment_size=vector.ciphertext_segment_size,
    )


@pytest.mark.parametrize("vector", TINK_VECTORS, ids=[f"tink-{i}" for i in range(8)])
def test_tink_vector_decrypts(vector: TinkVector) -> None:
    ciphertext = bytes.fromhex(vector.ciphertext)
    assert _tink(vector).decrypt(ciphertext, vector.aad) == vector.plaintext


@pytest.mark.parametrize("vector", TINK_VECTORS, ids=[f"tink-{i}" for i in range(8)])
def test_tink_vector_encrypts_to_the_same_bytes_under_its_header(vector: TinkVector) -> None:
    aead, ciphertext = _tink(vector), bytes.fromhex(vector.ciphertext)
    encryptor = aead._encryptor_with_header(ciphertext[: aead.layout.header_size], vector.aad)
    assert encryptor.update(vector.plaintext) + encryptor.finalize() == ciphertext


def test_tink_vector_rejects_other_associated_data() -> None:
    vector = TINK_VECTORS[0]
    with pytest.raises(IntegrityError):
        _tink(vector).decrypt(bytes.fromhex(vector.ciphertext), b"aae")


# -- round trips ------------------------------------------------------------------------------

BOUNDARY_SIZES = [
    *(0, 1),
    *(FIRST - 1, FIRST, FIRST + 1),  # around the end of the (shorter) first segment
    *(SEGMENT - 1, SEGMENT, SEGMENT + 1),
    *(FIRST + SEGMENT - 1, FIRST + SEGMENT, FIRST + SEGMENT + 1),  # around two full segments
    10 * SEGMENT + 7,
]


@pytest.mark.parametrize("size", BOUNDARY_SIZES)
def test_round_trip_at_segment_boundaries(size: int) -> None:
    aead, plaintext = _aead(), os.urandom(size)
    ciphertext = aead.encrypt(plaintext, AAD)
    assert len(ciphertext) == aead.layout.ciphertext_size(size)
    assert aead.layout.plaintext_size(len(ciphertext)) == size
    assert aead.decrypt(ciphertext, AAD) == plaintext


def test_empty_plaintext_is_one_empty_last_segment() -> None:
    aead = _aead()
    ciphertext = aead.encrypt(b"", AAD)
    assert len(ciphertext) == 40 + 16
    assert aead.decrypt(ciphertext, AAD) == b""


def test_round_trip_with_default_one_mebibyte_segments() -> None:
    aead = StreamingAead(DataKey.generate())
    assert aead.layout.segment_size == DEFAULT_SEGMENT_SIZE == 1 << 20
    plaintext = os.urandom(3 * DEFAULT_SEGMENT_SIZE + 12345)
    encryptor = aead.new_encryptor(AAD)
    view = memoryview(plaintext)
    chunks = [encryptor.update(view[i : i + 65536]) for i in range(0, len(plaintext), 65536)]
    ciphertext = b"".join(chunks) + encryptor.finalize()
    assert len(ciphertext) == aead.layout.ciphertext_size(len(plaintext))
    assert aead.decrypt(memoryview(ciphertext), AAD) == plaintext


@settings(max_examples=150, deadline=None, database=None)
@given(
    st.binary(max_size=700),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.lists(st.integers(0, 10_000), max_size=12),
)
def test_any_chunking_round_trips(
    plaintext: bytes, cuts_in: list[int], cuts_out: list[int]
) -> None:
    aead = _aead()
    encryptor = aead.new_encryptor(AAD)
    pieces = [encryptor.update(bytearray(chunk)) for chunk in _chunked(plaintext, cuts_in)]
    ciphertext = b"".join(pieces) + encryptor.finalize()
    decryptor = aead.new_decryptor(AAD)
    recovered = [decryptor.update(chunk) for chunk in _chunked(ciphertext, cuts_out)]
    assert b"".join(recovered) + decryptor.finalize() == plaintext


@settings(max_examples=60, deadline=None, database=None)
@given(st.integers(0, 900), st.integers(1, 97))
def test_buffering_stays_within_one_segment(size: int, chunk: int) -> None:
    aead, plaintext = _aead(), os.urandom(size)
    layout = aead.layout
    encryptor, emitted, ciphertext = aead.new_encryptor(AAD), 0, b""
    for fed in range(chunk, size + chunk, chunk):
        ciphertext += encryptor.update(plaintext[fed - chunk : fed])
        sealed = len(ciphertext) // CIPHER_SEGMENT  # header + first segment fill one
        emitted = layout.plaintext_offset(sealed)
        assert min(fed, size) - emitted <= layout.plaintext_capacity(sealed)
    ciphertext += encryptor.finalize()
    decryptor, released = aead.new_decryptor(AAD), 0
    for fed in range(chunk, len(ciphertext) + chunk, chunk):
        released += len(decryptor.update(ciphertext[fed - chunk : fed]))
        complete = layout.plaintext_offset(min(fed, len(ciphertext)) // CIPHER_SEGMENT)
        assert released >= complete - SEGMENT
    assert released + len(decryptor.finalize()) == size


def test_each_stream_gets_its_own_header() -> None:
    aead = _aead()
    first, second = aead.new_encryptor(AAD), aead.new_encryptor(AAD)
    assert first.header != second.header
    assert first.header[0] == 40 and len(first.header) == 40
    assert first.update(b"x").startswith(first.header)


def test_finalized_streams_refuse_more_input() -> None:
    aead = _aead()
    encryptor = aead.new_encryptor(AAD)
    ciphertext = encryptor.finalize()
    with pytest.raises(RuntimeError):
        encryptor.update(b"late")
    decryptor = aead.new_decryptor(AAD)
    decryptor.update(ciphertext)
    decryptor.finalize()
    with pytest.raises(RuntimeError):
        decryptor.finalize()


def test_data_key_does_not_reveal_itself() -> None:
    key = DataKey.generate()
    assert "redacted" in repr(key) and "redacted" in repr(StreamingAead(key))
    with pytest.raises(ValueError):
        DataKey(b"short")


# -- tampering --------------------------------------------------------------------------------


def _fails(aead: StreamingAead, ciphertext: bytes, aad: bytes = AAD) -> None:
    with pytest.raises(IntegrityError):
        aead.decrypt(ciphertext, aad)


@pytest.fixture
def sample() -> tuple[StreamingAead, bytes, bytes]:
    aead = _aead()
    plaintext = os.urandom(FIRST + 4 * SEGMENT + 10)  # six segments, the last one short
    return aead, plaintext, aead.encrypt(plaintext, AAD)


def test_truncation_is_detected(sample: tuple[StreamingAead, bytes, bytes]) -> None:
    aead, _, ciphertext = sample
    segments = _segments(aead, ciphertext)
    assert len(segments) == 6
    without_last = ciphertext[: len(ciphertext) - len(segments[-1])]
    for cut in [without_last, ciphertext[:-1], ciphertext[:-17], ciphertext[: 40 + 10],
                ciphertext[:40], ciphertext[:10], b""]:  # fmt: skip
        _fails(aead, cut)


def test_reordered_or_duplicated_segments_are_detected(
    sample: tuple[StreamingAead, bytes, bytes],
) -> None:
    aead, _, ciphertext = sample
    header, segments = ciphertext[:40], _segments(aead, ciphertext)
    swapped = [segments[0], segments[2], segments[1], *segments[3:]]
    duplicated = [segments[0], segments[1], segments[1], *segments[3:]]
    for order in (swapped, duplicated):
        _fails(aead, header + b"".join(order))


def test_segments_spliced_from_another_stream_are_detected(
    sample: tuple[StreamingAead, bytes, bytes],
) -> None:
    aead, plaintext, ciphertext = sample
    header, segments = ciphertext[:40], _segments(aead, ciphertext)
    other_version = aead.encrypt(plaintext, b"dataset-version-other")
    same_version = aead.encrypt(plaintext, AAD)  # same key and AAD, fresh salt
    for donor in (other_version, same_version):
        donor_segments = _segments(aead, donor)
        _fails(aead, header + b"".join([segments[0], donor_segments[1], *segments[2:]]))
        _fails(aead, donor[:40] + b"".join(segments))


def test_every_flipped_bit_is_detected() -> None:
    aead = _aead()
    ciphertext = bytearray(aead.encrypt(os.urandom(FIRST + SEGMENT + 5), AAD))
    for bit in range(len(ciphertext) * 8):
        ciphertext[bit // 8] ^= 1 << (bit % 8)
        _fails(aead, bytes(ciphertext))
        ciphertext[bit // 8] ^= 1 << (bit % 8)
    assert aead.decrypt(bytes(ciphertext), AAD)


def test_trailing_garbage_is_detected(sample: tuple[StreamingAead, bytes, bytes]) -> None:
    aead, _, ciphertext = sample
    for garbage in (b"\x00", os.urandom(16), os.urandom(CIPHER_SEGMENT), ciphertext[-30:]):
        _fails(aead, ciphertext + garbage)


def test_wrong_associated_data_is_detected(sample: tuple[StreamingAead, bytes, bytes]) -> None:
    aead, _, ciphertext = sample
    _fails(aead, ciphertext, b"dataset-version-7f3b")
    _fails(aead, ciphertext, b"")


def test_wrong_key_is_detected(sample: tuple[StreamingAead, bytes, bytes]) -> None:
    _, _, ciphertext = sample
    _fails(_aead(), ciphertext)


def test_empty_final_segment_after_a_full_one_is_rejected() -> None:
    aead = _aead()
    header = aead.new_encryptor(AAD).header
    cipher = aead._cipher_factory(AAD)(header)
    forged = header + cipher.seal(0, os.urandom(FIRST), False) + cipher.seal(1, b"", True)
    _fails(aead, forged)


def test_a_failed_stream_stays_failed(sample: tuple[StreamingAead, bytes, bytes]) -> None:
    aead, _, ciphertext = sample
    decryptor = aead.new_decryptor(b"wrong")
    with pytest.raises(IntegrityError):
        decryptor.update(ciphertext)
    with pytest.raises(IntegrityError):
        decryptor.update(b"")
    with pytest.raises(IntegrityError):
        decryptor.finalize()


# -- layout and random access -----------------------------------------------------------------


def test_layout_sizes_are_mutually_inverse() -> None:
    layout = StreamLayout(SEGMENT)
    for size in range(2000):
        assert layout.plaintext_size(layout.ciphertext_size(size)) == size
    valid = {layout.ciphertext_size(size) for size in range(2000)}
    for ciphertext_size in range(max(valid)):
        if ciphertext_size not in valid:
            with pytest.raises(IntegrityError):
                layout.plaintext_size(ciphertext_size)


def test_segment_range_arithmetic() -> None:
    layout = StreamLayout(SEGMENT)
    assert layout.segment_range(30, 100, 500) == SegmentRange(
        first_segment=1,
        last_segment=2,
        ciphertext_offset=CIPHER_SEGMENT,
        ciphertext_length=2 * CIPHER_SEGMENT,
        skip_prefix_bytes=30 - FIRST,
        plaintext_length=70,
        ends_with_final_segment=False,
    )
    last = layout.segment_range(0, 500, 500)
    assert (last.ciphertext_offset, last.ciphertext_length) == (
        40,
        layout.ciphertext_size(500) - 40,
    )
    assert last.ends_with_final_segment
    for start, end in [(5, 5), (-1, 3), (0, 501)]:
        with pytest.raises(ValueError):
            layout.segment_range(start, end, 500)


def test_layout_rejects_segments_that_cannot_hold_the_header() -> None:
    with pytest.raises(ValueError):
        StreamLayout(40)


@settings(max_examples=200, deadline=None, database=None)
@given(st.integers(1, 800), st.data())
def test_random_access_equals_slicing(size: int, data: st.DataObject) -> None:
    aead, plaintext = _aead(), os.urandom(size)
    ciphertext = aead.encrypt(plaintext, AAD)
    start = data.draw(st.integers(0, size - 1))
    end = data.draw(st.integers(start + 1, size))
    window = aead.layout.segment_range(start, end, size)
    offset = window.ciphertext_offset
    piece = ciphertext[offset : offset + window.ciphertext_length]
    decryptor = aead.new_range_decryptor(AAD, ciphertext[:40], window)
    cuts = data.draw(st.lists(st.integers(0, 10_000), max_size=6))
    out = b"".join(decryptor.update(chunk) for chunk in _chunked(piece, cuts))
    assert out + decryptor.finalize() == plaintext[start:end]


def _range_fixture() -> tuple[StreamingAead, bytes, bytes, SegmentRange]:
    aead, plaintext = _aead(), os.urandom(FIRST + 6 * SEGMENT + 3)
    ciphertext = aead.encrypt(plaintext, AAD)
    return aead, plaintext, ciphertext, aead.layout.segment_range(100, 250, len(plaintext))


def _range_fails(aead: StreamingAead, header: bytes, window: SegmentRange, piece: bytes) -> None:
    decryptor = aead.new_range_decryptor(AAD, header, window)
    with pytest.raises(IntegrityError):
        decryptor.update(piece)
        decryptor.finalize()


def test_tampered_ranges_are_detected() -> None:
    aead, _, ciphertext, window = _range_fixture()
    start, length, header = window.ciphertext_offset, window.ciphertext_length, ciphertext[:40]
    piece = ciphertext[start : start + length]
    shifted = ciphertext[start + CIPHER_SEGMENT : start + CIPHER_SEGMENT + length]
    other_header = aead.new_encryptor(AAD).header
    flipped = piece[:20] + bytes([piece[20] ^ 1]) + piece[21:]
    for bad in (piece[:-1], piece + b"\x00", shifted, flipped):
        _range_fails(aead, header, window, bad)
    _range_fails(aead, other_header, window, piece)
    with pytest.raises(IntegrityError):
        aead.new_range_decryptor(AAD, header[:-1], window)


def test_range_at_the_end_authenticates_the_final_segment() -> None:
    aead, plaintext, ciphertext, _ = _range_fixture()
    window = aead.layout.segment_range(len(plaintext) - 5, len(plaintext), len(plaintext))
    assert window.ends_with_final_segment
    piece = ciphertext[window.ciphertext_offset :]
    decryptor = aead.new_range_decryptor(AAD, ciphertext[:40], window)
    assert decryptor.update(piece) + decryptor.finalize() == plaintext[-5:]
    _range_fails(aead, ciphertext[:40], window, piece[:-16])
