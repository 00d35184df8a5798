"""--format kubernetes, memwatch's own workloads: the exporter and consolidator Deployments,
their Services, the spec's ConfigMap, secrets as references, the SQLite claim, and a
ScrapeConfig for a probe job. (Schemas and wiring: test_kubernetes_schemas.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.errors import SpecError
from memwatch.generators import kubernetes
from memwatch.generators.alerts import GenerationError
from memwatch.generators.model import Model
from memwatch.generators.output import Context
from memwatch.generators.prometheus import probe_job
from memwatch.spec import Spec, parse_spec
from tests.generators.am_support import GEN_MONITORING, ONLY_STORES, example_spec, run, spec_of
from tests.generators.k8s_support import mounted_files, pod_of, selects
from tests.generators.test_kubernetes_schemas import PROBE, WEB

CTX = Context(spec_name="spec.yaml", format="kubernetes")
SELECT = {"app.kubernetes.io/name": "memwatch", "app.kubernetes.io/component": "exporter"}
SPEC_FILE = ("configMap", "memwatch-spec", "monitoring.yaml")


def objs(spec: Spec) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["kind"], o["metadata"]["name"]): o
            for o in kubernetes.objects(Model.of(spec), {}, CTX).values()}


def container(spec: Spec, name: str) -> dict[str, Any]:
    return pod_of(objs(spec)["Deployment", name])["containers"][0]  # type: ignore[no-any-return]


def test_exporter_deployment_for_the_example() -> None:
    o = objs(example_spec())
    dep, svc = o["Deployment", "memwatch-exporter"], o["Service", "memwatch-exporter"]
    pod = pod_of(dep)
    c = pod["containers"][0]
    assert dep["spec"]["replicas"] == 1
    assert c["image"] == "memwatch:local"
    assert c["args"] == ["export", "--spec", "/etc/memwatch/monitoring.yaml",
                         "--listen", "0.0.0.0:9187"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9187, "protocol": "TCP"}]
    for probe in ("readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/health", "port": "metrics"}
    assert c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                              "limits": {"cpu": "500m", "memory": "256Mi"}}
    assert c["securityContext"] == {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert svc["spec"]["ports"] == [{"name": "metrics", "port": 9187, "targetPort": "metrics",
                                     "protocol": "TCP"}]
    assert selects(svc["spec"]["selector"], dep["spec"]["template"]["metadata"]["labels"])
    sm = o["ServiceMonitor", "memwatch"]["spec"]
    assert sm["selector"]["matchLabels"] == SELECT
    assert selects(SELECT, svc["metadata"]["labels"])
    assert sm["endpoints"][0]["port"] == "metrics"
    assert not selects(SELECT, o["Service", "memwatch-consolidator"]["metadata"]["labels"])


def test_secrets_are_mounted_where_the_spec_reads_them_and_env_refs_become_secret_refs(
) -> None:
    spec = example_spec()  # mem0: dsn env:MEM0_DSN, clawmongo: uri env:CLAWMONGO_URI,
    c = container(spec, "memwatch-exporter")  # notes: dsn_file /run/secrets/notes_dsn
    assert c["env"] == [
        {"name": "MEM0_DSN", "valueFrom": {"secretKeyRef": {"name": "memwatch-mem0",
                                                            "key": "dsn"}}},
        {"name": "CLAWMONGO_URI", "valueFrom": {"secretKeyRef": {"name": "memwatch-clawmongo",
                                                                 "key": "uri"}}}]
    assert mounted_files(pod_of(objs(spec)["Deployment", "memwatch-exporter"])) == {
        "/etc/memwatch/monitoring.yaml": SPEC_FILE,
        "/run/secrets/notes_dsn": ("secret", "memwatch-notes", "dsn")}
    spec = spec_of(PROBE)
    assert [e["name"] for e in container(spec, "memwatch-exporter")["env"]] == ["PGPASS"]
    assert mounted_files(pod_of(objs(spec)["Deployment", "memwatch-exporter"])) == {
        "/etc/memwatch/monitoring.yaml": SPEC_FILE,
        "/run/secrets/mem0/dsn": ("secret", "memwatch-pg", "dsn")}
    assert mounted_files(pod_of(objs(spec)["Deployment", "memwatch-consolidator"])) == {
        "/etc/memwatch/monitoring.yaml": SPEC_FILE,
        "/run/secrets/consolidator/token": ("secret", "memwatch-consolidator", "bearer_token")}
    assert container(spec, "memwatch-consolidator")["env"] == [
        {"name": "CONSOLIDATOR_DSN", "valueFrom": {"secretKeyRef": {
            "name": "memwatch-consolidator", "key": "dsn"}}}]


def test_stores_sharing_a_file_or_variable_share_its_secret() -> None:
    spec = spec_of("""\
