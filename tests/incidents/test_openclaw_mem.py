"""openclaw-mem (SQLite in WAL mode, fed by a JSONL capture spool): the incidents users
report, replayed on real files. Each test builds an incident store and a control store of
1,000 embedded observations; the control gets a harmless change of the same size."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.helpers import exporter_for, run_integrity
from tests.incidents.replay import Rules, Snapshot
from tests.incidents.stores import (
    now,
    observations,
    openclaw_db,
    openclaw_entry,
    store_observations,
    stores,
    write_spool,
)
from tests.incidents.verdict import (
    Outcome,
    caught,
    documented,
    for_minutes,
    harmless,
    replay_both,
)

MEMORIES = "memwatch_store_memories"
ROWS = 1000


@dataclass
class Store:
    name: str
    db: Path
    conn: sqlite3.Connection

    @property
    def spool(self) -> Path:
        return self.db.parent / "spool.jsonl"


@dataclass
class Pair:
    """An incident store and a control store, built alike, and their exporter's scrapes."""

    spec: str
    incident: Store
    control: Store
    before: Snapshot | None = None
    still: Snapshot | None = None
    after: Snapshot | None = None

    def replay(self, tmp_path: Path, frozen: Sequence[str] = (),
               minutes: int = 30) -> Outcome:
        assert self.before and self.still and self.after
        names = [self.incident.name, self.control.name]
        return replay_both(Rules.render(self.spec, tmp_path), self.before, self.still,
                           [self.after], names, frozen, minutes)


def pair(tmp_path: Path, name: str, spool_lines: int = 0) -> Pair:
    built = []
    for n in (name, "control"):
        (tmp_path / n).mkdir()
        db = tmp_path / n / "openclaw-mem.sqlite"
        built.append(Store(n, db, openclaw_db(db, ROWS)))
        if spool_lines:
            write_spool(built[-1].spool, spool_lines, first=ROWS)
    return Pair(stores(*(openclaw_entry(s.name, s.db) for s in built)), built[0], built[1])


@contextlib.contextmanager
def scraped(p: Pair) -> Iterator[Pair]:
    """Scrapes the pair before (twice: the second with nothing changed) and after the
    block, each after an integrity pass."""
    with exporter_for(p.spec) as exp:
        run_integrity(exp)
        p.before, p.still = Snapshot.take(exp), Snapshot.take(exp)
        yield p
        run_integrity(exp)
        p.after = Snapshot.take(exp)


def test_8_spool_harvested_twice_stores_duplicates(tmp_path: Path) -> None:
    """A recovered `.processing` file ingested again: 300 observations stored a second
    time (the same tool_name, summary and detail_json), 23% of the store.
    Control: 300 new, distinct observations."""
    with scraped(pair(tmp_path, "twice")) as p:
        store_observations(p.incident.conn, list(observations(300)))  # the same again
        store_observations(p.control.conn, observations(300, first=ROWS))
    assert p.after and p.after.get("memwatch_duplicate_memories", store="twice") == 300
    assert p.after.get("memwatch_duplicate_memories", store="control") == 0
    out = p.replay(tmp_path)
    caught(out, "twice", "MemoryDuplicates", for_minutes("MemoryDuplicates"))
    harmless(out, "control")
    documented("8", out, "twice")


def test_9_memories_stored_without_embeddings(tmp_path: Path) -> None:
    """The embedding provider fails: 250 new observations stored without an
    observation_embeddings row (20% of the store). Control: 250 with their embedding."""
    with scraped(pair(tmp_path, "unembedded")) as p:
        store_observations(p.incident.conn, observations(250, first=ROWS), embedding=None)
        store_observations(p.control.conn, observations(250, first=ROWS))
    assert p.after and p.after.get("memwatch_memories_without_embedding",
                                   store="unembedded") == 250
    out = p.replay(tmp_path)
    caught(out, "unembedded", "MemoriesWithoutEmbedding",
           for_minutes("MemoriesWithoutEmbedding"))
    harmless(out, "control")
    documented("9", out, "unembedded")


