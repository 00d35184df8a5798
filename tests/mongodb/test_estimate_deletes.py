"""MongoDB's `count: estimate` has no blind spot for deletes: the collection's metadata
count (`estimated_document_count`) moves with every write, unlike PostgreSQL's planner
estimate (see tests/postgres/test_estimate_recount.py). The next scrape after a delete
reads the new count, with no waiting and no recount."""

from __future__ import annotations

from tests.helpers import Scrape, exporter_for
from tests.mongodb.conftest import MongoEnv, stores
from tests.mongodb.data import mem0_docs

S = {"store": "m"}


def test_mem0_mongodb_estimate_sees_every_delete_at_once(mongo: MongoEnv) -> None:
    """24,000 documents, and 16,800 after the partial delete: more than the 10,000
    sampled, so the count is the metadata's (a stale one would be reported as it is)."""
    db = mongo.fresh_db("mem0_deletes")
    users: list[tuple[str | None, int]] = [("alice", 12_000), ("bob", 7200),
                                              ("carol", 4800)]
    docs, _ = mem0_docs(users, mongo.string_ids)
    db["mem0"].insert_many(docs)
    spec = stores(mongo.spec("m", "mem0-mongodb", "mem0_deletes", count="estimate",
                             timeout="20s"))
    with exporter_for(spec) as exp:
        assert Scrape(exp)("memwatch_store_memories", **S) == 24_000
        # delete_all(user_id="bob"): a partial delete
        assert db["mem0"].delete_many({"payload.user_id": "bob"}).deleted_count == 7200
        got = Scrape(exp)
        assert got("memwatch_store_memories", **S) == 16_800
        assert got("memwatch_memories", store="m", namespace="bob") is None
        # every document deleted, the collection kept
        assert db["mem0"].delete_many({}).deleted_count == 16_800
        got = Scrape(exp)
        assert got("memwatch_up", store="m", backend="mongodb") == 1
        assert got("memwatch_store_memories", **S) == 0
        assert got("memwatch_memories_drop_ratio", **S) == 1
        assert got("memwatch_table_exists", **S) == 1
        # no recount machinery on MongoDB
        assert got("memwatch_recounts_total", **S) is None
