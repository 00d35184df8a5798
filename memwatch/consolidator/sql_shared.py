"""What the SQLite and PostgreSQL repositories share: the alerts query
builder and the row -> record mapping (the dialects differ only in the placeholder)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from memwatch.consolidator.repository import (
    ALERT_COLUMNS,
    ARCHIVE_COLUMNS,
    AlertAggregate,
    AlertRecord,
    fold,
)


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


Query = Callable[[str, Sequence[Any]], list[Any]]


def prune_alerts(q: Query, ph: str, before: str, *, alerts: str, archive: str,
                 days: str) -> int:
    """Inside the caller's transaction: fold the prunable alerts into `archive` and delete
    them (see Repository.prune_alerts)."""
    last = q(f"SELECT max(day) FROM {days}", [])[0][0]
    if last is None:
        return 0
    limit = f"{last}T99"  # after every time of the last consolidated day
    rows = q(f"SELECT {', '.join(ALERT_COLUMNS)} FROM {alerts} WHERE starts_at < {ph} "
             f"AND starts_at < {ph} AND resolved_at IS NOT NULL AND resolved_at < {ph} "
             "ORDER BY starts_at, fingerprint", [before, limit, limit])
    if not rows:
        return 0
    records = [alert_from_row(r) for r in rows]
    cols = ", ".join(ARCHIVE_COLUMNS)
    for key, agg in sorted(fold(records).items()):
        kept = q(f"SELECT {cols} FROM {archive} WHERE alertname = {ph} AND store = {ph} "
                 f"AND labels = {ph}", list(key))
        if kept:
            merged = AlertAggregate.from_row(kept[0])
            merged.merge(agg)
            agg = merged
        updates = ", ".join(f"{c} = excluded.{c}" for c in ARCHIVE_COLUMNS[3:])
        q(f"INSERT INTO {archive} ({cols}) VALUES ({', '.join([ph] * len(ARCHIVE_COLUMNS))}) "
          f"ON CONFLICT (alertname, store, labels) DO UPDATE SET {updates}", agg.row())
    for a in records:
        q(f"DELETE FROM {alerts} WHERE fingerprint = {ph} AND starts_at = {ph}",
          [a.fingerprint, a.starts_at])
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
