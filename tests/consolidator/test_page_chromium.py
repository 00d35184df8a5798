"""The page in headless Chromium, one screenshot per state (nothing wrong; an alert firing;
recovered), its regions measured against the data: the status banner, the 24-hour strip
of each alert row, the shaded days in alert (today so far included) and the memory count
line at its values. MEMWATCH_PAGE_SHOTS=DIR keeps the screenshots there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.records import AlertRecord, Snapshot, iso
from memwatch.consolidator.scheduler import run_due
from memwatch.spec import parse_spec
from tests.consolidator.support import consolidator, request
from tests.consolidator.test_knowledge import rec

RGB = tuple[int, int, int]
PLOT, DAY, PARTIAL, LINE = (0xFC, 0xFC, 0xFC), (0xF4, 0xC7, 0xC3), (0xFB, 0xDC, 0xA8), \
    (0x1F, 0x5F, 0xA8)
STRIP_BG, STRIP_FIRING, STRIP_RESOLVED = (0xF0, 0xF0, 0xF0), (0xD9, 0x53, 0x4F), \
    (0x5C, 0xB8, 0x5C)
BANNER_FIRING, BANNER_OK = (0xB5, 0x2B, 0x27), (0x2E, 0x7D, 0x32)
SPEC = """stores:
  - {name: main, preset: files, files: [{name: d, glob: /x/*}]}
  - {name: idle, preset: files, files: [{name: d, glob: /y/*}]}
"""
NOW = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)
DAYS = 10
FIRST = datetime(2026, 11, 1, tzinfo=UTC)  # the window's first day


def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium not found (Debian package `chromium`; scripts/bootstrap.sh)")
    return found


def shot(url: str, out: Path) -> Image.Image:
    proc = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--no-first-run",
         f"--user-data-dir={out.parent / 'chromium'}", "--force-device-scale-factor=1",
         "--hide-scrollbars", "--window-size=1280,2000", f"--screenshot={out}", url],
        capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and out.exists(), proc.stderr[-2000:]
    keep = os.environ.get("MEMWATCH_PAGE_SHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    return Image.open(out).convert("RGB")


class Pixels:
    def __init__(self, img: Image.Image) -> None:
        self.w, self.h = img.size
        data = img.load()
        assert data is not None
        self.px: Callable[[int, int], RGB] = lambda x, y: data[x, y]  # type: ignore[return-value]

    def count(self, color: RGB) -> int:
        return sum(1 for y in range(self.h) for x in range(self.w) if self.px(x, y) == color)

    def boxes(self, color: RGB, min_px: int = 4) -> list[tuple[int, int, int, int]]:
        """Row bands holding `color`, each as (x0, y0, x1, y1), top to bottom."""
        rows = [[x for x in range(self.w) if self.px(x, y) == color] for y in range(self.h)]
        out: list[tuple[int, int, int, int]] = []
        start = None
        for y, xs in enumerate([*rows, []]):
            if len(xs) >= min_px and start is None:
                start = y
            elif len(xs) < min_px and start is not None:
                cols = [x for r in rows[start:y] for x in r]
                out.append((min(cols), start, max(cols), y - 1))
                start = None
        return out

    def runs(self, color: RGB, box: tuple[int, int, int, int], share: float = 0.2
             ) -> list[tuple[int, int]]:
        """Column runs (x0, x1) in `box` where `color` fills more than `share` of a column
        (the count line may cross a shaded day)."""
        x0, y0, x1, y1 = box
        full = [sum(1 for y in range(y0, y1 + 1) if self.px(x, y) == color)
                > (y1 + 1 - y0) * share for x in range(x0, x1 + 1)]
        out, start = [], None
        for i, on in enumerate([*full, False]):
            if on and start is None:
                start = i
            elif not on and start is not None:
                out.append((x0 + start, x0 + i - 1))
                start = None
        return out

    def line_y(self, x: int, box: tuple[int, int, int, int]) -> float:
        ys = [y for y in range(box[1] - 2, box[3] + 3) if self.px(x, y) == LINE]
        assert ys, x
        return sum(ys) / len(ys)


@dataclass
class Plot:
    """A chart's plot area on the screenshot, and where a time and a count fall on it."""

    box: tuple[int, int, int, int]
    lo: float
    hi: float

    def x(self, t: datetime) -> float:
        x0, _, x1, _ = self.box
        return x0 + (t - FIRST).total_seconds() / (DAYS * 86400) * (x1 + 1 - x0)

    def y(self, v: float) -> float:
        _, y0, _, y1 = self.box
        return y0 + (self.hi - v) / (self.hi - self.lo) * (y1 + 1 - y0)


def plots(p: Pixels, html: str) -> dict[str, Plot]:
    """The plot areas, top to bottom in store order, with each chart's y axis range."""
    axes = re.findall(r'<svg class="count" data-store="([^"]+)" data-lo="([^"]*)"\s+'
                      r'data-hi="([^"]*)"', html)
    bands = p.boxes(PLOT, min_px=200)  # the rows; text anti-aliasing may be #fcfcfc too
    assert len(bands) == len(axes), (bands, axes)
    out = {}
    for (store, lo, hi), (_, y0, _, y1) in zip(axes, bands, strict=True):
        cols = p.runs(PLOT, (0, y0, p.w - 1, y1), share=0.3)
        out[store] = Plot((cols[0][0], y0, cols[-1][1], y1), float(lo or 0), float(hi or 1))
    return out


def strips(p: Pixels, bar: RGB) -> list[tuple[float, float]]:
    """Each alert row's bar on its 24-hour strip: start and width in hours."""
    out = []
    for x0, y0, x1, y1 in p.boxes(bar, min_px=1):
        row = (y0 + y1) // 2
        left = x0
        while p.px(left - 1, row) in (STRIP_BG, bar):
            left -= 1
        out.append(((x0 - left) / 8, (x1 + 1 - x0) / 8))  # 192 px: 8 px an hour
    return out


def snapshots(count: Callable[[datetime], float]) -> list[Snapshot]:
    """Hourly over the last five days."""
    times = [NOW - timedelta(hours=h) for h in range(5 * 24, -1, -1)]
    return [Snapshot("main", iso(t), count=count(t), up=1.0) for t in times]


def at(day: int, hour: float) -> datetime:
    return datetime(2026, 11, day, tzinfo=UTC) + timedelta(hours=hour)


def state(tmp_path: Path, name: str, alerts: list[AlertRecord],
          count: Callable[[datetime], float]) -> tuple[Pixels, dict[str, Plot], str]:
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    with consolidator(tmp_path / f"{name}.sqlite", knowledge=kb, clock=lambda: NOW) as c:
        c.repo.ingest(alerts)
        c.repo.save_snapshots(snapshots(count))
        run_due(c.repo, ["main", "idle"], NOW, 1)
        html = request(c.url, "GET", f"/?days={DAYS}")[2].decode()
        p = Pixels(shot(f"{c.url}/?days={DAYS}", tmp_path / f"page-{name}.png"))
    return p, plots(p, html), html


def near(got: float, want: float, tol: float = 2.0) -> bool:
    return abs(got - want) <= tol


def test_nothing_wrong(tmp_path: Path) -> None:
    p, charts, _ = state(tmp_path, "empty", [], lambda t: 1000.0)
    assert p.count(BANNER_OK) > 5000 and p.count(BANNER_FIRING) == 0
    assert strips(p, STRIP_FIRING) == [] and strips(p, STRIP_RESOLVED) == []
    assert list(charts) == ["idle", "main"]
    for plot in charts.values():
        assert p.runs(DAY, plot.box) == [] and p.runs(PARTIAL, plot.box) == []
        x0, _, x1, _ = plot.box
        assert near(x1 + 1 - x0, 1180 - 72 - 76, 3)  # the plot is the chart's width
    main = charts["main"]
    assert (main.lo, main.hi) == (940, 1060)
    for when in (at(6, 12), at(8, 3), at(10, 14)):
        assert near(p.line_y(round(main.x(when)), main.box), main.y(1000)), when
    assert not any(p.px(x, y) == LINE for x in range(charts["idle"].box[0],
                                                     charts["idle"].box[2])
                   for y in range(charts["idle"].box[1], charts["idle"].box[3]))


def dropped(recovered: bool) -> Callable[[datetime], float]:
    def count(t: datetime) -> float:
        if recovered and t >= at(10, 14):
            return 1000.0  # restored at 14:00
        return 400.0 if t >= at(10, 12) else 1000.0
    return count


PAST = [rec("p1", iso(at(7, 6)), iso(at(7, 12)), name="MemoryCountDropped",
            severity="warning")]


def check_chart(p: Pixels, main: Plot, partial_hours: float, recovered: bool) -> None:
    assert (main.lo, main.hi) == (400, 1000)
    # the 7th in alert (consolidated), today so far (00:00 to 15:00) too
    day_runs, partial_runs = p.runs(DAY, main.box), p.runs(PARTIAL, main.box)
    assert len(day_runs) == 1 and len(partial_runs) == 1, (day_runs, partial_runs)
    (a, b), (c, d) = day_runs[0], partial_runs[0]
    assert near(a, main.x(at(7, 0))) and near(b + 1, main.x(at(8, 0))), (a, b)
    assert near(c, main.x(at(10, 0))) and near(d + 1, main.x(at(10, partial_hours))), (c, d)
    for when, value in ((at(8, 12), 1000), (at(10, 6), 1000), (at(10, 12.5), 400),
                        (at(10, 14.5), 1000 if recovered else 400)):
        assert near(p.line_y(round(main.x(when)), main.box), main.y(value)), (when, value)


def test_firing(tmp_path: Path) -> None:
    alerts = [*PAST, rec("f1", iso(at(10, 12)), name="MemoryCountDropped",
                         severity="warning")]
    p, charts, html = state(tmp_path, "firing", alerts, dropped(False))
    assert p.count(BANNER_FIRING) > 5000 and p.count(BANNER_OK) == 0
    # one firing row: its bar from 12:00 (21 h into the last 24) to now; none resolved
    assert [(near(s, 21, 0.2), near(w, 3, 0.2)) for s, w in strips(p, STRIP_FIRING)] == [
        (True, True)]
    assert strips(p, STRIP_RESOLVED) == []
    check_chart(p, charts["main"], 15, recovered=False)
    assert "1 firing since\n2026-11-10 12:00 UTC (3 h 0 min)" in html


def test_recovered(tmp_path: Path) -> None:
    alerts = [*PAST, rec("f1", iso(at(10, 12)), iso(at(10, 14)), name="MemoryCountDropped",
                         severity="warning")]
    p, charts, html = state(tmp_path, "recovered", alerts, dropped(True))
    assert p.count(BANNER_OK) > 5000 and p.count(BANNER_FIRING) == 0
    assert strips(p, STRIP_FIRING) == []
    # resolved: its bar from 12:00 to 14:00
    assert [(near(s, 21, 0.2), near(w, 2, 0.2)) for s, w in strips(p, STRIP_RESOLVED)] == [
        (True, True)]
    check_chart(p, charts["main"], 15, recovered=True)
    assert "2 h 0 min" in html
