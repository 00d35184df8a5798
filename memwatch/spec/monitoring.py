"""The spec's monitoring sections: alerts, recording, routing, dashboards, prometheus.

Every section has defaults good enough that a spec listing only stores renders a complete
monitoring setup.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Field, model_validator

from memwatch.catalogue import ALERT_NAMES, BY_NAME, Severity, check_threshold
from memwatch.spec.base import Model, repeated
from memwatch.spec.types import LabelName, Seconds


def _known_alert(name: str) -> str:
    if name not in ALERT_NAMES:
        raise ValueError(f"unknown alert {name!r}; known: {', '.join(ALERT_NAMES)}")
    return name


AlertName = Annotated[str, AfterValidator(_known_alert)]
Ratio = Annotated[float, Field(gt=0, lt=1)]
# A key that is a Python keyword (for, from, continue) is also accepted as its field's name
# (for_, from_, continue_) in these sections, as it always was.
BY_NAME_TOO = ConfigDict(populate_by_name=True)


class Runbook(Model):
    """Knowledge for an alert: linked from the alert, used by the consolidator's KB."""

    title: str | None = None
    category: str | None = None
    solution: str | None = None
    steps: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()


class AlertOverride(Model):
    model_config = BY_NAME_TOO

    enabled: bool | None = Field(
        None, description="Turn the alert off (or on, for those off by default); the "
                          "store's setting wins over the alerts section's.")
    severity: Severity | None = None
    for_: Annotated[Seconds, Field(ge=0, le=86400)] | None = Field(None, alias="for")
    threshold: float | None = Field(None, description="Alert-specific: a ratio, seconds, "
                                                      "or a count (see docs/operations.md).")
    window: Annotated[Seconds, Field(gt=0, le=7 * 86400)] | None = None
    min_count: float | None = Field(
        None, ge=0, description="Alert-specific: the least the measured thing must hold "
                                "before the alert arms (see docs/operations.md).")
    runbook: Runbook | None = None


class RamTier(Model):
    ratio: Ratio
    severity: Severity


DEFAULT_TIERS = (RamTier(ratio=0.70, severity="info"), RamTier(ratio=0.80, severity="warning"),
                 RamTier(ratio=0.90, severity="critical"),
                 RamTier(ratio=0.95, severity="critical"))


