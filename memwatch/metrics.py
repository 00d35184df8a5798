"""The metric contract: every series memwatch exports, defined once.

The collector, docs/metrics.md (checked by a test) and the generators read this table,
so a name, its type, labels and help text live in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

MetricType = Literal["gauge", "counter", "info"]


@dataclass(frozen=True)
class MetricDef:
    name: str  # for counters, without the `_total` suffix (prometheus_client adds it)
    type: MetricType
    labels: tuple[str, ...]
    help: str

    @property
    def series_name(self) -> str:
        """The name as it appears on /metrics."""
        return f"{self.name}_total" if self.type == "counter" else self.name


def _m(name: str, type_: MetricType, labels: tuple[str, ...], help_: str) -> MetricDef:
    return MetricDef(name, type_, labels, help_)


# said in the HELP of every series the integrity pass reports (memwatch/integrity.py)
_INTEGRITY_NOTE = (" From the integrity pass, run every integrity_interval (default 10m); "
                   "the last result is served in between (see "
                   "memwatch_integrity_last_success_timestamp_seconds).")

UP = _m("memwatch_up", "gauge", ("store", "backend"),
        "1 if the last collection from the store succeeded, 0 otherwise.")
STORE_MEMORIES = _m("memwatch_store_memories", "gauge", ("store",),
                    "Memory records in the store (soft-archived records excluded).")
MEMORIES = _m("memwatch_memories", "gauge", ("store", "namespace"),
              "Memory records per namespace (user, agent, tool...); the largest namespaces "
              "up to max_namespaces, the rest summed into namespace=\"__other__\".")
DROP_RATIO = _m("memwatch_memories_drop_ratio", "gauge", ("store",),
                "Fraction of memory records lost since the previous successful collection "
                "(0 when the count grew or stayed).")
NEWEST = _m("memwatch_newest_memory_timestamp_seconds", "gauge", ("store",),
            "Unix time of the newest memory record.")
BACKLOG = _m("memwatch_backlog", "gauge", ("store", "stage"),
             "Items captured but not yet ingested or projected, by pipeline stage.")
BACKLOG_OLDEST = _m("memwatch_backlog_oldest_timestamp_seconds", "gauge", ("store", "stage"),
                    "Unix time of the oldest item waiting in the stage.")
SIZE = _m("memwatch_store_size_bytes", "gauge", ("store",),
          "Bytes the store occupies on disk.")
DURATION = _m("memwatch_collection_duration_seconds", "gauge", ("store",),
              "How long the last collection from the store took.")
ERRORS = _m("memwatch_collection_errors", "counter", ("store", "reason"),
            "Failed collections by reason (timeout, connect, auth, missing, permission, locked, "
            "schema, query, config, internal).")
LAST_SUCCESS = _m("memwatch_last_success_timestamp_seconds", "gauge", ("store",),
                  "Unix time of the last successful collection from the store.")
BUILD_INFO = _m("memwatch_exporter_build_info", "gauge", ("version",),
                "Always 1; the version label says which memwatch is running.")
RELOAD_SUCCESSFUL = _m("memwatch_config_last_reload_successful", "gauge", (),
                       "1 if the last reload of the spec (SIGHUP, POST /-/reload) succeeded "
                       "or none was tried, 0 if it failed and the previous spec is running.")
RELOAD_SUCCESS_TIME = _m("memwatch_config_last_reload_success_timestamp_seconds", "gauge", (),
                         "Unix time the running spec was loaded (at start or by a reload).")

ARCHIVED = _m("memwatch_archived_memories", "gauge", ("store",),
              "Soft-archived memory records (kept in the store, excluded from the count).")
EMBEDDINGS = _m("memwatch_embeddings", "gauge", ("store", "model"),
                "Stored embedding vectors per embedding model; a second model appearing "
                "signals a provider switch." + _INTEGRITY_NOTE)
WITHOUT_EMBEDDING = _m("memwatch_memories_without_embedding", "gauge", ("store",),
                       "Memory records that have no embedding vector (an embedding provider "
                       "failing, a dimension mismatch)." + _INTEGRITY_NOTE)
DUPLICATES = _m("memwatch_duplicate_memories", "gauge", ("store",),
                "Memory records whose content repeats an earlier record's within the same "
                "namespace (the copies beyond the first: a spool harvested twice)."
                + _INTEGRITY_NOTE)
EMBEDDINGS_BY_DIMENSION = _m("memwatch_embeddings_by_dimension", "gauge",
                             ("store", "dimension"),
                             "Stored embedding vectors per vector dimension; more than one "
                             "dimension means vectors of two models are mixed." + _INTEGRITY_NOTE)
INTEGRITY_LAST_SUCCESS = _m("memwatch_integrity_last_success_timestamp_seconds", "gauge",
                            ("store",), "Unix time the last integrity pass of the store "
                                        "finished successfully.")
INTEGRITY_DURATION = _m("memwatch_integrity_duration_seconds", "gauge", ("store",),
                        "How long the last successful integrity pass took.")
INTEGRITY_ERRORS = _m("memwatch_integrity_errors", "counter", ("store", "reason"),
                      "Failed integrity passes by reason (the reasons of "
                      "memwatch_collection_errors_total).")
VECTOR_DIMENSION = _m("memwatch_vector_dimension", "gauge", ("store",),
                      "Dimension of the stored vectors (the vector column's type, or the "
                      "newest embedding's).")
VECTOR_DIMENSION_EXPECTED = _m("memwatch_vector_dimension_expected", "gauge", ("store",),
                               "Vector dimension the spec expects (expected_dimension).")
TABLE_EXISTS = _m("memwatch_table_exists", "gauge", ("store",),
                  "1 if the memory table exists; mem0 creates it lazily and reset() drops it.")
RECREATIONS = _m("memwatch_table_recreations", "counter", ("store",),
                 "Times the memory table was seen dropped and recreated (its identity, the "
                 "PostgreSQL OID, changed), as mem0's reset() does.")
RECOUNTS = _m("memwatch_recounts", "counter", ("store",),
              "Exact count(*) runs of a PostgreSQL count: estimate store: the cumulative "
              "statistics disagreed with the planner's estimate (a delete it has not seen, "
              "a statistics reset), a standby's periodic count, or a table never analyzed.")
EPISODIC_EVENTS = _m("memwatch_episodic_events", "gauge", ("store", "scope"),
                     "openclaw-mem episodic events by scope.")
HISTORY_EVENTS = _m("memwatch_history_events", "gauge", ("store", "event"),
                    "Recorded history events by type (ADD, UPDATE, DELETE), to set a drop "
                    "against recorded deletes.")
FILES = _m("memwatch_files", "gauge", ("store", "check"),
           "Files matching the check's glob.")
FILES_SIZE = _m("memwatch_files_size_bytes", "gauge", ("store", "check"),
                "Total bytes of the files matching the check's glob.")
FILES_NEWEST = _m("memwatch_files_newest_timestamp_seconds", "gauge", ("store", "check"),
                  "Modification time of the newest file matching the check's glob.")

# OpenClaw's builtin memory (openclaw-memory-core): the Markdown truth against its index
MEMORY_INDEX_INFO = _m("memwatch_memory_index_info", "gauge",
                       ("store", "layout", "model", "provider"),
                       "Always 1: the memory index's layout (current: memory_index_* tables; "
                       "legacy: chunks, files, meta) and the model and provider its meta "
                       "names (fts-only and none without embeddings).")
MARKDOWN_FILES = _m("memwatch_markdown_files", "gauge", ("store", "state"),
                    "Memory Markdown files (MEMORY.md, memory/**/*.md) against the index: "
                    "indexed (as on disk), changed (on disk since indexed), unindexed (on "
                    "disk, not in the index), missing (in the index, gone from disk).")
MARKDOWN_BYTES = _m("memwatch_markdown_bytes", "gauge", ("store",),
                    "Bytes of the memory Markdown files on disk: the memories themselves.")
MARKDOWN_NEWEST = _m("memwatch_markdown_newest_timestamp_seconds", "gauge", ("store",),
                     "Modification time of the newest memory Markdown file.")
MARKDOWN_WAITING_OLDEST = _m(
    "memwatch_markdown_unindexed_oldest_timestamp_seconds", "gauge", ("store",),
    "Modification time of the oldest memory Markdown file not indexed as it is (unindexed "
    "or changed since); absent when the index is up to date.")
CURATED_MEMORY_BYTES = _m("memwatch_curated_memory_bytes", "gauge", ("store",),
                          "Bytes of MEMORY.md, the curated long-term memory (absent without "
                          "one).")
DAILY_MEMORY_NEWEST = _m("memwatch_daily_memory_newest_timestamp_seconds", "gauge",
                         ("store",),
                         "Modification time of the newest daily memory file "
                         "(memory/YYYY-MM-DD.md, written by the memory flush).")

# MongoDB presets (clawmongo, orchestrator)
MEMORIES_BY_SCOPE = _m("memwatch_memories_by_scope", "gauge", ("store", "scope"),
                       "Memory records per scope (ClawMongo events: session, user, agent, "
                       "workspace, tenant, global).")
CHUNKS = _m("memwatch_chunks", "gauge", ("store", "status"),
            "Search-index chunks by status (ClawMongo: active, archived, deleted); no active "
            "chunks while memories exist means the index was emptied.")
INGEST_RUNS = _m("memwatch_ingest_runs", "gauge", ("store", "status"),
                 "Ingest runs within the store's window (default 1h) by status (ok, partial, "
                 "failed).")
INGEST_ITEMS_FAILED = _m("memwatch_ingest_items_failed", "gauge", ("store",),
                         "Items that failed to ingest within the store's window (the sum of "
                         "the runs' itemsFailed).")
RELEVANCE_RUNS = _m("memwatch_relevance_runs", "gauge", ("store", "status"),
                    "Relevance runs within the store's window by status (ok, degraded, "
                    "insufficient-data).")
RELEVANCE_DEGRADED_RATIO = _m("memwatch_relevance_degraded_ratio", "gauge", ("store",),
                              "Fraction of the relevance runs within the store's window whose "
                              "status is degraded.")
# `percentile`, not `quantile`: Prometheus reserves `quantile` for summaries, whose _sum and
# _count are counters; these are windowed gauges (promtool check metrics says so).
RELEVANCE_LATENCY = _m("memwatch_relevance_latency_seconds", "gauge", ("store", "percentile"),
                       "Relevance-run latency percentiles (50, 95, 99; nearest rank) over the "
                       "runs within the store's window.")
COLLECTION_DOCUMENTS = _m("memwatch_collection_documents", "gauge", ("store", "collection"),
                          "Documents per MongoDB collection of the store.")
COLLECTION_NEWEST = _m("memwatch_collection_newest_timestamp_seconds", "gauge",
                       ("store", "collection"),
                       "Unix time of the newest document of the collection.")

CONTRACT: tuple[MetricDef, ...] = (
    UP, STORE_MEMORIES, MEMORIES, DROP_RATIO, NEWEST, BACKLOG, BACKLOG_OLDEST, SIZE,
    DURATION, ERRORS, LAST_SUCCESS, BUILD_INFO, RELOAD_SUCCESSFUL, RELOAD_SUCCESS_TIME,
    ARCHIVED, EMBEDDINGS, WITHOUT_EMBEDDING,
    DUPLICATES, EMBEDDINGS_BY_DIMENSION, INTEGRITY_LAST_SUCCESS, INTEGRITY_DURATION,
    INTEGRITY_ERRORS, VECTOR_DIMENSION, VECTOR_DIMENSION_EXPECTED, TABLE_EXISTS, RECREATIONS,
    RECOUNTS,
    EPISODIC_EVENTS, HISTORY_EVENTS, FILES, FILES_SIZE, FILES_NEWEST,
    MEMORY_INDEX_INFO, MARKDOWN_FILES, MARKDOWN_BYTES, MARKDOWN_NEWEST, MARKDOWN_WAITING_OLDEST,
    CURATED_MEMORY_BYTES, DAILY_MEMORY_NEWEST,
    MEMORIES_BY_SCOPE, CHUNKS, INGEST_RUNS, INGEST_ITEMS_FAILED, RELEVANCE_RUNS,
    RELEVANCE_DEGRADED_RATIO, RELEVANCE_LATENCY, COLLECTION_DOCUMENTS, COLLECTION_NEWEST,
)

BY_NAME: dict[str, MetricDef] = {m.name: m for m in CONTRACT}

OTHER_NAMESPACE = "__other__"
NO_NAMESPACE = "__none__"
