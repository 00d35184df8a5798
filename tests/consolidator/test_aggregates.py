"""The knowledge base read from the per-series aggregates the repositories keep up to date
gives exactly what the full scan of every alert gives (the computation the consolidator
ran on every request before), on SQLite, PostgreSQL and MongoDB, over a varied history:
several stores and days, resolutions arriving with the alert and later, duplicates,
pattern_labels, and alerts pruned into the archive. And the revision that tells when a
computed answer is stale moves with every change, and only then."""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from memwatch.consolidator.knowledge import KnowledgeBase, group, patterns, search
from memwatch.consolidator.records import AlertRecord, fold, iso
from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.support import request, served
from tests.consolidator.test_knowledge import rec

START = datetime(2026, 10, 1, tzinfo=UTC)
LABELINGS: list[tuple[str, ...]] = [(), ("env",), ("env", "instance")]
NAMES = ["MemoryCountZero", "MemoryIngestionStalled", "MemoryDatabaseDown", "Custom"]


def varied(seed: int = 7) -> tuple[list[AlertRecord], list[AlertRecord]]:
    """(first deliveries, later deliveries): 300 occurrences on 40 days; of them ~60%
    arrive resolved, ~20% firing and resolved later, the rest stay firing; the later
    deliveries also repeat a few first ones unchanged (duplicates)."""
    rnd = random.Random(seed)
    first, later = [], []
    for i in range(300):
        starts = START + timedelta(days=rnd.randrange(40), seconds=rnd.randrange(86400),
                                   microseconds=rnd.randrange(10**6))
        ends = starts + timedelta(seconds=rnd.randrange(1, 30000),
                                  microseconds=rnd.randrange(10**6))
        extra = {k: v for k, v in (("env", rnd.choice(["prod", "dev", ""])),
                                   ("instance", rnd.choice(["a", "b"]))) if v}
        kind = rnd.random()
        a = rec(f"f{i % 37}", iso(starts), iso(ends) if kind < 0.6 else None,
                name=rnd.choice(NAMES), store=rnd.choice(["main", "other", "third"]),
                severity=rnd.choice(["critical", "warning", "info", ""]), **extra)
        first.append(a)
        if 0.6 <= kind < 0.8:
            later.append(AlertRecord(**{**a.as_json(), "resolved_at": iso(ends)}))
        elif kind < 0.1:
            later.append(a)
    return first, later


def full_scan(repo: Repository, labels: tuple[str, ...]) -> list[Any]:
    """The patterns as the consolidator computed them on every request before."""
    return patterns(repo.alerts(), labels, repo.alert_archive())


def check(repo: Repository) -> None:
    assert repo.alert_series() == sorted(fold(repo.alerts()).values(), key=lambda g: g.key)
    for labels in LABELINGS:
        assert group([*repo.alert_series(), *repo.alert_archive()], labels) == full_scan(
            repo, labels)


def test_aggregates_equal_the_full_scan(make_repo: RepoFactory) -> None:
    repo = make_repo()
    first, later = varied()
    for i in range(0, len(first), 50):  # deliveries of 50
        repo.ingest(first[i:i + 50])
    check(repo)
    r = repo.ingest(later)
    assert r.resolved > 20 and r.duplicates > 10  # the history has both
    check(repo)
    # consolidate 30 days and prune those before day 20 into the archive
    repo.save_days([], [(START + timedelta(days=d)).date().isoformat() for d in range(30)])
    pruned = repo.prune_alerts(iso(START + timedelta(days=20)))
    assert pruned > 50 and repo.alert_archive()
    check(repo)
    # after the prune: new occurrences of archived series, on pruned and on new days
    more = [AlertRecord(**{**a.as_json(), "starts_at": iso(datetime.fromisoformat(
        a.starts_at.replace("Z", "+00:00")) + timedelta(days=days, seconds=1))})
            for a, days in zip(first[:40], [0, 45] * 20, strict=True)]
    assert repo.ingest(more).stored == 40
    check(repo)
    # a second prune folding into the existing archive entries
    repo.save_days([], [(START + timedelta(days=d)).date().isoformat() for d in range(30, 90)])
    assert repo.prune_alerts(iso(START + timedelta(days=60))) > 0
    check(repo)
    repo.close()
    check(make_repo())  # persisted


def reference_summary(repo: Repository, kb: KnowledgeBase) -> dict[str, Any]:
    """GET /api/knowledge/summary as the full-scan code built it."""
    alerts, archived = repo.alerts(), repo.alert_archive()
    found = [e.as_json() for e in kb.entries(alerts, archived)]
    return {"entries": len(found), "patterns": len(patterns(alerts, kb.labels, archived)),
            "min_days": kb.min_days,
            "by_category": dict(sorted(Counter(e["category"] for e in found).items())),
            "by_severity": dict(sorted(Counter(e["severity"] for e in found).items())),
            "most_frequent": sorted(found, key=lambda e: (-e["occurrences"], e["key"]))[:5]}


def get(base: str, path: str) -> Any:
    status, _, raw = request(base, "GET", path)
    assert status == 200, raw
    return json.loads(raw)


