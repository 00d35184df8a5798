"""PostgreSQL backends (psycopg 3): the connection, the catalog and estimate-mode recounts
every PostgreSQL store shares, and the custom `sql` preset (mem0_pgvector.py: mem0).

One connection per store, opened lazily and reopened after an outage. Every session is
read-only (`default_transaction_read_only`), with `statement_timeout` and `lock_timeout`
from the store's timeout, so a lock held on the table cannot hang a scrape.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import psycopg
from psycopg import errors as pgerr

from memwatch import metrics, secrets
from memwatch.backends.base import Backend, Observation, cap_namespaces
from memwatch.backends.recount import Anchor, Reading, RecountPolicy
from memwatch.backends.sqlbuild import SqlBuilder
from memwatch.dsn import dsn_problem
from memwatch.errors import CollectionError, SecretError
from memwatch.spec import PostgresSource, SqlStore

log = logging.getLogger("memwatch.backends.postgres")
# A recount may take this share of the store's timeout; one that does not finish leaves the
# estimate reported (and is tried again after RECOUNT_RETRY_SECONDS) rather than failing
# every scrape of a table too big to count within the timeout.
RECOUNT_SHARE = 0.5
RECOUNT_RETRY_SECONDS = 600.0
# A recount follows a delete, which clears the visibility map: an index-only count(*) then
# visits every heap row at random (20 s at 10M rows, against 0.7 s sequentially): scan.
INDEX_SCANS = ("enable_indexonlyscan", "enable_indexscan", "enable_bitmapscan")
T = TypeVar("T")


class Relation(NamedTuple):
    """The memory table from the catalog, with its cumulative statistics."""

    oid: int
    reltuples: float
    relpages: int
    heap_bytes: int
    total_bytes: int
    block: int
    live: int  # n_live_tup
    inserted: int  # n_tup_ins
    deleted: int  # n_tup_del
    standby: bool  # pg_is_in_recovery(): these statistics never move
    filenode: int  # changes when the table is truncated or rewritten
    workers: int  # max_parallel_workers_per_gather
    version: int  # server_version_num

    @property
    def planned(self) -> float | None:
        """Rows as the planner estimates them: density from the last ANALYZE times the
        table's current pages. None when the table was never analyzed."""
        if self.reltuples < 0:
            return None
        pages = self.heap_bytes / self.block
        if self.relpages <= 0:
            return 0.0 if pages == 0 else None
        return float(round(self.reltuples / self.relpages * pages))


# libpq's words for an option value it cannot use: `invalid integer value "x" for
# connection option "port"`, `invalid sslmode value: "x"`, `invalid port number: "x"`
_BAD_OPTION = re.compile(r"invalid [a-z_ ]*(value|number)")


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
        if _BAD_OPTION.search(low):  # libpq refused a value (port, sslmode...): no server
            return CollectionError("config", text)
        if "does not exist" in low:
            return CollectionError("missing", text)
        return CollectionError("connect", text)
    return CollectionError("query", text)