def test_10_harvest_drains_more_than_it_stores(tmp_path: Path) -> None:
    """A harvest takes the spool's 200 lines (and deletes the spool) but stores only 100
    observations: the rest rejected or lost. Control: a harvest that stores all 200."""
    with scraped(pair(tmp_path, "dropped", spool_lines=200)) as p:
        for s, kept in ((p.incident, 100), (p.control, 200)):
            s.spool.unlink()
            store_observations(s.conn, observations(kept, first=ROWS))
    assert p.before and p.before.get("memwatch_backlog", store="dropped", stage="spool") == 200
    assert p.after and p.after.get("memwatch_backlog", store="dropped", stage="spool") == 0
    assert p.after.get(MEMORIES, store="dropped") == ROWS + 100
    out = p.replay(tmp_path)
    caught(out, "dropped", "MemoryHarvestDropped", for_minutes("MemoryHarvestDropped"))
    harmless(out, "control")
    documented("10", out, "dropped")


def test_11_capsule_restore_deletes_every_observation(tmp_path: Path) -> None:
    """A capsule restore runs `DELETE FROM observations` (and stops there). Control: 1% of
    the observations deleted, spread over the store."""
    with scraped(pair(tmp_path, "restored")) as p:
        p.incident.conn.execute("DELETE FROM observations")
        p.control.conn.execute("DELETE FROM observations WHERE id % 100 = 0")
    assert p.after and p.after.get(MEMORIES, store="restored") == 0
    assert p.after.get(MEMORIES, store="control") == ROWS - 10
    out = p.replay(tmp_path)
    caught(out, "restored", "MemoryCountZero", for_minutes("MemoryCountZero"))
    harmless(out, "control")
    documented("11", out, "restored")


def test_12_harvest_stalls(tmp_path: Path) -> None:
    """The harvest renamed the spool to `<spool>.<YYYYmmdd_HHMMSS>.processing` and died;
    new captures go to a new spool and nothing is ingested any more (the deployment that
    noticed 118 minutes of lag by hand). Replayed for 70 minutes on a clock where nothing
    moves. Control: a harvest that completes, and the store keeps flowing."""
    with scraped(pair(tmp_path, "stalled", spool_lines=20)) as p:
        s = p.incident
        s.spool.rename(s.spool.with_name(f"spool.jsonl.{now():%Y%m%d_%H%M%S}.processing"))
        write_spool(s.spool, 5, first=ROWS + 20)
        p.control.spool.unlink()
        store_observations(p.control.conn, observations(20, first=ROWS))
    assert p.after and p.after.get("memwatch_backlog", store="stalled", stage="processing") == 20
    out = p.replay(tmp_path, frozen=["stalled"], minutes=70)
    backlog = for_minutes("MemoryBacklogStuck") + 15  # its limit: captured 15m ago
    caught(out, "stalled", "MemoryBacklogStuck", backlog, stage="processing")
    caught(out, "stalled", "MemoryIngestionStalled", 60 + for_minutes("MemoryIngestionStalled"))
    harmless(out, "control")
    documented("12", out, "stalled")


def test_13_embedding_provider_switched(tmp_path: Path) -> None:
    """openclaw #83333 on openclaw-mem: the provider switched from nomic-embed-text (768)
    to text-embedding-3-small (1536); 100 new observations embedded by the new model next
    to 1,000 of the old. Control: 100 more of the old model."""
    with scraped(pair(tmp_path, "switched")) as p:
        store_observations(p.incident.conn, observations(100, first=ROWS),
                           embedding=("text-embedding-3-small", 1536))
        store_observations(p.control.conn, observations(100, first=ROWS))
    assert p.after and p.after.get("memwatch_vector_dimension", store="switched") == 1536
    out = p.replay(tmp_path)
    caught(out, "switched", "EmbeddingModelMixed", for_minutes("EmbeddingModelMixed"))
    caught(out, "switched", "EmbeddingDimensionMixed", for_minutes("EmbeddingDimensionMixed"))
    harmless(out, "control")
    documented("13", out, "switched")
