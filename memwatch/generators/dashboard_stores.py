"""The overview's store rows: each store gets the panels its preset can fill.

A store's panels follow its features (`capabilities().features`, less the integrity pass's
when its `integrity_interval` is 0) and its own alert thresholds. Stores whose panels come
out the same share one row repeated over a hidden variable of their own (their names,
narrowed by the `store` variable), so a dashboard holds one row per kind of store however
many stores there are, and a mem0-pgvector store never shows an empty Backlog panel.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass
from typing import Any

from memwatch import metrics
from memwatch.capabilities import Feature
from memwatch.catalogue import BY_NAME
from memwatch.generators.alerts.rule import resolve
from memwatch.generators.derived import WatchedStore
from memwatch.generators.grafana import (
    GRID_WIDTH,
    Column,
    Link,
    Panel,
    Query,
    QueryVariable,
    Row,
    Step,
    ValueText,
    value_field,
)
from memwatch.generators.model import Model
from memwatch.generators.output import go_duration
from memwatch.spec import Spec, Store

UP_DOWN = (ValueText("1", "UP", "green"), ValueText("0", "DOWN", "red"))
STORE_VARIABLE = "store"
# the recording rules of rules/recording.yml the panels read (generators/rules.py)
INGESTION_LAG = "memwatch:ingestion_lag:seconds"
SIZE_GROWTH = "memwatch:store_size_growth:ratio_1h"
BACKLOG = "memwatch:backlog:max"
BACKLOG_AGE = "memwatch:backlog_age:seconds"
NAMESPACE_MAX = "memwatch:memories_namespace:max"
WITHOUT_EMBEDDING_RATIO = "memwatch:memories_without_embedding:ratio"
DUPLICATES_RATIO = "memwatch:duplicate_memories:ratio"


def namespace_drop(window: float) -> str:
    return f"memwatch:memories_namespace_drop:ratio_{go_duration(window)}"


def q(value: str) -> str:
    """A PromQL string literal (JSON's escaping is a subset of PromQL's)."""
    return json.dumps(value)


def re_literal(value: str) -> str:
    """`value` as an RE2 literal (re.escape would also escape `-`, legal but noisy)."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", value)


def runbook_base(spec: Spec) -> str | None:
    """alerts.runbook_url when a browser can open it from Grafana: an http(s) URL (left
    unset it is the runbooks file inside the output directory, which render warns about)."""
    url = spec.alerts.runbook_url
    return url if url.startswith(("http://", "https://")) else None


def runbooks(spec: Spec, *alerts: str) -> tuple[Link, ...]:
    """Links to the alerts' runbooks, as their rules link them (the runbook_url
    annotation: alerts.runbook_url + `#<alert in lower case>`); none without a base."""
    base = runbook_base(spec)
    return tuple(Link(f"Runbook: {a}", f"{base}#{a.lower()}", BY_NAME[a].solution,
                      icon="doc") for a in alerts) if base else ()


@dataclass(frozen=True)
class _Ctx:
    spec: Spec
    store: Store
    features: frozenset[Feature]
    sel: str  # {store="$var"}
    shared: bool  # the row's stores differ in their own settings: the alerts section's

    def has(self, feature: Feature) -> bool:
        return feature in self.features

    def links(self, *alerts: str) -> tuple[Link, ...]:
        return runbooks(self.spec, *alerts)

    def limit(self, alert: str) -> float:
        """The alert's threshold: catalogue, alerts.rules, the store's own."""
        value = resolve(self.spec, alert, None if self.shared else self.store.alerts).threshold
        assert value is not None, f"{alert} has a threshold in the catalogue"
        return value

    @property
    def stale_after(self) -> float:
        own = None if self.shared else self.store.max_staleness
        return own or self.limit("MemoryIngestionStalled")

    @property
    def baseline(self) -> int | None:
        return None if self.shared else self.store.baseline

    @property
    def expected_dimension(self) -> int | None:
        return getattr(self.store, "expected_dimension", None)


