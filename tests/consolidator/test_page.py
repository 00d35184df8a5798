"""GET /: what is firing now and since when, what was resolved lately, each store's memory
count with the days in alert, the knowledge base with its runbooks, links; read from
bounded queries (never every alert) and cached per revision and minute."""

from __future__ import annotations

import asyncio
import html as html_lib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.records import AlertRecord, Snapshot
from memwatch.consolidator.scheduler import run_due
from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.storage.sqlite import SqliteRepository
from memwatch.consolidator.views import Views
from memwatch.spec import parse_spec
from tests.consolidator.support import request, served
from tests.consolidator.test_knowledge import SPEC, rec

NOW = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
BOOK = "https://wiki.example/runbooks#count-zero"
RUNBOOKS = "https://runbooks.example/memwatch.md"  # the spec's alerts.runbook_url


def t(hhmm: str, day: str = "2026-11-10") -> str:
    return f"{day}T{hhmm}:00.000000Z"


def annotated(a: AlertRecord, **annotations: str) -> AlertRecord:
    return AlertRecord(**{**a.as_json(), "annotations": annotations})


HISTORY = [
    # firing since 12:00 today, its runbook annotation as gen-monitoring writes it
    annotated(rec("f1", t("12:00")), summary="main has no memories", runbook_url=BOOK),
    # firing since yesterday 20:00; a javascript: runbook is not linked
    annotated(rec("f2", t("20:00", "2026-11-09"), name="MemoryIngestionStalled",
                  severity="warning", store="other"), runbook_url="javascript:alert(1)"),
    rec("r1", t("09:00"), t("10:30"), store="other"),  # resolved today
    rec("r2", t("05:00", "2026-11-07"), t("06:00", "2026-11-07")),  # resolved days ago
    rec("o5", t("01:00", "2026-11-05"), t("01:10", "2026-11-05"), store="other"),
    rec("o6", t("01:00", "2026-11-06"), t("01:10", "2026-11-06"), store="other"),
]


class NoFullRead:
    """The repository, except that reading every alert fails the test."""

    def __init__(self, repo: Repository) -> None:
        self._repo = repo

    def alerts(self, **_: Any) -> list[AlertRecord]:
        raise AssertionError("the page read every alert")

    def __getattr__(self, name: str) -> Any:
        return getattr(self._repo, name)


def seeded(path: Path) -> SqliteRepository:
    repo = SqliteRepository(path)
    repo.ingest(HISTORY)
    repo.save_snapshots([Snapshot("main", (NOW - timedelta(hours=h)).strftime(
        "%Y-%m-%dT%H:%M:%S.000000Z"), count=1000.0 if h > 50 else 400.0, up=1.0)
        for h in range(0, 6 * 24, 3)])
    run_due(repo, ["main", "other"], NOW, 1)  # the 4th to the 9th consolidated
    return repo


def page(tmp_path: Path, path: str = "/", clock: Any = lambda: NOW) -> tuple[int, str]:
    spec = parse_spec(SPEC.replace("title: Other store emptied",
                                   "title: <script>alert(1)</script>").replace(
        "\nalerts:\n", f"\nalerts:\n  runbook_url: {RUNBOOKS}\n"))
    repo = seeded(tmp_path / "c.sqlite")
    try:
        with served(cast(Repository, NoFullRead(repo)), clock=clock,
                    knowledge=KnowledgeBase.from_spec(spec)) as c:
            status, headers, raw = request(c.url, "GET", path)
    finally:
        repo.close()
    assert status != 200 or headers["content-type"].startswith("text/html")
    return status, raw.decode()


def rows(html: str, table: str) -> list[dict[str, str]]:
    """The alert rows of the `firing` or `resolved` table: their data and cells' text."""
    body = re.search(rf'<table class="alerts {table}">(.*?)</table>', html, re.S)
    assert body, table
    out = []
    for attrs, cells in re.findall(r'<tr class="alert" (.*?)>(.*?)</tr>', body[1], re.S):
        row = dict(re.findall(r'data-(\w+)="([^"]*)"', attrs))
        row["cells"] = " | ".join(" ".join(re.sub(r"<[^>]+>", " ", c).split())
                                  for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S))
        row["links"] = " ".join(re.findall(r'href="([^"]*)"', cells))
        row["bar"] = ",".join(re.findall(r'class="(?:firing|resolved)" x="([^"]+)"\s+'
                                         r'width="([^"]+)"', cells)[0])
        out.append(row)
    return out


