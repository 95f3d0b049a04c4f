"""How this process holds memory: freed memory goes back to the system promptly.

Overlaps and views build large transient arrays (a parsed CSV, normalized keys) on worker
threads; what the allocators keep after such a burst is what a server's resident size
grows by. Measured on two 1,000,000-row lists (benchmarks/overlaps.py): mimalloc, pyarrow's
default, kept about twice the peak resident of jemalloc with immediate decay, and glibc's
default of eight malloc arenas per core added ~50 MiB of retained heap over two arenas.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util

import pyarrow as pa

__all__ = ["return_freed_memory"]

_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
_ARENAS = 2


def return_freed_memory() -> None:
    """Arrow's allocator for this process: jemalloc returning freed pages at once (decay 0),
    else the system allocator; glibc's malloc limited to two arenas (where it is glibc)."""
    try:
        pool = pa.jemalloc_memory_pool()
        pa.jemalloc_set_decay_ms(0)
    except NotImplementedError:
        pool = pa.system_memory_pool()
    pa.set_memory_pool(pool)
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to limit
        ctypes.CDLL(name).mallopt(_M_ARENA_MAX, _ARENAS)
