"""The stores the incidents happen to, built fresh (their newest memories minutes old, so
the steady state pages nothing) in the shapes of the real ones: mem0's pgvector table and
history.db, openclaw-mem's SQLite file and capture spool, mem0's MongoDB collection."""

from __future__ import annotations

import hashlib
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from memwatch.demo import openclaw_store as oc
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster
from tests.postgres.mem0data import PACIFIC, Mem0Data

DIM = 8  # the alerts never read the vectors; small ones keep the tables quick to build
# Times are set half a minute off the scrape, so an age never sits on a minute boundary.
FRESH = timedelta(seconds=30)


def now() -> datetime:
    return datetime.now(UTC)


def stores(*entries: str) -> str:
    """Spec text from store entries (each a YAML mapping's lines, unindented)."""
    body = "".join("  - " + "\n    ".join(e.strip().splitlines()) + "\n" for e in entries)
    return "stores:\n" + body


# -- mem0 on PostgreSQL -------------------------------------------------------------------

def mem0_payloads(users: Mapping[str, int], first: int = 0) -> Mem0Data:
    """Memories of `users` ({user: count}) as mem0 writes them, created within the last
    hour (the newest half a minute ago), each text (and md5 `hash`) distinct."""
    payloads: list[dict[str, Any]] = []
    t = now() - FRESH
    i = first
    for user, n in users.items():
        for _ in range(n):
            text = f"memory {i} of {user}"
            created = t - timedelta(seconds=i % 3000)
            payloads.append({"data": text, "hash": hashlib.md5(text.encode()).hexdigest(),
                             "user_id": user, "created_at": created.astimezone(PACIFIC)
                             .isoformat()})
            i += 1
    return Mem0Data(payloads)


def mem0_table(pg: PgCluster, users: Mapping[str, int], name: str | None = None) -> str:
    """mem0's table (its indexes too) holding `users`' memories; statistics settled."""
    table = name or f"inc_{uuid.uuid4().hex[:8]}"
    data = mem0_payloads(users)
    with pg.session() as conn:
        mem0data.create_table(conn, table, data, dim=DIM)
    settle(pg, table, data.total)
    return table


def mem0_insert(pg: PgCluster, table: str, users: Mapping[str, int], first: int) -> list[str]:
    data = mem0_payloads(users, first)
    with pg.session() as conn:
        mem0data.insert(conn, table, data, dim=DIM)
    return data.ids


def settle(pg: PgCluster, table: str, inserted: int) -> None:
    """The inserts' statistics in (a closed session flushes them just after it ends), then
    ANALYZE: the planner, the statistics and the table agree, as in a store at rest."""
    deadline = time.monotonic() + 15
    while int(pg.execute("SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_user_tables "
                         "WHERE relname = %s", (table,))[0][0]) < inserted:
        assert time.monotonic() < deadline, f"no statistics for {table}"
        time.sleep(0.05)
    pg.execute(f'ANALYZE "{table}"')


def ids_of(pg: PgCluster, table: str) -> list[str]:
    return [str(r[0]) for r in pg.execute(f'SELECT id FROM "{table}" ORDER BY id')]


def users(n: int, each: int, **special: int) -> dict[str, int]:
    """{user: memories}: the `special` ones first, then `n` users of `each`."""
    return {**special, **{f"user-{i:02d}": each for i in range(n)}}


# -- mem0's history.db --------------------------------------------------------------------

HISTORY = ("CREATE TABLE IF NOT EXISTS history (id TEXT PRIMARY KEY, memory_id TEXT, "
           "old_memory TEXT, new_memory TEXT, event TEXT, created_at DATETIME, "
           "updated_at DATETIME, is_deleted INTEGER, actor_id TEXT, role TEXT)")


def history_db(path: Path, added: Iterable[str] = ()) -> Path:
    """mem0's history.db (its SQLiteManager's table) with an ADD for each id."""
    with sqlite3.connect(path) as conn:
        conn.execute(HISTORY)
    record(path, "ADD", added)
    return path


def record(path: Path, event: str, memory_ids: Iterable[str]) -> None:
    """One history row per id, as mem0's add/delete write them."""
    ts = (now() - FRESH).astimezone(PACIFIC).isoformat()
    rows = [(str(uuid.uuid4()), mid, None if event == "ADD" else "text",
             "text" if event != "DELETE" else None, event, ts, ts if event != "ADD" else None,
             1 if event == "DELETE" else 0, None, None) for mid in memory_ids]
    with sqlite3.connect(path) as conn:
        conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


# -- openclaw-mem ---------------------------------------------------------------------------

TOOLS = ("web_search", "read_file", "exec", "browser", "memory_store")
MODEL = ("nomic-embed-text", 768)


def observations(n: int, first: int = 0, tools: tuple[str, ...] = TOOLS
                 ) -> Iterator[tuple[str, str, str]]:
    """(ts, tool_name, summary) of `n` distinct captured observations, the newest half a
    minute old."""
    t = now() - FRESH
    for i in range(first, first + n):
        ts = t - timedelta(seconds=n + first - 1 - i)
        tool = tools[i % len(tools)]
        text = oc.py_time(ts) if tool == "memory_store" else oc.js_time(ts)
        yield text, tool, f"observation {i} via {tool}"


def store_observations(conn: sqlite3.Connection, rows: Iterable[tuple[str, str, str]],
                       embedding: tuple[str, int] | None = MODEL) -> None:
    """Insert in one transaction, as a harvest does."""
    conn.execute("BEGIN")
    for ts, tool, summary in rows:
        oc.insert_observation(conn, ts, tool, summary, embedding=embedding)
    conn.execute("COMMIT")


def openclaw_db(path: Path, n: int) -> sqlite3.Connection:
    """openclaw-mem's database with `n` observations, each embedded, the WAL checkpointed
    (a store at rest)."""
    conn = oc.create(path)
    store_observations(conn, observations(n))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return conn


def write_spool(path: Path, n: int, first: int = 0, oldest: datetime | None = None) -> None:
    """A capture spool of `n` lines, the first captured at `oldest` (default: half a
    minute ago), one a second after it."""
    start = oldest or now() - FRESH
    lines = [oc.spool_line(start + timedelta(seconds=i), TOOLS[i % len(TOOLS)],
                           f"observation {first + i}", first + i) for i in range(n)]
    path.write_text("".join(line + "\n" for line in lines))


def openclaw_entry(name: str, db: Path, **keys: object) -> str:
    lines = [f"name: {name}", "preset: openclaw-mem", f"path: '{db}'",
             f"spool: '{db.parent / 'spool.jsonl'}'", "expected_dimension: 768",
             *(f"{k}: {v}" for k, v in keys.items())]
    return "\n".join(lines)
