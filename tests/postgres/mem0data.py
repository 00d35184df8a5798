"""mem0-shaped data for the pgvector tests, and the values memwatch must report for it.

The table is what mem0's pgvector store creates: `id uuid primary key, vector vector(N),
payload jsonb`, with `<t>_pkey`, `<t>_hnsw_idx` (hnsw, vector_cosine_ops) and
`<t>_text_lemmatized_idx` (gin; approximated here with a gin index on the payload's text,
since the table has no other column). `user_id`, `agent_id`, `run_id` sit in the payload
only when given; `created_at`/`updated_at` are ISO strings the way mem0 writes them
(`datetime.now(pytz.timezone("US/Pacific")).isoformat()`).

Expected values are computed here, in Python, from the payloads inserted, never typed in.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg import sql

DIM = 1536
OTHER = "__other__"
NONE = "__none__"
PACIFIC = timezone(timedelta(hours=-8))
# the exporter's own guard for ISO strings (a row failing it is ignored, not an error)
_GUARD = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")

# The newest memory is an *updated_at* in US/Pacific time; the traps around it:
NEWEST_ISO = "2026-11-21T01:30:00.654321-08:00"  # 09:30:00.654321 UTC
LEXICAL_TRAP = "2026-11-21T09:20:00+00:00"  # sorts after NEWEST_ISO as text, is earlier
NAIVE_TRAP = "2026-11-21T09:00:00"  # UTC (memwatch sets TimeZone=UTC): 09:00Z < newest;
#                                     read in the server's own zone (LA) it would be 17:00Z
MALFORMED = [
    "not a date",
    "",
    "yesterday",
    "2026-02-30T10:00:00-08:00",  # passes a prefix check, no such day
    "2026-11-20T25:61:00Z",  # no such time
    "2026-11-20T09:15:02.123456-08:00 (approx)",  # trailing text
]


def parse_iso(text: Any) -> datetime | None:
    """A payload timestamp as memwatch must read it: ISO-8601, naive = UTC; else None."""
    if not isinstance(text, str) or not _GUARD.match(text):
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@dataclass
class Mem0Data:
    payloads: list[dict[str, Any]]
    ids: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.ids:  # fresh ones: two data sets can share a table
            self.ids = [str(uuid.uuid4()) for _ in self.payloads]

    @property
    def total(self) -> int:
        return len(self.payloads)

    def counts(self, key: str) -> Counter[str | None]:
        return Counter(p.get(key) for p in self.payloads)

    def namespaces(self, key: str, cap: int = 100) -> dict[str, float]:
        """Top `cap` by count, ties by name (C collation, a missing key last), then
        `__other__` holding the remainder: the contract of memwatch_memories."""
        ranked = sorted(self.counts(key).items(),
                        key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
        top = {(ns if ns is not None else NONE): float(n) for ns, n in ranked[:cap]}
        if len(ranked) > cap:
            top[OTHER] = float(self.total - sum(top.values()))
        return top

    def newest(self) -> float | None:
        times = [t for p in self.payloads for k in ("created_at", "updated_at")
                 if (t := parse_iso(p.get(k))) is not None]
        return max(times).timestamp() if times else None


def generate(n: int = 5000, users: int = 150, agents: int = 12, seed: int = 20261120
             ) -> Mem0Data:
    """`n` memories over `users` users with uneven (Zipf-like) counts, ~4% agent-only
    memories (no user_id), mixed offsets, null/missing updated_at, malformed strings."""
    rng = random.Random(seed)
    user_ids = [f"user-{i:03d}" for i in range(users)]
    weights = [1 / (i + 1) ** 0.8 for i in range(users)]
    agent_ids = [f"agent-{i:02d}" for i in range(agents)]
    base = datetime(2026, 10, 1, tzinfo=PACIFIC)
    offsets = [PACIFIC] * 6 + [UTC, timezone(timedelta(hours=5, minutes=30))]
    payloads: list[dict[str, Any]] = []
    for i in range(n):
        p: dict[str, Any] = {"data": f"memory {i}: prefers {rng.choice(['tea', 'coffee'])}"}
        p["hash"] = hashlib.md5(p["data"].encode()).hexdigest()
        if i % 25 == 0:  # agent-only memory
            p["agent_id"] = rng.choice(agent_ids)
        else:
            p["user_id"] = rng.choices(user_ids, weights)[0]
            if rng.random() < 0.8:
                p["agent_id"] = rng.choices(agent_ids, [a + 1 for a in range(agents)])[0]
        if rng.random() < 0.3:
            p["run_id"] = f"run-{rng.randrange(40):02d}"
        created = base + timedelta(seconds=rng.randrange(50 * 86400),
                                   microseconds=rng.randrange(1_000_000))
        p["created_at"] = created.astimezone(rng.choice(offsets)).isoformat()
        r = rng.random()
        if r < 0.4:
            updated = created + timedelta(seconds=rng.randrange(86400))
            p["updated_at"] = updated.astimezone(PACIFIC).isoformat()
        elif r < 0.5:
            p["updated_at"] = None  # JSON null
        if i % 997 == 3:  # a few in Zulu form, which mem0 does not write but users do
            p["created_at"] = created.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        payloads.append(p)
    data = Mem0Data(payloads)
    if n < 200:
        return data
    # the special rows: malformed strings, the traps, then the newest
    for j, bad in enumerate(MALFORMED):
        payloads[7 + 31 * j]["created_at"] = bad
    payloads[11]["updated_at"] = "2026-13-01T00:00:00Z"  # malformed, valid created_at
    payloads[12]["created_at"] = LEXICAL_TRAP
    payloads[13]["created_at"] = NAIVE_TRAP
    payloads[14]["created_at"] = "2026-11-02T08:00:00.000001-08:00"
    payloads[14]["updated_at"] = NEWEST_ISO
    assert data.newest() == datetime.fromisoformat(NEWEST_ISO).timestamp()
    return data


def create_table(conn: psycopg.Connection[Any], table: str, data: Mem0Data | None = None,
                 schema: str = "public", dim: int = DIM) -> None:
    """mem0's table and its indexes, filled with `data` (inserted in payload order)."""
    t = sql.Identifier(schema, table)
    conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(t))
    conn.execute(sql.SQL("CREATE TABLE {} (id uuid PRIMARY KEY, vector vector({}), "
                         "payload jsonb)").format(t, sql.Literal(dim)))
    if data is not None and data.payloads:
        insert(conn, table, data, schema, dim)
    conn.execute(sql.SQL("CREATE INDEX {} ON {} USING hnsw (vector vector_cosine_ops)").format(
        sql.Identifier(f"{table}_hnsw_idx"), t))
    conn.execute(sql.SQL(
        "CREATE INDEX {} ON {} USING gin "
        "(to_tsvector('simple', coalesce(payload->>'text_lemmatized', payload->>'data', '')))"
    ).format(sql.Identifier(f"{table}_text_lemmatized_idx"), t))


def insert(conn: psycopg.Connection[Any], table: str, data: Mem0Data,
           schema: str = "public", dim: int = DIM) -> None:
    conn.execute(sql.SQL(
        "INSERT INTO {} (id, vector, payload) "
        "SELECT t.id, array_fill(0.1::real, ARRAY[{}])::vector, t.p::jsonb "
        "FROM unnest(%s::uuid[], %s::text[]) WITH ORDINALITY AS t(id, p, o) ORDER BY t.o"
    ).format(sql.Identifier(schema, table), sql.Literal(dim)),
        (data.ids, [json.dumps(p) for p in data.payloads]))
