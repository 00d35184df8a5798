"""The consolidator's storage interface; SQLite, PostgreSQL and MongoDB implement it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from memwatch.consolidator.payload import WebhookAlert

if TYPE_CHECKING:
    from memwatch.consolidator.daily import DailyRow
    from memwatch.consolidator.responses import ResponseRun
    from memwatch.consolidator.snapshots import Snapshot

# Alertmanager sends endsAt 0001-01-01 for a firing alert: no end known yet.
_NO_END_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)


def iso(t: datetime) -> str:
    """The one text form of a time in storage: UTC, microseconds, sortable."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AlertRecord:
    """One alert occurrence, keyed by fingerprint + starts_at."""

    fingerprint: str
    starts_at: str
    alertname: str
    store: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    generator_url: str
    received_at: str
    resolved_at: str | None = None

    @classmethod
    def from_webhook(cls, alert: WebhookAlert, received: datetime) -> AlertRecord:
        ends = alert.endsAt
        resolved = iso(ends) if alert.status == "resolved" and ends and ends > _NO_END_BEFORE \
            else (iso(received) if alert.status == "resolved" else None)
        return cls(
            fingerprint=alert.fingerprint, starts_at=iso(alert.startsAt),
            alertname=alert.labels.get("alertname", ""), store=alert.labels.get("store", ""),
            severity=alert.labels.get("severity", ""), labels=dict(alert.labels),
            annotations=dict(alert.annotations), generator_url=alert.generatorURL,
            received_at=iso(received), resolved_at=resolved,
        )

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class LateDays:
    """Complete UTC days, `lo` through `hi` (YYYY-MM-DD), whose daily rows a delivery
    changed after they may have been consolidated: an occurrence that started (or a
    resolution that came) before the day it was received. The storage keeps the note
    (`mark`, its id there) until the scheduler has consolidated those days again."""

    lo: str
    hi: str
    mark: int | str = 0

    def days(self, first: date | None = None) -> list[date]:
        """The days noted, from `first` on when given."""
        lo, hi = date.fromisoformat(self.lo), date.fromisoformat(self.hi)
        if first is not None:
            lo = max(lo, first)
        return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


def late_days(changed: Iterable[tuple[AlertRecord, bool]]) -> LateDays | None:
    """The complete days whose rows these changes alter, as one span (a few days more is
    a recount, never a wrong row): `(record, stored)` pairs, `stored` True for a new
    occurrence (its days, start through resolution) and False for a resolution recorded
    for a known one (the days from its resolution on, counted in alert until then). Only
    days before the one it was received: later ones are not consolidated yet."""
    spans = []
    for a, stored in changed:
        yesterday = (_parse(a.received_at).date() - timedelta(days=1)).isoformat()
        if stored:
            lo, hi = a.starts_at[:10], min((a.resolved_at or yesterday)[:10], yesterday)
        else:
            lo, hi = (a.resolved_at or a.received_at)[:10], yesterday
        if lo <= hi:
            spans.append((lo, hi))
    if not spans:
        return None
    return LateDays(min(lo for lo, _ in spans), max(hi for _, hi in spans))


@dataclass
class IngestResult:
    """What one webhook delivery changed."""

    stored: int = 0  # new occurrences
    duplicates: int = 0  # already known, nothing new
    resolved: int = 0  # resolutions recorded for known or new occurrences
    new_firing: list[AlertRecord] = field(default_factory=list)  # stored, not yet resolved


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def labels_text(labels: dict[str, str]) -> str:
    """The one stored text form of a label set (also the series key's)."""
    return json.dumps(labels, sort_keys=True)


def duration_us(starts_at: str, resolved_at: str) -> int:
    """An occurrence's duration in whole microseconds (exact: no float on the way)."""
    return (_parse(resolved_at) - _parse(starts_at)) // timedelta(microseconds=1)


