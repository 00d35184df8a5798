"""PostgreSQL backends (psycopg 3): mem0's pgvector table and the custom `sql` preset.

One connection per store, opened lazily and reopened after an outage. Every session is
read-only (`default_transaction_read_only`), with `statement_timeout` and `lock_timeout`
from the store's timeout, so a lock held on the table cannot hang a scrape.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
from abc import abstractmethod
from typing import Any

import psycopg
from psycopg import errors as pgerr

from memwatch import metrics as m
from memwatch import secrets
from memwatch.errors import CollectionError, SecretError
from memwatch.exporters.base import Backend, Observation, cap_namespaces
from memwatch.exporters.sqlbuild import PG_ISO_GUARD, SqlBuilder, ident
from memwatch.spec import Mem0PgvectorStore, PostgresSource, SqlStore

# Estimate mode: rows sampled for namespace counts, heap pages read for freshness.
SAMPLE_ROWS = 20_000
TAIL_PAGES = 256


def classify(exc: Exception) -> CollectionError:
    if isinstance(exc, CollectionError):  # raised by a query() itself: keep its reason
        return exc
    text = secrets.redact(str(exc).strip())
    if isinstance(exc, pgerr.QueryCanceled):
        return CollectionError("timeout", f"query cancelled at the store's timeout: {text}")
    if isinstance(exc, pgerr.LockNotAvailable):
        return CollectionError("locked", text)
    if isinstance(exc, pgerr.UndefinedTable | pgerr.UndefinedColumn | pgerr.UndefinedFunction):
        return CollectionError("schema", text)
    if isinstance(exc, pgerr.InsufficientPrivilege):
        return CollectionError("permission", text)
    if isinstance(exc, pgerr.InvalidPassword | pgerr.InvalidAuthorizationSpecification):
        return CollectionError("auth", text)
    if isinstance(exc, psycopg.OperationalError):
        low = text.lower()
        if "password authentication failed" in low or "no password supplied" in low:
            return CollectionError("auth", text)
        if "timeout expired" in low:
            return CollectionError("timeout", text)
        if "does not exist" in low:
            return CollectionError("missing", text)
        return CollectionError("connect", text)
    return CollectionError("query", text)


class PostgresBackend(Backend):
    kind = "postgresql"

    def __init__(self, source: PostgresSource, timeout: float) -> None:
        self.source = source
        self.timeout = timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            dsn = secrets.resolve(self.source.dsn, self.source.dsn_file, "dsn") or ""
            password = secrets.resolve(self.source.password, self.source.password_file,
                                       "password")
        except SecretError as exc:
            raise CollectionError("config", str(exc)) from None
        ms = max(1, int(self.timeout * 1000))
        # a lock wait gives up first, so a held lock is counted as `locked`, not `timeout`
        lock_ms = max(1, int(ms * 0.8))
        kwargs: dict[str, Any] = {
            # libpq takes whole seconds; never wait longer than the store's timeout
            "connect_timeout": max(1, math.ceil(min(self.source.connect_timeout,
                                                    self.timeout))),
            "options": (f"-c default_transaction_read_only=on -c statement_timeout={ms} "
                        f"-c lock_timeout={lock_ms} -c TimeZone=UTC"),
            "application_name": "memwatch",
        }
        if password is not None:
            kwargs["password"] = password
        try:
            conn = psycopg.connect(dsn, **kwargs)
        except Exception as exc:
            raise classify(exc) from None
        conn.read_only = True
        return conn

    def collect(self) -> Observation:
        with self._lock:
            conn = self._conn
        if conn is None or conn.closed or conn.broken:
            conn = self._connect()
            with self._lock:
                self._conn = conn
        try:
            with conn.cursor() as cur:
                obs = self.query(cur)
            conn.rollback()  # read-only: nothing to commit; ends the snapshot
            return obs
        except Exception as exc:
            err = classify(exc)
            if isinstance(exc, psycopg.OperationalError) or conn.broken:
                self._drop()
            else:
                try:
                    conn.rollback()
                except psycopg.Error:
                    self._drop()
            raise err from None

    def _drop(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def cancel(self) -> None:
        with self._lock:
            conn = self._conn
        if conn is not None and not conn.closed:
            # Off the scrape's clock: a hung server does not answer the cancel request
            # either, and waiting for it would push /metrics past timeout + 1 s.
            threading.Thread(target=_cancel, args=(conn,), name="pg-cancel",
                             daemon=True).start()

    def close(self) -> None:
        self._drop()

    @abstractmethod
    def query(self, cur: psycopg.Cursor[Any]) -> Observation: ...

    @staticmethod
    def relation(cur: psycopg.Cursor[Any], schema: str, table: str) -> tuple[Any, ...] | None:
        """(oid, reltuples, relpages, heap bytes, total bytes, block size) or None."""
        cur.execute(
            "SELECT c.oid, c.reltuples, c.relpages, pg_relation_size(c.oid), "
            "pg_total_relation_size(c.oid), current_setting('block_size')::int "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p')",
            (schema, table))
        return cur.fetchone()

    @staticmethod
    def planner_estimate(reltuples: float, relpages: int, heap_bytes: int,
                         block: int) -> float | None:
        """Rows as the planner estimates them: density from the last ANALYZE times the
        table's current pages. None when the table was never analyzed."""
        if reltuples < 0:
            return None
        pages = heap_bytes / block
        if relpages <= 0:
            return 0.0 if pages == 0 else None
        return float(round(reltuples / relpages * pages))


