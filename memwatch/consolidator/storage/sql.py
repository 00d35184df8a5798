"""What the SQLite and PostgreSQL repositories share: the SQL of ingest, of the alert stats
and of alert retention, the alerts query builder and the row -> record mapping (the
dialects differ in the placeholder and a few function names)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memwatch.consolidator.records import (
    ALERT_COLUMNS,
    ARCHIVE_COLUMNS,
    DAILY_COLUMNS,
    AlertAggregate,
    AlertRecord,
    DailyRow,
    IngestResult,
    LateDays,
    RecentAlerts,
    fold,
    labels_text,
    late_days,
)
from memwatch.consolidator.storage.stats import STATS_COLUMNS, StatsDelta, StatsKey

Query = Callable[[str, Sequence[Any]], list[Any]]  # runs a statement, returns its rows


@dataclass(frozen=True)
class Dialect:
    ph: str  # the placeholder
    least: str  # the smaller of two values
    greatest: str
    join_days: str  # an aggregate joining a group's `day` values with ","
    bigint: str
    table_exists: str  # a row when the table named by the one parameter exists


SQLITE = Dialect("?", "min", "max", "group_concat(day, ',')", "INTEGER",
                 "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?")
POSTGRES = Dialect("%s", "LEAST", "GREATEST", "string_agg(day, ',')", "BIGINT",
                   "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
                   "AND tablename = %s")


@dataclass(frozen=True)
class Tables:
    alerts: str
    archive: str
    days: str  # the consolidated days
    stats: str
    daily: str
    late: str  # the notes of late days (LateDays)


def select_alerts(table: str, placeholder: str, alertname: str | None,
                  store: str | None) -> tuple[str, list[Any]]:
    where, args = [], []
    if alertname is not None:
        where.append(f"alertname = {placeholder}")
        args.append(alertname)
    if store is not None:
        where.append(f"store = {placeholder}")
        args.append(store)
    sql = f"SELECT {', '.join(ALERT_COLUMNS)} FROM {table}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + " ORDER BY starts_at, fingerprint", args


def alert_from_row(r: Sequence[Any]) -> AlertRecord:
    return AlertRecord(
        fingerprint=r[0], starts_at=r[1], alertname=r[2], store=r[3], severity=r[4],
        labels=json.loads(r[5]), annotations=json.loads(r[6]), generator_url=r[7],
        received_at=r[8], resolved_at=r[9])


def recent_alerts(q: Query, d: Dialect, t: Tables, since: str, limit: int) -> RecentAlerts:
    """Repository.recent_alerts: four reads on the (resolved_at, starts_at) index."""
    cols, ph = ", ".join(ALERT_COLUMNS), d.ph
    firing = q(f"SELECT {cols} FROM {t.alerts} WHERE resolved_at IS NULL "
               f"ORDER BY starts_at DESC, fingerprint DESC LIMIT {ph}", [limit])
    resolved = q(f"SELECT {cols} FROM {t.alerts} WHERE resolved_at >= {ph} "
                 f"ORDER BY resolved_at DESC, fingerprint DESC LIMIT {ph}", [since, limit])
    stores = q(f"SELECT store, count(*), min(starts_at) FROM {t.alerts} "
               "WHERE resolved_at IS NULL GROUP BY store", [])
    [(total,)] = q(f"SELECT count(*) FROM {t.alerts} WHERE resolved_at >= {ph}", [since])
    return RecentAlerts(firing=[alert_from_row(r) for r in firing],
                        resolved=[alert_from_row(r) for r in resolved],
                        firing_stores={str(s): (int(n), str(first)) for s, n, first in stores},
                        resolved_total=int(total))


# -- ingest ------------------------------------------------------------------------------

def ingest(q: Query, d: Dialect, t: Tables, alerts: list[AlertRecord]) -> IngestResult:
    """Inside the caller's transaction: store the new occurrences, record resolutions once,
    and bring the stats up to date."""
    delta, changed = StatsDelta(), Changed()
    result = _store(q, d, t, alerts, delta, changed)
    apply_stats(q, d, t.stats, delta)
    note_late(q, d, t, changed)
    return result


Changed = list[tuple[AlertRecord, bool]]  # (record, stored new) as late_days reads them


def _store(q: Query, d: Dialect, t: Tables, alerts: list[AlertRecord],
           delta: StatsDelta, changed: Changed) -> IngestResult:
    """The occurrences and resolutions of `alerts`; their stats changes added to `delta`,
    what they changed to `changed`."""
    result = IngestResult()
    insert = (f"INSERT INTO {t.alerts} ({', '.join(ALERT_COLUMNS)}) VALUES "
              f"({', '.join([d.ph] * len(ALERT_COLUMNS))}) ON CONFLICT DO NOTHING "
              "RETURNING fingerprint")
    resolve = (f"UPDATE {t.alerts} SET resolved_at = {d.ph} WHERE fingerprint = {d.ph} AND "
               f"starts_at = {d.ph} AND resolved_at IS NULL "
               "RETURNING alertname, store, labels, severity")
    for a in alerts:
        if q(insert, (a.fingerprint, a.starts_at, a.alertname, a.store, a.severity,
                      labels_text(a.labels), json.dumps(a.annotations, sort_keys=True),
                      a.generator_url, a.received_at, a.resolved_at)):
            delta.occurrence(a)
            changed.append((a, True))
            result.stored += 1
            result.resolved += a.resolved_at is not None
            if a.resolved_at is None:
                result.new_firing.append(a)
            continue
        if a.resolved_at is not None:
            stored = q(resolve, (a.resolved_at, a.fingerprint, a.starts_at))
            if stored:
                delta.resolution(tuple(stored[0]), a.starts_at, a.resolved_at)
                changed.append((a, False))
                result.resolved += 1
                continue
        result.duplicates += 1
    return result


def ingest_each(q: Query, d: Dialect, t: Tables, deliveries: list[list[AlertRecord]]
                ) -> list[IngestResult | Exception]:
    """Inside the caller's transaction: each delivery all or nothing, its result (or its
    exception) in its place, so one that fails leaves the others to be committed.

    First all of them in one savepoint with their stats changes summed (one statement an
    alert, one upsert a stats row: the common case, and what keeps a batch of 100 cheap);
    if any fails, that is rolled back and each delivery goes in a savepoint of its own."""
    if len(deliveries) > 1:
        q("SAVEPOINT batch", [])
        try:
            delta, changed = StatsDelta(), Changed()
            out: list[IngestResult | Exception] = [
                _store(q, d, t, alerts, delta, changed) for alerts in deliveries]
            apply_stats(q, d, t.stats, delta)
            note_late(q, d, t, changed)
        except Exception:
            q("ROLLBACK TO SAVEPOINT batch", [])
            q("RELEASE SAVEPOINT batch", [])
        else:
            q("RELEASE SAVEPOINT batch", [])
            return out
    out = []
    for alerts in deliveries:
        q("SAVEPOINT delivery", [])
        try:
            out.append(ingest(q, d, t, alerts))
        except Exception as exc:
            q("ROLLBACK TO SAVEPOINT delivery", [])
            out.append(exc)
        q("RELEASE SAVEPOINT delivery", [])
    return out


def note_late(q: Query, d: Dialect, t: Tables, changed: Changed) -> None:
    """In the write's transaction: the days these changes alter that may be consolidated
    already, noted for the scheduler (one row a write, none in the common case)."""
    late = late_days(changed)
    if late is not None:
        q(f"INSERT INTO {t.late} (lo, hi) VALUES ({d.ph}, {d.ph})", (late.lo, late.hi))


def select_late(q: Query, t: Tables) -> list[LateDays]:
    return [LateDays(lo, hi, int(mark))
            for mark, lo, hi in q(f"SELECT id, lo, hi FROM {t.late} ORDER BY id", [])]


def save_days(q: Query, d: Dialect, t: Tables, rows: list[DailyRow], days: list[str],
              settled: Sequence[LateDays]) -> None:
    """Inside the caller's transaction: the days' rows replaced, the days marked
    consolidated and the settled notes of late days dropped."""
    for day in days:
        q(f"DELETE FROM {t.daily} WHERE day = {d.ph}", (day,))
        q(f"INSERT INTO {t.days} VALUES ({d.ph}) ON CONFLICT DO NOTHING", (day,))
    insert = (f"INSERT INTO {t.daily} ({', '.join(DAILY_COLUMNS)}) "
              f"VALUES ({', '.join([d.ph] * len(DAILY_COLUMNS))})")
    for r in rows:
        q(insert, tuple(json.dumps(r.fired, sort_keys=True) if c == "fired"
                        else getattr(r, c) for c in DAILY_COLUMNS))
    for late in settled:
        q(f"DELETE FROM {t.late} WHERE id = {d.ph}", (late.mark,))


def daily_rows(q: Query, d: Dialect, t: Tables, store: str | None) -> list[DailyRow]:
    sql = f"SELECT {', '.join(DAILY_COLUMNS)} FROM {t.daily}"
    args = [] if store is None else [store]
    if store is not None:
        sql += f" WHERE store = {d.ph}"
    return [DailyRow(**{c: json.loads(v) if c == "fired" else v
                        for c, v in zip(DAILY_COLUMNS, r, strict=True)})
            for r in q(sql + " ORDER BY day, store", args)]


@dataclass
class _Waiting:
    alerts: list[AlertRecord]
    result: IngestResult | BaseException | None = None


class GroupCommit:
    """Deliveries that arrive while another is being committed wait, then go in one
    transaction together (one fsync for all; `write` gives each its own savepoint), and
    each caller returns after the commit that holds its delivery, or raises its error."""

    def __init__(self, write: Callable[[list[list[AlertRecord]]],
                                       list[IngestResult | Exception]]) -> None:
        self._write = write
        self._queue: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()

    def ingest(self, alerts: list[AlertRecord]) -> IngestResult:
        me = _Waiting(alerts)
        with self._queue_lock:
            self._queue.append(me)
        with self._writer:
            if me.result is None:  # not taken by the previous writer: take all waiting
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    results: list[IngestResult | BaseException] = [
                        *self._write([w.alerts for w in batch])]
                except BaseException as exc:  # the transaction failed: every delivery did
                    results = [exc] * len(batch)
                for w, r in zip(batch, results, strict=True):
                    w.result = r
        if isinstance(me.result, BaseException):
            raise me.result
        assert me.result is not None
        return me.result


# -- the alert stats ---------------------------------------------------------------------

def stats_table_sql(table: str, bigint: str) -> str:
    return f"""
