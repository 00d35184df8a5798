"""The spec's `consolidator:` section: where the sidecar listens, stores and how it learns."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from memwatch.catalogue import Severity
from memwatch.spec.base import Model, exactly_one, repeated
from memwatch.spec.types import LabelName, ListenAddress, Seconds


class ConsolidatorStorage(Model):
    """Embedded SQLite by default; PostgreSQL or MongoDB when several consolidators share."""

    backend: Literal["sqlite", "postgresql", "mongodb"] = "sqlite"
    path: str = Field("./memwatch-consolidator.sqlite",
                      description="The SQLite file (backend sqlite), opened in WAL mode.")
    dsn: str | None = Field(None, description="PostgreSQL DSN or MongoDB URI; `env:VAR` reads "
                                              "it from the environment.")
    dsn_file: Path | None = Field(None, description="A file holding the DSN or URI.")
    database: str | None = Field(
        None, pattern=r"^[^/\\. \"$]{1,63}$",
        description="MongoDB database (backend mongodb); default: the URI's, else "
                    "memwatch_consolidator.")

    @model_validator(mode="after")
    def _source(self) -> ConsolidatorStorage:
        if self.backend != "mongodb" and self.database is not None:
            raise ValueError("database is for backend mongodb (PostgreSQL: in the dsn)")
        if self.backend == "sqlite":
            if self.dsn is not None or self.dsn_file is not None:
                raise ValueError("backend sqlite takes path, not dsn/dsn_file")
        else:
            exactly_one(self, "dsn", "dsn_file", needs=f"backend {self.backend} needs")
        return self


class ResponseHttp(Model):
    url: str = Field(pattern=r"^https?://", description="Receives the alert as JSON.")
    method: Literal["POST", "PUT"] = "POST"
    bearer_token_file: Path | None = None


class ResponseAction(Model):
    """An automated response: runs for a new firing occurrence of `alertname` at
    `min_severity` or above (only the highest matching tier of an alert name runs)."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    alertname: str = Field(min_length=1)
    min_severity: Severity = "warning"
    stores: tuple[str, ...] = Field((), description="Only these stores (default: all).")
    command: tuple[str, ...] = Field(
        (), description="argv run without a shell; the alert JSON arrives on stdin.")
    http: ResponseHttp | None = None
    timeout: Annotated[Seconds, Field(gt=0, le=600)] = 30.0
    cooldown: Annotated[Seconds, Field(ge=0, le=7 * 86400)] = Field(
        900.0, description="Per store: no second run within this time.")
    max_per_hour: int = Field(4, ge=1, le=3600)

    @model_validator(mode="after")
    def _one_action(self) -> ResponseAction:
        exactly_one(self, "command", "http")
        return self


class ConsolidatorSection(Model):
    listen: ListenAddress = Field("127.0.0.1:9188",
                                  description="HOST:PORT of the webhook and REST API.")
    storage: ConsolidatorStorage = ConsolidatorStorage()
    bearer_token_file: Path | None = Field(
        None, description="When set, the write endpoints require `Authorization: Bearer "
                          "<the file's content>`.")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024,
                                description="Request bodies over this size are refused (413).")
    retention_days: int = Field(90, ge=1, le=36500,
                                description="Snapshots and resolved raw alerts are kept this long "
                                            "(once their days are consolidated; pruned "
                                            "alerts live on in the knowledge base's archive).")
    snapshot_interval: Annotated[Seconds, Field(ge=60, le=86400)] = Field(
        3600.0, description="How often the Prometheus HTTP API is asked for a snapshot.")
    prometheus_url: str | None = Field(
        "http://127.0.0.1:9090", pattern=r"^https?://",
        description="The Prometheus the snapshots come from (null: no snapshots).")
    consolidation_hour_utc: int = Field(1, ge=0, le=23,
                                        description="The UTC hour of the daily consolidation.")
    pattern_min_days: int = Field(3, ge=1, le=366, description="A pattern seen on this many "
                                  "distinct days becomes a knowledge-base entry.")
    reports_dir: Path | None = Field(
        None, description="Write each consolidated day's Markdown report here as "
                          "<YYYY-MM-DD>.md (always served at /api/reports/<day>).")
    responses_enabled: bool = Field(
        False, description="Automated responses run only when this is true.")
    responses: tuple[ResponseAction, ...] = ()
    pattern_labels: tuple[LabelName, ...] = Field(
        (), description="Labels grouped on besides alertname and store.")

    @model_validator(mode="after")
    def _unique_responses(self) -> ConsolidatorSection:
        if dup := repeated(r.name for r in self.responses):
            raise ValueError(f"responses: names must be unique, repeated: {dup}")
        return self