@dataclass
class AlertAggregate:
    """What is kept of pruned occurrences of one alert series (alertname + store + all its
    labels), enough for the knowledge base to answer as if they were still stored: every
    field merges exactly (integers, a set of days, min/max), whatever the order."""

    alertname: str
    store: str
    labels: dict[str, str]
    occurrences: int = 0
    days: set[str] = field(default_factory=set)  # distinct UTC days of starts_at
    resolved: int = 0  # occurrences with a resolution
    duration_us: int = 0  # their summed duration, in microseconds
    first_seen: str | None = None
    last_seen: str | None = None
    severities: dict[str, int] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.alertname, self.store, labels_text(self.labels))

    def add(self, a: AlertRecord) -> None:
        self.occurrences += 1
        self.days.add(a.starts_at[:10])
        if a.resolved_at is not None:
            self.resolved += 1
            self.duration_us += duration_us(a.starts_at, a.resolved_at)
        self._seen(a.starts_at, a.starts_at)
        self.severities[a.severity] = self.severities.get(a.severity, 0) + 1

    def merge(self, o: AlertAggregate) -> None:
        self.occurrences += o.occurrences
        self.days |= o.days
        self.resolved += o.resolved
        self.duration_us += o.duration_us
        if o.first_seen is not None and o.last_seen is not None:
            self._seen(o.first_seen, o.last_seen)
        for sev, n in o.severities.items():
            self.severities[sev] = self.severities.get(sev, 0) + n

    def _seen(self, first: str, last: str) -> None:
        self.first_seen = first if self.first_seen is None else min(self.first_seen, first)
        self.last_seen = last if self.last_seen is None else max(self.last_seen, last)

    def row(self) -> tuple[Any, ...]:
        """In ARCHIVE_COLUMNS order, the sets and maps as JSON text."""
        return (self.alertname, self.store, self.key[2], self.occurrences,
                json.dumps(sorted(self.days)), self.resolved, self.duration_us,
                self.first_seen, self.last_seen, json.dumps(self.severities, sort_keys=True))

    @classmethod
    def from_row(cls, r: Iterable[Any]) -> AlertAggregate:
        (name, store, labels, occurrences, days, resolved, duration_us, first, last,
         severities) = r
        return cls(alertname=name, store=store, labels=json.loads(labels),
                   occurrences=int(occurrences), days=set(json.loads(days)),
                   resolved=int(resolved), duration_us=int(duration_us), first_seen=first,
                   last_seen=last, severities=json.loads(severities))


# Field order of each record kind, shared by the three repositories.
ALERT_COLUMNS = ("fingerprint", "starts_at", "alertname", "store", "severity", "labels",
                 "annotations", "generator_url", "received_at", "resolved_at")
DAILY_COLUMNS = ("store", "day", "fired", "alert_seconds", "count_min", "count_max",
                 "count_mean", "count_last", "net_change", "largest_drop", "uptime_ratio",
                 "snapshots", "gaps")
RUN_COLUMNS = ("response", "fingerprint", "starts_at", "alertname", "store", "at", "outcome",
               "detail")
ARCHIVE_COLUMNS = ("alertname", "store", "labels", "occurrences", "days", "resolved",
                   "duration_us", "first_seen", "last_seen", "severities")


def fold(alerts: Iterable[AlertRecord]) -> dict[tuple[str, str, str], AlertAggregate]:
    """The occurrences as aggregates, one per alert series."""
    out: dict[tuple[str, str, str], AlertAggregate] = {}
    for a in alerts:
        agg = AlertAggregate(a.alertname, a.store, dict(a.labels))
        out.setdefault(agg.key, agg).add(a)
    return out


# The stored alerts summed per alert series, severity and UTC start day, kept up to date at
# every write (SQLite, PostgreSQL: in the write's transaction), so that the knowledge base
# reads these instead of every alert.
STATS_COLUMNS = ("alertname", "store", "labels", "severity", "day", "occurrences", "resolved",
                 "duration_us", "first_seen", "last_seen")
StatsKey = tuple[str, str, str, str, str]  # alertname, store, labels (text), severity, day


