"""mem0's MongoDB store, an orchestrator's nine collections and the custom `mongo` preset,
with exact values; estimate mode on a collection larger than the sample."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bson import ObjectId

from tests.helpers import Scrape, assert_features, exporter_for, run_integrity, samples
from tests.mongodb.conftest import MongoEnv, stores
from tests.mongodb.data import ORCHESTRATOR_COUNTS, T0, mem0_docs, seed_orchestrator

USERS: list[tuple[str | None, int]] = [("alice", 7), ("bob", 4), ("carol", 1), (None, 2)]


def ns_of(exp_samples: dict[tuple[tuple[str, str], ...], float], store: str
          ) -> dict[str, float]:
    return {dict(k)["namespace"]: v for k, v in exp_samples.items()
            if dict(k)["store"] == store}


def test_mem0_mongodb_exact_values(mongo: MongoEnv) -> None:
    db = mongo.fresh_db("mem0_db")
    docs, expect = mem0_docs(USERS, mongo.string_ids)
    db["mem0"].insert_many(docs)
    db["mem0_other"].insert_many(mem0_docs([("zed", 5)], mongo.string_ids)[0])  # not counted
    spec = stores(mongo.spec("m", "mem0-mongodb", "mem0_db"),
                  mongo.spec("by_agent", "mem0-mongodb", "mem0_db", namespace="agent_id"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="m", backend="mongodb") == 1
        assert got("memwatch_store_memories", store="m") == expect.memories == 14
        found = samples(exp, "memwatch_memories")
        assert ns_of(found, "m") == expect.namespaces == \
            {"alice": 7, "bob": 4, "carol": 1, "__none__": 2}
        assert ns_of(found, "by_agent") == {"helper": 2, "__none__": 12}
        # the later of created_at/updated_at, ISO strings in -07:00 and -08:00
        assert got("memwatch_newest_memory_timestamp_seconds", store="m") == \
            pytest.approx(expect.newest, abs=1e-3)
        assert got("memwatch_table_exists", store="m") == 1
        assert (got("memwatch_store_size_bytes", store="m") or 0) > 0
        assert_features(exp, "m")


def test_mem0_freshness_across_utc_offsets(mongo: MongoEnv) -> None:
    """Text order is not time order across offsets: 15:00+00:00 sorts after
    08:30-08:00, which is 90 minutes later. The newest is taken per offset, then parsed."""
    db = mongo.fresh_db("mem0_tz")
    created = ["2026-11-20T15:00:00.000000+00:00", "2026-11-20T08:30:00.000000-08:00",
               "2026-11-20T14:00:00Z", "2026-11-20T23:59:59.999000+09:00", "not a date"]
    db["mem0"].insert_many([{"embedding": [0.0], "payload": {"user_id": "u", "created_at": c}}
                            for c in created])
    db["mem0"].insert_one({"embedding": [0.0], "payload": {"user_id": "u", "created_at": 7}})
    spec = stores(mongo.spec("m", "mem0-mongodb", "mem0_tz"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
    assert got("memwatch_store_memories", store="m") == 6
    assert got("memwatch_newest_memory_timestamp_seconds", store="m") == \
        datetime(2026, 11, 20, 16, 30, tzinfo=UTC).timestamp()


def test_mem0_mongodb_missing_collection_and_reset(mongo: MongoEnv) -> None:
    """mem0 creates its collection lazily and reset() drops it: 0 memories, not an error."""
    db = mongo.fresh_db("mem0_reset")
    spec = stores(mongo.spec("m", "mem0-mongodb", "mem0_reset"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="m", backend="mongodb") == 1
        assert got("memwatch_store_memories", store="m") == 0
        assert got("memwatch_table_exists", store="m") == 0
        db["mem0"].insert_many(mem0_docs(USERS, mongo.string_ids)[0])
        assert Scrape(exp)("memwatch_store_memories", store="m") == 14
        db.drop_collection("mem0")  # reset()
        got = Scrape(exp)
        assert got("memwatch_store_memories", store="m") == 0
        assert got("memwatch_memories_drop_ratio", store="m") == 1.0
        assert got("memwatch_table_exists", store="m") == 0


def test_mem0_mongodb_estimate_on_a_large_collection(mongo: MongoEnv) -> None:
    """12,000 documents (more than the 10,000 sampled): the count from metadata is exact,
    namespaces from the sample are close and add up to the count."""
    db = mongo.fresh_db("mem0_big")
    users: list[tuple[str | None, int]] = [("alice", 6000), ("bob", 3600), ("carol", 2400)]
    docs, expect = mem0_docs(users, mongo.string_ids)
    db["mem0"].insert_many(docs)
    spec = stores(mongo.spec("m", "mem0-mongodb", "mem0_big", count="estimate",
                             timeout="20s"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_store_memories", store="m") == 12_000
        ns = ns_of(samples(exp, "memwatch_memories"), "m")
        assert set(ns) == {"alice", "bob", "carol"}
        for user, n in expect.namespaces.items():
            assert ns[user] == pytest.approx(n, rel=0.08), user
        assert sum(ns.values()) == 12_000  # scaled shares apportioned to whole numbers
        newest = got("memwatch_newest_memory_timestamp_seconds", store="m")
        assert newest is not None
        if not mongo.reverse_scan:
            # the emulator returns natural order unreversed: the tail read sees the first
            # documents inserted, so only a plausible time can be asserted here
            assert newest <= expect.newest + 1e-3
        else:
            assert newest == pytest.approx(expect.newest, abs=1e-3)


def test_orchestrator_collections(mongo: MongoEnv) -> None:
    db = mongo.fresh_db("orch")
    newest = seed_orchestrator(db)
    spec = stores(mongo.spec("o", "orchestrator", "orch"),
                  mongo.spec("o2", "orchestrator", "orch", count="estimate",
                             memory_collections="[knowledge_base, concepts]"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        for store in ("o", "o2"):
            assert got("memwatch_up", store=store, backend="mongodb") == 1
            docs = {dict(k)["collection"]: v
                    for k, v in samples(exp, "memwatch_collection_documents").items()
                    if dict(k)["store"] == store}
            assert docs == {k: float(v) for k, v in ORCHESTRATOR_COUNTS.items()}
            fresh = {dict(k)["collection"]: v for k, v in
                     samples(exp, "memwatch_collection_newest_timestamp_seconds").items()
                     if dict(k)["store"] == store}
            assert fresh == pytest.approx(newest)  # alerts: BSON dates; knowledge_base: ISO
            assert got("memwatch_newest_memory_timestamp_seconds", store=store) == \
                pytest.approx(newest["knowledge_base"])
            assert (got("memwatch_store_size_bytes", store=store) or 0) > 0
        assert got("memwatch_store_memories", store="o") == 6
        assert got("memwatch_store_memories", store="o2") == 6 + 5
        assert got("memwatch_memories", store="o", namespace="__none__") is None
        assert_features(exp, "o")
        db.drop_collection("concept_links")
        db["alerts"].insert_one({"timestamp": T0 + timedelta(days=2)})
        got = Scrape(exp)
        assert got("memwatch_collection_documents", store="o", collection="concept_links") == 0
        assert got("memwatch_collection_documents", store="o", collection="alerts") == 5
        assert got("memwatch_collection_newest_timestamp_seconds", store="o",
                   collection="alerts") == (T0 + timedelta(days=2)).timestamp()


def test_custom_preset_with_filter(mongo: MongoEnv) -> None:
    db = mongo.fresh_db("custom")
    base = datetime(2026, 11, 20, 10, tzinfo=UTC)
    rows = [("ann", False, 0, "note"), ("ann", False, 1, "note"), ("bob", True, 5, "note"),
            ("cy", False, -1, "fact"), (None, False, 2, "fact"), ("ann", False, 3, "todo")]
    db["notes"].insert_many([
        {"meta": {"owner": owner} if owner else {}, "deleted": deleted,
         "created_ms": int((base + timedelta(days=d)).timestamp() * 1000), "kind": kind}
        for owner, deleted, d, kind in rows])
    spec = stores(
        mongo.spec("n", "mongo", "custom", collection="notes", namespace="meta.owner",
                   timestamp="created_ms", filter="{deleted: {$ne: true}}"),
        mongo.spec("n2", "mongo", "custom", collection="notes",
                   filter="{kind: {$in: [note, fact]}, deleted: false}", timestamp="created_ms"),
        mongo.spec("all", "mongo", "custom", collection="notes", count="estimate"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_store_memories", store="n") == 5
        assert ns_of(samples(exp, "memwatch_memories"), "n") == \
            {"ann": 3, "cy": 1, "__none__": 1}
        assert got("memwatch_newest_memory_timestamp_seconds", store="n") == \
            (base + timedelta(days=3)).timestamp()
        assert got("memwatch_store_memories", store="n2") == 4
        assert ns_of(samples(exp, "memwatch_memories"), "n2") == {}  # no namespace field
        assert got("memwatch_newest_memory_timestamp_seconds", store="n2") == \
            (base + timedelta(days=2)).timestamp()
        assert got("memwatch_store_memories", store="all") == 6
        assert_features(exp, "n")
        assert_features(exp, "n2")
        assert got("memwatch_newest_memory_timestamp_seconds", store="all") is None


def test_mem0_mongodb_integrity(mongo: MongoEnv) -> None:
    """Documents without an embedding, the same text stored twice for a user (mem0's
    payload.hash), vectors of two lengths: counted by the integrity pass."""
    db = mongo.fresh_db("mem0_integrity")
    docs, _ = mem0_docs(USERS, mongo.string_ids)  # 14 documents, 8-long vectors
    docs[0]["embedding"] = None
    docs[1].pop("embedding")
    docs[2]["embedding"] = []
    docs[3]["embedding"] = [0.5] * 4  # another model's length
    twins = [dict(d, _id=f"twin-{i}" if mongo.string_ids else ObjectId())
             for i, d in enumerate(docs[4:7])]  # three memories stored twice, same user
    other_user = dict(docs[7], _id="other-user" if mongo.string_ids else ObjectId(),
                      payload={**docs[7]["payload"], "user_id": "zoe"})  # same text, not a dup
    db["mem0"].insert_many(docs + twins + [other_user])
    with exporter_for(stores(mongo.spec("m", "mem0-mongodb", "mem0_integrity"))) as exp:
        run_integrity(exp)
        got = Scrape(exp)
        assert got("memwatch_store_memories", store="m") == 14 + 3 + 1
        assert got("memwatch_memories_without_embedding", store="m") == 3
        assert got("memwatch_duplicate_memories", store="m") == 3
        assert got("memwatch_embeddings_by_dimension", store="m", dimension="8") == 10 + 3 + 1
        assert got("memwatch_embeddings_by_dimension", store="m", dimension="4") == 1
        assert got("memwatch_integrity_errors_total", store="m", reason="query") == 0


def test_mem0_mongodb_user_deleted_is_held_at_zero(mongo: MongoEnv) -> None:
    """mem0's delete_all(user_id=carol): carol leaves the store, and /metrics keeps her at
    0 (not silently folded into __other__) so MemoryNamespaceLost can fire."""
    db = mongo.fresh_db("mem0_ns")
    docs, _ = mem0_docs(USERS, mongo.string_ids)
    db["mem0"].insert_many(docs)
    with exporter_for(stores(mongo.spec("m", "mem0-mongodb", "mem0_ns",
                                        max_namespaces=2))) as exp:
        before = ns_of(samples(exp, "memwatch_memories"), "m")
        assert before == {"alice": 7, "bob": 4, "__other__": 3}
        db["mem0"].delete_many({"payload.user_id": "bob"})
        after = ns_of(samples(exp, "memwatch_memories"), "m")
        assert after == {"alice": 7, "bob": 0, "__none__": 2, "__other__": 1}
