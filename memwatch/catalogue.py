"""The alerts memwatch knows: name, default severity, `for`, threshold and what it means.

Data only, shared by the spec (which validates per-alert overrides against these names),
the rule generator, the promtool test generator, the docs and the consolidator's runbooks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["critical", "warning", "info"]
Unit = Literal["ratio", "seconds", "count", "stddev"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


@dataclass(frozen=True)
class AlertDef:
    name: str
    severity: Severity
    for_seconds: float
    component: str
    summary: str
    threshold: float | None = None  # meaning depends on the alert (ratio, seconds, count)
    window_seconds: float | None = None
    solution: str = ""
    # what the threshold measures: a ratio (0..1), seconds, a count, standard deviations
    unit: Unit = "seconds"
    # the least the measured thing must hold before the alert arms (a namespace's peak, the
    # lines a harvest drained...): keeps small numbers from paging
    min_count: float | None = None
    enabled: bool = True  # False: rendered only where the spec turns it on

    @property
    def threshold_unit(self) -> Unit | None:
        return None if self.threshold is None else self.unit


def check_threshold(name: str, value: float) -> None:
    """Raise ValueError when `value` is out of range for the alert's threshold."""
    unit = BY_NAME[name].threshold_unit
    if unit is None:
        raise ValueError(f"{name} takes no threshold")
    if unit == "ratio" and not 0 < value < 1:
        raise ValueError(f"{name}.threshold is a ratio: between 0 and 1 (exclusive), "
                         f"not {value:g}")
    if value <= 0:
        raise ValueError(f"{name}.threshold must be positive, not {value:g}")


