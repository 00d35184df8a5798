"""What a store's preset is and exports: its backend, the class that collects it and its
features. Each store class of the spec declares these (`StoreBase.capabilities()`); the
exporter's registry, the alert and recording-rule generators and the dashboards read them,
and a test holds each declaration to what the backend really exports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from memwatch import metrics

BackendKind = Literal["sqlite", "postgresql", "mongodb", "files"]


class Feature(StrEnum):
    """A family of series a backend exports; alerts and panels apply where it exists."""

    COUNT = "count"  # memwatch_store_memories, memwatch_memories_drop_ratio
    NAMESPACES = "namespaces"  # memwatch_memories{namespace}
    SIZE = "size"  # memwatch_store_size_bytes
    FRESHNESS = "freshness"  # memwatch_newest_memory_timestamp_seconds
    BACKLOG = "backlog"  # memwatch_backlog{stage}, its oldest item
    MODELS = "models"  # memwatch_embeddings{model} (integrity pass)
    WITHOUT_EMBEDDING = "without_embedding"  # memwatch_memories_without_embedding (integrity)
    DUPLICATES = "duplicates"  # memwatch_duplicate_memories (integrity pass)
    DIMENSIONS = "dimensions"  # memwatch_embeddings_by_dimension{dimension} (integrity)
    DIMENSION = "dimension"  # memwatch_vector_dimension
    TABLE = "table"  # memwatch_table_exists: a table created lazily, dropped by reset()
    IDENTITY = "identity"  # memwatch_table_recreations_total
    HISTORY = "history"  # memwatch_history_events{event}: a record of ADDs and DELETEs
    HARVEST = "harvest"  # the backlog is a capture spool whose lines become memories
    MARKDOWN = "markdown"  # the Markdown truth against its index (openclaw-memory-core)
    CHUNKS = "chunks"  # memwatch_chunks{status}: a search index beside the memories


# The series each feature promises (a backend may add preset-specific ones beside them).
FEATURE_METRICS: dict[Feature, tuple[metrics.MetricDef, ...]] = {
    Feature.COUNT: (metrics.STORE_MEMORIES, metrics.DROP_RATIO),
    Feature.NAMESPACES: (metrics.MEMORIES,),
    Feature.SIZE: (metrics.SIZE,),
    Feature.FRESHNESS: (metrics.NEWEST,),
    Feature.BACKLOG: (metrics.BACKLOG,),
    Feature.MODELS: (metrics.EMBEDDINGS,),
    Feature.WITHOUT_EMBEDDING: (metrics.WITHOUT_EMBEDDING,),
    Feature.DUPLICATES: (metrics.DUPLICATES,),
    Feature.DIMENSIONS: (metrics.EMBEDDINGS_BY_DIMENSION,),
    Feature.DIMENSION: (metrics.VECTOR_DIMENSION,),
    Feature.TABLE: (metrics.TABLE_EXISTS,),
    Feature.IDENTITY: (metrics.RECREATIONS,),
    Feature.HISTORY: (metrics.HISTORY_EVENTS,),
    Feature.HARVEST: (),  # a property of the BACKLOG series, no series of its own
    Feature.MARKDOWN: (metrics.MEMORY_INDEX_INFO, metrics.MARKDOWN_FILES, metrics.MARKDOWN_BYTES),
    Feature.CHUNKS: (metrics.CHUNKS,),
}


@dataclass(frozen=True)
class Capabilities:
    backend: BackendKind  # the `backend` label of memwatch_up
    implementation: str  # "module:Class" of the Backend, imported only when used
    features: frozenset[Feature]
    backlog_stages: tuple[str, ...] = ()  # the `stage` values of memwatch_backlog
    mem0_compat: bool = False  # counted into the mem0_* compatibility series

    def has(self, *features: Feature) -> bool:
        return all(f in self.features for f in features)


def features(*names: Feature) -> frozenset[Feature]:
    return frozenset(names)
