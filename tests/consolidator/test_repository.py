"""Every repository (SQLite, PostgreSQL, MongoDB): idempotent ingest, resolutions, all-or-nothing
batches, daily rows and snapshots."""

from __future__ import annotations

import sqlite3
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from memwatch.consolidator.payload import WebhookPayload
from memwatch.consolidator.records import AlertRecord, DailyRow, Snapshot
from memwatch.consolidator.scheduler import DailyScheduler
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.payloads import alert, payload

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def records(body: dict[str, object]) -> list[AlertRecord]:
    return [AlertRecord.from_webhook(a, NOW) for a in WebhookPayload.model_validate(body).alerts]


def test_duplicates_stored_once_and_survive_reopen(make_repo: RepoFactory) -> None:
    repo = make_repo()
    body = payload(alert("a1"), alert("a2"), alert("a1"))  # a1 twice in one delivery
    first = repo.ingest(records(body))
    assert (first.stored, first.duplicates, first.resolved) == (2, 1, 0)
    again = repo.ingest(records(body))
    assert (again.stored, again.duplicates) == (0, 3)
    repo.close()
    reopened = make_repo()
    assert reopened.count_alerts() == 2
    got = reopened.alerts(alertname="MemoryCountZero")
    assert [a.fingerprint for a in got] == ["a1", "a2"]
    assert got[0].starts_at == "2026-11-01T10:00:00.123456Z"
    assert got[0].labels == {"alertname": "MemoryCountZero", "store": "main",
                             "severity": "critical"}
    assert got[0].resolved_at is None


def test_sqlite_file_is_in_wal_mode(tmp_path: Path) -> None:
    SqliteRepository(tmp_path / "c.sqlite").close()
    assert journal_mode(tmp_path / "c.sqlite") == "wal"


def test_same_fingerprint_new_start_is_a_new_occurrence(make_repo: RepoFactory) -> None:
    repo = make_repo()
    r = repo.ingest(records(payload(alert("a1"), alert("a1", "2026-11-02T10:00:00Z"))))
    assert (r.stored, r.duplicates) == (2, 0)
    assert [a.starts_at for a in repo.alerts()] == ["2026-11-01T10:00:00.123456Z",
                                                    "2026-11-02T10:00:00.000000Z"]


