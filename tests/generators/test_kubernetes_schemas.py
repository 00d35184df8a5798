"""--format kubernetes, memwatch's own workloads: every core object validated offline against
the Kubernetes OpenAPI schemas (kubernetes-validate, strict) and the API server's own rules,
the objects wired to each other, and the containers' arguments starting the real commands.
The Prometheus Operator's kinds are held to their shape in test_kubernetes*.py."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.generators import kubernetes
from memwatch.generators.model import Model
from memwatch.generators.output import Context
from memwatch.generators.pipeline import render_all
from memwatch.spec import Spec, parse_spec
from tests.generators.am_support import REPO, example_spec, free_port, spec_of
from tests.generators.k8s_support import (
    CRDS,
    api_problems,
    pod_of,
    schema_problems,
    wiring_problems,
)

CTX = Context(spec_name="spec.yaml", format="kubernetes")
PROBE = """\
stores:
  - {name: alpha, preset: files, files: [{name: dumps, glob: /var/backups/alpha/*.dump}]}
  - {name: slow, preset: files, timeout: 20s,
     files: [{name: dumps, glob: /var/backups/slow/*.dump}]}
  - {name: pg, preset: mem0-pgvector, dsn_file: /run/secrets/mem0/dsn, password: env:PGPASS}
prometheus:
  exporters: [{job: memwatch, targets: ['exporter:9187'], probe: true}]
routing:
  consolidator_url: http://memwatch-consolidator.monitoring.svc:9188/webhook/alerts
consolidator:
  storage: {backend: postgresql, dsn: env:CONSOLIDATOR_DSN}
  bearer_token_file: /run/secrets/consolidator/token
kubernetes:
  namespace: monitoring
  image: registry.example.com/memwatch:0.9.0
  exporter:
    volumes:
      - {mount_path: /var/backups, source: {persistentVolumeClaim: {claimName: backups}}}
  consolidator: {replicas: 2}
"""
WEB = """\
exporter: {web_config_file: /etc/memwatch/web.yml}
stores:
  - {name: mongo, preset: clawmongo, uri_file: /run/secrets/clawmongo/uri}
  - {name: agent, preset: openclaw-mem, path: /data/openclaw/openclaw-mem.sqlite, spool: null}
prometheus:
  exporters: [{job: memwatch-mongo}, {job: memwatch-agent, probe: true, stores: [agent]}]
consolidator:
  storage: {path: /data/consolidator/consolidator.sqlite}
  reports_dir: reports
kubernetes:
  exporter:
    volumes:
      - {mount_path: /data/openclaw, read_only: false,
         source: {hostPath: {path: /home/agent/.openclaw/memory, type: Directory}}}
  consolidator: {storage_size: 5Gi, storage_class: fast-ssd}
"""


def specs() -> dict[str, Spec]:
    return {"examples": example_spec(),
            "compose": parse_spec((REPO / "compose" / "monitoring.yaml").read_text(),
                                  "compose/monitoring.yaml"),
            "probe-postgresql": spec_of(PROBE), "web-config-sqlite": spec_of(WEB)}


def rendered(spec: Spec) -> list[dict[str, Any]]:
    files = render_all(spec, CTX)
    return [yaml.safe_load(text) for rel, text in sorted(files.items())
            if rel.startswith("kubernetes/") and rel.endswith(".yaml")]


@pytest.mark.parametrize("name", ["compose", "examples", "probe-postgresql", "web-config-sqlite"])
def test_every_core_object_validates_against_the_kubernetes_schemas(name: str) -> None:
    objs = rendered(specs()[name])
    core = [o for o in objs if o["kind"] not in CRDS]
    assert {o["kind"] for o in core} >= {"ConfigMap", "Deployment", "Service"}
    for obj in core:
        where = f"{obj['kind']} {obj['metadata']['name']}"
        assert schema_problems(obj) == [], where
        assert api_problems(obj) == [], where
    assert wiring_problems(objs) == []


def test_the_schemas_and_rules_catch_a_broken_deployment() -> None:
    """The checks above can fail: each mistake here is one they must name."""
    objs = {(o["kind"], o["metadata"]["name"]): o for o in rendered(spec_of(PROBE))
            if o["kind"] != "Kustomization"}
    dep = objs["Deployment", "memwatch-exporter"]
    assert schema_problems(dep) == [] and api_problems(dep) == []

    def broken(change: Any) -> dict[str, Any]:
        obj = copy.deepcopy(dep)
        change(obj)
        return obj

    def c(o: dict[str, Any]) -> dict[str, Any]:
        return pod_of(o)["containers"][0]  # type: ignore[no-any-return]

    for change in (lambda o: c(o)["ports"][0].update(containerPort="9187"),
                   lambda o: c(o)["securityContext"].update(readOnlyRootFS=True),
                   lambda o: c(o)["env"][0]["valueFrom"]["secretKeyRef"].pop("key"),
                   lambda o: pod_of(o).pop("containers"),
                   lambda o: o["spec"].pop("selector")):
        assert schema_problems(broken(change)), change
    for change in (lambda o: o["spec"]["selector"]["matchLabels"].update(x="y"),
                   lambda o: c(o)["ports"][0].update(name="metrics_port"),
                   lambda o: c(o)["volumeMounts"][0].update(name="nosuch"),
                   lambda o: c(o)["resources"]["limits"].update(memory="32Mi"),
                   lambda o: o["metadata"].update(name="Memwatch_Exporter")):
        assert api_problems(broken(change)), change
    svc = objs["Service", "memwatch-exporter"]
    svc["spec"]["ports"][0]["targetPort"] = "http"
    assert wiring_problems([dep, svc, objs["ConfigMap", "memwatch-spec"]]) == [
        "Service memwatch-exporter: memwatch-exporter has no port http"]
    assert wiring_problems([dep, svc]) == [
        "Service memwatch-exporter: memwatch-exporter has no port http",
        "memwatch-exporter: ConfigMap memwatch-spec has no monitoring.yaml"]


def test_core_objects_carry_no_secret_value() -> None:
    """The only Secret rendered is Alertmanager's configuration; the pods' secrets are
    references (names and keys), and the spec's ConfigMap holds `env:` and `*_file` only."""
    for name, spec in specs().items():
        objs = rendered(spec)
        assert [o["metadata"]["name"] for o in objs if o["kind"] == "Secret"] == [
            "memwatch-alertmanager"], name
        for o in objs:
            if o["kind"] == "Deployment":
                for c in pod_of(o)["containers"]:
                    assert all(set(e) == {"name", "valueFrom"} for e in c.get("env", []))


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def _serve(args: list[str], cwd: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([str(Path(sys.executable).parent / "memwatch"), *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        try:
            if _get(f"http://127.0.0.1:{port}/health")[0] == 200:
                return proc
        except OSError:
            pass
        assert time.monotonic() < deadline, "did not start"
        time.sleep(0.1)


def _in_pod(args: list[str], spec_file: Path, port: int) -> list[str]:
    """The container's args with the spec's mount path and the listen address local."""
    out = [str(spec_file) if a == "/etc/memwatch/monitoring.yaml" else a for a in args]
    return [f"127.0.0.1:{port}" if a.startswith("0.0.0.0:") else a for a in out]


def test_the_containers_args_start_the_exporter_and_the_consolidator(tmp_path: Path) -> None:
    """What the pods run: the args of each Deployment, the spec as the ConfigMap holds it.
    The consolidator's SQLite database lands in its working directory, which is where the
    claim is mounted."""
    spec = spec_of(f"""\
stores:
  - {{name: alpha, preset: files, files: [{{name: dumps, glob: '{tmp_path}/*.dump'}}]}}
  - {{name: beta, preset: files, files: [{{name: dumps, glob: '{tmp_path}/*.dump'}}]}}
prometheus:
  exporters: [{{job: memwatch, probe: true, stores: [alpha]}}]
consolidator: {{prometheus_url: null}}
""")
    objs = {(o["kind"], o["metadata"]["name"]): o
            for o in kubernetes.objects(Model.of(spec), {}, CTX).values()}
    spec_file = tmp_path / "monitoring.yaml"
    spec_file.write_text(objs["ConfigMap", "memwatch-spec"]["data"]["monitoring.yaml"])
    exporter = pod_of(objs["Deployment", "memwatch-exporter"])["containers"][0]
    assert exporter["args"][-2:] == ["--store", "alpha"]
    port = free_port()
    proc = _serve(_in_pod(exporter["args"], spec_file, port), tmp_path, port)
    try:
        status, body = _get(f"http://127.0.0.1:{port}/probe?store=alpha")
        assert status == 200 and 'memwatch_up{backend="files",store="alpha"} 1.0' in body
        assert _get(f"http://127.0.0.1:{port}/probe?store=beta")[0] == 400  # not served
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    pod = pod_of(objs["Deployment", "memwatch-consolidator"])
    workdir = tmp_path / "workdir"
    workdir.mkdir()
    port = free_port()
    proc = _serve(_in_pod(pod["containers"][0]["args"], spec_file, port), workdir, port)
    try:
        assert json.loads(_get(f"http://127.0.0.1:{port}/health")[1])["storage"] is True
        assert [p.name for p in workdir.iterdir() if p.suffix == ".sqlite"] == [
            "memwatch-consolidator.sqlite"]
        mount = next(m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "data")
        assert mount["mountPath"] == pod["containers"][0]["workingDir"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
