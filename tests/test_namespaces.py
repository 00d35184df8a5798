"""A namespace that lost its memories stays visible (at its real count, 0 when gone) long
enough to alert on; one that merely ranked out of the top `max_namespaces` leaves."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from memwatch.demo import openclaw_store as oc
from memwatch.namespaces import NamespaceTracker
from tests.helpers import Scrape, exporter_for

OTHER = "__other__"


def test_ranked_out_leaves_lost_stays() -> None:
    t = NamespaceTracker(cap=2, hold=100)
    assert t.apply({"a": 10, "b": 8, OTHER: 5}, {}, now=0) == {"a": 10, "b": 8, OTHER: 5}
    assert t.watch() == {"a", "b"}
    # c outgrew b: b (still 8) ranked out into __other__
    assert t.apply({"a": 10, "c": 9, OTHER: 8}, {"a": 10, "b": 8}, now=1) == \
        {"a": 10, "c": 9, OTHER: 8}
    # a deleted (delete_all(user_id=a)): held at 0; b ranks back in
    got = t.apply({"c": 9, "b": 8}, {"c": 9}, now=2)
    assert got == {"c": 9, "b": 8, "a": 0}
    assert t.watch() == {"a", "b", "c"}
    assert t.apply({"c": 9, "b": 8}, {"c": 9, "b": 8}, now=50) == {"c": 9, "b": 8, "a": 0}
    assert t.apply({"c": 9, "b": 8}, {"c": 9, "b": 8}, now=102) == {"c": 9, "b": 8}  # expired
    assert t.watch() == {"b", "c"}


def test_shrunk_below_the_cap_is_held_at_its_count() -> None:
    t = NamespaceTracker(cap=2, hold=100)
    t.apply({"a": 100, "b": 50, OTHER: 40}, {}, now=0)
    # a lost 90 of its 100 and fell out of the top two; __other__ holds its 10 now
    got = t.apply({"b": 50, "x": 20, OTHER: 30}, {"a": 10, "b": 50}, now=1)
    assert got == {"b": 50, "x": 20, "a": 10, OTHER: 20}
    assert sum(got.values()) == 100  # the store's total, each memory counted once


def test_nothing_held_when_the_backend_cannot_count() -> None:
    t = NamespaceTracker(cap=2, hold=100)
    t.apply({"a": 10, "b": 8}, {}, now=0)
    assert t.apply({"b": 8}, None, now=1) == {"b": 8}  # estimate mode: a sample


def test_held_namespaces_are_capped() -> None:
    t = NamespaceTracker(cap=2, hold=100)
    t.apply({"a": 1, "b": 1, OTHER: 3}, {}, now=0)
    t.apply({"c": 1, "d": 1, OTHER: 1}, {"a": 0, "b": 0}, now=1)
    got = t.apply({"e": 1, "f": 1}, {}, now=2)
    assert len([k for k, v in got.items() if v == 0]) <= 2  # held ones: at most `cap`


def test_a_deleted_tool_is_exported_at_zero(tmp_path: Path) -> None:
    db = tmp_path / "openclaw-mem.sqlite"
    conn: sqlite3.Connection = oc.create(db)
    ts = oc.js_time(datetime(2026, 11, 20, tzinfo=UTC))
    for tool, n in (("web_search", 30), ("read_file", 20), ("exec", 10), ("grep", 5)):
        for i in range(n):
            oc.insert_observation(conn, ts, tool, f"{tool} {i}")
    text = f"""
        stores:
          - {{name: oc, preset: openclaw-mem, path: '{db}', spool: null, max_namespaces: 2}}
        """
    with exporter_for(text) as exp:
        s = Scrape(exp)
        assert s("memwatch_memories", store="oc", namespace="read_file") == 20
        assert s("memwatch_memories", store="oc", namespace=OTHER) == 15
        # read_file's memories wiped: it is shown at 0, not silently folded away
        conn.execute("DELETE FROM observations WHERE tool_name = 'read_file'")
        s = Scrape(exp)
        assert s("memwatch_memories", store="oc", namespace="read_file") == 0
        assert s("memwatch_memories", store="oc", namespace="exec") == 10
        assert s("memwatch_memories", store="oc", namespace=OTHER) == 5
        # exec outgrown by grep: it ranks out and leaves, a rank change is no loss
        for i in range(20):
            oc.insert_observation(conn, ts, "grep", f"more {i}")
        s = Scrape(exp)
        assert s("memwatch_memories", store="oc", namespace="exec") is None
        assert s("memwatch_memories", store="oc", namespace="grep") == 25
        assert s("memwatch_memories", store="oc", namespace=OTHER) == 10
        assert s("memwatch_memories", store="oc", namespace="read_file") == 0


def test_sql_preset_holds_a_deleted_owner(tmp_path: Path) -> None:
    """The `sql` preset on SQLite: an integer namespace column and a JSON field."""
    db = tmp_path / "notes.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, owner INTEGER, meta TEXT)")
    for owner, n in ((1, 9), (2, 6), (3, 4), (None, 2)):
        for _ in range(n):
            conn.execute("INSERT INTO notes (owner, meta) VALUES (?, json_object('a', ?))",
                         (owner, None if owner is None else f"agent{owner}"))
    text = f"""
        stores:
          - {{name: n, preset: sql, backend: sqlite, path: '{db}', table: notes,
              namespace: owner, max_namespaces: 2}}
          - {{name: j, preset: sql, backend: sqlite, path: '{db}', table: notes,
              namespace: meta.a, max_namespaces: 2}}
        """
    with exporter_for(text) as exp:
        s = Scrape(exp)
        assert s("memwatch_memories", store="n", namespace="2") == 6
        assert s("memwatch_memories", store="j", namespace="agent2") == 6
        conn.execute("DELETE FROM notes WHERE owner = 2")
        s = Scrape(exp)
    for store, gone in (("n", "2"), ("j", "agent2")):
        assert s("memwatch_memories", store=store, namespace=gone) == 0
        assert s("memwatch_store_memories", store=store) == 15
        ns = {dict(k)["namespace"]: v for (name, k), v in s.data.items()
              if name == "memwatch_memories" and dict(k)["store"] == store}
        assert sum(ns.values()) == 15


def test_null_and_empty_are_one_label() -> None:
    from memwatch.backends.base import cap_namespaces
    got = cap_namespaces([(None, 3), ("", 2), ("a", 4)], 9, cap=5)
    assert got == {"a": 4, "__none__": 5}
