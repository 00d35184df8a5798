"""Fixtures for the PostgreSQL tests: mem0's table filled once per session on the session's
PostgreSQL 16 + pgvector cluster (the `pg` fixture, in tests/conftest.py; see cluster.py),
spec text for the presets."""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from memwatch import logs
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster
from tests.postgres.mem0data import Mem0Data


@pytest.fixture(scope="session")
def mem0(pg: PgCluster) -> Mem0Data:
    """mem0's `memories` table with 5,000 memories of 150 users (built once; no test
    changes it: those that write use tables of their own), plus what must NOT be
    counted: its siblings `memories_entities` and `mem0migrations`, and a `memories` table
    in another schema."""
    data = mem0data.generate()
    with pg.session() as conn:
        mem0data.create_table(conn, "memories", data)
        mem0data.create_table(conn, "memories_entities",
                              mem0data.generate(700, users=20, seed=1))
        mem0data.create_table(conn, "mem0migrations", mem0data.generate(3, users=1, seed=2))
        conn.execute("CREATE SCHEMA IF NOT EXISTS archive")
        mem0data.create_table(conn, "memories", mem0data.generate(321, seed=3),
                              schema="archive")
        conn.execute("GRANT USAGE ON SCHEMA archive TO memwatch")
        conn.execute("GRANT SELECT ON ALL TABLES IN SCHEMA archive TO memwatch")
    return data


def mem0_spec(pg: PgCluster, name: str = "mem0", extra: str = "", dsn: str | None = None,
              **keys: Any) -> str:
    """Spec text for one mem0-pgvector store; `keys` become YAML keys (str as-is)."""
    lines = [f"  - name: {name}", "    preset: mem0-pgvector"]
    if dsn is not None or not any(k in keys for k in ("dsn", "dsn_file")):
        lines.append(f"    dsn: '{dsn or pg.dsn()}'")
    lines += [f"    {k}: {v}" for k, v in keys.items()]
    lines += [f"    {line}" for line in extra.strip().splitlines()]
    return "stores:\n" + "\n".join(lines) + "\n"

def ns_samples(found: dict[tuple[tuple[str, str], ...], float]) -> dict[str, float]:
    """memwatch_memories samples as {namespace: value}."""
    return {dict(k)["namespace"]: v for k, v in found.items()}

@dataclass
class LogCapture:
    """What memwatch logged: as its own formatter wrote it, in both formats, and every
    raw record pytest captured (message, extras, exception) before any formatting."""

    streams: dict[str, io.StringIO]
    caplog: pytest.LogCaptureFixture

    def text(self) -> str:
        raw = [repr(vars(r)) for r in self.caplog.records]
        return "\n".join([*(s.getvalue() for s in self.streams.values()),
                          self.caplog.text, *raw])


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[LogCapture]:
    """memwatch.logs.setup() as `memwatch export` calls it, once per format, each writing
    to its own StringIO standing in for stderr, at debug level; plus caplog. The root
    logger is restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    streams: dict[str, io.StringIO] = {}
    handlers: list[logging.Handler] = []
    try:
        for fmt in ("logfmt", "json"):
            streams[fmt] = io.StringIO()
            monkeypatch.setattr(sys, "stderr", streams[fmt])
            logs.setup(fmt, "debug")
            handlers += root.handlers
        monkeypatch.undo()
        root.handlers[:] = [*handlers, caplog.handler]  # setup() replaced them
        caplog.set_level(logging.DEBUG)
        yield LogCapture(streams, caplog)
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


def delete_rows(pg: PgCluster, table: str, where: str = "", params: Any = None) -> None:
    """DELETE, then wait until the table's n_tup_del shows it (a session's statistics are
    flushed as it ends, a moment after the client has gone): mem0-pgvector's newest learns
    of a delete from there (memwatch/backends/pg_newest.py)."""
    stat = f"SELECT pg_stat_get_tuples_deleted('\"{table}\"'::regclass)"
    before = pg.execute(stat)[0][0]
    n = len(pg.execute(f'DELETE FROM "{table}" {where} RETURNING 1', params))
    deadline = time.monotonic() + 10
    while pg.execute(stat)[0][0] < before + n:
        assert time.monotonic() < deadline, "the delete never reached the statistics"
        time.sleep(0.05)