def test_firing_and_resolved_with_durations_and_runbooks(tmp_path: Path) -> None:
    status, html = page(tmp_path)
    assert status == 200
    assert '<p class="status firing" data-firing="2">\n2 alerts firing on\n2 stores</p>' in html
    assert "<title>(2 firing) memwatch consolidator</title>" in html
    firing = rows(html, "firing")
    assert [(r["alert"], r["store"], r["starts"]) for r in firing] == [
        ("MemoryCountZero", "main", t("12:00")),
        ("MemoryIngestionStalled", "other", t("20:00", "2026-11-09"))]
    assert firing[0]["cells"] == ("critical | MemoryCountZero main has no memories | main | "
                                  "2026-11-10 12:00 | 3 h 0 min |  | runbook")
    assert firing[0]["links"] == BOOK
    # the catalogue's runbook instead of a javascript: link
    assert firing[1]["links"] == f"{RUNBOOKS}#memoryingestionstalled"
    assert "javascript:" not in html
    assert firing[1]["cells"].split(" | ")[4] == "19 h 0 min"
    # the strips of the last 24 hours: 192 px, 8 px an hour
    assert [r["bar"] for r in firing] == ["168.0,24.0", "40.0,152.0"]
    resolved = rows(html, "resolved")  # the last 24 hours only
    assert [(r["alert"], r["store"], r["cells"].split(" | ")[3:6], r["bar"])
            for r in resolved] == [("MemoryCountZero", "other",
                                    ["2026-11-10 09:00", "2026-11-10 10:30", "1 h 30 min"],
                                    "144.0,12.0")]


def bands(html: str, store: str) -> list[tuple[str, str, float, float, str]]:
    """A chart's shaded days: kind, day, x, width, the title's text."""
    svg = re.search(rf'<svg class="count" data-store="{store}"(.*?)</svg>', html, re.S)
    assert svg, store
    return [(kind, title[:10], float(x), float(w), title) for kind, x, w, title in re.findall(
        r'<rect class="(alert|sofar)" x="([^"]+)" width="([^"]+)"\s+height="164">'
        r"<title>([^<]+)</title>", svg[1])]


def test_store_charts_shade_the_days_in_alert_today_so_far(tmp_path: Path) -> None:
    status, html = page(tmp_path, "/?days=10")
    assert status == 200
    day = (1180 - 72 - 76) / 10  # the plot's width over ten days
    # main: in alert on the 7th (consolidated) and today since 12:00
    assert bands(html, "main") == [
        ("alert", "2026-11-07", round(72 + 6 * day, 1), round(day, 1),
         "2026-11-07: 1 h 0 min in alert, 1 fired"),
        ("sofar", "2026-11-10", round(72 + 9 * day, 1), round(day * 15 / 24, 1),
         "2026-11-10 (so far): 3 h 0 min in alert, 1 fired")]
    # other: the 5th and 6th; yesterday from 20:00 (consolidated: a whole day); today
    assert [(k, d, title) for k, d, _, _, title in bands(html, "other")] == [
        ("alert", "2026-11-05", "2026-11-05: 10 min in alert, 1 fired"),
        ("alert", "2026-11-06", "2026-11-06: 10 min in alert, 1 fired"),
        ("alert", "2026-11-09", "2026-11-09: 4 h 0 min in alert, 1 fired"),
        ("sofar", "2026-11-10", "2026-11-10 (so far): 15 h 0 min in alert, 1 fired")]
    main = re.search(r'<svg class="count" data-store="main"(.*?)</svg>', html, re.S)
    assert main
    assert re.findall(r'text-anchor="end">([^<]+)</text>', main[1]) == [
        "400", "600", "800", "1,000"]  # the y axis, bottom up
    assert 'data-lo="400"\n data-hi="1000"' in main[0]
    assert re.search(r'class="last"[^>]*>400</text>', main[1])
    # the heading: the last count, since when it is firing, days in alert
    assert ("400 memories at 2026-11-10 15:00 UTC;" in html
            and "1 firing since\n2026-11-10 12:00 UTC (3 h 0 min)" in html)
    assert "in alert on 2 of the\n10 days" in html


