"""BoundedPipe, the hand-off between a writer and the S3 upload thread."""

from __future__ import annotations

import threading

import pytest

from storage.blobs.pipe import BoundedPipe, PipeClosedError, PipeReader, UploadAbortedError


def test_reads_return_exactly_the_requested_size_until_the_end() -> None:
    pipe = BoundedPipe(capacity=100)
    for chunk in (b"abc", b"defgh", b"ij"):
        pipe.put(chunk)
    pipe.close_write()
    assert pipe.read(4) == b"abcd"
    assert pipe.read(4) == b"efgh"
    assert pipe.read(4) == b"ij"
    assert pipe.read(4) == b""


def test_reader_blocks_until_the_writer_supplies_enough() -> None:
    pipe = BoundedPipe(capacity=4)
    chunks = [bytes([i]) * 3 for i in range(10)]

    def produce() -> None:
        for chunk in chunks:
            pipe.put(chunk)  # blocks whenever 4 bytes are waiting
        pipe.close_write()

    producer = threading.Thread(target=produce)
    producer.start()
    assert PipeReader(pipe).read(25) == b"".join(chunks)[:25]
    assert pipe.read(-1) == b"".join(chunks)[25:]
    producer.join()


def test_abort_makes_the_reader_fail() -> None:
    pipe = BoundedPipe(capacity=10)
    pipe.put(b"data")
    pipe.abort()
    with pytest.raises(UploadAbortedError):
        pipe.read(1)
    with pytest.raises(PipeClosedError):
        pipe.put(b"more")


def test_writer_learns_when_the_reader_has_stopped() -> None:
    pipe = BoundedPipe(capacity=2)
    pipe.put(b"ab")
    stopped = threading.Thread(target=pipe.close_read)
    stopped.start()
    with pytest.raises(PipeClosedError):
        pipe.put(b"cd")  # would block on the full pipe, but the reader is gone
    stopped.join()


def test_readinto_fills_a_buffer() -> None:
    pipe = BoundedPipe(capacity=10)
    pipe.put(b"hello")
    pipe.close_write()
    buffer = bytearray(8)
    assert PipeReader(pipe).readinto(buffer) == 5
    assert bytes(buffer[:5]) == b"hello"
