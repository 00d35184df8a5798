"""The integrity pass on real SQLite files: duplicates, memories without an embedding,
models and dimensions; run on its own cadence, never waited for by a scrape, bounded by the
store's timeout, its last result served in between."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memwatch.backends.base import Observation
from memwatch.backends.sqlite import OpenclawMemBackend
from memwatch.demo import openclaw_store as oc
from tests.helpers import Scrape, exporter_for, get, run_integrity, serving

T0 = datetime(2026, 11, 20, 7, 3, 41, tzinfo=UTC)


def store(tmp_path: Path, rows: int = 20) -> tuple[Path, sqlite3.Connection]:
    db = tmp_path / "openclaw-mem.sqlite"
    conn = oc.create(db)
    for i in range(rows):
        emb = ("text-embedding-3-small", 1536) if i % 4 else None  # every 4th has none
        oc.insert_observation(conn, oc.js_time(T0 + timedelta(minutes=i)), "web_search",
                              f"obs {i}", embedding=emb)
    return db, conn


def spec(db: Path, extra: str = "", timeout: str = "2s") -> str:
    return f"""
        stores:
          - name: oc
            preset: openclaw-mem
            path: '{db}'
            spool: null
            timeout: {timeout}
            {extra}
        """


def harvest_twice(conn: sqlite3.Connection, lines: int) -> None:
    """A spool re-ingested: the same captured lines stored a second time."""
    for i in range(lines):
        oc.insert_observation(conn, oc.js_time(T0), "exec", f"captured {i}")
    for i in range(lines):
        oc.insert_observation(conn, oc.js_time(T0), "exec", f"captured {i}")


def test_values_from_the_pass(tmp_path: Path) -> None:
    db, conn = store(tmp_path)
    harvest_twice(conn, 6)
    with exporter_for(spec(db)) as exp:
        run_integrity(exp)
        s = Scrape(exp)
    assert s("memwatch_store_memories", store="oc") == 32
    assert s("memwatch_duplicate_memories", store="oc") == 6
    # 5 of the 20 (i % 4 == 0) and the 12 harvested rows have no embedding
    assert s("memwatch_memories_without_embedding", store="oc") == 5 + 12
    assert s("memwatch_embeddings", store="oc", model="text-embedding-3-small") == 15
    assert s("memwatch_embeddings_by_dimension", store="oc", dimension="1536") == 15
    assert s("memwatch_integrity_errors_total", store="oc", reason="timeout") == 0
    at = s("memwatch_integrity_last_success_timestamp_seconds", store="oc")
    assert at is not None and abs(at - time.time()) < 60
    took = s("memwatch_integrity_duration_seconds", store="oc")
    assert took is not None and 0 < took < 2


def test_served_between_passes_and_said_so(tmp_path: Path) -> None:
    db, conn = store(tmp_path)
    with exporter_for(spec(db, "integrity_interval: 1h")) as exp:
        run_integrity(exp)
        assert Scrape(exp)("memwatch_duplicate_memories", store="oc") == 0
        harvest_twice(conn, 4)
        for _ in range(3):  # the count moves at once, the integrity values at the next pass
            s = Scrape(exp)
            assert s("memwatch_store_memories", store="oc") == 28
            assert s("memwatch_duplicate_memories", store="oc") == 0
        run_integrity(exp)
        assert Scrape(exp)("memwatch_duplicate_memories", store="oc") == 4
        with serving(exp) as url:
            _, _, text = get(f"{url}/metrics")
    help_line = next(line for line in text.splitlines()
                     if line.startswith("# HELP memwatch_duplicate_memories "))
    assert "integrity_interval" in help_line and "served in between" in help_line


def test_a_scrape_starts_the_pass_when_due_and_never_waits(tmp_path: Path) -> None:
    db, conn = store(tmp_path)
    with exporter_for(spec(db, "integrity_interval: 1s")) as exp:
        runner = exp.collector.runners[0]
        assert runner.integrity is not None
        Scrape(exp)  # starts the first pass in the background
        deadline = time.monotonic() + 10
        while runner.integrity.last_success_at is None and time.monotonic() < deadline:
            time.sleep(0.05)
        first = runner.integrity.last_success_at
        assert first is not None
        harvest_twice(conn, 2)
        time.sleep(1.1)
        Scrape(exp)  # due again: starts the second
        while runner.integrity.last_success_at == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert Scrape(exp)("memwatch_duplicate_memories", store="oc") == 2


class _SlowIntegrity(OpenclawMemBackend):
    """A real SQLite query that would run for minutes, in the integrity pass only."""

    def integrity_query(self, conn: sqlite3.Connection) -> Observation:
        conn.execute("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
                     "SELECT max(x) FROM c").fetchone()
        return Observation()


def test_a_hung_pass_is_bounded_and_scrapes_go_on(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    db, _ = store(tmp_path)
    monkeypatch.setattr("memwatch.backends.sqlite.OpenclawMemBackend.integrity_query",
                        _SlowIntegrity.integrity_query)
    with exporter_for(spec(db, timeout="500ms")) as exp:
        runner = exp.collector.runners[0]
        assert runner.integrity is not None
        start = time.monotonic()
        s = Scrape(exp)  # starts the pass; answers without it
        assert time.monotonic() - start < 0.5 + 1
        assert s("memwatch_up", store="oc", backend="sqlite") == 1
        assert s("memwatch_store_memories", store="oc") == 20
        start = time.monotonic()
        runner.integrity.run_now()  # the store's timeout interrupts it
        assert time.monotonic() - start < 0.5 + 1
        s = Scrape(exp)
    assert s("memwatch_integrity_errors_total", store="oc", reason="timeout") >= 1
    assert s("memwatch_duplicate_memories", store="oc") is None  # never succeeded
    assert s("memwatch_up", store="oc", backend="sqlite") == 1


def test_off_with_interval_zero(tmp_path: Path) -> None:
    db, _ = store(tmp_path)
    with exporter_for(spec(db, "integrity_interval: 0")) as exp:
        assert exp.collector.runners[0].integrity is None
        s = Scrape(exp)
    assert s("memwatch_store_memories", store="oc") == 20
    assert not [k for k in s.data if k[0].startswith("memwatch_integrity_")]
    assert s("memwatch_duplicate_memories", store="oc") is None


def test_not_served_while_the_store_is_down(tmp_path: Path) -> None:
    db, _ = store(tmp_path)
    with exporter_for(spec(db)) as exp:
        run_integrity(exp)
        assert Scrape(exp)("memwatch_duplicate_memories", store="oc") == 0
        db.rename(db.with_suffix(".moved"))
        s = Scrape(exp)
        assert s("memwatch_up", store="oc", backend="sqlite") == 0
        assert s("memwatch_duplicate_memories", store="oc") is None  # no stale values
        assert s("memwatch_integrity_last_success_timestamp_seconds", store="oc") is not None


def test_integrity_timeout_is_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A big store gives the pass longer than its scrapes (`integrity_timeout`): the pass
    is bounded by that, not by the store's timeout."""
    db, _ = store(tmp_path)
    monkeypatch.setattr("memwatch.backends.sqlite.OpenclawMemBackend.integrity_query",
                        _SlowIntegrity.integrity_query)
    with exporter_for(spec(db, "integrity_timeout: 1500ms", timeout="300ms")) as exp:
        runner = exp.collector.runners[0].integrity
        assert runner is not None and runner.timeout == 1.5
        start = time.monotonic()
        runner.run_now()
        took = time.monotonic() - start
        s = Scrape(exp)
    assert 1.5 <= took < 1.5 + 2  # not cut at the scrape's 300 ms
    assert s("memwatch_integrity_errors_total", store="oc", reason="timeout") == 1