def test_knowledge_links_and_refresh(tmp_path: Path) -> None:
    status, html = page(tmp_path)
    assert status == 200
    assert '<meta http-equiv="refresh" content="30">' in html
    kb = re.findall(r'<tr data-key="([^"]+)">(.*?)</tr>', html, re.S)
    assert [k for k, _ in kb] == ["MemoryCountZero/other"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in kb[0][1]
    assert "<script>" not in html
    assert f'<a href="{RUNBOOKS}#memorycountzero">runbook</a>' in kb[0][1]
    assert re.findall(r'<td>(2026[^<]*)</td><td>([^<]*)</td>', kb[0][1]) == [
        ("2026-11-05 / 2026-11-10", "36 min")]  # first/last seen, mean duration
    for link in ("/api/persistence/historical?days=30", "/api/trends?days=30",
                 "/api/knowledge/summary", "/openapi.json", "/metrics"):
        assert f'href="{link}"' in html
    reports = re.search(r'<section id="reports">(.*?)</section>', html, re.S)
    assert reports
    assert re.findall(r'href="/api/reports/([^"]+)"', reports[1]) == [
        f"2026-11-0{d}" for d in (9, 8, 7, 6, 5, 4)]
    status, html = page(tmp_path, "/?refresh=0")
    assert status == 200 and 'http-equiv="refresh"' not in html


def test_bad_parameters_are_refused(tmp_path: Path) -> None:
    for path in ("/?days=0", "/?days=367", "/?days=x", "/?refresh=-1", "/?refresh=3601"):
        status, body = page(tmp_path, path)
        assert status == 422, path
        assert '"loc"' in body and '"msg"' in body, body  # the reason


def test_page_moves_with_the_clock_without_a_write(tmp_path: Path) -> None:
    """Cached per revision and minute: the durations grow without a delivery."""
    now = [NOW]
    repo = seeded(tmp_path / "c.sqlite")
    try:
        kb = KnowledgeBase.from_spec(parse_spec(
            "stores:\n  - {name: main, preset: files, files: [{name: d, glob: /x/*}]}\n"
            "alerts:\n  runbook_url: runbooks/x.md\n"))
        with served(repo, clock=lambda: now[0], knowledge=kb) as c:
            first = request(c.url, "GET", "/")[2].decode()
            now[0] = NOW + timedelta(seconds=30)  # the same minute: the same page
            assert request(c.url, "GET", "/")[2].decode() == first
            now[0] = NOW + timedelta(minutes=61)
            later = request(c.url, "GET", "/")[2].decode()
    finally:
        repo.close()
    assert [r["cells"].split(" | ")[4] for r in rows(first, "firing")] == [
        "3 h 0 min", "19 h 0 min"]
    assert [r["cells"].split(" | ")[4] for r in rows(later, "firing")] == [
        "4 h 1 min", "20 h 1 min"]
    assert "As of 2026-11-10 16:01:00 UTC" in html_lib.unescape(later)
    # a relative alerts.runbook_url (the runbooks gen-monitoring writes into its output):
    # not a link; the section in the cell, the whole path in its title, the file above
    stalled = rows(first, "firing")[1]
    assert (stalled["links"], stalled["cells"].split(" | ")[-1]) == (
        "", "#memoryingestionstalled")
    assert 'title="runbooks/x.md#memoryingestionstalled"' in first
    assert "sections of <code>runbooks/x.md</code>" in first


def test_a_new_minute_drops_the_last_minutes_pages(tmp_path: Path) -> None:
    """Kept per revision and minute, only the current minute's: hours without a delivery
    must not pile up a page a minute in memory."""
    now = [NOW]
    repo = seeded(tmp_path / "c.sqlite")
    views = Views(repo, KnowledgeBase(), clock=lambda: now[0])

    async def pages() -> list[bytes]:
        out = []
        for minutes in (0, 1, 2, 3):
            now[0] = NOW + timedelta(minutes=minutes)
            out += [await views.page(30), await views.page(7)]
        return out

    try:
        got = asyncio.run(pages())
        kept = views._timed._state
    finally:
        repo.close()
    assert len(set(got)) == 8  # each minute's pages differ ("As of")
    assert kept[0] == (repo.revision(), int((NOW + timedelta(minutes=3)).timestamp() // 60))
    assert sorted(kept[1]) == [("page", 7, 30), ("page", 30, 30)]
