"""Runs the daily consolidation when due: at startup (catching up missed days) and then
every minute, doing work only once the spec's consolidation hour has come."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from memwatch.consolidator.daily import consolidate, days_to_run, due_until, first_day
from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.records import Snapshot, iso
from memwatch.consolidator.report import write_reports
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.snapshots import take
from memwatch.consolidator.storage.base import Repository

log = logging.getLogger("memwatch.consolidator")


def run_due(repo: Repository, stores: list[str], now: datetime, hour_utc: int,
            keep_from: date | None = None) -> list[str]:
    """Consolidate every due day not yet done, and again the days a late delivery changed
    (from `keep_from` on: older days lost their alerts to retention and stay as they
    are); returns the days written (may be none)."""
    until = due_until(now, hour_utc)
    last = repo.last_day()
    # a note waits until all its days are due (the later ones are consolidated then)
    late = [n for n in repo.late_days() if date.fromisoformat(n.hi) <= until]
    if not late and last is not None and date.fromisoformat(last) >= until:
        return []
    alerts, snapshots = repo.alerts(), repo.snapshots()
    days = set(days_to_run(date.fromisoformat(last) if last else None,
                           first_day(alerts, snapshots), until))
    for note in late:
        days.update(note.days(keep_from))
    if late and keep_from is not None and any(n.lo < keep_from.isoformat() for n in late):
        log.warning("late alerts before the retention window: those days are not "
                    "consolidated again", extra={"keep_from": keep_from.isoformat()})
    ordered = sorted(days)
    if not ordered and not late:
        return []
    repo.save_days(consolidate(alerts, stores, ordered, snapshots),
                   [d.isoformat() for d in ordered], late)
    return [d.isoformat() for d in ordered]


class DailyScheduler:
    def __init__(self, repo: Repository, stores: list[str], hour_utc: int,
                 metrics: ConsolidatorMetrics, interval: float = 60.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 reports: tuple[KnowledgeBase, Path] | None = None,
                 retention_days: int | None = None) -> None:
        self.repo, self.stores, self.hour, self.metrics = repo, stores, hour_utc, metrics
        self.reports, self.retention_days = reports, retention_days
        self.interval, self.clock = interval, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="daily", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self) -> list[str]:
        try:
            days = run_due(self.repo, self.stores, self.clock(), self.hour,
                           self._keep_from())
            if days and self.reports:
                write_reports(self.repo, self.reports[0], days, self.reports[1])
            if days and self.retention_days:
                cutoff = self.clock() - timedelta(days=self.retention_days)
                pruned = self.repo.prune_snapshots(iso(cutoff))
                if pruned:
                    log.info("snapshots pruned", extra={"rows": pruned})
                pruned = self.repo.prune_alerts(iso(cutoff))
                if pruned:
                    log.info("alerts pruned into the archive", extra={"rows": pruned})
        except Exception as exc:  # never let the sidecar die: count, log, retry next time
            self.metrics.consolidation_errors.inc()
            log.error("daily consolidation failed", extra={"error": str(exc)})
            return []
        if days:
            self.metrics.last_consolidation.set(time.time())
            log.info("consolidated", extra={"days": ",".join(days)})
        return days

    def _keep_from(self) -> date | None:
        """The first day whose alerts retention keeps whole (pruning takes those that
        started before the cutoff, on the cutoff's day too)."""
        if not self.retention_days:
            return None
        return (self.clock() - timedelta(days=self.retention_days)).date() + timedelta(days=1)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)


class SnapshotScheduler:
    """Takes a snapshot every `interval` seconds; a gap is recorded and counted, and the next
    snapshot tries again."""

    def __init__(self, repo: Repository, prometheus_url: str, stores: list[str],
                 interval: float, metrics: ConsolidatorMetrics,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.repo, self.url, self.stores = repo, prometheus_url, stores
        self.interval, self.metrics, self.clock = interval, metrics, clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="snapshots", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def run_once(self) -> list[Snapshot]:
        try:
            rows = take(self.url, self.stores, self.clock())
            self.repo.save_snapshots(rows)
        except Exception as exc:  # storage trouble: counted, logged, retried next time
            self.metrics.snapshot_failures.inc()
            log.error("snapshot not stored", extra={"error": str(exc)})
            return []
        if any(r.error for r in rows):
            self.metrics.snapshot_failures.inc()
        return rows

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self.interval)
