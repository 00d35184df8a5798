"""`promtool check metrics` finds nothing to say about /metrics of PostgreSQL stores, healthy
and failing alike."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.helpers import exporter_for, get, serving
from tests.postgres import mem0data
from tests.postgres.cluster import PgCluster, free_port
from tests.postgres.mem0data import Mem0Data

PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def tables(pg: PgCluster) -> Iterator[Mem0Data]:
    data = mem0data.generate(400, seed=41)
    with pg.session() as conn:
        mem0data.create_table(conn, "promtool_memories", data)
    yield data
    pg.execute("DROP TABLE IF EXISTS promtool_memories")


def spec(pg: PgCluster) -> str:
    good = pg.dsn()
    return f"""
        stores:
          - name: mem0
            preset: mem0-pgvector
            dsn: '{good}'
            table: promtool_memories
            expected_dimension: 1536
          - name: mem0-estimate
            preset: mem0-pgvector
            dsn: '{good}'
            table: promtool_memories
            count: estimate
            namespace: agent_id
          - name: mem0-not-yet-created
            preset: mem0-pgvector
            dsn: '{good}'
            table: not_created_yet
          - name: notes
            preset: sql
            backend: postgresql
            dsn: '{good}'
            table: promtool_memories
            namespace: payload.run_id
            timestamp: payload.created_at
          - name: wrong-password
            preset: mem0-pgvector
            dsn: '{pg.dsn(password="Wr0ng-pw-abc-987")}'
          - name: nobody-home
            preset: mem0-pgvector
            dsn: '{pg.dsn(port=free_port())}'
            timeout: 2s
        """


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian: prometheus)")
def test_promtool_check_metrics(pg: PgCluster, tables: Mem0Data) -> None:
    assert PROMTOOL is not None
    with exporter_for(spec(pg)) as exp, serving(exp) as url:
        get(f"{url}/metrics")  # a first scrape: counters and drop ratios have a history
        status, _, body = get(f"{url}/metrics")
    assert status == 200
    # every kind of series is there, so promtool judges all of them
    for needle in ('memwatch_up{backend="postgresql",store="mem0"} 1.0',
                   'memwatch_up{backend="postgresql",store="wrong-password"} 0.0',
                   'memwatch_up{backend="postgresql",store="nobody-home"} 0.0',
                   'memwatch_memories{namespace="__other__"',
                   'memwatch_table_exists{store="mem0-not-yet-created"} 0.0',
                   "memwatch_vector_dimension_expected{", "memwatch_table_recreations_total{",
                   'memwatch_recounts_total{store="mem0-estimate"}',
                   'memwatch_collection_errors_total{reason="auth",store="wrong-password"} 2.0',
                   "memwatch_newest_memory_timestamp_seconds{",
                   "memwatch_store_size_bytes{", "memwatch_exporter_build_info{"):
        assert needle in body, needle
    proc = subprocess.run([PROMTOOL, "check", "metrics"], input=body, capture_output=True,
                          text=True, timeout=30, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
