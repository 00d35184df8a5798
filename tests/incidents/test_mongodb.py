"""MongoDB stores (on the MongoDB-wire emulator and on SecantusDB, or only on the real server
MEMWATCH_TEST_MONGODB_URI names): mem0's collection and ClawMongo's, the incidents replayed as
on the other stores."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from tests.incidents.replay import Rules, Snapshot
from tests.incidents.stores import FRESH, now
from tests.incidents.verdict import (
    Outcome,
    caught,
    documented,
    for_minutes,
    harmless,
    replay_both,
    scrape_around,
)
from tests.mongodb.conftest import MongoEnv, stores
from tests.postgres.mem0data import PACIFIC

Doc = dict[str, Any]


def mem0_docs(users: dict[str, int], dim: int, first: int = 0) -> Iterator[Doc]:
    """mem0's documents `{_id, embedding, payload}`, created within the last hour."""
    t, i = now() - FRESH, first
    for user, n in users.items():
        for _ in range(n):
            text = f"memory {i} of {user}"
            created = (t - timedelta(seconds=i % 3000)).astimezone(PACIFIC)
            yield {"_id": ObjectId(), "embedding": [0.01 * (i % 7)] * dim,
                   "payload": {"data": text, "hash": hashlib.md5(text.encode()).hexdigest(),
                               "user_id": user, "created_at": created.isoformat()}}
            i += 1


def replayed(spec: str, tmp_path: Path, snaps: tuple[Snapshot, Snapshot, Snapshot],
             names: list[str]) -> Outcome:
    before, still, after = snaps
    return replay_both(Rules.render(spec, tmp_path), before, still, [after], names)


def test_14_one_mem0_user_deleted_on_mongodb(mongo: MongoEnv, tmp_path: Path) -> None:
    """delete_all(user_id=...) on mem0's MongoDB store: one user, 9% of 1,000 documents.
    Control: 9% deleted evenly across users."""
    layout = {"alice": 90, **{f"user-{i}": 91 for i in range(10)}}
    dbs = {name: mongo.fresh_db(f"inc14_{name}") for name in ("lost", "control")}
    for db in dbs.values():
        db["mem0"].insert_many(list(mem0_docs(layout, 8)))
    spec = stores(*(mongo.spec(n, "mem0-mongodb", database=f"inc14_{n}") for n in dbs))

    def change() -> None:
        dbs["lost"]["mem0"].delete_many({"payload.user_id": "alice"})
        ids = [d["_id"] for i, d in enumerate(dbs["control"]["mem0"].find({}, {"_id": 1}))
               if i % 11 == 0][:90]
        dbs["control"]["mem0"].delete_many({"_id": {"$in": ids}})

    snaps = scrape_around(spec, change)
    after = snaps[2]
    assert after.get("memwatch_memories", store="lost", namespace="alice") == 0
    assert after.get("memwatch_store_memories", store="control") == 910
    out = replayed(spec, tmp_path, snaps, list(dbs))
    caught(out, "lost", "MemoryNamespaceLost", for_minutes("MemoryNamespaceLost"),
           namespace="alice")
    assert {dict(a[1]).get("namespace") for a in out.incident.alerts("lost")} == {"alice"}
    harmless(out, "control")
    documented("14", out, "lost")


def claw_db(mongo: MongoEnv, name: str) -> Any:
    """ClawMongo with agents `main` (60 events, 30 active chunks) and `research_bot` (40
    events, 20 chunks), every event projected and consolidated, the newest 30 s old."""
    db = mongo.fresh_db(name)
    t = now() - FRESH
    for agent, events, chunks in (("main", 60, 30), ("research_bot", 40, 20)):
        db[f"openclaw_{agent}_events"].insert_many([
            {"eventId": f"{agent}-{i}", "agentId": agent, "role": "user", "body": f"e{i}",
             "scope": "agent", "scopeRef": agent, "timestamp": t - timedelta(seconds=i),
             "projectedAt": t, "consolidatedAt": t} for i in range(events)])
        db[f"openclaw_{agent}_chunks"].insert_many([
            {"path": f"memory/{i}.md", "text": "x", "status": "active"}
            for i in range(chunks)])
    return db


def test_15_16_clawmongo_index_emptied(mongo: MongoEnv, tmp_path: Path) -> None:
    """openclaw #42714: a reindex emptied one agent's `chunks`; #26017: after a restart the
    index held nothing at all. The events (the truth) are untouched. Control: a reindex
    that completes (the agent's 20 chunks deleted and written again)."""
    names = ("one-agent", "all-agents", "control")
    dbs = {n: claw_db(mongo, f"inc15_{n}") for n in names}
    spec = stores(*(mongo.spec(n, "clawmongo", database=f"inc15_{n}") for n in names))

    def change() -> None:
        dbs["one-agent"]["openclaw_research_bot_chunks"].delete_many({})
        for agent in ("main", "research_bot"):
            dbs["all-agents"][f"openclaw_{agent}_chunks"].delete_many({})
        ctl = dbs["control"]["openclaw_research_bot_chunks"]
        ctl.delete_many({})
        ctl.insert_many([{"path": f"memory/{i}.md", "text": "y", "status": "active"}
                         for i in range(20)])

    snaps = scrape_around(spec, change)
    active = {n: snaps[2].get("memwatch_chunks", store=n, status="active") for n in names}
    assert active == {"one-agent": 30, "all-agents": 0, "control": 50}  # the signal is there
    out = replayed(spec, tmp_path, snaps, list(names))
    harmless(out, "control")
    documented("15", out, "one-agent")
    documented("16", out, "all-agents")


def test_17_embedding_dimensions_mixed_on_mongodb(mongo: MongoEnv, tmp_path: Path) -> None:
    """openclaw #83333, mem0 #4985: the embedding provider switched from a 1536-dimension
    model to a 768 one; 50 new memories carry the new vectors next to 200 old ones.
    Control: 50 more of the old dimension."""
    dbs = {name: mongo.fresh_db(f"inc17_{name}") for name in ("mixed", "control")}
    for db in dbs.values():
        db["mem0"].insert_many(list(mem0_docs({"alice": 100, "bob": 100}, 1536)))
    spec = stores(*(mongo.spec(n, "mem0-mongodb", database=f"inc17_{n}") for n in dbs))

    def change() -> None:
        dbs["mixed"]["mem0"].insert_many(list(mem0_docs({"alice": 50}, 768, first=200)))
        dbs["control"]["mem0"].insert_many(list(mem0_docs({"alice": 50}, 1536, first=200)))

    snaps = scrape_around(spec, change)
    dims = snaps[2].family("memwatch_embeddings_by_dimension", "mixed", "dimension")
    assert dims == {"1536": 200, "768": 50}
    out = replayed(spec, tmp_path, snaps, list(dbs))
    caught(out, "mixed", "EmbeddingDimensionMixed", for_minutes("EmbeddingDimensionMixed"))
    harmless(out, "control")
    documented("17", out, "mixed")
