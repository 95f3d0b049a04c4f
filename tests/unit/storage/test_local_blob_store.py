"""LocalBlobStore beyond the shared contract: durability, temp files, path quirks."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from storage.blobs import (
    BlobNotFoundError,
    BlobStoreConfigError,
    BlobStoreError,
    BlobStoreUnavailableError,
    LocalBlobStore,
)
from storage.blobs.local import TEMP_DIR_NAME
from tests.unit.storage.blob_helpers import MiB, payload, read_all, write_blob


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_commit_fsyncs_the_file_before_the_rename_and_the_directory_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", str(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_blob(store, "datasets/d/v1.bin", b"data")

    final = tmp_path / "blobs" / "datasets" / "d" / "v1.bin"
    rename = events.index(("replace", str(final)))
    temp_dir = str(tmp_path / "blobs" / TEMP_DIR_NAME)
    (file_sync,) = [i for i, (op, path) in enumerate(events) if path.startswith(temp_dir)]
    assert events[file_sync][0] == "fsync"
    assert file_sync < rename
    assert events[rename + 1] == ("fsync", str(final.parent))
    # The new directories' entries are made durable too, before the rename.
    assert ("fsync", str(tmp_path / "blobs")) in events[:rename]
    assert ("fsync", str(final.parent.parent)) in events[:rename]


def test_partial_blob_lives_only_in_the_temp_dir_while_writing(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    with store.open_writer("datasets/d/v1.bin") as writer:
        writer.write(payload(MiB))
        (temp,) = (tmp_path / TEMP_DIR_NAME).iterdir()
        assert temp.stat().st_size == MiB
        assert not (tmp_path / "datasets").exists()
        with pytest.raises(BlobNotFoundError):
            store.read("datasets/d/v1.bin")
        assert list(store.iter_keys()) == []
        writer.commit()
    assert list((tmp_path / TEMP_DIR_NAME).iterdir()) == []
    assert (tmp_path / "datasets" / "d" / "v1.bin").stat().st_size == MiB


def test_blob_files_are_readable_by_the_owner_only(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    write_blob(store, "k", b"data")
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_sweep_removes_only_stale_temp_files(tmp_path: Path) -> None:
    clock = FakeClock(now=1_000_000.0)
    store = LocalBlobStore(tmp_path, clock=clock)
    crashed = store.open_writer("crashed")
    crashed.write(b"left behind")
    active = store.open_writer("active")
    active.write(b"still uploading")
    crashed_temp, active_temp = sorted(
        (tmp_path / TEMP_DIR_NAME).iterdir(), key=lambda p: p.read_bytes() != b"left behind"
    )
    os.utime(crashed_temp, (clock.now - 7200, clock.now - 7200))
    os.utime(active_temp, (clock.now - 60, clock.now - 60))

    assert store.sweep_stale_temp(older_than_seconds=3600) == 1
    assert not crashed_temp.exists()
    assert active_temp.exists()
    with pytest.raises(BlobStoreError, match="temporary file is gone"):
        crashed.commit()
    assert not store.exists("crashed")
    assert active.commit() == len(b"still uploading")
    assert store.sweep_stale_temp(older_than_seconds=0) == 0


def test_a_key_cannot_also_be_a_directory_of_other_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    write_blob(store, "a/b", b"inner")
    with pytest.raises(BlobStoreError, match="cannot hold both"):
        write_blob(store, "a", b"outer")
    with pytest.raises(BlobStoreError, match="cannot hold both"):
        write_blob(store, "a/b/c", b"deeper")
    assert read_all(store, "a/b") == b"inner"
    assert not store.exists("a")
    assert list((tmp_path / TEMP_DIR_NAME).iterdir()) == []


def test_abandoned_writer_removes_its_temp_file(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    writer = store.open_writer("k")
    writer.write(b"data")
    del writer  # e.g. a request handler that crashed without aborting
    assert list((tmp_path / TEMP_DIR_NAME).iterdir()) == []


def test_root_is_created_with_its_temp_dir(tmp_path: Path) -> None:
    LocalBlobStore(tmp_path / "new" / "blobs")
    assert (tmp_path / "new" / "blobs" / TEMP_DIR_NAME).is_dir()


def test_root_that_is_a_file_is_a_configuration_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(BlobStoreConfigError, match="blob root"):
        LocalBlobStore(tmp_path / "file")


def test_check_fails_when_the_root_disappears(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    shutil.rmtree(tmp_path / "blobs")
    with pytest.raises(BlobStoreUnavailableError, match="not writable"):
        store.check()


def test_iter_keys_ignores_hidden_files_and_symlinks(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    write_blob(store, "d/k", b"data")
    (tmp_path / "d" / ".DS_Store").write_bytes(b"")
    (tmp_path / "link").symlink_to(tmp_path / "d" / "k")
    assert list(store.iter_keys()) == ["d/k"]
