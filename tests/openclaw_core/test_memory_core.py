"""The openclaw-memory-core preset on indexes OpenClaw itself built (conftest.py): values
read back from the SQLite files and the workspace, in both layouts; the Markdown truth set
against the index; the index never written."""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from memwatch.backends.openclaw_core import CURRENT, LEGACY, Layout
from tests.helpers import Scrape, assert_features, exporter_for, run_integrity
from tests.openclaw_core import openclaw
from tests.openclaw_core.conftest import DIMS, Built

S = {"store": "core"}
# what OpenClaw indexes from the conftest workspace (NOTES.md is not memory)
MEMORY_FILES = ("MEMORY.md", "USER.md", "memory/2026-11-27.md", "memory/2026-11-28.md",
                "memory/notes/alerting.md")


def q(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def files(built: Built) -> list[str]:
    return [f for f in MEMORY_FILES if not (built.legacy and f == "USER.md")]


def scrape(built: Built, extra: str = "") -> Scrape:
    with exporter_for(built.spec(extra=extra)) as exp:
        run_integrity(exp)
        return Scrape(exp)


def check_index(built: Built, lay: Layout) -> Scrape:
    s = scrape(built)
    chunks = q(built.db, f"SELECT count(*), max(updated_at) FROM {lay.chunks}")[0]
    assert s("memwatch_up", store="core", backend="sqlite") == 1
    assert s("memwatch_store_memories", **S) == chunks[0] > 0
    assert s("memwatch_memories", store="core", namespace="memory") == chunks[0]
    assert s("memwatch_newest_memory_timestamp_seconds", **S) == chunks[1] / 1000
    on_disk = files(built)
    assert s("memwatch_markdown_files", store="core", state="indexed") == len(on_disk)
    for state in ("changed", "unindexed", "missing"):
        assert s("memwatch_markdown_files", store="core", state=state) == 0
    stats = [(built.workspace / f).stat() for f in on_disk]
    assert s("memwatch_markdown_bytes", **S) == sum(st.st_size for st in stats)
    assert s("memwatch_markdown_newest_timestamp_seconds", **S) == pytest.approx(
        max(st.st_mtime_ns for st in stats) / 1e9, abs=1e-6)
    assert s("memwatch_markdown_unindexed_oldest_timestamp_seconds", **S) is None
    assert s("memwatch_curated_memory_bytes", **S) == \
        (built.workspace / "MEMORY.md").stat().st_size
    daily = [(built.workspace / f).stat().st_mtime_ns for f in on_disk
             if f.startswith("memory/2026")]
    assert s("memwatch_daily_memory_newest_timestamp_seconds", **S) == pytest.approx(
        max(daily) / 1e9, abs=1e-6)
    size = sum(p.stat().st_size for p in (built.db, built.db.with_name(built.db.name + "-wal"))
               if p.exists())
    assert s("memwatch_store_size_bytes", **S) == size
    return s


def test_current_layout_with_embeddings(current: Built) -> None:
    s = check_index(current, CURRENT)
    n = s("memwatch_store_memories", **S)
    assert s("memwatch_memory_index_info", store="core", layout="current",
             model="stub-embedding", provider="openai-compatible") == 1
    assert s("memwatch_vector_dimension", **S) == DIMS  # the meta's vectorDims
    assert s("memwatch_embeddings", store="core", model="stub-embedding") == n
    assert s("memwatch_embeddings_by_dimension", store="core", dimension=str(DIMS)) == n
    assert s("memwatch_memories_without_embedding", **S) == 0
    with exporter_for(current.spec()) as exp:
        assert_features(exp, "core")


def test_fts_only_index_misses_no_embedding(fts_only: Built) -> None:
    s = check_index(fts_only, CURRENT)
    assert s("memwatch_memory_index_info", store="core", layout="current", model="fts-only",
             provider="none") == 1
    assert s("memwatch_vector_dimension", **S) is None
    assert s("memwatch_memories_without_embedding", **S) == 0  # by design, not missing
    assert not [k for k in s.data if k[0] == "memwatch_embeddings"]


def test_legacy_layout(legacy: Built) -> None:
    s = check_index(legacy, LEGACY)
    n = s("memwatch_store_memories", **S)
    assert s("memwatch_memory_index_info", store="core", layout="legacy",
             model="stub-embedding", provider="openai-compatible") == 1
    assert s("memwatch_embeddings_by_dimension", store="core", dimension="4") == n
    assert s("memwatch_vector_dimension", **S) == 4


def test_workspace_against_the_index(current: Built, tmp_path: Path) -> None:
    """A file written but not indexed, one changed since, one deleted: each counted, the
    oldest waiting one's time exported."""
    b = current.copy(tmp_path)
    (b.workspace / "memory/2026-11-29.md").write_text("# 2026-11-29\n\n- New fact.\n")
    added = (b.workspace / "memory/2026-11-29.md").stat().st_mtime_ns / 1e9
    time.sleep(0.05)
    with (b.workspace / "MEMORY.md").open("a") as fh:
        fh.write("- One more preference.\n")
    (b.workspace / "memory/2026-11-27.md").unlink()
    s = scrape(b)
    assert s("memwatch_markdown_files", store="core", state="unindexed") == 1
    assert s("memwatch_markdown_files", store="core", state="changed") == 1
    assert s("memwatch_markdown_files", store="core", state="missing") == 1
    assert s("memwatch_markdown_files", store="core", state="indexed") == 3
    assert s("memwatch_markdown_unindexed_oldest_timestamp_seconds", **S) == pytest.approx(
        added, abs=1e-6)
    assert s("memwatch_daily_memory_newest_timestamp_seconds", **S) == pytest.approx(
        added, abs=1e-6)


def test_index_emptied_and_workspace_gone(current: Built, tmp_path: Path) -> None:
    b = current.copy(tmp_path)
    with sqlite3.connect(b.db) as conn:  # what openclaw #42714's reindex left behind
        conn.execute("DELETE FROM memory_index_chunks")
    s = scrape(b)
    assert s("memwatch_store_memories", **S) == 0
    assert (s("memwatch_markdown_bytes", **S) or 0) > 0
    for f in MEMORY_FILES:
        (b.workspace / f).unlink()
    s = scrape(b)
    assert s("memwatch_markdown_bytes", **S) == 0
    assert s("memwatch_markdown_files", store="core", state="missing") == len(MEMORY_FILES)


def test_not_an_index_is_a_schema_error(tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    sqlite3.connect(db).execute("CREATE TABLE t (x)")
    s = scrape(Built(tmp_path, tmp_path, db, False, None))
    assert s("memwatch_up", store="core", backend="sqlite") == 0
    assert s("memwatch_collection_errors_total", store="core", reason="schema") == 1


def test_never_writes_the_index(current: Built, tmp_path: Path) -> None:
    b = current.copy(tmp_path)

    def state() -> list[tuple[str, str, int]]:
        return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest(), os.stat(p).st_mtime_ns)
                for p in sorted(b.db.parent.iterdir()) if not p.name.endswith("-shm")]

    before = state()
    scrape(b)
    assert state() == before


def test_forced_reindex_never_reads_empty(fts_only: Built, tmp_path: Path) -> None:
    """`openclaw memory index --force` builds a sibling database and copies it in one
    transaction: scraped all along, the count never dips (and no alert could fire)."""
    home = tmp_path / "home"
    shutil.copytree(fts_only.home, home)
    workspace = fts_only.copy(tmp_path / "copy").workspace
    openclaw.write_config(home, workspace)
    db = openclaw.database_path(home)
    seen: list[float] = []
    done = threading.Event()
    with exporter_for(Built(home, workspace, db, False, None).spec()) as exp:
        before = Scrape(exp)("memwatch_store_memories", **S)

        def watch() -> None:
            while not done.is_set():
                seen.append(Scrape(exp)("memwatch_store_memories", **S) or -1.0)
                time.sleep(0.02)

        t = threading.Thread(target=watch)
        t.start()
        try:
            openclaw.run_openclaw(home, "memory", "index", "--agent", "main", "--force")
        finally:
            done.set()
            t.join()
        after = Scrape(exp)("memwatch_store_memories", **S)
    assert before and after == before
    assert len(seen) > 20 and min(seen) == before  # never 0, never a failed collection
