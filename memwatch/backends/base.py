"""What a backend returns from one collection, and the interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field

from memwatch.metrics import BY_NAME, NO_NAMESPACE, OTHER_NAMESPACE


@dataclass
class Observation:
    """One successful collection from one store. None means "this store has no such thing"."""

    memories: float | None = None
    namespaces: dict[str, float] | None = None
    newest_timestamp: float | None = None
    size_bytes: float | None = None
    backlog: dict[str, float] = field(default_factory=dict)
    backlog_oldest: dict[str, float] = field(default_factory=dict)
    # An identity that changes when the memory table is dropped and recreated (PG OID).
    identity: str | None = None
    # Preset-specific series: (metric name from memwatch.metrics, labels beyond `store`, value).
    extra: list[tuple[str, dict[str, str], float]] = field(default_factory=list)
    # Exact counts of the namespaces the collector asked about (Backend.watch); a watched
    # name missing here holds nothing. None: this collection could not count them.
    namespace_counts: dict[str, float] | None = None

    def add(self, metric: str, value: float, **labels: str) -> None:
        if metric not in BY_NAME:
            raise KeyError(f"{metric} is not in the metric contract")
        self.extra.append((metric, labels, float(value)))


def by_label(groups: Iterable[tuple[str | None, float]]) -> dict[str, float]:
    """Group counts by their label value: NULL and '' are one label, `__none__`, counted
    once, together."""
    merged: dict[str, float] = {}
    for ns, n in groups:
        merged[ns or NO_NAMESPACE] = merged.get(ns or NO_NAMESPACE, 0.0) + float(n)
    return merged


def cap_namespaces(top: list[tuple[str | None, float]], total: float, cap: int) -> dict[str, float]:
    """Keep the `cap` largest namespaces; whatever the total has beyond them is `__other__`.

    `top` may be longer than `cap` (a backend that returns every group) or exactly `cap`
    long (a backend that asked the database for the top rows only).
    """
    ordered = sorted(by_label(top).items(), key=lambda x: (-x[1], x[0]))
    kept = dict(ordered[:cap])
    other = total - sum(kept.values())
    if other > 0 or len(ordered) > cap:
        kept[OTHER_NAMESPACE] = max(other, 0.0)
    return kept


class Backend(ABC):
    """A store's collector. `collect` runs in a worker thread; `cancel` from another one."""

    kind: str  # the `backend` label: sqlite, postgresql, mongodb, files
    tracks_identity = False  # True where Observation.identity is set (table recreations)
    # Namespaces whose exact counts the next collect() should report in
    # Observation.namespace_counts, even outside the largest (set by the collector).
    watch: frozenset[str] = frozenset()

    @abstractmethod
    def collect(self) -> Observation:
        """Query the store; raise CollectionError with a reason on failure."""

    def integrity(self, timeout: float) -> Observation:
        """The integrity pass (memwatch/integrity.py): series of the store's integrity
        features, bounded by `timeout`, safe to run beside collect()."""
        raise NotImplementedError(f"{type(self).__name__} has no integrity pass")

    def cancel(self) -> None:  # noqa: B027 - optional hook: interrupt a running collect()
        """Interrupt a collection that outlived its timeout (best effort)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""
