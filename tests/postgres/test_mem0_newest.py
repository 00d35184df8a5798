"""mem0-pgvector freshness kept across scrapes (memwatch/backends/pg_newest.py): exact
after inserts, updates, deletes, a truncate and a transaction in flight during a scrape;
one full pass, not one per scrape; and a scrape that never writes a temporary file."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import psycopg
import pytest

from memwatch.backends.mem0_pgvector import Mem0PgvectorBackend
from memwatch.backends.registry import make_backend
from tests.helpers import spec_from
from tests.postgres.cluster import PgCluster
from tests.postgres.conftest import delete_rows, mem0_spec

A = "2026-01-01T10:00:00.000000-08:00"
B = "2026-03-01T10:00:00.000000-08:00"
C = "2026-06-01T10:00:00.000000-07:00"  # mem0 writes US/Pacific: the offset moves
D = "2026-06-01T17:30:00.000000Z"  # later than C though it sorts lower as text
E = "2026-07-01T00:00:00.000000+02:00"
F = "2025-12-24T08:00:00.000000-08:00"


def ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def payload(user: str, created: str, updated: str | None = None) -> str:
    return json.dumps({"user_id": user, "data": "remembered", "hash": uuid.uuid4().hex,
                       "created_at": created, "updated_at": updated or created})


def add(conn: psycopg.Connection[Any], table: str, *payloads: str) -> None:
    for p in payloads:
        conn.execute(f'INSERT INTO "{table}" (id, payload) VALUES (gen_random_uuid(), %s)',
                     (p,))


@pytest.fixture
def table(pg: PgCluster) -> Iterator[str]:
    name = f"t_newest_{uuid.uuid4().hex[:8]}"
    pg.execute(f'CREATE TABLE "{name}" (id uuid PRIMARY KEY, vector vector(3), '
               "payload jsonb)")
    yield name
    pg.execute(f'DROP TABLE IF EXISTS "{name}"')


def backend(text: str) -> Mem0PgvectorBackend:
    b = make_backend(spec_from(text).stores[0])
    assert isinstance(b, Mem0PgvectorBackend)
    return b


def test_newest_is_exact_across_writes_with_one_full_pass(pg: PgCluster, table: str) -> None:
    with pg.session() as conn:
        add(conn, table, payload("alice", A), payload("bob", B), payload("alice", C))
    b = backend(mem0_spec(pg, table=table))
    try:
        assert b.collect().newest_timestamp == ts(C)
        assert b.newest.full_passes == 1
        with pg.session() as conn:  # an insert, at another UTC offset
            add(conn, table, payload("carol", A, D))
        assert b.collect().newest_timestamp == ts(D)
        with pg.session() as conn:  # an update of an old row, nothing inserted
            conn.execute(f'UPDATE "{table}" SET payload = jsonb_set(payload, '
                         "'{updated_at}', to_jsonb(%s::text)) "
                         "WHERE payload->>'created_at' = %s AND payload->>'user_id' = 'bob'",
                         (E, B))
        obs = b.collect()
        assert obs.newest_timestamp == ts(E) and obs.memories == 4
        assert b.newest.full_passes == 1  # the writes were read from their rows alone
        # deleting the newest lowers it: n_tup_del moved, one full pass
        delete_rows(pg, table, "WHERE payload->>'updated_at' = %s", (E,))
        assert b.collect().newest_timestamp == ts(D)
        assert b.newest.full_passes == 2
        pg.execute(f'TRUNCATE "{table}"')  # a new file: what was known does not hold
        with pg.session() as conn:
            add(conn, table, payload("dave", F))
        assert b.collect().newest_timestamp == ts(F)
        assert b.newest.full_passes == 3
        delete_rows(pg, table)
        obs = b.collect()
        assert obs.memories == 0 and obs.newest_timestamp is None
    finally:
        b.close()


def test_a_write_in_flight_during_a_scrape_is_seen_after_it_commits(
        pg: PgCluster, table: str) -> None:
    with pg.session() as conn:
        add(conn, table, payload("alice", A))
    b = backend(mem0_spec(pg, table=table))
    writer = pg.connect(autocommit=False)
    try:
        assert b.collect().newest_timestamp == ts(A)
        add(writer, table, payload("bob", E))  # its transaction began before the scrape
        assert b.collect().newest_timestamp == ts(A)  # not committed: not seen
        with pg.session() as conn:  # a later transaction commits first
            add(conn, table, payload("carol", B))
        assert b.collect().newest_timestamp == ts(B)
        writer.commit()
        assert b.collect().newest_timestamp == ts(E)
        assert b.newest.full_passes == 1
    finally:
        writer.close()
        b.close()


def test_a_scrape_writes_no_temporary_file(pg: PgCluster, table: str) -> None:
    """A role that may not write one byte of temporary file scrapes a table whose old
    one-scan plan sorted every row's payload (9 MB, past the default 4 MB work_mem)."""
    role = f"nospill_{uuid.uuid4().hex[:6]}"
    pg.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'nospill-pw'")
    pg.execute(f"ALTER ROLE {role} SET temp_file_limit = 0")
    pg.execute(f'GRANT SELECT ON "{table}" TO {role}')
    pg.execute(f'INSERT INTO "{table}" (id, payload) SELECT gen_random_uuid(), '
               "jsonb_build_object('user_id', 'user-' || (g % 40), 'data', repeat('x', 200), "
               "'created_at', to_char(timestamp '2026-01-01' + g * interval '1 minute', "
               "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"-08:00\"'), 'updated_at', NULL) "
               "FROM generate_series(1, 30000) g")
    pg.execute(f'ANALYZE "{table}"')
    b = backend(mem0_spec(pg, table=table,
                          dsn=pg.dsn(user=role, password="nospill-pw")))
    try:
        for _ in range(2):
            obs = b.collect()
            assert obs.memories == 30000
            assert obs.namespaces is not None and len(obs.namespaces) == 40
            assert obs.newest_timestamp == ts("2026-01-21T20:00:00-08:00")
    finally:
        b.close()
        pg.execute(f'REVOKE ALL ON "{table}" FROM {role}')
        pg.execute(f"DROP ROLE {role}")