class PostgresBackend(Backend):
    kind = "postgresql"

    def __init__(self, source: PostgresSource, timeout: float, name: str = "",
                 recount_bound: float = 0.02) -> None:
        self.source = source
        self.timeout = timeout
        self.name = name
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        # count: estimate: the last exact count, for the table OID it was taken on
        self.policy = RecountPolicy(recount_bound)
        self.anchor: tuple[int, Anchor] | None = None
        self.recounts = 0
        self._recount_retry_at = 0.0  # monotonic: no recount before (the last did not finish)
        self._standby_logged = False

    def _connect(self) -> psycopg.Connection[Any]:
        try:
            dsn = secrets.resolve(self.source.dsn, self.source.dsn_file, "dsn") or ""
            password = secrets.resolve(self.source.password, self.source.password_file,
                                       "password")
        except SecretError as exc:
            raise CollectionError("config", str(exc)) from None
        if problem := dsn_problem(dsn):
            raise CollectionError("config", f"dsn: {problem}")
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

    def integrity(self, timeout: float) -> Observation:
        """The integrity pass on a connection of its own (a scrape may be collecting on
        the other), read-only, its statements bounded by `timeout`; closed afterwards: it
        runs every integrity_interval, not every scrape."""
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                ms = max(1, int(timeout * 1000))
                cur.execute(f"SET statement_timeout = {ms}")
                cur.execute(f"SET lock_timeout = {max(1, int(ms * 0.8))}")
                return self.integrity_query(cur)
        except Exception as exc:
            raise classify(exc) from None
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.close()

    def integrity_query(self, cur: psycopg.Cursor[Any]) -> Observation:
        raise NotImplementedError(f"{type(self).__name__} has no integrity pass")

    @abstractmethod
    def query(self, cur: psycopg.Cursor[Any]) -> Observation: ...

    @abstractmethod
    def count_exact(self, cur: psycopg.Cursor[Any]) -> float:
        """count(*) of what the store counts (estimate mode's recount)."""

    @staticmethod
    def relation(cur: psycopg.Cursor[Any], schema: str, table: str) -> Relation | None:
        """The table's catalog entry and statistics, summed over its leaf partitions: a
        partitioned table's own entry has no pages, bytes or statistics (its rows live in
        the partitions), and a plain table is its own one leaf."""
        # the pg_stat_get_* functions behind pg_stat_user_tables, without its joins
        cur.execute(
            "SELECT c.oid, CASE WHEN bool_or(l.reltuples < 0) THEN -1 "
            "ELSE sum(l.reltuples) END, sum(l.relpages)::int, "
            "sum(pg_relation_size(l.oid))::bigint, "
            "sum(pg_total_relation_size(l.oid))::bigint, "
            "current_setting('block_size')::int, "
            "sum(pg_stat_get_live_tuples(l.oid))::bigint, "
            "sum(pg_stat_get_tuples_inserted(l.oid))::bigint, "
            "sum(pg_stat_get_tuples_deleted(l.oid))::bigint, pg_is_in_recovery(), "
            "coalesce(sum(pg_relation_filenode(l.oid)::bigint), 0)::bigint, "
            "current_setting('max_parallel_workers_per_gather')::int, "
            "current_setting('server_version_num')::int "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            # a plain table's pg_partition_tree is empty (a partition's holds itself)
            "CROSS JOIN LATERAL (SELECT relid FROM pg_partition_tree(c.oid) WHERE isleaf "
            "UNION SELECT c.oid WHERE c.relkind = 'r') t "
            "JOIN pg_class l ON l.oid = t.relid "
            "WHERE n.nspname = %s AND c.relname = %s AND c.relkind IN ('r', 'p') "
            "GROUP BY c.oid",
            (schema, table))
        row = cur.fetchone()
        return None if row is None else Relation(*row)

    def estimated_total(self, cur: psycopg.Cursor[Any], rel: Relation) -> float | None:
        """estimate mode's count: the planner's movement since the last exact count, or
        one exact count when the statistics say the planner missed a change. None for a
        table never analyzed: the caller counts exactly (a recount too)."""
        estimate = rel.planned
        if estimate is None:
            self.anchor = None
            self.recounts += 1
            return None
        reading = Reading(estimate, rel.live, rel.inserted, rel.deleted, rel.standby,
                          time.monotonic())
        if rel.standby and not self._standby_logged:
            self._standby_logged = True
            log.warning("count: estimate on a standby, whose statistics never move: the "
                        "planner's estimate, counted exactly at most every "
                        f"{self.policy.standby_seconds:.0f} s", extra={"store": self.name})
        anchor = self.anchor[1] if self.anchor and self.anchor[0] == rel.oid else None
        decision = self.policy.decide(anchor, reading)
        if decision.recount is None:
            self.anchor = None if decision.anchor is None else (rel.oid, decision.anchor)
            return decision.value
        fallback = estimate if anchor is None else self.policy.projected(anchor, reading)
        if reading.at < self._recount_retry_at:
            return fallback  # the last recount did not finish: not on every scrape
        start = time.monotonic()
        total = self._recount(cur)
        if total is None:
            self._recount_retry_at = reading.at + RECOUNT_RETRY_SECONDS
            log.warning("estimate recount did not finish within its share of the timeout: "
                        "reporting the estimate, next try in "
                        f"{RECOUNT_RETRY_SECONDS:.0f} s", extra={
                            "store": self.name, "reason": decision.recount,
                            "seconds": round(time.monotonic() - start, 3)})
            return fallback
        self.recounts += 1
        self.anchor = (rel.oid, self.policy.anchor(total, reading))
        log.info("estimate recounted", extra={
            "store": self.name, "reason": decision.recount, "estimate": estimate,
            "count": total, "seconds": round(time.monotonic() - start, 3)})
        return total

    def _recount(self, cur: psycopg.Cursor[Any]) -> float | None:
        """One exact count, sequential (INDEX_SCANS off), within its share of the timeout."""
        return self.within_share(cur, lambda: self.count_exact(cur), INDEX_SCANS)

    def within_share(self, cur: psycopg.Cursor[Any], run: Callable[[], T],
                     off: tuple[str, ...] = ()) -> T | None:
        """run() in a savepoint, under RECOUNT_SHARE of the store's timeout (the rest is the
        collection's), with the settings `off` off; None when it did not finish (slow, or a
        lock held on the table): the collection goes on without it instead of failing."""
        full = max(1, int(self.timeout * 1000))
        cur.execute("SAVEPOINT memwatch_share")
        cur.execute(f"SET LOCAL statement_timeout = {max(1, int(full * RECOUNT_SHARE))}")
        for setting in off:
            cur.execute(f"SET LOCAL {setting} = off")
        try:
            out = run()
        except (pgerr.QueryCanceled, pgerr.LockNotAvailable):
            cur.execute("ROLLBACK TO SAVEPOINT memwatch_share")  # undoes the SETs too
            return None
        cur.execute("RELEASE SAVEPOINT memwatch_share")
        cur.execute(f"SET LOCAL statement_timeout = {full}")
        for setting in off:
            cur.execute(f"SET LOCAL {setting} TO DEFAULT")
        return out

    def report_recounts(self, obs: Observation, estimating: bool) -> None:
        if estimating:
            obs.add(metrics.RECOUNTS.name, self.recounts)


