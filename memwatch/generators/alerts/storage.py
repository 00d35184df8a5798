"""Alerts on the store as a database: reachable, collected, recreated, growing, backed up,
and losing memories that its history does not explain."""

from __future__ import annotations

import math
from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Series, Settings
from memwatch.generators.alerts.scenarios import age, below, level, prove, steps, timeline
from memwatch.generators.output import go_duration


@store_alert("MemoryDatabaseDown")
def database_down(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    backend = c.caps.backend
    r = c.rule("MemoryDatabaseDown", f"max by (store) (memwatch_up{c.sel}) == 0", st,
               f"memwatch cannot collect from store {c.name} ({backend}): memwatch_up has "
               f"been 0 for {go_duration(st.for_s)}. See memwatch_collection_errors_total "
               "for the reason.")
    level(r, c.by, [c.series("memwatch_up", 0, backend=backend)], None,
          [c.series("memwatch_up", 1, backend=backend)])
    yield r


@store_alert("MemoryStoreGrowingAbnormally", Feature.SIZE)
def growing_abnormally(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    w = go_duration(st.span)
    now = f"max by (store) (memwatch_store_size_bytes{c.sel})"
    then = f"max by (store) (memwatch_store_size_bytes{c.sel} offset {w})"
    r = c.rule("MemoryStoreGrowingAbnormally", f"({now} - {then}) / {then} >= {st.limit:g}",
               st, f"Store {c.name} grew by {{value}} in {w}: look for a runaway writer.",
               "ratio")
    window, threshold = int(st.span), st.limit
    tl = timeline(r, window)

    def levels(fire: bool) -> list[float]:
        """Size per window: each exactly (or just under) `threshold` above the last."""
        vals = [1_000_000.0]
        for _ in range(tl.end // window + 1):
            prev = vals[-1]
            nxt = float(math.ceil(prev * (1 + threshold)) if fire
                        else math.floor(prev * (1 + threshold)))
            while fire and (nxt - prev) / prev < threshold:
                nxt += 1
            while not fire and (nxt - prev) / prev >= threshold:
                nxt -= 1
            vals.append(nxt)
        return vals

    def size(vals: list[float]) -> tuple[Series, ...]:
        return (tl.series("memwatch_store_size_bytes", c.labels, lambda t: vals[t // window]),)

    fire = levels(True)
    k = tl.end // window
    prove(r, c.by, tl, size(fire), (fire[k] - fire[k - 1]) / fire[k - 1], size(levels(False)))
    yield r


@store_alert("MemoryTableRecreated", Feature.IDENTITY)
def table_recreated(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    w = go_duration(st.window or 600.0)
    metric = "memwatch_table_recreations_total"
    r = c.rule("MemoryTableRecreated",
               f"max by (store) ({metric}{c.sel}) - max by (store) ({metric}{c.sel} offset {w})"
               " > 0", st,
               f"The memory table of {c.name} was dropped and recreated in the last {w} (its "
               "OID changed), as mem0's reset() does.")
    tl = timeline(r, st.window or 600.0)
    prove(r, c.by, tl, (tl.step(metric, c.labels, 0, 1),), None,
          (tl.const(metric, c.labels, 0),),
          ("fires when the table is recreated", "silent without recreation"))
    yield r


@store_alert("MemoryLossUnexplained", Feature.COUNT)
def loss_unexplained(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    history = getattr(c.store, "history_store", None)
    if not history:
        return
    window = c.window("MemoryLossUnexplained", st)
    w = go_duration(window)
    hsel = f'{{event="DELETE",store="{history}"}}'
    loss = (f"(max by (store) (max_over_time(memwatch_store_memories{c.sel}[{w}])) - "
            f"{c.count})")
    deletes = (f"(max(memwatch_history_events{hsel}) - "
               f"max(memwatch_history_events{hsel} offset {w}))")
    r = c.rule("MemoryLossUnexplained", f"{loss} - on() {deletes} >= {st.limit:g}", st,
               f"{{value}} memories left {c.name} in the last {w} beyond the DELETE events "
               f"recorded in {history}: suspect a reset() or an out-of-band delete.", "count")
    tl = timeline(r, window)
    recorded = 5.0
    hlabels = {**c.labels, "store": history, "event": "DELETE"}

    def series(unexplained: float) -> tuple[Series, ...]:
        return (tl.step("memwatch_store_memories", c.labels, 1000,
                        1000 - recorded - unexplained),
                tl.step("memwatch_history_events", hlabels, 0, recorded))

    prove(r, c.by, tl, series(st.limit), st.limit, series(below(st.limit)))
    yield r


@store_alert("MemoryBackupStale")
def backup_stale(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    metric = "memwatch_files_newest_timestamp_seconds"
    for check in c.store.files:
        if check.max_age is None:
            continue
        csel = f'{{check="{check.name}",store="{c.name}"}}'
        r = c.rule("MemoryBackupStale",
                   f"time() - max by (store, check) ({metric}{csel}) >= {check.max_age:g}", st,
                   f"The newest file matching {check.glob} is {{value}} old (limit "
                   f"{go_duration(check.max_age)}).", "duration", check=check.name)
        age(r, {**c.by, "check": check.name}, metric, {**c.labels, "check": check.name},
            check.max_age)
        yield r


@store_alert("MemwatchCollectionsFailing")
def collections_failing(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    w = go_duration(st.span)
    errors = f"sum by (store) (memwatch_collection_errors_total{c.sel})"
    errors_then = f"sum by (store) (memwatch_collection_errors_total{c.sel} offset {w})"
    r = c.rule("MemwatchCollectionsFailing", f"{errors} - {errors_then} >= {st.limit:g}", st,
               f"{{value}} collections from {c.name} failed in the last {w}; see "
               "memwatch_collection_errors_total's reason label.", "count")
    steps(r, c.by, "memwatch_collection_errors_total", {**c.labels, "reason": "timeout"},
          st.limit, st.span)
    yield r

