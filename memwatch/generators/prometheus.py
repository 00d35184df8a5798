"""`prometheus/prometheus.yml`: intervals, the rendered rule files, Alertmanager, scrape jobs.

Prometheus resolves `rule_files` relative to the config file, so the rendered tree works
where it lies (`prometheus/` beside `rules/`) or mounted the same way in a container.
"""

from __future__ import annotations

import math
from typing import Any

from memwatch.generators.derived import ExporterJob
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, go_duration, yaml_file
from memwatch.spec import Spec

PATH = "prometheus/prometheus.yml"
# relative to the output directory
RULE_FILES = ("rules/recording.yml", "rules/alerts.yml", "rules/anomaly.yml")
DEFAULT_SCRAPE_TIMEOUT = 10.0  # Prometheus's own default


def exporter_scrape_timeout(spec: Spec) -> float | None:
    """A job-level scrape_timeout when the slowest store's timeout + 1 s (the exporter's
    answer deadline) exceeds the global one; never longer than the scrape interval."""
    p = spec.prometheus
    needed = math.ceil(max(s.timeout for s in spec.stores) + 1)
    current = p.scrape_timeout or min(DEFAULT_SCRAPE_TIMEOUT, p.scrape_interval)
    if needed <= current:
        return None
    return min(float(needed), p.scrape_interval)


def _static(job: str, targets: list[str], **extra: Any) -> dict[str, Any]:
    return {"job_name": job, **extra, "static_configs": [{"targets": targets}]}


def probe_job(spec: Spec, job: ExporterJob) -> dict[str, Any]:
    """One scrape per store through `/probe?store=NAME`, as the Prometheus multi-target
    guide writes it: the targets are store names, relabelled into the `store` parameter
    and `instance`, the address set to the exporter's. A store whose timeout needs more
    than the global scrape timeout gets its own (`__scrape_timeout__`)."""
    p = spec.prometheus
    current = p.scrape_timeout or min(DEFAULT_SCRAPE_TIMEOUT, p.scrape_interval)
    groups: dict[float | None, list[str]] = {}
    for s in spec.stores:
        if not job.stores or s.name in job.stores:
            needed = min(float(math.ceil(s.timeout + 1)), p.scrape_interval)
            groups.setdefault(needed if needed > current else None, []).append(s.name)
    static = [{"targets": names, **({"labels": {"__scrape_timeout__": go_duration(t)}}
                                    if t is not None else {})}
              for t, names in sorted(groups.items(), key=lambda g: g[0] or 0.0)]
    return {"job_name": job.job, "metrics_path": "/probe", "static_configs": static,
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_store"},
                {"source_labels": ["__param_store"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": job.targets[0]}]}


def scrape_configs(model: Model) -> list[dict[str, Any]]:
    spec = model.spec
    timeout = exporter_scrape_timeout(spec)
    extra = {"scrape_timeout": go_duration(timeout)} if timeout else {}
    jobs = [probe_job(spec, e) if e.probe else _static(e.job, list(e.targets), **extra)
            for e in model.exporter_jobs]
    p = spec.prometheus
    if p.node_exporter_targets:
        jobs.append(_static(spec.alerts.ram.node_job, list(p.node_exporter_targets)))
    jobs += [dict(c) for c in p.extra_scrape_configs]
    return jobs


def config(model: Model) -> dict[str, Any]:
    spec = model.spec
    p = spec.prometheus
    glob: dict[str, Any] = {"scrape_interval": go_duration(p.scrape_interval),
                            "evaluation_interval": go_duration(p.evaluation_interval)}
    if p.scrape_timeout is not None:
        glob["scrape_timeout"] = go_duration(p.scrape_timeout)
    labels = dict(p.external_labels)
    if p.replica_label:
        # expanded from each server's environment (Prometheus 2.x:
        # --enable-feature=expand-external-labels; 3.x always does)
        labels[p.replica_label] = f"${{{p.replica_env}}}"
    if labels:
        glob["external_labels"] = labels
    files = (*RULE_FILES, *(("rules/slo.yml",) if spec.slos else ()))
    out: dict[str, Any] = {"global": glob, "rule_files": [f"../{f}" for f in files]}
    if p.alertmanagers:
        out["alerting"] = {"alertmanagers": [{"static_configs": [
            {"targets": list(p.alertmanagers)}]}]}
        if p.replica_label:  # the pair's two copies of an alert become one
            out["alerting"]["alert_relabel_configs"] = [
                {"action": "labeldrop", "regex": p.replica_label}]
    out["scrape_configs"] = scrape_configs(model)
    return out


def render(model: Model, ctx: Context) -> Files:
    return {PATH: yaml_file(config(model), ctx)}
