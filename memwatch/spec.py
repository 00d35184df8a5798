"""The YAML spec: a validated model of the stores (later also alerts, routing, dashboards).

Loading composes the YAML node tree first so every validation error can name the key path
*and* the line it sits on, the way a user finds it in an editor.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import to_jsonable_python

from memwatch import spec_yaml
from memwatch.capabilities import Capabilities, Feature, features
from memwatch.errors import SpecError
from memwatch.spec_consolidator import ConsolidatorSection
from memwatch.spec_monitoring import (
    AlertName,
    AlertOverride,
    AlertsSection,
    DashboardsSection,
    KubernetesSection,
    PrometheusSection,
    RecordingSection,
    RoutingSection,
    check_overrides,
)
from memwatch.spec_slo import StoreSlo, check_slos
from memwatch.spec_types import (
    DURATION_MARK,
    DURATION_PATTERN,
    Identifier,
    JsonPath,
    LabelValue,
    ListenAddress,
    Seconds,
    StoreName,
    Timeout,
    parse_duration,
)

__all__ = ["ExporterSpec", "Spec", "load_exporter_spec", "load_spec", "parse_duration",
           "parse_spec"]

class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class FilesCheck(Model):
    """A glob whose newest file's age, file count and bytes are exported."""

    name: LabelValue = Field(description="The `check` label value.")
    glob: str = Field(min_length=1, description="Shell glob; `~` is expanded.")
    backlog_stage: LabelValue | None = Field(
        None, description="Also export the matches as memwatch_backlog{stage=...}."
    )
    backlog_unit: Literal["lines", "files"] = Field(
        "lines", description="What the backlog counts: JSONL lines or files."
    )
    max_age: Annotated[Seconds, Field(gt=0)] | None = Field(
        None, description="Alert (MemoryBackupStale) when the newest file is older than this."
    )


class StoreBase(Model):
    name: StoreName
    timeout: Timeout = Field(5.0, description="Per-collection timeout (e.g. 5s).")
    min_interval: Annotated[Seconds, Field(ge=0, le=86400)] = Field(
        0.0, description="Serve the last result for this long instead of querying again."
    )
    max_namespaces: int = Field(100, ge=1, le=10000)
    integrity_interval: Annotated[Seconds, Field(ge=0, le=7 * 86400)] = Field(
        600.0, description="How often the integrity pass (memories without an embedding, "
                           "duplicates, models and dimensions) runs; 0 turns it off.")
    integrity_timeout: Annotated[Seconds, Field(gt=0, le=3600)] | None = Field(
        None, description="The bound of one integrity pass (default: the store's timeout). "
                          "It runs off the scrape path, so a big store can give it longer.")
    files: tuple[FilesCheck, ...] = ()
    baseline: int | None = Field(
        None, ge=1, description="Alert (info) when the count stays below this many memories.")
    max_staleness: Annotated[Seconds, Field(gt=0)] | None = Field(
        None, description="Alert when the newest memory is older than this (default 1h).")
    alerts: dict[AlertName, AlertOverride] = Field(
        default_factory=dict, description="Per-store overrides of the alerts section.")

    @model_validator(mode="after")
    def _unique_checks(self) -> StoreBase:
        names = [f.name for f in self.files]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"files: check names must be unique, repeated: {sorted(dup)}")
        check_overrides(self.alerts, "alerts")
        return self

    def capabilities(self) -> Capabilities:
        """The preset's backend, collector class and exported features."""
        raise NotImplementedError(type(self).__name__)


class SqliteSource(Model):
    path: str = Field(min_length=1, description="The SQLite file; opened read-only.")


def check_inline_dsn(dsn: str | None) -> None:
    """A DSN written in the spec is parsed now, as libpq will (one from the environment or
    a file is checked when the exporter reads it: the store counts a `config` error)."""
    if dsn is not None and not dsn.startswith("env:"):
        from memwatch.dsn import dsn_problem

        if problem := dsn_problem(dsn):
            raise ValueError(f"dsn: {problem}")