CREATE TABLE {table} (
    alertname TEXT NOT NULL,
    store TEXT NOT NULL,
    labels TEXT NOT NULL,
    severity TEXT NOT NULL,
    day TEXT NOT NULL,
    occurrences {bigint} NOT NULL,
    resolved {bigint} NOT NULL,
    duration_us {bigint} NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    PRIMARY KEY (alertname, store, labels, severity, day)
)"""


def ensure_stats(q: Query, d: Dialect, t: Tables) -> None:
    """Inside the caller's transaction: create the stats table if missing, from the alerts
    already stored (a database written before the stats existed)."""
    if q(d.table_exists, [t.stats]):
        return
    q(stats_table_sql(t.stats, d.bigint), [])
    delta = StatsDelta()
    for r in q(f"SELECT {', '.join(ALERT_COLUMNS)} FROM {t.alerts}", []):
        delta.occurrence(alert_from_row(r))
    apply_stats(q, d, t.stats, delta)


def apply_stats(q: Query, d: Dialect, table: str, delta: StatsDelta) -> None:
    """Add the delta's sums to the stats rows; rows left without an occurrence go."""
    rows = delta.rows()
    if not rows:
        return
    cols = ", ".join(STATS_COLUMNS)
    upsert = (
        f"INSERT INTO {table} ({cols}) VALUES ({', '.join([d.ph] * len(STATS_COLUMNS))}) "
        f"ON CONFLICT ({', '.join(STATS_COLUMNS[:5])}) DO UPDATE SET "
        + ", ".join(f"{c} = {table}.{c} + excluded.{c}" for c in STATS_COLUMNS[5:8])
        + f", first_seen = {d.least}({table}.first_seen, excluded.first_seen)"
        f", last_seen = {d.greatest}({table}.last_seen, excluded.last_seen)")
    for row in rows:
        q(upsert, row)
    if any(r[5] < 0 for r in rows):
        q(f"DELETE FROM {table} WHERE occurrences <= 0", [])


