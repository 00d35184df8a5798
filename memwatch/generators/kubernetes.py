"""`--format kubernetes`: the rendered files as Prometheus Operator and Grafana objects, and
memwatch itself as Deployments.

Adds `kubernetes/` beside the plain files (which stay: promtool tests and lint run on them,
and every object below is built from them, byte for byte):

- one `PrometheusRule` per rule file (`rules/*.yml`), `spec.groups` = the file's groups;
- one `ServiceMonitor` per exporter job, selecting the exporter Services (labelled
  `app.kubernetes.io/name: memwatch`, `app.kubernetes.io/component: exporter`) on their
  port named `metrics`;
- for a `probe: true` job a `ScrapeConfig` instead (monitoring.coreos.com/v1alpha1): the
  Prometheus job of prometheus.probe_job as it is, store names as targets relabelled into
  `?store=`, the exporter Service as the address, a slow store's `__scrape_timeout__`.
  (A `Probe` would pass each target as `?target=` and take one timeout for all of them);
- one `ConfigMap` per dashboard, labelled `grafana_dashboard: "1"` for Grafana's sidecar;
- `alertmanager.yml` as a `Secret` (key `alertmanager.yaml`): the Prometheus Operator reads
  an Alertmanager's whole configuration only from a Secret (`alertmanager-<name>` or the
  Alertmanager's `spec.configSecret`), never from a ConfigMap. The file holds no secret
  itself (every secret is a `*_file` path), but the operator's contract is a Secret;
- the exporter and the consolidator: Deployments, Services, the spec's ConfigMap, the
  consolidator's PersistentVolumeClaim (kubernetes_apps), and `README.md` naming the
  Secrets to create (kubernetes_readme);
- a `kustomization.yaml` listing them, for `kubectl apply -k` and overlays (the labels your
  Prometheus's `ruleSelector`/`serviceMonitorSelector`/`scrapeConfigSelector` wants).

`kubernetes.namespace`, when set, is every object's namespace.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import PurePosixPath
from typing import Any

from memwatch.generators import alertmanager, kubernetes_apps, kubernetes_readme, yamlemit
from memwatch.generators.kubernetes_secrets import check_inline, dns_name
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, OutputConflict, go_duration, yaml_file
from memwatch.generators.prometheus import exporter_scrape_timeout, probe_job

DIR = "kubernetes"
NAME = "memwatch"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "gen-monitoring"}
OPERATOR_API = "monitoring.coreos.com/v1"
OPERATOR_ALPHA_API = "monitoring.coreos.com/v1alpha1"  # ScrapeConfig
ALERTMANAGER_KEY = "alertmanager.yaml"  # the key the Prometheus Operator reads


def k8s_name(*parts: str) -> str:
    """A DNS-1123 object name from free text."""
    return dns_name(*parts, limit=253)


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "labels": {**LABELS, **labels}}


def prometheus_rule(stem: str, text: str) -> dict[str, Any]:
    data = yamlemit.load(text) or {}
    return {"apiVersion": OPERATOR_API, "kind": "PrometheusRule",
            "metadata": _meta(k8s_name(NAME, stem)),
            "spec": {"groups": data.get("groups", [])}}


def _job_label(job: str) -> dict[str, Any]:
    return {"action": "replace", "targetLabel": "job", "replacement": job}


def service_monitors(model: Model) -> list[dict[str, Any]]:
    """One per exporter job that scrapes /metrics (a probe job gets a ScrapeConfig)."""
    spec = model.spec
    workloads = kubernetes_apps.exporter_workloads(model)
    endpoint: dict[str, Any] = {"port": "metrics", "path": "/metrics",
                                "interval": go_duration(spec.prometheus.scrape_interval)}
    timeout = exporter_scrape_timeout(spec) or spec.prometheus.scrape_timeout
    if timeout:
        endpoint["scrapeTimeout"] = go_duration(timeout)
    out = []
    for exporter, _ in workloads:
        if exporter.probe:
            continue
        job = exporter.job
        select = kubernetes_apps.labels("exporter", job if len(workloads) > 1 else None)
        out.append({
            "apiVersion": OPERATOR_API, "kind": "ServiceMonitor",
            "metadata": _meta(k8s_name(job)),
            "spec": {"selector": {"matchLabels": select},
                     "endpoints": [{**endpoint, "relabelings": [_job_label(job)]}]},
        })
    return out


_CAMEL = {"source_labels": "sourceLabels", "target_label": "targetLabel"}


def scrape_configs(model: Model) -> list[dict[str, Any]]:
    """A ScrapeConfig per probe job: prometheus.probe_job's job, the exporter Service as the
    address, the `job` label set as the ServiceMonitors set it."""
    spec = model.spec
    out = []
    for exporter, name in kubernetes_apps.exporter_workloads(model):
        if not exporter.probe:
            continue
        job = exporter.job
        address = kubernetes_apps.exporter_address(spec, name)
        plain = probe_job(spec, dataclasses.replace(exporter, targets=(address,)))
        body: dict[str, Any] = {
            "metricsPath": plain["metrics_path"],
            "scrapeInterval": go_duration(spec.prometheus.scrape_interval)}
        if spec.prometheus.scrape_timeout is not None:
            body["scrapeTimeout"] = go_duration(spec.prometheus.scrape_timeout)
        body["staticConfigs"] = plain["static_configs"]
        body["relabelings"] = [{_CAMEL.get(k, k): v for k, v in r.items()}
                               for r in plain["relabel_configs"]] + [_job_label(job)]
        out.append({"apiVersion": OPERATOR_ALPHA_API, "kind": "ScrapeConfig",
                    "metadata": _meta(k8s_name(job)), "spec": body})
    return out


def dashboard_config_map(stem: str, text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(k8s_name(NAME, "dashboard", stem), grafana_dashboard="1"),
            "data": {re.sub(r"[^-._a-zA-Z0-9]", "_", stem) + ".json": text}}


def alertmanager_secret(text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(k8s_name(NAME, "alertmanager")),
            "stringData": {ALERTMANAGER_KEY: text}}


def _namespaced(obj: dict[str, Any], namespace: str | None) -> dict[str, Any]:
    if namespace is None:
        return obj
    name, *rest = obj["metadata"].items()
    return {**obj, "metadata": dict([name, ("namespace", namespace), *rest])}


def objects(model: Model, files: Files, ctx: Context) -> dict[str, dict[str, Any]]:
    """File name under kubernetes/ -> object."""
    spec = model.spec
    out: dict[str, dict[str, Any]] = {}
    for rel in sorted(files):
        p = PurePosixPath(rel)
        if p.parent.as_posix() == "rules" and p.suffix == ".yml":
            out[f"prometheusrule-{p.stem}.yaml"] = prometheus_rule(p.stem, files[rel])
        elif p.parent.as_posix() == "dashboards" and p.suffix == ".json":
            out[f"configmap-dashboard-{p.stem}.yaml"] = dashboard_config_map(p.stem, files[rel])
    for sm in service_monitors(model):
        out[f"servicemonitor-{sm['metadata']['name']}.yaml"] = sm
    for sc in scrape_configs(model):
        out[f"scrapeconfig-{sc['metadata']['name']}.yaml"] = sc
    if alertmanager.PATH in files:
        out["secret-alertmanager.yaml"] = alertmanager_secret(files[alertmanager.PATH])
    out.update(apps(model, ctx))
    names = [(o["kind"], o["metadata"]["name"]) for o in out.values()]
    if len(set(names)) != len(names):
        raise OutputConflict(f"two Kubernetes objects share a kind and name: {sorted(names)}")
    return {k: _namespaced(v, spec.kubernetes.namespace) for k, v in out.items()}


def apps(model: Model, ctx: Context) -> dict[str, dict[str, Any]]:
    """memwatch's own workloads and the spec they read."""
    spec = model.spec
    check_inline(spec)
    text = kubernetes_apps.spec_text(spec, ctx)
    return {"configmap-spec.yaml": kubernetes_apps.spec_config_map(text),
            **kubernetes_apps.exporter_objects(model, text),
            **kubernetes_apps.consolidator_objects(spec, text)}


def wrap(model: Model, ctx: Context, files: Files) -> Files:
    objs = objects(model, files, ctx)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": sorted(objs)}
    wrapped = {f"{DIR}/{name}": yaml_file(obj, ctx) for name, obj in objs.items()}
    wrapped[f"{DIR}/kustomization.yaml"] = yaml_file(kustomization, ctx)
    wrapped[f"{DIR}/{kubernetes_readme.NAME}"] = kubernetes_readme.render(model, ctx)
    clash = set(wrapped) & set(files)
    if clash:
        raise OutputConflict(f"two renderers produced {sorted(clash)}")
    return dict(sorted({**files, **wrapped}.items()))
