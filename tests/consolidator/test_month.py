"""A synthetic month of hourly snapshots and alerts: every daily trend column is known;
consolidation catches up after a gap and a rerun gives the same rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

from memwatch.consolidator.daily import consolidate
from memwatch.consolidator.records import Snapshot
from memwatch.consolidator.scheduler import run_due
from tests.consolidator.conftest import RepoFactory
from tests.consolidator.test_knowledge import rec


def count_at(day: int, hour: int) -> float:
    if day == 15 and hour >= 12:  # a loss at noon on the 15th
        return 500.0 + (hour - 12)
    return 1000.0 + 10 * day + hour


def month() -> list[Snapshot]:
    out = []
    for day in range(1, 31):
        for hour in range(24):
            at = f"2026-11-{day:02d}T{hour:02d}:00:00.000000Z"
            if day == 25 and hour < 4:  # Prometheus down for four hours
                out.append(Snapshot(store="main", at=at, error="unreachable"))
                continue
            up = 0.0 if day == 20 and hour < 6 else 1.0
            out.append(Snapshot(store="main", at=at, count=count_at(day, hour),
                                drop_ratio=0.0, up=up, newest_seconds=0.0, backlog=0.0))
    return out


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_month_of_trends_with_catch_up(make_repo: RepoFactory) -> None:
    repo = make_repo()
    repo.save_snapshots(month())
    repo.ingest([rec("z", "2026-11-15T12:00:00.000000Z", "2026-11-15T12:30:00.000000Z")])
    assert run_due(repo, ["main"], at("2026-11-10T02:00:00"), 1) == [
        f"2026-11-{d:02d}" for d in range(1, 10)]
    # down from the 10th to December: the next run catches up the 10th to the 30th
    assert run_due(repo, ["main"], at("2026-12-01T01:00:00"), 1) == [
        f"2026-11-{d:02d}" for d in range(10, 31)]
    rows = {r.day: r for r in repo.daily("main")}
    assert len(rows) == 30
    for d in range(1, 31):
        if d in (15, 20, 25):
            continue
        r = rows[f"2026-11-{d:02d}"]
        base = 1000.0 + 10 * d
        assert (r.count_min, r.count_max, r.count_mean, r.count_last) == (
            base, base + 23, base + 11.5, base + 23), d
        assert (r.net_change, r.largest_drop, r.uptime_ratio) == (23, 0, 1.0), d
        assert (r.snapshots, r.gaps, r.fired, r.alert_seconds) == (24, 0, {}, 0.0), d
    loss = rows["2026-11-15"]
    assert (loss.count_min, loss.count_max, loss.count_last) == (500, 1161, 511)
    assert loss.net_change == 511 - 1150
    assert loss.largest_drop == 1161 - 500
    assert loss.count_mean == (sum(1150 + h for h in range(12)) + sum(
        500 + h for h in range(12))) / 24
    assert (loss.fired, loss.alert_seconds) == ({"critical": 1}, 1800.0)
    assert rows["2026-11-20"].uptime_ratio == 18 / 24
    gap = rows["2026-11-25"]
    assert (gap.snapshots, gap.gaps, gap.count_min, gap.count_mean) == (
        20, 4, 1254, sum(1250 + h for h in range(4, 24)) / 20)
    # a rerun over the whole month writes exactly the same rows
    days = [date(2026, 11, d) for d in range(1, 31)]
    repo.save_days(consolidate(repo.alerts(), ["main"], days, repo.snapshots()),
                   [d.isoformat() for d in days])
    assert {r.day: r for r in repo.daily("main")} == rows