stores:
  - {name: a, preset: sql, backend: postgresql, table: a, dsn_file: /run/secrets/pg/dsn,
     password: env:PG_PASSWORD}
  - {name: b, preset: sql, backend: postgresql, table: b, dsn_file: /run/secrets/pg/dsn,
     password: env:PG_PASSWORD}
""")
    c = container(spec, "memwatch-exporter")
    assert c["env"] == [{"name": "PG_PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "memwatch-a", "key": "password"}}}]
    assert mounted_files(pod_of(objs(spec)["Deployment", "memwatch-exporter"])) == {
        "/etc/memwatch/monitoring.yaml": SPEC_FILE,
        "/run/secrets/pg/dsn": ("secret", "memwatch-a", "dsn")}
    readme = kubernetes.wrap(Model.of(spec), CTX, {})["kubernetes/README.md"]
    assert "memwatch-b" not in readme
    assert "| `memwatch-a` | `dsn` | `memwatch-exporter` | file `/run/secrets/pg/dsn` | " \
           "`stores[1].dsn_file` |" in readme


@pytest.mark.parametrize(("store", "where"), [
    ("{name: pg, preset: mem0-pgvector, dsn: 'postgresql://mem0:S3cretPW@db/mem0'}",
     "stores[1].dsn"),
    ("{name: pg, preset: mem0-pgvector, dsn: 'host=db password=S3cretPW'}", "stores[1].dsn"),
    ("{name: pg, preset: sql, backend: postgresql, table: t, dsn: 'host=db', "
     "password: S3cretPW}", "stores[1].password"),
    ("{name: m, preset: clawmongo, uri: 'mongodb://u:S3cretPW@mongo/'}", "stores[1].uri"),
], ids=["url-dsn", "kv-dsn", "password", "mongo-uri"])
def test_a_secret_written_into_the_spec_is_refused(store: str, where: str) -> None:
    spec = spec_of(f"stores:\n  - {{name: a, preset: files, files: [{{name: f, glob: /x}}]}}"
                   f"\n  - {store}\n")
    with pytest.raises(GenerationError) as err:
        kubernetes.objects(Model.of(spec), {}, CTX)
    assert str(err.value).startswith(f"{where}: a secret written into the spec")
    assert "S3cretPW" not in str(err.value)


def test_other_secrets_written_into_the_spec_are_refused_too(tmp_path: Path) -> None:
    spec = spec_of(ONLY_STORES + "consolidator:\n  storage: {backend: postgresql, "
                   "dsn: 'postgresql://c:S3cretPW@db/c'}\n")
    with pytest.raises(GenerationError, match=r"^consolidator\.storage\.dsn: a secret"):
        kubernetes.objects(Model.of(spec), {}, CTX)
    text = ONLY_STORES + ("prometheus:\n  extra_scrape_configs:\n    - job_name: x\n"
                          "      basic_auth: {username: u, password: S3cretPW}\n")
    with pytest.raises(GenerationError,
                       match=r"^prometheus\.extra_scrape_configs\[0\]\.basic_auth\.password"):
        kubernetes.objects(Model.of(spec_of(text)), {}, CTX)
    (tmp_path / "spec.yaml").write_text(text)  # the command says so, and writes nothing
    proc = run(GEN_MONITORING, "render", "--spec", tmp_path / "spec.yaml", "--out",
               tmp_path / "out", "--format", "kubernetes")
    assert proc.returncode == 2
    assert "basic_auth.password: a secret written into the spec" in proc.stderr
    assert "S3cretPW" not in proc.stderr and not (tmp_path / "out" / "kubernetes").exists()
    # a DSN without a password is no secret: it stays in the spec
    spec = spec_of("stores:\n  - {name: pg, preset: mem0-pgvector, dsn: 'host=db user=m', "
                   "password_file: /run/secrets/pg/password}\n")
    assert container(spec, "memwatch-exporter")["volumeMounts"][1]["mountPath"] == (
        "/run/secrets/pg")


@pytest.mark.parametrize("name", ["examples", "compose"])
def test_the_spec_config_map_is_the_spec(name: str) -> None:
    path = "examples/monitoring.yaml" if name == "examples" else "compose/monitoring.yaml"
    spec = parse_spec(Path(path).read_text(), path)
    o = objs(spec)
    text = o["ConfigMap", "memwatch-spec"]["data"]["monitoring.yaml"]
    assert text.startswith("# generated by gen-monitoring from spec.yaml - DO NOT EDIT\n")
    assert parse_spec(text, "configmap") == spec
    assert parse_spec(text.replace("timeout: 5.0", "timeout: 6.0", 1), "cm") != spec
    for dep in ("memwatch-exporter", "memwatch-consolidator"):
        template = o["Deployment", dep]["spec"]["template"]
        assert len(template["metadata"]["annotations"]["checksum/spec"]) == 64
        assert mounted_files(template["spec"])["/etc/memwatch/monitoring.yaml"] == SPEC_FILE


def test_consolidator_on_sqlite_gets_a_claim_one_replica_and_recreate() -> None:
    o = objs(example_spec())
    dep = o["Deployment", "memwatch-consolidator"]
    c = pod_of(dep)["containers"][0]
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert c["args"] == ["consolidate", "--spec", "/etc/memwatch/monitoring.yaml",
                         "--listen", "0.0.0.0:9188"]
    assert c["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert {"name": "data", "mountPath": "/var/lib/memwatch-consolidator"} in c["volumeMounts"]
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "memwatch-consolidator"}} \
        in pod_of(dep)["volumes"]
    assert o["PersistentVolumeClaim", "memwatch-consolidator"]["spec"] == {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    o = objs(spec_of(WEB))  # an absolute path; reports outside it; size and class set
    c = pod_of(o["Deployment", "memwatch-consolidator"])["containers"][0]
    assert [(m["name"], m["mountPath"]) for m in c["volumeMounts"]] == [
        ("files-etc-memwatch", "/etc/memwatch"), ("data", "/data/consolidator"),
        ("reports", "/var/lib/memwatch-consolidator/reports"), ("tmp", "/tmp")]
    assert o["PersistentVolumeClaim", "memwatch-consolidator"]["spec"] == {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast-ssd"}


def test_consolidator_on_postgresql_scales_without_a_claim() -> None:
    o = objs(spec_of(PROBE))
    dep = o["Deployment", "memwatch-consolidator"]
    assert dep["spec"]["replicas"] == 2 and "strategy" not in dep["spec"]
    assert not [k for k in o if k[0] == "PersistentVolumeClaim"]
    assert [v["name"] for v in pod_of(dep)["volumes"]] == [
        "files-etc-memwatch", "files-run-secrets-consolidator", "tmp"]


def test_several_consolidators_need_shared_storage() -> None:
    with pytest.raises(SpecError) as err:
        spec_of(ONLY_STORES + "kubernetes:\n  consolidator: {replicas: 2}\n")
    assert err.value.problems == [
        "test-spec.yaml:5: kubernetes.consolidator.replicas: more than one consolidator "
        "needs consolidator.storage on postgresql or mongodb (SQLite has one writer)"]


def test_no_consolidator_without_consolidator_url() -> None:
    o = objs(spec_of(ONLY_STORES + "routing: {consolidator_url: null, "
                                   "default_receiver: x, receivers: [{name: x}]}\n"))
    assert sorted(k for k in o if "consolidator" in k[1]) == []


def test_a_probe_job_gets_a_scrape_config_instead_of_a_service_monitor() -> None:
    spec = spec_of(PROBE)
    o = objs(spec)
    assert not [k for k in o if k[0] == "ServiceMonitor"]
    sc = o["ScrapeConfig", "memwatch"]
    assert sc["apiVersion"] == "monitoring.coreos.com/v1alpha1"
    assert sc["metadata"]["namespace"] == "monitoring"
    address = "memwatch-exporter.monitoring.svc:9187"
    assert sc["spec"] == {
        "metricsPath": "/probe", "scrapeInterval": "30s",
        "staticConfigs": [{"targets": ["alpha", "pg"]},
                          {"targets": ["slow"], "labels": {"__scrape_timeout__": "21s"}}],
        "relabelings": [
            {"sourceLabels": ["__address__"], "targetLabel": "__param_store"},
            {"sourceLabels": ["__param_store"], "targetLabel": "instance"},
            {"targetLabel": "__address__", "replacement": address},
            {"action": "replace", "targetLabel": "job", "replacement": "memwatch"}]}
    plain = probe_job(spec, Model.of(spec).exporter_jobs[0])  # the file format's same job
    assert plain["static_configs"] == sc["spec"]["staticConfigs"]
    assert plain["relabel_configs"][-1]["replacement"] == "exporter:9187"


def test_several_exporter_jobs_get_a_deployment_each() -> None:
    o = objs(spec_of(WEB))
    mongo, agent = (pod_of(o["Deployment", f"memwatch-exporter-memwatch-{n}"])["containers"][0]
                    for n in ("mongo", "agent"))
    assert "--store" not in mongo["args"] and agent["args"][-2:] == ["--store", "agent"]
    sm = o["ServiceMonitor", "memwatch-mongo"]["spec"]["selector"]["matchLabels"]
    assert [k[1] for k in o if k[0] == "Service" and selects(sm, o[k]["metadata"]["labels"])] \
        == ["memwatch-exporter-memwatch-mongo"]
    relabel = o["ScrapeConfig", "memwatch-agent"]["spec"]["relabelings"][2]
    assert relabel["replacement"] == "memwatch-exporter-memwatch-agent:9187"
    # the web config (auth, TLS) beside the spec: one volume, two sources; TCP probes
    assert mounted_files({"containers": [mongo], "volumes": pod_of(
        o["Deployment", "memwatch-exporter-memwatch-mongo"])["volumes"]}) == {
        "/etc/memwatch/monitoring.yaml": SPEC_FILE,
        "/etc/memwatch/web.yml": ("secret", "memwatch-exporter", "web-config.yml"),
        "/run/secrets/clawmongo/uri": ("secret", "memwatch-mongo", "uri")}
    assert mongo["livenessProbe"]["tcpSocket"] == {"port": "metrics"}
    assert {"name": "data-0", "mountPath": "/data/openclaw", "readOnly": False} \
        in agent["volumeMounts"]


def test_the_namespace_is_every_objects() -> None:
    o = kubernetes.objects(Model.of(spec_of(PROBE)),
                           {"alertmanager/alertmanager.yml": "route: {}\n"}, CTX)
    assert {n: obj["metadata"].get("namespace") for n, obj in o.items()} == {
        n: "monitoring" for n in o}
    assert "namespace" not in objs(example_spec())["Deployment", "memwatch-exporter"][
        "metadata"]


@pytest.mark.parametrize(("extra", "message"), [
    ("stores:\n  - {name: p, preset: mem0-pgvector, dsn_file: /etc/mem0.dsn}\n",
     "^stores\\[0\\].dsn_file, the spec: a volume at /etc would hide the image's own files"),
    ("stores:\n  - {name: p, preset: mem0-pgvector, dsn_file: run/dsn}\n",
     "stores\\[0\\].dsn_file: 'run/dsn' is not an absolute path"),
    ("stores:\n  - {name: p, preset: mem0-pgvector, dsn_file: /data/s/dsn}\n"
     "kubernetes:\n  exporter: {volumes: [{mount_path: /data, source: {emptyDir: {}}}]}\n",
     "/data/s and /data \\(kubernetes.exporter.volumes\\[0\\].mount_path\\) would be nested"),
    ("stores:\n  - {name: p, preset: mem0-pgvector, dsn_file: /etc/memwatch/monitoring.yaml}"
     "\n", "stores\\[0\\].dsn_file: /etc/memwatch/monitoring.yaml is also where the spec is"),
    (ONLY_STORES + "consolidator: {storage: {path: ~/c.sqlite}}\n",
     "consolidator.storage.path: '~/c.sqlite' starts with ~"),
], ids=["system-dir", "relative", "nested", "same-path", "home"])
def test_mounts_that_cannot_work_are_errors(extra: str, message: str) -> None:
    with pytest.raises(GenerationError, match=message):
        kubernetes.objects(Model.of(spec_of(extra)), {}, CTX)


def test_readme_names_the_secrets_to_create_never_a_value() -> None:
    files = kubernetes.wrap(Model.of(spec_of(PROBE)), CTX, {})
    readme = files["kubernetes/README.md"]
    assert readme.startswith("<!-- generated by gen-monitoring from spec.yaml - DO NOT EDIT")
    assert "| `memwatch-pg` | `password` | `memwatch-exporter` | env `PGPASS` | " \
           "`stores[2].password` |" in readme
    assert ("kubectl create secret generic memwatch-consolidator -n monitoring "
            "--from-file=dsn=./memwatch-consolidator/dsn "
            "--from-file=bearer_token=./memwatch-consolidator/bearer_token") in readme
    assert "routing.consolidator_url" not in readme  # it names the Service already
    readme = kubernetes.wrap(Model.of(example_spec()), CTX, {})["kubernetes/README.md"]
    assert "| openclaw | `stores[0].path` | `~/.openclaw/memory/openclaw-mem.sqlite` | " \
           "**nothing**: add a volume |" in readme
    assert "| `memwatch-alerting` | `slack_api_url` | " \
           "`routing.receivers[0].slack[0].api_url_file` |" in readme
    assert "`http://memwatch-consolidator:9188/webhook/alerts`" in readme
    assert yaml.safe_load(files["kubernetes/kustomization.yaml"])["resources"] == sorted(
        rel.removeprefix("kubernetes/") for rel in files
        if rel.endswith(".yaml") and rel != "kubernetes/kustomization.yaml")