class PostgresSource(Model):
    dsn: str | None = Field(
        None, description="libpq DSN or URL; `env:VAR` reads it from the environment."
    )
    dsn_file: Path | None = Field(None, description="A file holding the DSN.")
    password: str | None = Field(None, description="`env:VAR` (or inline, not advised).")
    password_file: Path | None = Field(None, description="A file holding the password.")
    connect_timeout: Annotated[Seconds, Field(gt=0, le=60)] = 3.0

    @model_validator(mode="after")
    def _one_dsn(self) -> PostgresSource:
        if (self.dsn is None) == (self.dsn_file is None):
            raise ValueError("give exactly one of dsn or dsn_file")
        check_inline_dsn(self.dsn)
        if self.password is not None and self.password_file is not None:
            raise ValueError("give at most one of password or password_file")
        return self


CountMode = Literal["exact", "estimate"]
# mem0-pgvector: `auto` counts exactly below AUTO_ESTIMATE_ROWS (the planner's rows), in
# estimate mode from there on: the exact pass grows with the table, the estimate does not.
PgvectorCountMode = Literal["exact", "estimate", "auto"]
AUTO_ESTIMATE_ROWS = 1_000_000


class OpenclawMemStore(StoreBase, SqliteSource):
    """openclaw-mem's SQLite store and its JSONL capture spool."""

    preset: Literal["openclaw-mem"]
    path: str = "~/.openclaw/memory/openclaw-mem.sqlite"
    spool: str | None = Field(
        "~/.openclaw/memory/openclaw-mem-observations.jsonl",
        description="The capture spool (null to skip); `<spool>.*.processing` files too.",
    )
    expected_dimension: int | None = Field(None, ge=1, le=65536)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "sqlite", "memwatch.exporters.sqlite:OpenclawMemBackend",
            features(Feature.COUNT, Feature.NAMESPACES, Feature.SIZE, Feature.FRESHNESS,
                     Feature.MODELS, Feature.DIMENSION, Feature.WITHOUT_EMBEDDING,
                     Feature.DUPLICATES, Feature.DIMENSIONS,
                     *([Feature.BACKLOG, Feature.HARVEST] if self.spool else [])),
            backlog_stages=("spool", "processing") if self.spool else ())



class OpenclawMemoryCoreStore(StoreBase, SqliteSource):
    """OpenClaw's builtin memory (memory-core): Markdown in the agent's workspace, indexed
    into SQLite; the current layout (openclaw 2026.9) or the legacy one."""

    preset: Literal["openclaw-memory-core"]
    path: str = Field(
        "~/.openclaw/agents/main/agent/openclaw-agent.sqlite",
        description="The SQLite database holding the index: the agent database "
                    "(openclaw 2026.9), or the legacy ~/.openclaw/memory/<agentId>.sqlite.")
    workspace: str = Field("~/.openclaw/workspace",
                           description="The agent's workspace (agents.defaults.workspace): "
                                       "MEMORY.md and memory/*.md.")
    expected_dimension: int | None = Field(None, ge=1, le=65536)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "sqlite", "memwatch.exporters.openclaw_core:OpenclawMemoryCoreBackend",
            features(Feature.COUNT, Feature.NAMESPACES, Feature.SIZE, Feature.FRESHNESS,
                     Feature.MARKDOWN, Feature.MODELS, Feature.WITHOUT_EMBEDDING,
                     Feature.DIMENSIONS, Feature.DIMENSION))


class Mem0HistoryStore(StoreBase, SqliteSource):
    """mem0's history.db: ADD/UPDATE/DELETE events."""

    preset: Literal["mem0-history"]

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "sqlite", "memwatch.exporters.sqlite:Mem0HistoryBackend",
            features(Feature.COUNT, Feature.SIZE, Feature.FRESHNESS, Feature.HISTORY))



class HistoryLinked(Model):
    """A mem0 vector store whose history.db is watched too (a mem0-history store)."""

    history_store: StoreName | None = Field(
        None, description="A mem0-history store whose events this store's count must match "
                          "(MemoryLossUnexplained, MemoryWritesNotStored, "
                          "MemoryHistoryMismatch).")


