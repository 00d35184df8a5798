"""MongoDB backends (pymongo): ClawMongo, mem0's MongoDB store, an orchestrator's
collections and the custom `mongo` preset.

Reads only: find, aggregate (never `$out`/`$merge`), count, listCollections, collStats and
dbStats; a user with the built-in `read` role is enough. One MongoClient per store, created
on the first collection and kept: the driver reconnects by itself after an outage. Every
collection runs inside `pymongo.timeout()` (client-side operation timeout) set to the
store's timeout less 0.5 s: each command carries `maxTimeMS` for the time left, and server
selection, connecting and waiting for a reply all give up at that deadline, so a dead server
(`connect`) or a hung one (`timeout`) is reported within the store's timeout.

`count: exact` scans: one aggregation per collection gives the count, the namespaces and
the newest timestamp together. `count: estimate` reads the count from collection metadata
(`estimated_document_count`, the `count` command without a query), namespaces from a
`$sample` scaled to that count (exact when the collection is no bigger than the sample) and
freshness from the last documents in natural (insertion) order.
"""

from __future__ import annotations

import contextlib
import math
import threading
from abc import abstractmethod
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
from bson.errors import BSONError
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    OperationFailure,
    PyMongoError,
    ServerSelectionTimeoutError,
)

from memwatch import metrics as m
from memwatch import secrets
from memwatch.errors import CollectionError, SecretError
from memwatch.exporters.base import Backend, Observation, by_label, cap_namespaces
from memwatch.exporters.files import parse_time
from memwatch.exporters.missing import MissingTable
from memwatch.spec import (
    ClawMongoStore,
    Mem0MongoStore,
    MongoSource,
    MongoStore,
    OrchestratorStore,
)

Doc = dict[str, Any]
Tally = defaultdict[str | None, float]


def tally(keys: Iterable[str] = ()) -> Tally:
    """Counts by label value, with the given keys present (at 0) from the start."""
    out: Tally = defaultdict(float)
    for k in keys:
        out[k] = 0.0
    return out

# Estimate mode: documents sampled for namespace counts, documents read for freshness.
SAMPLE_DOCS = 10_000
TAIL_DOCS = 1_000
# pymongo.common.MIN_HEARTBEAT_INTERVAL: how often a waiting server selection looks again.
SELECTION_SLACK = 0.5

# MongoDB error codes
_AUTH_FAILED = 18
_UNAUTHORIZED = 13
_MAX_TIME_EXPIRED = 50
_NAMESPACE_NOT_FOUND = 26


def classify(exc: Exception) -> CollectionError:
    text = secrets.redact(str(exc).strip())
    if isinstance(exc, ConfigurationError):
        return CollectionError("config", text)
    if isinstance(exc, ServerSelectionTimeoutError):  # no server answered: down, refused
        return CollectionError("connect", f"no server reachable: {text}")
    if isinstance(exc, OperationFailure):
        code = exc.code
        if code == _AUTH_FAILED or "authentication failed" in text.lower():
            return CollectionError("auth", text)
        if code == _UNAUTHORIZED:
            return CollectionError("permission", text)
        if code == _MAX_TIME_EXPIRED or exc.timeout:
            return CollectionError("timeout", f"query stopped at the store's timeout: {text}")
        return CollectionError("query", text)
    if isinstance(exc, PyMongoError) and exc.timeout:
        return CollectionError("timeout", f"no answer within the store's timeout: {text}")
    if isinstance(exc, ConnectionFailure):
        return CollectionError("connect", text)
    return CollectionError("query", text)


