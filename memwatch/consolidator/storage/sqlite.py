"""The SQLite repository: one embedded file in WAL mode, the consolidator's default."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

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
from memwatch.consolidator.storage.sql import (
    SQLITE,
    GroupCommit,
    Query,
    Tables,
    alert_from_row,
    archive_table_sql,
    select_alerts,
)
from memwatch.consolidator.storage.stats import series_from_stats

T = TypeVar("T")
TABLES = Tables(alerts="alerts", archive="alert_archive", days="consolidated_days",
                stats="alert_stats", daily="daily", late="late_days")

SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
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
CREATE INDEX IF NOT EXISTS alerts_name_store ON alerts (alertname, store, starts_at);
CREATE INDEX IF NOT EXISTS alerts_resolved ON alerts (resolved_at, starts_at);
CREATE TABLE IF NOT EXISTS daily (
    store TEXT NOT NULL,
    day TEXT NOT NULL,
    fired TEXT NOT NULL,
    alert_seconds REAL NOT NULL,
    count_min REAL,
    count_max REAL,
    count_mean REAL,
    count_last REAL,
    net_change REAL,
    largest_drop REAL,
    uptime_ratio REAL,
    snapshots INTEGER NOT NULL,
    gaps INTEGER NOT NULL,
    PRIMARY KEY (store, day)
);
CREATE TABLE IF NOT EXISTS consolidated_days (day TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS late_days (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    lo TEXT NOT NULL,
    hi TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS responses (
    response TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at TEXT NOT NULL,
    alertname TEXT NOT NULL,
    store TEXT NOT NULL,
    at TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
    store TEXT NOT NULL,
    at TEXT NOT NULL,
    count REAL,
    drop_ratio REAL,
    up REAL,
    newest_seconds REAL,
    backlog REAL,
    error TEXT,
    PRIMARY KEY (store, at)
);
""" + archive_table_sql("alert_archive", "INTEGER")


class SqliteRepository:
    """One connection guarded by a lock: SQLite serializes writers anyway, and a single
    connection keeps each batch in one transaction. synchronous=FULL makes a commit durable
    before the HTTP answer is sent."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._revision = 0
        self._group = GroupCommit(self.ingest_batch)
        self._write(lambda q: shared.ensure_stats(q, SQLITE, TABLES), lambda _: False)

    def _write(self, work: Callable[[Query], T], changes: Callable[[T], bool]) -> T:
        """`work` in one transaction (BEGIN IMMEDIATE: the writer lock from the start); the
        revision moves on when `changes` says the result changed something."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                out = work(lambda sql, args: self._db.execute(sql, args).fetchall())
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if changes(out):
                self._revision += 1
        return out

    def ingest(self, alerts: list[AlertRecord]) -> IngestResult:
        return self._group.ingest(alerts)

    def ingest_batch(self, deliveries: list[list[AlertRecord]]
                     ) -> list[IngestResult | Exception]:
        return self._write(lambda q: shared.ingest_each(q, SQLITE, TABLES, deliveries),
                           lambda results: any(isinstance(r, IngestResult) and
                                               (r.stored or r.resolved) for r in results))

    def alerts(self, *, alertname: str | None = None, store: str | None = None
               ) -> list[AlertRecord]:
        sql, args = select_alerts("alerts", "?", alertname, store)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [alert_from_row(r) for r in rows]

    def count_alerts(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM alerts").fetchone()[0])

    def recent_alerts(self, since: str, limit: int) -> RecentAlerts:
        with self._lock:
            return shared.recent_alerts(self._read_q, SQLITE, TABLES, since, limit)

    def alert_series(self) -> list[AlertAggregate]:
        with self._lock:
            rows = shared.select_series(
                lambda sql, args: self._db.execute(sql, args).fetchall(), SQLITE, TABLES.stats)
        return series_from_stats(rows)

    def revision(self) -> int:
        """Counted in this process: one consolidator writes a SQLite file."""
        return self._revision

    def save_days(self, rows: list[DailyRow], days: list[str],
                  settled: Sequence[LateDays] = ()) -> None:
        self._write(lambda q: shared.save_days(q, SQLITE, TABLES, rows, days, settled),
                    lambda _: True)

    def late_days(self) -> list[LateDays]:
        with self._lock:
            return shared.select_late(self._read_q, TABLES)

    def daily(self, store: str | None = None) -> list[DailyRow]:
        with self._lock:
            return shared.daily_rows(self._read_q, SQLITE, TABLES, store)

    def _read_q(self, sql: str, args: Sequence[Any]) -> list[Any]:
        """A read on the connection (the caller holds the lock)."""
        return self._db.execute(sql, args).fetchall()

    def last_day(self) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT max(day) FROM consolidated_days").fetchone()
        return None if row[0] is None else str(row[0])

    def save_snapshots(self, rows: list[Snapshot]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT OR REPLACE INTO snapshots ({', '.join(SNAPSHOT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(SNAPSHOT_COLUMNS))})",
                    [tuple(getattr(r, c) for c in SNAPSHOT_COLUMNS) for r in rows])
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def snapshots(self, store: str | None = None, since: str | None = None
                  ) -> list[Snapshot]:
        sql = f"SELECT {', '.join(SNAPSHOT_COLUMNS)} FROM snapshots"
        args = [] if store is None else [store]
        if store is not None:
            sql += " WHERE store = ?"
        if since is not None:
            sql += (" AND" if args else " WHERE") + " at >= ?"
            args.append(since)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY at, store", args).fetchall()
        return [Snapshot(*r) for r in rows]

    def prune_snapshots(self, before: str) -> int:
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM snapshots WHERE at < ? AND substr(at, 1, 10) <= "
                "(SELECT max(day) FROM consolidated_days)", (before,))
            return int(cur.rowcount)

    def prune_alerts(self, before: str) -> int:
        return self._write(lambda q: shared.prune_alerts(q, SQLITE, TABLES, before),
                           lambda pruned: pruned > 0)

    def alert_archive(self) -> list[AlertAggregate]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(ARCHIVE_COLUMNS)} FROM alert_archive "
                                    "ORDER BY alertname, store, labels").fetchall()
        return [AlertAggregate.from_row(r) for r in rows]

    def record_response(self, run: ResponseRun) -> None:
        with self._lock:
            self._db.execute(f"INSERT INTO responses ({', '.join(RUN_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(RUN_COLUMNS))})",
                             tuple(getattr(run, c) for c in RUN_COLUMNS))

    def responses(self) -> list[ResponseRun]:
        with self._lock:
            rows = self._db.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM responses "
                                    "ORDER BY at, rowid").fetchall()
        return [ResponseRun(*r) for r in rows]

    def describe(self) -> StorageInfo:
        with self._lock:
            alerts = int(self._db.execute("SELECT count(*) FROM alerts").fetchone()[0])
            daily = int(self._db.execute("SELECT count(*) FROM daily").fetchone()[0])
            last = self._db.execute("SELECT max(day) FROM consolidated_days").fetchone()[0]
            mode = str(self._db.execute("PRAGMA journal_mode").fetchone()[0])
        size = sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal"))
                   if p.exists())
        return StorageInfo(backend="sqlite", location=str(self.path), journal_mode=mode,
                           alerts=alerts, daily_rows=daily, last_day=last, size_bytes=size)

    def ping(self) -> bool:
        try:
            with self._lock:
                self._db.execute("SELECT 1").fetchone()
        except sqlite3.Error:
            return False
        return True

    def close(self) -> None:
        with self._lock:
            self._db.close()
