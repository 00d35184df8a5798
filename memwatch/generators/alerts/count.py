"""Alerts on a store's memory count: emptied, dropped, below its baseline."""

from __future__ import annotations

from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Check, Scenario, Series, Settings
from memwatch.generators.alerts.scenarios import drop_to, level, prove, timeline
from memwatch.generators.output import go_duration

MEMORIES = "memwatch_store_memories"


# OpenClaw's builtin memory has a sharper one: its index empty while its Markdown is not
# (MemoryIndexEmpty); an empty index beside an empty workspace is a new agent.
@store_alert("MemoryCountZero", Feature.COUNT, unless=(Feature.MARKDOWN,))
def count_zero(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    r = c.rule("MemoryCountZero", f"{c.count} == 0", st,
               f"Store {c.name} has held 0 memories for {go_duration(st.for_s)}: a "
               "reset(), delete_all() or restore may have wiped it.")
    level(r, c.by, [c.series(MEMORIES, 0.0)], None, [c.series(MEMORIES, 1.0)])
    yield r


@store_alert("MemoryCountDropped", Feature.COUNT)
def count_dropped(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    window = c.window("MemoryCountDropped", st)
    w = go_duration(window)
    peak = f"max by (store) (max_over_time({MEMORIES}{c.sel}[{w}]))"
    r = c.rule("MemoryCountDropped", f"({peak} - {c.count}) / {peak} >= {st.limit:g}", st,
               f"Store {c.name} holds {{value}} fewer memories than its peak of the last "
               f"{w}.", "ratio")
    base = 10000.0
    after, under = drop_to(base, st.limit)
    tl = timeline(r, window)
    prove(r, c.by, tl, (tl.step(MEMORIES, c.labels, base, after),), (base - after) / base,
          (tl.step(MEMORIES, c.labels, base, under),))
    yield r


@store_alert("MemoryCountBelowBaseline", Feature.COUNT)
def below_baseline(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    baseline = c.store.baseline
    if not baseline:
        return
    r = c.rule("MemoryCountBelowBaseline", f"{c.count} < {baseline}", st,
               f"Store {c.name} holds {{value}} memories, below its baseline of {baseline}.",
               "count")
    level(r, c.by, [c.series(MEMORIES, baseline - 1)], float(baseline - 1),
          [c.series(MEMORIES, baseline)])
    yield r


@store_alert("MemoryNamespaceLost", Feature.NAMESPACES)
def namespace_lost(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    """A namespace (user, agent, tool; `__other__` as one) that lost `threshold` of its
    peak within the window, or vanished: the exporter keeps a vanished or shrunk namespace
    on /metrics at its real count (memwatch/namespaces.py), so only present series count."""
    window = c.window("MemoryNamespaceLost", st)
    w = go_duration(window)
    minimum = st.min_count or 0.0
    series = f"memwatch_memories{c.sel}"
    peak = f"max by (store, namespace) (max_over_time({series}[{w}]))"
    now = f"max by (store, namespace) ({series})"
    r = c.rule("MemoryNamespaceLost",
               f"({peak} - {now}) / ({peak} >= {minimum:g}) >= {st.limit:g}", st,
               f"Namespace {{{{ $labels.namespace }}}} of store {c.name} holds {{value}} fewer "
               f"memories than its peak of the last {w}, while the store as a whole does not "
               "(one user's delete_all(), a per-agent reindex).", "ratio")
    base = max(1000.0, minimum * 10)
    after, under = drop_to(base, st.limit)
    tl = timeline(r, window)
    by = {**c.by, "namespace": "alice"}
    labels = {**c.labels, "namespace": "alice"}
    other = {**c.labels, "namespace": "bob"}

    def ns(value_after: float) -> tuple[Series, ...]:
        return (tl.step("memwatch_memories", labels, base, value_after),
                tl.const("memwatch_memories", other, base * 9))

    prove(r, by, tl, ns(after), (base - after) / base, ns(under))
    if minimum > 1:  # a namespace smaller than min_count may vanish without a page
        small = (tl.step("memwatch_memories", labels, minimum - 1, 0),)
        r.scenarios.append(Scenario("silent for a namespace below min_count", small,
                                    (Check(tl.end, ()),)))
    yield r