def _count_line(c: _Ctx) -> list[Panel]:
    s = c.sel
    out = [Panel("stat", "Database", (Query(f"{metrics.UP.name}{s}"),), mappings=UP_DOWN,
                 steps=(Step("red"), Step("green", 1)), width=4,
                 links=c.links("MemoryDatabaseDown"),
                 description="UP when the last collection from the store succeeded.")]
    if c.has(Feature.COUNT):
        baseline = c.baseline
        out.append(Panel(
            "timeseries", "Memories", (Query(f"{metrics.STORE_MEMORIES.name}{s}", "memories"),),
            steps=(Step("green"), Step("red", 0),
                   *((Step("yellow", baseline),) if baseline else ())),
            threshold_lines=True, min=0, width=10,
            links=c.links("MemoryCountZero", "MemoryCountDropped",
                          *(("MemoryCountBelowBaseline",) if baseline else ())),
            description="Memory records in the store; the red line is zero (MemoryCountZero)"
                        + (", the yellow one the baseline." if baseline else ".")))
        out.append(_drop_ratio(c))
    if c.has(Feature.FRESHNESS):
        stale = c.stale_after
        out.append(Panel(
            "stat", "Ingestion lag", (Query(f"{INGESTION_LAG}{s}"),), unit="s", width=5,
            steps=(Step("green"), Step("orange", stale)),
            links=c.links("MemoryIngestionStalled"),
            description="Time since the newest memory was written (recording rule "
                        f"{INGESTION_LAG}); orange from {go_duration(stale)}, where "
                        "MemoryIngestionStalled fires."))
    return out


def _drop_ratio(c: _Ctx) -> Panel:
    count = f"{metrics.STORE_MEMORIES.name}{c.sel}"

    def window(w: float) -> Query:
        peak = f"max_over_time({count}[{go_duration(w)}])"
        # clamp_min: a store that stayed empty shows 0, not NaN
        return Query(f"({peak} - {count}) / clamp_min({peak}, 1)", f"over {go_duration(w)}")

    threshold = c.limit("MemoryCountDropped")
    return Panel(
        "stat", "Drop ratio",
        (Query(f"{metrics.DROP_RATIO.name}{c.sel}", "since last collection"),
         *(window(w) for w in c.spec.recording.drop_windows)),
        unit="percentunit", min=0, max=1, width=5,
        steps=(Step("green"), Step("orange", threshold / 2), Step("red", threshold)),
        links=c.links("MemoryCountDropped"),
        description="Fraction of memories lost: since the previous collection, and from the "
                    "window's peak.")


def _namespaces(c: _Ctx) -> Panel:
    """The largest namespaces and what each lost in the drop windows: a table of
    `top_namespaces` rows instead of a line per namespace."""
    k, sel = c.spec.dashboards.top_namespaces, c.sel

    def by_namespace(rule: str) -> str:  # without the rule's name: the rows must merge
        return f"max by (store, namespace) ({rule}{sel})"

    top = f"topk({k}, {by_namespace(NAMESPACE_MAX)})"
    windows = c.spec.recording.drop_windows
    queries = (Query(top, table=True),
               *(Query(f"{by_namespace(namespace_drop(w))} and on (store, namespace) {top}",
                       table=True) for w in windows))
    lost = c.limit("MemoryNamespaceLost")
    steps = (Step("transparent"), Step("orange", lost / 2), Step("red", lost))
    n = len(queries)
    columns = (Column("namespace", "Namespace"), Column(value_field(0, n), "Memories"),
               *(Column(value_field(i + 1, n), f"Lost in {go_duration(w)}",
                        unit="percentunit", steps=steps) for i, w in enumerate(windows)))
    return Panel("table", "Largest namespaces", queries, columns=columns, width=9,
                 sort_by="Memories", links=c.links("MemoryNamespaceLost"),
                 description=f"The {k} namespaces holding the most memories, and the share "
                             "each lost against its peak in the drop windows (recording "
                             "rules; MemoryNamespaceLost).")


def _content_line(c: _Ctx) -> list[Panel]:
    s, out = c.sel, []
    if c.has(Feature.NAMESPACES):
        out.append(_namespaces(c))
    if c.has(Feature.SIZE):
        out.append(Panel("timeseries", "Store size", (Query(f"{metrics.SIZE.name}{s}", "size"),),
                         unit="bytes", min=0, width=5,
                         links=c.links("MemoryStoreGrowingAbnormally"),
                         description="Bytes the store occupies on disk."))
    if c.has(Feature.BACKLOG):
        stuck = c.limit("MemoryBacklogStuck")
        out += [
            Panel("timeseries", "Backlog", (Query(f"{BACKLOG}{s}", "{{stage}}"),), min=0,
                  width=5, links=c.links("MemoryBacklogGrowing"),
                  description="Captured but not yet ingested or projected, by stage."),
            Panel("timeseries", "Oldest backlog item", (Query(f"{BACKLOG_AGE}{s}",
                                                              "{{stage}}"),),
                  unit="s", min=0, width=5, steps=(Step("green"), Step("orange", stuck)),
                  threshold_lines=True, links=c.links("MemoryBacklogStuck"),
                  description="How long the oldest waiting item has waited, by stage; the "
                              "line is MemoryBacklogStuck's limit."),
        ]
    return out


