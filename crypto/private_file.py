"""Files only their owner may touch: atomic mode-0600 writes and permission-checked reads."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from crypto.errors import KeyringError

__all__ = ["read_private_file", "write_private_file"]

_OWNER_ONLY = 0o600


def read_private_file(path: Path) -> bytes:
    """Fails closed: refuses a file that group or others may read, write or execute."""
    try:
        with path.open("rb") as file:
            mode = os.fstat(file.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise KeyringError(f"{path} is not a regular file")
            if mode & 0o077:
                raise KeyringError(
                    f"{path} has mode {stat.S_IMODE(mode):04o}, readable or writable beyond "
                    f"its owner; refusing to use it (run: chmod 600 {path})"
                )
            return file.read()
    except FileNotFoundError:
        raise KeyringError(f"{path} does not exist") from None
    except OSError as error:
        raise KeyringError(f"cannot read {path}: {error.strerror}") from error


def write_private_file(path: Path, data: bytes, *, replace: bool) -> None:
    """Atomic: readers see the old content or the new, never a torn write; mode 0600 throughout.

    The data goes to a temporary file in the same directory, is fsynced, then renamed over
    ``path`` (``replace=True``) or hard-linked to it (``replace=False``, which raises
    FileExistsError rather than overwrite); the directory is fsynced last.
    """
    directory = path.parent
    try:
        descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    except OSError as error:
        raise KeyringError(f"cannot write in {directory}: {error.strerror}") from error
    try:
        with os.fdopen(descriptor, "wb") as file:
            os.fchmod(file.fileno(), _OWNER_ONLY)
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        if replace:
            os.replace(temporary, path)
        else:
            os.link(temporary, path)
        _fsync_directory(directory)
    except FileExistsError:
        raise
    except OSError as error:
        raise KeyringError(f"cannot write {path}: {error.strerror}") from error
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
