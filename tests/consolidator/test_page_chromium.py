"""The page in headless Chromium: the screenshot shows each day's bar at its height."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.scheduler import run_due
from memwatch.spec import parse_spec
from tests.consolidator.support import consolidator
from tests.consolidator.test_knowledge import rec

BAR = (0xD9, 0x53, 0x4F)  # .bar { fill: #d9534f }
INNER_HEIGHT = 160 - 2 * 24
SPEC = "stores:\n  - {name: main, preset: files, files: [{name: d, glob: /x/*}]}\n"


def chromium() -> str:
    found = shutil.which("chromium")
    if not found:
        pytest.skip("chromium not found (Debian package `chromium`; scripts/bootstrap.sh)")
    return found


def bar_heights(png: Path) -> list[int]:
    """Left to right, the height in pixels of each run of bar-coloured columns."""
    img = Image.open(png).convert("RGB")
    w, h = img.size
    px = img.load()
    assert px is not None
    columns = [sum(1 for y in range(h) if px[x, y] == BAR) for x in range(w)]
    runs: list[list[int]] = []
    previous = 0
    for count in columns:
        if count and not previous:
            runs.append([])
        if count:
            runs[-1].append(count)
        previous = count
    return [max(run) for run in runs if len(run) > 20]  # bars, not stray pixels


def test_screenshot_shows_the_trend(tmp_path: Path) -> None:
    binary = chromium()
    kb = KnowledgeBase.from_spec(parse_spec(SPEC))
    with consolidator(tmp_path / "c.sqlite", knowledge=kb) as c:
        c.repo.ingest([
            # half of the 1st, all of the 2nd; nothing on the 3rd; a quarter of the 4th
            rec("a", "2026-11-01T12:00:00.000000Z", "2026-11-03T00:00:00.000000Z"),
            rec("b", "2026-11-04T18:00:00.000000Z")])
        run_due(c.repo, ["main"], datetime(2026, 11, 5, 2, tzinfo=UTC), 1)
        shot = tmp_path / "page.png"
        proc = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--no-first-run",
             f"--user-data-dir={tmp_path / 'chromium'}", "--force-device-scale-factor=1",
             "--hide-scrollbars", "--window-size=900,700", f"--screenshot={shot}",
             f"{c.url}/"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    heights = bar_heights(shot)
    expected = [round(INNER_HEIGHT * s / 86400) for s in (43200, 86400, 21600)]
    assert len(heights) == 3, heights  # the 3rd had no alert: no bar
    assert all(abs(got - want) <= 1 for got, want in zip(heights, expected, strict=True)), (
        heights, expected)
