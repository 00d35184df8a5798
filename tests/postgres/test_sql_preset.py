"""The custom `sql` preset on PostgreSQL: JSON-path namespaces, a timestamptz column and an
ISO text JSON field as the record time, filters whose values are bound, never spliced."""

from __future__ import annotations

import json
import random
import textwrap
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from psycopg.types.json import Jsonb

from memwatch.errors import REASONS
from tests.helpers import Scrape, exporter_for
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster
from tests.postgres.mem0data import Mem0Data

INJECTION = "x' OR '1'='1"
AUTHORS = ["o'brien", "smith", 'say "hi"', "back\\slash", INJECTION + "-not"]


@dataclass
class Note:
    author: str
    created: datetime
    meta: dict[str, Any]
    deleted: bool


@pytest.fixture(scope="module")
def notes(pg: PgCluster) -> Iterator[list[Note]]:
    rng = random.Random(7)
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    rows = []
    for i in range(600):
        created = t0 + timedelta(seconds=rng.randrange(20 * 86400), microseconds=i)
        zone = timezone(timedelta(hours=rng.choice([-8, 0, 9])))
        meta: dict[str, Any] = {
            "user": {"id": f"u-{rng.randrange(25):02d}"},
            "ts": (created - timedelta(hours=1)).astimezone(zone).isoformat(),
            "flag": rng.random() < 0.5,
            "score": rng.randrange(1, 200),
        }
        if i % 50 == 0:
            del meta["user"]  # no namespace
        if i % 97 == 5:
            meta["ts"] = "2026-02-30T00:00:00Z"  # malformed: ignored, not an error
        rows.append(Note(rng.choice(AUTHORS), created, meta, rng.random() < 0.1))
    pg.execute("DROP TABLE IF EXISTS agent_notes")
    pg.execute("CREATE TABLE agent_notes (id bigserial PRIMARY KEY, author text, "
               "created timestamptz, meta jsonb, deleted boolean)")
    with pg.session() as conn, conn.cursor() as cur:
        cur.executemany("INSERT INTO agent_notes (author, created, meta, deleted) "
                        "VALUES (%s, %s, %s, %s)",
                        [(n.author, n.created, Jsonb(n.meta), n.deleted) for n in rows])
    yield rows
    pg.execute("DROP TABLE agent_notes")


def spec(pg: PgCluster, body: str, name: str = "notes") -> str:
    lines = "\n".join(f"    {line}" for line in textwrap.dedent(body).strip().splitlines())
    return (f"stores:\n  - name: {name}\n    preset: sql\n    backend: postgresql\n"
            f"    dsn: '{pg.dsn()}'\n    timeout: 5s\n{lines}\n")


def top(counts: Counter[str | None], cap: int = 100) -> dict[str, float]:
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0] is None, kv[0] or ""))
    out = {(k if k is not None else "__none__"): float(v) for k, v in ranked[:cap]}
    if len(ranked) > cap:
        out["__other__"] = float(sum(counts.values()) - sum(out.values()))
    return out


def scrape(text: str, store: str = "notes") -> tuple[Scrape, dict[str, float]]:
    with exporter_for(text) as exp:
        s = Scrape(exp)
    ns = {dict(labels)["namespace"]: v for (name, labels), v in s.data.items()
          if name == "memwatch_memories"}
    assert s("memwatch_up", store=store, backend="postgresql") == 1, s.data
    assert all(s("memwatch_collection_errors_total", store=store, reason=r) == 0
               for r in REASONS)
    return s, ns


def check(s: Scrape, ns: dict[str, float], rows: list[Any], key: Callable[[Any], str | None],
          newest: float | None, store: str = "notes", cap: int = 100) -> None:
    assert s("memwatch_store_memories", store=store) == len(rows)
    assert ns == top(Counter(key(r) for r in rows), cap)
    assert s("memwatch_newest_memory_timestamp_seconds", store=store) == newest


def test_json_namespace_timestamptz_and_quoted_filter(pg: PgCluster, notes: list[Note]) -> None:
    s, ns = scrape(spec(pg, """
        table: agent_notes
        namespace: meta.user.id
        timestamp: created
        filter:
          - {column: author, value: "o'brien"}
          - {column: deleted, value: false}
    """))
    rows = [n for n in notes if n.author == "o'brien" and not n.deleted]
    assert 50 < len(rows) < 150
    check(s, ns, rows, lambda n: n.meta.get("user", {}).get("id"),
          max(n.created for n in rows).timestamp())
    assert s("memwatch_store_size_bytes", store="notes") == pg.execute(
        "SELECT pg_total_relation_size('agent_notes')")[0][0]


def test_iso_text_json_timestamp(pg: PgCluster, notes: list[Note]) -> None:
    s, ns = scrape(spec(pg, """
        table: agent_notes
        schema: public
        namespace: author
        timestamp: meta.ts
        filter:
          - {column: meta.flag, value: true}
    """))
    rows = [n for n in notes if n.meta["flag"] is True]
    assert any(n.meta["ts"].startswith("2026-02-30") for n in rows)  # the bad one is in
    times = [t for n in rows if (t := mem0data.parse_iso(n.meta["ts"])) is not None]
    check(s, ns, rows, lambda n: n.author, max(times).timestamp())


