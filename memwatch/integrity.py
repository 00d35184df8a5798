"""The integrity pass: what is stored, checked on a slower cadence than the count.

Memories without an embedding, duplicates and the vectors' models and dimensions need a
scan that costs more than a count, and they change slowly. A scrape starts the pass when it
is due (every `integrity_interval`, default 10m) on a thread of its own and never waits for
it; the last successful result is served on every scrape in between (the metrics' HELP
says so). The backend bounds each pass by the store's `integrity_timeout` (by default its
timeout), on a connection of its own.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from memwatch.backends.base import Backend, Observation
from memwatch.capabilities import Feature
from memwatch.errors import REASONS, CollectionError
from memwatch.secrets import redact

log = logging.getLogger("memwatch.integrity")

# The features only the integrity pass reports: a store with any of them gets a pass.
INTEGRITY_FEATURES = frozenset({Feature.MODELS, Feature.WITHOUT_EMBEDDING,
                                Feature.DUPLICATES, Feature.DIMENSIONS})


@dataclass
class IntegrityRunner:
    store: str
    backend: Backend
    interval: float
    timeout: float
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REASONS, 0))
    last: Observation | None = None
    last_success_at: float | None = None  # wall clock
    duration: float | None = None

    def __post_init__(self) -> None:
        self.lock = threading.Lock()  # guards the fields above; the collector reads them
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"integrity-{self.store}")
        self._started: float | None = None  # monotonic
        self._running = False

    def maybe_start(self) -> None:
        """Start a pass when one is due and none is running; return at once."""
        with self.lock:
            now = time.monotonic()
            if self._running or (self._started is not None
                                 and now - self._started < self.interval):
                return
            self._running, self._started = True, now
        self._executor.submit(self._run)

    def run_now(self) -> None:
        """Run a pass in the calling thread and wait for it (tests, benchmarks)."""
        with self.lock:
            self._running, self._started = True, time.monotonic()
        self._run()

    def _run(self) -> None:
        start = time.monotonic()
        try:
            obs = self.backend.integrity(self.timeout)
        except CollectionError as exc:
            self._failed(exc.reason, str(exc))
        except Exception as exc:  # a bug or an unclassified driver error: count, don't die
            log.exception("integrity check failed", extra={"store": self.store})
            self._failed("internal", str(exc))
        else:
            with self.lock:
                self.last, self.duration = obs, time.monotonic() - start
                self.last_success_at = time.time()
        finally:
            with self.lock:
                self._running = False

    def _failed(self, reason: str, text: str) -> None:
        log.warning("integrity check failed", extra={"store": self.store, "reason": reason,
                                                     "error": redact(text)})
        with self.lock:
            self.errors[reason] = self.errors.get(reason, 0) + 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
