"""`--format kubernetes`: the rendered files as Prometheus Operator and Grafana objects.

Adds `kubernetes/` beside the plain files (which stay: promtool tests and lint run on them,
and every object below is built from them, byte for byte):

- one `PrometheusRule` per rule file (`rules/*.yml`), `spec.groups` = the file's groups;
- one `ServiceMonitor` per exporter job, selecting Services labelled
  `app.kubernetes.io/name: memwatch` on their port named `metrics`;
- one `ConfigMap` per dashboard, labelled `grafana_dashboard: "1"` for Grafana's sidecar;
- `alertmanager.yml` as a `Secret` (key `alertmanager.yaml`): the Prometheus Operator reads
  an Alertmanager's whole configuration only from a Secret (`alertmanager-<name>` or the
  Alertmanager's `spec.configSecret`), never from a ConfigMap. The file holds no secret
  itself (every secret is a `*_file` path), but the operator's contract is a Secret;
- a `kustomization.yaml` listing them, for `kubectl apply -k` and overlays (namespace, the
  labels your Prometheus's `ruleSelector`/`serviceMonitorSelector` wants).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from memwatch.generators import alertmanager, yamlemit
from memwatch.generators.output import Context, Files, go_duration, yaml_file
from memwatch.generators.prometheus import exporter_jobs, exporter_scrape_timeout
from memwatch.spec import Spec

DIR = "kubernetes"
NAME = "memwatch"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "gen-monitoring"}
OPERATOR_API = "monitoring.coreos.com/v1"
ALERTMANAGER_KEY = "alertmanager.yaml"  # the key the Prometheus Operator reads


def k8s_name(*parts: str) -> str:
    """A DNS-1123 object name from free text."""
    name = re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")
    return re.sub(r"-{2,}", "-", name)[:253].rstrip("-")


def _meta(name: str, **labels: str) -> dict[str, Any]:
    return {"name": name, "labels": {**LABELS, **labels}}


def prometheus_rule(stem: str, text: str) -> dict[str, Any]:
    data = yamlemit.load(text) or {}
    return {"apiVersion": OPERATOR_API, "kind": "PrometheusRule",
            "metadata": _meta(k8s_name(NAME, stem)),
            "spec": {"groups": data.get("groups", [])}}


def service_monitors(spec: Spec) -> list[dict[str, Any]]:
    jobs = [job for job, _ in exporter_jobs(spec)]
    endpoint: dict[str, Any] = {"port": "metrics", "path": "/metrics",
                                "interval": go_duration(spec.prometheus.scrape_interval)}
    timeout = exporter_scrape_timeout(spec) or spec.prometheus.scrape_timeout
    if timeout:
        endpoint["scrapeTimeout"] = go_duration(timeout)
    out = []
    for job in jobs:
        select = {"app.kubernetes.io/name": NAME}
        if len(jobs) > 1:  # one exporter Service per job, told apart by instance
            select["app.kubernetes.io/instance"] = job
        out.append({
            "apiVersion": OPERATOR_API, "kind": "ServiceMonitor",
            "metadata": _meta(k8s_name(job)),
            "spec": {"selector": {"matchLabels": select},
                     "endpoints": [{**endpoint, "relabelings": [
                         {"action": "replace", "targetLabel": "job", "replacement": job}]}]},
        })
    return out


def dashboard_config_map(stem: str, text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": _meta(k8s_name(NAME, "dashboard", stem), grafana_dashboard="1"),
            "data": {re.sub(r"[^-._a-zA-Z0-9]", "_", stem) + ".json": text}}


def alertmanager_secret(text: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _meta(k8s_name(NAME, "alertmanager")),
            "stringData": {ALERTMANAGER_KEY: text}}


def objects(spec: Spec, files: Files) -> dict[str, dict[str, Any]]:
    """File name under kubernetes/ -> object."""
    out: dict[str, dict[str, Any]] = {}
    for rel in sorted(files):
        p = PurePosixPath(rel)
        if p.parent.as_posix() == "rules" and p.suffix == ".yml":
            out[f"prometheusrule-{p.stem}.yaml"] = prometheus_rule(p.stem, files[rel])
        elif p.parent.as_posix() == "dashboards" and p.suffix == ".json":
            out[f"configmap-dashboard-{p.stem}.yaml"] = dashboard_config_map(p.stem, files[rel])
    for sm in service_monitors(spec):
        out[f"servicemonitor-{sm['metadata']['name']}.yaml"] = sm
    if alertmanager.PATH in files:
        out["secret-alertmanager.yaml"] = alertmanager_secret(files[alertmanager.PATH])
    names = [(o["kind"], o["metadata"]["name"]) for o in out.values()]
    if len(set(names)) != len(names):
        raise ValueError(f"two Kubernetes objects share a kind and name: {sorted(names)}")
    return out


def wrap(spec: Spec, ctx: Context, files: Files) -> Files:
    objs = objects(spec, files)
    kustomization = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
                     "resources": sorted(objs)}
    wrapped = {f"{DIR}/{name}": yaml_file(obj, ctx) for name, obj in objs.items()}
    wrapped[f"{DIR}/kustomization.yaml"] = yaml_file(kustomization, ctx)
    clash = set(wrapped) & set(files)
    if clash:
        raise ValueError(f"two renderers produced {sorted(clash)}")
    return dict(sorted({**files, **wrapped}.items()))