def _cancel(conn: psycopg.Connection[Any]) -> None:
    with contextlib.suppress(Exception):  # best effort: the server may be gone
        conn.cancel_safe(timeout=1.0)


def _cast(expr: str) -> str:
    """An ISO timestamp string as timestamptz; NULL (not an error) when it is malformed."""
    return f"CASE WHEN {expr} ~ '{PG_ISO_GUARD}' THEN {expr}::timestamptz END"


def _offset(key: str) -> str:
    """The UTC offset a payload timestamp ends with ('Z', '-08:00'...): cheap per row."""
    f = f"(payload->>'{key}')"
    return f"CASE WHEN right({f}, 1) = 'Z' THEN 'Z' ELSE right({f}, 6) END"


# Freshness without a regex and a cast on every row (7 s at 1M rows): within one UTC
# offset ISO strings sort as text, so the scan keeps the text maximum per offset and only
# those few candidates are checked and cast. A malformed string that sorts above the valid
# ones of its offset hides that offset's newest (mem0 writes isoformat(): not in practice).
def _newest_candidates(table: str, extra_keys: str = "", where: str = "") -> str:
    return (f"SELECT {extra_keys}{_offset('created_at')} AS oc, {_offset('updated_at')} AS ou, "
            f"count(*) AS n, max(payload->>'created_at') AS c, "
            f"max(payload->>'updated_at') AS u FROM {table}{where} "
            f"GROUP BY {'1, 2, 3' if extra_keys else '1, 2'}")


_NEWEST = f"max(greatest({_cast('c')}, {_cast('u')}))"  # NULLs ignored
_DIMENSION = re.compile(r"\((\d+)\)")


