"""An alert delivered after its day was consolidated: that day is consolidated again, on
every storage, after a restart too, and through /api/trends (issue 11, defect 12)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from memwatch.consolidator.records import AlertRecord, DailyRow, LateDays, late_days
from memwatch.consolidator.scheduler import DailyScheduler, run_due
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.storage.base import Repository
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.support import consolidator, post_json, request
from tests.consolidator.test_knowledge import rec

STORES = ["main"]
# consolidated through 11-04 at 01:30 on the 5th: an hour on 11-01, one still firing
# since noon on 11-03
ON_TIME = [rec("a", "2026-11-01T10:00:00.000000Z", "2026-11-01T11:00:00.000000Z"),
           rec("u", "2026-11-03T12:00:00.000000Z")]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def late(record: AlertRecord, received: str) -> AlertRecord:
    return replace(record, received_at=received)


def rows(repo: Repository) -> dict[str, tuple[dict[str, int], float]]:
    return {r.day: (r.fired, r.alert_seconds) for r in repo.daily("main")}


def test_late_days_spans() -> None:
    starts, resolved = "2026-11-02T10:00:00.000000Z", "2026-11-02T10:10:00.000000Z"
    # received the same day: nothing complete changed
    assert late_days([(rec("x", starts, resolved), True)]) is None
    # a new occurrence received days later: its own days, start through resolution
    got = late_days([(late(rec("x", starts, resolved), "2026-11-06T09:00:00.000000Z"), True)])
    assert (got.lo, got.hi) == ("2026-11-02", "2026-11-02") if got else False
    # still firing: every complete day since it started
    got = late_days([(late(rec("x", starts), "2026-11-06T09:00:00.000000Z"), True)])
    assert (got.lo, got.hi) == ("2026-11-02", "2026-11-05") if got else False
    # a resolution for a known occurrence: the days from the resolution on
    got = late_days([(late(rec("x", starts, resolved), "2026-11-06T09:00:00.000000Z"), False)])
    assert (got.lo, got.hi) == ("2026-11-02", "2026-11-05") if got else False
    # a resolution received the day it came: nothing
    assert late_days([(late(rec("x", starts, resolved), resolved), False)]) is None
    assert LateDays("2026-11-02", "2026-11-05").days(date(2026, 11, 4)) == [
        date(2026, 11, 4), date(2026, 11, 5)]


def test_late_occurrence_and_resolution_are_consolidated_again(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.ingest(ON_TIME)
    assert run_due(repo, STORES, at("2026-11-05T01:30:00"), 1) == [
        "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    before = rows(repo)
    assert before["2026-11-02"] == ({}, 0.0)
    assert before["2026-11-03"] == ({"critical": 1}, 12 * 3600.0)
    assert before["2026-11-04"] == ({}, 86400.0)
    assert repo.late_days() == []

    # on the 6th: an occurrence of the 2nd arrives, and the one firing since the 3rd is
    # resolved at 13:00 that day
    received = "2026-11-06T09:00:00.000000Z"
    repo.ingest([late(rec("l", "2026-11-02T10:00:00.000000Z", "2026-11-02T10:10:00.000000Z",
                          severity="warning"), received),
                 late(rec("u", "2026-11-03T12:00:00.000000Z", "2026-11-03T13:00:00.000000Z"),
                      received)])
    assert [(n.lo, n.hi) for n in repo.late_days()] == [("2026-11-02", "2026-11-05")]

    # a restart: the note is in the storage, not in the process
    repo = make_repo()
    assert run_due(repo, STORES, at("2026-11-06T09:05:00"), 1) == [
        "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"]
    after = rows(repo)
    assert after["2026-11-01"] == before["2026-11-01"]
    assert after["2026-11-02"] == ({"warning": 1}, 600.0)
    assert after["2026-11-03"] == ({"critical": 1}, 3600.0)
    assert after["2026-11-04"] == after["2026-11-05"] == ({}, 0.0)
    assert repo.late_days() == []
    assert run_due(repo, STORES, at("2026-11-06T10:05:00"), 1) == []  # settled
    # a duplicate delivery of the late alert changes nothing and notes nothing
    repo.ingest([late(rec("l", "2026-11-02T10:00:00.000000Z", "2026-11-02T10:10:00.000000Z",
                          severity="warning"), "2026-11-07T09:00:00.000000Z")])
    assert repo.late_days() == []


def test_a_note_made_while_consolidating_is_kept(make_repo: RepoFactory) -> None:
    """The scheduler drops only the notes it read: one a delivery writes meanwhile (after
    the scheduler read the alerts) waits for the next run."""
    repo = make_repo()
    repo.ingest(ON_TIME)
    run_due(repo, STORES, at("2026-11-05T01:30:00"), 1)
    repo.ingest([late(rec("l1", "2026-11-01T20:00:00.000000Z", "2026-11-01T20:30:00.000000Z"),
                      "2026-11-05T02:00:00.000000Z")])
    read = repo.late_days()
    repo.ingest([late(rec("l2", "2026-11-02T20:00:00.000000Z", "2026-11-02T20:30:00.000000Z"),
                      "2026-11-05T02:00:01.000000Z")])
    repo.save_days([DailyRow("main", "2026-11-01", {"critical": 2}, 5400.0)],
                   ["2026-11-01"], read)
    assert [(n.lo, n.hi) for n in repo.late_days()] == [("2026-11-02", "2026-11-02")]
    assert run_due(repo, STORES, at("2026-11-05T02:05:00"), 1) == ["2026-11-02"]
    assert rows(repo)["2026-11-02"] == ({"critical": 1}, 1800.0)


def test_days_past_retention_are_not_recounted(make_repo: RepoFactory) -> None:
    """Retention pruned those days' alerts: a recount would lose them. The note goes."""
    repo = make_repo()
    repo.ingest(ON_TIME)
    run_due(repo, STORES, at("2026-11-05T01:30:00"), 1)
    repo.ingest([late(rec("l", "2026-11-01T20:00:00.000000Z", "2026-11-03T20:00:00.000000Z"),
                      "2026-11-05T02:00:00.000000Z")])
    assert run_due(repo, STORES, at("2026-11-05T02:05:00"), 1,
                   keep_from=date(2026, 11, 3)) == ["2026-11-03"]
    got = rows(repo)
    assert got["2026-11-01"] == ({"critical": 1}, 3600.0)  # as it was
    assert got["2026-11-03"] == ({"critical": 1}, 86400.0)  # l until 20:00, u from noon
    assert repo.late_days() == []


