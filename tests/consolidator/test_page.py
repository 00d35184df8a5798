"""GET /: the trend chart shows the consolidated days, alert days marked, and the KB."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.scheduler import run_due
from memwatch.spec import parse_spec
from tests.consolidator.support import consolidator, request
from tests.consolidator.test_daily import HISTORY
from tests.consolidator.test_knowledge import SPEC, rec

INNER_HEIGHT = 160 - 2 * 24


def test_page_charts_each_store_and_lists_entries(tmp_path: Path) -> None:
    spec = parse_spec(SPEC.replace("title: Other store emptied",
                                   "title: <script>alert(1)</script>"))
    with consolidator(tmp_path / "c.sqlite", knowledge=KnowledgeBase.from_spec(spec)) as c:
        c.repo.ingest(HISTORY)
        c.repo.ingest([rec(f"o{d}", f"2026-11-0{d}T01:00:00.000000Z", store="other")
                       for d in (1, 2, 3)])
        run_due(c.repo, ["main", "other"], datetime(2026, 11, 5, 2, tzinfo=UTC), 1)
        status, headers, raw = request(c.url, "GET", "/")
        html = raw.decode()
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    charts = dict(re.findall(r'<svg class="trend" data-store="([^"]+)"(.*?)</svg>', html,
                             re.S))
    assert sorted(charts) == ["main", "other"]
    main_bars = re.findall(r'<rect class="bar" data-day="([^"]+)"\s+data-seconds="([^"]+)"'
                           r'.*?height="([^"]+)"', charts["main"], re.S)
    assert [(d, float(s)) for d, s, _ in main_bars] == [
        ("2026-11-01", 7200.0), ("2026-11-02", 7200.0), ("2026-11-03", 30.0),
        ("2026-11-04", 0.0)]
    # the bar's height is the share of the day in alert
    assert float(main_bars[0][2]) == round(INNER_HEIGHT * 7200 / 86400, 2)
    assert float(main_bars[3][2]) == 0
    marks = re.findall(r'<circle class="mark" data-day="([^"]+)" data-fired="(\d+)"',
                       charts["main"])
    assert marks == [("2026-11-01", "2"), ("2026-11-03", "1")]
    # the knowledge base: the recurring pattern of `other`, its title escaped
    assert 'data-key="MemoryCountZero/other"' in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
