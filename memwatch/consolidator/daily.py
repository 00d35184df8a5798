"""Daily consolidation of the alert history: per store and UTC day, the alerts fired by
severity and the time spent in alert. Idempotent (a day's row is replaced, never added
twice) and catching up every complete day missed since the last run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from memwatch.consolidator.knowledge import parse_iso
from memwatch.consolidator.repository import AlertRecord


@dataclass(frozen=True)
class DailyRow:
    store: str
    day: str  # YYYY-MM-DD, UTC
    fired: dict[str, int] = field(default_factory=dict)  # occurrences started, by severity
    alert_seconds: float = 0.0  # time with at least one alert firing on the store

    @property
    def fired_total(self) -> int:
        return sum(self.fired.values())


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def day_row(alerts: list[AlertRecord], store: str, day: date) -> DailyRow:
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
                    alert_seconds=seconds)


def due_until(now: datetime, hour_utc: int) -> date:
    """The last day complete *and* due: yesterday once the consolidation hour has come."""
    today = now.astimezone(UTC).date()
    return today - timedelta(days=1 if now.astimezone(UTC).hour >= hour_utc else 2)


def days_to_run(last_done: date | None, alerts: list[AlertRecord], until: date) -> list[date]:
    """Every day after the last consolidated one (or from the first alert) through `until`."""
    if last_done is not None:
        first = last_done + timedelta(days=1)
    elif alerts:
        first = min(parse_iso(a.starts_at).date() for a in alerts)
    else:
        first = until
    return [first + timedelta(days=i) for i in range((until - first).days + 1)]


def consolidate(alerts: list[AlertRecord], stores: list[str], days: list[date]
                ) -> list[DailyRow]:
    names = sorted(set(stores) | {a.store for a in alerts if a.store})
    return [day_row(alerts, s, d) for d in days for s in names]
