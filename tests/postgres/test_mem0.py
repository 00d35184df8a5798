"""The mem0-pgvector preset against a real PostgreSQL 16 + pgvector: exact values computed
from the rows inserted, drops, reset(), a lazily created table, estimate mode, read-only."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from memwatch.backends import mem0_pgvector as pgbackend
from memwatch.errors import REASONS
from tests.helpers import Scrape, assert_features, exporter_for, get, samples, serving, value
from tests.postgres import mem0data
from tests.postgres.cluster import APP_USER, PgCluster
from tests.postgres.conftest import delete_rows, mem0_spec, ns_samples
from tests.postgres.mem0data import DIM, Mem0Data

UP = {"store": "mem0", "backend": "postgresql"}
S = {"store": "mem0"}


def errors(scrape: Scrape, store: str = "mem0") -> dict[str, float | None]:
    return {r: scrape("memwatch_collection_errors_total", store=store, reason=r)
            for r in REASONS}


def namespaces(scrape: Scrape, store: str = "mem0") -> dict[str, float]:
    return {dict(labels)["namespace"]: v for (name, labels), v in scrape.data.items()
            if name == "memwatch_memories" and dict(labels)["store"] == store}


@pytest.fixture
def table(pg: PgCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, unique table name for a test that changes its table; dropped afterwards."""
    name = f"t_{request.node.name.split('[')[0][-40:]}_{uuid.uuid4().hex[:6]}".lower()
    yield name
    pg.execute(f'DROP TABLE IF EXISTS "{name}"')


def test_exact_values(pg: PgCluster, mem0: Mem0Data) -> None:
    with exporter_for(mem0_spec(pg, expected_dimension=DIM, timeout="5s")) as exp:
        s = Scrape(exp)
        size = pg.execute("SELECT pg_total_relation_size('public.memories')")[0][0]
        assert_features(exp, "mem0")
    assert s("memwatch_up", **UP) == 1
    assert errors(s) == dict.fromkeys(REASONS, 0)
    # the 700 + 3 rows of the siblings and the 321 of archive.memories are not counted
    assert s("memwatch_store_memories", **S) == mem0.total == 5000
    want = mem0.namespaces("user_id")
    assert len(want) == 101 and want["__other__"] > 0  # the cap and __other__ do matter
    assert namespaces(s) == want
    assert sum(namespaces(s).values()) == mem0.total
    assert s("memwatch_newest_memory_timestamp_seconds", **S) == mem0.newest()
    assert s("memwatch_vector_dimension", **S) == DIM
    assert s("memwatch_vector_dimension_expected", **S) == DIM
    assert s("memwatch_table_exists", **S) == 1
    assert s("memwatch_table_recreations_total", **S) == 0
    assert s("memwatch_memories_drop_ratio", **S) == 0
    assert size > 0
    assert s("memwatch_store_size_bytes", **S) == size
    duration = s("memwatch_collection_duration_seconds", **S)
    assert duration is not None and 0 < duration < 5
    assert s("memwatch_last_success_timestamp_seconds", **S) is not None


def test_boundary_ties_are_broken_by_name(mem0: Mem0Data) -> None:
    """The data set is built so the 100th place is a tie: the test above proves the
    exporter and the contract agree on who is in and who is in __other__."""
    ranked = sorted(mem0.counts("user_id").values(), reverse=True)
    assert ranked[99] == ranked[100]


@pytest.mark.parametrize("key", ["agent_id", "run_id"])
def test_other_namespace_keys(pg: PgCluster, mem0: Mem0Data, key: str) -> None:
    with exporter_for(mem0_spec(pg, namespace=key)) as exp:
        got = ns_samples(samples(exp, "memwatch_memories"))
    want = mem0.namespaces(key)
    assert "__none__" in want and "__other__" not in want  # memories without that key
    assert got == want


@pytest.mark.parametrize("cap", [1, 10, 150, 151])
def test_max_namespaces(pg: PgCluster, mem0: Mem0Data, cap: int) -> None:
    with exporter_for(mem0_spec(pg, max_namespaces=cap)) as exp:
        got = ns_samples(samples(exp, "memwatch_memories"))
    assert got == mem0.namespaces("user_id", cap)
    # 150 users + the agent-only memories: 151 namespaces in all
    assert ("__other__" in got) == (cap < 151)
    assert sum(got.values()) == mem0.total


def test_expected_dimension_differs(pg: PgCluster, mem0: Mem0Data) -> None:
    with exporter_for(mem0_spec(pg, expected_dimension=768)) as exp:
        s = Scrape(exp)
    assert s("memwatch_vector_dimension", **S) == DIM
    assert s("memwatch_vector_dimension_expected", **S) == 768


