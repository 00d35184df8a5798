"""Doctor checks for the MongoDB stores (clawmongo, mem0-mongodb, orchestrator, mongo).

Through the store's own backend (`MongoBackend.client`: the same URI and secrets, timeouts
and error classification as the exporter), every command a read, each bounded by the
store's deadline; then one collection by the exporter's code."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TypeVar

import pymongo
from pymongo.errors import PyMongoError

from memwatch.backends.mongo_client import Doc, MongoBackend, classify
from memwatch.backends.mongodb import find_clawmongo_collections
from memwatch.backends.registry import make_backend
from memwatch.doctor import Report, collect
from memwatch.errors import CollectionError
from memwatch.spec import (
    ClawMongoStore,
    Mem0MongoStore,
    MongoStore,
    OrchestratorStore,
    StoreBase,
)

T = TypeVar("T")
Store = ClawMongoStore | Mem0MongoStore | OrchestratorStore | MongoStore
FIX = {
    "connect": "is the server running and reachable at the URI's host and port (and its "
               "TLS and replica-set options right)?",
    "auth": "check the user name, the password (the URI's, `password` or `password_file`) "
            "and authSource (the database the user was created in)",
    "permission": "grant the user the built-in `read` role on the store's database",
    "timeout": "the server did not answer within the store's timeout: a firewall dropping "
               "packets, or the server overloaded",
    "config": "fix the URI, or set the variable in the exporter's environment",
}


class Failed(Exception):
    """A check failed and was reported: nothing further to ask."""


def check_mongodb(store: StoreBase, report: Report) -> None:
    assert isinstance(store, ClawMongoStore | Mem0MongoStore | OrchestratorStore | MongoStore)
    backend = make_backend(store)
    assert isinstance(backend, MongoBackend)
    try:
        _checks(store, backend, report)
        collect(backend, report)
    except Failed:
        pass  # reported
    finally:
        backend.close()


def _run(backend: MongoBackend, report: Report, check: str, what: str,
         call: Callable[[], T]) -> T:
    """`call` within the store's deadline; a failure reported (with its fix) as Failed."""
    try:
        with pymongo.timeout(backend.budget):
            return call()
    except (PyMongoError, CollectionError) as exc:
        err = exc if isinstance(exc, CollectionError) else classify(exc)
        fix = FIX.get(err.reason, "")
        report.fail(check, f"{what} failed ({err.reason}): {err}" + (f"; {fix}" if fix else ""))
        raise Failed from None


def _checks(store: Store, backend: MongoBackend, report: Report) -> None:
    client = _run(backend, report, "connect", "connecting", backend.client)
    _run(backend, report, "connect", "ping", lambda: client.admin.command("ping"))
    host = ", ".join(f"{h}:{p}" for h, p in client.nodes) or "the server"
    report.ok("connect", f"connected to {host}")
    db = client[store.database]
    names = set(_run(backend, report, "collections",
                     f"listing the collections of database {store.database}",
                     db.list_collection_names))
    wanted = _collections(store, names, report)
    if wanted is None:
        if not names:
            report.fail("collections", f"database {store.database} has no collections: "
                        f"it does not exist or is empty{_databases(backend, client)}")
        raise Failed
    for name in wanted:
        _run(backend, report, "privileges", f"reading {store.database}.{name}",
             partial(db[name].find_one, {}, {"_id": 1}))
    report.ok("privileges", f"the user may read {', '.join(sorted(wanted))}")


def _collections(store: Store, names: set[str], report: Report) -> list[str] | None:
    """The collections the store reads, reported; None (and a FAIL) when missing."""
    where = f"database {store.database}"
    if isinstance(store, ClawMongoStore):
        events = [c for c, _ in find_clawmongo_collections(names, store.prefix)["events"]]
        if events:
            report.ok("collections", f"{where}: events collections {', '.join(events)}")
            return events
        alike = sorted(n for n in names if n.endswith("events"))
        hint = f"; collections ending in events: {', '.join(alike[:10])}" if alike else ""
        if alike:  # `<prefix><agentId>_events`: the prefix ends at the first underscore
            guess = alike[0][:alike[0].find("_") + 1] or alike[0][:-len("events")]
            hint += f" (set prefix: {guess})"
        if names:
            report.fail("collections", f"{where} has no events collection under prefix "
                                       f"{store.prefix}{hint}")
        return None
    wanted = list(store.collections) if isinstance(store, OrchestratorStore) else [
        store.collection]
    missing = [c for c in wanted if c not in names]
    if not missing:
        report.ok("collections", f"{where}: {', '.join(wanted)}")
        return wanted
    if names:
        report.fail("collections", f"collection {', '.join(missing)} does not exist in "
                                   f"{where}; {_alike(store, names)}")
    return None


def _alike(store: Store, names: set[str]) -> str:
    listed = ", ".join(sorted(names)[:15])
    if isinstance(store, Mem0MongoStore):
        return (f"its collections: {listed} (set collection:; mem0 creates its collection "
                "on its first add())")
    return f"its collections: {listed}"


def _databases(backend: MongoBackend, client: pymongo.MongoClient[Doc]) -> str:
    try:
        with pymongo.timeout(backend.budget):
            dbs: list[str] = client.list_database_names()
    except PyMongoError:
        return ""  # not allowed to list them: the hint is only a hint
    shown = [d for d in dbs if d not in ("admin", "config", "local")]
    return f" (databases: {', '.join(shown[:15])})" if shown else ""
