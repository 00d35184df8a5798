"""The stores on SQLite and PostgreSQL: the openclaw and mem0 presets, and `sql` for any
table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from memwatch.capabilities import Capabilities, Feature, features
from memwatch.spec.base import Model, at_most_one, exactly_one
from memwatch.spec.store_base import CountMode, HistoryLinked, StoreBase
from memwatch.spec.types import Identifier, JsonPath, Seconds

# mem0-pgvector: `auto` counts exactly below AUTO_ESTIMATE_ROWS (the planner's rows), in
# estimate mode from there on: the exact pass grows with the table, the estimate does not.
PgvectorCountMode = Literal["exact", "estimate", "auto"]
AUTO_ESTIMATE_ROWS = 1_000_000


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
    """How a PostgreSQL store connects; a `sql` store's postgres_source() is one too."""

    dsn: str | None = Field(
        None, description="libpq DSN or URL; `env:VAR` reads it from the environment."
    )
    dsn_file: Path | None = Field(None, description="A file holding the DSN.")
    password: str | None = Field(None, description="`env:VAR` (or inline, not advised).")
    password_file: Path | None = Field(None, description="A file holding the password.")
    connect_timeout: Annotated[Seconds, Field(gt=0, le=60)] = 3.0

    @model_validator(mode="after")
    def _one_dsn(self) -> PostgresSource:
        exactly_one(self, "dsn", "dsn_file")
        check_inline_dsn(self.dsn)
        at_most_one(self, "password", "password_file")
        return self


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
            "sqlite", "memwatch.backends.sqlite:OpenclawMemBackend",
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
            "sqlite", "memwatch.backends.openclaw_core:OpenclawMemoryCoreBackend",
            features(Feature.COUNT, Feature.NAMESPACES, Feature.SIZE, Feature.FRESHNESS,
                     Feature.MARKDOWN, Feature.MODELS, Feature.WITHOUT_EMBEDDING,
                     Feature.DIMENSIONS, Feature.DIMENSION))


class Mem0HistoryStore(StoreBase, SqliteSource):
    """mem0's history.db: ADD/UPDATE/DELETE events."""

    preset: Literal["mem0-history"]

    def capabilities(self) -> Capabilities:
        return Capabilities(
            "sqlite", "memwatch.backends.sqlite:Mem0HistoryBackend",
            features(Feature.COUNT, Feature.SIZE, Feature.FRESHNESS, Feature.HISTORY))


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
            "postgresql", "memwatch.backends.mem0_pgvector:Mem0PgvectorBackend",
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
    # PostgresSource's fields, optional here (backend sqlite has none) and published without
    # its descriptions: the JSON Schema is a contract, so they are declared again.
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
            if self.password is not None or self.password_file is not None:
                raise ValueError("backend sqlite takes no password or password_file")
            if self.count == "estimate":
                raise ValueError("count: estimate is for postgresql; SQLite counts exactly")
        else:
            if self.path:
                raise ValueError("backend postgresql needs exactly one of dsn or dsn_file")
            exactly_one(self, "dsn", "dsn_file", needs="backend postgresql needs")
            at_most_one(self, "password", "password_file")
            check_inline_dsn(self.dsn)
        if self.count == "estimate" and self.filter:
            raise ValueError("count: estimate counts the whole table and cannot apply filter")
        return self

    def postgres_source(self) -> PostgresSource:
        """The connection a postgresql backend opens, as a mem0-pgvector store gives it."""
        return PostgresSource(
            dsn=self.dsn, dsn_file=self.dsn_file, password=self.password,
            password_file=self.password_file, connect_timeout=self.connect_timeout,
        )

    def capabilities(self) -> Capabilities:
        module, cls = (("sqlite", "SqlSqliteBackend") if self.backend == "sqlite"
                       else ("postgres", "SqlPostgresBackend"))
        return Capabilities(
            self.backend, f"memwatch.backends.{module}:{cls}",
            features(Feature.COUNT, Feature.SIZE,
                     *([Feature.NAMESPACES] if self.namespace else []),
                     *([Feature.FRESHNESS] if self.timestamp else [])))
