"""mem0 on PostgreSQL + pgvector: the incidents users report, replayed on real tables
(PostgreSQL 16, pgvector) and a real history.db, scraped by an in-process exporter, the
scrapes fed through the rendered rules with promtool. Each test holds an incident store and
a control store of the same kind: the control gets a harmless change of the same size."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from memwatch.backends import mem0_pgvector
from tests.helpers import exporter_for, run_integrity
from tests.incidents.replay import Rules, Snapshot
from tests.incidents.stores import (
    history_db,
    ids_of,
    mem0_insert,
    mem0_table,
    record,
    stores,
    users,
)
from tests.incidents.verdict import caught, documented, for_minutes, harmless, replay_both
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster

MEMORIES = "memwatch_store_memories"
STATS_FLUSH = 11  # s: PostgreSQL's statistics reach pg_stat within ~10 s of a commit


def mem0(pg: PgCluster, name: str, table: str, **keys: object) -> str:
    extra = "".join(f"\n{k}: {v}" for k, v in keys.items())
    return f"name: {name}\npreset: mem0-pgvector\ndsn: '{pg.dsn()}'\ntable: {table}{extra}"


def history(name: str, path: Path) -> str:
    return f"name: {name}\npreset: mem0-history\npath: '{path}'"


def retention_delete(table: str, share: float) -> str:
    """A retention job: the oldest `share` of every user's memories."""
    return (f'DELETE FROM "{table}" WHERE id IN (SELECT id FROM (SELECT id, row_number() '
            f"OVER (PARTITION BY payload->>'user_id' ORDER BY payload->>'created_at') AS r, "
            f"count(*) OVER (PARTITION BY payload->>'user_id') AS n FROM \"{table}\") x "
            f"WHERE r <= round(n * {share}))")


def test_1_delete_all_wipes_an_estimate_store(pg: PgCluster, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """mem0 #3746, #3928: delete_all() without filters called reset()'s DELETE of every
    row. `count: estimate`: the planner's estimate never sees it; the statistics do."""
    # 5,000 rows stand for a big table: estimate mode would count these exactly
    monkeypatch.setattr(mem0_pgvector, "ESTIMATE_EXACT_ROWS", 0)
    wiped, ctl = mem0_table(pg, users(50, 100)), mem0_table(pg, users(50, 100))
    spec = stores(mem0(pg, "wiped", wiped, count="estimate"),
                  mem0(pg, "control", ctl, count="estimate"))
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        with pg.session() as app:  # mem0's connection stays open: the slowest flush
            app.execute("SELECT 1")
            app.execute(f'DELETE FROM "{wiped}"')
            app.execute(retention_delete(ctl, 0.01))
            time.sleep(STATS_FLUSH)
        run_integrity(exp)
        after = Snapshot.take(exp)
    assert (before.get(MEMORIES, store="wiped"), after.get(MEMORIES, store="wiped")) == (5000, 0)
    # the planner still says 5,000: the statistics triggered one exact count
    assert after.get("memwatch_recounts_total", store="wiped") == 1
    # 1% is under recount_bound (2%): estimate mode does not even count again
    assert after.get(MEMORIES, store="control") == 5000
    assert after.get("memwatch_recounts_total", store="control") == 0
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after],
                      ["wiped", "control"])
    caught(out, "wiped", "MemoryCountZero", for_minutes("MemoryCountZero"))
    harmless(out, "control")
    documented("1", out, "wiped")


