"""rules/recording.yml, rules/alerts.yml, rules/anomaly.yml (alerts/anomaly.py) and, for
the spec's `slos`, rules/slo.yml (alerts/slo.py).

Recording rules are store-generic (one rule covers every store); alert rules are per store
so each can carry its own thresholds. Everything here is plain Prometheus rule syntax that
Thanos Ruler, the Mimir ruler and the Prometheus Operator load unchanged.
"""

from __future__ import annotations

from typing import Any

from memwatch.generators.alerts import AlertRule, anomaly, slo
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, go_duration, yaml_file
from memwatch.spec import Spec

RECORDING_FILE = "rules/recording.yml"
ALERTS_FILE = "rules/alerts.yml"


def drop_ratio_expr(window: str, selector: str = "") -> str:
    """Fraction lost against the peak of the window; no series while the peak is 0."""
    peak = f"max by (store) (max_over_time(memwatch_store_memories{selector}[{window}]))"
    return f"({peak} - max by (store) (memwatch_store_memories{selector})) / ({peak} > 0)"


def namespace_drop_ratio_expr(window: str) -> str:
    """Per namespace, the fraction lost against the window's peak (a namespace that
    vanished is kept on /metrics at 0 by the exporter, so it reads 1)."""
    peak = f"max by (store, namespace) (max_over_time(memwatch_memories[{window}]))"
    return f"({peak} - max by (store, namespace) (memwatch_memories)) / ({peak} > 0)"


def share_expr(metric: str) -> str:
    """An integrity count as a share of the store's memories."""
    return (f"max by (store) ({metric}) / clamp_min(max by (store) "
            "(memwatch_store_memories), 1)")


def recording_groups(model: Model) -> list[dict[str, Any]]:
    spec = model.spec
    rules: list[dict[str, Any]] = [
        {"record": "memwatch:memories:max",
         "expr": "max by (store) (memwatch_store_memories)"},
        {"record": "memwatch:memories_namespace:max",
         "expr": "max by (store, namespace) (memwatch_memories)"},
    ]
    for window in spec.recording.drop_windows:
        w = go_duration(window)
        rules.append({"record": f"memwatch:memories_drop:ratio_{w}",
                      "expr": drop_ratio_expr(w)})
    for window in spec.recording.drop_windows:
        w = go_duration(window)
        rules.append({"record": f"memwatch:memories_namespace_drop:ratio_{w}",
                      "expr": namespace_drop_ratio_expr(w)})
    rules += [
        {"record": "memwatch:ingestion_lag:seconds",
         "expr": "time() - max by (store) (memwatch_newest_memory_timestamp_seconds)"},
        {"record": "memwatch:backlog:max",
         "expr": "max by (store, stage) (memwatch_backlog)"},
        {"record": "memwatch:backlog_age:seconds",
         "expr": "time() - min by (store, stage) (memwatch_backlog_oldest_timestamp_seconds)"},
        {"record": "memwatch:store_size_growth:ratio_1h",
         "expr": "(max by (store) (memwatch_store_size_bytes) - max by (store) "
                 "(memwatch_store_size_bytes offset 1h)) / (max by (store) "
                 "(memwatch_store_size_bytes offset 1h) > 0)"},
        {"record": "memwatch:up:min", "expr": "min by (store, backend) (memwatch_up)"},
        {"record": "memwatch:memories_without_embedding:ratio",
         "expr": share_expr("memwatch_memories_without_embedding")},
        {"record": "memwatch:duplicate_memories:ratio",
         "expr": share_expr("memwatch_duplicate_memories")},
    ]
    ram = spec.alerts.ram
    if ram.host:
        job = ram.node_job
        rules.append({"record": "instance:node_memory_usage:ratio",
                      "expr": f'1 - (node_memory_MemAvailable_bytes{{job="{job}"}} / '
                              f'node_memory_MemTotal_bytes{{job="{job}"}})'})
    for proc in ram.processes:
        rules.append({"record": "process:memory_usage:ratio",
                      "expr": f'max by (instance, job) (process_resident_memory_bytes'
                              f'{{job="{proc.job}"}}) / {proc.limit_bytes}',
                      "labels": {"process": proc.name}})
    groups = [{"name": "memwatch-recording", "rules": rules}]
    if spec.recording.mem0_compat:
        groups.append({"name": "memwatch-mem0-compat", "rules": _mem0_compat(model)})
    return groups


def _mem0_compat(model: Model) -> list[dict[str, Any]]:
    """The series of the mem0 team's hand-written exporter, from memwatch's, so their seed
    dashboards keep working without a second exporter."""
    spec = model.spec
    mem0 = sorted(s.name for s in model.stores if s.caps.mem0_compat)
    sel = f'{{store=~"{"|".join(mem0)}"}}' if mem0 else ""
    w = go_duration(spec.recording.drop_windows[0]) if spec.recording.drop_windows else "10m"
    return [
        {"record": "mem0_memory_total", "expr": f"max by (store) (memwatch_store_memories{sel})"},
        {"record": "mem0_memory_count",
         "expr": f"max by (store, namespace) (memwatch_memories{sel})"},
        {"record": "mem0_memory_drop_percentage", "expr": f"100 * {drop_ratio_expr(w, sel)}"},
        {"record": "mem0_database_up", "expr": f"min by (store) (memwatch_up{sel})"},
    ]


def rule_entry(r: AlertRule) -> dict[str, Any]:
    entry: dict[str, Any] = {"alert": r.alert, "expr": r.expr}
    if r.for_s:
        entry["for"] = go_duration(r.for_s)
    entry["labels"] = dict(sorted(r.labels.items()))
    entry["annotations"] = r.annotations()
    return entry


def alert_groups(rules: list[AlertRule]) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rules:
        entries = groups.setdefault(r.group, [])
        if isinstance(r, slo.SloRule):  # the recording rules it reads, once, before it
            entries += [rec for rec in r.recording if rec not in entries]
        entries.append(rule_entry(r))
    return [{"name": name, "rules": entries} for name, entries in groups.items()]


def render(model: Model, ctx: Context) -> Files:
    rules = model.rules
    anomaly_groups = [{"name": f"{anomaly.GROUP}-recording",
                       "rules": anomaly.recording_rules()},
                      *alert_groups([r for r in rules if r.file == anomaly.FILE])]
    return {
        RECORDING_FILE: yaml_file({"groups": recording_groups(model)}, ctx),
        ALERTS_FILE: yaml_file({"groups": alert_groups(
            [r for r in rules if r.file == ALERTS_FILE])}, ctx),
        anomaly.FILE: yaml_file({"groups": anomaly_groups}, ctx),
        **_slo_file(model.spec, rules, ctx),
    }


def _slo_file(spec: Spec, rules: list[AlertRule], ctx: Context) -> Files:
    if not spec.slos:
        return {}
    ours = [r for r in rules if r.file == slo.FILE]
    groups = [*alert_groups(ours), *slo.recording_only(spec, ours)]
    return {slo.FILE: yaml_file({"groups": groups}, ctx)}
