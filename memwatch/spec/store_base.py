"""What every store has: its name, timeouts, integrity pass, file checks, alert overrides;
and the `files` preset, which has nothing else."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from memwatch.capabilities import Capabilities, features
from memwatch.spec.base import Model, repeated
from memwatch.spec.monitoring import AlertName, AlertOverride, check_overrides
from memwatch.spec.types import LabelValue, Seconds, StoreName, Timeout

CountMode = Literal["exact", "estimate"]


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
        if dup := repeated(f.name for f in self.files):
            raise ValueError(f"files: check names must be unique, repeated: {dup}")
        check_overrides(self.alerts, "alerts")
        return self

    def capabilities(self) -> Capabilities:
        """The preset's backend, collector class and exported features."""
        raise NotImplementedError(type(self).__name__)


class HistoryLinked(Model):
    """A mem0 vector store whose history.db is watched too (a mem0-history store)."""

    history_store: StoreName | None = Field(
        None, description="A mem0-history store whose events this store's count must match "
                          "(MemoryLossUnexplained, MemoryWritesNotStored, "
                          "MemoryHistoryMismatch).")


class FilesStore(StoreBase):
    """Only file checks: a backup folder, a spool."""

    preset: Literal["files"]

    @model_validator(mode="after")
    def _has_files(self) -> FilesStore:
        if not self.files:
            raise ValueError("preset files needs at least one entry under files")
        return self

    def capabilities(self) -> Capabilities:
        return Capabilities("files", "memwatch.backends.files:FilesBackend", features())