class ProcessRam(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    job: str = Field(description="The Prometheus job scraping the process's "
                                 "process_resident_memory_bytes.")
    limit_bytes: int = Field(gt=0, description="The memory limit usage is measured against.")


class RamSection(Model):
    host: bool = Field(True, description="Host RAM alerts from node_exporter's metrics.")
    node_job: str = "node"
    tiers: tuple[RamTier, ...] = DEFAULT_TIERS
    predict_horizon: Annotated[Seconds, Field(gt=0, le=86400)] = 900.0
    predict_window: Annotated[Seconds, Field(gt=0, le=86400)] = 1800.0
    processes: tuple[ProcessRam, ...] = ()

    @model_validator(mode="after")
    def _sorted_unique(self) -> RamSection:
        ratios = [t.ratio for t in self.tiers]
        if ratios != sorted(set(ratios)):
            raise ValueError("tiers: ratios must be unique and ascending")
        return self


def check_overrides(rules: dict[str, AlertOverride], prefix: str) -> None:
    """Thresholds in range for each alert (the override alone cannot know its alert)."""
    for name, ov in rules.items():
        if ov.min_count is not None and BY_NAME[name].min_count is None:
            raise ValueError(f"{prefix}.{name}.min_count: {name} takes no min_count")
        if ov.threshold is not None:
            try:
                check_threshold(name, ov.threshold)
            except ValueError as exc:
                raise ValueError(f"{prefix}.{name}.threshold: {exc}") from None


# Where gen-monitoring renders the runbooks inside --out (generators/runbooks.py), and so the
# runbook_url of every alert until the spec names the URL that file is served at.
DEFAULT_RUNBOOK_URL = "runbooks/memwatch.md"


class AlertsSection(Model):
    runbook_url: str = Field(
        DEFAULT_RUNBOOK_URL,
        description="Base of every alert's runbook_url; `#<alert name in lower case>` is "
                    "appended. Default: runbooks/memwatch.md, the runbooks gen-monitoring "
                    "renders into --out; set it to the URL that file is served at (render "
                    "warns while it is unset).")
    rules: dict[AlertName, AlertOverride] = Field(default_factory=dict)
    ram: RamSection = RamSection()
    extra_labels: dict[LabelName, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _thresholds(self) -> AlertsSection:
        check_overrides(self.rules, "rules")
        return self


class RecordingSection(Model):
    drop_windows: tuple[Annotated[Seconds, Field(gt=0, le=7 * 86400)], ...] = (600.0, 3600.0)
    mem0_compat: bool = Field(False, description="Also record mem0_memory_total, "
                                                 "mem0_memory_count, mem0_memory_drop_percentage"
                                                 " and mem0_database_up.")


# --- routing --------------------------------------------------------------------------

class SlackReceiver(Model):
    api_url_file: Path
    channel: str | None = None
    send_resolved: bool = True


class EmailReceiver(Model):
    model_config = BY_NAME_TOO

    to: str
    from_: str = Field(alias="from")
    smarthost: str = Field(pattern=r"^.+:\d+$")
    auth_username: str | None = None
    auth_password_file: Path | None = None
    require_tls: bool = True
    send_resolved: bool = True


class TelegramReceiver(Model):
    bot_token_file: Path
    chat_id: int
    send_resolved: bool = True


class WebhookReceiver(Model):
    url: str = Field(pattern=r"^https?://", description="Not a secret: an internal URL. "
                                                        "Authenticate with bearer_token_file.")
    bearer_token_file: Path | None = Field(
        None, description="Sent as `Authorization: Bearer <file content>`.")
    send_resolved: bool = True
    max_alerts: int = Field(0, ge=0)


class PagerDutyReceiver(Model):
    routing_key_file: Path
    send_resolved: bool = True


class MSTeamsV2Receiver(Model):
    """Microsoft Teams through a Power Automate workflow (`msteamsv2_configs`, 0.28+)."""

    webhook_url_file: Path
    send_resolved: bool = True


class JiraReceiver(Model):
    """An issue per alert group (`jira_configs`, 0.28+): basic auth with `username` and
    `password_file` (Jira Cloud: the account's email and an API token), or a Data Center
    personal access token in `bearer_token_file`."""

    api_url: str = Field(pattern=r"^https?://")
    project: str = Field(min_length=1)
    issue_type: str = Field(min_length=1)
    username: str | None = None
    password_file: Path | None = None
    bearer_token_file: Path | None = None
    priority: str | None = None
    labels: tuple[str, ...] = ()
    resolve_transition: str | None = None
    reopen_transition: str | None = None
    wont_fix_resolution: str | None = None
    reopen_duration: Annotated[Seconds, Field(gt=0)] | None = None
    send_resolved: bool = True

    @model_validator(mode="after")
    def _one_auth(self) -> JiraReceiver:
        basic = self.username is not None or self.password_file is not None
        if basic == (self.bearer_token_file is not None):
            raise ValueError("give username and password_file, or bearer_token_file")
        if basic and (self.username is None or self.password_file is None):
            raise ValueError("basic auth needs both username and password_file")
        return self


class RocketchatReceiver(Model):
    """Rocket.Chat (`rocketchat_configs`, 0.28+): a user's token and its id, from files."""

    token_id_file: Path
    token_file: Path
    api_url: str | None = Field(None, pattern=r"^https?://",
                                description="Default: Alertmanager's, open.rocket.chat.")
    channel: str | None = None
    send_resolved: bool = True


class IncidentioReceiver(Model):
    """incident.io's HTTP alert source (`incidentio_configs`, 0.29+)."""

    url: str = Field(pattern=r"^https?://", description="The alert source's URL.")
    alert_source_token_file: Path
    max_alerts: int = Field(0, ge=0)
    send_resolved: bool = True


# The first Alertmanager release that knows a receiver kind (with its *_file secrets); one
# not listed is known to every version memwatch renders for.
RECEIVER_SINCE: dict[str, int] = {"telegram": 26, "msteamsv2": 28, "jira": 28,
                                  "rocketchat": 28, "incidentio": 29}


class Receiver(Model):
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    slack: tuple[SlackReceiver, ...] = ()
    email: tuple[EmailReceiver, ...] = ()
    telegram: tuple[TelegramReceiver, ...] = ()
    webhook: tuple[WebhookReceiver, ...] = ()
    pagerduty: tuple[PagerDutyReceiver, ...] = ()
    msteamsv2: tuple[MSTeamsV2Receiver, ...] = ()
    jira: tuple[JiraReceiver, ...] = ()
    rocketchat: tuple[RocketchatReceiver, ...] = ()
    incidentio: tuple[IncidentioReceiver, ...] = ()


class Route(Model):
    model_config = BY_NAME_TOO

    receiver: str
    match: dict[LabelName, str] = Field(
        default_factory=dict, description="Label equality matchers, e.g. {severity: critical}.")
    continue_: bool = Field(False, alias="continue")
    repeat_interval: Annotated[Seconds, Field(gt=0)] | None = None


def _version(v: str) -> str:
    if not re.fullmatch(r"0\.\d+", v):
        raise ValueError("alertmanager_version is like 0.25")
    return v


CONSOLIDATOR = "consolidator"  # the receiver name of consolidator_url


def _default_repeat() -> dict[Severity, float]:
    return {"critical": 3600.0, "warning": 14400.0, "info": 86400.0}


class RoutingSection(Model):
    alertmanager_version: Annotated[str, AfterValidator(_version)] = Field(
        "0.25", description="Alertmanager the config is rendered for: Telegram needs 0.26; "
                            "msteamsv2, jira and rocketchat 0.28; incidentio 0.29.")
    group_by: tuple[LabelName, ...] = ("store", "alertname")
    group_wait: Annotated[Seconds, Field(ge=0)] = 30.0
    group_interval: Annotated[Seconds, Field(gt=0)] = 300.0
    repeat_interval: dict[Severity, Annotated[Seconds, Field(gt=0)]] = Field(
        default_factory=lambda: _default_repeat(),
        description="The cooldown before a still-firing alert is sent again, by severity.")
    default_receiver: str = "consolidator"
    consolidator_url: str | None = Field(
        "http://127.0.0.1:9188/webhook/alerts", pattern=r"^https?://",
        description="Every alert also goes to the consolidator (null to skip).")
    consolidator_bearer_token_file: Path | None = Field(
        None, description="Authenticate the consolidator webhook with this bearer token file.")
    consolidator_peers: tuple[Annotated[str, Field(pattern=r"^https?://")], ...] = Field(
        (), description="Other consolidators sharing the same storage (several for high "
                        "availability): each gets every alert too, as another webhook of "
                        "the consolidator receiver, with the same bearer token.")
    receivers: tuple[Receiver, ...] = ()
    routes: tuple[Route, ...] = ()

    @model_validator(mode="after")
    def _receivers_defined(self) -> RoutingSection:
        names = [r.name for r in self.receivers]
        if dup := repeated(names):
            raise ValueError(f"receivers: repeated names {dup}")
        if self.consolidator_peers and not self.consolidator_url:
            raise ValueError("consolidator_peers: needs consolidator_url (the first of them)")
        if self.consolidator_url and CONSOLIDATOR in names:
            raise ValueError(f"receivers[{names.index(CONSOLIDATOR)}].name: {CONSOLIDATOR!r} "
                             "is the consolidator_url's receiver (set consolidator_url: null "
                             "to define your own)")
        known = set(names) | ({CONSOLIDATOR} if self.consolidator_url else set())
        used = [("default_receiver", self.default_receiver)] + [
            (f"routes[{i}].receiver", r.receiver) for i, r in enumerate(self.routes)]
        for where, name in used:
            if name not in known:
                raise ValueError(f"{where}: receiver {name!r} is used but not defined "
                                 f"(defined: {sorted(known)})")
        minor = int(self.alertmanager_version[2:])
        for i, r in enumerate(self.receivers):
            for kind, since in RECEIVER_SINCE.items():
                if getattr(r, kind) and minor < since:
                    raise ValueError(
                        f"receivers[{i}].{kind}: needs alertmanager_version 0.{since} or "
                        f"newer (set routing.alertmanager_version; memwatch never inlines "
                        "secrets, and older releases read this one only inline)")
        return self

    def repeat(self, severity: Severity) -> float:
        """The cooldown of a severity; one left out of repeat_interval keeps its default."""
        return self.repeat_interval.get(severity, _default_repeat()[severity])


class DashboardsSection(Model):
    title_prefix: str = "memwatch"
    uid_prefix: Annotated[str, Field(pattern=r"^[a-z0-9-]{1,20}$")] = "memwatch"
    refresh: str = "30s"
    time_from: str = "now-6h"
    datasource: str = Field("Prometheus", description="Default of the datasource variable.")
    prometheus_url: str = Field(
        "http://prometheus:9090", pattern=r"^https?://",
        description="URL of the provisioned Prometheus datasource (the compose stack's "
                    "service by default).")
    top_namespaces: int = Field(
        10, ge=1, le=100, description="Rows of each store's table of its largest namespaces.")
    consolidator_url: str | None = Field(
        None, pattern=r"^https?://",
        description="The consolidator's page as a browser reaches it, linked from every "
                    "dashboard (default: the origin of routing.consolidator_url).")
    postgres_exporter_job: str | None = Field(
        None, min_length=1,
        description="The Prometheus job scraping postgres_exporter: the overview gets a "
                    "PostgreSQL server row (connections, transactions, cache hits, locks).")


class ScrapeTarget(Model):
    job: str = "memwatch"
    targets: tuple[str, ...] = ()
    probe: bool = Field(False, description=(
        "Scrape each store on its own (`/probe?store=NAME`, the Prometheus multi-target "
        "pattern): its own scrape, `up` and timeout; `instance` is the store's name. "
        "Needs exactly one target (the exporter)."))
    stores: tuple[str, ...] = Field((), description=(
        "probe: the stores this job scrapes (default: every store of the spec)."))

    @model_validator(mode="after")
    def _probe(self) -> ScrapeTarget:
        if self.stores and not self.probe:
            raise ValueError("stores: only with probe: true (a /metrics job scrapes every "
                             "store the exporter serves)")
        if self.probe and len(self.targets) > 1:
            raise ValueError("probe: true needs one target, the exporter (a job each "
                             "for several exporters)")
        return self


class PrometheusSection(Model):
    scrape_interval: Annotated[Seconds, Field(gt=0)] = 30.0
    evaluation_interval: Annotated[Seconds, Field(gt=0)] = 30.0
    scrape_timeout: Annotated[Seconds, Field(gt=0)] | None = None
    exporters: tuple[ScrapeTarget, ...] = ()
    alertmanagers: tuple[str, ...] = ("127.0.0.1:9093",)
    node_exporter_targets: tuple[str, ...] = ()
    extra_scrape_configs: tuple[dict[str, Any], ...] = ()
    external_labels: dict[LabelName, str] = Field(
        default_factory=dict, description="Added to every series and alert this Prometheus "
                                          "sends out (remote write, federation, alerts).")
    replica_label: LabelName | None = Field(
        None, description="An HA pair: this external label names the replica, from the "
                          "environment variable replica_env of each server, and is dropped "
                          "from the alerts both send, so Alertmanager sees one alert.")
    replica_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] = \
        "PROMETHEUS_REPLICA"

    @model_validator(mode="after")
    def _valid_for_prometheus(self) -> PrometheusSection:
        if self.scrape_timeout is not None and self.scrape_timeout > self.scrape_interval:
            raise ValueError("scrape_timeout: longer than scrape_interval")
        jobs = [e.job for e in self.exporters]
        for i, extra in enumerate(self.extra_scrape_configs):
            if not isinstance(extra.get("job_name"), str):
                raise ValueError(f"extra_scrape_configs[{i}]: needs a job_name")
            jobs.append(extra["job_name"])
        if dup := repeated(jobs):
            raise ValueError(f"job names must be unique across exporters and "
                             f"extra_scrape_configs, repeated: {dup}")
        return self


# --- kubernetes (gen-monitoring --format kubernetes) ------------------------------------

# A Kubernetes resource quantity as requests and limits take it: 50m, 0.5, 64Mi, 1Gi.
Quantity = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")]
AbsolutePath = Annotated[str, Field(pattern=r"^/")]


class KubernetesResources(Model):
    requests: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)
    limits: dict[Literal["cpu", "memory"], Quantity] = Field(default_factory=dict)


