"""Retention of raw alerts: alerts older than `retention_days` are folded into archived
per-series aggregates and deleted once their days are consolidated, and the knowledge base
answers exactly as before (on SQLite, PostgreSQL and MongoDB)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from memwatch.consolidator.knowledge import KnowledgeBase, patterns
from memwatch.consolidator.records import AlertRecord, iso
from memwatch.consolidator.scheduler import DailyScheduler
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.support import request, served
from tests.consolidator.test_knowledge import rec

START = datetime(2026, 11, 1, tzinfo=UTC)  # 120 days: 2026-11-01 .. 2027-02-28
NOW = datetime(2027, 3, 1, 2, 0, tzinfo=UTC)  # consolidation hour 1 has come
CUTOFF = iso(NOW - timedelta(days=90))  # 2026-12-01T02:00:00.000000Z


def at(day: int, hour: int = 0, minute: int = 0, us: int = 0) -> str:
    return iso(START + timedelta(days=day, hours=hour, minutes=minute, microseconds=us))


def history() -> list[AlertRecord]:
    out = []
    # every tenth day, resolved after 60.5 s plus a few microseconds: 12 occurrences
    for i, d in enumerate(range(0, 120, 10)):
        out.append(rec(f"z{i}", at(d, 3), at(d, 3, 1, 500_000 + i), env="prod"))
    # only before the cutoff: on three days, so an entry made of archived alerts only
    for d in (5, 6, 7):
        out.append(rec("stall", at(d, 9), at(d, 9, 30), name="MemoryIngestionStalled",
                       severity="warning"))
    # a day shared between a pruned occurrence and one still firing (kept: unresolved)
    out.append(rec("o1", at(20, 1), at(20, 2), store="other"))
    out.append(rec("o2", at(20, 5), store="other"))
    out.append(rec("o3", at(100, 5), at(100, 6), store="other", severity="warning"))
    # started before the cutoff, resolved after it: pruned (its days are consolidated)
    out.append(rec("long", at(29, 23), at(31, 4), name="MemoryGrowthStalled", env="prod"))
    # by env: one pattern per env value, one of them archived only
    for d in (1, 2, 3, 110):
        out.append(rec(f"e{d}", at(d, 12), at(d, 12, 5), name="MemoryDropRatioHigh",
                       severity="warning", env="dev" if d < 100 else "prod"))
    return out


def answers(base: str) -> dict[str, Any]:
    got = {}
    for path in ("/api/knowledge/export", "/api/knowledge/summary"):
        status, _, raw = request(base, "GET", path)
        assert status == 200, raw
        body = json.loads(raw)
        body.pop("generated_at", None)
        got[path] = body
    status, _, raw = request(base, "POST", "/api/knowledge/query",
                             json.dumps({"query": "memory store backup"}).encode(),
                             {"Content-Type": "application/json"})
    assert status == 200, raw
    got["query"] = json.loads(raw)
    return got


def persisted(base: str) -> dict[str, Any]:
    status, _, raw = request(base, "GET", "/api/persistence/export")
    assert status == 200
    body: dict[str, Any] = json.loads(raw)
    return body


def stored(base: str) -> list[str]:
    return sorted(a["fingerprint"] for a in persisted(base)["alerts"])


def test_pruning_keeps_the_knowledge(make_repo: RepoFactory) -> None:
    repo = make_repo()
    alerts = history()
    repo.ingest(alerts)
    kb = KnowledgeBase(min_days=3, labels=("env",))
    with served(repo, knowledge=kb) as c:
        before = answers(c.url)
        # the known answers, from the alerts themselves
        pats = {p["key"]: p for p in before["/api/knowledge/export"]["patterns"]}
        z = pats["MemoryCountZero/main/env=prod"]
        assert (z["occurrences"], z["days"], z["first_seen"], z["last_seen"]) == (
            12, 12, "2026-11-01T03:00:00.000000Z", "2027-02-19T03:00:00.000000Z")
        # 60.5 s + 0..11 µs
        assert z["mean_duration_seconds"] == pytest.approx(60.5000055, abs=1e-9)
        o = pats["MemoryCountZero/other/env="]
        assert (o["occurrences"], o["days"], o["mean_duration_seconds"]) == (3, 2, 3600.0)
        assert o["severities"] == {"critical": 2, "warning": 1}
        assert pats["MemoryDropRatioHigh/main/env=dev"]["days"] == 3
        assert pats["MemoryDropRatioHigh/main/env=prod"]["occurrences"] == 1
        assert sorted(e["key"] for e in before["/api/knowledge/export"]["entries"]) == [
            "MemoryCountZero/main/env=prod", "MemoryDropRatioHigh/main/env=dev",
            "MemoryIngestionStalled/main/env="]
        assert len(stored(c.url)) == len(alerts)

        sched = DailyScheduler(repo, ["main"], 1, ConsolidatorMetrics(), retention_days=90,
                               clock=lambda: NOW)
        days = sched.run_once()
        assert (days[0], days[-1], len(days)) == ("2026-11-01", "2027-02-28", 120)

        after = answers(c.url)
        assert after == before
        # gone: the resolved alerts that started before the cutoff (all days consolidated)
        pruned = {a.fingerprint for a in alerts
                  if a.starts_at < CUTOFF and a.resolved_at is not None}
        assert pruned == {"z0", "z1", "z2", "stall", "o1", "long", "e1", "e2", "e3"}
        assert stored(c.url) == sorted(a.fingerprint for a in alerts
                                       if a.fingerprint not in pruned)
        assert all(a.starts_at >= CUTOFF or a.resolved_at is None for a in repo.alerts())
        archive = repo.alert_archive()
        assert sum(g.occurrences for g in archive) == len(pruned) + 2  # stall: three
        stall = [g for g in persisted(c.url)["alert_archive"]
                 if g["alertname"] == "MemoryIngestionStalled"]
        assert stall == [{
            "alertname": "MemoryIngestionStalled", "store": "main",
            "labels": {"alertname": "MemoryIngestionStalled", "severity": "warning",
                       "store": "main"},
            "occurrences": 3, "days": ["2026-11-06", "2026-11-07", "2026-11-08"],
            "resolved": 3, "duration_us": 3 * 1800 * 10**6,
            "first_seen": "2026-11-06T09:00:00.000000Z",
            "last_seen": "2026-11-08T09:00:00.000000Z", "severities": {"warning": 3}}]

        # twice: nothing more to prune, nothing counted again
        assert repo.prune_alerts(CUTOFF) == 0
        assert repo.alert_archive() == archive
        assert answers(c.url) == before

    # the stored history as it was: same patterns from alerts + archive
    assert patterns(repo.alerts(), ("env",), repo.alert_archive()) == patterns(
        alerts, ("env",))
    # reopened: the archive is persisted
    reopened = make_repo()
    assert reopened.alert_archive() == archive


def test_alerts_of_unconsolidated_days_are_kept(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.ingest([
        rec("a", "2026-11-01T10:00:00.000000Z", "2026-11-01T10:05:00.000000Z"),
        rec("b", "2026-11-01T23:00:00.000000Z", "2026-11-02T01:00:00.000000Z"),  # resolved
        rec("c", "2026-11-03T10:00:00.000000Z", "2026-11-03T10:05:00.000000Z"),  # on the 2nd
        rec("d", "2026-10-30T10:00:00.000000Z"),  # still firing
    ])
    later = "2027-01-01T00:00:00.000000Z"
    assert repo.prune_alerts(later) == 0  # nothing consolidated yet
    assert repo.alert_archive() == []
    repo.save_days([], ["2026-10-30", "2026-10-31", "2026-11-01"])
    assert repo.prune_alerts("2026-11-01T09:00:00.000000Z") == 0  # none old enough
    assert repo.prune_alerts(later) == 1
    assert [a.fingerprint for a in repo.alerts()] == ["d", "b", "c"]
    [kept] = repo.alert_archive()
    assert (kept.occurrences, kept.days, kept.resolved, kept.duration_us) == (
        1, {"2026-11-01"}, 1, 300_000_000)
    repo.save_days([], [date(2026, 11, d).isoformat() for d in (2, 3)])
    assert repo.prune_alerts(later) == 2  # b and c now; d still firing
    assert [a.fingerprint for a in repo.alerts()] == ["d"]
    [kept] = repo.alert_archive()
    assert (kept.occurrences, kept.days, kept.first_seen, kept.last_seen) == (
        3, {"2026-11-01", "2026-11-03"}, "2026-11-01T10:00:00.000000Z",
        "2026-11-03T10:00:00.000000Z")


def test_mongodb_prune_finishes_a_batch_cut_short(make_repo: RepoFactory) -> None:
    """A crash after an aggregate took a batch but before its alerts were deleted: the
    next prune deletes them without counting them again."""
    from bson import ObjectId

    from memwatch.consolidator.records import fold
    from memwatch.consolidator.storage.mongodb import MongoRepository

    repo = make_repo()
    if not isinstance(repo, MongoRepository):
        pytest.skip("MongoDB only: SQLite and PostgreSQL prune in one transaction")
    repo.ingest([rec(f"m{d}", f"2026-11-0{d}T10:00:00.000000Z",
                     f"2026-11-0{d}T10:00:30.000000Z") for d in (1, 2, 3)])
    repo.save_days([], ["2026-11-01", "2026-11-02", "2026-11-03"])
    alerts = repo._alerts
    # a batch just marked by another consolidator is its own to finish
    fresh = str(ObjectId())
    alerts.update_many({}, {"$set": {"prune_batch": fresh}})
    assert repo.prune_alerts("2027-01-01T00:00:00.000000Z") == 0
    assert (repo.count_alerts(), repo.alert_archive()) == (3, [])
    alerts.update_many({}, {"$set": {"prune_batch": None}})
    # a crashed prune's batch (its token is old): taken over  # the steps a crash interrupts
    alerts.update_many({"starts_at": {"$lt": "2026-11-03"}},
                       {"$set": {"prune_batch": "000000000000000000000001"}})
    for agg in fold(repo.alerts()[:2]).values():
        repo._archive_batch(agg, "000000000000000000000001")
    [half] = repo.alert_archive()
    assert half.occurrences == 2
    assert repo.count_alerts() == 3  # crashed before the delete
    assert repo.prune_alerts("2027-01-01T00:00:00.000000Z") == 3
    [whole] = repo.alert_archive()
    assert (whole.occurrences, len(whole.days), whole.duration_us) == (3, 3, 90_000_000)
    assert repo.count_alerts() == 0