@pytest.mark.parametrize("author", AUTHORS)
def test_values_are_bound(pg: PgCluster, notes: list[Note], author: str) -> None:
    """Quotes, double quotes and backslashes in a filter value match exactly their rows."""
    s, ns = scrape(spec(pg, f"""
        table: agent_notes
        namespace: meta.user.id
        filter:
          - {{column: author, value: {json.dumps(author)}}}
    """))
    rows = [n for n in notes if n.author == author]
    assert rows
    check(s, ns, rows, lambda n: n.meta.get("user", {}).get("id"), None)


def test_injection_matches_nothing(pg: PgCluster, notes: list[Note]) -> None:
    s, ns = scrape(spec(pg, f"""
        table: agent_notes
        namespace: author
        timestamp: created
        filter:
          - {{column: author, value: {json.dumps(INJECTION)}}}
    """))
    assert s("memwatch_store_memories", store="notes") == 0
    assert ns == {}
    assert s("memwatch_newest_memory_timestamp_seconds", store="notes") is None
    assert pg.execute("SELECT count(*) FROM agent_notes")[0][0] == len(notes)


def test_column_comparisons(pg: PgCluster, notes: list[Note]) -> None:
    """A timestamptz column against an ISO string value, and a not_null JSON field."""
    s, ns = scrape(spec(pg, """
        table: agent_notes
        namespace: meta.user.id
        timestamp: created
        filter:
          - {column: created, op: ">=", value: "2026-11-10T00:00:00-08:00"}
          - {column: meta.user.id, op: not_null}
    """))
    since = datetime.fromisoformat("2026-11-10T00:00:00-08:00")
    rows = [n for n in notes if n.created >= since and "user" in n.meta]
    assert 0 < len(rows) < len(notes)
    check(s, ns, rows, lambda n: n.meta["user"]["id"], max(n.created for n in rows).timestamp())


@pytest.mark.parametrize(("op", "threshold"), [(">=", 50), ("<", 100), ("=", 7), (">", 9.5)])
def test_numeric_json_filter(pg: PgCluster, notes: list[Note], op: str,
                             threshold: float) -> None:
    """A number in the spec compares a JSON number as a number (as SQLite does), not as
    text: as text, "150" < "50" and "9" > "10"."""
    s, ns = scrape(spec(pg, f"""
        table: agent_notes
        namespace: author
        filter:
          - {{column: meta.score, op: "{op}", value: {threshold}}}
    """))
    cmp: dict[str, Callable[[float, float], bool]] = {
        ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
        "=": lambda a, b: a == b, ">": lambda a, b: a > b}
    rows = [n for n in notes if cmp[op](n.meta["score"], threshold)]
    assert rows
    check(s, ns, rows, lambda n: n.author, None)


def test_mem0_payload_via_sql_preset(pg: PgCluster, mem0: Mem0Data) -> None:
    """The sql preset on mem0's own table: payload.user_id, payload.created_at (ISO text,
    malformed strings included), a JSON filter, a cap of 10."""
    bad = next(p for p in mem0.payloads if p["created_at"] == "2026-02-30T10:00:00-08:00")
    agent = bad["agent_id"]  # this agent's memories include the impossible date
    s, ns = scrape(spec(pg, f"""
        table: memories
        namespace: payload.user_id
        timestamp: payload.created_at
        max_namespaces: 10
        filter:
          - {{column: payload.agent_id, value: {agent}}}
    """))
    rows = [p for p in mem0.payloads if p.get("agent_id") == agent]
    times = [t for p in rows if (t := mem0data.parse_iso(p["created_at"])) is not None]
    assert len(times) < len(rows)
    check(s, ns, rows, lambda p: p.get("user_id"), max(times).timestamp(), cap=10)
    assert "__other__" in ns


def test_missing_table_is_a_schema_error(pg: PgCluster) -> None:
    with exporter_for(spec(pg, "table: no_such_table")) as exp:
        s = Scrape(exp)
    assert s("memwatch_up", store="notes", backend="postgresql") == 0
    assert s("memwatch_collection_errors_total", store="notes", reason="schema") == 1
    assert s("memwatch_store_memories", store="notes") is None


def test_missing_column_is_a_schema_error(pg: PgCluster, notes: list[Note]) -> None:
    with exporter_for(spec(pg, "table: agent_notes\nnamespace: no_such_column")) as exp:
        s = Scrape(exp)
    assert s("memwatch_up", store="notes", backend="postgresql") == 0
    assert s("memwatch_collection_errors_total", store="notes", reason="schema") == 1


def test_estimate_mode(pg: PgCluster, notes: list[Note]) -> None:
    pg.execute("ANALYZE agent_notes")
    s, ns = scrape(spec(pg, """
        table: agent_notes
        namespace: author
        count: estimate
    """))
    total = s("memwatch_store_memories", store="notes")
    assert total is not None and abs(total - len(notes)) <= 0.02 * len(notes)
    assert ns == top(Counter(n.author for n in notes))
