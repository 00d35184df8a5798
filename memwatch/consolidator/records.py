"""The consolidator's records: what a webhook delivery, the daily consolidation, a snapshot
and an automated response produce and the storage keeps, with their field orders. Every
other consolidator module builds on these; they import nothing of the consolidator but the
webhook payload they are read from."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from memwatch.consolidator.payload import WebhookAlert

# Alertmanager sends endsAt 0001-01-01 for a firing alert: no end known yet.
_NO_END_BEFORE = datetime(1971, 1, 1, tzinfo=UTC)


def iso(t: datetime) -> str:
    """The one text form of a time in storage: UTC, microseconds, sortable."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """A stored time (or any ISO time, `Z` for UTC) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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
        yesterday = (parse_iso(a.received_at).date() - timedelta(days=1)).isoformat()
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


def labels_text(labels: dict[str, str]) -> str:
    """The one stored text form of a label set (also the series key's)."""
    return json.dumps(labels, sort_keys=True)


def duration_us(starts_at: str, resolved_at: str) -> int:
    """An occurrence's duration in whole microseconds (exact: no float on the way)."""
    return (parse_iso(resolved_at) - parse_iso(starts_at)) // timedelta(microseconds=1)


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
SNAPSHOT_COLUMNS = ("store", "at", "count", "drop_ratio", "up", "newest_seconds", "backlog",
                    "error")


def fold(alerts: Iterable[AlertRecord]) -> dict[tuple[str, str, str], AlertAggregate]:
    """The occurrences as aggregates, one per alert series."""
    out: dict[tuple[str, str, str], AlertAggregate] = {}
    for a in alerts:
        agg = AlertAggregate(a.alertname, a.store, dict(a.labels))
        out.setdefault(agg.key, agg).add(a)
    return out


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


@dataclass(frozen=True)
class DailyRow:
    """One store's consolidated UTC day."""

    store: str
    day: str  # YYYY-MM-DD, UTC
    fired: dict[str, int] = field(default_factory=dict)  # occurrences started, by severity
    alert_seconds: float = 0.0  # time with at least one alert firing on the store
    # from the day's snapshots (None when no snapshot of the day had the value)
    count_min: float | None = None
    count_max: float | None = None
    count_mean: float | None = None
    count_last: float | None = None
    net_change: float | None = None  # last count of the day minus its first
    largest_drop: float | None = None  # largest fall between consecutive snapshots (>= 0)
    uptime_ratio: float | None = None  # snapshots with up == 1 / snapshots with up known
    snapshots: int = 0  # snapshots of the day with values
    gaps: int = 0  # snapshots of the day that Prometheus could not answer

    @property
    def fired_total(self) -> int:
        return sum(self.fired.values())


@dataclass(frozen=True)
class Snapshot:
    """One store's values from Prometheus at one instant, or a gap (`error` set)."""

    store: str
    at: str
    count: float | None = None
    drop_ratio: float | None = None
    up: float | None = None
    newest_seconds: float | None = None
    backlog: float | None = None
    error: str | None = None  # set on a gap: why no values were taken


@dataclass(frozen=True)
class ResponseRun:
    """One automated response's execution (or skip) for one alert occurrence."""

    response: str
    fingerprint: str
    starts_at: str
    alertname: str
    store: str
    at: str
    outcome: str  # ok, failed, timeout, cooldown or capped (responses.OUTCOMES)
    detail: str
