"""MongoDB backends of the presets: mem0's MongoDB store, the custom `mongo` preset, an
orchestrator's collections and ClawMongo.

Reads only (mongo_queries.py), a user with the built-in `read` role is enough; the client,
its deadline and the error reasons are mongo_client.py's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database

from memwatch import metrics
from memwatch.backends.base import Observation, by_label, cap_namespaces
from memwatch.backends.missing import MissingTable
from memwatch.backends.mongo_client import Doc, MongoBackend
from memwatch.backends.mongo_queries import (
    SAMPLE_DOCS,
    Tally,
    counted_groups,
    label,
    newest_of,
    offset_key,
    sampled,
    size_of_collection,
    size_of_database,
    tail_newest,
    tally,
    unset,
)
from memwatch.backends.timestamps import to_unix
from memwatch.spec import ClawMongoStore, Mem0MongoStore, MongoStore, OrchestratorStore

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
        total, groups, newest, watched = counted_groups(
            coll, f"$payload.{s.namespace}", s.count == "estimate", cap, self.watch,
            times=("payload.created_at", "payload.updated_at"))
        obs = Observation(memories=total, namespaces=cap_namespaces(groups, total, cap),
                          newest_timestamp=newest, size_bytes=size_of_collection(
                              db, s.collection), namespace_counts=watched)
        obs.add(metrics.TABLE_EXISTS.name, 1 if exists else 0)
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
        obs.add(metrics.WITHOUT_EMBEDDING.name, total("missing"))
        obs.add(metrics.DUPLICATES.name, total("dups"))
        for g in out.get("dims") or []:
            if g.get("n"):
                obs.add(metrics.EMBEDDINGS_BY_DIMENSION.name, g["n"], dimension=str(g.get("_id")))
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
        total, groups, newest, watched = counted_groups(
            coll, key, s.count == "estimate", cap, self.watch, times=times, match=dict(s.filter))
        return Observation(
            memories=total,
            namespaces=cap_namespaces(groups, total, cap) if s.namespace else None,
            newest_timestamp=newest,
            size_bytes=size_of_collection(db, s.collection),
            namespace_counts=watched,
        )


# --- orchestrator ---------------------------------------------------------------------------

class OrchestratorBackend(MongoBackend):
    def __init__(self, store: OrchestratorStore) -> None:
        super().__init__(store, store.timeout)
        self.store = store

    def newest(self, coll: Collection[Doc], field: str) -> float | None:
        if self.store.count == "estimate":
            return tail_newest(coll, (field,))
        # the maximum per UTC offset (ISO strings) or per type, then parsed: one scan
        rows = coll.aggregate([{"$group": {"_id": offset_key(field), "t": {"$max": f"${field}"}}}])
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
            obs.add(metrics.COLLECTION_DOCUMENTS.name, n, collection=name)
        newest: dict[str, float] = {}
        for name, field in sorted(s.freshness.items()):
            ts = self.newest(db[name], field)
            if ts is not None:
                newest[name] = ts
                obs.add(metrics.COLLECTION_NEWEST.name, ts, collection=name)
        obs.memories = sum(counts[c] for c in s.memory_collections)
        memory_times = [newest[c] for c in s.memory_collections if c in newest]
        obs.newest_timestamp = max(memory_times) if memory_times else None
        obs.size_bytes = size_of_database(db)
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
            obs.add(metrics.MEMORIES_BY_SCOPE.name, n, scope=scope or metrics.NO_NAMESPACE)
        self.chunks(db, found["chunks"], obs)
        cutoff = datetime.now(UTC) - timedelta(seconds=s.window)
        self.ingest_runs(db, found["ingest_runs"], cutoff, obs)
        self.relevance_runs(db, found["relevance_runs"], cutoff, obs)
        obs.size_bytes = size_of_database(db)
        return obs

    def events(self, coll: Collection[Doc], agent: str | None, agents: Tally,
               scopes: Tally, newest: list[float], backlog: dict[str, float],
               oldest: dict[str, float]) -> None:
        key = {"$ifNull": ["$agentId", agent]}
        estimate = self.store.count == "estimate"
        total = float(coll.estimated_document_count()) if estimate else 0.0
        if estimate and total > SAMPLE_DOCS:
            for ns, n in sampled(coll, key, total):
                agents[ns] += n
            for scope, n in sampled(coll, "$scope", total):
                scopes[scope] += n
            if (ts := tail_newest(coll, ("timestamp",))) is not None:
                newest.append(ts)
            for stage, field in BACKLOG_STAGES.items():
                backlog[stage] += coll.count_documents({field: None})
                doc = next(iter(coll.find({field: None}, {"_id": 0, "timestamp": 1})
                                .sort("timestamp", 1).limit(1)), None)
                self._oldest(oldest, stage, None if doc is None else doc.get("timestamp"))
            return
        acc: Doc = {"n": {"$sum": 1}, "newest": {"$max": "$timestamp"}}
        for stage, field in BACKLOG_STAGES.items():
            acc[stage] = {"$sum": {"$cond": [unset(field), 1, 0]}}
            acc[f"{stage}_oldest"] = {"$min": {"$cond": [unset(field), "$timestamp", None]}}
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
            _, groups, _, _ = counted_groups(db[name], "$status",
                                             self.store.count == "estimate", 10_000, self.watch)
            for status, n in groups:
                statuses[status] += n
        for status, n in sorted(statuses.items(), key=lambda x: str(x[0])):
            obs.add(metrics.CHUNKS.name, n, status=status or metrics.NO_NAMESPACE)

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
            obs.add(metrics.INGEST_RUNS.name, n, status=status or metrics.NO_NAMESPACE)
        obs.add(metrics.INGEST_ITEMS_FAILED.name, failed_items)

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
            obs.add(metrics.RELEVANCE_RUNS.name, n, status=status or metrics.NO_NAMESPACE)
        total = sum(runs.values())
        if total:
            obs.add(metrics.RELEVANCE_DEGRADED_RATIO.name, runs["degraded"] / total)
        latencies.sort()
        if latencies:
            for p in PERCENTILES:
                obs.add(metrics.RELEVANCE_LATENCY.name, nearest_rank(latencies, p / 100),
                        percentile=str(p))