class Mem0PgvectorStore(StoreBase, PostgresSource, HistoryLinked):
    """mem0's pgvector table."""

    preset: Literal["mem0-pgvector"]
    table: Identifier = "memories"
    schema_: Identifier = Field("public", alias="schema")
    namespace: Literal["user_id", "agent_id", "run_id"] = "user_id"
    expected_dimension: int | None = Field(None, ge=1, le=65536)
    count: PgvectorCountMode = Field(
        "auto", description="exact: count every row on every scrape; estimate: the planner's "
        "count, kept exact by recounts after changes the statistics see; auto: exact below "
        f"{AUTO_ESTIMATE_ROWS:,} rows (the planner's estimate), estimate from there on.")
    recount_bound: float = Field(
        0.02, gt=0, lt=1, description="count: estimate: count exactly when the table's "
        "statistics and the planner's estimate disagree by more than this ratio.")

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "postgresql", "memwatch.exporters.mem0_pgvector:Mem0PgvectorBackend",
            features(Feature.COUNT, Feature.NAMESPACES, Feature.SIZE, Feature.FRESHNESS,
                     Feature.DIMENSION, Feature.TABLE, Feature.IDENTITY,
                     Feature.WITHOUT_EMBEDDING, Feature.DUPLICATES, Feature.DIMENSIONS),
            mem0_compat=True)



class Condition(Model):
    column: Identifier | JsonPath
    op: Literal["=", "!=", "<", "<=", ">", ">=", "is_null", "not_null"] = "="
    value: str | int | float | bool | None = None

    @model_validator(mode="after")
    def _value_given(self) -> Condition:
        if self.op in ("is_null", "not_null") and self.value is not None:
            raise ValueError(f"op {self.op} takes no value")
        if self.op not in ("is_null", "not_null") and self.value is None:
            raise ValueError(f"op {self.op} needs a value")
        return self


class SqlStore(StoreBase):
    """Any table: count, namespace, freshness, with checked identifiers and bound values."""

    preset: Literal["sql"]
    backend: Literal["sqlite", "postgresql"]
    path: str | None = None
    dsn: str | None = None
    dsn_file: Path | None = None
    password: str | None = None
    password_file: Path | None = None
    connect_timeout: Annotated[Seconds, Field(gt=0, le=60)] = 3.0
    table: Identifier
    schema_: Identifier | None = Field(None, alias="schema")
    namespace: Identifier | JsonPath | None = Field(
        None, description="A column, or column.key for a JSON field."
    )
    timestamp: Identifier | JsonPath | None = Field(
        None, description="A column (or JSON field) holding the record's time."
    )
    timestamp_format: Literal["iso", "unix_seconds", "unix_milliseconds"] = "iso"
    filter: tuple[Condition, ...] = ()
    count: CountMode = "exact"
    recount_bound: float = Field(
        0.02, gt=0, lt=1, description="count: estimate: count exactly when the table's "
        "statistics and the planner's estimate disagree by more than this ratio (no effect "
        "with count: exact or backend sqlite).")

    @model_validator(mode="after")
    def _source(self) -> SqlStore:
        if self.backend == "sqlite":
            if not self.path or self.dsn or self.dsn_file:
                raise ValueError("backend sqlite needs path (and no dsn)")
            if self.count == "estimate":
                raise ValueError("count: estimate is for postgresql; SQLite counts exactly")
        elif self.path or (self.dsn is None) == (self.dsn_file is None):
            raise ValueError("backend postgresql needs exactly one of dsn or dsn_file")
        else:
            check_inline_dsn(self.dsn)
        if self.count == "estimate" and self.filter:
            raise ValueError("count: estimate counts the whole table and cannot apply filter")
        return self

    def postgres_source(self) -> PostgresSource:
        return PostgresSource(
            dsn=self.dsn, dsn_file=self.dsn_file, password=self.password,
            password_file=self.password_file, connect_timeout=self.connect_timeout,
        )

    def capabilities(self) -> Capabilities:
        module, cls = (("sqlite", "SqlSqliteBackend") if self.backend == "sqlite"
                       else ("postgres", "SqlPostgresBackend"))
        return Capabilities(
            self.backend, f"memwatch.exporters.{module}:{cls}",
            features(Feature.COUNT, Feature.SIZE,
                     *([Feature.NAMESPACES] if self.namespace else []),
                     *([Feature.FRESHNESS] if self.timestamp else [])))



