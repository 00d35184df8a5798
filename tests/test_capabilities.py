"""Each preset's facts live on its spec class (`capabilities()`): the registry builds its
backend from them and the generators read them. These tests hold the declarations to the
code they name; each backend's own tests (`assert_features`) hold them to what it exports."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

import pytest

from memwatch.backends.base import Backend
from memwatch.backends.registry import backend_class
from memwatch.capabilities import Feature
from memwatch.catalogue import ALERT_NAMES
from memwatch.generators.alerts import STORE_ALERTS
from memwatch.generators.alerts.anomaly import anomaly_rules
from memwatch.generators.alerts.host import exporter_rules, ram_rules
from memwatch.generators.model import Model
from memwatch.spec import Store, StoreBase, load_spec, parse_spec, presets

ROOT = Path(__file__).resolve().parents[1]
# one store of every preset (and of each variant that changes what it is)
MINIMAL: dict[str, str] = {
    "openclaw-mem": "{name: s, preset: openclaw-mem}",
    "openclaw-mem/no spool": "{name: s, preset: openclaw-mem, spool: null}",
    "mem0-history": "{name: s, preset: mem0-history, path: /h.db}",
    "openclaw-memory-core": "{name: s, preset: openclaw-memory-core}",
    "mem0-pgvector": "{name: s, preset: mem0-pgvector, dsn: 'postgresql://x'}",
    "sql/sqlite": "{name: s, preset: sql, backend: sqlite, path: /x.db, table: t}",
    "sql/postgresql": "{name: s, preset: sql, backend: postgresql, dsn: 'postgresql://x', "
                      "table: t, namespace: owner, timestamp: ts}",
    "files": "{name: s, preset: files, files: [{name: f, glob: '/x/*'}]}",
    "clawmongo": "{name: s, preset: clawmongo, uri: 'mongodb://x'}",
    "mem0-mongodb": "{name: s, preset: mem0-mongodb, uri: 'mongodb://x'}",
    "orchestrator": "{name: s, preset: orchestrator, uri: 'mongodb://x'}",
    "mongo": "{name: s, preset: mongo, uri: 'mongodb://x', database: d, collection: c}",
}


def store_of(text: str) -> Any:
    return parse_spec(f"stores:\n  - {text}\n").stores[0]


def test_every_preset_has_a_minimal_store() -> None:
    assert {k.split("/")[0] for k in MINIMAL} == set(presets())
    union = get_args(get_args(Store)[0])
    assert {type(store_of(t)) for t in MINIMAL.values()} == set(union)


@pytest.mark.parametrize("key", sorted(MINIMAL))
def test_declared_backend_is_the_class_that_collects(key: str) -> None:
    store: StoreBase = store_of(MINIMAL[key])
    caps = store.capabilities()
    cls = backend_class(store)
    assert issubclass(cls, Backend)
    assert cls.kind == caps.backend
    # the table-recreation counter is exported exactly where the feature is declared
    assert cls.tracks_identity == (Feature.IDENTITY in caps.features)
    assert bool(caps.backlog_stages) == (Feature.BACKLOG in caps.features)
    assert Feature.HARVEST not in caps.features or Feature.BACKLOG in caps.features
    assert caps.features <= set(Feature)


def test_variants_change_the_features() -> None:
    assert Feature.BACKLOG in store_of(MINIMAL["openclaw-mem"]).capabilities().features
    assert Feature.BACKLOG not in store_of(MINIMAL["openclaw-mem/no spool"]).capabilities(
    ).features
    assert store_of(MINIMAL["sql/postgresql"]).capabilities().has(
        Feature.NAMESPACES, Feature.FRESHNESS)
    assert not store_of(MINIMAL["sql/sqlite"]).capabilities().has(Feature.FRESHNESS)
    assert store_of(MINIMAL["sql/sqlite"]).capabilities().backend == "sqlite"


def test_store_alerts_follow_the_features() -> None:
    """An alert is rendered for a store exactly when the store has the features it needs."""
    spec = load_spec(ROOT / "examples" / "monitoring.yaml")
    from memwatch.generators.alerts.context import store_rules
    rendered = {(r.labels["store"], r.alert) for r in store_rules(Model.of(spec))}
    for store in spec.stores:
        caps = store.capabilities()
        for name, alert in STORE_ALERTS.items():
            if not alert.applies(caps):
                assert (store.name, name) not in rendered, (store.name, name)


def test_every_catalogue_alert_has_one_builder() -> None:
    model = Model.of(load_spec(ROOT / "examples" / "monitoring.yaml"))
    elsewhere = {r.alert for r in (*exporter_rules(model), *ram_rules(model),
                                   *anomaly_rules(model))} | {
        "ProcessMemoryUsageHigh", "ProcessMemoryExhaustionPredicted"}
    assert set(STORE_ALERTS) | elsewhere == set(ALERT_NAMES)
    assert not set(STORE_ALERTS) & elsewhere
