"""`kubernetes/README.md`: what to create before `kubectl apply -k`, for this spec.

The Secrets each pod reads (names, keys, how they are read, the `kubectl create secret`
command: never a value), the Secrets Alertmanager's configuration reads, each store's
files and whether a `kubernetes.exporter.volumes` entry mounts them, and the addresses in
the spec that point at the pod itself rather than a Service.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from memwatch.generators import kubernetes_apps as apps
from memwatch.generators.kubernetes_secrets import (
    SecretRef,
    consolidator_refs,
    dns_name,
    store_refs,
)
from memwatch.generators.model import Model
from memwatch.generators.output import Context
from memwatch.spec import Spec

NAME = "README.md"
AM_SECRETS = PurePosixPath("/etc/alertmanager/secrets")  # the operator's spec.secrets mounts
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def pod_refs(model: Model) -> list[tuple[str, SecretRef]]:
    """(Deployment, reference) for every secret a rendered pod reads."""
    spec = model.spec
    out = [(name, r) for exporter, name in apps.exporter_workloads(model)
           for r in store_refs(spec, exporter.stores or [s.name for s in spec.stores])]
    if spec.routing.consolidator_url is not None:
        out += [(dns_name(apps.NAME, "consolidator"), r) for r in consolidator_refs(spec)]
    return out


def _secrets(model: Model) -> list[str]:
    spec = model.spec
    refs = pod_refs(model)
    if not refs:
        return ["No pod reads a Secret: the spec names no `*_file` and no `env:` secret.", ""]
    lines = ["| Secret | key | read by | as | spec |", "|---|---|---|---|---|"]
    keys: dict[str, list[str]] = {}
    for pod, r in refs:
        how = f"file `{r.path}`" if r.path else f"env `{r.env}`"
        lines.append(f"| `{r.secret}` | `{r.key}` | `{pod}` | {how} | `{r.where}` |")
        if r.key not in keys.setdefault(r.secret, []):
            keys[r.secret].append(r.key)
    ns = spec.kubernetes.namespace
    lines += ["", "Each Secret with its keys, from files holding the values"
              + ("" if ns else " (add `-n` and the namespace)") + ":", "", "```sh"]
    lines += [f"kubectl create secret generic {secret}" + (f" -n {ns}" if ns else "") + " "
              + " ".join(f"--from-file={k}=./{secret}/{k}" for k in ks)
              for secret, ks in sorted(keys.items())]
    lines += ["```", "", "A file is re-read when the exporter reconnects, so an updated Secret "
              "takes effect without a restart; an `env` variable only when the pod restarts "
              "(`kubectl rollout restart`).", ""]
    if spec.consolidator.bearer_token_file and spec.routing.consolidator_bearer_token_file:
        lines += ["The consolidator's `bearer_token` and the file of "
                  "`routing.consolidator_bearer_token_file` (Alertmanager's) hold the same "
                  "token.", ""]
    return lines


def _files(model: Any, path: str) -> Iterator[tuple[str, str]]:
    """(key path, value) of every `*_file` below a model."""
    if isinstance(model, BaseModel):
        for name, field in type(model).model_fields.items():
            key = f"{path}.{field.alias or name}"
            value = getattr(model, name)
            if name.endswith("_file") and value is not None:
                yield key, str(value)
            else:
                yield from _files(value, key)
    elif isinstance(model, tuple):
        for i, item in enumerate(model):
            yield from _files(item, f"{path}[{i}]")


def _alertmanager(spec: Spec) -> list[str]:
    files = list(_files(spec.routing, "routing"))
    if not files:
        return []
    lines = ["## Alertmanager's secrets", "",
             "`secret-alertmanager.yaml` reads these files. With the Prometheus Operator, list "
             f"each Secret in the Alertmanager's `spec.secrets`: it mounts them at "
             f"`{AM_SECRETS}/<Secret>/<key>`.", "", "| Secret | key | spec |", "|---|---|---|"]
    for where, value in files:
        p = PurePosixPath(value)
        if p.parent.parent == AM_SECRETS:
            lines.append(f"| `{p.parent.name}` | `{p.name}` | `{where}` |")
        else:
            lines.append(f"| (none: `{value}` is not below `{AM_SECRETS}`) | | `{where}` |")
    return [*lines, ""]


def _store_paths(spec: Spec) -> Iterator[tuple[str, str, str]]:
    for i, store in enumerate(spec.stores):
        for key in ("path", "spool", "workspace"):
            value = getattr(store, key, None)
            if isinstance(value, str):
                yield store.name, f"stores[{i}].{key}", value
        for j, f in enumerate(store.files):
            yield store.name, f"stores[{i}].files[{j}].glob", f.glob


def _data(spec: Spec) -> list[str]:
    paths = list(_store_paths(spec))
    if not paths:
        return []
    lines = ["## The exporter's files", "",
             "| store | spec | path | mounted from |", "|---|---|---|---|"]
    volumes = spec.kubernetes.exporter.volumes
    for store, where, path in paths:
        found = [f"`kubernetes.exporter.volumes[{i}]`" for i, v in enumerate(volumes)
                 if path.startswith(v.mount_path.rstrip("/") + "/")]
        lines.append(f"| {store} | `{where}` | `{path}` | "
                     f"{found[0] if found else '**nothing**: add a volume'} |")
    return [*lines, "", "Each path must lie below a `kubernetes.exporter.volumes` entry's "
                        "`mount_path` (`~` names no directory in the pod).", ""]


def _addresses(model: Model) -> list[str]:
    spec = model.spec
    notes = []
    ns = spec.kubernetes.namespace
    svc = dns_name(apps.NAME, "consolidator") + (f".{ns}.svc" if ns else "")
    port = apps.listen_port(spec.consolidator.listen, 9188)
    url = spec.routing.consolidator_url
    if url is not None and urlsplit(url).hostname in _LOCAL_HOSTS:
        notes.append(f"- `routing.consolidator_url` is `{url}`: in the cluster, "
                     f"`http://{svc}:{port}/webhook/alerts`.")
    prom = spec.consolidator.prometheus_url
    if url is not None and prom is not None and urlsplit(prom).hostname in _LOCAL_HOSTS:
        notes.append(f"- `consolidator.prometheus_url` is `{prom}`, the consolidator's own "
                     f"pod: name your Prometheus Service.")
    if any(e.probe for e in model.exporter_jobs) and ns is None:
        notes.append("- The ScrapeConfig names the exporter Service without a namespace: "
                     "set `kubernetes.namespace` unless Prometheus runs in the same one.")
    return ["## Addresses to change", "", *notes, ""] if notes else []


def render(model: Model, ctx: Context) -> str:
    spec = model.spec
    lines = [f"<!-- {ctx.header} -->", "", "# memwatch on Kubernetes", "",
             "`kubectl apply --server-side -k .` applies every object of "
             "`kustomization.yaml`.", "", "## Secrets to create", "",
             "The pods read these Secrets; gen-monitoring names them and their keys, never "
             "their values. Create them first.", ""]
    lines += _secrets(model) + _alertmanager(spec) + _data(spec) + _addresses(model)
    return "\n".join(lines).rstrip("\n") + "\n"
