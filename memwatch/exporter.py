"""Assembles the exporter from a spec: one runner per store, a registry, the HTTP app."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from memwatch.backends.registry import file_checks, make_backend
from memwatch.collector import MemwatchCollector, StoreRunner
from memwatch.server import make_app
from memwatch.spec import ExporterSpec
from memwatch.webconfig import WebConfig


@dataclass
class Exporter:
    registry: CollectorRegistry
    collector: MemwatchCollector
    app: Any

    def close(self) -> None:
        for runner in self.collector.runners:
            runner.close()


def build_exporter(spec: ExporterSpec, only: Sequence[str] = (), web: WebConfig | None = None,
                   reload: Callable[[], list[str]] | None = None) -> Exporter:
    """`reload`: what `POST /-/reload` runs (None: the lifecycle API is off, 403)."""
    runners = [StoreRunner(s, make_backend(s), file_checks(s)) for s in spec.select(only)]
    collector = MemwatchCollector(runners)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    app = make_app(registry, lambda: collector.names, web or WebConfig(), collector.only,
                   reload)
    return Exporter(registry, collector, app)
