"""The spec document: the stores union, the exporter's part, and the whole spec with the
checks that span sections."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from memwatch.errors import UnknownStoreError
from memwatch.spec.base import Model
from memwatch.spec.consolidator import ConsolidatorSection
from memwatch.spec.monitoring import (
    AlertsSection,
    DashboardsSection,
    KubernetesSection,
    PrometheusSection,
    RecordingSection,
    RoutingSection,
)
from memwatch.spec.slo import StoreSlo, check_slos
from memwatch.spec.store_base import FilesStore
from memwatch.spec.stores_mongodb import (
    ClawMongoStore,
    Mem0MongoStore,
    MongoStore,
    OrchestratorStore,
)
from memwatch.spec.stores_sql import (
    Mem0HistoryStore,
    Mem0PgvectorStore,
    OpenclawMemoryCoreStore,
    OpenclawMemStore,
    SqlStore,
)
from memwatch.spec.types import ListenAddress, Seconds, Timeout

Store = Annotated[
    OpenclawMemStore | OpenclawMemoryCoreStore | Mem0HistoryStore | Mem0PgvectorStore
    | SqlStore | FilesStore
    | ClawMongoStore | Mem0MongoStore | OrchestratorStore | MongoStore,
    Field(discriminator="preset"),
]


class Defaults(Model):
    timeout: Timeout = 5.0
    min_interval: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    max_namespaces: int = Field(100, ge=1, le=10000)
    integrity_interval: Annotated[Seconds, Field(ge=0, le=7 * 86400)] = 600.0


class ExporterSettings(Model):
    listen: ListenAddress = "127.0.0.1:9187"
    web_config_file: Path | None = Field(
        None, description="Prometheus exporter-toolkit web config (TLS, basic auth)."
    )


class ExporterSpec(Model):
    """The part of the spec the exporter reads: its stores and how it listens."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    exporter: ExporterSettings = ExporterSettings()
    stores: tuple[Store, ...]

    def unknown_stores(self, only: Sequence[str]) -> list[str]:
        """The names in `only` that are no store of the spec."""
        return sorted(set(only) - {s.name for s in self.stores})

    def select(self, only: Sequence[str] = ()) -> list[Store]:
        """The stores named in `only` (every store when empty), in the spec's order."""
        if unknown := self.unknown_stores(only):
            raise UnknownStoreError(f"no store named {', '.join(unknown)} in the spec")
        return [s for s in self.stores if not only or s.name in only]

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("stores"), list):
            return data
        raw = data.get("defaults") or {}
        defaults = {k: v for k, v in raw.items() if k in Defaults.model_fields} if isinstance(
            raw, dict) else {}
        data = dict(data)
        data["stores"] = [
            {**defaults, **s} if isinstance(s, dict) else s for s in data["stores"]
        ]
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> ExporterSpec:
        if not self.stores:
            raise ValueError("stores: list at least one store")
        names = [s.name for s in self.stores]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ValueError(f"stores[{i}].name: store name {n!r} is repeated "
                                 "(store names must be unique)")
        presets = {s.name: s.preset for s in self.stores}
        for s in self.stores:
            h = getattr(s, "history_store", None)
            if h is not None and presets.get(h) != "mem0-history":
                raise ValueError(f"store {s.name}: history_store {h!r} is not a mem0-history "
                                 "store of this spec")
        return self

    def store(self, name: str) -> Store:
        for s in self.stores:
            if s.name == name:
                return s
        raise KeyError(name)


class Spec(ExporterSpec):
    """The whole spec file."""

    # default_factory: a section's model is built when a spec first needs its default, not
    # when this module is imported (the exporter never builds them: load_exporter_spec).
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    recording: RecordingSection = Field(default_factory=RecordingSection)
    routing: RoutingSection = Field(default_factory=RoutingSection)
    dashboards: DashboardsSection = Field(default_factory=DashboardsSection)
    prometheus: PrometheusSection = Field(default_factory=PrometheusSection)
    consolidator: ConsolidatorSection = Field(default_factory=ConsolidatorSection)
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)
    slos: tuple[StoreSlo, ...] = Field(
        (), description="Availability and freshness objectives per store, rendered into "
                        "burn-rate alerts and an error-budget dashboard (docs/slo.md).")

    @model_validator(mode="after")
    def _one_sqlite_consolidator(self) -> Spec:
        if self.kubernetes.consolidator.replicas > 1 and \
                self.consolidator.storage.backend == "sqlite":
            raise ValueError("kubernetes.consolidator.replicas: more than one consolidator "
                             "needs consolidator.storage on postgresql or mongodb (SQLite "
                             "has one writer)")
        return self

    @model_validator(mode="after")
    def _slo_stores(self) -> Spec:
        check_slos(self.slos, {s.name: s.capabilities().features for s in self.stores})
        return self

    @model_validator(mode="after")
    def _probed_stores_exist(self) -> Spec:
        names = {s.name for s in self.stores}
        for i, job in enumerate(self.prometheus.exporters):
            unknown = sorted(set(job.stores) - names)
            if unknown:
                raise ValueError(f"prometheus.exporters[{i}].stores: no store named "
                                 f"{', '.join(unknown)} in the spec")
        return self


# Validated by `memwatch spec check`, gen-monitoring and the consolidator; the exporter
# leaves them out rather than build their models in its process.
MONITORING_SECTIONS = frozenset(Spec.model_fields) - frozenset(ExporterSpec.model_fields)


def presets() -> list[str]:
    """Every `preset` value the Store union accepts."""
    union = get_args(get_args(Store)[0])
    return sorted(a for cls in union for a in get_args(cls.model_fields["preset"].annotation))
