"""SQLite backends against real files: openclaw-mem, mem0 history.db, the sql preset."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from memwatch.backends.base import Observation
from memwatch.backends.sqlite import SqliteBackend
from memwatch.demo import openclaw_store as oc
from memwatch.errors import CollectionError
from tests.helpers import (
    Scrape,
    assert_features,
    exporter_for,
    run_integrity,
    samples,
    spec_from,
    value,
)

T0 = datetime(2026, 11, 20, 7, 3, 41, tzinfo=UTC)
TOOLS = ["web_search"] * 9 + ["read_file"] * 5 + ["exec"] * 3 + ["memory_store"] * 2 + [None]


@pytest.fixture
def openclaw(tmp_path: Path) -> tuple[Path, sqlite3.Connection, dict[str, object]]:
    """A store with mixed ts formats, archived rows, two embedding models, episodes."""
    db = tmp_path / "openclaw-mem.sqlite"
    conn = oc.create(db)
    expect: dict[str, object] = {}
    newest = T0
    for i, tool in enumerate(TOOLS):
        ts = T0 + timedelta(minutes=i)
        newest = max(newest, ts)
        # captured rows carry JS time, `openclaw-mem store` rows Python's
        text = oc.py_time(ts) if tool == "memory_store" else oc.js_time(ts)
        model = ("text-embedding-3-small", 1536) if i < 12 else (
            ("nomic-embed-text", 768) if i < 15 else None)
        oc.insert_observation(conn, text, tool or "", f"obs {i}", embedding=model)
    # the newest row in Python's format with microseconds: must win over the JS ones
    latest = T0 + timedelta(hours=2, microseconds=250000)
    oc.insert_observation(conn, oc.py_time(latest), "web_search", "latest",
                          embedding=("nomic-embed-text", 768))
    for i in range(3):
        oc.insert_observation(conn, oc.js_time(T0), "exec", f"archived {i}", archived=True)
    for i, scope in enumerate(["session", "session", "user", "agent"]):
        oc.insert_episode(conn, f"ev{i}", 1_700_000_000_000 + i, scope)
    tools = Counter(t or "" for t in TOOLS) + Counter(["web_search"])
    expect.update(active=len(TOOLS) + 1, archived=3, newest=latest.timestamp(),
                  tools=tools, without_embedding=len(TOOLS) - 15)
    return db, conn, expect


def test_openclaw_archived_only_when_lifecycle_says_so(tmp_path: Path) -> None:
    """Only detail_json.lifecycle.state = 'soft-archived' archives a row: not the words in
    another field, not malformed JSON holding them, not a NULL detail; a tool whose every
    row is archived is no namespace at all."""
    db = tmp_path / "openclaw-mem.sqlite"
    conn = oc.create(db)
    details = {
        "archived": ('{"lifecycle": {"state": "soft-archived"}}', "kept"),
        "elsewhere": ('{"note": "soft-archived", "lifecycle": {"state": "active"}}', "kept"),
        "malformed": ('{"lifecycle": {"state": "soft-archived"', "kept"),
        "null": (None, "kept"),
        "all_gone": ('{"lifecycle": {"state": "soft-archived"}}', "gone"),
    }
    for name, (detail, tool) in details.items():
        conn.execute("INSERT INTO observations (ts, kind, summary, tool_name, detail_json) "
                     "VALUES (?, 'tool', ?, ?, ?)", (oc.js_time(T0), name, tool, detail))
    conn.commit()
    with exporter_for(spec(db)) as exp:
        assert value(exp, "memwatch_store_memories", store="oc") == 3
        assert value(exp, "memwatch_archived_memories", store="oc") == 2
        by_ns = {dict(k)["namespace"]: v
                 for k, v in samples(exp, "memwatch_memories").items()}
        assert by_ns == {"kept": 3}


def spec(db: Path, extra: str = "") -> str:
    return f"""
        stores:
          - name: oc
            preset: openclaw-mem
            path: '{db}'
            spool: '{db.parent}/spool.jsonl'
            expected_dimension: 1536
            timeout: 2s
        {extra}"""


def test_openclaw_exact_values(openclaw: tuple[Path, sqlite3.Connection, dict]) -> None:
    db, _, expect = openclaw
    with exporter_for(spec(db)) as exp:
        run_integrity(exp)  # models and the embedding coverage come from the integrity pass
        assert value(exp, "memwatch_up", store="oc", backend="sqlite") == 1
        assert value(exp, "memwatch_store_memories", store="oc") == expect["active"]
        assert value(exp, "memwatch_archived_memories", store="oc") == expect["archived"]
        newest = value(exp, "memwatch_newest_memory_timestamp_seconds", store="oc")
        assert newest == pytest.approx(expect["newest"], abs=1e-3)
        by_ns = {dict(k)["namespace"]: v
                 for k, v in samples(exp, "memwatch_memories").items()}
        want = {k or "__none__": float(v) for k, v in expect["tools"].items()}
        assert by_ns == want
        emb = {dict(k)["model"]: v for k, v in samples(exp, "memwatch_embeddings").items()}
        assert emb == {"text-embedding-3-small": 12, "nomic-embed-text": 4}
        dims = {dict(k)["dimension"]: v
                for k, v in samples(exp, "memwatch_embeddings_by_dimension").items()}
        assert dims == {"1536": 12, "768": 4}
        assert value(exp, "memwatch_duplicate_memories", store="oc") == 0
        assert value(exp, "memwatch_vector_dimension", store="oc") == 768  # the newest one
        assert value(exp, "memwatch_vector_dimension_expected", store="oc") == 1536
        assert value(exp, "memwatch_memories_without_embedding", store="oc") == \
            expect["without_embedding"]
        scopes = {dict(k)["scope"]: v
                  for k, v in samples(exp, "memwatch_episodic_events").items()}
        assert scopes == {"session": 2, "user": 1, "agent": 1}
        size = value(exp, "memwatch_store_size_bytes", store="oc")
        wal = db.with_name(db.name + "-wal")
        assert size == db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        assert value(exp, "memwatch_collection_errors_total", store="oc", reason="query") == 0
        assert_features(exp, "oc")


def test_namespace_cap_sums_the_rest(openclaw: tuple[Path, sqlite3.Connection, dict]) -> None:
    db, _, expect = openclaw
    with exporter_for(spec(db).replace("timeout: 2s", "max_namespaces: 2")) as exp:
        got = {dict(k)["namespace"]: v for k, v in samples(exp, "memwatch_memories").items()}
    tools: Counter[str] = expect["tools"]  # type: ignore[assignment]
    top = tools.most_common(2)
    assert got == {top[0][0]: top[0][1], top[1][0]: top[1][1],
                   "__other__": expect["active"] - top[0][1] - top[1][1]}


def test_drop_ratio_and_soft_archive(openclaw: tuple[Path, sqlite3.Connection, dict]) -> None:
    db, conn, expect = openclaw
    active = expect["active"]
    with exporter_for(spec(db)) as exp:
        assert value(exp, "memwatch_memories_drop_ratio", store="oc") == 0
        conn.execute("DELETE FROM observations WHERE id IN "
                     "(SELECT id FROM observations WHERE tool_name = 'web_search' LIMIT 5)")
        assert value(exp, "memwatch_memories_drop_ratio", store="oc") == pytest.approx(
            5 / active)
        assert value(exp, "memwatch_memories_drop_ratio", store="oc") == 0  # no new loss
        oc.insert_observation(conn, oc.js_time(T0), "exec", "new")
        assert value(exp, "memwatch_memories_drop_ratio", store="oc") == 0  # growth
        conn.execute("DELETE FROM observations")  # a capsule restore
        assert value(exp, "memwatch_memories_drop_ratio", store="oc") == 1.0
        assert value(exp, "memwatch_store_memories", store="oc") == 0


def test_spool_and_stuck_harvest_backlog(openclaw: tuple[Path, sqlite3.Connection, dict]
                                         ) -> None:
    db, _, _ = openclaw
    spool = db.parent / "spool.jsonl"
    first = T0 - timedelta(minutes=118)
    with spool.open("w") as fh:
        for i in range(7):
            fh.write(oc.spool_line(first + timedelta(seconds=i), "web_search", "s", i) + "\n")
    stuck = db.parent / "spool.jsonl.20261120_050000.processing"
    stuck.write_text("".join(oc.spool_line(T0, "exec", "p", i) + "\n" for i in range(3)))
    with exporter_for(spec(db)) as exp:
        assert value(exp, "memwatch_backlog", store="oc", stage="spool") == 7
        assert value(exp, "memwatch_backlog", store="oc", stage="processing") == 3
        assert value(exp, "memwatch_backlog_oldest_timestamp_seconds", store="oc",
                     stage="spool") == first.timestamp()
        assert value(exp, "memwatch_files", store="oc", check="processing") == 1
        assert value(exp, "memwatch_files_newest_timestamp_seconds", store="oc",
                     check="spool") == pytest.approx(spool.stat().st_mtime)
        # appended lines are counted incrementally, a rotated spool from scratch
        with spool.open("a") as fh:
            fh.write(oc.spool_line(T0, "exec", "x", 99) + "\n")
        assert value(exp, "memwatch_backlog", store="oc", stage="spool") == 8
        spool.rename(db.parent / "spool.jsonl.20261120_060000.processing")
        spool.write_text(oc.spool_line(T0, "exec", "y", 100) + "\n")
        assert value(exp, "memwatch_backlog", store="oc", stage="spool") == 1
        assert value(exp, "memwatch_backlog", store="oc", stage="processing") == 11
        for p in db.parent.glob("*.processing"):
            p.unlink()
        spool.unlink()
        assert value(exp, "memwatch_backlog", store="oc", stage="spool") == 0
        assert value(exp, "memwatch_files", store="oc", check="spool") == 0
        assert value(exp, "memwatch_backlog_oldest_timestamp_seconds", store="oc",
                     stage="spool") is None


def test_missing_file_is_up_zero_not_a_crash(tmp_path: Path) -> None:
    with exporter_for(spec(tmp_path / "nope.sqlite")) as exp:
        for n in (1, 2):
            got = Scrape(exp)
            assert got("memwatch_up", store="oc", backend="sqlite") == 0
            assert got("memwatch_collection_errors_total", store="oc", reason="missing") == n
            assert got("memwatch_collection_errors_total", store="oc", reason="timeout") == 0
            assert got("memwatch_store_memories", store="oc") is None  # nothing stale
            assert got("memwatch_collection_duration_seconds", store="oc") is not None


def test_not_a_database_and_missing_table(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not sqlite" * 100)
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).execute("CREATE TABLE other (x)").connection.close()
    with exporter_for(spec(junk)) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="oc", backend="sqlite") == 0
        assert got("memwatch_collection_errors_total", store="oc", reason="query") == 1
    with exporter_for(spec(empty)) as exp:
        got = Scrape(exp)
        assert got("memwatch_up", store="oc", backend="sqlite") == 0
        assert got("memwatch_collection_errors_total", store="oc", reason="schema") == 1


def test_exporter_never_writes(openclaw: tuple[Path, sqlite3.Connection, dict]) -> None:
    db, conn, _ = openclaw
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    files = [db, db.with_name(db.name + "-wal")]

    def digest() -> list[str]:
        return [hashlib.sha256(p.read_bytes()).hexdigest() if p.exists() else "" for p in files]

    before = digest()
    with exporter_for(spec(db)) as exp:
        for _ in range(3):
            assert value(exp, "memwatch_up", store="oc", backend="sqlite") == 1
        backend = exp.collector.runners[0].backend
        assert isinstance(backend, SqliteBackend)
        ro = backend._open()
        with pytest.raises(sqlite3.OperationalError, match=r"readonly|read-only|query_only"):
            ro.execute("DELETE FROM observations")
        ro.close()
    assert digest() == before


def test_writer_keeps_going_while_scraping(tmp_path: Path) -> None:
    """WAL: a writer inserting in a loop is never blocked by the exporter's reads."""
    db = tmp_path / "openclaw-mem.sqlite"
    oc.create(db).close()
    stop = threading.Event()
    written: list[int] = []
    errors: list[Exception] = []

    def writer() -> None:
        conn = sqlite3.connect(db, isolation_level=None, timeout=0.05)
        try:
            while not stop.is_set():
                conn.execute("BEGIN IMMEDIATE")
                for i in range(20):
                    oc.insert_observation(conn, oc.js_time(datetime.now(UTC)), "exec", str(i))
                conn.execute("COMMIT")
                written.append(20)
        except Exception as exc:  # a "database is locked" here would be the bug
            errors.append(exc)
        finally:
            conn.close()

    t = threading.Thread(target=writer)
    t.start()
    seen: list[float] = []
    try:
        with exporter_for(spec(db)) as exp:
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:
                assert value(exp, "memwatch_up", store="oc", backend="sqlite") == 1
                seen.append(value(exp, "memwatch_store_memories", store="oc") or 0)
    finally:
        stop.set()
        t.join()
    assert errors == []
    assert len(seen) >= 10 and len(written) >= 10
    assert seen == sorted(seen) and seen[-1] > seen[0]  # counts only grow; reads are snapshots
    assert sum(written) >= seen[-1]


