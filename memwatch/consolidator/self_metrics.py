"""The consolidator's own /metrics, in a registry of its own (not the exporter's)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from memwatch import __version__

REJECT_REASONS = ("unauthorized", "content_type", "too_large", "malformed_json",
                  "invalid_payload", "storage")


class ConsolidatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.received = Counter(
            "memwatch_consolidator_webhooks_received", "Webhook deliveries received.",
            registry=self.registry)
        self.rejected = Counter(
            "memwatch_consolidator_webhooks_rejected", "Webhook deliveries refused, by reason.",
            ["reason"], registry=self.registry)
        self.stored = Counter(
            "memwatch_consolidator_alerts_stored", "Alert occurrences stored (new).",
            registry=self.registry)
        self.duplicates = Counter(
            "memwatch_consolidator_alerts_duplicate",
            "Alerts received again with nothing new (HA pairs, retries).",
            registry=self.registry)
        self.resolved = Counter(
            "memwatch_consolidator_alerts_resolved", "Resolutions recorded.",
            registry=self.registry)
        self.last_consolidation = Gauge(
            "memwatch_consolidator_last_consolidation_timestamp_seconds",
            "When the daily consolidation last wrote rows (0: never).", registry=self.registry)
        self.consolidation_errors = Counter(
            "memwatch_consolidator_consolidation_errors",
            "Daily consolidation runs that failed (retried a minute later).",
            registry=self.registry)
        self.snapshot_failures = Counter(
            "memwatch_consolidator_snapshot_failures",
            "Snapshots that recorded a gap (Prometheus unreachable or failing) or could not "
            "be stored.", registry=self.registry)
        self.responses = Counter(
            "memwatch_consolidator_responses", "Automated responses, by response and outcome "
            "(ok, failed, timeout, cooldown, capped).", ["response", "outcome"],
            registry=self.registry)
        self.reload_successful = Gauge(
            "memwatch_consolidator_config_last_reload_successful",
            "1 if the last reload of the spec (SIGHUP) succeeded or none was tried, 0 if it "
            "failed and the previous settings are running.", registry=self.registry)
        self.reload_successful.set(1)
        self.reload_success_time = Gauge(
            "memwatch_consolidator_config_last_reload_success_timestamp_seconds",
            "Unix time the running settings were loaded (at start or by a reload).",
            registry=self.registry)
        Gauge("memwatch_consolidator_build_info", "Always 1.", ["version"],
              registry=self.registry).labels(__version__).set(1)
        for reason in REJECT_REASONS:  # every reason visible from the start, at 0
            self.rejected.labels(reason)
