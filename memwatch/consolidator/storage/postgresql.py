"""The PostgreSQL repository: for several consolidators sharing one history.

Idempotence comes from the primary keys and `ON CONFLICT`, so two consolidators receiving
the same delivery (an Alertmanager HA pair sends to both) store it once. One connection
guarded by a lock; a broken connection is replaced on the next call.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg

from memwatch.consolidator.records import (
    ARCHIVE_COLUMNS,
    RUN_COLUMNS,
    SNAPSHOT_COLUMNS,
    AlertAggregate,
    AlertRecord,
    DailyRow,
    IngestResult,
    LateDays,
    RecentAlerts,
    ResponseRun,
    Snapshot,
)
from memwatch.consolidator.storage import sql as shared
from memwatch.consolidator.storage.base import StorageInfo
from memwatch.consolidator.storage.revision import SharedRevision
from memwatch.consolidator.storage.sql import (
    POSTGRES,
    GroupCommit,
    Query,
    Tables,
    alert_from_row,
    archive_table_sql,
    select_alerts,
)
from memwatch.consolidator.storage.stats import series_from_stats

T = TypeVar("T")
TABLES = Tables(alerts="consolidator_alerts", archive="consolidator_alert_archive",
                days="consolidator_days", stats="consolidator_alert_stats",
                daily="consolidator_daily", late="consolidator_late_days")

SCHEMA = """
CREATE TABLE IF NOT EXISTS consolidator_alerts (
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    alertname TEXT NOT NULL,
    store TEXT NOT NULL,
    severity TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    generator_url TEXT NOT NULL,
    received_at TEXT NOT NULL,
    resolved_at TEXT,
    PRIMARY KEY (fingerprint, starts_at)
);
CREATE INDEX IF NOT EXISTS consolidator_alerts_name_store
    ON consolidator_alerts (alertname, store, starts_at);
CREATE INDEX IF NOT EXISTS consolidator_alerts_resolved
    ON consolidator_alerts (resolved_at, starts_at);