def to_unix(value: Any) -> float | None:
    """Unix seconds from a BSON date, an ISO-8601 string or Unix seconds/milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return float(value.timestamp())
    if isinstance(value, bool):
        return None
    return parse_time(value)


def newest_of(values: Iterable[Any]) -> float | None:
    times = [t for t in (to_unix(v) for v in values) if t is not None]
    return max(times) if times else None


def get_path(doc: Mapping[str, Any], path: str) -> Any:
    cur: Any = doc
    for key in path.split("."):
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(key)
    return cur


def label(value: Any) -> str | None:
    """A group key as a label value (None and "" become `__none__` downstream)."""
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def apportion(shares: list[tuple[str | None, float]], total: float
              ) -> list[tuple[str | None, float]]:
    """Whole numbers for scaled shares that add up to `total` (largest remainder), so a
    sample never shows a spurious `__other__` or a namespace more than the count."""
    floors = [(key, math.floor(v), v - math.floor(v)) for key, v in shares]
    left = round(total) - sum(f for _, f, _ in floors)
    order = sorted(range(len(floors)), key=lambda i: (-floors[i][2], str(floors[i][0])))
    bump = set(order[:max(0, left)])
    return [(key, float(f + (1 if i in bump else 0))) for i, (key, f, _) in enumerate(floors)]


def _offset_key(field: str) -> Doc:
    """Aggregation expression: the UTC offset an ISO string ends with (`+hh:mm`, `-hh:mm`,
    `Z`; `other` for strings without one), or the BSON type of a value that is no string."""
    v = f"${field}"
    n: Doc = {"$strLenCP": v}
    at = {"$max": [0, {"$subtract": [n, 6]}]}
    return {"$cond": [
        {"$ne": [{"$type": v}, "string"]}, {"$type": v},
        {"$cond": [
            {"$in": [{"$substrCP": [v, at, 1]}, ["+", "-"]]}, {"$substrCP": [v, at, 6]},
            {"$cond": [{"$eq": [{"$substrCP": [v, {"$max": [0, {"$subtract": [n, 1]}]}, 1]},
                                "Z"]}, "Z", "other"]},
        ]},
    ]}


def _unset(field: str) -> Doc:
    """Aggregation test: the field is missing or null."""
    return {"$eq": [{"$ifNull": [f"${field}", None]}, None]}


class MongoBackend(Backend):
    kind = "mongodb"

    def __init__(self, source: MongoSource, timeout: float) -> None:
        self.source = source
        self.timeout = timeout
        self._client: MongoClient[Doc] | None = None
        self._lock = threading.Lock()

    # -- connection ----------------------------------------------------------------------
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

    # -- query helpers -----------------------------------------------------------------
    @staticmethod
    def size_of_collection(db: Database[Doc], name: str) -> float | None:
        """storageSize + totalIndexSize; 0 for a missing collection; None where the
        server does not offer collStats."""
        try:
            stats = db.command("collStats", name)
        except OperationFailure as exc:
            if exc.code == _NAMESPACE_NOT_FOUND:
                return 0.0
            if exc.code == _UNAUTHORIZED:
                raise
            return None
        return float(stats.get("storageSize", 0) or 0) + float(
            stats.get("totalIndexSize", 0) or 0)

    @staticmethod
    def size_of_database(db: Database[Doc]) -> float | None:
        try:
            stats = db.command("dbStats")
        except OperationFailure as exc:
            if exc.code == _UNAUTHORIZED:
                raise
            return None
        return float(stats.get("storageSize", 0) or 0) + float(stats.get("indexSize", 0) or 0)

    @staticmethod
    def tail_newest(coll: Collection[Doc], fields: tuple[str, ...]) -> float | None:
        """Newest time among the last TAIL_DOCS documents in natural (insertion) order.

        A reverse collection scan asked for by `hint`, not by a `$natural` sort: MongoDB
        honours both, SecantusDB only the hint (it returns a `$natural` sort unreversed, so the
        first documents inserted would be read)."""
        projection = {"_id": 0, **dict.fromkeys(fields, 1)}
        docs = coll.find({}, projection).hint([("$natural", -1)]).limit(TAIL_DOCS)
        return newest_of(get_path(d, f) for d in docs for f in fields)

    def grouped(self, coll: Collection[Doc], key: Any, times: tuple[str, ...], match: Doc,
                cap: int) -> Grouped:
        """One scan: the total, the `cap` largest groups, candidates for the newest time
        and the counts of the watched namespaces (`Backend.watch`).

        ISO strings compare as text, which is chronological only among strings with the
        same UTC offset: the maximum is taken per offset (per type for non-strings) and
        the few candidates are parsed here, as mem0's US/Pacific -07:00/-08:00 needs."""
        facets: Doc = {
            "top": [{"$group": {"_id": key, "n": {"$sum": 1}}},
                    {"$sort": {"n": -1, "_id": 1}}, {"$limit": cap}],
            "all": [{"$group": {"_id": None, "n": {"$sum": 1}}}],
        }
        for i, f in enumerate(times):
            facets[f"t{i}"] = [{"$group": {"_id": _offset_key(f), "t": {"$max": f"${f}"}}}]
        watched = _watched_match(key, self.watch)
        if watched is not None:
            facets["watched"] = [{"$match": watched},
                                 {"$group": {"_id": key, "n": {"$sum": 1}}}]
        pipeline: list[Doc] = [{"$match": match}] if match else []
        pipeline.append({"$facet": facets})
        out = next(iter(coll.aggregate(pipeline)), None) or {}
        whole = (out.get("all") or [{}])[0]
        return Grouped(
            total=float(whole.get("n", 0) or 0),
            top=[(label(g.get("_id")), float(g.get("n", 0))) for g in out.get("top") or []],
            candidates=[g.get("t") for i in range(len(times)) for g in out.get(f"t{i}") or []],
            watched={label(g.get("_id")) or m.NO_NAMESPACE: float(g.get("n", 0))
                     for g in out.get("watched") or []} if watched is not None else {})

    @staticmethod
    def sampled(coll: Collection[Doc], key: Any, total: float
                ) -> list[tuple[str | None, float]]:
        """Group counts from a $sample of SAMPLE_DOCS documents, scaled to `total`."""
        rows = list(coll.aggregate([{"$sample": {"size": SAMPLE_DOCS}},
                                    {"$group": {"_id": key, "n": {"$sum": 1}}}]))
        seen = sum(float(r.get("n", 0)) for r in rows)
        scale = total / seen if seen else 0.0
        return apportion([(label(r.get("_id")), float(r.get("n", 0)) * scale) for r in rows],
                         total)

    def counted_groups(self, coll: Collection[Doc], key: Any, estimate: bool, cap: int,
                       times: tuple[str, ...] = (), match: Doc | None = None
                       ) -> tuple[float, list[tuple[str | None, float]], float | None,
                                  dict[str, float] | None]:
        """(total, groups, newest, watched counts) exactly, or by estimate for a large
        collection (a sample: no watched counts)."""
        if estimate:
            total = float(coll.estimated_document_count())
            if total > SAMPLE_DOCS:
                groups = self.sampled(coll, key, total)
                newest = self.tail_newest(coll, times) if times else None
                return total, groups, newest, None
        g = self.grouped(coll, key, times, match or {}, cap)
        return g.total, g.top, newest_of(g.candidates), g.watched