def test_schema_option(pg: PgCluster, mem0: Mem0Data) -> None:
    with exporter_for(mem0_spec(pg, schema="archive")) as exp:
        s = Scrape(exp)
    assert s("memwatch_store_memories", **S) == 321
    size = pg.execute("SELECT pg_total_relation_size('archive.memories')")[0][0]
    assert s("memwatch_store_size_bytes", **S) == size


def test_malformed_timestamps_do_not_break_the_scrape(pg: PgCluster, mem0: Mem0Data,
                                                      table: str) -> None:
    """Every kind of bad string is in the big table (scraped with up=1 above); here a table
    of nothing but bad strings, and then one good row among them."""
    created = {p.get("created_at") for p in mem0.payloads}
    assert set(mem0data.MALFORMED) <= created
    bad = [{"user_id": "u", "created_at": b, "updated_at": b} for b in mem0data.MALFORMED]
    data = Mem0Data(bad)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data)
    with exporter_for(mem0_spec(pg, table=table)) as exp:
        s = Scrape(exp)
        assert s("memwatch_up", **UP) == 1
        assert errors(s) == dict.fromkeys(REASONS, 0)
        assert s("memwatch_store_memories", **S) == len(bad)
        assert s("memwatch_newest_memory_timestamp_seconds", **S) is None
        good = Mem0Data([{"user_id": "u", "created_at": "2026-11-20T09:15:02.123456-08:00",
                          "updated_at": "2026-02-29T00:00:00Z"}])  # no 29 Feb in 2026
        with pg.session() as conn:
            mem0data.insert(conn, table, good)
        s = Scrape(exp)
        assert s("memwatch_up", **UP) == 1
        assert s("memwatch_newest_memory_timestamp_seconds", **S) == good.newest() == \
            1795194902.123456


def test_drop_ratio(pg: PgCluster, table: str) -> None:
    data = mem0data.generate(400, seed=5)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data)
    with exporter_for(mem0_spec(pg, table=table)) as exp:
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == 400
        assert s("memwatch_memories_drop_ratio", **S) == 0
        before = namespaces(s)
        # delete 25%
        gone = set(data.ids[:100])
        # the newest among them: the statistics tell the exporter of a delete
        delete_rows(pg, table, "WHERE id = ANY(%s::uuid[])", (list(gone),))
        left = Mem0Data([p for i, p in zip(data.ids, data.payloads, strict=True)
                         if i not in gone], [i for i in data.ids if i not in gone])
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == 300
        assert s("memwatch_memories_drop_ratio", **S) == 0.25
        # the largest 100 as before; users that lost memories and fell out of them are
        # kept at their new count (memwatch/namespaces.py), no longer in __other__
        got, want = namespaces(s), left.namespaces("user_id")
        held = {k: v for k, v in got.items() if k not in want}
        counts = left.counts("user_id")
        assert held and all(v == counts[None if k == "__none__" else k] < before[k]
                            for k, v in held.items())
        assert {k: v for k, v in got.items() if k in want and k != "__other__"} == \
            {k: v for k, v in want.items() if k != "__other__"}
        assert got.get("__other__", 0) == want.get("__other__", 0) - sum(held.values())
        assert sum(got.values()) == 300
        assert s("memwatch_newest_memory_timestamp_seconds", **S) == left.newest()
        # unchanged, then grown: 0
        assert value(exp, "memwatch_memories_drop_ratio", **S) == 0
        more = mem0data.generate(100, seed=6)
        with pg.session() as conn:
            mem0data.insert(conn, table, more)
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == 400
        assert s("memwatch_memories_drop_ratio", **S) == 0
        exported = set(namespaces(s)) - {"__other__"}
        # everything deleted (mem0's delete_all): 1, the namespaces it had at 0, no newest
        pg.execute(f'DELETE FROM "{table}"')
        s = Scrape(exp)
        assert s("memwatch_up", **UP) == 1
        assert s("memwatch_store_memories", **S) == 0
        assert s("memwatch_memories_drop_ratio", **S) == 1
        gone = namespaces(s)  # held at 0: at most max_namespaces of them
        assert set(gone.values()) == {0.0} and set(gone) <= exported
        assert len(gone) == min(len(exported), 100)
        assert s("memwatch_newest_memory_timestamp_seconds", **S) is None
        assert s("memwatch_table_exists", **S) == 1


