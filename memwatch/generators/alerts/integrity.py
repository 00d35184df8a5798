"""Alerts on what the integrity pass finds stored: memories without an embedding,
duplicates, vectors of several dimensions. Their series change every integrity_interval
(default 10m), so each waits longer than that before it fires."""

from __future__ import annotations

from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Settings
from memwatch.generators.alerts.scenarios import level

MEMORIES = "memwatch_store_memories"


def _share(c: StoreCtx, st: Settings, alert: str, metric: str, what: str) -> AlertRule:
    """`metric` as a share of the store's count at or above the threshold, and at least
    `min_count` records."""
    part = f"max by (store) ({metric}{c.sel})"
    minimum = st.min_count or 0.0
    r = c.rule(alert, f"({part} >= {minimum:g}) / clamp_min({c.count}, 1) >= {st.limit:g}", st,
               f"{{value}} of the memories in {c.name} {what}.", "ratio")
    total = max(1000.0, minimum / st.limit * 2)
    fire = float(-(-total * st.limit // 1))  # ceil: the share reaches the threshold
    while fire / total < st.limit:
        fire += 1
    under = fire - 1
    while under / total >= st.limit:
        under -= 1
    level(r, c.by, [c.series(metric, fire), c.series(MEMORIES, total)], fire / total,
          [c.series(metric, under), c.series(MEMORIES, total)])
    return r


@store_alert("MemoriesWithoutEmbedding", Feature.WITHOUT_EMBEDDING)
def without_embedding(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    yield _share(c, st, "MemoriesWithoutEmbedding", "memwatch_memories_without_embedding",
                 "have no embedding: search cannot find them")


@store_alert("MemoryDuplicates", Feature.DUPLICATES)
def duplicates(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    yield _share(c, st, "MemoryDuplicates", "memwatch_duplicate_memories",
                 "repeat an earlier memory of the same namespace")


@store_alert("EmbeddingDimensionMixed", Feature.DIMENSIONS)
def dimension_mixed(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    metric = "memwatch_embeddings_by_dimension"
    r = c.rule("EmbeddingDimensionMixed",
               f"count by (store) (max by (store, dimension) ({metric}{c.sel}) > 0) >= 2", st,
               f"Store {c.name} holds vectors of {{value}} different dimensions: two "
               "embedding models are mixed and their vectors cannot be compared.", "count")
    level(r, c.by, [c.series(metric, 40, dimension="1536"),
                    c.series(metric, 3, dimension="768")], 2.0,
          [c.series(metric, 40, dimension="1536"), c.series(metric, 0, dimension="768")])
    yield r
