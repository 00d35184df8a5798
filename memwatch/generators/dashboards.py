"""Grafana dashboards (overview, RAM pressure) and the provisioning files that load them.

The panels are described with our own model (grafana.py); every query uses the metric
contract's names, and stores are selected through the `store` variable so one dashboard
serves any number of stores.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from memwatch import metrics as M
from memwatch.catalogue import BY_NAME, Severity
from memwatch.generators.grafana import (
    DATASOURCE_TYPE,
    Dashboard,
    Panel,
    Query,
    QueryVariable,
    Row,
    Step,
    ValueText,
    dashboard_json,
    targets,
)
from memwatch.generators.output import Context, Files, go_duration, json_file, yaml_file
from memwatch.spec import Spec
from memwatch.spec_monitoring import RamTier

# Where the compose stack (and any Grafana) mounts the rendered dashboards/ folder.
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/memwatch"
DEFAULT_EXPORTER_JOB = "memwatch"  # ScrapeTarget's default job

_UP_DOWN = (ValueText("1", "UP", "green"), ValueText("0", "DOWN", "red"))
_SEVERITY_COLOR: dict[Severity, str] = {"info": "yellow", "warning": "orange",
                                        "critical": "red"}
_STORE = 'store="$store"'


def _q(value: str) -> str:
    """A PromQL string literal (JSON's escaping is a subset of PromQL's)."""
    return json.dumps(value)


def _re_literal(value: str) -> str:
    """`value` as an RE2 literal (re.escape would also escape `-`, legal but noisy)."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", value)


def _num(x: float) -> str:
    return str(int(x)) if x == int(x) else repr(x)


def _exporter_jobs(spec: Spec) -> tuple[str, ...]:
    return tuple(sorted({e.job for e in spec.prometheus.exporters})) or (DEFAULT_EXPORTER_JOB,)


def _stale_after(spec: Spec) -> float:
    rule = spec.alerts.rules.get("MemoryIngestionStalled")
    threshold = rule.threshold if rule and rule.threshold else None
    return threshold or BY_NAME["MemoryIngestionStalled"].threshold or 3600.0


def _drop_window(window: float) -> Query:
    count = f"{M.STORE_MEMORIES.name}{{{_STORE}}}"
    peak = f"max_over_time({count}[{go_duration(window)}])"
    # clamp_min: a store that stayed empty shows 0, not NaN
    return Query(f"({peak} - {count}) / clamp_min({peak}, 1)",
                 f"over {go_duration(window)}")


def _store_row(spec: Spec) -> Row:
    s = _STORE
    return Row("$store", repeat="store", panels=(
        Panel("stat", "Database", (Query(f"{M.UP.name}{{{s}}}"),), mappings=_UP_DOWN,
              steps=(Step("red"), Step("green", 1)), width=4,
              description="UP when the last collection from the store succeeded."),
        Panel("timeseries", "Memories", (Query(f"{M.STORE_MEMORIES.name}{{{s}}}", "memories"),),
              steps=(Step("green"), Step("red", 0)), threshold_lines=True, min=0, width=10,
              description="Memory records in the store; the red line is zero "
                          "(MemoryCountZero)."),
        Panel("timeseries", "Memories by namespace",
              (Query(f"{M.MEMORIES.name}{{{s}}}", "{{namespace}}"),), min=0, width=10,
              description="Records per namespace; beyond max_namespaces the rest is "
                          "__other__."),
        Panel("stat", "Drop ratio",
              (Query(f"{M.DROP_RATIO.name}{{{s}}}", "since last collection"),
               *(_drop_window(w) for w in spec.recording.drop_windows)),
              unit="percentunit", min=0, max=1, width=6,
              steps=(Step("green"), Step("orange", 0.25), Step("red", 0.5)),
              description="Fraction of memories lost: since the previous collection, and "
                          "from the window's peak."),
        Panel("stat", "Newest memory age",
              (Query(f"time() - {M.NEWEST.name}{{{s}}}"),), unit="s", width=6,
              steps=(Step("green"), Step("orange", _stale_after(spec))),
              description="Time since the newest memory was written: ingestion stalls show "
                          "here first."),
        Panel("timeseries", "Backlog", (Query(f"{M.BACKLOG.name}{{{s}}}", "{{stage}}"),),
              min=0, width=6,
              description="Captured but not yet ingested or projected, by stage."),
        Panel("timeseries", "Store size",
              (Query(f"{M.SIZE.name}{{{s}}}", "size"),), unit="bytes", min=0, width=6,
              description="Bytes the store occupies on disk."),
    ))


def _exporter_row(spec: Spec) -> Row:
    jobs = "|".join(_re_literal(j) for j in _exporter_jobs(spec))
    errors = (f"sum by (store, reason) (rate({M.ERRORS.series_name}{{store=~\"$store\"}}"
              f"[$__rate_interval]))")
    return Row("Exporter", panels=(
        Panel("stat", "Exporter targets", (Query(f"up{{job=~{_q(jobs)}}}",
                                                 "{{job}} {{instance}}"),),
              mappings=_UP_DOWN, steps=(Step("red"), Step("green", 1)), width=6,
              description="Prometheus's view of the exporter processes."),
        Panel("timeseries", "Collection errors", (Query(errors, "{{store}} {{reason}}"),),
              unit="cps", min=0, width=9,
              description="Failed collections per second by reason (timeout, connect, "
                          "query...)."),
        Panel("timeseries", "Collection duration",
              (Query(f"{M.DURATION.name}{{store=~\"$store\"}}", "{{store}}"),), unit="s",
              min=0, width=9, description="How long the last collection took, per store."),
    ))


