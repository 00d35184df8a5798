"""The daily Markdown report: served for a consolidated day, written to reports_dir."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.records import Snapshot
from memwatch.consolidator.scheduler import DailyScheduler
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.spec import parse_spec
from tests.consolidator.support import consolidator, request
from tests.consolidator.test_knowledge import HISTORY, SPEC

# main is in alert all day: MemoryIngestionStalled fired on the 3rd, never resolved.
# main is in alert all day: MemoryIngestionStalled fired on the 3rd, never resolved.
EXPECTED_04 = """\
# memwatch daily report 2026-11-04

## Trends

| store | last | min | max | mean | net change | largest drop | uptime | alerts fired \
| time in alert (s) | snapshots | gaps |
|---|---|---|---|---|---|---|---|---|---|---|---|
| main | 90 | 90 | 120 | 105.0 | -30 | 30 | 50.0% | critical 1 | 86400 | 2 | 0 |
| other | n/a | n/a | n/a | n/a | n/a | n/a | n/a | 0 | 0 | 0 | 0 |

## Alerts

- 08:00:00Z **MemoryCountZero** (critical) on `main`, not resolved

## Recurring patterns

### Store emptied

`MemoryCountZero/main`: 4 times on 3 days, mean duration 120 s; first 2026-11-01, \
last 2026-11-04. Severity critical, category data-loss.

Restore the last backup.

1. Stop the writers
2. Restore the dump
3. Compare counts
"""


def test_report_served_and_written(tmp_path: Path) -> None:
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    metrics = ConsolidatorMetrics()
    with consolidator(tmp_path / "c.sqlite", knowledge=kb, metrics=metrics) as c:
        c.repo.ingest(HISTORY)
        c.repo.save_snapshots([
            Snapshot("main", "2026-11-04T06:00:00.000000Z", count=120, up=1),
            Snapshot("main", "2026-11-04T07:00:00.000000Z", count=90, up=0)])
        sched = DailyScheduler(c.repo, ["main", "other"], 1, metrics,
                               clock=lambda: datetime(2026, 11, 5, 3, tzinfo=UTC),
                               reports=(kb, tmp_path / "reports"))
        assert sched.run_once()[-1] == "2026-11-04"
        status, headers, raw = request(c.url, "GET", "/api/reports/2026-11-04")
        assert status == 200
        assert headers["content-type"].startswith("text/markdown")
        assert raw.decode() == EXPECTED_04
        # as of the 2nd, the pattern had been seen on 2 days only: no recurring entry
        status, _, raw = request(c.url, "GET", "/api/reports/2026-11-02")
        assert "None yet." in raw.decode()
        assert request(c.url, "GET", "/api/reports/2026-11-09")[0] == 404
        assert request(c.url, "GET", "/api/reports/yesterday")[0] == 422
    written = sorted(p.name for p in (tmp_path / "reports").iterdir())
    assert written == [f"2026-11-0{d}.md" for d in range(1, 5)]
    assert (tmp_path / "reports" / "2026-11-04.md").read_text() == EXPECTED_04
