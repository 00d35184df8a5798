"""OpenClaw's builtin memory (`memory-core`): the truth is Markdown in the agent's workspace,
the index a SQLite database built from it. Both layouts, told apart by their tables:

- current (openclaw 2026.9): `memory_index_*` tables inside the agent database
  `~/.openclaw/agents/<agentId>/agent/openclaw-agent.sqlite`; embeddings little-endian
  float64 BLOBs (empty with model `fts-only`);
- legacy (`~/.openclaw/memory/<agentId>.sqlite`): `meta`, `files`, `chunks`; embeddings
  JSON text (`[]` without a provider).

The index's chunks are the store's memories (by `source`: memory, sessions); the workspace
is scanned and set against the index's sources (memwatch/backends/markdown.py). Read-only,
like every SQLite store; the sqlite-vec table is never touched.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memwatch import metrics
from memwatch.backends import markdown
from memwatch.backends.base import Observation, by_label, cap_namespaces
from memwatch.backends.sqlite import SqliteBackend
from memwatch.errors import CollectionError
from memwatch.spec import OpenclawMemoryCoreStore


@dataclass(frozen=True)
class Layout:
    name: str
    meta: str
    sources: str
    chunks: str
    float64_blobs: bool  # else JSON text
    user_md: bool  # indexes USER.md


CURRENT = Layout("current", "memory_index_meta", "memory_index_sources",
                 "memory_index_chunks", True, True)
LEGACY = Layout("legacy", "meta", "files", "chunks", False, False)


def layout_of(tables: set[str], path: str) -> Layout:
    for lay in (CURRENT, LEGACY):
        if {lay.meta, lay.sources, lay.chunks} <= tables:
            return lay
    raise CollectionError("schema", f"{path}: no OpenClaw memory index (neither "
                                    "memory_index_chunks nor the legacy chunks/files/meta)")


def _ms(value: float | None) -> float | None:
    return None if value is None else value / 1000.0


class OpenclawMemoryCoreBackend(SqliteBackend):
    def __init__(self, store: OpenclawMemoryCoreStore) -> None:
        super().__init__(store.path, store.timeout)
        self.store = store
        self.workspace = Path(store.workspace).expanduser()

    def query(self, conn: sqlite3.Connection) -> Observation:
        lay = layout_of(self.tables(conn), self.path)
        cap = self.store.max_namespaces
        rows = conn.execute(f"SELECT coalesce(source, ''), count(*), max(updated_at) FROM "
                            f"{lay.chunks} GROUP BY 1").fetchall()
        total = float(sum(n for _, n, _ in rows))
        newest = max((t for _, _, t in rows if t is not None), default=None)
        obs = Observation(memories=total,
                          namespaces=cap_namespaces([(s, float(n)) for s, n, _ in rows],
                                                    total, cap),
                          newest_timestamp=_ms(newest))
        obs.namespace_counts = by_label((s, n) for s, n, _ in rows)
        meta = self._meta(conn, lay)
        obs.add(metrics.MEMORY_INDEX_INFO.name, 1, layout=lay.name,
                model=str(meta.get("model") or ""), provider=str(meta.get("provider") or ""))
        if isinstance(dims := meta.get("vectorDims"), int):
            obs.add(metrics.VECTOR_DIMENSION.name, dims)
        if self.store.expected_dimension is not None:
            obs.add(metrics.VECTOR_DIMENSION_EXPECTED.name, self.store.expected_dimension)
        self._markdown(conn, lay, obs)
        return obs

    def _meta(self, conn: sqlite3.Connection, lay: Layout) -> dict[str, Any]:
        value = self.scalar(conn, f"SELECT value FROM {lay.meta} WHERE key = ?",
                            ("memory_index_meta_v1",))
        try:
            meta = json.loads(value) if value else {}
        except ValueError:
            return {}
        return meta if isinstance(meta, dict) else {}

    def _markdown(self, conn: sqlite3.Connection, lay: Layout, obs: Observation) -> None:
        """The workspace's memory files against the index's `memory` sources (a source
        outside the workspace, an `extraPaths` entry, is not compared)."""
        indexed = {
            str(path): markdown.DiskFile(float(mtime), int(size))
            for path, mtime, size in conn.execute(
                f"SELECT path, mtime, size FROM {lay.sources} WHERE source = 'memory'")
            if not str(path).startswith("/") and ".." not in Path(str(path)).parts}
        try:
            disk = markdown.scan(self.workspace, lay.user_md)
        except PermissionError as exc:
            raise CollectionError("permission", f"{self.workspace}: {exc.strerror}") from None
        c = markdown.compare(disk, indexed)
        for state, n in c.states.items():
            obs.add(metrics.MARKDOWN_FILES.name, n, state=state)
        obs.add(metrics.MARKDOWN_BYTES.name, c.bytes)
        for metric, ms in ((metrics.MARKDOWN_NEWEST, c.newest_ms),
                           (metrics.MARKDOWN_WAITING_OLDEST, c.waiting_oldest_ms),
                           (metrics.DAILY_MEMORY_NEWEST, c.daily_newest_ms)):
            if ms is not None:
                obs.add(metric.name, ms / 1000.0)
        if c.curated_bytes is not None:
            obs.add(metrics.CURATED_MEMORY_BYTES.name, c.curated_bytes)

    def integrity_query(self, conn: sqlite3.Connection) -> Observation:
        """Vectors per model and per dimension, and chunks without one while the index has
        vectors on (its meta names `vectorDims`; an FTS-only index has none by design)."""
        lay = layout_of(self.tables(conn), self.path)
        length = ("length(embedding) / 8" if lay.float64_blobs else
                  "CASE WHEN json_valid(embedding) THEN json_array_length(embedding) END")
        vectors_on = isinstance(self._meta(conn, lay).get("vectorDims"), int)
        obs, missing = Observation(), 0
        models: dict[str, float] = {}
        dims: dict[str, float] = {}
        for model, dim, n in conn.execute(
                f"SELECT coalesce(model, ''), {length}, count(*) FROM {lay.chunks} "
                "GROUP BY 1, 2"):
            if not dim:
                missing += n
                continue
            models[model or metrics.NO_NAMESPACE] = models.get(model or metrics.NO_NAMESPACE, 0) + n
            dims[str(dim)] = dims.get(str(dim), 0) + n
        for model, n in sorted(models.items()):
            obs.add(metrics.EMBEDDINGS.name, n, model=model)
        for dim, n in sorted(dims.items()):
            obs.add(metrics.EMBEDDINGS_BY_DIMENSION.name, n, dimension=dim)
        obs.add(metrics.WITHOUT_EMBEDDING.name, missing if vectors_on else 0)
        return obs