def test_served_answers_equal_the_full_scan(make_repo: RepoFactory) -> None:
    repo = make_repo()
    first, later = varied(seed=11)
    repo.ingest(first)
    kb = KnowledgeBase(min_days=3, labels=("env",))
    with served(repo, knowledge=kb) as c:
        for step in range(3):
            assert get(c.url, "/api/knowledge/summary") == reference_summary(repo, kb)
            export = get(c.url, "/api/knowledge/export")
            assert export["entries"] == [e.as_json() for e in kb.entries(
                repo.alerts(), repo.alert_archive())]
            assert [p["key"] for p in export["patterns"]] == [
                p.key for p in full_scan(repo, kb.labels)]
            status, _, raw = request(c.url, "POST", "/api/knowledge/query",
                                     b'{"query": "restore harvest down", "limit": 7}',
                                     {"Content-Type": "application/json"})
            assert status == 200
            assert json.loads(raw)["results"] == [e.as_json() for e in search(
                kb.entries(repo.alerts(), repo.alert_archive()), "restore harvest down", 7)]
            page = request(c.url, "GET", "/")[2].decode()
            assert page.count("<tr data-key=") == export["entries"].__len__() > 0
            if step == 0:  # the next answers after new alerts and resolutions
                repo.ingest(later)
            elif step == 1:  # and after a prune
                repo.save_days([], [(START + timedelta(days=d)).date().isoformat()
                                    for d in range(40)])
                assert repo.prune_alerts(iso(START + timedelta(days=30))) > 0


def test_revision_moves_with_every_change_only(make_repo: RepoFactory) -> None:
    repo = make_repo()
    first, _ = varied(seed=3)
    seen = [repo.revision()]

    def moved() -> bool:
        seen.append(repo.revision())
        return seen[-1] != seen[-2]

    repo.ingest(first[:10])
    assert moved()
    repo.ingest(first[:10])  # duplicates only: nothing changed
    assert not moved()
    firing = next(a for a in first if a.resolved_at is None)
    repo.ingest([AlertRecord(**{**firing.as_json(), "resolved_at": "2026-12-01T00:00:00.000000Z"})])
    assert moved()  # a resolution
    repo.save_days([], ["2026-10-01"])
    assert moved()
    assert repo.prune_alerts("2026-01-01T00:00:00.000000Z") == 0
    assert not moved()
    repo.save_days([], [(START + timedelta(days=d)).date().isoformat() for d in range(40)])
    assert moved()
    assert repo.prune_alerts("2027-01-01T00:00:00.000000Z") > 0
    assert moved()
    assert seen == sorted(seen)  # it only grows


def test_revision_sees_another_consolidators_writes(make_repo: RepoFactory) -> None:
    one = make_repo()
    if isinstance(one, SqliteRepository):
        pytest.skip("one consolidator writes a SQLite file")
    other = make_repo()
    before = one.revision()
    other.ingest(varied()[0][:5])
    deadline = time.monotonic() + 10  # polled every 0.1 s
    while one.revision() == before:
        assert time.monotonic() < deadline, "the other consolidator's write was not seen"
        time.sleep(0.05)
    assert one.alert_series() == other.alert_series()


def test_stats_built_for_a_history_stored_before_them(make_repo: RepoFactory) -> None:
    """A database written by a version without the aggregates gets them on start."""
    repo = make_repo()
    first, later = varied(seed=5)
    repo.ingest(first)
    repo.ingest(later)
    expected = repo.alert_series()
    if isinstance(repo, SqliteRepository):
        repo.close()
        db = sqlite3.connect(repo.path)
        db.execute("DROP TABLE alert_stats")
        db.commit()
        db.close()
    elif type(repo).__name__ == "PostgresRepository":
        repo._run(lambda c: c.execute("DROP TABLE consolidator_alert_stats"))  # type: ignore[attr-defined]
        repo.close()
    else:  # MongoDB: alerts resolved without their duration stored
        repo._alerts.update_many({}, {"$unset": {"duration_us": ""}})  # type: ignore[attr-defined]
        repo.close()
    assert make_repo().alert_series() == expected


def delivery(i: int, broken: bool = False) -> list[AlertRecord]:
    out = [rec(f"c{i}-{k}", iso(START + timedelta(hours=i, minutes=k))) for k in range(3)]
    if broken:  # its last record cannot be serialised: the delivery must store nothing
        out[-1] = AlertRecord(**{**out[-1].as_json(), "labels": {"x": object()}})  # type: ignore[dict-item]
    return out


def test_deliveries_committed_together_stay_all_or_nothing(make_repo: RepoFactory) -> None:
    repo = make_repo()
    # SQLite, PostgreSQL: one transaction, savepoints; MongoDB: one bulk write each
    results = repo.ingest_batch([delivery(1), delivery(2, broken=True), delivery(3)])
    assert [type(r).__name__ for r in results] == ["IngestResult", "TypeError",
                                                   "IngestResult"]
    assert sorted(a.fingerprint[:2] for a in repo.alerts()) == ["c1"] * 3 + ["c3"] * 3
    with ThreadPoolExecutor(20) as pool:
        futures = [pool.submit(repo.ingest, delivery(i, broken=i == 17))
                   for i in range(10, 50)]
    for i, f in enumerate(futures, 10):
        if i == 17:
            with pytest.raises(TypeError):
                f.result()
        else:
            assert (f.result().stored, f.result().duplicates) == (3, 0)
    assert not [a for a in repo.alerts() if a.fingerprint.startswith("c17-")]
    assert repo.count_alerts() == 39 * 3 + 6
    check(repo)