CREATE TABLE IF NOT EXISTS consolidator_daily (
    store TEXT NOT NULL,
    day TEXT NOT NULL,
    fired TEXT NOT NULL,
    alert_seconds DOUBLE PRECISION NOT NULL,
    count_min DOUBLE PRECISION,
    count_max DOUBLE PRECISION,
    count_mean DOUBLE PRECISION,
    count_last DOUBLE PRECISION,
    net_change DOUBLE PRECISION,
    largest_drop DOUBLE PRECISION,
    uptime_ratio DOUBLE PRECISION,
    snapshots INTEGER NOT NULL,
    gaps INTEGER NOT NULL,
    PRIMARY KEY (store, day)
);
CREATE TABLE IF NOT EXISTS consolidator_days (day TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS consolidator_late_days (
    id BIGSERIAL PRIMARY KEY,
    lo TEXT NOT NULL,
    hi TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consolidator_responses (
    id BIGSERIAL PRIMARY KEY,
    response TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    alertname TEXT NOT NULL,
    store TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS consolidator_snapshots (
    store TEXT NOT NULL,
    at TEXT NOT NULL,
    count DOUBLE PRECISION,
    drop_ratio DOUBLE PRECISION,
    up DOUBLE PRECISION,
    newest_seconds DOUBLE PRECISION,
    backlog DOUBLE PRECISION,
    error TEXT,
    PRIMARY KEY (store, at)
);
CREATE TABLE IF NOT EXISTS consolidator_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    n BIGINT NOT NULL
);
INSERT INTO consolidator_revision VALUES (1, 0) ON CONFLICT DO NOTHING;
""" + archive_table_sql("consolidator_alert_archive", "BIGINT")


def _placeholders(n: int) -> str:
    return ", ".join(["%s"] * n)


class PostgresRepository:
    def __init__(self, dsn: str, connect_timeout: float = 5.0) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._group = GroupCommit(self.ingest_batch)
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                # one creator at a time when several consolidators start together
                conn.execute("SELECT pg_advisory_xact_lock(918801)")
                conn.execute(SCHEMA)
                shared.ensure_stats(self._q(conn), POSTGRES, TABLES)
        self._revision = SharedRevision(self._read_revision)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self._dsn, autocommit=True,
                                         connect_timeout=max(1, int(self._timeout)),
                                         application_name="memwatch-consolidator")
        return self._conn

    def _run(self, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """`work` in one transaction; committed when this returns."""
        with self._lock:
            conn = self._connection()
            with conn.transaction():
                return work(conn)

    def _q(self, conn: psycopg.Connection[Any]) -> Query:
        def q(sql: str, args: Sequence[Any]) -> list[Any]:
            cur = conn.execute(sql, args)
            return cur.fetchall() if cur.description else []
        return q

    def _bump(self, conn: psycopg.Connection[Any], bumped: list[int]) -> None:
        """In the write's transaction, so that other consolidators see the change and the
        new revision together; `bumped` gets the value, taken as seen after the commit."""
        row = conn.execute("UPDATE consolidator_revision SET n = n + 1 WHERE id = 1 "
                           "RETURNING n").fetchone()
        bumped.append(int(row[0]) if row else 0)

    def _write(self, work: Callable[[psycopg.Connection[Any], list[int]], T]) -> T:
        bumped: list[int] = []
        out = self._run(lambda conn: work(conn, bumped))
        for n in bumped:
            self._revision.seen(n)
        return out

    def ingest(self, alerts: list[AlertRecord]) -> IngestResult:
        return self._group.ingest(alerts)

    def ingest_batch(self, deliveries: list[list[AlertRecord]]
                     ) -> list[IngestResult | Exception]:
        def work(conn: psycopg.Connection[Any], bumped: list[int]
                 ) -> list[IngestResult | Exception]:
            results = shared.ingest_each(self._q(conn), POSTGRES, TABLES, deliveries)
            if any(isinstance(r, IngestResult) and (r.stored or r.resolved) for r in results):
                self._bump(conn, bumped)
            return results
        return self._write(work)

    def alerts(self, *, alertname: str | None = None, store: str | None = None
               ) -> list[AlertRecord]:
        sql, args = select_alerts("consolidator_alerts", "%s", alertname, store)
        rows = self._run(lambda c: c.execute(sql, args).fetchall())
        return [alert_from_row(r) for r in rows]

    def count_alerts(self) -> int:
        row = self._run(lambda c: c.execute(
            "SELECT count(*) FROM consolidator_alerts").fetchone())
        return int(row[0]) if row else 0

    def recent_alerts(self, since: str, limit: int) -> RecentAlerts:
        return self._run(lambda c: shared.recent_alerts(self._q(c), POSTGRES, TABLES,
                                                            since, limit))

    def alert_series(self) -> list[AlertAggregate]:
        rows = self._run(lambda c: shared.select_series(self._q(c), POSTGRES, TABLES.stats))
        return series_from_stats(rows)

    def _read_revision(self) -> int:
        row = self._run(lambda c: c.execute(
            "SELECT n FROM consolidator_revision WHERE id = 1").fetchone())
        return int(row[0]) if row else 0

    def revision(self) -> int:
        return self._revision.value()

    def save_days(self, rows: list[DailyRow], days: list[str],
                  settled: Sequence[LateDays] = ()) -> None:
        def work(conn: psycopg.Connection[Any], bumped: list[int]) -> None:
            shared.save_days(self._q(conn), POSTGRES, TABLES, rows, days, settled)
            self._bump(conn, bumped)
        self._write(work)

    def late_days(self) -> list[LateDays]:
        return self._run(lambda c: shared.select_late(self._q(c), TABLES))

    def daily(self, store: str | None = None) -> list[DailyRow]:
        return self._run(lambda c: shared.daily_rows(self._q(c), POSTGRES, TABLES, store))

    def last_day(self) -> str | None:
        row = self._run(lambda c: c.execute(
            "SELECT max(day) FROM consolidator_days").fetchone())
        return None if row is None or row[0] is None else str(row[0])

    def save_snapshots(self, rows: list[Snapshot]) -> None:
        cols = SNAPSHOT_COLUMNS
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols[2:])

        def work(conn: psycopg.Connection[Any]) -> None:
            with conn.cursor() as cur:
                cur.executemany(
                    f"INSERT INTO consolidator_snapshots ({', '.join(cols)}) VALUES "
                    f"({_placeholders(len(cols))}) ON CONFLICT (store, at) DO UPDATE SET "
                    f"{updates}", [tuple(getattr(r, c) for c in cols) for r in rows])
        self._run(work)

    def snapshots(self, store: str | None = None, since: str | None = None
                  ) -> list[Snapshot]:
        sql = f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM consolidator_snapshots"
        args = [] if store is None else [store]
        if store is not None:
            sql += " WHERE store = %s"
        if since is not None:
            sql += (" AND" if args else " WHERE") + " at >= %s"
            args.append(since)
        rows = self._run(lambda c: c.execute(sql + " ORDER BY at, store", args).fetchall())
        return [Snapshot(*r) for r in rows]

    def prune_snapshots(self, before: str) -> int:
        cur = self._run(lambda c: c.execute(
            "DELETE FROM consolidator_snapshots WHERE at < %s AND substr(at, 1, 10) <= "
            "(SELECT max(day) FROM consolidator_days)", (before,)))
        return int(cur.rowcount)

    def prune_alerts(self, before: str) -> int:
        def work(conn: psycopg.Connection[Any], bumped: list[int]) -> int:
            # one pruner at a time when several consolidators share the database
            conn.execute("SELECT pg_advisory_xact_lock(918802)")
            pruned = shared.prune_alerts(self._q(conn), POSTGRES, TABLES, before)
            if pruned:
                self._bump(conn, bumped)
            return pruned
        return self._write(work)

    def alert_archive(self) -> list[AlertAggregate]:
        rows = self._run(lambda c: c.execute(
            f"SELECT {', '.join(ARCHIVE_COLUMNS)} FROM consolidator_alert_archive "
            "ORDER BY alertname, store, labels").fetchall())
        return [AlertAggregate.from_row(r) for r in rows]

    def record_response(self, run: ResponseRun) -> None:
        self._run(lambda c: c.execute(
            f"INSERT INTO consolidator_responses ({', '.join(RUN_COLUMNS)}) VALUES "
            f"({_placeholders(len(RUN_COLUMNS))})", tuple(getattr(run, k) for k in RUN_COLUMNS)))

    def responses(self) -> list[ResponseRun]:
        sql = f"SELECT {', '.join(RUN_COLUMNS)} FROM consolidator_responses ORDER BY at, id"
        rows = self._run(lambda c: c.execute(sql).fetchall())
        return [ResponseRun(*r) for r in rows]

    def describe(self) -> StorageInfo:
        def work(conn: psycopg.Connection[Any]) -> StorageInfo:
            alerts = conn.execute("SELECT count(*) FROM consolidator_alerts").fetchone()
            daily = conn.execute("SELECT count(*) FROM consolidator_daily").fetchone()
            last = conn.execute("SELECT max(day) FROM consolidator_days").fetchone()
            size = conn.execute(
                "SELECT sum(pg_total_relation_size(c)) FROM unnest(ARRAY["
                "'consolidator_alerts', 'consolidator_daily', 'consolidator_days', "
                "'consolidator_snapshots', 'consolidator_alert_archive', "
                "'consolidator_alert_stats']::regclass[]) AS c"
            ).fetchone()
            info = conn.info
            return StorageInfo(
                backend="postgresql", location=f"{info.host}:{info.port}/{info.dbname}",
                journal_mode=None, alerts=int(alerts[0]) if alerts else 0,
                daily_rows=int(daily[0]) if daily else 0,
                last_day=last[0] if last else None,
                size_bytes=int(size[0]) if size and size[0] is not None else 0)
        return self._run(work)

    def ping(self) -> bool:
        try:
            self._run(lambda c: c.execute("SELECT 1").fetchone())
        except psycopg.Error:
            return False
        return True

    def close(self) -> None:
        self._revision.close()
        with self._lock:
            if self._conn is not None:
                self._conn.close()
