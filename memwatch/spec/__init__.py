"""The YAML spec: a validated model of the stores, the monitoring sections, the consolidator
and the SLOs, loaded with errors that name the file, line and key path.

Modules: `base` (the Model base, shared checks), `types` (durations, names), `store_base`,
`stores_sql` and `stores_mongodb` (the presets), `monitoring`, `consolidator` and `slo`
(the other sections), `document` (the whole spec), `safe_yaml` and `load` (reading it),
`schema` (its JSON Schema). What other packages use of the stores and loading is here.
"""

from __future__ import annotations

from memwatch.spec.document import ExporterSpec, Spec, Store, presets
from memwatch.spec.load import did_you_mean, load_exporter_spec, load_spec, parse_spec
from memwatch.spec.schema import json_schema
from memwatch.spec.store_base import FilesCheck, FilesStore, StoreBase
from memwatch.spec.stores_mongodb import (
    ClawMongoStore,
    Mem0MongoStore,
    MongoSource,
    MongoStore,
    OrchestratorStore,
)
from memwatch.spec.stores_sql import (
    AUTO_ESTIMATE_ROWS,
    Condition,
    Mem0HistoryStore,
    Mem0PgvectorStore,
    OpenclawMemoryCoreStore,
    OpenclawMemStore,
    PostgresSource,
    SqlStore,
)

__all__ = [
    "AUTO_ESTIMATE_ROWS",
    "ClawMongoStore",
    "Condition",
    "ExporterSpec",
    "FilesCheck",
    "FilesStore",
    "Mem0HistoryStore",
    "Mem0MongoStore",
    "Mem0PgvectorStore",
    "MongoSource",
    "MongoStore",
    "OpenclawMemStore",
    "OpenclawMemoryCoreStore",
    "OrchestratorStore",
    "PostgresSource",
    "Spec",
    "SqlStore",
    "Store",
    "StoreBase",
    "did_you_mean",
    "json_schema",
    "load_exporter_spec",
    "load_spec",
    "parse_spec",
    "presets",
]
