"""LocalBlobStore: blobs as files under a root directory, committed by atomic rename."""

from __future__ import annotations

__all__ = ["TEMP_DIR_NAME", "LocalBlobStore"]

import contextlib
import os
import stat
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

from storage.blobs.base import BlobStore, BlobWriter, check_range
from storage.blobs.errors import (
    BlobNotFoundError,
    BlobStoreConfigError,
    BlobStoreError,
    BlobStoreUnavailableError,
)
from storage.blobs.keys import validate_key, validate_prefix
from storage.blobs.stream import BlobStream, empty_stream

TEMP_DIR_NAME = ".tmp"  # keys cannot start with '.', so this never collides with a blob
_TEMP_SUFFIX = ".part"
_MISSING = (FileNotFoundError, NotADirectoryError, IsADirectoryError)


@contextlib.contextmanager
def _os_errors(action: str) -> Iterator[None]:
    """Translate OSError: permissions are configuration, anything else an unusable disk."""
    try:
        yield
    except PermissionError as exc:
        raise BlobStoreConfigError(f"{action}: {exc}") from exc
    except OSError as exc:
        raise BlobStoreUnavailableError(f"{action}: {exc}") from exc


def _fsync_dir(directory: Path) -> None:
    """Persist a directory's entries (a rename or unlink is durable only after this)."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs_durable(directory: Path) -> None:
    """Create ``directory`` and missing parents, fsyncing each parent that gained an entry."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        try:
            path.mkdir(mode=0o700)
        except FileExistsError:  # a concurrent writer created it first
            if not path.is_dir():
                raise
        _fsync_dir(path.parent)


def _discard_temp(file: Callable[[], None], temp_path: Path) -> None:
    """Close and remove a writer's temporary file (also run if the writer is abandoned)."""
    file()
    with contextlib.suppress(FileNotFoundError):  # already swept or renamed: nothing left
        temp_path.unlink()


class _LocalBlobWriter(BlobWriter):
    """Writes into ``<root>/.tmp/<random>.part``; commit fsyncs and renames it into place."""

    def __init__(self, key: str, final_path: Path, temp_dir: Path) -> None:
        self.key = key
        self._final_path = final_path
        with _os_errors(f"cannot create a temporary file in {temp_dir}"):
            fd, name = tempfile.mkstemp(dir=temp_dir, suffix=_TEMP_SUFFIX)
        self._file = open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by commit/abort
        self._temp_path = Path(name)
        self._size = 0
        self._open = True
        self._discard = weakref.finalize(self, _discard_temp, self._file.close, self._temp_path)

    def write(self, data: bytes | memoryview) -> None:
        self._require_open()
        view = memoryview(data).cast("B")
        count = view.nbytes
        try:
            with _os_errors(f"cannot write blob {self.key!r}"):
                while view:
                    written = self._file.write(view)
                    view = view[written:]
        except BlobStoreError:
            self.abort()
            raise
        self._size += count

    def commit(self) -> int:
        self._require_open()
        try:
            with _os_errors(f"cannot commit blob {self.key!r}"):
                os.fsync(self._file.fileno())
                self._file.close()
                try:
                    _make_dirs_durable(self._final_path.parent)
                    os.replace(self._temp_path, self._final_path)
                except FileNotFoundError as exc:
                    raise BlobStoreError(
                        f"cannot commit blob {self.key!r}: its temporary file is gone "
                        "(swept as stale?)"
                    ) from exc
                except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
                    raise BlobStoreError(
                        f"cannot commit blob {self.key!r}: a directory stands at its path, or "
                        "a file at a parent's (LocalBlobStore cannot hold both 'a' and 'a/b')"
                    ) from exc
                _fsync_dir(self._final_path.parent)
        except BaseException:
            self.abort()
            raise
        self._open = False
        self._discard.detach()
        return self._size

    def abort(self) -> None:
        self._open = False  # after a commit the finalizer is detached: nothing to discard
        self._discard()

    def _require_open(self) -> None:
        if not self._open:
            raise ValueError(f"writer for {self.key!r} is already committed or aborted")