def _dimension(c: _Ctx) -> Panel:
    expected = c.expected_dimension
    queries: tuple[Query, ...] = (Query(f"{metrics.VECTOR_DIMENSION.name}{c.sel}", "stored"),)
    steps: tuple[Step, ...] = (Step("blue"),)
    about = "Dimension of the stored vectors."
    if expected:
        queries += (Query(f"{metrics.VECTOR_DIMENSION_EXPECTED.name}{c.sel}", "expected"),)
        about = ("The stored vectors' dimension against the one the spec expects "
                 "(VectorDimensionMismatch fires when they differ)")
        if not c.shared:
            steps = (Step("red"), Step("green", expected), Step("red", expected + 1))
            about += f": green at {expected}, red otherwise."
    return Panel("stat", "Vector dimension", queries, steps=steps, width=4,
                 links=c.links("VectorDimensionMismatch") if expected else (),
                 description=about)


def _vectors_line(c: _Ctx) -> list[Panel]:
    s, out = c.sel, []
    if c.has(Feature.DIMENSION):
        out.append(_dimension(c))
    if c.has(Feature.DIMENSIONS):
        out.append(Panel("timeseries", "Embeddings by dimension",
                         (Query(f"{metrics.EMBEDDINGS_BY_DIMENSION.name}{s}", "{{dimension}}"),),
                         min=0, width=6, links=c.links("EmbeddingDimensionMixed"),
                         description="Stored vectors per dimension: two lines mean two "
                                     "models' vectors are mixed."))
    if c.has(Feature.MODELS):
        out.append(Panel("timeseries", "Embeddings by model",
                         (Query(f"{metrics.EMBEDDINGS.name}{s}", "{{model}}"),), min=0, width=6,
                         links=c.links("EmbeddingModelMixed"),
                         description="Stored vectors per embedding model."))
    if c.has(Feature.WITHOUT_EMBEDDING):
        gap = c.limit("MemoriesWithoutEmbedding")
        out.append(Panel("stat", "Embedding coverage",
                         (Query(f"1 - {WITHOUT_EMBEDDING_RATIO}{s}"),), unit="percentunit",
                         min=0, max=1, width=4, steps=(Step("red"), Step("green", 1 - gap)),
                         links=c.links("MemoriesWithoutEmbedding"),
                         description="Share of the memories that have an embedding (red "
                                     "below MemoriesWithoutEmbedding's limit)."))
    if c.has(Feature.DUPLICATES):
        dup = c.limit("MemoryDuplicates")
        out.append(Panel("stat", "Duplicates", (Query(f"{DUPLICATES_RATIO}{s}"),),
                         unit="percentunit", min=0, max=1, width=4,
                         steps=(Step("green"), Step("orange", dup)),
                         links=c.links("MemoryDuplicates"),
                         description="Share of the memories repeating an earlier one in "
                                     "their namespace."))
    return out


def _records_line(c: _Ctx) -> list[Panel]:
    s, out = c.sel, []
    if c.has(Feature.TABLE):
        out.append(Panel("stat", "Memory table", (Query(f"{metrics.TABLE_EXISTS.name}{s}"),),
                         mappings=(ValueText("1", "EXISTS", "green"),
                                   ValueText("0", "MISSING", "red")),
                         steps=(Step("red"), Step("green", 1)), width=4,
                         description="mem0 creates its table lazily; reset() drops it."))
    if c.has(Feature.IDENTITY):
        out.append(Panel("stat", "Table recreations", (Query(
            f"round(increase({metrics.RECREATIONS.series_name}{s}[$__range]))"),),
            steps=(Step("green"), Step("red", 1)), width=4,
            links=c.links("MemoryTableRecreated"),
            description="Times the memory table was dropped and recreated (its OID changed, "
                        "as reset() does) within the dashboard's time range."))
    if c.has(Feature.HISTORY):
        out.append(Panel("timeseries", "History events",
                         (Query(f"{metrics.HISTORY_EVENTS.name}{s}", "{{event}}"),), min=0,
                         width=8, links=c.links("MemoryLossUnexplained"),
                         description="Recorded ADD, UPDATE and DELETE events: a drop with no "
                                     "DELETEs is unexplained."))
    if c.has(Feature.MARKDOWN):
        out.append(Panel("timeseries", "Markdown files against the index",
                         (Query(f"{metrics.MARKDOWN_FILES.name}{s}", "{{state}}"),), min=0,
                         width=8, links=c.links("MemoryFilesUnindexed", "MemoryMarkdownLost"),
                         description="Memory Markdown files: indexed, changed since indexed, "
                                     "unindexed, missing from disk."))
    if c.has(Feature.CHUNKS):
        out.append(Panel("timeseries", "Search-index chunks",
                         (Query(f"{metrics.CHUNKS.name}{s}", "{{status}}"),), min=0, width=8,
                         links=c.links("MemoryIndexEmpty"),
                         description="Chunks of the search index by status: no active "
                                     "chunks while memories exist means it was emptied."))
    if c.store.files:
        out.append(Panel("timeseries", "Newest file age", (Query(
            f"time() - {metrics.FILES_NEWEST.name}{s}", "{{check}}"),), unit="s", min=0, width=8,
            links=c.links("MemoryBackupStale"),
            description="Since the newest file of each file check (a backup, a spool) was "
                        "written; MemoryBackupStale fires past a check's max_age."))
    return out