class FilesStore(StoreBase):
    """Only file checks: a backup folder, a spool."""

    preset: Literal["files"]

    @model_validator(mode="after")
    def _has_files(self) -> FilesStore:
        if not self.files:
            raise ValueError("preset files needs at least one entry under files")
        return self

    def capabilities(self) -> Capabilities:
        return Capabilities("files", "memwatch.exporters.files:FilesBackend", features())



# --- MongoDB stores ----------------------------------------------------------------------

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
        if (self.uri is None) == (self.uri_file is None):
            raise ValueError("give exactly one of uri or uri_file")
        if self.password is not None and self.password_file is not None:
            raise ValueError("give at most one of password or password_file")
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
            "mongodb", "memwatch.exporters.mongodb:ClawMongoBackend",
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
            "mongodb", "memwatch.exporters.mongodb:Mem0MongoBackend",
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
            "mongodb", "memwatch.exporters.mongodb:OrchestratorBackend",
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
            "mongodb", "memwatch.exporters.mongodb:MongoCustomBackend",
            features(Feature.COUNT, Feature.SIZE,
                     *([Feature.NAMESPACES] if self.namespace else []),
                     *([Feature.FRESHNESS] if self.timestamp else [])))


Store = Annotated[
    OpenclawMemStore | OpenclawMemoryCoreStore | Mem0HistoryStore | Mem0PgvectorStore
    | SqlStore | FilesStore
    | ClawMongoStore | Mem0MongoStore | OrchestratorStore | MongoStore,
    Field(discriminator="preset"),
]


class Defaults(Model):
    timeout: Timeout = 5.0
    min_interval: Annotated[Seconds, Field(ge=0, le=86400)] = 0.0
    max_namespaces: int = Field(100, ge=1, le=10000)
    integrity_interval: Annotated[Seconds, Field(ge=0, le=7 * 86400)] = 600.0


class ExporterSettings(Model):
    listen: ListenAddress = "127.0.0.1:9187"
    web_config_file: Path | None = Field(
        None, description="Prometheus exporter-toolkit web config (TLS, basic auth)."
    )


class ExporterSpec(Model):
    """The part of the spec the exporter reads: its stores and how it listens."""

    version: Literal[1] = 1
    defaults: Defaults = Defaults()
    exporter: ExporterSettings = ExporterSettings()
    stores: tuple[Store, ...]

    @model_validator(mode="before")
    @classmethod
    def _apply_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("stores"), list):
            return data
        raw = data.get("defaults") or {}
        defaults = {k: v for k, v in raw.items() if k in Defaults.model_fields} if isinstance(
            raw, dict) else {}
        data = dict(data)
        data["stores"] = [
            {**defaults, **s} if isinstance(s, dict) else s for s in data["stores"]
        ]
        return data

    @model_validator(mode="after")
    def _unique_names(self) -> ExporterSpec:
        if not self.stores:
            raise ValueError("stores: list at least one store")
        names = [s.name for s in self.stores]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ValueError(f"stores[{i}].name: store name {n!r} is repeated "
                                 "(store names must be unique)")
        presets = {s.name: s.preset for s in self.stores}
        for s in self.stores:
            h = getattr(s, "history_store", None)
            if h is not None and presets.get(h) != "mem0-history":
                raise ValueError(f"store {s.name}: history_store {h!r} is not a mem0-history "
                                 "store of this spec")
        return self

    def store(self, name: str) -> Store:
        for s in self.stores:
            if s.name == name:
                return s
        raise KeyError(name)


