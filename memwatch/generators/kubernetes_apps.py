"""memwatch itself on Kubernetes: the exporter and the consolidator as Deployments.

- the spec as the ConfigMap `memwatch-spec`, mounted at /etc/memwatch/monitoring.yaml (the
  validated spec written back, so a comment or an unknown key never reaches the cluster;
  a secret written into it is refused, kubernetes_secrets.check_inline);
- one exporter Deployment and Service per exporter job (`memwatch-exporter`, or
  `memwatch-exporter-<job>` for several), port `metrics`, the stores' secrets mounted as files
  where the spec reads them and `env:VAR` references as `secretKeyRef`s, the data volumes of
  `kubernetes.exporter.volumes` (read-only unless `read_only: false`);
- the consolidator (unless `routing.consolidator_url` is null): Deployment and Service, and
  for SQLite a PersistentVolumeClaim where its database lies (one replica, `Recreate`).

Every file a pod reads from a ConfigMap or Secret is one item of a projected volume per
directory (updates reach it, unlike a subPath mount). Pods run as uid 10001 (the image's
user) with a read-only root file system, no privilege escalation, no capabilities.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Any

from memwatch.generators import yamlemit
from memwatch.generators.alerts import GenerationError
from memwatch.generators.derived import ExporterJob
from memwatch.generators.kubernetes_secrets import (
    SecretRef,
    consolidator_refs,
    dns_name,
    env_entries,
    store_refs,
)
from memwatch.generators.model import Model
from memwatch.generators.output import Context
from memwatch.spec import Spec
from memwatch.spec.monitoring import KubernetesResources
from memwatch.spec.types import parse_listen

NAME = "memwatch"
SPEC_CONFIG_MAP = "memwatch-spec"
SPEC_DIR, SPEC_KEY = "/etc/memwatch", "monitoring.yaml"
SPEC_PATH = f"{SPEC_DIR}/{SPEC_KEY}"
WORKDIR = "/var/lib/memwatch-consolidator"  # compose/Dockerfile's WORKDIR, the image's user's
UID = 10001  # compose/Dockerfile's user
READ_ONLY_MODE = 0o440  # files of Secrets and the spec: the pod's group (fsGroup) reads them
# Where a projected volume would hide what the image needs
SYSTEM_DIRS = frozenset({"/", "/bin", "/dev", "/etc", "/home", "/lib", "/lib64", "/opt",
                         "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr",
                         "/usr/local", "/var", "/var/lib", WORKDIR})
Obj = dict[str, Any]
MANAGED_BY = {"app.kubernetes.io/managed-by": "gen-monitoring"}


def labels(component: str, instance: str | None = None) -> dict[str, str]:
    """The selector labels of a workload (its objects add app.kubernetes.io/managed-by)."""
    out = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/component": component}
    if instance is not None:
        out["app.kubernetes.io/instance"] = label_value(instance)
    return out


def label_value(text: str) -> str:
    """A label value (63 characters of [-._a-zA-Z0-9], alphanumeric at both ends)."""
    value = "-".join(filter(None, re.split(r"[^-._a-zA-Z0-9]+", text)))
    return value[:63].strip("-._")


def meta(name: str, select: dict[str, str]) -> Obj:
    return {"name": name, "labels": {**select, **MANAGED_BY}}


def spec_text(spec: Spec, ctx: Context) -> str:
    data = spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    data["stores"] = [{"name": s.pop("name"), "preset": s.pop("preset"), **s}
                      for s in data["stores"]]
    return (f"# {ctx.header}\n# the validated spec, written back: edit {ctx.spec_name} and "
            f"render again\n" + yamlemit.dump(data))


def spec_config_map(text: str) -> Obj:
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta(SPEC_CONFIG_MAP, labels("config")),
            "data": {SPEC_KEY: text}}


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _check_dir(path: str, where: str, taken: dict[str, str]) -> None:
    if path in SYSTEM_DIRS:
        raise GenerationError(f"{where}: a volume at {path} would hide the image's own files; "
                              f"put it in a directory of its own (e.g. /run/secrets/...)")
    for other, by in taken.items():
        if _under(path, other) or _under(other, path):
            raise GenerationError(f"{where}: {path} and {other} ({by}) would be nested "
                                  f"mounts; give them separate directories")
    taken[path] = where


# A file a pod reads from a ConfigMap or Secret: (kind, name, key, the spec key naming it)
FileSource = tuple[str, str, str, str]


def file_volumes(files: dict[str, FileSource], taken: dict[str, str]
                 ) -> tuple[list[Obj], list[Obj]]:
    """Volumes and mounts for files from ConfigMaps and Secrets (kind `configMap` or
    `secret`): one projected volume per top directory, read-only."""
    roots: list[str] = []
    for d in sorted({posixpath.dirname(p) for p in files}):
        if not any(_under(d, r) for r in roots):
            roots.append(d)
    volumes: list[Obj] = []
    mounts: list[Obj] = []
    for root in roots:
        sources: dict[tuple[str, str], list[Obj]] = {}
        wheres = []
        for path, (kind, name, key, where) in sorted(files.items()):
            if _under(path, root):
                sources.setdefault((kind, name), []).append(
                    {"key": key, "path": posixpath.relpath(path, root)})
                wheres.append(where)
        _check_dir(root, ", ".join(wheres), taken)
        vol = dns_name("files", root, limit=60) or "files"
        vol += f"-{len(volumes)}" if any(v["name"] == vol for v in volumes) else ""
        volumes.append({"name": vol, "projected": {"defaultMode": READ_ONLY_MODE, "sources": [
            {kind: {"name": name, "items": items}} for (kind, name), items in sources.items()]}})
        mounts.append({"name": vol, "mountPath": root, "readOnly": True})
    return volumes, mounts


def secret_files(refs: list[SecretRef]) -> dict[str, FileSource]:
    """The spec and every secret file of `refs`, by the path the pod reads it at."""
    files = {SPEC_PATH: ("configMap", SPEC_CONFIG_MAP, SPEC_KEY, "the spec")}
    for r in refs:
        if r.path is None:
            continue
        if r.path in files and files[r.path][:3] != ("secret", r.secret, r.key):
            raise GenerationError(f"{r.where}: {r.path} is also where {files[r.path][3]} "
                                  f"is mounted")
        files.setdefault(r.path, ("secret", r.secret, r.key, r.where))
    return files


def _resources(r: KubernetesResources) -> Obj:
    return {k: dict(v) for k, v in (("requests", r.requests), ("limits", r.limits)) if v}


def _probe(port: str, path: str | None, period: int, delay: int = 0) -> Obj:
    action = {"httpGet": {"path": path, "port": port}} if path else {"tcpSocket": {"port": port}}
    return {**action, **({"initialDelaySeconds": delay} if delay else {}),
            "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": 3}


def container(name: str, spec: Spec, args: list[str], port: tuple[str, int],
              **extra: Any) -> Obj:
    """A container of the memwatch image; `extra` (env, resources, probes, volumeMounts) in
    that order, those given."""
    out: Obj = {"name": name, "image": spec.kubernetes.image, "imagePullPolicy": "IfNotPresent",
                "args": args, "ports": [{"name": port[0], "containerPort": port[1],
                                         "protocol": "TCP"}]}
    out.update((k, v) for k, v in extra.items() if v)
    out["securityContext"] = {"allowPrivilegeEscalation": False,
                              "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    return out


def deployment(name: str, select: dict[str, str], replicas: int, pod: Obj,
               spec_sha: str, recreate: bool = False) -> Obj:
    """`recreate`: the old pod goes before the new one starts (one SQLite writer)."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": meta(name, select),
            "spec": {"replicas": replicas, "selector": {"matchLabels": select},
                     **({"strategy": {"type": "Recreate"}} if recreate else {}),
                     "template": {
                         "metadata": {"labels": select,
                                      "annotations": {"checksum/spec": spec_sha}},
                         "spec": {"automountServiceAccountToken": False,
                                  "securityContext": {
                                      "runAsNonRoot": True, "runAsUser": UID,
                                      "runAsGroup": UID, "fsGroup": UID,
                                      "seccompProfile": {"type": "RuntimeDefault"}},
                                  **pod}}}}


