"""What gen-monitoring derives from the spec, once per render: each store with its
capabilities, the exporter jobs. The alert builders read it; `model.Model` adds the alert
rules built from it (kept apart so the builders do not import what imports them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from memwatch.capabilities import Capabilities, Feature
from memwatch.integrity import INTEGRITY_FEATURES
from memwatch.spec import Spec, Store
from memwatch.spec.monitoring import ScrapeTarget

_ANY_HOST = ("", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class WatchedStore:
    """A store of the spec with its preset's capabilities, asked once."""

    store: Store
    index: int  # its place in `stores` (error messages name stores[i])
    caps: Capabilities

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def served(self) -> frozenset[Feature]:
        """The features whose series the store's exporter serves (the integrity pass's
        only when its integrity_interval is not 0)."""
        f = self.caps.features
        return f - INTEGRITY_FEATURES if self.store.integrity_interval == 0 else f


@dataclass(frozen=True)
class ExporterJob:
    """A Prometheus job scraping memwatch exporters."""

    job: str
    targets: tuple[str, ...]  # host:port as Prometheus reaches them; at least one
    probe: bool = False  # one scrape per store through /probe?store=NAME
    stores: tuple[str, ...] = ()  # probe: the stores it scrapes (() for all)

    @property
    def instance(self) -> str:
        """The `instance` of its first target (the ExporterDown rule's scenarios)."""
        return self.targets[0]


def exporter_target(listen: str) -> str:
    """Where Prometheus reaches an exporter listening on `listen` (a wildcard host ->
    localhost)."""
    host, _, port = listen.rpartition(":")
    return f"{'localhost' if host in _ANY_HOST else host}:{port}"


def exporter_jobs(spec: Spec) -> tuple[ExporterJob, ...]:
    """`prometheus.exporters`; by default one job as ScrapeTarget's defaults give it (job
    `memwatch`). A job without targets scrapes exporter.listen."""
    default = (exporter_target(spec.exporter.listen),)
    return tuple(ExporterJob(e.job, e.targets or default, e.probe, e.stores)
                 for e in spec.prometheus.exporters or (ScrapeTarget(),))


@dataclass(frozen=True)
class Derived:
    """The spec and what the renderers derive from it, each derived once."""

    spec: Spec
    stores: tuple[WatchedStore, ...]
    exporter_jobs: tuple[ExporterJob, ...]

    @classmethod
    def of(cls, spec: Spec) -> Self:
        return cls(spec, tuple(WatchedStore(s, i, s.capabilities())
                               for i, s in enumerate(spec.stores)),
                   exporter_jobs(spec))