def test_resolution_recorded_once(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.ingest(records(payload(alert("a1"))))
    resolved = payload(alert("a1", status="resolved", ends="2026-11-01T10:05:00Z"),
                       status="resolved")
    r = repo.ingest(records(resolved))
    assert (r.stored, r.resolved, r.duplicates) == (0, 1, 0)
    assert repo.alerts()[0].resolved_at == "2026-11-01T10:05:00.000000Z"
    r = repo.ingest(records(resolved))
    assert (r.resolved, r.duplicates) == (0, 1)
    # a resolution whose firing was never seen is stored resolved
    r = repo.ingest(records(payload(alert("b1", status="resolved",
                                          ends="2026-11-01T11:00:00Z"))))
    assert (r.stored, r.resolved) == (1, 1)
    assert repo.alerts(store="main")[-1].resolved_at == "2026-11-01T11:00:00.000000Z"


def test_redelivery_completes_a_partial_write(make_repo: RepoFactory) -> None:
    """What a delivery cut short leaves (MongoDB has no transaction here): the re-delivery
    Alertmanager sends after the 503 stores the rest, once."""
    repo = make_repo()
    delivery = records(payload(alert("p1"), alert("p2"), alert("p3")))
    repo.ingest(delivery[:1])
    r = repo.ingest(delivery)
    assert (r.stored, r.duplicates) == (2, 1)
    assert [a.fingerprint for a in r.new_firing] == ["p2", "p3"]
    assert [a.fingerprint for a in repo.alerts()] == ["p1", "p2", "p3"]


def test_failed_batch_writes_nothing(make_repo: RepoFactory) -> None:
    repo = make_repo()
    good, bad = records(payload(alert("a1"), alert("a2")))
    # the second record cannot be serialised: the first must not stay behind
    broken = AlertRecord(**{**bad.as_json(), "labels": {"x": object()}})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        repo.ingest([good, broken])
    assert repo.count_alerts() == 0
    assert repo.ingest([good]).stored == 1


def test_daily_rows_replaced_and_snapshots_upserted(make_repo: RepoFactory) -> None:
    repo = make_repo()
    assert repo.last_day() is None
    rows = [DailyRow("main", "2026-11-01", {"critical": 2}, 60.0, count_min=1, count_max=5,
                     count_mean=3.5, count_last=5, net_change=4, largest_drop=0,
                     uptime_ratio=0.5, snapshots=2, gaps=1),
            DailyRow("idle", "2026-11-01")]
    repo.save_days(rows, ["2026-11-01"])
    repo.save_days(rows, ["2026-11-01"])
    assert repo.daily() == sorted(rows, key=lambda r: (r.day, r.store))
    assert repo.daily("main") == rows[:1]
    assert repo.last_day() == "2026-11-01"
    repo.save_days([], ["2026-11-02"])
    assert repo.last_day() == "2026-11-02"
    repo.save_days(rows[1:], ["2026-11-01"])  # the day's row of main goes
    assert repo.daily() == rows[1:]
    repo.save_days(rows, ["2026-11-01"])
    snap = Snapshot("main", "2026-11-01T00:00:00.000000Z", count=3, up=1)
    repo.save_snapshots([snap, Snapshot("main", "2026-11-01T01:00:00.000000Z", error="x")])
    repo.save_snapshots([Snapshot("main", "2026-11-01T00:00:00.000000Z", count=4, up=1)])
    assert [(s.at[11:13], s.count, s.error) for s in repo.snapshots("main")] == [
        ("00", 4.0, None), ("01", None, "x")]
    info = repo.describe()
    assert (info.alerts, info.daily_rows, info.last_day) == (0, 2, "2026-11-02")
    assert info.size_bytes > 0
    assert repo.ping() is True


def journal_mode(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA journal_mode").fetchone()[0])
    finally:
        db.close()


def test_prune_snapshots_keeps_unconsolidated_days(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.save_snapshots([Snapshot("main", f"2026-11-0{d}T06:00:00.000000Z", count=d)
                         for d in (1, 2, 3)])
    assert repo.prune_snapshots("2026-11-09T00:00:00.000000Z") == 0  # nothing consolidated
    repo.save_days([], ["2026-11-01", "2026-11-02"])
    assert repo.prune_snapshots("2026-11-02T00:00:00.000000Z") == 1  # only the 1st is old
    assert repo.prune_snapshots("2026-11-09T00:00:00.000000Z") == 1  # the 3rd is kept
    assert [s.at[:10] for s in repo.snapshots()] == ["2026-11-03"]


def test_scheduler_prunes_after_consolidating(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.save_snapshots([Snapshot("main", f"2026-11-0{d}T06:00:00.000000Z", count=d)
                         for d in range(1, 6)])
    sched = DailyScheduler(repo, ["main"], 1, ConsolidatorMetrics(), retention_days=2,
                           clock=lambda: datetime(2026, 11, 5, 2, tzinfo=UTC))
    assert sched.run_once() == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    # kept: snapshots within two days of now (the 3rd at 06:00 onwards), and the 5th
    assert [s.at[:10] for s in repo.snapshots()] == ["2026-11-03", "2026-11-04",
                                                     "2026-11-05"]
    # the trend of a pruned day stays in its daily row
    assert [r.count_last for r in repo.daily("main")] == [1, 2, 3, 4]


def test_mongodb_database_from_uri_or_default(mongo: Any) -> None:
    from memwatch.consolidator.storage.mongodb import (
        DEFAULT_DATABASE,
        MongoRepository,
        database_name,
    )

    assert database_name("mongodb://h/", None) == DEFAULT_DATABASE
    assert database_name("mongodb://h/fromuri?w=1", None) == "fromuri"
    assert database_name("mongodb://h/fromuri", "fromspec") == "fromspec"
    name = mongo.db_name("fromuri")
    parts = urllib.parse.urlsplit(mongo.uri)
    repo = MongoRepository(urllib.parse.urlunsplit(parts._replace(path="/" + name)))
    try:
        assert repo.database == name
        assert repo.ingest(records(payload(alert("u1")))).stored == 1
        assert mongo.client[name]["consolidator_alerts"].count_documents({}) == 1
    finally:
        repo.close()
