"""The MongoDB backends' common part (pymongo): one client per store, every collection
bounded by the store's timeout, driver errors classified into CollectionError reasons.

One MongoClient per store, created on the first collection and kept: the driver reconnects
by itself after an outage. Every collection runs inside `pymongo.timeout()` (client-side
operation timeout) set to the store's timeout less 0.5 s: each command carries `maxTimeMS`
for the time left, and server selection, connecting and waiting for a reply all give up at
that deadline, so a dead server (`connect`) or a hung one (`timeout`) is reported within
the store's timeout.
"""

from __future__ import annotations

import contextlib
import threading
from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import pymongo
from bson.errors import BSONError
from pymongo import MongoClient
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from memwatch import secrets
from memwatch.backends.base import Backend, Observation
from memwatch.errors import CollectionError, SecretError
from memwatch.spec import MongoSource

Doc = dict[str, Any]

# pymongo.common.MIN_HEARTBEAT_INTERVAL: how often a waiting server selection looks again.
SELECTION_SLACK = 0.5

# MongoDB error codes
AUTH_FAILED = 18
UNAUTHORIZED = 13
MAX_TIME_EXPIRED = 50
NAMESPACE_NOT_FOUND = 26


def classify(exc: Exception) -> CollectionError:
    text = secrets.redact(str(exc).strip())
    if isinstance(exc, ConfigurationError):
        return CollectionError("config", text)
    if isinstance(exc, ServerSelectionTimeoutError):  # no server answered: down, refused
        return CollectionError("connect", f"no server reachable: {text}")
    if isinstance(exc, OperationFailure):
        code = exc.code
        if code == AUTH_FAILED or "authentication failed" in text.lower():
            return CollectionError("auth", text)
        if code == UNAUTHORIZED:
            return CollectionError("permission", text)
        if code == MAX_TIME_EXPIRED or exc.timeout:
            return CollectionError("timeout", f"query stopped at the store's timeout: {text}")
        return CollectionError("query", text)
    if isinstance(exc, PyMongoError) and exc.timeout:
        return CollectionError("timeout", f"no answer within the store's timeout: {text}")
    if isinstance(exc, ConnectionFailure):
        return CollectionError("connect", text)
    return CollectionError("query", text)


class MongoBackend(Backend):
    kind = "mongodb"

    def __init__(self, source: MongoSource, timeout: float) -> None:
        self.source = source
        self.timeout = timeout
        self._client: MongoClient[Doc] | None = None
        self._lock = threading.Lock()

    def client(self) -> MongoClient[Doc]:
        with self._lock:
            if self._client is not None:
                return self._client
        src = self.source
        try:
            uri = secrets.resolve(src.uri, src.uri_file, "uri") or ""
            password = secrets.resolve(src.password, src.password_file, "password")
        except SecretError as exc:
            raise CollectionError("config", str(exc)) from None
        ms = max(1, int(min(src.connect_timeout, self.budget) * 1000))
        kwargs: dict[str, Any] = {
            "serverSelectionTimeoutMS": ms,
            "connectTimeoutMS": ms,
            "socketTimeoutMS": max(1, int(self.budget * 1000)),
            "appname": "memwatch",
            "tz_aware": True,
            "maxPoolSize": 4,
        }
        if src.username is not None:
            kwargs["username"] = src.username
        if password is not None:
            kwargs["password"] = password
        try:
            client: MongoClient[Doc] = MongoClient(uri, **kwargs)
        except Exception as exc:
            raise classify(exc) from None
        with self._lock:
            if self._client is None:
                self._client = client
                return client
            other = self._client
        client.close()
        return other

    @property
    def budget(self) -> float:
        """The client-side deadline of one collection: the store's timeout less the 0.5 s
        by which pymongo's server selection may overrun a deadline (it looks again every
        0.5 s), so a dead server is reported as `connect` within the timeout."""
        return max(self.timeout - SELECTION_SLACK, self.timeout / 2)

    def collect(self) -> Observation:
        return self._bounded(self.query, self.budget)

    def integrity(self, timeout: float) -> Observation:
        return self._bounded(self.integrity_query, max(timeout - SELECTION_SLACK, timeout / 2))

    def integrity_query(self, client: MongoClient[Doc]) -> Observation:
        raise NotImplementedError(f"{type(self).__name__} has no integrity pass")

    def _bounded(self, run: Callable[[MongoClient[Doc]], Observation], budget: float
                 ) -> Observation:
        """`run` within `budget` seconds (the client is thread-safe: an integrity pass runs
        beside a collection), its driver errors classified."""
        client = self.client()
        try:
            with pymongo.timeout(budget):
                return run(client)
        except CollectionError:
            raise
        except (PyMongoError, BSONError) as exc:  # BSONError: a document it cannot decode
            raise classify(exc) from None

    @abstractmethod
    def query(self, client: MongoClient[Doc]) -> Observation: ...

    def cancel(self) -> None:
        """Close the client so a stuck operation fails; the next collection opens a new
        one. Closing may wait for the server (ending sessions): done off this thread."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            threading.Thread(target=_close_quietly, args=(client,), daemon=True,
                             name="memwatch-mongo-close").start()

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _close_quietly(client)


def _close_quietly(client: MongoClient[Doc]) -> None:
    with contextlib.suppress(Exception):
        client.close()
