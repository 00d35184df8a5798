"""`count: estimate` sees deletes: the planner's estimate keeps a table's old count after a
DELETE until the next ANALYZE (the test cluster runs with autovacuum off, so here it never
comes); the cumulative statistics move within ~10 s of the commit and trigger one exact
count(*). Real PostgreSQL 16, both presets, a streaming standby."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from memwatch.backends import recount
from memwatch.backends.postgres import PostgresBackend
from memwatch.exporter import Exporter
from tests.helpers import Scrape, exporter_for
from tests.postgres.cluster import SUPERUSER, PgCluster
from tests.postgres.conftest import LogCapture, mem0_spec

ROWS = 40_000
USERS = 10  # 4,000 rows each: one user is 10% of the table
S = {"store": "mem0"}


@pytest.fixture
def table(pg: PgCluster) -> Iterator[str]:
    """A mem0-shaped table of ROWS rows over USERS users, analyzed (no vector index: the
    estimate does not need one, and building it would dominate the test's time)."""
    name = f"est_{uuid.uuid4().hex[:8]}"
    pg.execute(f'CREATE TABLE "{name}" (id uuid PRIMARY KEY, vector vector(3), payload jsonb)')
    insert(pg, name, 1, ROWS)
    # the inserts' counters in before ANALYZE sets n_live_tup (a late flush adds them again)
    wait_for_stats(pg, name, deleted=0)
    pg.execute(f'ANALYZE "{name}"')
    yield name
    pg.execute(f'DROP TABLE IF EXISTS "{name}"')


def insert(pg: PgCluster, table: str, first: int, last: int) -> None:
    pg.execute(
        f'INSERT INTO "{table}" SELECT gen_random_uuid(), \'[1,2,3]\', jsonb_build_object('
        f"'user_id', 'user-' || (i %% {USERS}), 'data', 'memory ' || i, "
        "'created_at', '2026-11-20T10:00:00-08:00') FROM generate_series(%s::int, %s::int) i",
        (first, last))


def exact(pg: PgCluster, table: str) -> int:
    return int(pg.execute(f'SELECT count(*) FROM "{table}"')[0][0])


def planner(pg: PgCluster, table: str) -> float:
    """The planner's own estimate, as estimate mode read it before recounts existed."""
    return float(pg.execute(
        "SELECT reltuples / relpages * (pg_relation_size(oid) / "
        "current_setting('block_size')::int) FROM pg_class WHERE relname = %s", (table,))[0][0])


def stats(pg: PgCluster, table: str) -> tuple[int, int, int]:
    row = pg.execute("SELECT n_live_tup, n_tup_ins, n_tup_del FROM pg_stat_user_tables "
                     "WHERE relname = %s", (table,))[0]
    return int(row[0]), int(row[1]), int(row[2])


def wait_for_stats(pg: PgCluster, table: str, deleted: int, inserted: int = ROWS) -> None:
    """Until the writer's counters are in the shared statistics. A session that ends
    flushes them on exit, but after its connection closed: poll (at most 15 s)."""
    deadline = time.monotonic() + 15
    while stats(pg, table)[1:] != (inserted, deleted):
        assert time.monotonic() < deadline, stats(pg, table)
        time.sleep(0.1)


def mem0_store(pg: PgCluster, table: str, **keys: Any) -> str:
    return mem0_spec(pg, table=table, count="estimate", timeout="10s", **keys)


def backend(exp: Exporter) -> PostgresBackend:
    b = exp.collector.runners[0].backend
    assert isinstance(b, PostgresBackend)
    return b


def test_delete_of_every_row_reads_zero_10s_after_commit(pg: PgCluster, table: str) -> None:
    with exporter_for(mem0_store(pg, table)) as exp:
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == ROWS
        # statistics and planner agree at start: anchored on the estimate, nothing counted
        assert s("memwatch_recounts_total", **S) == 0
        with pg.session() as writer:
            # the session flushes its statistics now, so the DELETE's wait for the idle
            # flush: the worst case, ~10 s after the commit
            writer.execute("SELECT 1")
            writer.execute(f'DELETE FROM "{table}"')  # autocommit: committed on return
            # before the statistics arrive the old count may still show: never a third value
            early = Scrape(exp)("memwatch_store_memories", **S)
            assert early in (ROWS, 0)
            time.sleep(11)
            s = Scrape(exp)
            assert stats(pg, table) == (0, ROWS, ROWS)
            # the blind spot this fixes: the planner still says 40,000
            assert planner(pg, table) == ROWS
        assert s("memwatch_store_memories", **S) == 0
        assert s("memwatch_recounts_total", **S) == 1
        assert s("memwatch_memories_drop_ratio", **S) == (1 if early == ROWS else 0)
        assert not [k for k in s.data if k[0] == "memwatch_memories"]  # no namespaces
        # the exact count is now the anchor: no further recounts
        for _ in range(3):
            s = Scrape(exp)
            assert s("memwatch_store_memories", **S) == 0
            assert s("memwatch_recounts_total", **S) == 1


def test_one_user_deleted_is_seen_within_the_bound(pg: PgCluster, table: str) -> None:
    """delete_all(user_id=...) of a user holding 10% of the rows."""
    with exporter_for(mem0_store(pg, table)) as exp:
        assert Scrape(exp)("memwatch_store_memories", **S) == ROWS
        pg.execute(f"""DELETE FROM "{table}" WHERE payload->>'user_id' = 'user-3'""")
        wait_for_stats(pg, table, deleted=ROWS // USERS)
        truth = exact(pg, table)
        assert truth == ROWS - ROWS // USERS
        s = Scrape(exp)
        got = s("memwatch_store_memories", **S)
        assert got is not None and abs(got - truth) <= 0.02 * truth
        assert got == truth  # it took a recount to get there
        assert s("memwatch_recounts_total", **S) == 1
        assert s("memwatch_memories", store="mem0", namespace="user-3") is None
        assert planner(pg, table) == ROWS


def test_a_delete_within_the_bound_is_not_recounted(pg: PgCluster, table: str) -> None:
    """1% deleted, under recount_bound 0.02: no recount, and the count stays within the
    bound of the truth (this is what the bound trades)."""
    with exporter_for(mem0_store(pg, table)) as exp:
        assert Scrape(exp)("memwatch_store_memories", **S) == ROWS
        pg.execute(f'DELETE FROM "{table}" WHERE id IN '
                   f'(SELECT id FROM "{table}" LIMIT {ROWS // 100})')
        wait_for_stats(pg, table, deleted=ROWS // 100)
        s = Scrape(exp)
        truth = exact(pg, table)
        got = s("memwatch_store_memories", **S)
        assert s("memwatch_recounts_total", **S) == 0
        assert got == ROWS != truth
        assert abs(got - truth) <= 0.02 * truth
    # a tighter bound recounts the same delete
    with exporter_for(mem0_store(pg, table, recount_bound=0.005)) as exp:
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == truth
        assert s("memwatch_recounts_total", **S) == 1


def test_inserts_without_analyze_do_not_recount(pg: PgCluster, table: str) -> None:
    with exporter_for(mem0_store(pg, table)) as exp:
        assert Scrape(exp)("memwatch_recounts_total", **S) == 0
        insert(pg, table, ROWS + 1, ROWS + ROWS // 10)  # 10% more, no ANALYZE
        wait_for_stats(pg, table, deleted=0, inserted=ROWS + ROWS // 10)
        truth = exact(pg, table)
        for _ in range(4):
            s = Scrape(exp)
            got = s("memwatch_store_memories", **S)
            assert got is not None and abs(got - truth) <= 0.02 * truth
            assert s("memwatch_recounts_total", **S) == 0
        pg.execute(f"""DELETE FROM "{table}" WHERE payload->>'user_id' IN ('user-1', 'user-2')""")
        wait_for_stats(pg, table, deleted=2 * (truth // USERS),
                       inserted=ROWS + ROWS // 10)
        truth = exact(pg, table)
        for _ in range(4):
            s = Scrape(exp)
            assert s("memwatch_store_memories", **S) == truth
            assert s("memwatch_recounts_total", **S) == 1


def test_stats_reset_recounts_once_and_never_reports_n_live_tup(pg: PgCluster,
                                                               table: str) -> None:
    with exporter_for(mem0_store(pg, table)) as exp:
        assert Scrape(exp)("memwatch_recounts_total", **S) == 0
        pg.execute("SELECT pg_stat_reset()")  # a superuser session, this database
        assert stats(pg, table) == (0, 0, 0)  # n_live_tup says 0, 40,000 rows are there
        for want in (1, 1, 1):
            s = Scrape(exp)
            assert s("memwatch_store_memories", **S) == ROWS == exact(pg, table)
            assert s("memwatch_recounts_total", **S) == want
        assert stats(pg, table)[0] == 0
    # an exporter started after the reset: the statistics disagree with the planner, so it
    # counts once at start rather than trust either
    with exporter_for(mem0_store(pg, table)) as exp:
        for _ in range(3):
            s = Scrape(exp)
            assert s("memwatch_store_memories", **S) == ROWS
            assert s("memwatch_recounts_total", **S) == 1


def test_never_analyzed_table_counts_and_says_so(pg: PgCluster) -> None:
    """reltuples = -1: no estimate to anchor on; every scrape counts exactly, and the
    recount counter shows it."""
    name = f"est_{uuid.uuid4().hex[:8]}"
    pg.execute(f'CREATE TABLE "{name}" (id uuid PRIMARY KEY, vector vector(3), payload jsonb)')
    try:
        insert(pg, name, 1, 500)
        with exporter_for(mem0_store(pg, name)) as exp:
            for n in (1, 2):
                s = Scrape(exp)
                assert s("memwatch_store_memories", **S) == 500
                assert s("memwatch_recounts_total", **S) == n
    finally:
        pg.execute(f'DROP TABLE "{name}"')


def test_exact_mode_has_no_recount_counter(pg: PgCluster, table: str) -> None:
    with exporter_for(mem0_spec(pg, table=table, count="exact")) as exp:
        s = Scrape(exp)
    assert s("memwatch_store_memories", **S) == ROWS
    assert s("memwatch_recounts_total", **S) is None


def test_auto_estimates_from_its_row_count_and_does_not_flip_near_it(
        pg: PgCluster, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """count: auto (the default): exact below AUTO_ESTIMATE_ROWS of the planner's rows,
    estimate from there on; back to exact only below nine tenths of it."""
    from memwatch.backends import mem0_pgvector

    with exporter_for(mem0_spec(pg, table=table)) as exp:
        b = backend(exp)
        assert isinstance(b, mem0_pgvector.Mem0PgvectorBackend)
        monkeypatch.setattr(mem0_pgvector, "AUTO_ESTIMATE_ROWS", ROWS + 1)
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == ROWS
        assert not b.auto_estimating and b.newest.full_passes == 1  # the exact pass ran
        assert s("memwatch_recounts_total", **S) == 0  # one series in both modes
        monkeypatch.setattr(mem0_pgvector, "AUTO_ESTIMATE_ROWS", ROWS)
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == ROWS
        assert b.auto_estimating and b.anchor is not None  # estimate mode's anchor
        monkeypatch.setattr(mem0_pgvector, "AUTO_ESTIMATE_ROWS", int(ROWS / 0.95))
        Scrape(exp)
        assert b.auto_estimating  # within a tenth below the line: stays
        monkeypatch.setattr(mem0_pgvector, "AUTO_ESTIMATE_ROWS", int(ROWS / 0.85))
        Scrape(exp)
        assert not b.auto_estimating


def test_sql_preset_sees_a_delete(pg: PgCluster, table: str) -> None:
    text = (f"stores:\n  - name: notes\n    preset: sql\n    backend: postgresql\n"
            f"    dsn: '{pg.dsn()}'\n    table: {table}\n    count: estimate\n"
            f"    recount_bound: 0.05\n")
    with exporter_for(text) as exp:
        s = Scrape(exp)
        assert s("memwatch_store_memories", store="notes") == ROWS
        assert s("memwatch_recounts_total", store="notes") == 0
        pg.execute(f"""DELETE FROM "{table}" WHERE payload->>'user_id' = 'user-0'""")
        wait_for_stats(pg, table, deleted=ROWS // USERS)
        for _ in range(2):
            s = Scrape(exp)
            assert s("memwatch_store_memories", store="notes") == exact(pg, table) == \
                ROWS - ROWS // USERS
            assert s("memwatch_recounts_total", store="notes") == 1
        pg.execute(f'DELETE FROM "{table}"')
        wait_for_stats(pg, table, deleted=ROWS)
        s = Scrape(exp)
        assert s("memwatch_store_memories", store="notes") == 0
        assert s("memwatch_recounts_total", store="notes") == 2


# -- a streaming standby: the statistics never move there --------------------------------

class StandbyCluster(PgCluster):
    """A hot standby of `primary`, made with pg_basebackup -R (streaming replication over
    the primary's Unix socket, which trusts local replication connections)."""

    def __init__(self, primary: PgCluster) -> None:
        self.primary = primary
        super().__init__()

    def _initdb(self) -> None:
        for d in (self.data, self.sockdir):
            d.mkdir(mode=0o700)
        if self.as_root:
            for p in (self.tmp, self.data, self.sockdir):
                shutil.chown(p, SUPERUSER, SUPERUSER)
        # a fast checkpoint: the default spread one would take minutes
        self._run([str(self.bin / "pg_basebackup"), "-D", str(self.data), "-R",
                   "-X", "stream", "--no-sync", "--checkpoint=fast",
                   "-h", str(self.primary.sockdir), "-p", str(self.primary.port),
                   "-U", SUPERUSER])

    def replay(self, statement: str) -> None:
        """Run `statement` on the primary, then wait until the standby replayed it."""
        with self.primary.session() as conn:
            # the test cluster commits asynchronously; this commit is flushed at once
            conn.execute("SET synchronous_commit = on")
            conn.execute(statement)
            row = conn.execute("SELECT pg_current_wal_flush_lsn()").fetchone()
        assert row is not None
        lsn = row[0]
        deadline = time.monotonic() + 30
        while not self.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,))[0][0]:
            assert time.monotonic() < deadline, "the standby does not catch up"
            time.sleep(0.1)


@pytest.fixture
def standby(pg: PgCluster) -> Iterator[StandbyCluster]:
    cluster = StandbyCluster(pg)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()


def test_standby_recounts_every_ten_minutes(pg: PgCluster, table: str,
                                             standby: StandbyCluster,
                                             captured_logs: LogCapture) -> None:
    # the base backup holds the table and its statistics: nothing to wait for
    assert standby.execute("SELECT pg_is_in_recovery()") == [(True,)]  # a real standby
    with exporter_for(mem0_spec(pg, table=table, count="estimate",
                                dsn=pg.dsn(port=standby.port))) as exp:
        s = Scrape(exp)  # no statistics to check the planner against: count at start
        assert s("memwatch_up", store="mem0", backend="postgresql") == 1
        assert s("memwatch_store_memories", **S) == ROWS
        assert s("memwatch_recounts_total", **S) == 1
        standby.replay(f'DELETE FROM "{table}"')
        assert exact(standby, table) == 0
        # within ten minutes of the last count: the planner's estimate, blind to the delete
        s = Scrape(exp)
        assert s("memwatch_store_memories", **S) == ROWS
        assert s("memwatch_recounts_total", **S) == 1
        # ten minutes later (the anchor aged rather than the test slept)
        b = backend(exp)
        assert b.anchor is not None
        oid, anchor = b.anchor
        b.anchor = (oid, dataclasses.replace(
            anchor, at=anchor.at - recount.STANDBY_RECOUNT_SECONDS))
        for _ in range(2):
            s = Scrape(exp)
            assert s("memwatch_store_memories", **S) == 0
            assert s("memwatch_recounts_total", **S) == 2
    warnings = [r for r in captured_logs.caplog.records
                if r.levelno == logging.WARNING and "standby" in r.getMessage()]
    assert len(warnings) == 1, warnings



def test_a_recount_that_cannot_finish_leaves_the_estimate(
        pg: PgCluster, table: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A table too big to count within its share of the timeout (here a count that sleeps
    first, on the real server): the scrape answers in time with the estimate, up, instead
    of failing on every scrape; the recount is tried again later and reports the truth."""
    from memwatch.backends import postgres as pgbackend

    text = (f"stores:\n  - name: notes\n    preset: sql\n    backend: postgresql\n"
            f"    dsn: '{pg.dsn()}'\n    table: {table}\n    count: estimate\n"
            f"    timeout: 1s\n")
    with exporter_for(text) as exp:
        b = backend(exp)
        assert Scrape(exp)("memwatch_store_memories", store="notes") == ROWS
        pg.execute(f'DELETE FROM "{table}"')
        wait_for_stats(pg, table, deleted=ROWS)

        def slow_count(cur: Any) -> float:
            cur.execute(f'SELECT pg_sleep(5), count(*) FROM "{table}"')
            return float(cur.fetchone()[1])

        monkeypatch.setattr(b, "count_exact", slow_count)
        start = time.monotonic()
        s = Scrape(exp)
        assert time.monotonic() - start < 1 + 1  # within the store's timeout (+1 s)
        assert s("memwatch_up", store="notes", backend="postgresql") == 1
        assert s("memwatch_store_memories", store="notes") == ROWS  # the estimate
        assert s("memwatch_recounts_total", store="notes") == 0
        start = time.monotonic()
        s = Scrape(exp)  # not tried again on every scrape
        assert time.monotonic() - start < 0.5
        assert s("memwatch_store_memories", store="notes") == ROWS
        monkeypatch.undo()
        monkeypatch.setattr(pgbackend, "RECOUNT_RETRY_SECONDS", 0.0)
        b._recount_retry_at = 0.0  # the retry is due
        s = Scrape(exp)
        assert s("memwatch_store_memories", store="notes") == 0
        assert s("memwatch_recounts_total", store="notes") == 1
