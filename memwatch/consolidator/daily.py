"""Daily consolidation of the alert history: per store and UTC day, the alerts fired by
severity and the time spent in alert. Idempotent (a day's row is replaced, never added
twice) and catching up every complete day missed since the last run."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Any

from memwatch.consolidator.records import AlertRecord, DailyRow, Snapshot, parse_iso


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def trend(snapshots: list[Snapshot], store: str, day: date) -> dict[str, Any]:
    """The snapshot columns of one store's day."""
    prefix = day.isoformat()
    mine = sorted((s for s in snapshots if s.store == store and s.at.startswith(prefix)),
                  key=lambda s: s.at)
    taken = [s for s in mine if s.error is None]
    counts = [s.count for s in taken if s.count is not None]
    ups = [s.up for s in taken if s.up is not None]
    out: dict[str, Any] = {"snapshots": len(taken), "gaps": len(mine) - len(taken)}
    if counts:
        out.update(count_min=min(counts), count_max=max(counts),
                   count_mean=sum(counts) / len(counts), count_last=counts[-1],
                   net_change=counts[-1] - counts[0],
                   largest_drop=max([0.0, *(a - b for a, b in pairwise(counts))]))
    if ups:
        out["uptime_ratio"] = sum(1 for u in ups if u >= 1) / len(ups)
    return out


def day_row(alerts: list[AlertRecord], store: str, day: date,
            snapshots: list[Snapshot] | None = None) -> DailyRow:
    """One store's row for one complete UTC day; unresolved alerts count until its end."""
    start, end = _day_bounds(day)
    fired: dict[str, int] = {}
    spans: list[tuple[datetime, datetime]] = []
    for a in alerts:
        if a.store != store:
            continue
        begins = parse_iso(a.starts_at)
        ends = parse_iso(a.resolved_at) if a.resolved_at else end
        if start <= begins < end:
            sev = a.severity or "none"
            fired[sev] = fired.get(sev, 0) + 1
        lo, hi = max(begins, start), min(ends, end)
        if lo < hi:
            spans.append((lo, hi))
    seconds, cursor = 0.0, start
    for lo, hi in sorted(spans):  # the union of the spans: overlaps count once
        lo = max(lo, cursor)
        if hi > lo:
            seconds += (hi - lo).total_seconds()
            cursor = hi
    return DailyRow(store=store, day=day.isoformat(), fired=dict(sorted(fired.items())),
                    alert_seconds=seconds, **trend(snapshots or [], store, day))


def due_until(now: datetime, hour_utc: int) -> date:
    """The last day complete *and* due: yesterday once the consolidation hour has come."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=1 if now.astimezone(UTC).hour >= hour_utc else 2)


def days_to_run(last_done: date | None, first_data: date | None, until: date) -> list[date]:
    """Every day after the last consolidated one (or from the first day with data) through
    `until`."""
    if last_done is not None:
        first = last_done + timedelta(days=1)
    else:
        first = min(first_data, until) if first_data else until
    return [first + timedelta(days=i) for i in range((until - first).days + 1)]


def first_day(alerts: list[AlertRecord], snapshots: list[Snapshot]) -> date | None:
    days = [parse_iso(a.starts_at).date() for a in alerts]
    days += [parse_iso(s.at).date() for s in snapshots]
    return min(days) if days else None


def consolidate(alerts: list[AlertRecord], stores: list[str], days: list[date],
                snapshots: list[Snapshot] | None = None) -> list[DailyRow]:
    names = sorted(set(stores) | {a.store for a in alerts if a.store})
    return [day_row(alerts, s, d, snapshots) for d in days for s in names]