def service(name: str, select: dict[str, str], port: tuple[str, int]) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": meta(name, select),
            "spec": {"selector": select, "ports": [
                {"name": port[0], "port": port[1], "targetPort": port[0], "protocol": "TCP"}]}}


def listen_port(address: str, default: int) -> int:
    return parse_listen(address)[1] or default


def spec_sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- the exporter ------------------------------------------------------------------------

def exporter_workloads(model: Model) -> list[tuple[ExporterJob, str]]:
    """(job, its Deployment's name) per exporter job."""
    jobs = model.exporter_jobs
    return [(e, dns_name(NAME, "exporter", *([e.job] if len(jobs) > 1 else []))) for e in jobs]


def exporter_address(spec: Spec, name: str) -> str:
    """The exporter Service as Prometheus reaches it: namespace-qualified when known."""
    port = listen_port(spec.exporter.listen, 9187)
    ns = spec.kubernetes.namespace
    return f"{name}.{ns}.svc:{port}" if ns else f"{name}:{port}"


def data_volumes(spec: Spec, taken: dict[str, str]) -> tuple[list[Obj], list[Obj]]:
    volumes, mounts = [], []
    for i, v in enumerate(spec.kubernetes.exporter.volumes):
        path = posixpath.normpath(v.mount_path)
        _check_dir(path, f"kubernetes.exporter.volumes[{i}].mount_path", taken)
        volumes.append({"name": f"data-{i}", **v.source})
        mounts.append({"name": f"data-{i}", "mountPath": path, "readOnly": v.read_only})
    return volumes, mounts


TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}


