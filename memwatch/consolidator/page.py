"""GET /: what is wrong now and since when. The alerts firing and those resolved in the
last 24 hours (durations, runbook links), each store's memory count over the window with
the days in alert shaded (today's so far included), the knowledge base with its runbooks,
links to the daily reports and the API; server-rendered (jinja2, inline SVG), reloading
itself every `refresh` seconds. Everything from the spec or the alerts is HTML-escaped and
only http(s) links are made links."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from datetime import datetime

from jinja2 import Environment, select_autoescape

from memwatch.catalogue import BY_NAME
from memwatch.consolidator.history import History, StoreHistory
from memwatch.consolidator.knowledge import Entry
from memwatch.consolidator.page_chart import (
    HEIGHT,
    LEFT,
    RIGHT,
    STRIP_HEIGHT,
    STRIP_WIDTH,
    TOP,
    WIDTH,
    Chart,
    chart,
    duration,
    fmt_count,
    strip,
)
from memwatch.consolidator.page_template import TEMPLATE
from memwatch.consolidator.records import AlertRecord, parse_iso

ROWS_SHOWN = 25  # of the firing and of the resolved alerts


def safe_url(url: str | None) -> str | None:
    """`url` if it is an http(s) URL (no javascript: or data: link from an annotation)."""
    if not url:
        return None
    try:
        parts = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class Link:
    """A runbook: an http(s) URL is a link; a relative one (the default alerts.runbook_url
    is the runbooks file gen-monitoring writes into its --out, until the spec names the URL
    it is served at) is shown as text, since it is relative to that directory, not to this
    page."""

    url: str
    href: bool

    @property
    def file(self) -> str:
        return self.url.partition("#")[0]

    @property
    def section(self) -> str:
        """What a relative one shows: its #section (the file is named above the table)."""
        _, sep, anchor = self.url.partition("#")
        return f"#{anchor}" if sep else self.url


def runbook_url(alertname: str, base: str, annotations: dict[str, str] | None = None
                ) -> Link | None:
    """The alert's `runbook_url` annotation (what gen-monitoring writes on every rule:
    the spec's alerts.runbook_url + `#alertname`), else that link for a catalogue alert;
    neither when it is some other scheme (javascript:, data:)."""
    catalogue = f"{base}#{alertname.lower()}" if alertname in BY_NAME else ""
    for url in ((annotations or {}).get("runbook_url", "").strip(), catalogue):
        if safe_url(url):
            return Link(url, True)
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:
            continue
        if url and not parts.scheme and not parts.netloc:
            return Link(url, False)
    return None


def when(text: str | None) -> str:
    return "" if not text else f"{text[:10]} {text[11:16]}"


@dataclass(frozen=True)
class AlertRow:
    alert: AlertRecord
    since: str
    until: str
    lasted: str
    summary: str
    runbook: Link | None
    source: str | None
    bar: tuple[float, float]  # x, width on the 24-hour strip


def alert_row(h: History, a: AlertRecord, base: str) -> AlertRow:
    end = parse_iso(a.resolved_at) if a.resolved_at else h.now
    return AlertRow(alert=a, since=when(a.starts_at), until=when(a.resolved_at),
                    lasted=duration((end - parse_iso(a.starts_at)).total_seconds()),
                    summary=a.annotations.get("summary", ""),
                    runbook=runbook_url(a.alertname, base, a.annotations),
                    source=safe_url(a.generator_url), bar=strip(h, a.starts_at, a.resolved_at))


@dataclass(frozen=True)
class StoreView:
    history: StoreHistory
    chart: Chart
    count: str | None  # the last snapshot's
    count_at: str
    days_in_alert: int
    firing_for: str


def store_view(h: History, s: StoreHistory) -> StoreView:
    taken = [p for p in s.snapshots if p.error is None and p.count is not None]
    since = (h.now - parse_iso(s.firing_since)).total_seconds() if s.firing_since else 0
    return StoreView(history=s, chart=chart(h, s),
                     count=fmt_count(taken[-1].count) if taken and taken[-1].count is not None
                     else None, count_at=when(taken[-1].at) if taken else "",
                     days_in_alert=sum(1 for d in s.days if d.in_alert),
                     firing_for=duration(since))


@dataclass(frozen=True)
class EntryRow:
    entry: Entry
    runbook: Link | None
    mean: str


_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(TEMPLATE)


def render(h: History, entries: list[Entry], *, runbook_base: str, refresh: int,
           min_days: int) -> str:
    firing = [alert_row(h, a, runbook_base) for a in h.recent.firing[:ROWS_SHOWN]]
    resolved_all = h.resolved()
    resolved = [alert_row(h, a, runbook_base) for a in resolved_all[:ROWS_SHOWN]]
    reports = sorted({d.row.day for s in h.stores for d in s.days if not d.partial},
                     reverse=True)
    kb = [EntryRow(e, runbook_url(e.pattern.alertname, runbook_base),
                   "" if e.pattern.mean_duration_seconds is None
                   else duration(e.pattern.mean_duration_seconds))
          for e in sorted(entries, key=lambda e: (-e.pattern.occurrences, e.key))]
    links = [r.runbook for r in [*firing, *resolved]] + [r.runbook for r in kb]
    relative = sorted({link.file for link in links if link is not None and not link.href})
    return _template.render(
        h=h, now=h.now.strftime("%Y-%m-%d %H:%M:%S"), refresh=refresh, days=h.days,
        firing=firing, firing_total=h.recent.firing_total,
        firing_stores=len([s for s in h.recent.firing_stores if s]), resolved=resolved,
        resolved_total=len(resolved_all), stores=[store_view(h, s) for s in h.stores],
        # the read stopped at its limit with every alert it read in the last 24 hours
        resolved_more=len(resolved_all) == len(h.recent.resolved) < h.recent.resolved_total,
        entries=kb, reports=reports, W=WIDTH, H=HEIGHT, L=LEFT, R=RIGHT, T=TOP,
        SW=STRIP_WIDTH, SH=STRIP_HEIGHT, min_days=min_days, relative_runbooks=relative)


def minute(t: datetime) -> int:
    """The page's cache bucket: it is computed again at most once a minute."""
    return int(t.timestamp() // 60)