def test_2_reset_drops_and_recreates_the_table(pg: PgCluster, tmp_path: Path) -> None:
    """mem0's reset(): DROP TABLE, then the table created again, empty (its OID changes).
    Control: VACUUM FULL rewrites the table into a new file (a new relfilenode) and keeps
    its OID and every row: a table rewrite is not a recreation."""
    reset, ctl = mem0_table(pg, users(20, 100)), mem0_table(pg, users(20, 100))
    spec = stores(mem0(pg, "reset", reset), mem0(pg, "control", ctl))
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        node = pg.execute("SELECT relfilenode FROM pg_class WHERE relname = %s", (ctl,))
        with pg.session() as app:
            mem0data.create_table(app, reset, None, dim=8)  # DROP TABLE + mem0's create_col
            app.execute(f'VACUUM FULL "{ctl}"')
        assert pg.execute("SELECT relfilenode FROM pg_class WHERE relname = %s",
                          (ctl,)) != node  # the control's table was rewritten
        run_integrity(exp)
        after = Snapshot.take(exp)
    assert after.get("memwatch_table_recreations_total", store="reset") == 1
    assert after.get("memwatch_table_recreations_total", store="control") == 0
    assert after.get(MEMORIES, store="control") == 2000
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after],
                      ["reset", "control"])
    caught(out, "reset", "MemoryTableRecreated", 0)
    caught(out, "reset", "MemoryCountZero", for_minutes("MemoryCountZero"))
    harmless(out, "control")
    documented("2", out, "reset")


def test_3_one_users_memories_wiped(pg: PgCluster, tmp_path: Path) -> None:
    """mem0's delete_all(user_id=...) for one user holding 9% of a 5,000-row store.
    Control: 9% deleted evenly across users (the oldest of each, as a retention job)."""
    layout = users(35, 130, alice=450)
    lost, ctl = mem0_table(pg, layout), mem0_table(pg, layout)
    spec = stores(mem0(pg, "lost", lost), mem0(pg, "control", ctl))
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        with pg.session() as app:
            app.execute(f"DELETE FROM \"{lost}\" WHERE payload->>'user_id' = 'alice'")
            app.execute(retention_delete(ctl, 0.09))
        run_integrity(exp)
        after = Snapshot.take(exp)
    assert after.get(MEMORIES, store="lost") == 4550
    assert after.get("memwatch_memories", store="lost", namespace="alice") == 0  # held at 0
    gone = 5000 - (after.get(MEMORIES, store="control") or 0)
    assert 430 <= gone <= 470, gone  # the same ~9%
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after],
                      ["lost", "control"])
    caught(out, "lost", "MemoryNamespaceLost", for_minutes("MemoryNamespaceLost"),
           namespace="alice")
    fired = out.incident.alerts("lost")
    assert {dict(a[1]).get("namespace") for a in fired} == {"alice"}, fired
    harmless(out, "control")
    documented("3", out, "lost")


def with_history(pg: PgCluster, tmp_path: Path, *names: str) -> tuple[str, dict[str, Path],
                                                                      dict[str, str]]:
    """For each name a mem0 table of 1,000 memories (10 users) and its history.db holding
    their ADDs: the spec (`<name>` watches history store `<name>-history`), the history
    files and the tables."""
    entries, paths, tables = [], {}, {}
    for name in names:
        tables[name] = mem0_table(pg, users(10, 100))
        paths[name] = history_db(tmp_path / f"{name}-history.db", ids_of(pg, tables[name]))
        entries += [history(f"{name}-history", paths[name]),
                    mem0(pg, name, tables[name], history_store=f"{name}-history")]
    return stores(*entries), paths, tables


def test_4_writes_acknowledged_but_not_stored(pg: PgCluster, tmp_path: Path) -> None:
    """mem0 #4985, #3675, PR #6413: after an embedding provider switch, the vector insert
    fails on the dimension while history.db records 200 ADDs; the table does not grow.
    Control: 200 ADDs recorded and 200 rows stored."""
    spec, hist, tables = with_history(pg, tmp_path, "dropped", "control")
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        record(hist["dropped"], "ADD", [str(uuid.uuid4()) for _ in range(200)])
        ids = mem0_insert(pg, tables["control"], users(10, 20), first=10_000)
        record(hist["control"], "ADD", ids)
        run_integrity(exp)
        after = Snapshot.take(exp)
    assert after.get("memwatch_history_events", store="dropped-history", event="ADD") == 1200
    assert after.get(MEMORIES, store="dropped") == 1000
    assert after.get(MEMORIES, store="control") == 1200
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after],
                      ["dropped", "control", "dropped-history", "control-history"])
    caught(out, "dropped", "MemoryWritesNotStored", for_minutes("MemoryWritesNotStored"))
    harmless(out, "control")
    harmless(out, "control-history")
    documented("4", out, "dropped", "dropped-history")


