"""A partitioned memory table: its rows live in the partitions, and the parent's own
catalog entry says 0 pages, 0 bytes and no statistics. The count, the size and estimate
mode read the partitions (issue 11: `count: estimate` read 0 rows and 0 bytes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import Scrape, exporter_for
from tests.postgres.cluster import PgCluster

ROWS_A, ROWS_B = 3000, 2000


@pytest.fixture
def partitioned(pg: PgCluster) -> Iterator[str]:
    table = "notes_by_month"
    pg.execute(f'DROP TABLE IF EXISTS "{table}"')
    pg.execute(f'CREATE TABLE "{table}" (id bigint, kind text, created_at timestamptz, '
               "payload text) PARTITION BY RANGE (created_at)")
    for name, lo, hi in (("a", "2026-10-01", "2026-11-01"), ("b", "2026-11-01", "2026-12-01")):
        pg.execute(f'CREATE TABLE "{table}_{name}" PARTITION OF "{table}" '
                   f"FOR VALUES FROM ('{lo}') TO ('{hi}')")
    pg.execute(f"""INSERT INTO "{table}" SELECT i, 'k' || (i % 3),
                   '2026-10-01'::timestamptz + (i * interval '5 minutes'), repeat('x', 200)
                   FROM generate_series(1, {ROWS_A + ROWS_B}) AS i""")
    pg.execute(f'ANALYZE "{table}"')
    pg.execute(f'GRANT SELECT ON "{table}", "{table}_a", "{table}_b" TO memwatch')
    try:
        yield table
    finally:
        pg.execute(f'DROP TABLE IF EXISTS "{table}"')


@pytest.mark.parametrize("count", ["exact", "estimate"])
def test_a_partitioned_table_is_counted_and_sized_from_its_partitions(
        pg: PgCluster, partitioned: str, count: str) -> None:
    text = (f"stores:\n  - name: notes\n    preset: sql\n    backend: postgresql\n"
            f"    dsn: '{pg.dsn()}'\n    table: {partitioned}\n    count: {count}\n"
            "    namespace: kind\n    timestamp: created_at\n")
    with exporter_for(text) as exp:
        s = Scrape(exp)
    assert s("memwatch_up", store="notes", backend="postgresql") == 1
    total = ROWS_A + ROWS_B
    got = s("memwatch_store_memories", store="notes")
    if count == "exact":
        assert got == total
    else:  # the planner's estimate from the partitions' statistics: within a few percent
        assert got is not None and abs(got - total) <= 0.05 * total, got
    size = s("memwatch_store_size_bytes", store="notes")
    with pg.session() as conn:
        expected = conn.execute(
            "SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree(%s)",
            (partitioned,)).fetchone()
    assert expected is not None and size == expected[0] > 0
