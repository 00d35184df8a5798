"""From a spec store to its backend. Imports are lazy: only the drivers a spec needs load."""

from __future__ import annotations

from memwatch.exporters.base import Backend
from memwatch.exporters.files import FilesChecker
from memwatch.spec import FilesCheck, OpenclawMemStore, StoreBase


def make_backend(store: StoreBase) -> Backend:
    preset = getattr(store, "preset", None)
    if preset == "openclaw-mem":
        from memwatch.exporters.sqlite import OpenclawMemBackend
        return OpenclawMemBackend(store)  # type: ignore[arg-type]
    if preset == "mem0-history":
        from memwatch.exporters.sqlite import Mem0HistoryBackend
        return Mem0HistoryBackend(store)  # type: ignore[arg-type]
    if preset == "mem0-pgvector":
        from memwatch.exporters.postgres import Mem0PgvectorBackend
        return Mem0PgvectorBackend(store)  # type: ignore[arg-type]
    if preset == "sql":
        if store.backend == "sqlite":  # type: ignore[attr-defined]
            from memwatch.exporters.sqlite import SqlSqliteBackend
            return SqlSqliteBackend(store)  # type: ignore[arg-type]
        from memwatch.exporters.postgres import SqlPostgresBackend
        return SqlPostgresBackend(store)  # type: ignore[arg-type]
    if preset == "files":
        from memwatch.exporters.files import FilesBackend
        return FilesBackend()
    if preset == "clawmongo":
        from memwatch.exporters.mongodb import ClawMongoBackend
        return ClawMongoBackend(store)  # type: ignore[arg-type]
    if preset == "mem0-mongodb":
        from memwatch.exporters.mongodb import Mem0MongoBackend
        return Mem0MongoBackend(store)  # type: ignore[arg-type]
    if preset == "orchestrator":
        from memwatch.exporters.mongodb import OrchestratorBackend
        return OrchestratorBackend(store)  # type: ignore[arg-type]
    if preset == "mongo":
        from memwatch.exporters.mongodb import MongoCustomBackend
        return MongoCustomBackend(store)  # type: ignore[arg-type]
    raise ValueError(f"no backend for preset {preset!r}")


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
