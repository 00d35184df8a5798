"""Checking rendered Kubernetes objects without a cluster.

`schema_problems`: the Kubernetes OpenAPI schemas (kubernetes-validate bundles them as JSON
Schema, strict: an unknown field is an error), for the core kinds. `api_problems`: what the
API server checks beyond the schemas (names, label values, selectors, port names, volume
references, quantities). `wiring_problems`: that the objects fit together (a Service
selects a pod that has its port, a ServiceMonitor a Service that has its port, a pod's
ConfigMap and claim are rendered).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import kubernetes_validate

# The oldest Kubernetes release still supported upstream when this was written, and the
# newest kubernetes-validate knows.
VERSIONS = ("1.31", "1.37")
CRDS = {"PrometheusRule", "ServiceMonitor", "ScrapeConfig", "Kustomization"}
Obj = dict[str, Any]

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")
LABEL_KEY = re.compile(r"^([a-z0-9.-]{1,253}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
PORT_NAME = re.compile(r"^(?=.*[a-z])[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$")
QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
          "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def schema_problems(obj: Obj) -> list[str]:
    """The first schema error of `obj` for each version; [] when it validates in all."""
    out = []
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            out.append(f"{version}: {'.'.join(map(str, e.path))}: {e.message}")
    return out


def quantity(text: str) -> float:
    match = QUANTITY.match(text)
    assert match, f"not a quantity: {text}"
    return float(match.group(1)) * _UNITS[match.group(2)]


def _labels(where: str, labels: dict[str, str]) -> Iterator[str]:
    for k, v in labels.items():
        if not LABEL_KEY.match(k):
            yield f"{where}: label key {k!r}"
        if not LABEL_VALUE.match(v):
            yield f"{where}: label value {v!r}"


def pod_of(obj: Obj) -> Obj:
    return obj["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def _container(c: Obj, volumes: set[str]) -> Iterator[str]:
    where = f"container {c['name']}"
    ports = [p.get("name") for p in c.get("ports", [])]
    for name in ports:
        if name is not None and not PORT_NAME.match(name):
            yield f"{where}: port name {name!r}"
    for probe in ("readinessProbe", "livenessProbe"):
        action = c.get(probe, {}).get("httpGet") or c.get(probe, {}).get("tcpSocket")
        if action and isinstance(action["port"], str) and action["port"] not in ports:
            yield f"{where}: {probe} port {action['port']!r} is no port of the container"
    mounts = c.get("volumeMounts", [])
    if len({m["mountPath"] for m in mounts}) != len(mounts):
        yield f"{where}: two mounts at one path"
    for m in mounts:
        if m["name"] not in volumes:
            yield f"{where}: mount of the unknown volume {m['name']!r}"
    env = [e["name"] for e in c.get("env", [])]
    if len(set(env)) != len(env):
        yield f"{where}: a variable given twice"
    res = c.get("resources", {})
    for key, limit in res.get("limits", {}).items():
        if key in res.get("requests", {}) and quantity(limit) < quantity(res["requests"][key]):
            yield f"{where}: {key} limit below its request"


def _pod(pod: Obj) -> Iterator[str]:
    names = [v["name"] for v in pod.get("volumes", [])]
    if len(set(names)) != len(names) or not all(DNS_LABEL.match(n) for n in names):
        yield f"volume names {names}"
    for v in pod.get("volumes", []):
        paths = [i["path"] for s in v.get("projected", {}).get("sources", [])
                 for i in next(iter(s.values())).get("items", [])]
        if len(set(paths)) != len(paths) or any(p.startswith("/") or ".." in p.split("/")
                                                for p in paths):
            yield f"volume {v['name']}: item paths {paths}"
    for c in pod["containers"]:
        if not DNS_LABEL.match(c["name"]):
            yield f"container name {c['name']!r}"
        yield from _container(c, set(names))


def api_problems(obj: Obj) -> list[str]:
    """What the API server would refuse that the OpenAPI schemas let through."""
    meta = obj["metadata"]
    name_re = DNS_1035 if obj["kind"] == "Service" else SUBDOMAIN
    out = [] if name_re.match(meta["name"]) and len(meta["name"]) <= 253 else [
        f"name {meta['name']!r}"]
    out += _labels("metadata", meta.get("labels", {}))
    if obj["kind"] == "Deployment":
        select = obj["spec"]["selector"]["matchLabels"]
        template = obj["spec"]["template"]["metadata"]["labels"]
        out += _labels("template", template)
        if not select.items() <= template.items():
            out.append("the selector does not match the pod template's labels")
        out += list(_pod(pod_of(obj)))
    if obj["kind"] == "Service":
        for p in obj["spec"]["ports"]:
            if not PORT_NAME.match(p["name"]):
                out.append(f"port name {p['name']!r}")
    return out


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def wiring_problems(objs: list[Obj]) -> list[str]:
    """Objects that name each other: each reference has its target, with the port."""
    by_kind: dict[str, list[Obj]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    out = []
    pods = [(d["metadata"]["name"], d["spec"]["template"]["metadata"]["labels"], pod_of(d))
            for d in by_kind.get("Deployment", [])]
    for svc in by_kind.get("Service", []):
        chosen = [(n, pod) for n, labels, pod in pods if selects(svc["spec"]["selector"], labels)]
        if len(chosen) != 1:
            out.append(f"Service {svc['metadata']['name']} selects {[n for n, _ in chosen]}")
        for n, pod in chosen:
            names = {p["name"] for c in pod["containers"] for p in c.get("ports", [])}
            for p in svc["spec"]["ports"]:
                if p["targetPort"] not in names:
                    out.append(f"Service {svc['metadata']['name']}: {n} has no port "
                               f"{p['targetPort']}")
    for sm in by_kind.get("ServiceMonitor", []):
        port = sm["spec"]["endpoints"][0]["port"]
        chosen = [s for s in by_kind.get("Service", [])
                  if selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
                  and port in {p["name"] for p in s["spec"]["ports"]}]
        if not chosen:
            out.append(f"ServiceMonitor {sm['metadata']['name']} selects no Service with "
                       f"port {port}")
    config_maps = {c["metadata"]["name"]: c["data"] for c in by_kind.get("ConfigMap", [])}
    claims = {c["metadata"]["name"] for c in by_kind.get("PersistentVolumeClaim", [])}
    for n, _, pod in pods:
        for v in pod.get("volumes", []):
            for s in v.get("projected", {}).get("sources", []):
                for i in s.get("configMap", {}).get("items", []):
                    if i["key"] not in config_maps.get(s["configMap"]["name"], {}):
                        out.append(f"{n}: ConfigMap {s['configMap']['name']} has no {i['key']}")
            claim = v.get("persistentVolumeClaim", {}).get("claimName")
            if v["name"] == "data" and claim not in claims:
                out.append(f"{n}: no PersistentVolumeClaim {claim}")
    return out


def mounted_files(pod: Obj, container: int = 0) -> dict[str, tuple[str, str, str]]:
    """Every file the container reads from a ConfigMap or Secret: path -> (kind, name, key)."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    out = {}
    for m in pod["containers"][container].get("volumeMounts", []):
        for source in volumes[m["name"]].get("projected", {}).get("sources", []):
            (kind, ref), = source.items()
            for item in ref["items"]:
                out[f"{m['mountPath']}/{item['path']}"] = (kind, ref["name"], item["key"])
    return out
