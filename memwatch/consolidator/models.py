"""The consolidator API's answers and request bodies: pydantic models that FastAPI both
validates with and publishes in the OpenAPI document."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from memwatch.consolidator.records import AlertRecord, ResponseRun


class WebhookAnswer(BaseModel):
    status: str
    alerts: int
    stored: int
    duplicates: int
    resolved: int


class Problem(BaseModel):
    error: str
    detail: str


class Health(BaseModel):
    status: str
    version: str
    storage: bool


class KnowledgeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=1000)
    limit: int = Field(20, ge=1, le=500)


class KnowledgeEntryModel(BaseModel):
    key: str
    title: str
    category: str
    severity: str
    solution: str
    steps: list[str]
    tags: list[str]
    alertname: str
    store: str
    labels: dict[str, str]
    occurrences: int
    days: int
    mean_duration_seconds: float | None
    first_seen: str
    last_seen: str


class KnowledgeResults(BaseModel):
    query: str
    results: list[KnowledgeEntryModel]


class KnowledgeSummary(BaseModel):
    entries: int
    patterns: int
    min_days: int
    by_category: dict[str, int]
    by_severity: dict[str, int]
    most_frequent: list[KnowledgeEntryModel]


class PatternModel(BaseModel):
    key: str
    alertname: str
    store: str
    labels: dict[str, str]
    occurrences: int
    days: int
    mean_duration_seconds: float | None
    first_seen: str
    last_seen: str
    severities: dict[str, int]


class KnowledgeExport(BaseModel):
    version: int
    generated_at: str
    min_days: int
    entries: list[KnowledgeEntryModel]
    patterns: list[PatternModel]


class TrendDay(BaseModel):
    day: str
    fired: dict[str, int]
    fired_total: int
    alert_seconds: float
    count_min: float | None
    count_max: float | None
    count_mean: float | None
    count_last: float | None
    net_change: float | None
    largest_drop: float | None
    uptime_ratio: float | None
    snapshots: int
    gaps: int


class Trends(BaseModel):
    store: str
    days: list[TrendDay]


class PersistenceHealth(BaseModel):
    ok: bool
    backend: str
    location: str
    journal_mode: str | None = None
    alerts: int
    daily_rows: int
    last_day: str | None
    size_bytes: int


# The records themselves answer, under the names the OpenAPI document gives them (no
# docstring: it would become the schemas' description).
@dataclass(frozen=True)
class AlertModel(AlertRecord):
    resolved_at: str | None = field()  # required in the answer: null while firing


class DailyModel(TrendDay):
    store: str


class ArchivedSeriesModel(BaseModel):
    """The aggregate of the pruned occurrences of one alert series."""

    alertname: str
    store: str
    labels: dict[str, str]
    occurrences: int
    days: list[str]
    resolved: int
    duration_us: int
    first_seen: str | None
    last_seen: str | None
    severities: dict[str, int]


class PersistenceExport(BaseModel):
    version: int
    generated_at: str
    alerts: list[AlertModel]
    daily: list[DailyModel]
    alert_archive: list[ArchivedSeriesModel]


class ResponseRunModel(ResponseRun):
    pass  # the record as it is


class AllTrends(BaseModel):
    """GET /api/trends without `store`: every store's, by name."""

    stores: list[Trends]


class HistoricalCounts(BaseModel):
    """The store's memory count that day, from its snapshots (null without one)."""

    min: float | None
    max: float | None
    mean: float | None
    last: float | None
    net_change: float | None = Field(description="the day's last count minus its first")
    largest_drop: float | None = Field(
        description="the largest fall between consecutive snapshots (>= 0)")
    uptime_ratio: float | None = Field(description="snapshots with memwatch_up 1, a share")
    snapshots: int
    gaps: int = Field(description="snapshots Prometheus could not answer")


class HistoricalAlerts(BaseModel):
    fired: dict[str, int] = Field(description="occurrences that started that day, by severity")
    fired_total: int
    seconds_in_alert: float = Field(
        description="time with at least one alert firing on the store (overlaps once)")
    alertnames: list[str] = Field(description="the alerts that started that day")


class HistoricalDay(BaseModel):
    day: str = Field(description="YYYY-MM-DD, UTC")
    partial: bool = Field(
        description="not consolidated yet (today, or yesterday before the consolidation "
                    "hour): counted up to generated_at from the recent alerts")
    counts: HistoricalCounts
    alerts: HistoricalAlerts


class HistoricalStore(BaseModel):
    store: str
    days: list[HistoricalDay] = Field(description="oldest first; days without data left out")


class Historical(BaseModel):
    """GET /api/persistence/historical: per store and day, memory counts and alerts (the
    route of the orchestrator API the consolidator replaces)."""

    generated_at: str
    days: int
    first_day: str
    last_day: str
    last_consolidated_day: str | None
    stores: list[HistoricalStore]