CATALOGUE: tuple[AlertDef, ...] = (
    AlertDef("MemoryCountZero", "critical", 120, "memory-store",
             "Memory store {store} holds no memories",
             solution="Check for a reset()/delete_all() or a restore that emptied the table; "
                      "restore from the last backup."),
    AlertDef("MemoryCountDropped", "warning", 300, "memory-store",
             "Memory store {store} lost more than {threshold_pct} of its memories",
             threshold=0.5, window_seconds=600,
             solution="Compare with recorded deletes; look for a bulk delete or a provider "
                      "switch that dropped writes.", unit="ratio"),
    AlertDef("MemoryNamespaceLost", "warning", 300, "memory-store",
             "A namespace of memory store {store} lost its memories",
             threshold=0.5, window_seconds=3600, unit="ratio", min_count=10,
             solution="One user's, agent's or tool's memories were deleted while the store "
                      "as a whole held (mem0 delete_all(user_id=...), a per-agent reindex): "
                      "check who ran it and restore that namespace from backup."),
    AlertDef("MemoryDatabaseDown", "critical", 60, "database",
             "Memory store {store} is unreachable",
             solution="Run `memwatch doctor --spec SPEC --store STORE` as the exporter's user: it "
                      "names the cause (unreachable, authentication, the table, a grant lost "
                      "to a table recreation, SQLite side files). Then the database process, "
                      "network, credentials and disk."),
    AlertDef("MemoryCountBelowBaseline", "info", 600, "memory-store",
             "Memory store {store} is below its baseline",
             solution="The store holds fewer memories than expected; check recent deletes."),
    AlertDef("MemoryIngestionStalled", "warning", 300, "ingestion",
             "No new memories in {store}", threshold=3600,
             solution="Check the writer: the harvest job, the agent, the embedding provider."),
    AlertDef("MemoryBacklogStuck", "warning", 300, "ingestion",
             "Backlog of {store} is not being drained", threshold=900,
             solution="The oldest captured item is waiting too long: restart the harvest or "
                      "projection job; a leftover .processing file is recovered by the next run."),
    AlertDef("MemoryBacklogGrowing", "warning", 900, "ingestion",
             "Backlog of {store} keeps growing", threshold=100, window_seconds=1800,
             unit="count",
             solution="Ingestion is slower than capture; check the harvest job's errors."),
    AlertDef("MemoryHarvestDropped", "warning", 300, "ingestion",
             "A harvest of {store} stored fewer memories than it drained", threshold=0.2,
             window_seconds=3600, unit="ratio", min_count=10,
             solution="The capture spool was drained but the observations did not grow by "
                      "as many: check the harvest's log for rejected lines; the archived "
                      "spool (if kept) can be harvested again."),
    AlertDef("EmbeddingModelMixed", "warning", 300, "embeddings",
             "Memory store {store} holds vectors of more than one embedding model",
             solution="An embedding provider switch left vectors of two models mixed: "
                      "re-embed or roll back the provider."),
    AlertDef("VectorDimensionMismatch", "critical", 60, "embeddings",
             "Vector dimension of {store} differs from the expected one",
             solution="The embedding model changed; writes with the old dimension fail. "
                      "Align the model or migrate the table."),
    AlertDef("EmbeddingDimensionMixed", "warning", 900, "embeddings",
             "Memory store {store} holds vectors of more than one dimension",
             solution="Vectors of two embedding models are stored side by side: re-embed "
                      "the old ones with the current model or roll the provider back."),
    AlertDef("MemoriesWithoutEmbedding", "warning", 900, "embeddings",
             "Memories of {store} are stored without embeddings", threshold=0.05,
             unit="ratio", min_count=10,
             solution="The embedding provider fails or rejects the vectors (a dimension "
                      "mismatch): these memories cannot be found by search. Fix the "
                      "provider, then re-embed the rows without a vector."),
    AlertDef("MemoryDuplicates", "warning", 900, "memory-store",
             "Memory store {store} holds duplicate memories", threshold=0.1, unit="ratio",
             min_count=10,
             solution="The same memory is stored more than once (a spool harvested twice, a "
                      "retried write): stop the duplicating writer, then delete the copies."),
    AlertDef("MemoryGrowthUnusual", "warning", 900, "memory-store",
             "Memory store {store} grew far more than usual for this hour", threshold=3,
             unit="stddev", min_count=50,
             solution="The last hour's growth is far above the same hour of the last 7 "
                      "days and at least 3x the same hour a week ago: a runaway agent, a "
                      "loop re-ingesting its spool, a bulk import. Find the writer "
                      "(memwatch_memories by namespace)."),
    AlertDef("MemoryLossUnusual", "warning", 900, "memory-store",
             "Memory store {store} lost memories at an unusual hour", threshold=3,
             unit="stddev", min_count=50,
             solution="The store shrank in the last hour, far below what it does in the "
                      "same hour of the last 7 days: a delete that is not the usual "
                      "retention job. Check who deleted and restore if unintended."),
    AlertDef("MemoryStoreGrowingAbnormally", "warning", 900, "memory-store",
             "Memory store {store} grew abnormally fast", threshold=0.5, window_seconds=3600,
             solution="Look for a runaway agent writing duplicates.", unit="ratio"),
    AlertDef("MemoryLossUnexplained", "critical", 300, "memory-store",
             "Memories of {store} vanished without recorded deletes", threshold=10,
             window_seconds=3600, unit="count",
             solution="Memories disappeared that the history does not record as deleted: "
                      "suspect a reset() or an out-of-band DELETE; restore from backup."),
    AlertDef("MemoryWritesNotStored", "critical", 600, "memory-store",
             "Memories recorded as added to {store} were not stored", threshold=10,
             window_seconds=3600, unit="count",
             solution="The history records ADDs that the vector store does not hold: "
                      "writes are dropped (an embedding dimension mismatch, a provider "
                      "switch). Check the writer's errors; re-add the lost memories."),
    AlertDef("MemoryHistoryMismatch", "warning", 1800, "memory-store",
             "Memory store {store} and its history disagree", threshold=0.05,
             unit="ratio", min_count=10,
             solution="The live memories by the history (ADDs without a DELETE) and the "
                      "store's count differ: rows went missing without a recorded delete, "
                      "or the history was lost (a redeploy without its volume)."),
    AlertDef("MemoryTableRecreated", "critical", 0, "memory-store",
             "The memory table of {store} was dropped and recreated",
             solution="mem0's reset() drops and recreates the table; restore from backup "
                      "if it was not intended."),
    AlertDef("MemoryIndexEmpty", "critical", 120, "index",
             "The search index of {store} is empty while its memories are not",
             solution="A reindex emptied the index (openclaw #42714, #92187; ClawMongo's "
                      "chunks, #26017): the agent recalls nothing although its memories are "
                      "there. Rebuild it (`openclaw memory index --force`) and check its "
                      "log."),
    AlertDef("MemoryMarkdownLost", "critical", 300, "memory-store",
             "Markdown memory of {store} was lost", threshold=0.25, window_seconds=3600,
             unit="ratio",
             solution="Memory files or their content vanished from the workspace: the "
                      "index cannot bring them back. Restore the files from a backup or "
                      "the workspace's git history."),
    AlertDef("MemoryFilesUnindexed", "warning", 300, "index",
             "Memory files of {store} are not indexed", threshold=1800,
             solution="Memory Markdown changed or appeared and the index has not caught up: "
                      "the watcher (the gateway) is down, or indexing fails. Run "
                      "`openclaw memory index` and read its error."),
    AlertDef("MemoryDailyFileMissing", "info", 600, "ingestion",
             "No daily memory written for {store}", threshold=2 * 86400, enabled=False,
             solution="No memory/YYYY-MM-DD.md was written for days: the memory flush before "
                      "compaction did not run (openclaw #99958), or the agent was idle."),
    AlertDef("MemoryBackupStale", "warning", 600, "backup",
             "The newest file of check {check} of {store} is too old", threshold=86400 * 1.5,
             solution="The backup job did not run; check its schedule and logs."),
    # SLOs (spec `slos`): one rule per tier, `tier` page at this severity, ticket one below
    AlertDef("MemorySLOAvailabilityBurn", "critical", 0, "slo",
             "Memory store {store} burns its availability error budget too fast ({tier})",
             solution="The store was unreachable (memwatch_up 0) for a larger share of the "
                      "last hours than its availability objective allows: find the outage "
                      "(MemoryDatabaseDown, memwatch_collection_errors_total by reason) and "
                      "end it; the error-budget dashboard shows what is left."),
    AlertDef("MemorySLOFreshnessBurn", "critical", 0, "slo",
             "Memory store {store} burns its freshness error budget too fast ({tier})",
             solution="New memories arrived later than the objective's lag for a larger "
                      "share of the last hours than it allows: the writer, the harvest or "
                      "the embedding provider stalls (MemoryIngestionStalled, the backlog); "
                      "the error-budget dashboard shows what is left."),
    AlertDef("MemwatchExporterDown", "critical", 120, "exporter",
             "The memwatch exporter {instance} is down",
             solution="Restart the exporter; check its logs."),
    AlertDef("MemwatchCollectionsFailing", "warning", 600, "exporter",
             "Collections from {store} keep failing", threshold=3, window_seconds=900,
             solution="See memwatch_collection_errors_total's reason label; `memwatch doctor "
                      "--spec SPEC --store STORE` finds a cause that comes and goes.",
             unit="count"),
    AlertDef("HostMemoryUsageHigh", "warning", 300, "host",
             "Host {instance} memory usage above {threshold_pct}",
             solution="Find the process that grew; restart or scale out."),
    AlertDef("HostMemoryExhaustionPredicted", "critical", 300, "host",
             "Host {instance} will run out of memory within 15 minutes",
             threshold=900, window_seconds=1800,
             solution="Memory is falling fast: restart the leaking process before the OOM "
                      "killer picks one."),
    AlertDef("ProcessMemoryUsageHigh", "warning", 300, "process",
             "Process {process} memory usage above {threshold_pct} of its limit",
             solution="The process nears its memory limit; restart or raise the limit."),
    AlertDef("ProcessMemoryExhaustionPredicted", "critical", 300, "process",
             "Process {process} will reach its memory limit within 15 minutes",
             threshold=900, window_seconds=1800,
             solution="Memory grows fast: restart the process or raise its limit."),
)

BY_NAME: dict[str, AlertDef] = {a.name: a for a in CATALOGUE}
ALERT_NAMES: tuple[str, ...] = tuple(a.name for a in CATALOGUE)
