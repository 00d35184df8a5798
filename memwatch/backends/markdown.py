"""OpenClaw's memory truth: the Markdown files of an agent's workspace, set against what
its memory index says it indexed.

OpenClaw indexes `MEMORY.md` (curated), `USER.md` (from 2026.9; the legacy index never
did) and every `memory/**/*.md` (the daily `memory/YYYY-MM-DD.md` files among them), read
from openclaw's own sources and checked on indexes it built. Paths in the index are
relative to the workspace with `/`; `mtime` is milliseconds, as Node's `stat().mtimeMs`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DAILY = re.compile(r"^memory/(?:.*/)?\d{4}-\d{2}-\d{2}\.md$")
CURATED = "MEMORY.md"
# A file whose mtime in the index is within this of the disk's and whose size is the
# same is indexed as it is (Node and Python round a nanosecond mtime to a double apart).
MTIME_SLACK_MS = 1.0
STATES = ("indexed", "changed", "unindexed", "missing")


@dataclass(frozen=True)
class DiskFile:
    mtime_ms: float
    size: int


@dataclass
class Comparison:
    """The workspace's memory files against the index's sources."""

    states: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATES, 0))
    bytes: int = 0
    newest_ms: float | None = None
    waiting_oldest_ms: float | None = None  # the oldest file unindexed or changed since
    curated_bytes: int | None = None
    daily_newest_ms: float | None = None


def scan(workspace: Path, user_md: bool) -> dict[str, DiskFile]:
    """The memory Markdown files OpenClaw would index, by path relative to `workspace`."""
    names = [CURATED, *(["USER.md"] if user_md else [])]
    found: dict[str, DiskFile] = {}
    for name in names:
        _add(found, workspace, name)
    memory = workspace / "memory"
    for root, dirs, files in os.walk(memory):
        dirs.sort()
        for f in sorted(files):
            if f.endswith(".md"):
                _add(found, workspace, Path(root, f).relative_to(workspace).as_posix())
    return found


def _add(found: dict[str, DiskFile], workspace: Path, rel: str) -> None:
    try:
        st = (workspace / rel).stat()
    except (FileNotFoundError, NotADirectoryError):
        return
    if (workspace / rel).is_file():
        found[rel] = DiskFile(st.st_mtime_ns / 1e6, st.st_size)


def compare(disk: dict[str, DiskFile], indexed: dict[str, DiskFile]) -> Comparison:
    c = Comparison()
    for rel, f in disk.items():
        known = indexed.get(rel)
        if known is None:
            state = "unindexed"
        elif known.size == f.size and abs(known.mtime_ms - f.mtime_ms) < MTIME_SLACK_MS:
            state = "indexed"
        else:
            state = "changed"
        c.states[state] += 1
        c.bytes += f.size
        c.newest_ms = max(c.newest_ms or f.mtime_ms, f.mtime_ms)
        if state != "indexed":
            c.waiting_oldest_ms = min(c.waiting_oldest_ms or f.mtime_ms, f.mtime_ms)
        if rel == CURATED:
            c.curated_bytes = f.size
        if DAILY.match(rel):
            c.daily_newest_ms = max(c.daily_newest_ms or f.mtime_ms, f.mtime_ms)
    c.states["missing"] = sum(1 for rel in indexed if rel not in disk)
    return c
