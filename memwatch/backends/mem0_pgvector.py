"""mem0's pgvector table: `memories` (id, vector, payload jsonb), counted by user.

Exact mode reads every row in one hashed GROUP BY pass, the newest kept across scrapes
(memwatch/backends/pg_newest.py); estimate mode takes the planner's count, a page sample
for the namespaces and the table's last pages for the newest; auto picks one by size.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import psycopg

from memwatch import metrics
from memwatch.backends.base import Observation, cap_namespaces
from memwatch.backends.missing import MissingTable
from memwatch.backends.pg_newest import (
    SNAPSHOT_XMIN,
    WRITTEN_SINCE,
    NewestTracker,
    newest_of,
    since_bytes,
    tail_pass,
)
from memwatch.backends.pg_scan import every_row
from memwatch.backends.postgres import PostgresBackend, Relation
from memwatch.backends.sqlbuild import ident
from memwatch.spec import AUTO_ESTIMATE_ROWS, Mem0PgvectorStore

# Estimate mode: rows sampled for namespace counts, heap pages read for freshness.
SAMPLE_ROWS = 20_000
TAIL_PAGES = 256
# Up to this many rows (the planner's) the sample would read every page, and the last pages
# again: estimate mode counts exactly, which then costs the database less.
ESTIMATE_EXACT_ROWS = SAMPLE_ROWS

_PAYLOAD_NEWEST = newest_of("payload->>'created_at'", "payload->>'updated_at'")
_DIMENSION = re.compile(r"\((\d+)\)")


class Mem0PgvectorBackend(PostgresBackend):
    tracks_identity = True

    def __init__(self, store: Mem0PgvectorStore) -> None:
        super().__init__(store, store.timeout, store.name, store.recount_bound)
        self.store = store
        self.table = f"{ident(store.schema_)}.{ident(store.table)}"
        self.newest = NewestTracker(self.table, store.name)
        self.missing = MissingTable(store.name, f"{store.schema_}.{store.table}")
        self.auto_estimating = False

    def count_exact(self, cur: psycopg.Cursor[Any]) -> float:
        cur.execute(f"SELECT count(*) FROM {self.table}")
        row = cur.fetchone()
        return float(row[0]) if row else 0.0

    def query(self, cur: psycopg.Cursor[Any]) -> Observation:
        s = self.store
        rel = self.relation(cur, s.schema_, s.table)
        estimating = self._estimating(rel)
        self.missing.seen(rel is not None)
        if rel is None:  # mem0 creates the table lazily and reset() drops it: zero memories
            obs = Observation(memories=0.0, namespaces={}, size_bytes=0.0)
            obs.add(metrics.TABLE_EXISTS.name, 0)
            self._expected(obs)
            self.report_recounts(obs, s.count != "exact")
            return obs
        dimension = self._declared_dimension(cur, rel.oid)
        total = self.estimated_total(cur, rel) if estimating else None
        if total is None:
            obs = self._exact(cur, rel)
        else:
            planner = rel.planned or 0.0
            obs = self._estimated(cur, total, planner, self._tail_page(rel))
        self.report_recounts(obs, s.count != "exact")
        obs.size_bytes = float(rel.total_bytes)
        obs.identity = str(rel.oid)
        obs.add(metrics.TABLE_EXISTS.name, 1)
        if dimension is not None:
            obs.add(metrics.VECTOR_DIMENSION.name, dimension)
        self._expected(obs)
        return obs

    def _estimating(self, rel: Relation | None) -> bool:
        """Whether this scrape takes estimate mode's path. count: estimate counts exactly
        up to ESTIMATE_EXACT_ROWS rows; count: auto estimates from AUTO_ESTIMATE_ROWS
        on and goes back only below nine tenths of it, so a table near the line does not
        flip. A table never analyzed goes to estimate mode, which counts it exactly."""
        mode = self.store.count
        if mode == "exact" or rel is None:
            return False
        rows = rel.planned
        if rows is None:
            estimating = mode == "estimate"
        elif mode == "estimate":
            estimating = rows > ESTIMATE_EXACT_ROWS
        else:
            estimating = rows >= AUTO_ESTIMATE_ROWS * (0.9 if self.auto_estimating else 1.0)
        self.auto_estimating = estimating and mode == "auto"
        if not estimating:
            self.anchor = None  # what it anchored goes stale while counting exactly
        return estimating

    @staticmethod
    def _tail_page(rel: Relation) -> int:
        """The first of the table's last TAIL_PAGES heap pages."""
        return max(0, rel.heap_bytes // rel.block - TAIL_PAGES)

    def _expected(self, obs: Observation) -> None:
        if self.store.expected_dimension is not None:
            obs.add(metrics.VECTOR_DIMENSION_EXPECTED.name, self.store.expected_dimension)

    def _exact(self, cur: psycopg.Cursor[Any], rel: Relation) -> Observation:
        """One hashed GROUP BY user pass: the largest namespaces, the total, the exact
        counts of the namespaces the collector watches (memwatch/namespaces.py), and the
        newest of the rows written since the last pass (memwatch/backends/pg_newest.py)."""
        cap = self.store.max_namespaces
        key = (rel.oid, rel.filenode, rel.deleted)
        def bounded(run: Callable[[], Any]) -> Any:
            return self.within_share(cur, run)

        since = self.newest.horizon(cur, key, bounded, self._tail_page(rel))
        # every row once, hashed by user in parallel (memwatch/backends/pg_scan.py)
        rows_sql, params = every_row(
            self.table, f"payload->>%s AS ns, {WRITTEN_SINCE} AS recent, payload",
            (self.store.namespace, since_bytes(since)), rel.heap_bytes // rel.block,
            rel.workers, rel.version)
        cur.execute(
            "WITH per_ns AS (SELECT ns, count(*) AS n, "
            f"max({_PAYLOAD_NEWEST}) FILTER (WHERE recent) AS newest FROM {rows_sql} k "
            "GROUP BY ns), top AS (SELECT ns, n FROM per_ns ORDER BY n DESC, ns LIMIT %s) "
            "SELECT false, ns, n, (SELECT sum(n) FROM per_ns), "
            "(SELECT extract(epoch FROM max(newest)) FROM per_ns), "
            f"{SNAPSHOT_XMIN} FROM top UNION ALL SELECT true, ns, n, NULL, NULL, NULL "
            "FROM per_ns WHERE coalesce(nullif(ns, ''), %s) = ANY(%s)",
            (*params, cap, metrics.NO_NAMESPACE, sorted(self.watch)))
        rows = cur.fetchall()
        top = [r for r in rows if not r[0]]
        watched = {(r[1] or metrics.NO_NAMESPACE): float(r[2]) for r in rows if r[0]}
        if not top:  # no rows: nothing is newest, whatever was before
            self.newest.known = None
            return Observation(memories=0.0, namespaces={}, namespace_counts=watched)
        total = float(top[0][3])
        if not self.newest.update(key, None if top[0][4] is None else float(top[0][4]),
                                  int(top[0][5])):  # an xid epoch went by: a full pass
            self.newest.horizon(cur, key, bounded, self._tail_page(rel))
        return Observation(
            memories=total,
            namespaces=cap_namespaces([(r[1], float(r[2])) for r in top], total, cap),
            newest_timestamp=self.newest.newest,
            namespace_counts=watched,
        )

    def integrity_query(self, cur: psycopg.Cursor[Any]) -> Observation:
        """Rows without a vector, duplicates (the same `payload.hash`, mem0's md5 of the
        text, for the same user) and vectors per dimension, in one scan; `vector_dims()`
        per row only for a column declared without a dimension (it reads every vector)."""
        s = self.store
        obs = Observation()
        rel = self.relation(cur, s.schema_, s.table)
        if rel is None:  # no table, no memories: nothing missing, nothing repeated
            obs.add(metrics.WITHOUT_EMBEDDING.name, 0)
            obs.add(metrics.DUPLICATES.name, 0)
            return obs
        # only the keys reach the aggregate (OFFSET 0 keeps the subquery): a sort or hash
        # of whole rows (payload and vector) spilled four times as much
        cur.execute(
            "SELECT coalesce(sum(missing), 0), coalesce(sum(greatest(hashed - 1, 0)), 0), "
            "coalesce(sum(n - missing), 0) FROM (SELECT count(*) FILTER (WHERE no_vector) "
            "AS missing, count(*) FILTER (WHERE h IS NOT NULL) AS hashed, count(*) AS n "
            "FROM (SELECT payload->>%s AS ns, payload->>'hash' AS h, vector IS NULL AS "
            f"no_vector FROM {self.table} OFFSET 0) k GROUP BY ns, h) g", (s.namespace,))
        missing, duplicates, vectors = cur.fetchone() or (0, 0, 0)
        obs.add(metrics.WITHOUT_EMBEDDING.name, missing)
        obs.add(metrics.DUPLICATES.name, duplicates)
        declared = self._declared_dimension(cur, rel.oid)
        if declared is not None:
            if vectors:
                obs.add(metrics.EMBEDDINGS_BY_DIMENSION.name, vectors, dimension=str(declared))
            return obs
        cur.execute(f"SELECT vector_dims(vector), count(*) FROM {self.table} "
                    "WHERE vector IS NOT NULL GROUP BY 1")
        for dim, n in cur.fetchall():
            obs.add(metrics.EMBEDDINGS_BY_DIMENSION.name, n, dimension=str(dim))
        return obs

    @staticmethod
    def _declared_dimension(cur: psycopg.Cursor[Any], oid: int) -> int | None:
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s AND attname = 'vector' AND NOT attisdropped", (oid,))
        row = cur.fetchone()
        found = _DIMENSION.search(row[0] or "") if row else None
        return int(found.group(1)) if found else None

    def _estimated(self, cur: psycopg.Cursor[Any], total: float, planner: float,
                   tail_page: int) -> Observation:
        """Planner count, namespaces from a repeatable page sample, freshness from the
        table's last heap pages (where new and updated rows land). The sample is sized by
        the pages (the planner's rows), not by the count: after a delete the pages stay,
        and a sample sized by a small count would read them all."""
        cap = self.store.max_namespaces
        if total <= 0:
            return Observation(memories=0.0, namespaces={})
        pct = min(100.0, 100.0 * SAMPLE_ROWS / max(planner, total))
        cur.execute(
            f"SELECT ns, n, sum(n) OVER () FROM ("
            f"  SELECT payload->>%s AS ns, count(*) AS n "
            f"  FROM {self.table} TABLESAMPLE SYSTEM (%s) REPEATABLE (0) GROUP BY 1) g "
            f"ORDER BY n DESC, ns LIMIT %s", (self.store.namespace, pct, cap))
        rows = cur.fetchall()
        sampled = float(rows[0][2]) if rows else 0.0
        scale = total / sampled if sampled else 0.0
        top = [(r[0], float(round(r[1] * scale))) for r in rows]
        cur.execute(*tail_pass(self.table, tail_page))
        newest = cur.fetchone()
        return Observation(
            memories=total,
            namespaces=cap_namespaces(top, total, cap),
            newest_timestamp=None if not newest or newest[0] is None else float(newest[0]),
        )