class Spec(ExporterSpec):
    """The whole spec file."""

    # default_factory: a section's model is built when a spec first needs its default, not
    # when this module is imported (the exporter never builds them: load_exporter_spec).
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    recording: RecordingSection = Field(default_factory=RecordingSection)
    routing: RoutingSection = Field(default_factory=RoutingSection)
    dashboards: DashboardsSection = Field(default_factory=DashboardsSection)
    prometheus: PrometheusSection = Field(default_factory=PrometheusSection)
    consolidator: ConsolidatorSection = Field(default_factory=ConsolidatorSection)
    kubernetes: KubernetesSection = Field(default_factory=KubernetesSection)
    slos: tuple[StoreSlo, ...] = Field(
        (), description="Availability and freshness objectives per store, rendered into "
                        "burn-rate alerts and an error-budget dashboard (docs/slo.md).")

    @model_validator(mode="after")
    def _one_sqlite_consolidator(self) -> Spec:
        if self.kubernetes.consolidator.replicas > 1 and \
                self.consolidator.storage.backend == "sqlite":
            raise ValueError("kubernetes.consolidator.replicas: more than one consolidator "
                             "needs consolidator.storage on postgresql or mongodb (SQLite "
                             "has one writer)")
        return self

    @model_validator(mode="after")
    def _slo_stores(self) -> Spec:
        check_slos(self.slos, {s.name: s.capabilities().features for s in self.stores})
        return self

    @model_validator(mode="after")
    def _probed_stores_exist(self) -> Spec:
        names = {s.name for s in self.stores}
        for i, job in enumerate(self.prometheus.exporters):
            unknown = sorted(set(job.stores) - names)
            if unknown:
                raise ValueError(f"prometheus.exporters[{i}].stores: no store named "
                                 f"{', '.join(unknown)} in the spec")
        return self


# Validated by `memwatch spec check`, gen-monitoring and the consolidator; the exporter
# leaves them out rather than build their models in its process.
MONITORING_SECTIONS = frozenset(Spec.model_fields) - frozenset(ExporterSpec.model_fields)


# --- loading with line numbers -------------------------------------------------------

SpecT = TypeVar("SpecT", bound=ExporterSpec)


def _lines(node: yaml.Node) -> dict[tuple[Any, ...], int]:
    """Map every key path in the document to its 1-based line."""
    out: dict[tuple[Any, ...], int] = {}

    def walk(n: yaml.Node, path: tuple[Any, ...]) -> None:
        out[path] = n.start_mark.line + 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                key = (*path, k.value)
                walk(v, key)
                out[key] = k.start_mark.line + 1
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, (*path, i))

    walk(node, ())
    return out


_MSG_PATH = re.compile(r"^(?P<path>[A-Za-z_]\w*(?:\[\d+\])?(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*): ")


def _descend(cur: Any, item: Any) -> tuple[bool, Any]:
    if (isinstance(cur, dict) and item in cur) or (
            isinstance(cur, list) and isinstance(item, int) and item < len(cur)):
        return True, cur[item]
    return False, None


def _locate(loc: tuple[Any, ...], msg: str, data: Any, lines: dict[tuple[Any, ...], int]
            ) -> tuple[str, int, str]:
    """Turn a pydantic error location into a key path and line, skipping union tags and
    following a path that a model validator put at the start of its message."""
    path: list[Any] = []
    cur = data
    tag_at = -1  # the depth whose union tag was skipped: once, the next `files` is a key
    for item in loc:
        if tag_at != len(path) and isinstance(cur, dict) and cur.get("preset") == item and \
                item in presets() and (not path or isinstance(path[-1], int)):
            tag_at = len(path)
            continue  # the union's tag, not the document's key of the same name (`files`)
        found, nxt = _descend(cur, item)
        if found:
            path.append(item)
            cur = nxt
        elif isinstance(cur, dict) and isinstance(item, str) and item not in _skip():
            path.append(item)  # a missing key: report it at its parent's line
            break
    if (match := _MSG_PATH.match(msg)) is not None:
        tokens: list[Any] = []
        for part in match.group("path").split("."):
            name, _, idx = part.partition("[")
            tokens += [name] + ([int(idx[:-1])] if idx else [])
        sub, ok = cur, True
        for tok in tokens:
            ok, sub = _descend(sub, tok)
            if not ok:
                break
        if ok:
            path += tokens
            msg = msg[match.end():]
    line = lines.get(tuple(path)) or lines.get(tuple(path[:-1])) or 1
    text = ""
    for p in path:
        text += f"[{p}]" if isinstance(p, int) else (f".{p}" if text else str(p))
    return text or "(top level)", line, msg


def presets() -> list[str]:
    """Every `preset` value the Store union accepts."""
    union = get_args(get_args(Store)[0])
    return sorted(a for cls in union for a in get_args(cls.model_fields["preset"].annotation))


