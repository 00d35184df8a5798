"""Daily consolidation over synthetic alert history: exact rows, idempotence, catch-up."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

from memwatch.consolidator.daily import consolidate, due_until
from memwatch.consolidator.records import DailyRow
from memwatch.consolidator.scheduler import DailyScheduler, run_due
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.consolidator.support import consolidator, request
from tests.consolidator.test_knowledge import rec

STORES = ["main", "idle"]
HISTORY = [
    # 22:00 -> 02:00 next day: two hours on each side of midnight
    rec("a", "2026-11-01T22:00:00.000000Z", "2026-11-02T02:00:00.000000Z"),
    # inside the first one: fired, but adds no time in alert
    rec("b", "2026-11-01T23:00:00.000000Z", "2026-11-01T23:30:00.000000Z",
        severity="warning"),
    rec("c", "2026-11-03T12:00:00.000000Z", "2026-11-03T12:00:30.000000Z", severity="info"),
]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_due_until_waits_for_the_hour() -> None:
    assert due_until(at("2026-11-05T00:59:59"), 1) == date(2026, 11, 3)
    assert due_until(at("2026-11-05T01:00:00"), 1) == date(2026, 11, 4)
    assert due_until(at("2026-11-05T00:00:00"), 0) == date(2026, 11, 4)


def test_rows_known_answers_and_rerun_changes_nothing(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    repo.ingest(HISTORY)
    assert run_due(repo, STORES, at("2026-11-05T00:30:00"), 1) == [
        "2026-11-01", "2026-11-02", "2026-11-03"]
    assert run_due(repo, STORES, at("2026-11-05T01:30:00"), 1) == ["2026-11-04"]
    assert run_due(repo, STORES, at("2026-11-05T23:00:00"), 1) == []  # nothing new due
    rows = {(r.store, r.day): r for r in repo.daily()}
    assert rows[("main", "2026-11-01")] == DailyRow(
        "main", "2026-11-01", {"critical": 1, "warning": 1}, 7200.0)
    assert rows[("main", "2026-11-02")] == DailyRow("main", "2026-11-02", {}, 7200.0)
    assert rows[("main", "2026-11-03")] == DailyRow("main", "2026-11-03", {"info": 1}, 30.0)
    assert rows[("main", "2026-11-04")] == DailyRow("main", "2026-11-04", {}, 0.0)
    assert [r for r in rows.values() if r.store == "idle"] == [
        DailyRow("idle", f"2026-11-0{d}", {}, 0.0) for d in range(1, 5)]
    assert len(rows) == 8
    # consolidating the same days again replaces them: the same rows, no duplicates
    days = [date(2026, 11, d) for d in range(1, 5)]
    repo.save_days(consolidate(repo.alerts(), STORES, days), [d.isoformat() for d in days])
    assert {(r.store, r.day): r for r in repo.daily()} == rows
    assert len(repo.daily()) == 8


def test_catch_up_after_a_gap(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    repo.ingest(HISTORY)
    run_due(repo, STORES, at("2026-11-05T02:00:00"), 1)
    # down from the 5th to the 9th; an alert fired meanwhile
    repo.ingest([rec("e", "2026-11-07T10:00:00.000000Z", "2026-11-07T10:10:00.000000Z")])
    assert run_due(repo, STORES, at("2026-11-09T05:00:00"), 1) == [
        "2026-11-05", "2026-11-06", "2026-11-07", "2026-11-08"]
    main = {r.day: (r.fired, r.alert_seconds) for r in repo.daily("main")}
    assert main["2026-11-07"] == ({"critical": 1}, 600.0)
    assert main["2026-11-06"] == main["2026-11-08"] == ({}, 0.0)
    assert len(main) == 8


def test_unresolved_alert_counts_whole_days(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    repo.ingest([rec("u", "2026-11-01T18:00:00.000000Z")])
    run_due(repo, ["main"], at("2026-11-03T03:00:00"), 1)
    assert [(r.day, r.fired_total, r.alert_seconds) for r in repo.daily()] == [
        ("2026-11-01", 1, 6 * 3600.0), ("2026-11-02", 0, 86400.0)]


def test_scheduler_metric_and_trends_api(tmp_path: Path) -> None:
    metrics = ConsolidatorMetrics()
    with consolidator(tmp_path / "c.sqlite", metrics=metrics) as c:
        c.repo.ingest(HISTORY)
        sched = DailyScheduler(c.repo, STORES, 1, metrics,
                               clock=lambda: at("2026-11-05T01:30:00"))
        assert sched.run_once() == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
        assert (metrics.registry.get_sample_value(
            "memwatch_consolidator_last_consolidation_timestamp_seconds") or 0) > 0
        status, _, raw = request(c.url, "GET", "/api/trends?store=main&days=2")
        assert status == 200
        no_snapshots = {"count_min": None, "count_max": None, "count_mean": None,
                        "count_last": None, "net_change": None, "largest_drop": None,
                        "uptime_ratio": None, "snapshots": 0, "gaps": 0}
        assert json.loads(raw) == {"store": "main", "days": [
            {"day": "2026-11-03", "fired": {"info": 1}, "fired_total": 1,
             "alert_seconds": 30.0, **no_snapshots},
            {"day": "2026-11-04", "fired": {}, "fired_total": 0, "alert_seconds": 0.0,
             **no_snapshots}]}
        assert request(c.url, "GET", "/api/trends?store=main&days=0")[0] == 422