class LocalBlobStore(BlobStore):
    """Blobs as files under ``root``; the key's segments are the path below it.

    Writers stream into ``root/.tmp`` (same filesystem, so the final rename is atomic);
    commit fsyncs the file, renames it into place and fsyncs the directory. Files are
    created 0600. Because keys are paths, a key cannot also be a prefix directory of
    another key ('a' and 'a/b'); committing such a pair raises BlobStoreError. Directories
    emptied by ``delete`` are left in place.
    """

    def __init__(self, root: Path, *, clock: Callable[[], float] = time.time) -> None:
        """Use (and create if needed) ``root``; ``clock`` gives the time for the sweeper."""
        self._root = Path(root).absolute()
        self._temp_dir = self._root / TEMP_DIR_NAME
        self._clock = clock
        try:
            # Owner-only: blobs are ciphertext, but their names and sizes are not public.
            self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._temp_dir.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise BlobStoreConfigError(f"cannot use {self._root} as blob root: {exc}") from exc

    @property
    def root(self) -> Path:
        return self._root

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*validate_key(key).split("/"))

    def open_writer(self, key: str) -> BlobWriter:
        return _LocalBlobWriter(key, self._path(key), self._temp_dir)

    def read(self, key: str, offset: int = 0, length: int | None = None) -> BlobStream:
        path = self._path(key)
        check_range(offset, length)
        with _os_errors(f"cannot read blob {key!r}"):
            try:
                file = open(path, "rb", buffering=0)  # noqa: SIM115 - the stream closes it
            except _MISSING:
                raise BlobNotFoundError(key) from None
            if length == 0:
                file.close()
                return empty_stream()
            file.seek(offset)

        def read_chunk(size: int) -> bytes:
            with _os_errors(f"cannot read blob {key!r}"):
                return file.read(size) or b""

        return BlobStream(read_chunk, lambda _exhausted: file.close(), length=length)

    def size(self, key: str) -> int:
        path = self._path(key)
        with _os_errors(f"cannot stat blob {key!r}"):
            try:
                info = path.stat()
            except _MISSING:
                raise BlobNotFoundError(key) from None
        if not stat.S_ISREG(info.st_mode):
            raise BlobNotFoundError(key)
        return info.st_size

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except BlobNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        path = self._path(key)
        with _os_errors(f"cannot delete blob {key!r}"):
            try:
                path.unlink()
            except _MISSING:
                return
            _fsync_dir(path.parent)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        validate_prefix(prefix)
        start = prefix.rpartition("/")[0]
        pending = [start]
        while pending:
            dir_key = pending.pop()
            directory = self._root.joinpath(*dir_key.split("/")) if dir_key else self._root
            with _os_errors(f"cannot list {directory}"):
                try:
                    entries = list(os.scandir(directory))
                except _MISSING:  # the prefix names no directory, or it was just removed
                    continue
            for entry in entries:
                if entry.name.startswith("."):  # .tmp and anything that is not a key
                    continue
                key = f"{dir_key}/{entry.name}" if dir_key else entry.name
                if entry.is_dir(follow_symlinks=False):
                    if (key + "/").startswith(prefix) or prefix.startswith(key + "/"):
                        pending.append(key)
                elif entry.is_file(follow_symlinks=False) and key.startswith(prefix):
                    yield key

    def check(self) -> None:
        """Ready if a file can be created in ``root/.tmp`` (catches read-only or lost mounts)."""
        try:
            fd, name = tempfile.mkstemp(dir=self._temp_dir, suffix=".probe")
            os.close(fd)
            os.unlink(name)
        except OSError as exc:
            raise BlobStoreUnavailableError(
                f"blob root {self._root} is not writable: {exc}"
            ) from exc

    def sweep_stale_temp(self, older_than_seconds: float) -> int:
        """Remove temporary files not modified for ``older_than_seconds``; return how many.

        For files left by a crash. A writer's file is touched on every write, so pick a
        threshold well above the longest pause an upload may take (an hour, say): a swept
        writer fails on commit instead of producing a blob.
        """
        cutoff = self._clock() - older_than_seconds
        removed = 0
        with _os_errors(f"cannot sweep {self._temp_dir}"):
            for entry in os.scandir(self._temp_dir):
                if not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    if entry.stat(follow_symlinks=False).st_mtime >= cutoff:
                        continue
                    os.unlink(entry.path)
                except FileNotFoundError:  # committed or aborted meanwhile
                    continue
                removed += 1
        return removed