def _skip() -> set[str]:
    """Location items that are not keys of the document: union tags, pydantic markers."""
    return {*presets(), "[key]", "function-after", "function-before", "function-plain"}


@functools.cache
def _spec_keys() -> frozenset[str]:
    """Every key a spec can hold, at any depth: what "did you mean" picks from."""
    keys: set[str] = set()
    seen: set[type] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                keys.add(field.alias or name)
                walk(field.annotation)
        for arg in get_args(annotation):
            walk(arg)

    walk(Spec)
    return frozenset(keys)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`; did you mean `x`?` for the closest choice, or nothing when none is close."""
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.75)
    return f"; did you mean `{close[0]}`?" if close else ""


def _format_problem(err: Any) -> str:
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        key = err["loc"][-1] if err["loc"] else ""
        msg = "unknown key" + (did_you_mean(key, _spec_keys()) if isinstance(key, str) else "")
    if err["type"] == "union_tag_not_found":
        msg = f"missing key `preset`; expected one of {presets()}"
    if err["type"] == "union_tag_invalid" and isinstance(err.get("input"), dict):
        preset = err["input"].get("preset")
        hint = did_you_mean(preset, presets()) if isinstance(preset, str) else ""
        msg = f"preset: unknown preset {preset!r}{hint} (expected one of {presets()})"
    return msg


def _validate(model: type[SpecT], text: str, source: str,
              skip: frozenset[str] = frozenset()) -> SpecT:
    """Validate spec text as `model`, the top-level keys in `skip` left out; raise SpecError
    naming each bad key path and its line."""
    try:
        node, data = spec_yaml.parse(text, source)
    except yaml.YAMLError as exc:
        raise SpecError([spec_yaml.problem(exc, text, source)]) from None
    if not isinstance(data, dict) or node is None:
        raise SpecError([f"{source}:1: the spec must be a mapping with a `stores` list"])
    lines = _lines(node)
    data = {k: v for k, v in data.items() if k not in skip}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path, line, msg = _locate(tuple(err["loc"]), _format_problem(err), data, lines)
            problems.append(f"{source}:{line}: {path}: {msg}")
        raise SpecError(problems) from None


def _load(model: type[SpecT], path: str | Path, skip: frozenset[str] = frozenset()) -> SpecT:
    p = Path(path)
    return _validate(model, spec_yaml.read_text(p), str(p), skip)


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    """Validate spec text; raise SpecError naming each bad key path and its line."""
    return _validate(Spec, text, source)


def load_spec(path: str | Path) -> Spec:
    return _load(Spec, path)


def load_exporter_spec(path: str | Path) -> ExporterSpec:
    """The spec as `memwatch export` reads it: every key it uses validated as load_spec
    does, the monitoring and consolidator sections left out (MONITORING_SECTIONS)."""
    return _load(ExporterSpec, path, MONITORING_SECTIONS)


def json_schema() -> str:
    """The spec's JSON Schema, for editor completion (yaml-language-server)."""
    schema = _durations(Spec.model_json_schema(by_alias=True))
    for name in MONITORING_SECTIONS:  # a default_factory's value is not in the schema
        default = Spec.model_fields[name].get_default(call_default_factory=True)
        schema["properties"][name]["default"] = to_jsonable_python(default, by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "memwatch spec"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


_BOUNDS = {"ge": "minimum", "gt": "exclusiveMinimum", "le": "maximum", "lt": "exclusiveMaximum"}


def _durations(node: Any) -> Any:
    """Durations accept seconds or a string like 5s: say so, with standard bound keywords."""
    if isinstance(node, list):
        return [_durations(x) for x in node]
    if not isinstance(node, dict):
        return node
    node = {k: _durations(v) for k, v in node.items()}
    if node.pop(DURATION_MARK, False):
        number: dict[str, Any] = {"type": "number"}
        for key, std in _BOUNDS.items():
            if key in node:
                number[std] = node.pop(key)
        node.pop("type", None)
        node["anyOf"] = [number, {"type": "string", "pattern": DURATION_PATTERN,
                                  "description": "a duration such as 500ms, 5s, 2m, 1h30m"}]
    return node