def overview(spec: Spec, ctx: Context) -> Dashboard:
    d = spec.dashboards
    summary = Row("Stores", panels=(
        Panel("stat", "Database status", (Query(f"{M.UP.name}{{store=~\"$store\"}}",
                                                "{{store}}"),),
              mappings=_UP_DOWN, steps=(Step("red"), Step("green", 1)), width=12,
              description="Every selected store: UP when its last collection succeeded."),
        Panel("timeseries", "Memories by store",
              (Query(f"{M.STORE_MEMORIES.name}{{store=~\"$store\"}}", "{{store}}"),),
              min=0, width=12, description="Memory records per store."),
    ))
    return Dashboard(
        uid=f"{d.uid_prefix}-overview", title=f"{d.title_prefix} overview",
        description=ctx.header, datasource_default=d.datasource, tags=("memwatch",),
        refresh=d.refresh, time_from=d.time_from,
        variables=(QueryVariable("store", "Store", f"label_values({M.UP.name}, store)"),),
        rows=(summary, _store_row(spec), _exporter_row(spec)))


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
        job = f"job={_q(r.node_job)}"
        used = (f"1 - node_memory_MemAvailable_bytes{{{job}}} / "
                f"node_memory_MemTotal_bytes{{{job}}}")
        window, horizon = go_duration(r.predict_window), go_duration(r.predict_horizon)
        rows.append(Row("Host", panels=(
            Panel("timeseries", "Host RAM used", (Query(used, "{{instance}}"),),
                  unit="percentunit", min=0, max=1, steps=tiers, threshold_lines=True,
                  width=12, height=8,
                  description="1 - MemAvailable / MemTotal; the lines are the alert tiers."),
            Panel("stat", "Host RAM used now", (Query(used, "{{instance}}"),),
                  unit="percentunit", min=0, max=1, steps=tiers, width=4, height=8),
            Panel("timeseries", f"Available RAM and its forecast in {horizon}",
                  (Query(f"node_memory_MemAvailable_bytes{{{job}}}", "{{instance}} now"),
                   Query(f"predict_linear(node_memory_MemAvailable_bytes{{{job}}}[{window}], "
                         f"{_num(r.predict_horizon)})", f"{{{{instance}}}} in {horizon}")),
                  unit="bytes", steps=(Step("green"), Step("red", 0)), threshold_lines=True,
                  width=8, height=8,
                  description=f"Linear forecast from the last {window}: below the red line "
                              "RAM runs out (HostMemoryExhaustionPredicted)."),
        )))
    if r.processes:
        used_of_limit = tuple(
            Query(f"process_resident_memory_bytes{{job={_q(p.job)}}} / {p.limit_bytes}",
                  f"{p.name} {{{{instance}}}}") for p in r.processes)
        rows.append(Row("Processes", panels=(
            Panel("timeseries", "Process RAM used of its limit", used_of_limit,
                  unit="percentunit", min=0, steps=tiers, threshold_lines=True, width=16,
                  height=8, description="Resident memory over the spec's limit_bytes."),
            Panel("stat", "Process RAM used now", used_of_limit, unit="percentunit", min=0,
                  steps=tiers, width=8, height=8),
        )))
    if not rows:
        return None
    return Dashboard(
        uid=f"{d.uid_prefix}-ram", title=f"{d.title_prefix} RAM pressure",
        description=ctx.header, datasource_default=d.datasource, tags=("memwatch",),
        refresh=d.refresh, time_from=d.time_from, rows=tuple(rows))


def dashboards(spec: Spec, ctx: Context) -> list[Dashboard]:
    return [d for d in (overview(spec, ctx), ram(spec, ctx)) if d is not None]


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


def render(spec: Spec, ctx: Context) -> Files:
    files: Files = {f"dashboards/{d.uid}.json": json_file(dashboard_json(d))
                    for d in dashboards(spec, ctx)}
    files.update(_provisioning(spec, ctx))
    return files


# --- for tests and the end-to-end check ----------------------------------------------

# Grafana's built-in interval variables, with values a Prometheus at a 30s scrape accepts.
BUILTIN_VARIABLES = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
_VAR = re.compile(r"\$(?:\{(\w+)\}|(\w+))")


def panel_queries(files: Mapping[str, str]) -> list[str]:
    """Every distinct panel query of the rendered dashboards, in file and panel order."""
    out: list[str] = []
    for rel in sorted(files):
        if rel.startswith("dashboards/") and rel.endswith(".json"):
            out += [e for e in dict.fromkeys(targets(json.loads(files[rel]))) if e not in out]
    return out


def concrete(expr: str, variables: Mapping[str, str]) -> str:
    """`expr` with $var / ${var} replaced: `variables` first, then Grafana's built-ins.

    An unknown variable raises KeyError, so a query never reaches Prometheus half-filled.
    """
    values = {**BUILTIN_VARIABLES, **variables}
    return _VAR.sub(lambda m: values[m.group(1) or m.group(2)], expr)
