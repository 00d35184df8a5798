"""One read of every row of a table, shaped so PostgreSQL aggregates it in parallel.

GROUP BY over `payload->>'user_id'` cannot be parallelized as written: with no statistics
for the expression the planner takes the jsonb column's own (every payload distinct),
expects a group per row, and then neither partial aggregation in the workers nor a hash
table pays off in its costs (it sorted and spilled). Split into one TID range per process
the server may give a query, joined by UNION ALL, the same rows come out of an append
relation whose columns carry no statistics: the planner expects few groups and runs a
Parallel Append of the ranges with a partial hash aggregate in each worker. The ranges
cover the heap exactly once and all read one snapshot, so the answer is unchanged.
TID range scans came with PostgreSQL 14; before it, or on a small table, one scan (OFFSET 0
keeps it a subquery, which likewise hides the statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Below this many heap pages (8 MiB) one process reads the table faster than a start-up
# of parallel workers costs.
CHUNK_MIN_PAGES = 1024
MAX_CHUNKS = 8
TID_RANGE_SCAN_VERSION = 140000


def every_row(table: str, select: str, params: Sequence[Any], pages: int, workers: int,
              server_version: int) -> tuple[str, list[Any]]:
    """A subquery (no alias) of `SELECT {select}` over every row of `table`, and its
    parameters (`params` are those of `select`, repeated for each range)."""
    chunks = min(MAX_CHUNKS, workers + 1)
    if chunks < 2 or pages < CHUNK_MIN_PAGES or server_version < TID_RANGE_SCAN_VERSION:
        return f"(SELECT {select} FROM {table} OFFSET 0)", list(params)
    bounds = [f"({pages * i // chunks},0)" for i in range(1, chunks)]
    branches, out = [], []
    for i in range(chunks):
        where = []
        if i > 0:
            where.append("ctid >= %s::tid")
        if i < chunks - 1:
            where.append("ctid < %s::tid")
        branches.append(f"SELECT {select} FROM {table} WHERE {' AND '.join(where)}")
        out += [*params, *([bounds[i - 1]] if i > 0 else []),
                *([bounds[i]] if i < chunks - 1 else [])]
    return "(" + " UNION ALL ".join(branches) + ")", out
