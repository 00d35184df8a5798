"""Giving the exporter's freed heap back to the OS after a scrape.

A scrape's work (SQLite's page cache, a driver's result buffers, the integrity pass) is
malloc'd in worker threads and freed when it ends, but glibc keeps most of those pages
(between live blocks, in per-thread arenas): without a trim the exporter's RSS stays about
2 MiB above what it holds. `malloc_trim(0)` returns them; on the exporter's small heaps it
takes a fraction of a millisecond. A no-op where the C library has none (musl, macOS).
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim  # type: ignore[no-any-return]


_MALLOC_TRIM = _malloc_trim()


def trim() -> None:
    """Return the heap's free pages to the OS (glibc), keeping none in reserve."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)