def test_a_full_pass_that_does_not_finish_leaves_the_last_pages_standing_in(
        pg: PgCluster, table: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The full pass runs within its share of the timeout; when it is cancelled the
    table's last pages give the newest (the scrape still answers), writes are folded in
    as always, and a later full pass finds what the last pages could not."""
    from memwatch.backends import pg_newest, postgres

    pg.execute(f'INSERT INTO "{table}" (id, payload) SELECT gen_random_uuid(), '
               "jsonb_build_object('user_id', 'u' || (g %% 7), 'data', repeat('x', 300), "
               "'created_at', CASE WHEN g = 1 THEN %s ELSE to_char(timestamp '2026-01-01' "
               "+ g * interval '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"-08:00\"') END) "
               "FROM generate_series(1, 30000) g", (E,))  # the newest on the first page
    last = ts("2026-01-21T20:00:00-08:00")  # the newest of the last pages
    monkeypatch.setattr(postgres, "RECOUNT_SHARE", 1e-9)  # 1 ms: it cannot finish
    b = backend(mem0_spec(pg, table=table))
    try:
        obs = b.collect()
        assert obs.memories == 30000 and obs.newest_timestamp == last
        assert b.newest.full_passes == 0 and "did not finish" in caplog.text
        with pg.session() as conn:
            add(conn, table, payload("zoe", D))
        assert b.collect().newest_timestamp == ts(D)  # a write: read from its row
        monkeypatch.setattr(postgres, "RECOUNT_SHARE", 0.5)
        assert b.collect().newest_timestamp == ts(D)  # not before the retry is due
        monkeypatch.setattr(b.newest, "retry_at", 0.0)
        assert b.collect().newest_timestamp == ts(E)
        assert b.newest.full_passes == 1 and b.newest.known is not None
        assert not b.newest.known.partial
    finally:
        b.close()
    assert pg_newest.RETRY_SECONDS >= 60


def test_an_xid_epoch_going_by_brings_a_full_pass() -> None:
    """xidsend() compares 32-bit ids: a pass whose snapshot is in a later epoch than the
    horizon may have missed rows written after the wraparound, so nothing is folded."""
    from memwatch.backends.pg_newest import Known, NewestTracker, since_bytes

    key = (1, 1, 0)
    t = NewestTracker('"t"')
    t.known = Known(key, 100.0, (5 << 32) + 10, 0.0)
    assert t.update(key, 200.0, (5 << 32) + 99) and t.newest == 200.0
    assert t.update(key, None, (5 << 32) + 120) and t.newest == 200.0
    assert not t.update(key, 300.0, (6 << 32) + 3)
    assert t.known is None and t.newest is None  # horizon() runs the full pass
    assert since_bytes((5 << 32) + 0x01020304) == b"\x01\x02\x03\x04"
