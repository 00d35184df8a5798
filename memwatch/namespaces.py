"""Which namespaces a store exports from one collection to the next.

A store exports its `max_namespaces` largest namespaces and sums the rest into `__other__`.
A namespace can leave that list for two reasons that look the same to Prometheus: it lost
its memories (mem0's `delete_all(user_id=...)`), or others outgrew it. Only the first is
an incident. The tracker asks the backend for the exact counts of the namespaces it
exported last time (`Backend.watch`) and keeps a namespace that shrank or vanished on
`/metrics` (at its real count, 0 when gone) for `HOLD_SECONDS`, so `MemoryNamespaceLost`
sees the loss; a namespace that merely ranked out leaves as before.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from memwatch.metrics import OTHER_NAMESPACE

# Longer than MemoryNamespaceLost's window plus its `for` at their defaults (1h + 5m), so the
# alert fires and resolves on the window, not on the series leaving.
HOLD_SECONDS = 7200.0


@dataclass
class NamespaceTracker:
    cap: int  # the store's max_namespaces: also the most namespaces held at once
    hold: float = HOLD_SECONDS
    _last: dict[str, float] = field(default_factory=dict)
    _held_until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def watch(self) -> frozenset[str]:
        """The namespaces whose exact counts the next collection should report."""
        with self._lock:
            return frozenset(self._last) - {OTHER_NAMESPACE}

    def apply(self, top: dict[str, float], counts: dict[str, float] | None,
              now: float | None = None) -> dict[str, float]:
        """The namespaces to export: `top` (the largest plus `__other__`) and those last
        exported that shrank out of it. `counts` are the backend's exact counts of the
        watched namespaces (absent: 0); None when it cannot count them (estimate mode), in
        which case nothing is held."""
        now = time.monotonic() if now is None else now
        out = dict(top)
        with self._lock:
            if counts is not None:
                for name, before in self._last.items():
                    if name in out or name == OTHER_NAMESPACE:
                        continue
                    value = counts.get(name, 0.0)
                    until = self._held_until.get(name)
                    if until is None and value < before and len(self._held_until) < self.cap:
                        until = self._held_until[name] = now + self.hold
                    if until is not None and now < until:
                        out[name] = value
                        if OTHER_NAMESPACE in out:  # it was summed there: count it once
                            out[OTHER_NAMESPACE] = max(0.0, out[OTHER_NAMESPACE] - value)
            for name in [n for n, t in self._held_until.items() if now >= t or n in top]:
                del self._held_until[name]
            self._last = out
        return out
