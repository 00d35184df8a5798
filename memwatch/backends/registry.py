"""From a spec store to its backend. Imports are lazy: only the drivers a spec needs load."""

from __future__ import annotations

import importlib

from memwatch.backends.base import Backend
from memwatch.backends.files import FilesChecker
from memwatch.spec import FilesCheck, OpenclawMemStore, StoreBase


def backend_class(store: StoreBase) -> type[Backend]:
    """The class the store's preset names (`Capabilities.implementation`), imported now so
    a spec loads only the drivers it needs."""
    module, _, name = store.capabilities().implementation.partition(":")
    cls: type[Backend] = getattr(importlib.import_module(module), name)
    return cls


def make_backend(store: StoreBase) -> Backend:
    return backend_class(store)(store)  # type: ignore[call-arg]


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