class Mem0PgvectorBackend(PostgresBackend):
    tracks_identity = True

    def __init__(self, store: Mem0PgvectorStore) -> None:
        super().__init__(store, store.timeout)
        self.store = store
        self.table = f"{ident(store.schema_)}.{ident(store.table)}"

    def query(self, cur: psycopg.Cursor[Any]) -> Observation:
        s = self.store
        rel = self.relation(cur, s.schema_, s.table)
        if rel is None:  # mem0 creates the table lazily and reset() drops it: zero memories
            obs = Observation(memories=0.0, namespaces={}, size_bytes=0.0)
            obs.add(m.TABLE_EXISTS.name, 0)
            self._expected(obs)
            return obs
        oid, reltuples, relpages, heap_bytes, total_bytes, block = rel
        cur.execute("SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = %s AND attname = 'vector' AND NOT attisdropped", (oid,))
        vtype = cur.fetchone()
        estimate = (self.planner_estimate(reltuples, relpages, heap_bytes, block)
                    if s.count == "estimate" else None)
        if estimate is None:
            obs = self._exact(cur)
        else:
            obs = self._estimated(cur, estimate, heap_bytes // block)
        obs.size_bytes = float(total_bytes)
        obs.identity = str(oid)
        obs.add(m.TABLE_EXISTS.name, 1)
        if vtype and (dim := _DIMENSION.search(vtype[0] or "")):
            obs.add(m.VECTOR_DIMENSION.name, int(dim.group(1)))
        self._expected(obs)
        return obs

    def _expected(self, obs: Observation) -> None:
        if self.store.expected_dimension is not None:
            obs.add(m.VECTOR_DIMENSION_EXPECTED.name, self.store.expected_dimension)

    def _exact(self, cur: psycopg.Cursor[Any]) -> Observation:
        """One scan: per-namespace counts and newest, with totals as window aggregates."""
        cap = self.store.max_namespaces
        groups = _newest_candidates(self.table, "payload->>%s AS ns, ")
        cur.execute(
            f"WITH g AS ({groups}), per_ns AS (SELECT ns, sum(n) AS n FROM g GROUP BY ns) "
            f"SELECT ns, n, (SELECT sum(n) FROM per_ns), (SELECT {_NEWEST} FROM g) "
            f"FROM per_ns ORDER BY n DESC, ns LIMIT %s", (self.store.namespace, cap))
        rows = cur.fetchall()
        if not rows:
            return Observation(memories=0.0, namespaces={})
        total = float(rows[0][2])
        newest = rows[0][3]
        return Observation(
            memories=total,
            namespaces=cap_namespaces([(r[0], float(r[1])) for r in rows], total, cap),
            newest_timestamp=None if newest is None else newest.timestamp(),
        )

    def _estimated(self, cur: psycopg.Cursor[Any], total: float, pages: int) -> Observation:
        """Planner count, namespaces from a repeatable page sample, freshness from the
        table's last heap pages (where new and updated rows land)."""
        cap = self.store.max_namespaces
        pct = min(100.0, 100.0 * SAMPLE_ROWS / total) if total > 0 else 100.0
        cur.execute(
            f"SELECT ns, n, sum(n) OVER () FROM ("
            f"  SELECT payload->>%s AS ns, count(*) AS n "
            f"  FROM {self.table} TABLESAMPLE SYSTEM (%s) REPEATABLE (0) GROUP BY 1) g "
            f"ORDER BY n DESC, ns LIMIT %s", (self.store.namespace, pct, cap))
        rows = cur.fetchall()
        sampled = float(rows[0][2]) if rows else 0.0
        scale = total / sampled if sampled else 0.0
        top = [(r[0], float(round(r[1] * scale))) for r in rows]
        tail = _newest_candidates(self.table, where=" WHERE ctid >= %s::tid")
        cur.execute(f"SELECT extract(epoch FROM {_NEWEST}) FROM ({tail}) g",
                    (f"({max(0, pages - TAIL_PAGES)},0)",))
        newest = cur.fetchone()
        return Observation(
            memories=total,
            namespaces=cap_namespaces(top, total, cap),
            newest_timestamp=None if not newest or newest[0] is None else float(newest[0]),
        )


class SqlPostgresBackend(PostgresBackend):
    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.postgres_source(), store.timeout)
        self.store = store
        self.sql = SqlBuilder(store, "postgresql")

    def query(self, cur: psycopg.Cursor[Any]) -> Observation:
        s = self.store
        schema = s.schema_ or "public"
        rel = self.relation(cur, schema, s.table)
        if rel is None:
            raise CollectionError("schema", f"table {schema}.{s.table} does not exist")
        total: float | None = None
        if s.count == "estimate":
            _, reltuples, relpages, heap_bytes, _, block = rel
            total = self.planner_estimate(reltuples, relpages, heap_bytes, block)
        if total is None:
            q = self.sql.count()
            cur.execute(q.sql, q.params)
            row = cur.fetchone()
            total = float(row[0]) if row else 0.0
        obs = Observation(memories=total, size_bytes=float(rel[4]))
        if (nq := self.sql.namespaces(s.max_namespaces)) is not None:
            cur.execute(nq.sql, nq.params)
            top = [(r[0], float(r[1])) for r in cur.fetchall()]
            obs.namespaces = cap_namespaces(top, total, s.max_namespaces)
        if (tq := self.sql.newest()) is not None:
            cur.execute(tq.sql, tq.params)
            row = cur.fetchone()
            obs.newest_timestamp = None if not row or row[0] is None else float(row[0])
        return obs
