"""Test data in the shapes of the stores (read from the brief): ClawMongo's collections
under both prefixes, mem0's MongoDB documents, an orchestrator's nine collections. Each
seeder returns what a correct exporter must report, counted here in plain Python from the
very documents it inserted."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from pymongo.database import Database

Doc = dict[str, Any]
SCOPES = ["session", "user", "agent", "workspace", "tenant", "global"]
# BSON dates keep milliseconds: every time here is whole milliseconds.
T0 = datetime(2026, 11, 20, 7, 3, 41, 250000, tzinfo=UTC)


def unix(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


def now_ms() -> datetime:
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


@dataclass
class ClawExpect:
    memories: float = 0
    agents: Counter[str] = field(default_factory=Counter)
    scopes: Counter[str] = field(default_factory=Counter)
    newest: float = 0.0
    backlog: dict[str, float] = field(default_factory=dict)
    backlog_oldest: dict[str, float] = field(default_factory=dict)
    chunks: Counter[str] = field(default_factory=Counter)
    runs: list[Doc] = field(default_factory=list)  # ingest runs with their time
    relevance: list[Doc] = field(default_factory=list)

    def ingest(self, now: datetime, window: float) -> tuple[dict[str, float], float]:
        cutoff = now - timedelta(seconds=window)
        status: Counter[str] = Counter(dict.fromkeys(("ok", "partial", "failed"), 0))
        items = 0.0
        for r in self.runs:
            if r["ts"] >= cutoff:
                status[r["status"]] += 1
                items += r.get("itemsFailed") or 0
        return {k: float(v) for k, v in status.items()}, items

    def relevance_stats(self, now: datetime, window: float
                        ) -> tuple[dict[str, float], dict[str, float]]:
        cutoff = now - timedelta(seconds=window)
        inside = [r for r in self.relevance if r["ts"] >= cutoff]
        status: Counter[str] = Counter(dict.fromkeys(("ok", "degraded", "insufficient-data"),
                                                     0))
        status.update(r["status"] for r in inside)
        lat = sorted(r["latencyMs"] / 1000 for r in inside if "latencyMs" in r)
        pct = {str(p): lat[max(0, math.ceil(p / 100 * len(lat)) - 1)] for p in (50, 95, 99)}
        return {k: float(v) for k, v in status.items()}, pct


def _event(i: int, agent: str | None, scope: str | None, ts: datetime, projected: bool,
           consolidated: bool, explicit_null: bool = False) -> Doc:
    doc: Doc = {"eventId": f"{agent or 'anon'}-{i}", "role": "user" if i % 2 else "assistant",
                "body": f"event {i}", "scopeRef": f"ref-{i % 4}", "timestamp": ts}
    if agent is not None:
        doc["agentId"] = agent
    if scope is not None:
        doc["scope"] = scope
    if projected:
        doc["projectedAt"] = ts + timedelta(seconds=30)
    elif explicit_null:
        doc["projectedAt"] = None  # null counts as "not projected", like a missing field
    if consolidated:
        doc["consolidatedAt"] = ts + timedelta(minutes=5)
    return doc


def seed_clawmongo(db: Database[Doc], now: datetime) -> ClawExpect:
    """Three events collections (agents `main` and `research_bot` under
    `openclaw_<agentId>_`, the older shared `openclaw_events`), chunks, ingest and relevance
    runs, and look-alike collections that must not be counted."""
    events: dict[str, list[Doc]] = {"openclaw_main_events": [],
                                    "openclaw_research_bot_events": [],
                                    "openclaw_events": []}
    for i in range(40):
        events["openclaw_main_events"].append(_event(
            i, "main", SCOPES[i % 6], T0 + timedelta(minutes=i), projected=i % 5 != 0,
            consolidated=i % 2 == 0 and i % 5 != 0, explicit_null=i % 10 == 0))
    for i in range(25):
        events["openclaw_research_bot_events"].append(_event(
            i, "research_bot", ["user", "agent", "session"][i % 3],
            T0 + timedelta(hours=2, minutes=i), projected=i not in (3, 7), consolidated=False))
    for i in range(15):  # older layout: one collection for every agent
        agent = "legacy" if i < 10 else ("main" if i < 13 else None)
        events["openclaw_events"].append(_event(
            i, agent, "user" if i < 13 else None, T0 - timedelta(days=1, minutes=i),
            projected=i >= 4, consolidated=False))
    expect = ClawExpect()
    for name, docs in events.items():
        db[name].insert_many(docs)
        for d in docs:
            expect.memories += 1
            expect.agents[d.get("agentId") or "__none__"] += 1
            expect.scopes[d.get("scope") or "__none__"] += 1
            expect.newest = max(expect.newest, unix(d["timestamp"]))
            for stage, f in (("projection", "projectedAt"), ("consolidation", "consolidatedAt")):
                if d.get(f) is None:
                    expect.backlog[stage] = expect.backlog.get(stage, 0) + 1
                    t = unix(d["timestamp"])
                    expect.backlog_oldest[stage] = min(expect.backlog_oldest.get(stage, t), t)

    chunks: dict[str, Sequence[str | None]] = {
        "openclaw_main_chunks": ["active"] * 30 + ["archived"] * 5 + ["deleted"] * 2,
        "openclaw_research_bot_chunks": ["deleted"] * 3,  # this agent's index emptied
        "openclaw_chunks": ["active"] * 4 + [None]}
    for name, statuses in chunks.items():
        db[name].insert_many([{"path": f"f{i}.md", "text": "x", **({"status": s} if s else {})}
                              for i, s in enumerate(statuses)])
        expect.chunks.update(s or "__none__" for s in statuses)

    def run(status: str, minutes_ago: float, items: int | None) -> Doc:
        doc: Doc = {"status": status, "ts": now - timedelta(minutes=minutes_ago)}
        if items is not None:
            doc["itemsFailed"] = items
        return doc

    ingest = {
        "openclaw_main_ingest_runs": [run("ok", 5 + i, 0) for i in range(6)]
        + [run("partial", 12, 1), run("partial", 40, 4), run("failed", 20, 10)]
        + [run("failed", 180, 100) for _ in range(5)],  # 3 hours ago: outside the window
        "openclaw_ingest_runs": [run("failed", 15, 7), run("failed", 25, None),
                                 run("partial", 90, 2)],
    }
    for name, docs in ingest.items():
        db[name].insert_many(docs)
        expect.runs += docs

    def rel(i: int, latency: int | None, minutes_ago: float, status: str) -> Doc:
        doc: Doc = {"status": status, "sampled": True,
                    "ts": now - timedelta(minutes=minutes_ago, seconds=i)}
        if latency is not None:
            doc["latencyMs"] = latency
        return doc

    relevance = {
        "openclaw_main_relevance_runs":
            [rel(i, 20 * i + 10, 10, "degraded" if i % 10 == 0 else "ok") for i in range(100)]
            + [rel(i, None, 20, "insufficient-data") for i in range(5)]
            + [rel(i, 99_999, 300, "degraded") for i in range(3)],  # 5 hours ago
        "openclaw_research_bot_relevance_runs":
            [rel(i, 20 * i + 20, 30, "degraded" if i % 10 == 0 else "ok") for i in range(100)],
    }
    for name, docs in relevance.items():
        db[name].insert_many(docs)
        expect.relevance += docs

    # look-alikes that must not be counted
    db["openclaw_main_kb_chunks"].insert_many([{"status": "active"} for _ in range(100)])
    db["openclaw_main_session_chunks"].insert_many([{"status": "active"} for _ in range(50)])
    db["openclaw_main_events_archive"].insert_many(
        [{"agentId": "main", "timestamp": now} for _ in range(20)])
    db["openclaw_main_projection_runs"].insert_many(
        [{"status": "failed", "ts": now} for _ in range(4)])
    db["openclaw_main_query_cache"].insert_one({"q": "x", "timestamp": now})
    db["other_events"].insert_many([{"agentId": "main", "timestamp": now} for _ in range(7)])
    return expect


@dataclass
class Mem0Expect:
    memories: float
    namespaces: dict[str, float]
    newest: float


PACIFIC = ZoneInfo("America/Los_Angeles")


def mem0_docs(users: list[tuple[str | None, int]], string_ids: bool,
              start: datetime = T0) -> tuple[list[Doc], Mem0Expect]:
    """mem0's MongoDB documents: `{_id, embedding, payload}`; created_at/updated_at are
    ISO strings in US/Pacific time as mem0 writes them, so offsets -07:00 (October, DST)
    and -08:00 (November) are mixed."""
    docs: list[Doc] = []
    counts: Counter[str] = Counter()
    newest = 0.0
    i = 0
    for user, k in users:
        for _ in range(k):
            created = start + timedelta(minutes=i) - timedelta(days=30 if i % 3 == 0 else 0)
            payload: Doc = {"data": f"memory {i}", "hash": f"h{i}",
                            "created_at": created.astimezone(PACIFIC).isoformat(
                                timespec="microseconds")}
            if user is not None:
                payload["user_id"] = user
            else:
                payload["agent_id"] = "helper"
            t = created.timestamp()
            if i % 7 == 0:  # updated a day later
                updated = created + timedelta(days=1)
                payload["updated_at"] = updated.astimezone(PACIFIC).isoformat(
                    timespec="microseconds")
                t = updated.timestamp()
            newest = max(newest, t)
            # mem0 uses uuid strings as _id; the emulator stores ObjectId _ids only
            _id: Any = str(uuid.uuid4()) if string_ids else ObjectId()
            docs.append({"_id": _id, "embedding": [0.1 * (i % 10)] * 8, "payload": payload})
            counts[user or "__none__"] += 1
            i += 1
    return docs, Mem0Expect(float(len(docs)), {k: float(v) for k, v in counts.items()}, newest)


ORCHESTRATOR_COUNTS = {"metrics": 9, "alerts": 4, "knowledge_base": 6, "consolidations": 2,
                       "snapshots": 3, "system_state": 1, "audit_logs": 8, "concepts": 5,
                       "concept_links": 7}


def seed_orchestrator(db: Database[Doc]) -> dict[str, float]:
    """The nine collections; alerts carry BSON dates, the knowledge base ISO strings in two
    UTC offsets (both are read). Returns the newest time of alerts and knowledge_base."""
    newest: dict[str, float] = {}
    for name, n in ORCHESTRATOR_COUNTS.items():
        docs: list[Doc] = []
        for i in range(n):
            ts = T0 + timedelta(hours=i)
            doc: Doc = {"i": i}
            if name == "alerts":
                doc.update(alertname="MemoryCountZero", status="firing", timestamp=ts)
            elif name == "knowledge_base":
                # the newest in US/Pacific time: as text it sorts before the older `Z` ones
                text = (ts.astimezone(PACIFIC).isoformat() if i == n - 1
                        else ts.isoformat().replace("+00:00", "Z"))
                doc.update(pattern=f"p{i}", timestamp=text)
            else:
                doc["timestamp"] = ts
            docs.append(doc)
        db[name].insert_many(docs)
        if name in ("alerts", "knowledge_base"):
            newest[name] = (T0 + timedelta(hours=n - 1)).timestamp()
    db["unrelated"].insert_many([{"x": i} for i in range(3)])
    return newest
