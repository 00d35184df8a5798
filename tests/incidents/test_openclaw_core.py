"""OpenClaw's builtin memory (openclaw-memory-core) on an index OpenClaw itself built
(npm openclaw 2026.9.6, tests/openclaw_core): the index emptied while its Markdown truth
stays, replayed like the other incidents."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from tests.incidents.replay import Rules
from tests.incidents.verdict import (
    caught,
    documented,
    for_minutes,
    harmless,
    replay_both,
    scrape_around,
)
from tests.openclaw_core.conftest import Built


def test_18_reindex_empties_the_index(current: Built, tmp_path: Path) -> None:
    """openclaw #42714, #92187: a reindex left `memory_index_chunks` empty; MEMORY.md and
    memory/*.md are all there. No control store: the harmless counterpart, a forced
    reindex (`openclaw memory index --force`, a copy in one transaction), costs ten seconds
    of OpenClaw and is proved never to read empty by tests/openclaw_core (scraped all
    along); the no-change replay fires nothing."""
    b = current.copy(tmp_path / "emptied")
    spec = b.spec("emptied")

    def empty() -> None:
        with contextlib.closing(sqlite3.connect(b.db)) as conn, conn:
            conn.execute("DELETE FROM memory_index_chunks")

    before, still, after = scrape_around(spec, empty)
    assert (before.get("memwatch_store_memories", store="emptied") or 0) > 0
    assert after.get("memwatch_store_memories", store="emptied") == 0
    assert (after.get("memwatch_markdown_bytes", store="emptied") or 0) > 0
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after], ["emptied"])
    caught(out, "emptied", "MemoryIndexEmpty", for_minutes("MemoryIndexEmpty"))
    documented("18", out, "emptied")


def _pair(current: Built, tmp_path: Path, names: tuple[str, str]) -> tuple[Built, Built, str]:
    """Two copies of the index and its workspace, the incident's and the control's, and the
    spec of both."""
    a, b = (current.copy(tmp_path / n) for n in names)
    spec = "stores:\n" + "".join(x.spec(n).split("stores:\n", 1)[1] for x, n in
                                 ((a, names[0]), (b, names[1])))
    return a, b, spec


def test_19_markdown_lost(current: Built, tmp_path: Path) -> None:
    """A daily memory file deleted from the workspace (a cleanup script, a sync that lost
    it): the index still answers for it, the truth is gone. Control: the agent appends a
    memory to MEMORY.md (the Markdown grows, the watcher reindexes it within seconds)."""
    lost, grown, spec = _pair(current, tmp_path, ("lost", "grown"))

    def change() -> None:
        (lost.workspace / "memory/2026-11-27.md").unlink()
        with (grown.workspace / "MEMORY.md").open("a") as fh:
            fh.write("- Ana prefers the on-call handover at 09:00.\n")

    before, still, after = scrape_around(spec, change)
    assert after.get("memwatch_markdown_files", store="lost", state="missing") == 1
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after], ["lost", "grown"])
    caught(out, "lost", "MemoryMarkdownLost", for_minutes("MemoryMarkdownLost"))
    harmless(out, "grown")
    documented("19", out, "lost")


def test_20_files_never_indexed(current: Built, tmp_path: Path) -> None:
    """The gateway (and its debounced watcher) is down: a new daily memory file is written
    and never indexed; replayed on a clock where nothing moves. Control: the same file
    while the watcher keeps up (its wait stays seconds long)."""
    stuck, kept, spec = _pair(current, tmp_path, ("stuck", "kept"))
    text = "# 2026-11-29\n\n- The flush wrote this after the gateway stopped.\n"

    def change() -> None:
        for b in (stuck, kept):
            (b.workspace / "memory/2026-11-29.md").write_text(text)

    before, still, after = scrape_around(spec, change)
    assert after.get("memwatch_markdown_files", store="stuck", state="unindexed") == 1
    out = replay_both(Rules.render(spec, tmp_path), before, still, [after], ["stuck", "kept"],
                      frozen=["stuck"], minutes=45)
    bound = 30 + for_minutes("MemoryFilesUnindexed")  # waiting 30m, then `for`
    caught(out, "stuck", "MemoryFilesUnindexed", bound)
    harmless(out, "kept")
    documented("20", out, "stuck")