@dataclass
class Grouped:
    total: float
    top: list[tuple[str | None, float]]
    candidates: list[Any]
    watched: dict[str, float]


def _watched_match(key: Any, names: frozenset[str]) -> Doc | None:
    """A $match for the documents of the watched namespaces, when `key` is a plain field
    (`$payload.user_id`); `__none__` stands for a missing or null field."""
    if not names or not isinstance(key, str) or not key.startswith("$"):
        return None
    values: list[Any] = sorted(n for n in names if n != m.NO_NAMESPACE)
    if m.NO_NAMESPACE in names:
        values.append(None)  # matches null and missing
    return {key[1:]: {"$in": values}}


def _close_quietly(client: MongoClient[Doc]) -> None:
    with contextlib.suppress(Exception):
        client.close()


# --- mem0 ---------------------------------------------------------------------------------

class Mem0MongoBackend(MongoBackend):
    """mem0's MongoDB store: `{_id, embedding, payload}`; ids live in `payload`."""

    def __init__(self, store: Mem0MongoStore) -> None:
        super().__init__(store, store.timeout)
        self.store = store
        self.missing = MissingTable(store.name, f"{store.database}.{store.collection}",
                                    "collection")

    def query(self, client: MongoClient[Doc]) -> Observation:
        s = self.store
        db = client[s.database]
        exists = bool(db.list_collection_names(filter={"name": s.collection}))
        self.missing.seen(exists)
        coll = db[s.collection]
        cap = s.max_namespaces
        total, groups, newest, watched = self.counted_groups(
            coll, f"$payload.{s.namespace}", s.count == "estimate", cap,
            times=("payload.created_at", "payload.updated_at"))
        obs = Observation(memories=total, namespaces=cap_namespaces(groups, total, cap),
                          newest_timestamp=newest, size_bytes=self.size_of_collection(
                              db, s.collection), namespace_counts=watched)
        obs.add(m.TABLE_EXISTS.name, 1 if exists else 0)
        return obs

    def integrity_query(self, client: MongoClient[Doc]) -> Observation:
        """Documents without an embedding, duplicates (the same `payload.hash`, mem0's md5
        of the text, for the same user) and the embeddings' lengths, in one scan."""
        s = self.store
        key = {"ns": f"$payload.{s.namespace}", "h": "$payload.hash"}
        one: Doc = {"$sum": 1}
        facets: Doc = {
            "missing": [{"$match": {"$or": [{"embedding": None}, {"embedding": []}]}},
                        {"$group": {"_id": None, "n": one}}],
            "dups": [{"$match": {"payload.hash": {"$type": "string"}}},
                     {"$group": {"_id": key, "n": one}}, {"$match": {"n": {"$gt": 1}}},
                     {"$group": {"_id": None, "n": {"$sum": {"$subtract": ["$n", 1]}}}}],
            "dims": [{"$match": {"embedding": {"$type": "array"}}},
                     {"$group": {"_id": {"$size": "$embedding"}, "n": one}}],
        }
        coll = client[s.database][s.collection]
        out = next(iter(coll.aggregate([{"$facet": facets}])), None) or {}

        def total(facet: str) -> float:
            return float(sum(g.get("n", 0) for g in out.get(facet) or []))

        obs = Observation()
        obs.add(m.WITHOUT_EMBEDDING.name, total("missing"))
        obs.add(m.DUPLICATES.name, total("dups"))
        for g in out.get("dims") or []:
            if g.get("n"):
                obs.add(m.EMBEDDINGS_BY_DIMENSION.name, g["n"], dimension=str(g.get("_id")))
        return obs