class _Endless(SqliteBackend):
    """A real SQLite query that would run for minutes: proves the interrupt timer."""

    def query(self, conn: sqlite3.Connection) -> Observation:
        conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                     "SELECT max(x) FROM c").fetchone()
        return Observation()


def test_slow_query_is_interrupted_at_timeout(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    oc.create(db).close()
    backend = _Endless(str(db), timeout=0.3)
    start = time.monotonic()
    with pytest.raises(CollectionError) as info:
        backend.collect()
    assert info.value.reason == "timeout"
    assert time.monotonic() - start < 1.3


def test_mem0_history(tmp_path: Path) -> None:
    db = tmp_path / "history.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE history (id TEXT PRIMARY KEY, memory_id TEXT, old_memory TEXT, "
                 "new_memory TEXT, event TEXT, created_at DATETIME, updated_at DATETIME, "
                 "is_deleted INTEGER, actor_id TEXT, role TEXT)")
    rows = []
    for i in range(10):  # m0..m9 added; m0..m2 updated; m7..m9 deleted
        rows.append((f"a{i}", f"m{i}", None, "x", "ADD", f"2026-11-20T0{i}:00:00-08:00", None, 0))
    for i in range(3):
        rows.append((f"u{i}", f"m{i}", "x", "y", "UPDATE", "2026-11-20T09:00:00-08:00",
                     f"2026-11-21T1{i}:30:00.500000-08:00", 0))
    for i in range(7, 10):
        rows.append((f"d{i}", f"m{i}", "x", None, "DELETE", "2026-11-22T10:00:00-08:00",
                     None, 1))
    conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'u1', 'user')", rows)
    with exporter_for(f"""
            stores:
              - {{name: h, preset: mem0-history, path: '{db}'}}
            """) as exp:
        events = {dict(k)["event"]: v for k, v in samples(exp, "memwatch_history_events").items()}
        assert events == {"ADD": 10, "UPDATE": 3, "DELETE": 3}
        assert value(exp, "memwatch_store_memories", store="h") == 7
        newest = datetime.fromisoformat("2026-11-21T12:30:00.500000-08:00").timestamp()
        assert value(exp, "memwatch_newest_memory_timestamp_seconds", store="h") == \
            pytest.approx(newest, abs=1e-3)
        assert_features(exp, "h")