def fill_line(panels: list[Panel], height: int = 7) -> list[Panel]:
    """The panels' widths scaled so they fill the grid's width together."""
    total = sum(p.width for p in panels)
    out, used = [], 0
    for i, p in enumerate(panels):
        w = GRID_WIDTH - used if i == len(panels) - 1 else round(p.width * GRID_WIDTH / total)
        out.append(dataclasses.replace(p, width=w, height=height))
        used += w
    return out


def store_panels(spec: Spec, store: WatchedStore, variable: str, shared: bool = False
                 ) -> tuple[Panel, ...]:
    """A store's panels, its name in `$variable`, in lines that fill the grid; `shared`:
    thresholds from the alerts section, not the store's own settings."""
    c = _Ctx(spec, store.store, store.served, f'{{{STORE_VARIABLE}="${variable}"}}', shared)
    lines: list[tuple[list[Panel], int]] = []
    for line, height in ((_count_line(c), 7), (_content_line(c), 9), (_vectors_line(c), 7),
                         (_records_line(c), 7)):
        if lines and sum(p.width for p in lines[-1][0]) <= GRID_WIDTH // 2:
            last, h = lines.pop()  # half a line or less: shares the next one
            line, height = [*last, *line], max(h, height)
        if line:
            lines.append((line, height))
    return tuple(p for line, height in lines for p in fill_line(line, height))


@dataclass(frozen=True)
class StoreGroup:
    """Stores whose rows are alike: one row, repeated over `variable`."""

    variable: str
    preset: str
    stores: tuple[str, ...]
    panels: tuple[Panel, ...]


def _shape(watched: WatchedStore) -> tuple[Any, ...]:
    """What decides a store's panels and their queries (store_panels reads no more)."""
    store = watched.store
    return (store.preset, watched.served,
            bool(getattr(store, "expected_dimension", None)), bool(store.files))


def _settings(store: Store) -> tuple[Any, ...]:
    """What else decides its panels: the thresholds of its own settings."""
    return (getattr(store, "expected_dimension", None), store.baseline, store.max_staleness,
            tuple(sorted(store.alerts.items())))


def store_groups(model: Model) -> list[StoreGroup]:
    """The stores grouped by preset and the panels they get (their titles and queries), in
    the spec's order. A group's thresholds are its stores' when they agree, else the
    alerts section's: the number of rows stays that of the kinds of stores."""
    keyed: dict[tuple[Any, ...], list[WatchedStore]] = {}
    for store in model.stores:
        keyed.setdefault(_shape(store), []).append(store)
    out: list[StoreGroup] = []
    for (preset, *_), stores in keyed.items():
        base = preset.replace("-", "_")
        n = sum(1 for g in out if g.preset == preset)
        var = base if n == 0 else f"{base}_{n + 1}"
        shared = len({_settings(s.store) for s in stores}) > 1
        out.append(StoreGroup(var, preset, tuple(s.name for s in stores),
                              store_panels(model.spec, stores[0], var, shared)))
    return out


def group_variable(group: StoreGroup, every_store: bool) -> QueryVariable:
    """The group's stores among those selected in `$store` (all of them when the group
    holds every store of the spec)."""
    only = "" if every_store else (
        f', {STORE_VARIABLE}=~{q("|".join(re_literal(s) for s in group.stores))}')
    return QueryVariable(
        group.variable, f"{group.preset} stores",
        f'label_values({metrics.UP.name}{{{STORE_VARIABLE}=~"${STORE_VARIABLE}"{only}}}, '
        f'{STORE_VARIABLE})', hidden=True)


def store_rows(model: Model) -> tuple[list[Row], list[QueryVariable]]:
    groups = store_groups(model)
    rows = [Row(f"${g.variable} ({g.preset})", g.panels, repeat=g.variable) for g in groups]
    return rows, [group_variable(g, len(groups) == 1) for g in groups]


def sample_variables(model: Model) -> dict[str, str]:
    """A value for every store variable of the overview: the first store of each group
    (what Grafana fills in for that store's row)."""
    out = {STORE_VARIABLE: model.stores[0].name}
    out.update({g.variable: g.stores[0] for g in store_groups(model)})
    return out
