"""The overview's rows around the stores (firing alerts, the stores side by side, the
PostgreSQL server, the exporter) and what every dashboard carries: links to the runbooks
and the consolidator, alert annotations."""

from __future__ import annotations

from urllib.parse import urlsplit

from memwatch import metrics
from memwatch.capabilities import Feature
from memwatch.catalogue import ALERT_NAMES
from memwatch.generators.dashboard_stores import (
    INGESTION_LAG,
    SIZE_GROWTH,
    UP_DOWN,
    fill_line,
    q,
    re_literal,
    runbook_base,
    runbooks,
)
from memwatch.generators.grafana import Annotation, Column, Link, Panel, Query, Row, Step, ValueText
from memwatch.generators.model import Model
from memwatch.generators.output import go_duration
from memwatch.integrity import INTEGRITY_FEATURES
from memwatch.spec import Spec

# Prometheus's own series of the alerts its rules hold: it exists only while one is active
FIRING = 'ALERTS{alertstate="firing"}'
RUNBOOK_LABEL = "runbook"  # the firing-alerts table's copy of alertname, shown as a link
_SEVERITIES = (ValueText("critical", "critical", "red"), ValueText("warning", "warning", "orange"),
               ValueText("info", "info", "yellow"))
_ANY = 'store=~"$store"'


def consolidator_page(spec: Spec) -> str | None:
    """The consolidator's page: dashboards.consolidator_url, else the webhook's origin."""
    if spec.dashboards.consolidator_url:
        return spec.dashboards.consolidator_url
    if not spec.routing.consolidator_url:
        return None
    url = urlsplit(spec.routing.consolidator_url)
    host = url.netloc.rpartition("@")[2]  # never a user or password into a dashboard
    return f"{url.scheme}://{host}/"


def links(spec: Spec) -> tuple[Link, ...]:
    """The top bar of every dashboard: the runbooks, the consolidator, the other boards."""
    page, base = consolidator_page(spec), runbook_base(spec)
    return (
        *((Link("Runbooks", base, "What each alert means and what to do", icon="doc"),)
          if base else ()),
        *((Link("Consolidator", page, "Alert history, daily trends per store and the "
                 "knowledge base of recurring alerts", icon="info"),) if page else ()),
        Link("memwatch dashboards", tooltip="The other memwatch dashboards",
             icon="dashboard", tags=("memwatch",)),
    )


def alerts_annotation(spec: Spec, selector: str, about: tuple[str, ...]) -> Annotation:
    """A marker on every graph while an alert matching `selector` fires, its text the
    severity and the labels `about` (store, instance...)."""
    return Annotation("Firing alerts", f'ALERTS{{alertstate="firing", {selector}}}',
                      "{{alertname}}", "{{severity}}: " + " ".join(f"{{{{{a}}}}}" for a in about),
                      ("severity", *about),
                      step=go_duration(spec.prometheus.evaluation_interval))


def alerts_row(spec: Spec) -> Row:
    """Every alert firing now, each with a link to its runbook."""
    expr = f'label_join({FIRING}, "{RUNBOOK_LABEL}", "", "alertname")'
    # the runbook's anchor is the alert's name in lower case: Grafana cannot lower a
    # value, a value mapping can (${__value.text} is the mapped text)
    anchors = tuple(ValueText(a, a.lower(), "") for a in ALERT_NAMES)
    base = runbook_base(spec)
    columns = (Column("alertname", "Alert"), Column("severity", "Severity", mappings=_SEVERITIES),
               Column("store", "Store"), Column("component", "Component"),
               Column("instance", "Instance"), Column("process", "Process"),
               Column("check", "Check"),
               *((Column(RUNBOOK_LABEL, "Runbook", mappings=anchors,
                         link=Link("Runbook", f"{base}#${{__value.text}}")),) if base else ()))
    return Row("Alerts", (Panel(
        "table", "Firing alerts", (Query(expr, table=True),), columns=columns, width=24,
        height=7, no_value="No alert is firing",
        description="Every alert Prometheus fires now (ALERTS)" + (
            "; the runbook column links each alert's runbook." if base else
            ". Set alerts.runbook_url to a web address for a link to each one's runbook.")),))


def summary_row(model: Model) -> Row:
    """The selected stores side by side."""
    spec = model.spec
    have = set().union(*(s.served for s in model.stores))
    panels = [
        Panel("stat", "Database status", (Query(f"{metrics.UP.name}{{{_ANY}}}", "{{store}}"),),
              mappings=UP_DOWN, steps=(Step("red"), Step("green", 1)), width=6,
              description="Every selected store: UP when its last collection succeeded."),
        Panel("timeseries", "Memories by store",
              (Query(f"{metrics.STORE_MEMORIES.name}{{{_ANY}}}", "{{store}}"),), min=0, width=6,
              description="Memory records per store."),
    ]
    if Feature.FRESHNESS in have:
        panels.append(Panel(
            "timeseries", "Ingestion lag", (Query(f"{INGESTION_LAG}{{{_ANY}}}", "{{store}}"),),
            unit="s", min=0, width=6, links=runbooks(spec, "MemoryIngestionStalled"),
            description=f"Time since each store's newest memory ({INGESTION_LAG})."))
    if Feature.SIZE in have:
        panels.append(Panel(
            "timeseries", "Size growth in 1h",
            (Query(f"{SIZE_GROWTH}{{{_ANY}}}", "{{store}}"),), unit="percentunit", width=6,
            links=runbooks(spec, "MemoryStoreGrowingAbnormally"),
            description=f"Each store's size against an hour ago ({SIZE_GROWTH}); "
                        "MemoryStoreGrowingAbnormally fires on a sustained jump."))
    return Row("Stores", tuple(fill_line(panels)))