# --- custom -------------------------------------------------------------------------------

class MongoCustomBackend(MongoBackend):
    def __init__(self, store: MongoStore) -> None:
        super().__init__(store, store.timeout)
        self.store = store

    def query(self, client: MongoClient[Doc]) -> Observation:
        s = self.store
        db = client[s.database]
        coll = db[s.collection]
        cap = s.max_namespaces
        key = f"${s.namespace}" if s.namespace else None
        times = (s.timestamp,) if s.timestamp else ()
        total, groups, newest, watched = self.counted_groups(
            coll, key, s.count == "estimate", cap, times=times, match=dict(s.filter))
        return Observation(
            memories=total,
            namespaces=cap_namespaces(groups, total, cap) if s.namespace else None,
            newest_timestamp=newest,
            size_bytes=self.size_of_collection(db, s.collection),
            namespace_counts=watched,
        )


# --- orchestrator ---------------------------------------------------------------------------

class OrchestratorBackend(MongoBackend):
    def __init__(self, store: OrchestratorStore) -> None:
        super().__init__(store, store.timeout)
        self.store = store

    def newest(self, coll: Collection[Doc], field: str) -> float | None:
        if self.store.count == "estimate":
            return self.tail_newest(coll, (field,))
        # the maximum per UTC offset (ISO strings) or per type, then parsed: one scan
        rows = coll.aggregate([{"$group": {"_id": _offset_key(field), "t": {"$max": f"${field}"}}}])
        return newest_of(r.get("t") for r in rows)

    def query(self, client: MongoClient[Doc]) -> Observation:
        s = self.store
        db = client[s.database]
        obs = Observation()
        counts: dict[str, float] = {}
        for name in s.collections:
            coll = db[name]
            n = (coll.estimated_document_count() if s.count == "estimate"
                 else coll.count_documents({}))
            counts[name] = float(n)
            obs.add(m.COLLECTION_DOCUMENTS.name, n, collection=name)
        newest: dict[str, float] = {}
        for name, field in sorted(s.freshness.items()):
            ts = self.newest(db[name], field)
            if ts is not None:
                newest[name] = ts
                obs.add(m.COLLECTION_NEWEST.name, ts, collection=name)
        obs.memories = sum(counts[c] for c in s.memory_collections)
        memory_times = [newest[c] for c in s.memory_collections if c in newest]
        obs.newest_timestamp = max(memory_times) if memory_times else None
        obs.size_bytes = self.size_of_database(db)
        return obs


# --- ClawMongo ------------------------------------------------------------------------------

