"""mem0-pgvector below the total, on a real PostgreSQL 16 + pgvector: the integrity pass
(rows without a vector, the same text stored twice for a user, vectors per dimension) and a
deleted user kept on /metrics at 0 (mem0's delete_all(user_id=...))."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from memwatch.backends import mem0_pgvector
from tests.helpers import Scrape, assert_features, exporter_for, run_integrity, samples
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster
from tests.postgres.conftest import mem0_spec, ns_samples

S = {"store": "mem0"}


@pytest.fixture
def table(pg: PgCluster) -> Iterator[str]:
    name = f"t_integrity_{uuid.uuid4().hex[:8]}"
    yield name
    pg.execute(f'DROP TABLE IF EXISTS "{name}"')


def test_integrity_pass_values(pg: PgCluster, table: str) -> None:
    data = mem0data.generate(300, seed=21)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data, dim=3)
        # mem0 retried 5 writes of one user: the same text (payload.hash) again
        twice = [p for p in data.payloads if p.get("user_id")][:5]
        mem0data.insert(conn, table, mem0data.Mem0Data(twice), dim=3)
        # the same text for another user is no duplicate
        other = [{**twice[0], "user_id": "someone-else"}]
        mem0data.insert(conn, table, mem0data.Mem0Data(other), dim=3)
        conn.execute(f'UPDATE "{table}" SET vector = NULL WHERE id IN '
                     f'(SELECT id FROM "{table}" ORDER BY id LIMIT 7)')
    with exporter_for(mem0_spec(pg, table=table)) as exp:
        run_integrity(exp)
        s = Scrape(exp)
        assert_features(exp, "mem0")
    assert s("memwatch_store_memories", **S) == 306
    assert s("memwatch_memories_without_embedding", **S) == 7
    assert s("memwatch_duplicate_memories", **S) == 5
    assert s("memwatch_embeddings_by_dimension", store="mem0", dimension="3") == 306 - 7
    assert s("memwatch_integrity_errors_total", store="mem0", reason="query") == 0


def test_undeclared_dimension_counts_each_vector(pg: PgCluster, table: str) -> None:
    """A `vector` column declared without a dimension holds vectors of any length: two
    models mixed show as two dimensions."""
    with pg.session() as conn:
        conn.execute(f'CREATE TABLE "{table}" (id uuid PRIMARY KEY, vector vector, '
                     "payload jsonb)")
        for i in range(12):
            vec = "[1,2,3]" if i < 9 else "[1,2,3,4,5]"
            conn.execute(f'INSERT INTO "{table}" VALUES (%s, %s, %s)',
                         (str(uuid.uuid4()), vec, f'{{"user_id": "u{i % 2}", "data": "m{i}"}}'))
    with exporter_for(mem0_spec(pg, table=table)) as exp:
        run_integrity(exp)
        s = Scrape(exp)
    assert s("memwatch_embeddings_by_dimension", store="mem0", dimension="3") == 9
    assert s("memwatch_embeddings_by_dimension", store="mem0", dimension="5") == 3
    assert s("memwatch_memories_without_embedding", **S) == 0
    assert s("memwatch_duplicate_memories", **S) == 0  # no payload.hash: nothing to compare


def test_deleted_user_is_held_at_zero(pg: PgCluster, table: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # estimate mode counts a table its sample would read whole exactly: sample it anyway
    monkeypatch.setattr(mem0_pgvector, "ESTIMATE_EXACT_ROWS", 0)
    data = mem0data.generate(2000, users=40, seed=22)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data, dim=3)
    want = data.namespaces("user_id", cap=5)
    third = sorted((k for k in want if k not in ("__other__", "__none__")),
                   key=lambda k: -want[k])[2]
    for text in (mem0_spec(pg, table=table, max_namespaces=5),
                 mem0_spec(pg, table=table, max_namespaces=5, count="estimate")):
        with pg.session() as conn:
            conn.execute(f'ANALYZE "{table}"')
        with exporter_for(text) as exp:
            before = ns_samples(samples(exp, "memwatch_memories"))
            assert before == want
            with pg.session() as conn:  # delete_all(user_id=third)
                conn.execute(f"DELETE FROM \"{table}\" WHERE payload->>'user_id' = %s",
                             (third,))
            after = ns_samples(samples(exp, "memwatch_memories"))
            with pg.session() as conn:  # put them back for the next round
                mem0data.insert(conn, table, mem0data.Mem0Data(
                    [p for p in data.payloads if p.get("user_id") == third]), dim=3)
        if "estimate" in text:
            # a sample cannot tell a loss from a rank change: nothing is held
            assert third not in after
            break
        assert after[third] == 0
        assert sum(after.values()) == data.total - want[third]
        assert len(after) == len(want) + 1  # the next user ranked in beside the held one


def test_sql_preset_holds_a_deleted_user(pg: PgCluster, table: str) -> None:
    data = mem0data.generate(600, users=20, seed=23)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data, dim=3)
    first = max((k for k in data.counts("user_id") if k), key=lambda k: data.counts(
        "user_id")[k])
    text = (f"stores:\n  - name: notes\n    preset: sql\n    backend: postgresql\n"
            f"    dsn: '{pg.dsn()}'\n    table: {table}\n    namespace: payload.user_id\n"
            "    max_namespaces: 3\n")
    with exporter_for(text) as exp:
        assert Scrape(exp)("memwatch_memories", store="notes", namespace=first) == \
            data.counts("user_id")[first]
        pg.execute(f"DELETE FROM \"{table}\" WHERE payload->>'user_id' = '{first}'")
        s = Scrape(exp)
    assert s("memwatch_memories", store="notes", namespace=first) == 0
    assert s("memwatch_store_memories", store="notes") == \
        data.total - data.counts("user_id")[first]
