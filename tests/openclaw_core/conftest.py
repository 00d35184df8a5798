"""The memory indexes OpenClaw's own code builds once per session (npm openclaw 2026.9.6
for the current layout, 2026.6.8 for the legacy one; tests/openclaw_core/openclaw.py), each
in a HOME of its own: the fixtures `current`, `fts_only` and `legacy` (in tests/conftest.py,
shared with tests/incidents). A test that changes an index or its workspace works on a copy
(`Built.copy`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

DIMS = 8
# What OpenClaw indexes (MEMORY.md, USER.md from 2026.9, memory/**/*.md) and what it does not.
WORKSPACE = {
    "MEMORY.md": "# Memory\n\n- The user runs PostgreSQL 16 with pgvector.\n\n"
                 "## Preferences\n\n- Tea, not coffee.\n- Reports on Mondays.\n",
    "USER.md": "# User\n\n- Ana, SRE, Lisbon.\n",
    "memory/2026-11-27.md": "# 2026-11-27\n\n- Agreed: a 50% drop in 5 minutes is a warning.\n",
    "memory/2026-11-28.md": "# 2026-11-28\n\n- The reindex emptied the chunks table once.\n",
    "memory/notes/alerting.md": "# Alerting\n\n- Page on MemoryCountZero only.\n",
    "NOTES.md": "# Not memory: OpenClaw indexes MEMORY.md, USER.md and memory/**.md only\n",
}


@dataclass(frozen=True)
class Built:
    home: Path
    workspace: Path
    db: Path
    legacy: bool
    dims: int | None  # None: FTS-only

    def copy(self, dest: Path) -> Built:
        """The index and its workspace copied under `dest` (the index file and its WAL)."""
        workspace = dest / "ws"
        shutil.copytree(self.workspace, workspace)
        db = dest / "db" / self.db.name
        db.parent.mkdir(parents=True)
        for suffix in ("", "-wal", "-shm"):
            src = self.db.with_name(self.db.name + suffix)
            if src.exists():
                shutil.copy2(src, db.with_name(db.name + suffix))
        return Built(self.home, workspace, db, self.legacy, self.dims)

    def spec(self, name: str = "core", extra: str = "") -> str:
        return (f"stores:\n  - name: {name}\n    preset: openclaw-memory-core\n"
                f"    path: '{self.db}'\n    workspace: '{self.workspace}'\n"
                f"    timeout: 5s\n{extra}")