class StatsDelta:
    """Changes to the stats rows, summed per key; `rows()` in STATS_COLUMNS order. First and
    last seen only widen a row: a prune that removes a row's first or last occurrence has
    the row's bounds recomputed from the alerts left (see sql_shared.prune_alerts)."""

    def __init__(self) -> None:
        self._sums: dict[StatsKey, list[Any]] = {}

    def _at(self, key: StatsKey, starts_at: str) -> list[Any]:
        row = self._sums.setdefault(key, [0, 0, 0, starts_at, starts_at])
        row[3], row[4] = min(row[3], starts_at), max(row[4], starts_at)
        return row

    def occurrence(self, a: AlertRecord, sign: int = 1) -> None:
        """`a` stored (sign 1) or deleted (sign -1), with its resolution if it has one."""
        row = self._at((a.alertname, a.store, labels_text(a.labels), a.severity,
                        a.starts_at[:10]), a.starts_at)
        row[0] += sign
        if a.resolved_at is not None:
            row[1] += sign
            row[2] += sign * duration_us(a.starts_at, a.resolved_at)

    def resolution(self, series: tuple[str, str, str, str], starts_at: str,
                   resolved_at: str) -> None:
        """A stored occurrence of `series` (alertname, store, labels text, severity) that
        started at `starts_at` got its resolution."""
        row = self._at((*series, starts_at[:10]), starts_at)
        row[1] += 1
        row[2] += duration_us(starts_at, resolved_at)

    def keys(self) -> list[StatsKey]:
        return sorted(self._sums)

    def rows(self) -> list[tuple[Any, ...]]:
        return [(*k, *v) for k, v in sorted(self._sums.items())]


def series_from_stats(rows: Iterable[Sequence[Any]]) -> list[AlertAggregate]:
    """Stats rows summed per series and severity (alertname, store, labels text, severity,
    days joined by ",", occurrences, resolved, duration_us, first seen, last seen) as one
    aggregate per alert series, sorted by series: what `fold` gives from the alerts."""
    out: dict[tuple[str, str, str], AlertAggregate] = {}
    for name, store, labels, severity, days, occurrences, resolved, dur, first, last in rows:
        agg = AlertAggregate(name, store, json.loads(labels), int(occurrences),
                             set(str(days).split(",")), int(resolved), int(dur), str(first),
                             str(last), {severity: int(occurrences)})
        if (name, store, labels) in out:
            out[(name, store, labels)].merge(agg)
        else:
            out[(name, store, labels)] = agg
    return [out[k] for k in sorted(out)]


@dataclass(frozen=True)
class RecentAlerts:
    """What is wrong now: the page's and the historical API's view of the recent alerts,
    read through an index on resolved_at (the cost follows `limit`, not the history)."""

    firing: list[AlertRecord]  # unresolved, newest start first, at most `limit`
    resolved: list[AlertRecord]  # resolved at or after `since`, newest resolution first
    firing_stores: dict[str, tuple[int, str]]  # per store: alerts firing, the oldest start
    resolved_total: int  # every alert resolved at or after `since`

    @property
    def firing_total(self) -> int:
        return sum(n for n, _ in self.firing_stores.values())


REVISION_POLL_SECONDS = 0.1


