"""The BlobStore contract, run against every implementation (local files and S3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.blobs import (
    READ_CHUNK_SIZE,
    BlobNotFoundError,
    BlobStore,
    InvalidBlobKeyError,
    LocalBlobStore,
)
from tests.unit.storage.blob_helpers import (
    MiB,
    leftovers,
    payload,
    read_all,
    uneven,
    write_blob,
)


@pytest.fixture(
    params=[
        pytest.param("local", id="local"),
        pytest.param("s3", id="s3", marks=pytest.mark.s3),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    s3_store: BlobStore = request.getfixturevalue("s3_store")
    return s3_store


@pytest.mark.parametrize("size", [0, 1, 3 * MiB + 12_345], ids=["empty", "one-byte", "3MiB"])
def test_committed_blob_reads_back_identically(store: BlobStore, size: int) -> None:
    data = payload(size)
    assert write_blob(store, "datasets/d1/v1.bin", data) == size
    assert read_all(store, "datasets/d1/v1.bin") == data
    assert store.size("datasets/d1/v1.bin") == size
    assert store.exists("datasets/d1/v1.bin")


def test_reads_stream_in_bounded_chunks(store: BlobStore) -> None:
    data = payload(3 * MiB + 1)
    write_blob(store, "k", data)
    with store.read("k") as stream:
        chunks = list(stream)
    assert b"".join(chunks) == data
    assert len(chunks) >= 4
    assert max(len(chunk) for chunk in chunks) <= READ_CHUNK_SIZE


def test_writer_copies_memoryview_data_before_returning(store: BlobStore) -> None:
    buffer = bytearray(b"first")
    with store.open_writer("k") as writer:
        writer.write(memoryview(buffer))
        buffer[:] = b"XXXXX"  # callers reuse their buffers between writes
        writer.write(memoryview(buffer)[:2])
        writer.commit()
    assert read_all(store, "k") == b"firstXX"


SIZE = 2 * MiB + 5


@pytest.mark.parametrize(
    ("offset", "length"),
    [
        (0, None),
        (0, 10),
        (10, None),
        (MiB - 3, 7),  # across a chunk boundary
        (5, 0),
        (SIZE - 1, None),
        (SIZE - 2, 100),  # runs past the end: like slicing, shorter
        (SIZE, None),  # at the end: nothing
        (SIZE + 10, 3),  # past the end: nothing
    ],
)
def test_ranged_read_returns_the_slice(store: BlobStore, offset: int, length: int | None) -> None:
    data = payload(SIZE)
    write_blob(store, "k", data)
    end = None if length is None else offset + length
    assert read_all(store, "k", offset, length) == data[offset:end]


def test_ranged_read_of_empty_blob_is_empty(store: BlobStore) -> None:
    write_blob(store, "k", b"")
    assert read_all(store, "k", 0, 5) == b""
    assert read_all(store, "k", 3) == b""


@pytest.mark.parametrize(("offset", "length"), [(-1, None), (0, -1)])
def test_negative_range_is_rejected(store: BlobStore, offset: int, length: int | None) -> None:
    write_blob(store, "k", b"data")
    with pytest.raises(ValueError, match="negative"):
        store.read("k", offset, length)


def test_missing_blob_is_reported_as_not_found(store: BlobStore) -> None:
    for read in (
        lambda: store.read("missing/k"),
        lambda: store.read("missing/k", 5, 0),
        lambda: store.size("missing/k"),
    ):
        with pytest.raises(BlobNotFoundError) as caught:
            read()
        assert caught.value.key == "missing/k"
    assert not store.exists("missing/k")


def test_commit_replaces_an_existing_blob(store: BlobStore) -> None:
    write_blob(store, "k", payload(MiB, seed=1))
    new = payload(1000, seed=2)
    assert write_blob(store, "k", new) == 1000
    assert read_all(store, "k") == new
    assert store.size("k") == 1000
    assert list(store.iter_keys()) == ["k"]


def test_old_content_stays_visible_until_the_replacement_commits(store: BlobStore) -> None:
    old = payload(1000, seed=1)
    write_blob(store, "k", old)
    with store.open_writer("k") as writer:
        writer.write(payload(2 * MiB, seed=2))
        assert read_all(store, "k") == old
        writer.commit()
    assert store.size("k") == 2 * MiB


def test_reader_that_started_before_a_replacement_sees_the_old_blob(store: BlobStore) -> None:
    old = payload(3 * MiB, seed=1)
    write_blob(store, "k", old)
    with store.read("k") as stream:
        first = next(stream)
        write_blob(store, "k", payload(3 * MiB, seed=2))
        rest = b"".join(stream)
    assert first + rest == old


def test_blob_is_invisible_until_commit(store: BlobStore) -> None:
    with store.open_writer("datasets/d/v1.bin") as writer:
        writer.write(payload(2 * MiB))
        assert not store.exists("datasets/d/v1.bin")
        assert list(store.iter_keys()) == []
        with pytest.raises(BlobNotFoundError):
            store.read("datasets/d/v1.bin")
        writer.commit()
    assert store.exists("datasets/d/v1.bin")
    assert leftovers(store) == []


def test_abort_leaves_no_blob_and_no_temporary_data(store: BlobStore) -> None:
    writer = store.open_writer("k")
    for chunk in uneven(payload(6 * MiB)):
        writer.write(chunk)
    writer.abort()
    writer.abort()  # idempotent
    assert not store.exists("k")
    assert list(store.iter_keys()) == []
    assert leftovers(store) == []


def test_exception_inside_the_writer_block_aborts(store: BlobStore) -> None:
    with pytest.raises(RuntimeError, match="client went away"), store.open_writer("k") as writer:
        writer.write(payload(MiB))
        raise RuntimeError("client went away")
    assert not store.exists("k")
    assert leftovers(store) == []


def test_leaving_the_writer_block_without_commit_aborts(store: BlobStore) -> None:
    with store.open_writer("k") as writer:
        writer.write(b"data")
    assert not store.exists("k")
    assert leftovers(store) == []


def test_finished_writer_refuses_further_use(store: BlobStore) -> None:
    committed = store.open_writer("a")
    committed.write(b"data")
    committed.commit()
    with pytest.raises(ValueError, match="already"):
        committed.write(b"more")
    with pytest.raises(ValueError, match="already"):
        committed.commit()
    committed.abort()  # no-op after commit
    assert read_all(store, "a") == b"data"

    aborted = store.open_writer("b")
    aborted.abort()
    with pytest.raises(ValueError, match="already"):
        aborted.commit()
    assert not store.exists("b")


def test_delete_removes_and_is_idempotent(store: BlobStore) -> None:
    write_blob(store, "datasets/d/v1.bin", b"data")
    store.delete("datasets/d/v1.bin")
    assert not store.exists("datasets/d/v1.bin")
    store.delete("datasets/d/v1.bin")
    store.delete("never/written")
    assert list(store.iter_keys()) == []


BAD_KEYS = [
    "",
    "/etc/passwd",
    "../escape",
    "a/../../b",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "a\x00b",
    "a\nb",
    ".tmp/x",
    "a/.hidden",
    "x" * 1025,
    "\ud800",
]


@pytest.mark.parametrize("key", BAD_KEYS)
@pytest.mark.parametrize("operation", ["open_writer", "read", "size", "exists", "delete"])
def test_unsafe_keys_are_rejected(store: BlobStore, operation: str, key: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        getattr(store, operation)(key)


def test_iter_keys_lists_committed_blobs_by_string_prefix(store: BlobStore) -> None:
    keys = [
        "datasets/a1/v1.bin",
        "datasets/a1/v2.bin",
        "datasets/a2/v1.bin",
        "datasets/b/v1.bin",
        "other/x",
    ]
    for key in keys:
        write_blob(store, key, key.encode())
    expected = {
        "": set(keys),
        "datasets/": set(keys[:4]),
        "datasets/a": set(keys[:3]),
        "datasets/a1/": set(keys[:2]),
        "datasets/a1/v1.bin": {keys[0]},
        "datasets/c": set(),
        "nothing/here/": set(),
    }
    for prefix, wanted in expected.items():
        assert set(store.iter_keys(prefix)) == wanted, prefix


@pytest.mark.parametrize("prefix", ["../", "/abs", "a//", ".tmp/"])
def test_iter_keys_rejects_unsafe_prefixes(store: BlobStore, prefix: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        list(store.iter_keys(prefix))


def test_closing_a_stream_early_releases_it(store: BlobStore) -> None:
    data = payload(3 * MiB)
    write_blob(store, "k", data)
    for _ in range(20):  # more than a connection pool holds
        stream = store.read("k")
        next(stream)
        stream.close()
        stream.close()
        assert list(stream) == []
    assert read_all(store, "k") == data


def test_check_passes_on_a_healthy_store(store: BlobStore) -> None:
    store.check()
