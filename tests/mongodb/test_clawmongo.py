"""ClawMongo: exact values for several agents under both collection prefixes, scopes,
unprojected and unconsolidated events, chunks, failed/partial ingest runs and relevance
runs; estimate mode; an empty database."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.helpers import Scrape, assert_features, exporter_for, samples
from tests.mongodb.conftest import MongoEnv, stores
from tests.mongodb.data import ClawExpect, now_ms, seed_clawmongo


@pytest.fixture(scope="module")
def claw(mongo: MongoEnv) -> tuple[ClawExpect, datetime]:
    now = now_ms()
    return seed_clawmongo(mongo.fresh_db("claw"), now), now


def by(exp_samples: dict[tuple[tuple[str, str], ...], float], store: str, key: str
       ) -> dict[str, float]:
    return {dict(k)[key]: v for k, v in exp_samples.items() if dict(k)["store"] == store}


def test_clawmongo_exact_values(mongo: MongoEnv, claw: tuple[ClawExpect, datetime]) -> None:
    expect, now = claw
    spec = stores(mongo.spec("oc", "clawmongo", "claw", timeout="10s"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="oc", backend="mongodb") == 1
        # 40 + 25 events of the prefixed agents, 15 in the older shared collection
        assert got("memwatch_store_memories", store="oc") == expect.memories == 80
        ns = by(samples(exp, "memwatch_memories"), "oc", "namespace")
        assert ns == {k: float(v) for k, v in expect.agents.items()}
        assert ns == {"main": 43, "research_bot": 25, "legacy": 10, "__none__": 2}
        scopes = by(samples(exp, "memwatch_memories_by_scope"), "oc", "scope")
        assert scopes == {k: float(v) for k, v in expect.scopes.items()}
        assert sum(scopes.values()) == 80 and scopes["__none__"] == 2
        assert got("memwatch_newest_memory_timestamp_seconds", store="oc") == \
            pytest.approx(expect.newest, abs=1e-3)
        assert got("memwatch_backlog", store="oc", stage="projection") == \
            expect.backlog["projection"] == 14
        assert got("memwatch_backlog", store="oc", stage="consolidation") == \
            expect.backlog["consolidation"] == 64
        for stage in ("projection", "consolidation"):
            assert got("memwatch_backlog_oldest_timestamp_seconds", store="oc",
                       stage=stage) == pytest.approx(expect.backlog_oldest[stage], abs=1e-3)
        chunks = by(samples(exp, "memwatch_chunks"), "oc", "status")
        assert chunks == {k: float(v) for k, v in expect.chunks.items()}
        assert chunks == {"active": 34, "archived": 5, "deleted": 5, "__none__": 1}

        runs, items = expect.ingest(now, 3600)
        assert by(samples(exp, "memwatch_ingest_runs"), "oc", "status") == runs == \
            {"ok": 6, "partial": 2, "failed": 3}
        assert got("memwatch_ingest_items_failed", store="oc") == items == 22

        status, pct = expect.relevance_stats(now, 3600)
        assert by(samples(exp, "memwatch_relevance_runs"), "oc", "status") == status == \
            {"ok": 180, "degraded": 20, "insufficient-data": 5}
        assert got("memwatch_relevance_degraded_ratio", store="oc") == pytest.approx(20 / 205)
        lat = by(samples(exp, "memwatch_relevance_latency_seconds"), "oc", "percentile")
        assert lat == pytest.approx(pct)
        # 200 latencies 10, 20, ... 2000 ms across two agents' collections: nearest rank
        assert lat == pytest.approx({"50": 1.0, "95": 1.9, "99": 1.98})
        assert (got("memwatch_store_size_bytes", store="oc") or 0) > 0
        assert got("memwatch_collection_errors_total", store="oc", reason="query") == 0
        assert_features(exp, "oc")


def test_window_is_configurable(mongo: MongoEnv, claw: tuple[ClawExpect, datetime]) -> None:
    expect, now = claw
    spec = stores(mongo.spec("oc", "clawmongo", "claw", window="2h", timeout="10s"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        runs, items = expect.ingest(now, 7200)
        assert by(samples(exp, "memwatch_ingest_runs"), "oc", "status") == runs
        assert runs["partial"] == 3 and runs["failed"] == 3  # the 3-hour-old runs stay out
        assert got("memwatch_ingest_items_failed", store="oc") == items == 24


def test_estimate_mode_on_small_collections_is_exact(
        mongo: MongoEnv, claw: tuple[ClawExpect, datetime]) -> None:
    expect, _ = claw
    spec = stores(mongo.spec("oc", "clawmongo", "claw", count="estimate", timeout="10s"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_store_memories", store="oc") == 80
        assert by(samples(exp, "memwatch_memories"), "oc", "namespace") == \
            {k: float(v) for k, v in expect.agents.items()}
        assert got("memwatch_backlog", store="oc", stage="projection") == 14
        assert got("memwatch_newest_memory_timestamp_seconds", store="oc") == \
            pytest.approx(expect.newest, abs=1e-3)


def test_namespace_cap(mongo: MongoEnv, claw: tuple[ClawExpect, datetime]) -> None:
    spec = stores(mongo.spec("oc", "clawmongo", "claw", max_namespaces=2))
    with exporter_for(spec) as exp:
        ns = by(samples(exp, "memwatch_memories"), "oc", "namespace")
    assert ns == {"main": 43, "research_bot": 25, "__other__": 12}


def test_empty_database_is_zero_memories(mongo: MongoEnv) -> None:
    """ClawMongo creates its collections lazily; none yet is 0 memories, not an error."""
    mongo.fresh_db("claw_empty")
    spec = stores(mongo.spec("oc", "clawmongo", "claw_empty"))
    with exporter_for(spec) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="oc", backend="mongodb") == 1
        assert got("memwatch_store_memories", store="oc") == 0
        assert got("memwatch_backlog", store="oc", stage="projection") == 0
        assert got("memwatch_backlog_oldest_timestamp_seconds", store="oc",
                   stage="projection") is None
        assert got("memwatch_chunks", store="oc", status="active") == 0
        assert got("memwatch_ingest_runs", store="oc", status="failed") == 0
        assert got("memwatch_relevance_degraded_ratio", store="oc") is None  # no runs: no ratio
        assert got("memwatch_relevance_latency_seconds", store="oc", percentile="50") is None


def test_drop_seen_when_events_are_deleted(mongo: MongoEnv) -> None:
    db = mongo.fresh_db("claw_drop")
    db["openclaw_a_events"].insert_many(
        [{"agentId": "a", "timestamp": now_ms()} for _ in range(10)])
    spec = stores(mongo.spec("oc", "clawmongo", "claw_drop"))
    with exporter_for(spec) as exp:
        assert Scrape(exp)("memwatch_store_memories", store="oc") == 10
        db["openclaw_a_events"].delete_many({})  # a reindex that emptied the store
        got = Scrape(exp)
        assert got("memwatch_store_memories", store="oc") == 0
        assert got("memwatch_memories_drop_ratio", store="oc") == 1.0