class SharedRevision:
    """Repository.revision for a storage several consolidators share: the storage keeps a
    counter that every write bumps in its transaction. This process learns its own writes'
    value at once (`seen`, after the commit) and the others' from a daemon thread that reads
    the counter every `interval` seconds, started by the first `value()`; so a revision is
    a read of memory, never a query on the request path."""

    def __init__(self, read: Callable[[], int],
                 interval: float = REVISION_POLL_SECONDS) -> None:
        self._read, self._interval = read, interval
        self._value = read()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def seen(self, n: int) -> None:
        with self._lock:
            self._value = max(self._value, n)  # the counter only grows: a late read is older

    def value(self) -> int:
        """No I/O: the first call starts the polling thread after one read of its own."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._poll, daemon=True,
                                                    name="revision")
                    self._thread.start()
        return self._value

    def _poll(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.seen(self._read())
                wait = self._interval
            except Exception:  # the storage is down: /health says so; try again later
                wait = max(1.0, self._interval)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


class Repository(Protocol):
    """Every write is durable (committed) when the method returns; a batch is all or nothing
    (MongoDB: one ordered bulk write, see mongo_repo)."""

    def ingest(self, alerts: list[AlertRecord]) -> IngestResult: ...

    def ingest_batch(self, deliveries: list[list[AlertRecord]]
                     ) -> list[IngestResult | Exception]:
        """Several deliveries, each all or nothing, its result (or its exception) in its
        place: a delivery that fails leaves the others stored. SQLite and PostgreSQL: one
        transaction, each delivery in a savepoint of its own. An exception raised (rather
        than returned) means none was stored."""
        ...

    def alerts(self, *, alertname: str | None = None, store: str | None = None
               ) -> list[AlertRecord]: ...

    def count_alerts(self) -> int: ...

    def recent_alerts(self, since: str, limit: int) -> RecentAlerts:
        """The alerts still firing (newest start first) and those resolved at or after
        `since` (ISO; newest resolution first), at most `limit` of each, with the firing
        ones counted per store (and their oldest start) and the resolved ones counted:
        bounded reads through an index on (resolved_at, starts_at)."""
        ...

    def alert_series(self) -> list[AlertAggregate]:
        """The stored alerts (not the archive) as one aggregate per alert series, sorted by
        series: what `fold(self.alerts())` gives, read from aggregates kept up to date at
        every write, never from every alert."""
        ...

    def revision(self) -> int:
        """A number that grows whenever the alerts, the archive or the daily rows change:
        answers computed from those stay valid while it holds. A read of memory: this
        repository's own writes count from their commit on; on PostgreSQL and MongoDB those
        of other consolidators sharing the storage within REVISION_POLL_SECONDS (see
        SharedRevision)."""
        ...

    def save_days(self, rows: list[DailyRow], days: list[str],
                  settled: Sequence[LateDays] = ()) -> None:
        """Replace the rows of these days (all stores) with `rows` and drop the `settled`
        notes of late days (by mark), in one transaction."""
        ...

    def late_days(self) -> list[LateDays]:
        """The notes of late days that `ingest` kept (SQLite, PostgreSQL: in the delivery's
        transaction; MongoDB: before its write), oldest mark first."""
        ...

    def daily(self, store: str | None = None) -> list[DailyRow]: ...

    def last_day(self) -> str | None: ...

    def save_snapshots(self, rows: list[Snapshot]) -> None:
        """Insert (or replace, by store + at) snapshot rows, gaps included."""
        ...

    def snapshots(self, store: str | None = None, since: str | None = None
                  ) -> list[Snapshot]:
        """Oldest first; only those taken at or after `since` (ISO) when given."""
        ...

    def ping(self) -> bool: ...

    def prune_snapshots(self, before: str) -> int:
        """Delete snapshots taken before `before` (ISO) on days already consolidated;
        returns how many."""
        ...

    def prune_alerts(self, before: str) -> int:
        """Fold the resolved alerts that started before `before` (ISO) into the archived
        aggregates and delete them, provided the days they started and were resolved are
        consolidated (<= the last consolidated day); returns how many were deleted.
        SQLite, PostgreSQL: one transaction. MongoDB: see mongo_repo."""
        ...

    def alert_archive(self) -> list[AlertAggregate]:
        """The aggregates of every pruned alert, one per alert series."""
        ...

    def record_response(self, run: ResponseRun) -> None: ...

    def responses(self) -> list[ResponseRun]: ...

    def describe(self) -> dict[str, Any]:
        """backend, location (no secrets), alerts, daily_rows, last_day, size_bytes."""
        ...

    def close(self) -> None: ...