class KubernetesVolume(Model):
    """Where the exporter finds a store's files (SQLite, spool, workspace, backups)."""

    mount_path: AbsolutePath = Field(description="Where the volume is mounted: the store's "
                                                 "`path`, `spool`, `workspace` or glob lie below.")
    source: dict[str, Any] = Field(
        description="A Kubernetes volume source, e.g. {persistentVolumeClaim: {claimName: "
                    "openclaw-memory}} or {hostPath: {path: /home/agent/.openclaw/memory}}.")
    read_only: bool = Field(True, description="Mount it read-only (a WAL-mode SQLite file "
                                              "then needs its -shm file present).")

    @model_validator(mode="after")
    def _one_source(self) -> KubernetesVolume:
        if len(self.source) != 1 or "name" in self.source:
            raise ValueError("source: one volume source, as {persistentVolumeClaim: {...}}")
        return self


class KubernetesExporter(Model):
    resources: KubernetesResources = Field(default_factory=lambda: KubernetesResources(
        requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}))
    volumes: tuple[KubernetesVolume, ...] = ()


class KubernetesConsolidator(Model):
    replicas: int = Field(1, ge=1, le=20, description="More than 1 only with "
                                                      "consolidator.storage on PostgreSQL or "
                                                      "MongoDB (SQLite: one writer).")
    resources: KubernetesResources = Field(default_factory=lambda: KubernetesResources(
        requests={"cpu": "100m", "memory": "128Mi"}, limits={"cpu": "1", "memory": "512Mi"}))
    storage_size: Quantity = Field("1Gi", description="The SQLite PersistentVolumeClaim's size.")
    storage_class: str | None = Field(None, description="Its storageClassName (default: the "
                                                        "cluster's default class).")


class KubernetesSection(Model):
    """The Deployments `--format kubernetes` renders for memwatch itself."""

    image: str = Field("memwatch:local", min_length=1, description=(
        "The memwatch image (compose/Dockerfile: `docker build -f compose/Dockerfile -t "
        "memwatch:local .`; push it where the cluster pulls from and name it here)."))
    namespace: Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")] | None = \
        Field(None, description="Every object's namespace, and the exporter Service's "
                                "address a ScrapeConfig names (default: none set).")
    exporter: KubernetesExporter = Field(default_factory=KubernetesExporter)
    consolidator: KubernetesConsolidator = Field(default_factory=KubernetesConsolidator)
