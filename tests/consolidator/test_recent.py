"""Repository.recent_alerts (what the page and the historical API read instead of every
alert) and snapshots since a time, on every storage (SQLite, PostgreSQL, MongoDB)."""

from __future__ import annotations

from pathlib import Path

from memwatch.consolidator.records import AlertRecord, Snapshot
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.test_knowledge import rec

DAY = "2026-11-10"


def t(hhmm: str, day: str = DAY) -> str:
    return f"{day}T{hhmm}:00.000000Z"


HISTORY = [
    rec("f1", t("08:00"), name="MemoryCountZero"),  # firing
    rec("f2", t("11:00"), name="MemoryIngestionStalled", severity="warning"),  # firing
    rec("f3", t("09:00"), store="other"),  # firing
    rec("f4", t("23:00", "2026-11-01"), store="other"),  # firing for 9 days
    rec("r1", t("10:00"), t("12:00")),  # resolved today
    rec("r2", t("23:00", "2026-11-09"), t("01:00")),  # resolved today, started yesterday
    rec("r3", t("05:00", "2026-11-08"), t("06:00", "2026-11-08")),  # resolved long ago
    rec("r4", t("12:30"), t("13:00"), store="other"),  # resolved today
]


def fps(alerts: list[AlertRecord]) -> list[str]:
    return [a.fingerprint for a in alerts]


def test_recent_alerts_bounded_newest_first(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.ingest(HISTORY)
    got = repo.recent_alerts(t("00:00"), 10)
    assert fps(got.firing) == ["f2", "f3", "f1", "f4"]  # newest start first
    assert fps(got.resolved) == ["r4", "r1", "r2"]  # newest resolution first
    assert got.firing_stores == {"main": (2, t("08:00")),
                                 "other": (2, t("23:00", "2026-11-01"))}
    assert (got.firing_total, got.resolved_total) == (4, 3)
    assert got.firing[0] == HISTORY[1]  # whole records, labels and all
    # at most `limit` of each; the counts stay whole
    few = repo.recent_alerts(t("00:00"), 2)
    assert (fps(few.firing), fps(few.resolved)) == (["f2", "f3"], ["r4", "r1"])
    assert (few.firing_stores, few.resolved_total) == (got.firing_stores, 3)
    # since: resolutions at or after it
    assert fps(repo.recent_alerts(t("12:00"), 10).resolved) == ["r4", "r1"]
    assert repo.recent_alerts(t("13:00", "2026-11-11"), 10).resolved_total == 0


def test_recent_alerts_follow_resolutions(make_repo: RepoFactory) -> None:
    repo = make_repo()
    empty = repo.recent_alerts(t("00:00"), 5)
    assert (empty.firing, empty.resolved, empty.firing_stores, empty.resolved_total) == (
        [], [], {}, 0)
    repo.ingest(HISTORY)
    resolved = AlertRecord(**{**HISTORY[0].as_json(), "resolved_at": t("14:00")})
    assert repo.ingest([resolved]).resolved == 1
    got = repo.recent_alerts(t("00:00"), 10)
    assert fps(got.firing) == ["f2", "f3", "f4"]
    assert fps(got.resolved) == ["f1", "r4", "r1", "r2"]
    assert got.resolved[0].resolved_at == t("14:00")
    assert got.firing_stores["main"] == (1, t("11:00"))


def test_snapshots_since(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.save_snapshots([Snapshot(s, t(f"{h:02d}:00"), count=h) for h in (1, 2, 3)
                         for s in ("main", "other")])
    assert [(s.store, s.count) for s in repo.snapshots(since=t("02:00"))] == [
        ("main", 2), ("other", 2), ("main", 3), ("other", 3)]
    assert [s.count for s in repo.snapshots("other", since=t("02:30"))] == [3]
    assert len(repo.snapshots()) == 6


def test_sqlite_reads_recent_alerts_through_an_index(tmp_path: Path) -> None:
    """The reads must not scan the alerts: 100,000 of them are the bench's."""
    repo = SqliteRepository(tmp_path / "c.sqlite")
    try:
        db = repo._db
        for sql in ("SELECT * FROM alerts WHERE resolved_at IS NULL "
                    "ORDER BY starts_at DESC, fingerprint DESC LIMIT 5",
                    "SELECT * FROM alerts WHERE resolved_at >= 'x' "
                    "ORDER BY resolved_at DESC, fingerprint DESC LIMIT 5",
                    "SELECT count(*) FROM alerts WHERE resolved_at >= 'x'",
                    "SELECT store, count(*), min(starts_at) FROM alerts "
                    "WHERE resolved_at IS NULL GROUP BY store"):
            plan = " ".join(str(r[-1]) for r in db.execute("EXPLAIN QUERY PLAN " + sql))
            assert "INDEX alerts_resolved" in plan, (sql, plan)
    finally:
        repo.close()