def exporter_row(model: Model) -> Row:
    spec = model.spec
    jobs = "|".join(re_literal(e.job) for e in sorted(model.exporter_jobs, key=lambda e: e.job))
    errors = (f"sum by (store, reason) (rate({metrics.ERRORS.series_name}{{{_ANY}}}"
              f"[$__rate_interval]))")
    panels = [
        Panel("stat", "Exporter targets", (Query(f"up{{job=~{q(jobs)}}}",
                                                 "{{job}} {{instance}}"),),
              mappings=UP_DOWN, steps=(Step("red"), Step("green", 1)), width=6,
              links=runbooks(spec, "MemwatchExporterDown"),
              description="Prometheus's view of the exporter processes."),
        Panel("timeseries", "Collection errors", (Query(errors, "{{store}} {{reason}}"),),
              unit="cps", min=0, width=9, links=runbooks(spec, "MemwatchCollectionsFailing"),
              description="Failed collections per second by reason (timeout, connect, "
                          "query...)."),
        Panel("timeseries", "Collection duration",
              (Query(f"{metrics.DURATION.name}{{{_ANY}}}", "{{store}}"),), unit="s",
              min=0, width=9, description="How long the last collection took, per store."),
    ]
    if any(s.served & INTEGRITY_FEATURES for s in model.stores):
        panels.append(Panel(
            "timeseries", "Integrity pass age",
            (Query(f"time() - {metrics.INTEGRITY_LAST_SUCCESS.name}{{{_ANY}}}", "{{store}}"),),
            unit="s", min=0, width=6,
            description="Since each store's last successful integrity pass: embeddings, "
                        "duplicates, models and dimensions are as old as this."))
    return Row("Exporter", tuple(fill_line(panels)))


def postgres_row(spec: Spec) -> Row | None:
    """The PostgreSQL server itself, from postgres_exporter (dashboards.postgres_exporter_job)."""
    job = spec.dashboards.postgres_exporter_job
    if job is None:
        return None
    j = f"job={q(job)}"

    def rate(metric: str) -> str:
        return f"sum by (instance) (rate({metric}{{{j}}}[$__rate_interval]))"

    hits, reads = rate("pg_stat_database_blks_hit"), rate("pg_stat_database_blks_read")
    first = [
        Panel("stat", "PostgreSQL", (Query(f"pg_up{{{j}}}", "{{instance}}"),), mappings=UP_DOWN,
              steps=(Step("red"), Step("green", 1)), width=4,
              description="postgres_exporter's connection to the server."),
        Panel("timeseries", "Connections used",
              (Query(f"sum by (instance) (pg_stat_database_numbackends{{{j}}}) / max by "
                     f"(instance) (pg_settings_max_connections{{{j}}})", "{{instance}}"),),
              unit="percentunit", min=0, max=1, width=6, threshold_lines=True,
              steps=(Step("green"), Step("orange", 0.8), Step("red", 0.9)),
              description="Backends against max_connections: a full server refuses the "
                          "exporter and the agents alike."),
        Panel("timeseries", "Transactions", (
            Query(rate("pg_stat_database_xact_commit"), "{{instance}} commits"),
            Query(rate("pg_stat_database_xact_rollback"), "{{instance}} rollbacks")),
            unit="ops", min=0, width=7, description="Commits and rollbacks per second."),
        Panel("timeseries", "Cache hit ratio",
              (Query(f"{hits} / ({hits} + {reads} > 0)", "{{instance}}"),),
              unit="percentunit", min=0, max=1, width=7,
              description="Blocks found in shared buffers against all blocks read."),
    ]
    second = [
        Panel("timeseries", "Longest transaction",
              (Query(f"max by (instance) (pg_stat_activity_max_tx_duration{{{j}}})",
                     "{{instance}}"),), unit="s", min=0, width=6,
              description="The oldest open transaction: it holds back vacuum and the "
                          "planner's statistics that estimate mode reads."),
        Panel("timeseries", "Locks", (Query(f"sum by (instance, mode) (pg_locks_count{{{j}}})",
                                            "{{instance}} {{mode}}"),), min=0, width=6,
              description="Locks held, by mode."),
        Panel("timeseries", "Temporary files written",
              (Query(rate("pg_stat_database_temp_bytes"), "{{instance}}"),), unit="Bps",
              min=0, width=6, description="Queries spilling to disk (a count should not)."),
        Panel("timeseries", "Database size",
              (Query(f'pg_database_size_bytes{{{j}, datname!~"template[01]"}}',
                     "{{instance}} {{datname}}"),), unit="bytes", min=0, width=6,
              description="Bytes per database."),
    ]
    return Row(f"PostgreSQL server ({job})", (*fill_line(first), *fill_line(second)))
