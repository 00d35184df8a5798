"""What the SQLite and PostgreSQL repositories share: column lists, the alerts query
builder and the row -> record mapping (the dialects differ only in the placeholder)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from memwatch.consolidator.repository import AlertRecord

ALERT_COLUMNS = ("fingerprint", "starts_at", "alertname", "store", "severity", "labels",
                 "annotations", "generator_url", "received_at", "resolved_at")
DAILY_COLUMNS = ("store", "day", "fired", "alert_seconds", "count_min", "count_max",
                 "count_mean", "count_last", "net_change", "largest_drop", "uptime_ratio",
                 "snapshots", "gaps")
RUN_COLUMNS = ("response", "fingerprint", "starts_at", "alertname", "store", "at", "outcome",
               "detail")


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
