"""The geometry of the page's SVG charts, computed in Python so the template only draws:
each store's memory count over the window (from the snapshots) with its axes, the days in
alert shaded, and the 24-hour strips of the alert tables."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from memwatch.consolidator.history import History, StoreDay, StoreHistory, day_start
from memwatch.consolidator.records import parse_iso

WIDTH, HEIGHT = 1180, 210
LEFT, RIGHT, TOP, BOTTOM = 72, 76, 12, 34  # room for the y labels, the last value, dates
STRIP_WIDTH, STRIP_HEIGHT = 192, 12  # an alert row's last 24 hours: 8 px an hour
LABEL_PX = 56  # at least this much room per date label
MIN_GRID_PX = 8  # narrower days get a grid line only where labelled


def fmt_count(v: float) -> str:
    """A memory count as people read it: 1,234,567 (decimals only when it has some)."""
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def nice_ticks(lo: float, hi: float, n: int = 5, integer: bool = False) -> list[float]:
    """Round values from at or below `lo` to at or above `hi`, about `n` steps of 1, 2,
    2.5 or 5 times a power of ten (whole steps for `integer` values, as counts are)."""
    if hi <= lo:
        pad = max(1.0, abs(lo) * 0.05)
        lo, hi = (lo - pad if lo - pad >= 0 or lo < 0 else 0.0), hi + pad
    raw = (hi - lo) / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer and not float(step).is_integer():
        step = float(math.ceil(step))
    first = math.floor(lo / step) * step
    count = math.ceil(round((hi - first) / step, 9))
    return [round(first + i * step, 9) for i in range(count + 1)]


@dataclass(frozen=True)
class Band:
    """A day in alert: the whole day, or for a day not consolidated yet up to now."""

    day: str
    x: float
    width: float
    partial: bool
    title: str


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


@dataclass
class Chart:
    store: str
    bands: list[Band] = field(default_factory=list)
    grid: list[float] = field(default_factory=list)  # x of each day's start
    dates: list[Tick] = field(default_factory=list)
    values: list[Tick] = field(default_factory=list)  # the y axis, bottom up
    lines: list[str] = field(default_factory=list)  # polyline points, one per unbroken run
    dots: list[tuple[float, float]] = field(default_factory=list)  # isolated snapshots
    gaps: list[float] = field(default_factory=list)  # x of snapshots Prometheus missed
    last: Tick | None = None  # the last count: y, text
    last_x: float = 0.0
    now_x: float = 0.0
    lo: float | None = None  # the y axis' range
    hi: float | None = None


def hours(seconds: float) -> str:
    return duration(seconds) if seconds < 86400 else "all day"


def duration(seconds: float) -> str:
    """3 d 4 h, 2 h 5 min, 12 min, 40 s."""
    s = int(max(seconds, 0))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    if d:
        return f"{d} d {h} h"
    if h:
        return f"{h} h {m} min"
    return f"{m} min" if m else f"{s} s"


def _band_title(d: StoreDay) -> str:
    """The day, its time in alert and the alerts fired (by severity and name in
    /api/persistence/historical: a title for each day of each store must stay short)."""
    r = d.row
    return (f"{r.day}{' (so far)' if d.partial else ''}: {hours(r.alert_seconds)} in alert, "
            f"{r.fired_total} fired")


class Scale:
    """Time to x over the window's whole days (today's included: the rest of today is the
    blank past the dashed line of now)."""

    def __init__(self, h: History) -> None:
        self.t0 = day_start(h.first)
        self.span = float(h.days * 86400)
        self.plot_w = WIDTH - LEFT - RIGHT
        self.plot_h = HEIGHT - TOP - BOTTOM

    def x(self, t: datetime) -> float:
        return round(LEFT + (t - self.t0).total_seconds() / self.span * self.plot_w, 1)


def chart(h: History, s: StoreHistory) -> Chart:
    sc = Scale(h)
    c = Chart(store=s.store, now_x=sc.x(h.now))
    day_w = sc.plot_w / h.days
    every = max(1, math.ceil(LABEL_PX / day_w))
    for i in range(h.days):
        start = sc.t0 + timedelta(days=i)
        labelled = (h.days - 1 - i) % every == 0  # counted back from today, labelled
        if labelled or day_w >= MIN_GRID_PX:
            c.grid.append(sc.x(start))
        if labelled:
            label = "today" if i == h.days - 1 else start.strftime("%m-%d")
            c.dates.append(Tick(round(sc.x(start) + day_w / 2, 1), label))
    for d in s.days:
        if d.in_alert:
            start = day_start(date.fromisoformat(d.row.day))
            end = min(start + timedelta(days=1), h.now) if d.partial \
                else start + timedelta(days=1)
            c.bands.append(Band(d.row.day, sc.x(start), round(sc.x(end) - sc.x(start), 1),
                                d.partial, _band_title(d)))
    _line(c, sc, s)
    return c


def _line(c: Chart, sc: Scale, s: StoreHistory) -> None:
    """The count's polylines (broken at gaps), the y axis and the last value."""
    counts = [p.count for p in s.snapshots if p.error is None and p.count is not None]
    c.gaps = [sc.x(parse_iso(p.at)) for p in s.snapshots if p.error is not None]
    if not counts:
        return
    ticks = nice_ticks(min(counts), max(counts),
                       integer=all(float(v).is_integer() for v in counts))
    lo, hi = ticks[0], ticks[-1]
    c.lo, c.hi = lo, hi

    def y(v: float) -> float:
        return round(TOP + (hi - v) / (hi - lo) * sc.plot_h, 1)

    c.values = [Tick(y(v), fmt_count(v)) for v in ticks]
    runs: list[list[tuple[float, float]]] = [[]]
    for p in s.snapshots:
        if p.error is not None or p.count is None:
            runs.append([])
        else:
            runs[-1].append((sc.x(parse_iso(p.at)), y(p.count)))
    for run in (r for r in runs if r):
        run = _thin(run, sc.plot_w)
        if len(run) == 1:
            c.dots.append(run[0])
        else:
            c.lines.append(" ".join(f"{x:g},{yy:g}" for x, yy in run))
    last = runs[-1][-1] if runs[-1] else next(r[-1] for r in reversed(runs) if r)
    c.last_x = last[0]
    c.last = Tick(last[1], fmt_count(counts[-1]))


def _thin(points: list[tuple[float, float]], width: int) -> list[tuple[float, float]]:
    """At most two points a pixel column (its lowest and highest, in time order), so a
    minute's snapshots over a month stay a small drawing that still shows every drop."""
    if len(points) <= 2 * width:
        return points
    out: list[tuple[float, float]] = []
    column: list[tuple[float, float]] = []
    for p in points:
        if column and int(p[0]) != int(column[0][0]):
            out += _extremes(column)
            column = []
        column.append(p)
    return out + _extremes(column)


def _extremes(column: list[tuple[float, float]]) -> list[tuple[float, float]]:
    lo = min(column, key=lambda p: p[1])
    hi = max(column, key=lambda p: p[1])
    return sorted({lo, hi}, key=column.index)


def strip(h: History, starts_at: str, resolved_at: str | None) -> tuple[float, float]:
    """An alert's bar on its row's strip of the last 24 hours: x and width in pixels."""
    t0 = h.now - timedelta(hours=24)
    lo = max(parse_iso(starts_at), t0)
    hi = min(parse_iso(resolved_at), h.now) if resolved_at else h.now

    def px(t: datetime) -> float:
        return round((t - t0).total_seconds() / 86400 * STRIP_WIDTH, 1)

    return px(lo), max(round(px(hi) - px(lo), 1), 1.0)