def test_sql_preset_on_sqlite(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, owner TEXT, payload TEXT, "
                 "created_at TEXT, created_ms INTEGER, deleted INTEGER)")
    data = [("ann", "o'brien", "2026-11-20T10:00:00Z", 0), ("ann", "o'brien",
            "2026-11-21T10:00:00+00:00", 0), ("bob", "x", "2026-11-22T10:00:00Z", 1),
            ("cy", "x", "2026-11-19T10:00:00Z", 0)]
    for owner, agent, ts, deleted in data:
        ms = int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1000)
        conn.execute("INSERT INTO notes (owner, payload, created_at, created_ms, deleted) "
                     "VALUES (?, json_object('agent', ?), ?, ?, ?)", (owner, agent, ts, ms,
                                                                     deleted))
    with exporter_for(f"""
            stores:
              - name: n
                preset: sql
                backend: sqlite
                path: '{db}'
                table: notes
                namespace: owner
                timestamp: created_at
                filter: [{{column: deleted, value: false}}]
              - name: n2
                preset: sql
                backend: sqlite
                path: '{db}'
                table: notes
                namespace: payload.agent
                timestamp: created_ms
                timestamp_format: unix_milliseconds
                filter: [{{column: payload.agent, op: '=', value: "o'brien"}}]
            """) as exp:
        assert value(exp, "memwatch_store_memories", store="n") == 3
        ns = {dict(k)["namespace"]: v for k, v in samples(exp, "memwatch_memories").items()
              if dict(k)["store"] == "n"}
        assert ns == {"ann": 2, "cy": 1}
        assert value(exp, "memwatch_newest_memory_timestamp_seconds", store="n") == \
            datetime(2026, 11, 21, 10, tzinfo=UTC).timestamp()
        assert value(exp, "memwatch_store_memories", store="n2") == 2
        assert value(exp, "memwatch_memories", store="n2", namespace="o'brien") == 2
        assert value(exp, "memwatch_newest_memory_timestamp_seconds", store="n2") == \
            datetime(2026, 11, 21, 10, tzinfo=UTC).timestamp()
        assert_features(exp, "n")


