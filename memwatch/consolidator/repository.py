"""The consolidator's storage interface; SQLite, PostgreSQL and MongoDB implement it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
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

    def record_response(self, run: ResponseRun) -> None: ...

    def responses(self) -> list[ResponseRun]: ...

    def describe(self) -> dict[str, Any]:
        """backend, location (no secrets), alerts, daily_rows, last_day, size_bytes."""
        ...

    def close(self) -> None: ...