def select_series(q: Query, d: Dialect, table: str) -> list[Any]:
    """The stats summed per series and severity, in the rows `series_from_stats` takes."""
    return q(f"SELECT alertname, store, labels, severity, {d.join_days}, sum(occurrences), "
             f"sum(resolved), sum(duration_us), min(first_seen), max(last_seen) FROM {table} "
             "GROUP BY alertname, store, labels, severity", [])


def _rebound(q: Query, d: Dialect, t: Tables, keys: list[StatsKey]) -> None:
    """Recompute first and last seen of these stats rows from the alerts they count."""
    ph = d.ph
    for name, store, labels, severity, day in keys:
        [(first, last)] = q(
            f"SELECT min(starts_at), max(starts_at) FROM {t.alerts} WHERE alertname = {ph} "
            f"AND store = {ph} AND labels = {ph} AND severity = {ph} AND starts_at >= {ph} "
            f"AND starts_at < {ph}", [name, store, labels, severity, day, f"{day}T99"])
        if first is not None:  # else the row went with its last occurrence
            q(f"UPDATE {t.stats} SET first_seen = {ph}, last_seen = {ph} WHERE "
              + " AND ".join(f"{c} = {ph}" for c in STATS_COLUMNS[:5]),
              [first, last, name, store, labels, severity, day])


