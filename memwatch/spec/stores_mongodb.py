"""The stores on MongoDB: ClawMongo, mem0's vector store, an orchestrator's memory, and
`mongo` for any collection."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from memwatch.capabilities import Capabilities, Feature, features
from memwatch.spec.base import Model, at_most_one, exactly_one
from memwatch.spec.store_base import CountMode, HistoryLinked, StoreBase
from memwatch.spec.types import Seconds

# Database and collection names as MongoDB allows them (no `$`, no `system.` collections);
# field paths are plain dotted names, so nothing in a spec becomes an aggregation expression.
MongoDatabase = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,63}$")]


def _not_system(name: str) -> str:
    if name.startswith("system."):
        raise ValueError(f"{name!r}: system collections are not memory stores")
    return name


MongoCollection = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,119}$"),
    AfterValidator(_not_system)]
FieldPath = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_-]{0,63}(\.[A-Za-z0-9_-]{1,64}){0,7}$")]
# Operators that run server-side JavaScript: never accepted in a filter.
_MONGO_JS_OPERATORS = frozenset({"$where", "$function", "$accumulator"})
ORCHESTRATOR_COLLECTIONS = ("metrics", "alerts", "knowledge_base", "consolidations",
                            "snapshots", "system_state", "audit_logs", "concepts",
                            "concept_links")


class MongoSource(Model):
    uri: str | None = Field(
        None, description="mongodb:// or mongodb+srv:// URI; `env:VAR` reads it from the "
                          "environment.")
    uri_file: Path | None = Field(None, description="A file holding the URI.")
    username: str | None = Field(None, description="Overrides the URI's user name.")
    password: str | None = Field(None, description="`env:VAR` (or inline, not advised).")
    password_file: Path | None = Field(None, description="A file holding the password.")
    connect_timeout: Annotated[Seconds, Field(gt=0, le=60)] = Field(
        3.0, description="Server selection and connect timeout (never longer than timeout).")

    @model_validator(mode="after")
    def _one_uri(self) -> MongoSource:
        exactly_one(self, "uri", "uri_file")
        at_most_one(self, "password", "password_file")
        return self


class ClawMongoStore(StoreBase, MongoSource):
    """ClawMongo (OpenClaw on MongoDB): events, chunks, ingest and relevance runs."""

    preset: Literal["clawmongo"]
    database: MongoDatabase = "openclaw"
    prefix: MongoCollection = Field(
        "openclaw_", description="Collections are `<prefix><agentId>_<kind>` or, in older "
                                 "builds, `<prefix><kind>`.")
    window: Annotated[Seconds, Field(gt=0, le=30 * 86400)] = Field(
        3600.0, description="Ingest and relevance runs are summarised over this window.")
    run_timestamp: FieldPath = Field(
        "ts", description="The BSON date field of ingest_runs and relevance_runs documents.")
    count: CountMode = "exact"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "mongodb", "memwatch.backends.mongodb:ClawMongoBackend",
            features(Feature.COUNT, Feature.NAMESPACES, Feature.SIZE, Feature.FRESHNESS,
                     Feature.BACKLOG, Feature.CHUNKS),
            backlog_stages=("projection", "consolidation"))


class Mem0MongoStore(StoreBase, MongoSource, HistoryLinked):
    """mem0's MongoDB vector store: documents `{_id, embedding, payload}`."""

    preset: Literal["mem0-mongodb"]
    database: MongoDatabase = "mem0_db"
    collection: MongoCollection = "mem0"
    namespace: Literal["user_id", "agent_id", "run_id"] = "user_id"
    count: CountMode = "exact"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "mongodb", "memwatch.backends.mongodb:Mem0MongoBackend",
            features(Feature.COUNT, Feature.NAMESPACES, Feature.SIZE, Feature.FRESHNESS,
                     Feature.TABLE, Feature.WITHOUT_EMBEDDING, Feature.DUPLICATES,
                     Feature.DIMENSIONS),
            mem0_compat=True)


class OrchestratorStore(StoreBase, MongoSource):
    """A monitoring orchestrator that keeps its own memory in MongoDB."""

    preset: Literal["orchestrator"]
    database: MongoDatabase = "orchestrator"
    collections: tuple[MongoCollection, ...] = Field(
        ORCHESTRATOR_COLLECTIONS, min_length=1,
        description="Collections counted into memwatch_collection_documents.")
    memory_collections: tuple[MongoCollection, ...] = Field(
        ("knowledge_base",), min_length=1,
        description="Collections whose documents are the store's memories.")
    freshness: dict[MongoCollection, FieldPath] = Field(
        default_factory=lambda: {"alerts": "timestamp", "knowledge_base": "timestamp"},
        description="Collection -> time field, exported as "
                    "memwatch_collection_newest_timestamp_seconds.")
    count: CountMode = "exact"

    @model_validator(mode="after")
    def _known_collections(self) -> OrchestratorStore:
        unknown = sorted((set(self.memory_collections) | set(self.freshness))
                         - set(self.collections))
        if unknown:
            raise ValueError(f"memory_collections and freshness name collections missing "
                             f"from collections: {unknown}")
        return self

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "mongodb", "memwatch.backends.mongodb:OrchestratorBackend",
            features(Feature.COUNT, Feature.SIZE, Feature.FRESHNESS))


def _check_filter(value: Any, path: str = "filter") -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: keys must be strings")
            if key in _MONGO_JS_OPERATORS:
                raise ValueError(f"{path}: {key} runs JavaScript on the server; not allowed")
            _check_filter(sub, f"{path}.{key}")
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _check_filter(sub, f"{path}[{i}]")


class MongoStore(StoreBase, MongoSource):
    """Any collection: count, namespace, freshness, an optional query filter."""

    preset: Literal["mongo"]
    database: MongoDatabase
    collection: MongoCollection
    namespace: FieldPath | None = Field(None, description="A field (dotted path) to group by.")
    timestamp: FieldPath | None = Field(
        None, description="A field holding the record's time: a BSON date, an ISO-8601 "
                          "string or Unix seconds/milliseconds.")
    filter: dict[str, Any] = Field(
        default_factory=dict, description="A MongoDB query document applied to every count.")
    count: CountMode = "exact"

    @model_validator(mode="after")
    def _filter(self) -> MongoStore:
        _check_filter(self.filter)
        if self.count == "estimate" and self.filter:
            raise ValueError("count: estimate counts the whole collection and cannot apply "
                             "filter")
        return self

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "mongodb", "memwatch.backends.mongodb:MongoCustomBackend",
            features(Feature.COUNT, Feature.SIZE,
                     *([Feature.NAMESPACES] if self.namespace else []),
                     *([Feature.FRESHNESS] if self.timestamp else [])))
