"""Alerts on what flows into a store: freshness and the capture backlog."""

from __future__ import annotations

from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Settings
from memwatch.generators.alerts.scenarios import age, steps
from memwatch.generators.output import go_duration

NEWEST = "memwatch_newest_memory_timestamp_seconds"


@store_alert("MemoryIngestionStalled", Feature.FRESHNESS)
def ingestion_stalled(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    limit = c.store.max_staleness or st.threshold or 3600.0
    r = c.rule("MemoryIngestionStalled",
               f"time() - max by (store) ({NEWEST}{c.sel}) >= {limit:g}", st,
               f"The newest memory in {c.name} is {{value}} old (limit {go_duration(limit)}): "
               "nothing new is being stored.", "duration")
    age(r, c.by, NEWEST, c.labels, limit)
    yield r


@store_alert("MemoryBacklogStuck", Feature.BACKLOG)
def backlog_stuck(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    stage = c.caps.backlog_stages[0]
    metric = "memwatch_backlog_oldest_timestamp_seconds"
    r = c.rule("MemoryBacklogStuck",
               f"time() - min by (store, stage) ({metric}{c.sel}) >= {st.limit:g}", st,
               f"The oldest item waiting in stage {{{{ $labels.stage }}}} of {c.name} was "
               f"captured {{value}} ago (limit {go_duration(st.limit)}).", "duration")
    age(r, {**c.by, "stage": stage}, metric, {**c.labels, "stage": stage}, st.limit)
    yield r


@store_alert("MemoryBacklogGrowing", Feature.BACKLOG)
def backlog_growing(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    stage = c.caps.backlog_stages[0]
    w = go_duration(st.span)
    backlog = f"max by (store, stage) (memwatch_backlog{c.sel})"
    backlog_then = f"max by (store, stage) (memwatch_backlog{c.sel} offset {w})"
    r = c.rule("MemoryBacklogGrowing", f"{backlog} - {backlog_then} >= {st.limit:g}", st,
               f"The backlog of {c.name} grew by {{value}} items in {w}: ingestion is "
               "slower than capture.", "count")
    steps(r, {**c.by, "stage": stage}, "memwatch_backlog", {**c.labels, "stage": stage},
          st.limit, st.span)
    yield r
