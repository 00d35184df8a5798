"""Alerts where two records of the same memories disagree: mem0's history.db against its
vector store, openclaw-mem's capture spool against the observations a harvest stored."""

from __future__ import annotations

from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Series, Settings
from memwatch.generators.alerts.scenarios import below, drop_to, prove, timeline
from memwatch.generators.output import go_duration

MEMORIES = "memwatch_store_memories"
EVENTS = "memwatch_history_events"


def _history(c: StoreCtx) -> str | None:
    return getattr(c.store, "history_store", None)


def _events_in(history: str, event: str, w: str) -> str:
    sel = f'{{event="{event}",store="{history}"}}'
    return f"(max({EVENTS}{sel}) - max({EVENTS}{sel} offset {w}))"


@store_alert("MemoryWritesNotStored", Feature.COUNT)
def writes_not_stored(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    """ADDs the history recorded within the window (less its DELETEs) that the store's
    count did not gain: writes acknowledged by mem0 that never landed (mem0 #4985)."""
    history = _history(c)
    if not history:
        return
    window = c.window("MemoryWritesNotStored", st)
    w = go_duration(window)
    adds, dels = _events_in(history, "ADD", w), _events_in(history, "DELETE", w)
    growth = f"({c.count} - max by (store) ({MEMORIES}{c.sel} offset {w}))"
    r = c.rule("MemoryWritesNotStored",
               f"(({adds} >= {st.limit:g}) - {dels}) - on() group_right() {growth} >= "
               f"{st.limit:g}", st,
               f"{history} recorded {{value}} more memories added in the last {w} than "
               f"{c.name} gained: writes are acknowledged but not stored.", "count")
    tl = timeline(r, window)
    hlabels = {**c.labels, "store": history}

    def series(gained: float) -> tuple[Series, ...]:
        return (tl.step(EVENTS, {**hlabels, "event": "ADD"}, 500, 500 + st.limit),
                tl.const(EVENTS, {**hlabels, "event": "DELETE"}, 20),
                tl.step(MEMORIES, c.labels, 1000, 1000 + gained))

    prove(r, c.by, tl, series(0), st.limit, series(st.limit - below(st.limit)))
    yield r


@store_alert("MemoryHistoryMismatch", Feature.COUNT)
def history_mismatch(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    """The live memories by the history (ids without a DELETE: the history store's count)
    against the store's count."""
    history = _history(c)
    if not history:
        return
    live = f'max({MEMORIES}{{store="{history}"}})'
    diff = f"abs({c.count} - on() group_left() {live})"
    minimum = st.min_count or 0.0
    r = c.rule("MemoryHistoryMismatch",
               f"({diff} >= {minimum:g}) / clamp_min({c.count}, 1) >= {st.limit:g}",
               st, f"{c.name} and the live memories recorded in {history} differ by {{value}} "
                   "of the store's count.", "ratio")
    base = 10000.0  # the history's live memories; the store holds fewer

    def share(table: float) -> float:
        return (base - table) / table  # as the rule computes it

    off = float(int(base / (1 + st.limit)))
    while share(off) < st.limit:
        off -= 1
    while share(off + 1) >= st.limit:
        off += 1
    tl = timeline(r)

    def series(table: float) -> tuple[Series, ...]:
        return (tl.const(MEMORIES, c.labels, table),
                tl.const(MEMORIES, {**c.labels, "store": history}, base))

    prove(r, c.by, tl, series(off), share(off), series(off + 1))
    yield r


@store_alert("MemoryHarvestDropped", Feature.HARVEST)
def harvest_dropped(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    """Lines the harvest took from the spool (its drop within the window: a lower bound,
    captures keep arriving) against the memories the store gained."""
    window = c.window("MemoryHarvestDropped", st)
    w = go_duration(window)
    backlog = f"sum by (store) (memwatch_backlog{c.sel}"
    drained = f"({backlog} offset {w}) - {backlog}))"
    stored = f"({c.count} - max by (store) ({MEMORIES}{c.sel} offset {w}))"
    minimum = st.min_count or 0.0
    r = c.rule("MemoryHarvestDropped",
               f"({drained} - {stored}) / ({drained} >= {minimum:g}) >= {st.limit:g}", st,
               f"A harvest of {c.name} drained the capture spool but stored {{value}} fewer "
               f"observations than it took (last {w}).", "ratio")
    lines = max(100.0, minimum * 10)
    lost, under = drop_to(lines, st.limit)  # observations stored of `lines` drained
    tl = timeline(r, window)
    stage = c.caps.backlog_stages[0]

    def series(stored_n: float) -> tuple[Series, ...]:
        return (tl.step("memwatch_backlog", {**c.labels, "stage": stage}, lines, 0),
                tl.step(MEMORIES, c.labels, 5000, 5000 + stored_n))

    prove(r, c.by, tl, series(lost), (lines - lost) / lines, series(under))
    yield r