# -- alert retention ---------------------------------------------------------------------

def prune_alerts(q: Query, d: Dialect, t: Tables, before: str) -> int:
    """Inside the caller's transaction: fold the prunable alerts into the archive, delete
    them and take them out of the stats (see Repository.prune_alerts)."""
    ph = d.ph
    last = q(f"SELECT max(day) FROM {t.days}", [])[0][0]
    if last is None:
        return 0
    limit = f"{last}T99"  # after every time of the last consolidated day
    rows = q(f"SELECT {', '.join(ALERT_COLUMNS)} FROM {t.alerts} WHERE starts_at < {ph} "
             f"AND starts_at < {ph} AND resolved_at IS NOT NULL AND resolved_at < {ph} "
             "ORDER BY starts_at, fingerprint", [before, limit, limit])
    if not rows:
        return 0
    records = [alert_from_row(r) for r in rows]
    cols = ", ".join(ARCHIVE_COLUMNS)
    for key, agg in sorted(fold(records).items()):
        kept = q(f"SELECT {cols} FROM {t.archive} WHERE alertname = {ph} AND store = {ph} "
                 f"AND labels = {ph}", list(key))
        if kept:
            merged = AlertAggregate.from_row(kept[0])
            merged.merge(agg)
            agg = merged
        updates = ", ".join(f"{c} = excluded.{c}" for c in ARCHIVE_COLUMNS[3:])
        q(f"INSERT INTO {t.archive} ({cols}) VALUES ({', '.join([ph] * len(ARCHIVE_COLUMNS))}) "
          f"ON CONFLICT (alertname, store, labels) DO UPDATE SET {updates}", agg.row())
    delta = StatsDelta()
    for a in records:
        q(f"DELETE FROM {t.alerts} WHERE fingerprint = {ph} AND starts_at = {ph}",
          [a.fingerprint, a.starts_at])
        delta.occurrence(a, sign=-1)
    apply_stats(q, d, t.stats, delta)
    _rebound(q, d, t, delta.keys())
    return len(records)


def archive_table_sql(table: str, bigint: str) -> str:
    return f"""
CREATE TABLE IF NOT EXISTS {table} (
    alertname TEXT NOT NULL,
    store TEXT NOT NULL,
    labels TEXT NOT NULL,
    occurrences {bigint} NOT NULL,
    days TEXT NOT NULL,
    resolved {bigint} NOT NULL,
    duration_us {bigint} NOT NULL,
    first_seen TEXT,
    last_seen TEXT,
    severities TEXT NOT NULL,
    PRIMARY KEY (alertname, store, labels)
);
"""