def exporter_objects(model: Model, text: str) -> dict[str, Obj]:
    """File name -> object: each exporter job's Deployment and Service."""
    spec = model.spec
    port = ("metrics", listen_port(spec.exporter.listen, 9187))
    workloads = exporter_workloads(model)
    out: dict[str, Obj] = {}
    for exporter, name in workloads:
        job, stores = exporter.job, exporter.stores  # stores: () for all
        served = stores or tuple(s.name for s in spec.stores)
        refs = store_refs(spec, served)
        taken = {"/tmp": "the pod's /tmp"}
        data, data_mounts = data_volumes(spec, taken)
        files, file_mounts = file_volumes(secret_files(refs), taken)
        args = ["export", "--spec", SPEC_PATH, "--listen", f"0.0.0.0:{port[1]}"]
        for store in stores:
            args += ["--store", store]
        health = None if spec.exporter.web_config_file else "/health"  # auth: TCP only
        c = container("exporter", spec, args, port, env=env_entries(refs),
                      resources=_resources(spec.kubernetes.exporter.resources),
                      readinessProbe=_probe(port[0], health, 10),
                      livenessProbe=_probe(port[0], health, 30, delay=10),
                      volumeMounts=file_mounts + data_mounts + [TMP_MOUNT])
        pod = {"containers": [c], "volumes": files + data + [TMP_VOLUME]}
        select = labels("exporter", job)
        suffix = "" if len(workloads) == 1 else "-" + dns_name(job)
        out[f"deployment-exporter{suffix}.yaml"] = deployment(name, select, 1, pod,
                                                              spec_sha(text))
        out[f"service-exporter{suffix}.yaml"] = service(name, select, port)
    return out


# --- the consolidator --------------------------------------------------------------------

def in_workdir(path: str, where: str) -> str:
    """A path as the consolidator resolves it in the pod (relative: to its working dir)."""
    if path.startswith("~"):
        raise GenerationError(f"{where}: {path!r} starts with ~, which names no directory "
                              f"in the pod; give an absolute or a relative path")
    return posixpath.normpath(posixpath.join(WORKDIR, path))


def _consolidator_storage(spec: Spec, taken: dict[str, str]) -> tuple[list[Obj], list[Obj]]:
    """The SQLite PersistentVolumeClaim's mount, and an emptyDir for reports outside it."""
    c = spec.consolidator
    volumes: list[Obj] = []
    mounts: list[Obj] = []
    data_dir = None
    if c.storage.backend == "sqlite":
        data_dir = posixpath.dirname(in_workdir(c.storage.path, "consolidator.storage.path"))
        if data_dir == WORKDIR:  # the image's own data directory: made for this volume
            taken[data_dir] = "consolidator.storage.path"
        else:
            _check_dir(data_dir, "consolidator.storage.path", taken)
        volumes.append({"name": "data", "persistentVolumeClaim": {
            "claimName": dns_name(NAME, "consolidator")}})
        mounts.append({"name": "data", "mountPath": data_dir})
    if c.reports_dir is not None:
        reports = in_workdir(str(c.reports_dir), "consolidator.reports_dir")
        if data_dir is None or not _under(reports, data_dir):
            _check_dir(reports, "consolidator.reports_dir", taken)
            volumes.append({"name": "reports", "emptyDir": {}})
            mounts.append({"name": "reports", "mountPath": reports})
    return volumes, mounts


def persistent_volume_claim(spec: Spec, name: str) -> Obj:
    k = spec.kubernetes.consolidator
    pvc: Obj = {"accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": k.storage_size}}}
    if k.storage_class is not None:
        pvc["storageClassName"] = k.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": meta(name, labels("consolidator")), "spec": pvc}


def consolidator_objects(spec: Spec, text: str) -> dict[str, Obj]:
    """Its Deployment and Service, and the SQLite PersistentVolumeClaim; none without
    routing.consolidator_url (no Alertmanager would send it anything)."""
    if spec.routing.consolidator_url is None:
        return {}
    name, select = dns_name(NAME, "consolidator"), labels("consolidator")
    port = ("http", listen_port(spec.consolidator.listen, 9188))
    refs = consolidator_refs(spec)
    taken = {"/tmp": "the pod's /tmp"}
    data, data_mounts = _consolidator_storage(spec, taken)
    files, file_mounts = file_volumes(secret_files(refs), taken)
    c = container("consolidator", spec,
                  ["consolidate", "--spec", SPEC_PATH, "--listen", f"0.0.0.0:{port[1]}"], port,
                  env=env_entries(refs),
                  resources=_resources(spec.kubernetes.consolidator.resources),
                  # ready while its storage answers; alive while it serves HTTP
                  readinessProbe=_probe(port[0], "/health", 10),
                  livenessProbe=_probe(port[0], "/metrics", 30, delay=10),
                  volumeMounts=file_mounts + data_mounts + [TMP_MOUNT])
    c["workingDir"] = WORKDIR
    pod = {"containers": [c], "volumes": files + data + [TMP_VOLUME]}
    sqlite = spec.consolidator.storage.backend == "sqlite"
    dep = deployment(name, select, spec.kubernetes.consolidator.replicas, pod, spec_sha(text),
                     recreate=sqlite)
    out = {"deployment-consolidator.yaml": dep,
           "service-consolidator.yaml": service(name, select, port)}
    if sqlite:
        out["persistentvolumeclaim-consolidator.yaml"] = persistent_volume_claim(spec, name)
    return out
