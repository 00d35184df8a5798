"""The storage revision of a storage several consolidators share (PostgreSQL, MongoDB)."""

from __future__ import annotations

import threading
from collections.abc import Callable

REVISION_POLL_SECONDS = 0.1


class SharedRevision:
    """Repository.revision for a storage several consolidators share: the storage keeps a
    counter that every write bumps in its transaction. This process learns its own writes'
    value at once (`seen`, after the commit) and the others' from a daemon thread that reads
    the counter every `interval` seconds, started by the first `value()`; so a revision is
    a read of memory, never a query on the request path."""

    def __init__(self, read: Callable[[], int],
                 interval: float = REVISION_POLL_SECONDS) -> None:
        self._read, self._interval = read, interval
        self._value = read()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seen(self, n: int) -> None:
        with self._lock:
            self._value = max(self._value, n)  # the counter only grows: a late read is older

    def value(self) -> int:
        """No I/O: the first call starts the polling thread after one read of its own."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._poll, daemon=True,
                                                    name="revision")
                    self._thread.start()
        return self._value

    def _poll(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.seen(self._read())
                wait = self._interval
            except Exception:  # the storage is down: /health says so; try again later
                wait = max(1.0, self._interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
