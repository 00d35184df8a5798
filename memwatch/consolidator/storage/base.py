"""The consolidator's storage interface (SQLite, PostgreSQL and MongoDB implement it) and
the description of a storage every implementation gives."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from memwatch.consolidator.records import (
    AlertAggregate,
    AlertRecord,
    DailyRow,
    IngestResult,
    LateDays,
    RecentAlerts,
    ResponseRun,
    Snapshot,
)


@dataclass(frozen=True)
class StorageInfo:
    """What a storage is and holds (GET /api/persistence/health)."""

    backend: str  # a name of storage.registry.OPENERS
    location: str  # a path or host:port/database, never a secret
    journal_mode: str | None  # SQLite's; None elsewhere
    alerts: int
    daily_rows: int
    last_day: str | None  # the last consolidated day
    size_bytes: int


class Repository(Protocol):
    """Every write is durable (committed) when the method returns; a batch is all or nothing
    (MongoDB: one ordered bulk write, see storage.mongodb)."""

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
        storage.revision.SharedRevision)."""
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
        SQLite, PostgreSQL: one transaction. MongoDB: see storage.mongodb."""
        ...

    def alert_archive(self) -> list[AlertAggregate]:
        """The aggregates of every pruned alert, one per alert series."""
        ...

    def record_response(self, run: ResponseRun) -> None: ...

    def responses(self) -> list[ResponseRun]: ...

    def describe(self) -> StorageInfo: ...

    def close(self) -> None: ...
