"""An openclaw-mem-shaped SQLite store, written the way the real plugin and harvest do.

Used by the demo and by the tests, so both exercise the schema the brief documents:
observations, observation_embeddings, episodic_events, WAL mode, mixed `ts` formats, the
JSONL capture spool and its `.processing` files.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

SCHEMA = """
PRAGMA journal_mode = WAL;
CREATE TABLE IF NOT EXISTS observations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts TEXT NOT NULL,
    kind TEXT,
    summary TEXT,
    summary_en TEXT,
    lang TEXT,
    tool_name TEXT,
    detail_json TEXT
);
CREATE INDEX IF NOT EXISTS idx_observations_tool_ts ON observations (tool_name, ts);
CREATE TABLE IF NOT EXISTS observation_embeddings (
    observation_id INTEGER PRIMARY KEY,
    model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    norm REAL NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS episodic_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT UNIQUE NOT NULL,
    ts_ms INTEGER NOT NULL,
    scope TEXT NOT NULL,
    session_id TEXT,
    agent_id TEXT,
    type TEXT,
    summary TEXT,
    payload_json TEXT
);
"""


def js_time(dt: datetime) -> str:
    """JavaScript's toISOString(): what captured rows carry ('...T07:03:41.000Z')."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def py_time(dt: datetime) -> str:
    """Python's isoformat(): what `openclaw-mem store` writes ('+00:00', microseconds)."""
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def create(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.executescript(SCHEMA)
    return conn


def insert_observation(conn: sqlite3.Connection, ts: str, tool_name: str, summary: str,
                       kind: str = "tool", archived: bool = False,
                       embedding: tuple[str, int] | None = None) -> int:
    detail = {"lifecycle": {"state": "soft-archived"}} if archived else {"source": "capture"}
    cur = conn.execute(
        "INSERT INTO observations (ts, kind, summary, summary_en, lang, tool_name, detail_json)"
        " VALUES (?, ?, ?, ?, 'en', ?, ?)",
        (ts, kind, summary, summary, tool_name, json.dumps(detail)))
    oid = int(cur.lastrowid or 0)
    if embedding is not None:
        model, dim = embedding
        conn.execute(
            "INSERT INTO observation_embeddings VALUES (?, ?, ?, ?, 1.0, ?)",
            (oid, model, dim, bytes(4 * dim), ts))
    return oid


def insert_episode(conn: sqlite3.Connection, event_id: str, ts_ms: int, scope: str,
                   agent_id: str = "main") -> None:
    conn.execute(
        "INSERT INTO episodic_events (event_id, ts_ms, scope, session_id, agent_id, type, "
        "summary) VALUES (?, ?, ?, 's1', ?, 'note', 'episode')",
        (event_id, ts_ms, scope, agent_id))


def spool_line(ts: datetime, tool_name: str, summary: str, n: int) -> str:
    """One capture line as the plugin writes it (compact JSON)."""
    return json.dumps({
        "ts": js_time(ts), "kind": "tool", "tool_name": tool_name,
        "tool_call_id": f"call_{n}", "session_key": "agent:main:main", "agent_id": "main",
        "is_synthetic": False, "summary": summary, "detail": {"n": n},
    }, separators=(",", ":"))