def test_5_rows_deleted_behind_mem0s_back(pg: PgCluster, tmp_path: Path) -> None:
    """A DELETE run by hand (or a script, or a partial restore): 20% of the rows gone, no
    DELETE in history.db. Control: the same 20% deleted through mem0 (its history records
    a DELETE per memory)."""
    spec, hist, tables = with_history(pg, tmp_path, "lost", "control")
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        with pg.session() as app:
            app.execute(retention_delete(tables["lost"], 0.2))
            gone = app.execute(retention_delete(tables["control"], 0.2) + " RETURNING id")
            record(hist["control"], "DELETE", [str(r[0]) for r in gone.fetchall()])
        run_integrity(exp)
        after = Snapshot.take(exp)
    assert after.get(MEMORIES, store="lost") == after.get(MEMORIES, store="control") == 800
    assert after.get("memwatch_history_events", store="control-history", event="DELETE") == 200
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after],
                      ["lost", "control", "lost-history", "control-history"])
    caught(out, "lost", "MemoryLossUnexplained", for_minutes("MemoryLossUnexplained"))
    harmless(out, "control")
    harmless(out, "control-history")
    documented("5", out, "lost", "lost-history")


def test_6_history_lost_on_a_redeploy(pg: PgCluster, tmp_path: Path) -> None:
    """mem0 #3717: a redeploy without the volume: history.db starts over, empty (mem0
    creates its table again); the vector table is untouched. Control: a redeploy that
    keeps it (the same file, restored from the volume as a new inode)."""
    spec, hist, _ = with_history(pg, tmp_path, "lost", "control")
    with exporter_for(spec) as exp:
        run_integrity(exp)
        before, still = Snapshot.take(exp), Snapshot.take(exp)
        hist["lost"].unlink()
        history_db(hist["lost"])
        kept = hist["control"].read_bytes()
        hist["control"].unlink()
        hist["control"].write_bytes(kept)
        run_integrity(exp)
        after = Snapshot.take(exp)
    assert after.get(MEMORIES, store="lost-history") == 0
    assert after.get(MEMORIES, store="control-history") == 1000
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after],
                      ["lost", "control", "lost-history", "control-history"])
    caught(out, "lost-history", "MemoryCountZero", for_minutes("MemoryCountZero"))
    harmless(out, "control")
    harmless(out, "control-history")
    documented("6", out, "lost", "lost-history")


def test_7_database_down(pg: PgCluster, tmp_path: Path) -> None:
    """PostgreSQL stopped: every scrape fails (`connect`). The incident's exporter scrapes
    three times while it is down; the control's once, then again after a restart that
    came back within MemoryDatabaseDown's `for`."""
    table = mem0_table(pg, users(10, 100))
    down, ctl = mem0(pg, "down", table), mem0(pg, "control", table)
    with exporter_for(stores(down)) as a, exporter_for(stores(ctl)) as b:
        before = Snapshot.merge(Snapshot.take(a), Snapshot.take(b))
        still = Snapshot.merge(Snapshot.take(a), Snapshot.take(b))
        with pg.down():
            d1, c1 = Snapshot.take(a), Snapshot.take(b)
            d2, d3 = Snapshot.take(a), Snapshot.take(a)
        c2 = Snapshot.take(b)
    assert [s.get("memwatch_up", store="down", backend="postgresql") for s in (d1, d2, d3)] \
        == [0, 0, 0]
    assert d3.get("memwatch_collection_errors_total", store="down", reason="connect") == 3
    assert c2.get("memwatch_up", store="control", backend="postgresql") == 1
    after = [Snapshot.merge(d1, c1), Snapshot.merge(d2, c2), Snapshot.merge(d3, c2)]
    out = replay_both(Rules.render(stores(down, ctl), tmp_path), before, still, after,
                      ["down", "control"])
    caught(out, "down", "MemoryDatabaseDown", for_minutes("MemoryDatabaseDown"))
    harmless(out, "control")
    documented("7", out, "down")