def test_late_delivery_reaches_trends(tmp_path: Path) -> None:
    """Through the webhook and /api/trends, as the adversarial run found it: the day
    stayed fired_total 0, even after a restart."""
    metrics = ConsolidatorMetrics()
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    with consolidator(tmp_path / "c.sqlite", metrics=metrics) as c:
        # the webhook stamps deliveries with the real clock: the scheduler's is real too
        sched = DailyScheduler(c.repo, STORES, 0, metrics)
        assert sched.run_once() == [yesterday]
        assert sched.run_once() == []
        status, _ = post_json(c.url, {
            "version": "4", "status": "resolved", "receiver": "memwatch",
            "alerts": [{"status": "resolved", "fingerprint": "late1",
                        "labels": {"alertname": "MemoryCountZero", "store": "main",
                                   "severity": "critical"},
                        "startsAt": f"{yesterday}T10:00:00Z",
                        "endsAt": f"{yesterday}T10:05:00Z"}]})
        assert status == 200
        assert sched.run_once() == [yesterday]
        status, _, raw = request(c.url, "GET", "/api/trends?store=main&days=1")
        assert status == 200
        day = json.loads(raw)["days"][0]
        assert (day["day"], day["fired_total"], day["alert_seconds"]) == (yesterday, 1, 300.0)
