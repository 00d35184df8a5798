"""Per store and day, the memory counts and the alerts: the consolidated days (the daily
rows) and the days not consolidated yet (today so far, and yesterday until the
consolidation hour), those computed from the recent alerts and the snapshots. What GET /
draws and GET /api/persistence/historical answers; built from bounded reads only (the
daily rows, Repository.recent_alerts, the window's snapshots, the alert series kept for
the knowledge base), never from every stored alert."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from memwatch.consolidator.daily import trend
from memwatch.consolidator.records import (
    AlertAggregate,
    AlertRecord,
    DailyRow,
    RecentAlerts,
    Snapshot,
    iso,
    parse_iso,
)

RECENT_LIMIT = 1000  # firing and resolved alerts read (each) for the days not consolidated
RESOLVED_WINDOW = timedelta(hours=24)  # "recently resolved"


@dataclass(frozen=True)
class StoreDay:
    row: DailyRow
    partial: bool  # not consolidated yet: computed up to History.now
    alertnames: tuple[str, ...]  # the alerts that started that day

    @property
    def in_alert(self) -> bool:
        return self.row.alert_seconds > 0 or self.row.fired_total > 0


@dataclass(frozen=True)
class StoreHistory:
    store: str
    days: list[StoreDay]  # oldest first, in the window
    snapshots: list[Snapshot]  # the window's, oldest first
    firing: int  # alerts firing now
    firing_since: str | None  # the start of the oldest of them


@dataclass(frozen=True)
class History:
    now: datetime
    first: date  # the window's first day; its last is now's
    stores: list[StoreHistory]
    recent: RecentAlerts
    last_day: str | None  # the last consolidated day

    @property
    def today(self) -> date:
        return self.now.date()

    @property
    def days(self) -> int:
        return (self.today - self.first).days + 1

    def resolved(self) -> list[AlertRecord]:
        """Resolved within RESOLVED_WINDOW, newest resolution first."""
        since = iso(self.now - RESOLVED_WINDOW)
        return [a for a in self.recent.resolved if (a.resolved_at or "") >= since]


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def partial_from(now: datetime, last_day: str | None) -> date:
    """The first day not consolidated yet: the one after the last consolidated day, at
    most a day before today (the scheduler catches up older ones at its start)."""
    today = now.astimezone(UTC).date()
    if last_day is None:
        return today
    return max(date.fromisoformat(last_day) + timedelta(days=1), today - timedelta(days=1))


def recent_since(now: datetime, last_day: str | None) -> str:
    """How far back Repository.recent_alerts reads resolutions: the days not consolidated
    and the last RESOLVED_WINDOW."""
    return iso(min(day_start(partial_from(now, last_day)), now - RESOLVED_WINDOW))


def _union_seconds(spans: Iterable[tuple[datetime, datetime]], lo: datetime,
                   hi: datetime) -> float:
    """Seconds of [lo, hi) covered by the spans: overlaps count once."""
    total, cursor = 0.0, lo
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in spans):
        a = max(a, cursor)
        if b > a:
            total += (b - a).total_seconds()
            cursor = b
    return total


# an alert's span on a store: start, end (now while firing), severity (None for the span
# of a store's oldest firing alert, which may be past the read's limit: not counted fired)
Span = tuple[datetime, datetime, str | None]


def spans_by_store(recent: RecentAlerts, now: datetime) -> dict[str, list[Span]]:
    """The recent alerts' spans per store, each time parsed once."""
    out: dict[str, list[Span]] = {}
    for a in [*recent.firing, *recent.resolved]:
        out.setdefault(a.store, []).append(
            (parse_iso(a.starts_at), parse_iso(a.resolved_at) if a.resolved_at else now,
             a.severity or "none"))
    for store, (_, oldest) in recent.firing_stores.items():
        out.setdefault(store, []).append((parse_iso(oldest), now, None))
    return out


def partial_row(store: str, day: date, now: datetime, spans: list[Span],
                snapshots: list[Snapshot]) -> DailyRow:
    """A day not consolidated yet, up to `now`, like daily.day_row: the store's recent
    alert spans (a firing one counts until now; the store's oldest firing start covers all
    of its firing alerts, also those past the read's limit) and its snapshots."""
    lo, hi = day_start(day), min(day_start(day + timedelta(days=1)), now)
    fired: dict[str, int] = {}
    for begins, _, severity in spans:
        if severity is not None and lo <= begins < hi:
            fired[severity] = fired.get(severity, 0) + 1
    return DailyRow(store=store, day=day.isoformat(), fired=dict(sorted(fired.items())),
                    alert_seconds=_union_seconds(((a, b) for a, b, _ in spans), lo, hi)
                    if hi > lo else 0.0, **trend(snapshots, store, day))


def alertnames_by_day(series: Iterable[AlertAggregate], first: date, last: date
                      ) -> dict[tuple[str, str], tuple[str, ...]]:
    """(store, day) -> the alert names that started that day, from the series' days."""
    lo, hi = first.isoformat(), last.isoformat()
    found: dict[tuple[str, str], set[str]] = {}
    for s in series:
        for day in s.days:
            if lo <= day <= hi:
                found.setdefault((s.store, day), set()).add(s.alertname)
    return {k: tuple(sorted(v)) for k, v in found.items()}


@dataclass(frozen=True)
class Inputs:
    """What the storage holds, read once per revision (and minute) for the window."""

    daily: list[DailyRow]
    last_day: str | None
    recent: RecentAlerts
    snapshots: list[Snapshot]
    series: list[AlertAggregate]
    stores: list[str]  # the spec's


def _by_store(snapshots: list[Snapshot]) -> dict[str, list[Snapshot]]:
    out: dict[str, list[Snapshot]] = {}
    for snap in snapshots:
        out.setdefault(snap.store, []).append(snap)
    return out


def build(now: datetime, days: int, data: Inputs) -> History:
    """The window of `days` days ending today (so far)."""
    today = now.astimezone(UTC).date()
    first = today - timedelta(days=days - 1)
    partial = [d for d in (partial_from(now, data.last_day) + timedelta(days=i)
                           for i in range(2)) if first <= d <= today]
    names = alertnames_by_day(data.series, first, today)
    rows = [r for r in data.daily if first.isoformat() <= r.day <= today.isoformat()]
    stores = set(data.stores) | {r.store for r in rows} | {s.store for s in data.snapshots}
    stores |= {a.store for a in [*data.recent.firing, *data.recent.resolved]}
    stores |= set(data.recent.firing_stores)
    spans, snaps = spans_by_store(data.recent, now), _by_store(data.snapshots)
    done = {d.isoformat() for d in partial}
    out = []
    for store in sorted(s for s in stores if s):
        mine = [StoreDay(r, False, names.get((store, r.day), ())) for r in rows
                if r.store == store and r.day not in done]
        mine += [StoreDay(partial_row(store, d, now, spans.get(store, []),
                                      snaps.get(store, [])),
                          True, names.get((store, d.isoformat()), ())) for d in partial]
        count, since = data.recent.firing_stores.get(store, (0, None))
        out.append(StoreHistory(store=store, days=sorted(mine, key=lambda d: d.row.day),
                                snapshots=snaps.get(store, []), firing=count,
                                firing_since=since))
    return History(now=now, first=first, stores=out, recent=data.recent,
                   last_day=data.last_day)
