"""history.py and the page's arithmetic on known answers: the days not consolidated yet
(today so far), the window, the axis ticks, the links."""

from __future__ import annotations

from datetime import UTC, date, datetime

from memwatch.consolidator.history import (
    Inputs,
    Span,
    build,
    partial_from,
    partial_row,
    recent_since,
    spans_by_store,
)
from memwatch.consolidator.page import Link, runbook_url, safe_url
from memwatch.consolidator.page_chart import duration, nice_ticks
from memwatch.consolidator.records import AlertAggregate, DailyRow, RecentAlerts, Snapshot
from tests.consolidator.test_knowledge import rec

NOW = datetime(2026, 11, 10, 15, 0, tzinfo=UTC)


def t(hhmm: str, day: str = "2026-11-10") -> str:
    return f"{day}T{hhmm}:00.000000Z"


def recent(firing: list[str], resolved: list[tuple[str, str]], *, store: str = "main",
           oldest: str | None = None, total: int | None = None) -> RecentAlerts:
    f = [rec(f"f{i}", s, store=store) for i, s in enumerate(firing)]
    r = [rec(f"r{i}", s, e, store=store, severity="warning")
         for i, (s, e) in enumerate(resolved)]
    stores = {store: (total or len(f), oldest or min(firing))} if firing else {}
    return RecentAlerts(firing=f, resolved=r, firing_stores=stores,
                        resolved_total=len(r))


def spans(got: RecentAlerts) -> list[Span]:
    return spans_by_store(got, NOW)["main"]


def test_partial_day_counts_up_to_now() -> None:
    # firing since 12:00 (3 h so far); resolved 09:00-10:30 and 10:00-11:00 (overlap once)
    got = recent([t("12:00")], [(t("09:00"), t("10:30")), (t("10:00"), t("11:00"))])
    snaps = [Snapshot("main", t("01:00"), count=10, up=1),
             Snapshot("main", t("02:00"), error="down"),
             Snapshot("main", t("03:00"), count=7, up=0)]
    row = partial_row("main", date(2026, 11, 10), NOW, spans(got), snaps)
    assert row == DailyRow(
        "main", "2026-11-10", {"critical": 1, "warning": 2}, 3 * 3600 + 2 * 3600,
        count_min=7, count_max=10, count_mean=8.5, count_last=7, net_change=-3,
        largest_drop=3, uptime_ratio=0.5, snapshots=2, gaps=1)
    # yesterday (not consolidated yet): the alert firing since yesterday 20:00 covers 4 h
    got = recent([t("20:00", "2026-11-09")], [])
    assert partial_row("main", date(2026, 11, 9), NOW, spans(got), []).alert_seconds == (
        4 * 3600)
    assert partial_row("main", date(2026, 11, 10), NOW, spans(got), []).alert_seconds == (
        15 * 3600)


def test_oldest_firing_start_counts_past_the_limit() -> None:
    """The read keeps the newest firing alerts; the store's oldest start still covers the
    day from its start (here: one firing since yesterday, not among those read)."""
    got = recent([t("14:00")], [], oldest=t("22:00", "2026-11-09"), total=2)
    row = partial_row("main", date(2026, 11, 10), NOW, spans(got), [])
    assert row.alert_seconds == 15 * 3600
    assert row.fired == {"critical": 1}  # the one read that started today


def test_partial_days_follow_the_last_consolidated_day() -> None:
    assert partial_from(NOW, "2026-11-09") == date(2026, 11, 10)
    assert partial_from(NOW, "2026-11-08") == date(2026, 11, 9)  # before the hour
    assert partial_from(NOW, "2026-10-01") == date(2026, 11, 9)  # at most yesterday
    assert partial_from(NOW, None) == date(2026, 11, 10)
    assert recent_since(NOW, "2026-11-09") == t("15:00", "2026-11-09")  # the last 24 h
    assert recent_since(NOW, "2026-11-08") == t("00:00", "2026-11-09")


def test_build_window_rows_and_alertnames() -> None:
    rows = [DailyRow("main", f"2026-11-0{d}", {"critical": 1}, 60.0) for d in (6, 7, 8)]
    rows.append(DailyRow("gone", "2026-10-01", {}, 0.0))  # outside the window
    series = AlertAggregate("MemoryCountZero", "main", {}, 2, {"2026-11-07", "2026-11-10"})
    got = recent([t("12:00")], [])
    h = build(NOW, 4, Inputs(daily=rows, last_day="2026-11-08", recent=got, snapshots=[],
                             series=[series], stores=["main", "idle"]))
    assert (h.first, h.days) == (date(2026, 11, 7), 4)
    assert [s.store for s in h.stores] == ["idle", "main"]
    main = h.stores[1]
    assert [(d.row.day, d.partial, d.alertnames) for d in main.days] == [
        ("2026-11-07", False, ("MemoryCountZero",)), ("2026-11-08", False, ()),
        ("2026-11-09", True, ()), ("2026-11-10", True, ("MemoryCountZero",))]
    assert [d.in_alert for d in main.days] == [True, True, False, True]
    assert main.days[-1].row.alert_seconds == 3 * 3600
    assert (main.firing, main.firing_since) == (1, t("12:00"))
    assert [(d.row.day, d.in_alert) for d in h.stores[0].days] == [
        ("2026-11-09", False), ("2026-11-10", False)]


def test_nice_ticks_and_durations() -> None:
    assert nice_ticks(400, 1000) == [400, 600, 800, 1000]
    assert nice_ticks(12, 87) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(1000, 1000) == [940, 960, 980, 1000, 1020, 1040, 1060]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1]
    assert nice_ticks(0, 0, integer=True) == [0, 1]  # no 0.2 memories
    assert nice_ticks(3, 7, integer=True) == [3, 4, 5, 6, 7]
    assert nice_ticks(0.1, 0.35) == [0.1, 0.15, 0.2, 0.25, 0.3, 0.35]
    assert nice_ticks(999_000, 1_000_000) == [999_000, 999_200, 999_400, 999_600, 999_800,
                                              1_000_000]
    assert [duration(s) for s in (40, 720, 3 * 3600 + 300, 2 * 86400 + 7200)] == [
        "40 s", "12 min", "3 h 5 min", "2 d 2 h"]


def test_runbook_links() -> None:
    base = "https://runbooks.example/ops.md"
    assert runbook_url("MemoryCountZero", base) == Link(f"{base}#memorycountzero", True)
    assert runbook_url("NotInTheCatalogue", base) is None
    assert runbook_url("X", base, {"runbook_url": "http://wiki/x"}) == Link("http://wiki/x",
                                                                             True)
    # another scheme is never a link: the catalogue's runbook instead
    assert runbook_url("MemoryCountZero", base, {"runbook_url": "javascript:alert(1)"}) == (
        Link(f"{base}#memorycountzero", True))
    assert runbook_url("X", base, {"runbook_url": "data:text/html,x"}) is None
    # the default base: the runbooks file in gen-monitoring's output, shown as a path
    assert runbook_url("MemoryCountZero", "runbooks/memwatch.md") == Link(
        "runbooks/memwatch.md#memorycountzero", False)
    assert safe_url("data:text/html,x") is None and safe_url("http:/x") is None
    assert safe_url(" HTTPS://h/p ") == "HTTPS://h/p"
