"""The OpenClaw test tool builds real memory indexes: values read back from the SQLite files."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.openclaw_core import openclaw
from tests.openclaw_core.conftest import DIMS, WORKSPACE, Built
from tests.openclaw_core.openclaw import EmbeddingStub, OpenClawError

INDEXED = {"MEMORY.md", "USER.md", "memory/2026-11-27.md", "memory/2026-11-28.md",
           "memory/notes/alerting.md"}


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def meta(db: Path, table: str = "memory_index_meta") -> dict[str, Any]:
    [(value,)] = rows(db, f"SELECT value FROM {table} WHERE key = 'memory_index_meta_v1'")
    return dict(json.loads(value))


def test_fts_only_index(fts_only: Built) -> None:
    db, workspace = fts_only.db, fts_only.workspace
    assert db == fts_only.home / ".openclaw/agents/main/agent/openclaw-agent.sqlite"
    assert rows(db, "PRAGMA user_version") == [(23,)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    sources = rows(db, "SELECT path, source, hash, size FROM memory_index_sources")
    assert {path for path, *_ in sources} == INDEXED  # relative to the workspace
    for path, source, digest, size in sources:
        data = (workspace / path).read_bytes()
        assert (source, digest, size) == ("memory", hashlib.sha256(data).hexdigest(), len(data))
    chunks = rows(db, "SELECT path, model, length(embedding) FROM memory_index_chunks")
    assert len(chunks) >= len(INDEXED)
    assert {model for _, model, _ in chunks} == {"fts-only"}
    assert {length for *_, length in chunks} == {0}
    assert rows(db, "SELECT count(*) FROM memory_index_chunks_fts") == [(len(chunks),)]
    info = meta(db)
    assert (info["provider"], info["model"]) == ("none", "fts-only")
    assert "vectorDims" not in info
    lock_dir = Path(f"/tmp/openclaw-state-locks-{os.getuid()}")
    digest = hashlib.sha256(str(db.resolve()).encode()).hexdigest()[:8]
    assert not list(lock_dir.glob(f"*.{digest}.lock.sqlite"))  # removed after the run


def test_stub_embeddings_are_float64(current: Built) -> None:
    chunks = rows(current.db, "SELECT text, model, embedding FROM memory_index_chunks")
    assert chunks
    for text, model, blob in chunks:
        assert model == "stub-embedding"
        assert isinstance(blob, bytes) and len(blob) == 8 * DIMS
        assert struct.unpack(f"<{DIMS}d", blob) == tuple(EmbeddingStub.vector(text, DIMS))
    info = meta(current.db)
    assert (info["provider"], info["model"], info["vectorDims"]) == (
        "openai-compatible", "stub-embedding", DIMS)
    assert rows(current.db, "SELECT DISTINCT dims, length(embedding) FROM "
                            "memory_embedding_cache") == [(DIMS, 8 * DIMS)]


def test_legacy_layout(legacy: Built) -> None:
    db = legacy.db
    assert db == legacy.home / ".openclaw/memory/main.sqlite"
    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "files", "chunks", "chunks_fts", "embedding_cache"} <= tables
    assert not any(name.startswith("memory_index") for name in tables)
    assert {path for (path,) in rows(db, "SELECT path FROM files")} == INDEXED - {"USER.md"}
    for text, model, embedding in rows(db, "SELECT text, model, embedding FROM chunks"):
        assert model == "stub-embedding"
        assert json.loads(embedding) == EmbeddingStub.vector(text, 4)  # JSON text
    assert meta(db, "meta")["vectorDims"] == 4


def test_failures_raise_with_output_and_leave_no_process(tmp_path: Path) -> None:
    if reason := openclaw.missing():
        pytest.skip(reason)
    home = tmp_path / "home"
    openclaw.write_config(home, openclaw.write_workspace(tmp_path / "ws", WORKSPACE))
    with pytest.raises(OpenClawError, match=r'(?s)exited 1.*does not recognize option "--nope"'):
        openclaw.run_openclaw(home, "memory", "index", "--nope")
    with pytest.raises(OpenClawError, match=r"timed out after 0\.5 s"):
        openclaw.run_openclaw(home, "memory", "index", timeout=0.5)
    running = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _cwd(p) == home]
    assert running == []


def _cwd(proc: Path) -> Path | None:
    try:
        return Path(os.readlink(proc / "cwd"))
    except OSError:
        return None
