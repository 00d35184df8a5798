"""Alerts on OpenClaw's builtin memory: the Markdown truth against the index built from it
(the openclaw-memory-core preset, Feature.MARKDOWN)."""

from __future__ import annotations

from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Check, Scenario, Series, Settings
from memwatch.generators.alerts.scenarios import age, drop_to, level, prove, timeline
from memwatch.generators.output import go_duration

FILES = "memwatch_markdown_files"
BYTES = "memwatch_markdown_bytes"


@store_alert("MemoryIndexEmpty")
def index_empty(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    """The index empty while what it indexes is not: OpenClaw's builtin memory (chunks
    against the Markdown, Feature.MARKDOWN) or ClawMongo (active chunks against the events,
    Feature.CHUNKS)."""
    if c.caps.has(Feature.MARKDOWN):
        index, labels = c.count, {}
        metric, truth = "memwatch_store_memories", f"max by (store) ({BYTES}{c.sel})"
        truth_s, what = c.series(BYTES, 4096), "its workspace holds memory Markdown"
    elif c.caps.has(Feature.CHUNKS):
        index = f'max by (store) (memwatch_chunks{{status="active",store="{c.name}"}})'
        metric, labels, truth = "memwatch_chunks", {"status": "active"}, c.count
        truth_s, what = c.series("memwatch_store_memories", 100), "its memories are there"
    else:
        return
    r = c.rule("MemoryIndexEmpty", f"({index} and on(store) ({truth} > 0)) == 0", st,
               f"The search index of {c.name} holds no chunks while {what}: the agent "
               "recalls nothing (a reindex that emptied it).")
    level(r, c.by, [c.series(metric, 0, **labels), truth_s], None,
          [c.series(metric, 1, **labels), truth_s])
    # an empty index beside nothing to index is a new agent, not a lost index
    tl = timeline(r)
    r.scenarios.append(Scenario("silent when there is nothing to index", (
        tl.const(metric, {**c.labels, **labels}, 0), tl.const(truth_s.metric, truth_s.labels,
                                                              0)), (Check(tl.end, ()),)))
    yield r


@store_alert("MemoryMarkdownLost", Feature.MARKDOWN)
def markdown_lost(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    """Bytes of memory Markdown gone from the workspace within the window (a share of its
    peak), or any file gone, whatever its size."""
    window = c.window("MemoryMarkdownLost", st)
    w = go_duration(window)
    peak = f"max by (store) (max_over_time({BYTES}{c.sel}[{w}]))"
    lost = f"({peak} - max by (store) ({BYTES}{c.sel})) / {peak}"
    on_disk = f'sum by (store) ({FILES}{{state!="missing",store="{c.name}"}})'
    files_gone = f"max_over_time({on_disk}[{w}:1m]) - {on_disk}"
    r = c.rule("MemoryMarkdownLost",
               f"({lost} and on(store) ({files_gone} >= 1)) or {lost} >= {st.limit:g}", st,
               f"{{value}} of the memory Markdown of {c.name} (or a whole file) is gone from "
               f"its workspace within {w}.", "ratio")
    base = 100_000.0
    after, under = drop_to(base, st.limit)
    tl = timeline(r, window)

    def series(bytes_after: float, files_after: float) -> tuple[Series, ...]:
        return (tl.step(BYTES, c.labels, base, bytes_after),
                tl.step(FILES, {**c.labels, "state": "indexed"}, 30, files_after))

    prove(r, c.by, tl, series(after, 30), (base - after) / base, series(under, 30))
    small = base - 400  # one daily file of 400 bytes deleted
    r.scenarios.append(Scenario("fires when a whole file is gone", series(small, 29), (
        Check(tl.end, (r.expected(c.by, 400 / base),)),)))
    yield r


@store_alert("MemoryFilesUnindexed", Feature.MARKDOWN)
def files_unindexed(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    metric = "memwatch_markdown_unindexed_oldest_timestamp_seconds"
    r = c.rule("MemoryFilesUnindexed",
               f"time() - min by (store) ({metric}{c.sel}) >= {st.limit:g}", st,
               f"A memory file of {c.name} changed or appeared {{value}} ago and is not "
               f"indexed yet (limit {go_duration(st.limit)}): search does not see it.",
               "duration")
    age(r, c.by, metric, c.labels, st.limit)
    yield r


@store_alert("MemoryDailyFileMissing", Feature.MARKDOWN)
def daily_missing(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    metric = "memwatch_daily_memory_newest_timestamp_seconds"
    r = c.rule("MemoryDailyFileMissing",
               f"time() - max by (store) ({metric}{c.sel}) >= {st.limit:g}", st,
               f"The newest daily memory file of {c.name} was written {{value}} ago (limit "
               f"{go_duration(st.limit)}): the memory flush may not run.", "duration")
    age(r, c.by, metric, c.labels, st.limit)
    yield r
