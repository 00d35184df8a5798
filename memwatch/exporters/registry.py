"""From a spec store to its backend. Imports are lazy: only the drivers a spec needs load."""

from __future__ import annotations

import importlib

from memwatch.exporters.base import Backend
from memwatch.exporters.files import FilesChecker
from memwatch.spec import FilesCheck, OpenclawMemStore, StoreBase

# preset -> "module:Class"; imported on first use so a spec loads only the drivers it needs
BACKENDS: dict[str, str] = {
    "openclaw-mem": "memwatch.exporters.sqlite:OpenclawMemBackend",
    "mem0-history": "memwatch.exporters.sqlite:Mem0HistoryBackend",
    "mem0-pgvector": "memwatch.exporters.postgres:Mem0PgvectorBackend",
    "sql/sqlite": "memwatch.exporters.sqlite:SqlSqliteBackend",
    "sql/postgresql": "memwatch.exporters.postgres:SqlPostgresBackend",
    "files": "memwatch.exporters.files:FilesBackend",
    "clawmongo": "memwatch.exporters.mongodb:ClawMongoBackend",
    "mem0-mongodb": "memwatch.exporters.mongodb:Mem0MongoBackend",
    "orchestrator": "memwatch.exporters.mongodb:OrchestratorBackend",
    "mongo": "memwatch.exporters.mongodb:MongoCustomBackend",
}


def make_backend(store: StoreBase) -> Backend:
    preset = str(getattr(store, "preset", ""))
    if preset == "sql":
        preset = f"sql/{getattr(store, 'backend', '')}"
    if preset not in BACKENDS:
        raise ValueError(f"no backend for preset {preset!r}")
    module, _, name = BACKENDS[preset].partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls(store)  # type: ignore[call-arg]


def file_checks(store: StoreBase) -> FilesChecker:
    """The store's own file checks plus those its preset implies (openclaw-mem's spool)."""
    checks = list(store.files)
    if isinstance(store, OpenclawMemStore) and store.spool:
        checks += [
            FilesCheck(name="spool", glob=store.spool, backlog_stage="spool"),
            FilesCheck(name="processing", glob=f"{store.spool}.*.processing",
                       backlog_stage="processing"),
        ]
    return FilesChecker(checks)