def _cancel(conn: psycopg.Connection[Any]) -> None:
    with contextlib.suppress(Exception):  # best effort: the server may be gone
        conn.cancel_safe(timeout=1.0)


class SqlPostgresBackend(PostgresBackend):
    def __init__(self, store: SqlStore) -> None:
        super().__init__(store.postgres_source(), store.timeout, store.name,
                         store.recount_bound)
        self.store = store
        self.sql = SqlBuilder(store, "postgresql")

    def count_exact(self, cur: psycopg.Cursor[Any]) -> float:
        q = self.sql.count()
        cur.execute(q.sql, q.params)
        row = cur.fetchone()
        return float(row[0]) if row else 0.0

    def query(self, cur: psycopg.Cursor[Any]) -> Observation:
        s = self.store
        schema = s.schema_ or "public"
        rel = self.relation(cur, schema, s.table)
        if rel is None:
            raise CollectionError("schema", f"table {schema}.{s.table} does not exist")
        estimating = s.count == "estimate"
        total = self.estimated_total(cur, rel) if estimating else None
        if total is None:
            total = self.count_exact(cur)
        obs = Observation(memories=total, size_bytes=float(rel.total_bytes))
        self.report_recounts(obs, estimating)
        if (nq := self.sql.namespaces(s.max_namespaces, self.watch)) is not None:
            cur.execute(nq.sql, nq.params)
            rows = cur.fetchall()
            top = [(ns, float(n)) for w, ns, n in rows if not w]
            obs.namespaces = cap_namespaces(top, total, s.max_namespaces)
            obs.namespace_counts = {str(ns): float(n) for w, ns, n in rows if w}
        if (tq := self.sql.newest()) is not None:
            cur.execute(tq.sql, tq.params)
            row = cur.fetchone()
            obs.newest_timestamp = None if not row or row[0] is None else float(row[0])
        return obs