def test_reset_drop_and_recreate(pg: PgCluster, table: str) -> None:
    data = mem0data.generate(250, seed=7)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data)
    with exporter_for(mem0_spec(pg, table=table)) as exp:
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == 250
        assert s("memwatch_table_recreations_total", **S) == 0
        # reset(), first half: the table is gone
        pg.execute(f'DROP TABLE "{table}"')
        s = Scrape(exp)
        assert s("memwatch_up", **UP) == 1  # a missing table is a fact, not a failure
        assert errors(s) == dict.fromkeys(REASONS, 0)
        assert s("memwatch_table_exists", **S) == 0
        assert s("memwatch_store_memories", **S) == 0
        assert s("memwatch_memories_drop_ratio", **S) == 1
        assert s("memwatch_store_size_bytes", **S) == 0
        assert s("memwatch_vector_dimension", **S) is None
        assert s("memwatch_table_recreations_total", **S) == 0
        # second half: recreated, empty, a new OID
        with pg.session() as conn:
            mem0data.create_table(conn, table)
        s = Scrape(exp)
        assert s("memwatch_table_exists", **S) == 1
        assert s("memwatch_store_memories", **S) == 0
        assert s("memwatch_table_recreations_total", **S) == 1
        assert s("memwatch_vector_dimension", **S) == DIM
        with pg.session() as conn:
            mem0data.insert(conn, table, mem0data.generate(40, seed=8))
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == 40
        assert s("memwatch_table_recreations_total", **S) == 1
        # a whole reset() between two scrapes: only the OID tells
        with pg.session() as conn:
            mem0data.create_table(conn, table)  # DROP TABLE + CREATE TABLE
        s = Scrape(exp)
        assert s("memwatch_table_exists", **S) == 1
        assert s("memwatch_store_memories", **S) == 0
        assert s("memwatch_memories_drop_ratio", **S) == 1
        assert s("memwatch_table_recreations_total", **S) == 2


def test_table_missing_at_start(pg: PgCluster, table: str) -> None:
    with exporter_for(mem0_spec(pg, table=table, expected_dimension=DIM)) as exp:
        s = Scrape(exp)
        assert s("memwatch_up", **UP) == 1
        assert errors(s) == dict.fromkeys(REASONS, 0)
        assert s("memwatch_table_exists", **S) == 0
        assert s("memwatch_store_memories", **S) == 0
        assert s("memwatch_vector_dimension", **S) is None
        assert s("memwatch_vector_dimension_expected", **S) == DIM
        assert s("memwatch_table_recreations_total", **S) == 0
        # mem0 creates it lazily on first use: not a recreation
        data = mem0data.generate(60, seed=9)
        with pg.session() as conn:
            mem0data.create_table(conn, table, data)
        s = Scrape(exp)
        assert s("memwatch_table_exists", **S) == 1
        assert s("memwatch_store_memories", **S) == 60
        assert namespaces(s) == data.namespaces("user_id")
        assert s("memwatch_newest_memory_timestamp_seconds", **S) == data.newest()
        assert s("memwatch_table_recreations_total", **S) == 0


@pytest.fixture
def analyzed(pg: PgCluster, mem0: Mem0Data, table: str) -> tuple[str, Mem0Data]:
    """A copy of mem0's table (same rows in the same heap order, no indexes), analyzed."""
    with pg.session() as conn:
        conn.execute(f'CREATE TABLE "{table}" AS SELECT * FROM memories')
        conn.execute(f'ANALYZE "{table}"')
    return table, mem0


def exact_count(pg: PgCluster, table: str) -> int:
    return int(pg.execute(f'SELECT count(*) FROM "{table}"')[0][0])


def test_estimate_counts_exactly_what_its_sample_would_read_whole(
        pg: PgCluster, analyzed: tuple[str, Mem0Data]) -> None:
    """Up to ESTIMATE_EXACT_ROWS rows the sample would read every page, and the table's
    last pages again: the exact pass costs the database less, and is exact."""
    table, data = analyzed
    with exporter_for(mem0_spec(pg, table=table, count="estimate")) as exp:
        s = Scrape(exp)
        b = exp.collector.runners[0].backend
        assert isinstance(b, pgbackend.Mem0PgvectorBackend)
        assert b.newest.full_passes == 1 and b.anchor is None  # the exact pass ran
    assert s("memwatch_up", **UP) == 1
    assert s("memwatch_store_memories", **S) == data.total
    assert namespaces(s) == data.namespaces("user_id")
    assert s("memwatch_newest_memory_timestamp_seconds", **S) == data.newest()
    assert s("memwatch_recounts_total", **S) == 0