# Collection kinds ClawMongo creates under a prefix (read from its schema module). A name is
# matched to the longest of these it ends with, so `openclaw_main_kb_chunks` is the main
# agent's kb_chunks, not chunks of an agent called `main_kb`.
CLAWMONGO_KINDS = frozenset({
    "chunks", "files", "meta", "knowledge_base", "kb_chunks", "structured_mem",
    "structured_mem_revisions", "procedures", "procedure_revisions", "relevance_runs",
    "relevance_artifacts", "relevance_regressions", "events", "entities", "relations",
    "entity_links", "episodes", "ingest_runs", "projection_runs", "query_cache",
    "memory_telemetry", "access_events", "memory_mutations", "memory_quarantine",
    "lane_coverage", "consolidation_runs", "recall_traces", "memory_jobs", "session_chunks",
    "memory_evidence", "memory_cost_ledger",
})
WATCHED_KINDS = ("events", "chunks", "ingest_runs", "relevance_runs")
CHUNK_STATUSES = ("active", "archived", "deleted")
INGEST_STATUSES = ("ok", "partial", "failed")
RELEVANCE_STATUSES = ("ok", "degraded", "insufficient-data")
PERCENTILES = (50, 95, 99)
BACKLOG_STAGES = {"projection": "projectedAt", "consolidation": "consolidatedAt"}


def find_clawmongo_collections(names: Iterable[str], prefix: str
                               ) -> dict[str, list[tuple[str, str | None]]]:
    """kind -> [(collection, agentId from the name or None for the plain prefix)]."""
    found: dict[str, list[tuple[str, str | None]]] = {k: [] for k in WATCHED_KINDS}
    for name in sorted(names):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix):]
        kinds = [k for k in CLAWMONGO_KINDS if rest == k or rest.endswith("_" + k)]
        if not kinds:
            continue
        kind = max(kinds, key=len)
        if kind in found:
            found[kind].append((name, None if rest == kind else rest[:-len(kind) - 1]))
    return found


def nearest_rank(values: list[float], q: float) -> float:
    """The q-quantile of sorted values by the nearest-rank method."""
    return values[max(0, math.ceil(q * len(values)) - 1)]


