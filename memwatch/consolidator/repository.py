"""The consolidator's storage interface; SQLite, PostgreSQL and MongoDB implement it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


@dataclass
class IngestResult:
    """What one webhook delivery changed."""

    stored: int = 0  # new occurrences
    duplicates: int = 0  # already known, nothing new
    resolved: int = 0  # resolutions recorded for known or new occurrences
    new_firing: list[AlertRecord] = field(default_factory=list)  # stored, not yet resolved


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


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
        return (self.alertname, self.store, json.dumps(self.labels, sort_keys=True))

    def add(self, a: AlertRecord) -> None:
        self.occurrences += 1
        self.days.add(a.starts_at[:10])
        if a.resolved_at is not None:
            self.resolved += 1
            self.duration_us += ((_parse(a.resolved_at) - _parse(a.starts_at))
                                 // timedelta(microseconds=1))
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


class Repository(Protocol):
    """Every write is durable (committed) when the method returns; a batch is all or nothing
    (MongoDB: one ordered bulk write, see mongo_repo)."""

    def ingest(self, alerts: list[AlertRecord]) -> IngestResult: ...

    def alerts(self, *, alertname: str | None = None, store: str | None = None
               ) -> list[AlertRecord]: ...

    def count_alerts(self) -> int: ...

    def save_days(self, rows: list[DailyRow], days: list[str]) -> None:
        """Replace the rows of these days (all stores) with `rows`, in one transaction."""
        ...

    def daily(self, store: str | None = None) -> list[DailyRow]: ...

    def last_day(self) -> str | None: ...

    def save_snapshots(self, rows: list[Snapshot]) -> None:
        """Insert (or replace, by store + at) snapshot rows, gaps included."""
        ...

    def snapshots(self, store: str | None = None) -> list[Snapshot]: ...

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
