"""Grafana dashboards (overview, RAM pressure) and the provisioning files that load them.

The panels are described with our own model (grafana.py); every query uses the metric
contract's names or the recording rules'. The overview: the alerts firing now, the stores
side by side, a row per kind of store with the panels its preset can fill
(dashboard_stores.py), the PostgreSQL server when the spec names its postgres_exporter job,
the exporter. Every dashboard links the runbooks and the consolidator and marks firing
alerts on its graphs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from memwatch.catalogue import Severity
from memwatch.generators.dashboard_rows import (
    alerts_annotation,
    alerts_row,
    exporter_row,
    links,
    postgres_row,
    summary_row,
)
from memwatch.generators.dashboard_stores import (
    STORE_VARIABLE,
    q,
    runbooks,
    sample_variables,
    store_rows,
)
from memwatch.generators.grafana import (
    DATASOURCE_TYPE,
    Dashboard,
    Panel,
    Query,
    QueryVariable,
    Row,
    Step,
    annotation_targets,
    dashboard_json,
    targets,
)
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, go_duration, json_file, yaml_file
from memwatch.spec import Spec
from memwatch.spec.monitoring import RamTier

# Where the compose stack (and any Grafana) mounts the rendered dashboards/ folder.
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/memwatch"
RAM_ALERTS = ("HostMemoryUsageHigh", "HostMemoryExhaustionPredicted",
              "ProcessMemoryUsageHigh", "ProcessMemoryExhaustionPredicted")

_SEVERITY_COLOR: dict[Severity, str] = {"info": "yellow", "warning": "orange",
                                        "critical": "red"}

__all__ = ["DASHBOARDS_PATH", "annotation_queries", "concrete", "dashboards",
           "during_incidents_only", "overview", "panel_queries", "ram", "render",
           "sample_variables"]


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def overview(model: Model, ctx: Context) -> Dashboard:
    spec = model.spec
    d = spec.dashboards
    rows, group_vars = store_rows(model)
    pg = postgres_row(spec)
    return Dashboard(
        uid=f"{d.uid_prefix}-overview", title=f"{d.title_prefix} overview",
        description=ctx.header, datasource_default=d.datasource, tags=("memwatch",),
        refresh=d.refresh, time_from=d.time_from,
        variables=(QueryVariable(STORE_VARIABLE, "Store",
                                 f"label_values(memwatch_up, {STORE_VARIABLE})"),
                   *group_vars),
        rows=(alerts_row(spec), summary_row(model), *rows, *((pg,) if pg else ()),
              exporter_row(model)),
        links=links(spec), annotations=(alerts_annotation(spec, 'store=~"$store"', ("store",)),))


def _tier_steps(tiers: tuple[RamTier, ...]) -> tuple[Step, ...]:
    steps = [Step("green")]
    for t in tiers:
        color = _SEVERITY_COLOR[t.severity]
        if steps[-1].color in (color, f"dark-{color}"):  # two tiers alike: the higher darker
            color = f"dark-{color}"
        steps.append(Step(color, t.ratio))
    return tuple(steps)


def ram(spec: Spec, ctx: Context) -> Dashboard | None:
    """Host and process RAM against the alert tiers; None when the spec watches neither."""
    r, d = spec.alerts.ram, spec.dashboards
    tiers = _tier_steps(r.tiers)
    rows: list[Row] = []
    if r.host:
        job = f"job={q(r.node_job)}"
        used = (f"1 - node_memory_MemAvailable_bytes{{{job}}} / "
                f"node_memory_MemTotal_bytes{{{job}}}")
        window, horizon = go_duration(r.predict_window), go_duration(r.predict_horizon)
        rows.append(Row("Host", panels=(
            Panel("timeseries", "Host RAM used", (Query(used, "{{instance}}"),),
                  unit="percentunit", min=0, max=1, steps=tiers, threshold_lines=True,
                  width=12, height=8,
                  links=runbooks(spec, "HostMemoryUsageHigh"),
                  description="1 - MemAvailable / MemTotal; the lines are the alert tiers."),
            Panel("stat", "Host RAM used now", (Query(used, "{{instance}}"),),
                  unit="percentunit", min=0, max=1, steps=tiers, width=4, height=8),
            Panel("timeseries", f"Available RAM and its forecast in {horizon}",
                  (Query(f"node_memory_MemAvailable_bytes{{{job}}}", "{{instance}} now"),
                   Query(f"predict_linear(node_memory_MemAvailable_bytes{{{job}}}[{window}], "
                         f"{_num(r.predict_horizon)})", f"{{{{instance}}}} in {horizon}")),
                  unit="bytes", steps=(Step("green"), Step("red", 0)), threshold_lines=True,
                  width=8, height=8, links=runbooks(spec, "HostMemoryExhaustionPredicted"),
                  description=f"Linear forecast from the last {window}: below the red line "
                              "RAM runs out (HostMemoryExhaustionPredicted)."),
        )))
    if r.processes:
        used_of_limit = tuple(
            Query(f"process_resident_memory_bytes{{job={q(p.job)}}} / {p.limit_bytes}",
                  f"{p.name} {{{{instance}}}}") for p in r.processes)
        rows.append(Row("Processes", panels=(
            Panel("timeseries", "Process RAM used of its limit", used_of_limit,
                  unit="percentunit", min=0, steps=tiers, threshold_lines=True, width=16,
                  height=8, links=runbooks(spec, "ProcessMemoryUsageHigh",
                                         "ProcessMemoryExhaustionPredicted"),
                  description="Resident memory over the spec's limit_bytes."),
            Panel("stat", "Process RAM used now", used_of_limit, unit="percentunit", min=0,
                  steps=tiers, width=8, height=8),
        )))
    if not rows:
        return None
    return Dashboard(
        uid=f"{d.uid_prefix}-ram", title=f"{d.title_prefix} RAM pressure",
        description=ctx.header, datasource_default=d.datasource, tags=("memwatch",),
        refresh=d.refresh, time_from=d.time_from, rows=tuple(rows), links=links(spec),
        annotations=(alerts_annotation(spec, f"alertname=~{q('|'.join(RAM_ALERTS))}",
                                       ("instance", "process")),))


def dashboards(model: Model, ctx: Context) -> list[Dashboard]:
    return [d for d in (overview(model, ctx), ram(model.spec, ctx)) if d is not None]


def _provisioning(spec: Spec, ctx: Context) -> Files:
    d = spec.dashboards
    datasource = {
        "name": d.datasource, "uid": f"{d.uid_prefix}-prometheus", "type": DATASOURCE_TYPE,
        "access": "proxy", "url": d.prometheus_url, "editable": False,
        # timeInterval = the scrape interval, so $__rate_interval covers enough samples
        "jsonData": {"httpMethod": "POST",
                     "timeInterval": go_duration(spec.prometheus.scrape_interval)},
    }
    provider = {
        "name": d.uid_prefix, "orgId": 1, "folder": d.title_prefix, "folderUid": d.uid_prefix,
        "type": "file", "disableDeletion": True, "allowUiUpdates": False,
        "updateIntervalSeconds": 30, "options": {"path": DASHBOARDS_PATH},
    }
    return {
        "grafana/provisioning/datasources/memwatch.yml":
            yaml_file({"apiVersion": 1, "datasources": [datasource]}, ctx),
        "grafana/provisioning/dashboards/memwatch.yml":
            yaml_file({"apiVersion": 1, "providers": [provider]}, ctx),
    }


def render(model: Model, ctx: Context) -> Files:
    files: Files = {f"dashboards/{d.uid}.json": json_file(dashboard_json(d))
                    for d in dashboards(model, ctx)}
    files.update(_provisioning(model.spec, ctx))
    return files


# --- for tests and the end-to-end check ----------------------------------------------

# Grafana's built-in interval variables, with values a Prometheus at a 30s scrape accepts.
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def _distinct(files: Mapping[str, str], read: Callable[[dict[str, Any]], list[str]]
              ) -> list[str]:
    out: dict[str, None] = {}
    for rel in sorted(files):
        if rel.startswith("dashboards/") and rel.endswith(".json"):
            out.update(dict.fromkeys(read(json.loads(files[rel]))))
    return list(out)


def panel_queries(files: Mapping[str, str]) -> list[str]:
    """Every distinct panel query of the rendered dashboards, in file and panel order."""
    return _distinct(files, targets)


def annotation_queries(files: Mapping[str, str]) -> list[str]:
    """Every distinct annotation query of the rendered dashboards."""
    return _distinct(files, annotation_targets)


def during_incidents_only(expr: str) -> bool:
    """A query of series that exist only while an alert is active (ALERTS): it answers
    with data during an incident, and with none while all is well."""
    return re.search(r"\bALERTS\b", expr) is not None


def concrete(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with $var / ${var} replaced: `variables` first, then Grafana's built-ins.

    An unknown variable raises KeyError, so a query never reaches Prometheus half-filled.
    """
    values = {**BUILTIN_VARIABLES, **variables}
    return _VAR.sub(lambda m: values[m.group(1) or m.group(2)], expr)