class ClawMongoBackend(MongoBackend):
    def __init__(self, store: ClawMongoStore) -> None:
        super().__init__(store, store.timeout)
        self.store = store

    def query(self, client: MongoClient[Doc]) -> Observation:
        s = self.store
        db = client[s.database]
        found = find_clawmongo_collections(db.list_collection_names(), s.prefix)
        obs = Observation(memories=0.0, namespaces={})
        agents, scopes = tally(), tally()
        newest: list[float] = []
        backlog = dict.fromkeys(BACKLOG_STAGES, 0.0)
        oldest: dict[str, float] = {}
        for name, agent in found["events"]:
            self.events(db[name], agent, agents, scopes, newest, backlog, oldest)
        total = float(sum(agents.values()))
        obs.memories = total
        obs.namespaces = cap_namespaces(list(agents.items()), total, s.max_namespaces)
        if s.count == "exact":  # every agent was counted: a watched one missing here is 0
            obs.namespace_counts = by_label(agents.items())
        obs.newest_timestamp = max(newest) if newest else None
        obs.backlog = backlog
        obs.backlog_oldest = oldest
        for scope, n in sorted(scopes.items(), key=lambda x: str(x[0])):
            obs.add(m.MEMORIES_BY_SCOPE.name, n, scope=scope or m.NO_NAMESPACE)
        self.chunks(db, found["chunks"], obs)
        cutoff = datetime.now(UTC) - timedelta(seconds=s.window)
        self.ingest_runs(db, found["ingest_runs"], cutoff, obs)
        self.relevance_runs(db, found["relevance_runs"], cutoff, obs)
        obs.size_bytes = self.size_of_database(db)
        return obs

    def events(self, coll: Collection[Doc], agent: str | None, agents: Tally,
               scopes: Tally, newest: list[float], backlog: dict[str, float],
               oldest: dict[str, float]) -> None:
        key = {"$ifNull": ["$agentId", agent]}
        estimate = self.store.count == "estimate"
        total = float(coll.estimated_document_count()) if estimate else 0.0
        if estimate and total > SAMPLE_DOCS:
            for ns, n in self.sampled(coll, key, total):
                agents[ns] += n
            for scope, n in self.sampled(coll, "$scope", total):
                scopes[scope] += n
            if (ts := self.tail_newest(coll, ("timestamp",))) is not None:
                newest.append(ts)
            for stage, field in BACKLOG_STAGES.items():
                backlog[stage] += coll.count_documents({field: None})
                doc = next(iter(coll.find({field: None}, {"_id": 0, "timestamp": 1})
                                .sort("timestamp", 1).limit(1)), None)
                self._oldest(oldest, stage, None if doc is None else doc.get("timestamp"))
            return
        acc: Doc = {"n": {"$sum": 1}, "newest": {"$max": "$timestamp"}}
        for stage, field in BACKLOG_STAGES.items():
            acc[stage] = {"$sum": {"$cond": [_unset(field), 1, 0]}}
            acc[f"{stage}_oldest"] = {"$min": {"$cond": [_unset(field), "$timestamp", None]}}
        pipeline: list[Doc] = [{"$facet": {
            "agents": [{"$group": {"_id": key, **acc}}],
            "scopes": [{"$group": {"_id": "$scope", "n": {"$sum": 1}}}],
        }}]
        out = next(iter(coll.aggregate(pipeline)), None) or {}
        for g in out.get("agents") or []:
            agents[label(g.get("_id"))] += float(g.get("n", 0))
            if (ts := to_unix(g.get("newest"))) is not None:
                newest.append(ts)
            for stage in BACKLOG_STAGES:
                backlog[stage] += float(g.get(stage, 0))
                self._oldest(oldest, stage, g.get(f"{stage}_oldest"))
        for g in out.get("scopes") or []:
            scopes[label(g.get("_id"))] += float(g.get("n", 0))

    @staticmethod
    def _oldest(oldest: dict[str, float], stage: str, value: Any) -> None:
        ts = to_unix(value)
        if ts is not None:
            oldest[stage] = min(oldest.get(stage, ts), ts)

    def chunks(self, db: Database[Doc], colls: list[tuple[str, str | None]],
               obs: Observation) -> None:
        statuses: Tally = tally(CHUNK_STATUSES)
        for name, _ in colls:
            _, groups, _, _ = self.counted_groups(db[name], "$status",
                                               self.store.count == "estimate", 10_000)
            for status, n in groups:
                statuses[status] += n
        for status, n in sorted(statuses.items(), key=lambda x: str(x[0])):
            obs.add(m.CHUNKS.name, n, status=status or m.NO_NAMESPACE)

    def _window(self, cutoff: datetime) -> Doc:
        return {self.store.run_timestamp: {"$gte": cutoff}}

    def ingest_runs(self, db: Database[Doc], colls: list[tuple[str, str | None]],
                    cutoff: datetime, obs: Observation) -> None:
        runs: Tally = tally(INGEST_STATUSES)
        failed_items = 0.0
        for name, _ in colls:
            for g in db[name].aggregate([
                    {"$match": self._window(cutoff)},
                    {"$group": {"_id": "$status", "n": {"$sum": 1},
                                "items": {"$sum": "$itemsFailed"}}}]):
                runs[label(g.get("_id"))] += float(g.get("n", 0))
                failed_items += float(g.get("items", 0) or 0)
        for status, n in sorted(runs.items(), key=lambda x: str(x[0])):
            obs.add(m.INGEST_RUNS.name, n, status=status or m.NO_NAMESPACE)
        obs.add(m.INGEST_ITEMS_FAILED.name, failed_items)

    def relevance_runs(self, db: Database[Doc], colls: list[tuple[str, str | None]],
                       cutoff: datetime, obs: Observation) -> None:
        runs: Tally = tally(RELEVANCE_STATUSES)
        latencies: list[float] = []
        for name, _ in colls:
            # one pass: every run of the window, only the two fields (runs are telemetry
            # that ClawMongo expires; a window holds thousands, not millions)
            for doc in db[name].find(self._window(cutoff),
                                     {"_id": 0, "status": 1, "latencyMs": 1},
                                     batch_size=10_000):
                runs[label(doc.get("status"))] += 1
                lat = doc.get("latencyMs")
                if isinstance(lat, int | float) and not isinstance(lat, bool) \
                        and math.isfinite(lat):
                    latencies.append(float(lat) / 1000.0)
        for status, n in sorted(runs.items(), key=lambda x: str(x[0])):
            obs.add(m.RELEVANCE_RUNS.name, n, status=status or m.NO_NAMESPACE)
        total = sum(runs.values())
        if total:
            obs.add(m.RELEVANCE_DEGRADED_RATIO.name, runs["degraded"] / total)
        latencies.sort()
        if latencies:
            for p in PERCENTILES:
                obs.add(m.RELEVANCE_LATENCY.name, nearest_rank(latencies, p / 100),
                        percentile=str(p))