def test_estimate_sampled(pg: PgCluster, analyzed: tuple[str, Mem0Data],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A 20% page sample (SAMPLE_ROWS lowered, as a 10M-row table would have it)."""
    table, data = analyzed
    monkeypatch.setattr(pgbackend, "SAMPLE_ROWS", 1000)
    monkeypatch.setattr(pgbackend, "ESTIMATE_EXACT_ROWS", 1000)
    with exporter_for(mem0_spec(pg, table=table, count="estimate")) as exp:
        s = Scrape(exp)
        assert s("memwatch_up", **UP) == 1
        total = s("memwatch_store_memories", **S)
        assert total is not None
        assert abs(total - data.total) <= 0.02 * data.total
        ns = namespaces(s)
        assert "__other__" in ns and len(ns) == 101
        assert sum(ns.values()) == pytest.approx(total)
        # a sample, not the truth, but the biggest namespace is found and roughly right
        exact = data.namespaces("user_id")
        biggest = max((k for k in exact if k != "__other__"), key=lambda k: exact[k])
        assert max((k for k in ns if k != "__other__"), key=lambda k: ns[k]) == biggest
        assert ns[biggest] == pytest.approx(exact[biggest], rel=0.3)
        # 10% more rows, no ANALYZE: density x current pages still tracks the count
        with pg.session() as conn:
            mem0data.insert(conn, table, mem0data.generate(500, seed=10))
        s = Scrape(exp)
        total = s("memwatch_store_memories", **S)
        exact_now = exact_count(pg, table)
        assert exact_now == data.total + 500
        assert total is not None and abs(total - exact_now) <= 0.02 * exact_now
        assert sum(namespaces(s).values()) == pytest.approx(total)


def test_estimate_never_analyzed_counts_exactly(pg: PgCluster, table: str) -> None:
    """No statistics yet (reltuples = -1): the exporter falls back to count(*)."""
    data = mem0data.generate(300, seed=11)
    with pg.session() as conn:
        conn.execute(f'CREATE TABLE "{table}" (id uuid, vector vector(3), payload jsonb)')
        conn.execute(f'INSERT INTO "{table}" SELECT t.id, \'[1,2,3]\', t.p::jsonb '
                     "FROM unnest(%s::uuid[], %s::text[]) AS t(id, p)",
                     (data.ids, [json.dumps(p) for p in data.payloads]))
        assert conn.execute("SELECT reltuples FROM pg_class WHERE relname = %s",
                            (table,)).fetchone() == (-1,)
    with exporter_for(mem0_spec(pg, table=table, count="estimate")) as exp:
        s = Scrape(exp)
    assert s("memwatch_store_memories", **S) == 300
    assert namespaces(s) == data.namespaces("user_id")
    assert s("memwatch_vector_dimension", **S) == 3


def _show(conn: psycopg.Connection[Any], setting: str) -> str:
    row = conn.execute(f"SHOW {setting}").fetchone()
    assert row is not None
    return str(row[0])


def test_read_only_session(pg: PgCluster, mem0: Mem0Data) -> None:
    # the role itself could write: only the exporter's session keeps it from doing so
    assert pg.execute("SELECT has_table_privilege(%s, 'public.memories', 'INSERT, DELETE')",
                      (APP_USER,)) == [(True,)]
    xid_before = int(pg.execute("SELECT pg_current_xact_id()::text")[0][0])
    with exporter_for(mem0_spec(pg, timeout="2s")) as exp:
        for _ in range(3):
            assert value(exp, "memwatch_up", **UP) == 1
        xid_after = int(pg.execute("SELECT pg_current_xact_id()::text")[0][0])
        # three scrapes, no transaction id spent: only our own call above took one
        assert xid_after == xid_before + 1
        conn = exp.collector.runners[0].backend._conn  # type: ignore[attr-defined]
        assert isinstance(conn, psycopg.Connection)
        activity = pg.execute(
            "SELECT usename, application_name, backend_xid FROM pg_stat_activity "
            "WHERE pid = %s", (conn.info.backend_pid,))
        assert activity == [(APP_USER, "memwatch", None)]
        assert _show(conn, "default_transaction_read_only") == "on"
        assert _show(conn, "transaction_read_only") == "on"
        assert _show(conn, "statement_timeout") == "2s"
        assert _show(conn, "lock_timeout") == "1600ms"  # gives up before statement_timeout
        assert _show(conn, "TimeZone") == "UTC"
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("DELETE FROM memories")
        conn.rollback()
        # the session is still usable by the exporter afterwards
        assert value(exp, "memwatch_store_memories", **S) == mem0.total
    assert exact_count(pg, "memories") == mem0.total


def test_http_metrics(pg: PgCluster, mem0: Mem0Data) -> None:
    with exporter_for(mem0_spec(pg)) as exp, serving(exp) as url:
        status, headers, body = get(f"{url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain")
    lines = body.splitlines()
    assert 'memwatch_up{backend="postgresql",store="mem0"} 1.0' in lines
    assert f'memwatch_store_memories{{store="mem0"}} {float(mem0.total)}' in lines
    top = max(mem0.counts("user_id").items(), key=lambda kv: kv[1])
    assert f'memwatch_memories{{namespace="{top[0]}",store="mem0"}} {float(top[1])}' in lines