def test_an_unchanged_database_is_not_read_again(
        openclaw: tuple[Path, sqlite3.Connection, dict]) -> None:
    """A scrape of a database nobody wrote since gives the last answer without reading a
    row; a commit, an in-place update (an archival), a new set of watched namespaces or a
    file replaced under the same path make the next one read it again."""
    from memwatch.backends.registry import make_backend


    db, conn, expect = openclaw
    conn.commit()
    b = make_backend(spec_from(spec(db)).stores[0])
    assert isinstance(b, SqliteBackend) and b.reads_database_only
    try:
        first = b.collect()
        again = b.collect()
        assert b.unchanged.reads == 1 and again == first
        assert again is not first and again.extra is not first.extra  # a copy each time
        assert first.memories == expect["active"]
        oc.insert_observation(conn, oc.js_time(T0), "web_search", "one more")
        conn.commit()
        assert b.collect().memories == expect["active"] + 1 and b.unchanged.reads == 2
        conn.execute("UPDATE observations SET detail_json = "
                     "'{\"lifecycle\": {\"state\": \"soft-archived\"}}' WHERE summary = 'latest'")
        conn.commit()  # the same rows, one archived: only a read sees it
        assert b.collect().memories == expect["active"] and b.unchanged.reads == 3
        b.watch = frozenset({"web_search"})
        b.collect()
        assert b.unchanged.reads == 4  # asked about other namespaces: read again
        b.collect()
        assert b.unchanged.reads == 4
        other = db.with_name("other.sqlite")
        fresh = oc.create(other)
        oc.insert_observation(fresh, oc.js_time(T0), "exec", "alone")
        fresh.commit()
        fresh.close()
        conn.close()  # the writer gone, a new file in its place (a restore from backup)
        for suffix in ("-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        other.replace(db)
        assert b.collect().memories == 1 and b.unchanged.reads == 5
    finally:
        b.close()


def test_a_directory_without_search_permission_is_permission_not_missing(
        tmp_path: Path) -> None:
    """Issue 11, defect 7: a store behind a directory the exporter's user may not search
    was reported `missing`, and the runbook pointed at a deleted file. As root (which every
    directory lets through) the check runs in a child process that drops to `nobody`."""
    import multiprocessing
    import pwd

    from memwatch.backends.registry import make_backend

    private = tmp_path / "private"
    private.mkdir()
    oc.create(private / "openclaw-mem.sqlite").close()
    private.chmod(0o700 if os.geteuid() == 0 else 0o600)  # no `x` for whoever collects
    text = spec(private / "openclaw-mem.sqlite")

    def collect(out: Any) -> None:
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        try:
            make_backend(spec_from(text).stores[0]).collect()
            out.put("collected")
        except CollectionError as exc:
            out.put(exc.reason)

    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=collect, args=(out,))
    child.start()
    child.join(30)
    try:
        assert out.get(timeout=5) == "permission"
    finally:
        private.chmod(0o700)
