"""compose/docker-compose.yml: valid against the Compose Specification, every mounted path
and secret present, state on named volumes, addresses consistent with the rendered tree."""

from __future__ import annotations

import copy
import posixpath
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.spec import OpenclawMemoryCoreStore, OpenclawMemStore, Spec, load_spec
from tests.compose.conftest import COMPOSE_DIR, COMPOSE_FILE, ROOT

SPEC_PATH = COMPOSE_DIR / "monitoring.yaml"
RENDERED = COMPOSE_DIR / "rendered"
SPEC_IN_CONTAINER = "/etc/memwatch/monitoring.yaml"
# Absolute host paths the stack mounts on purpose (node_exporter reads the host's /proc and
# /sys through its root); every other host path must be in the repository.
HOST_PATHS = {"/"}
# Where each stateful service keeps its state.
STATE = {"prometheus": "/prometheus", "alertmanager": "/alertmanager",
         "grafana": "/var/lib/grafana"}
_VAR = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


def interpolate(value: str) -> str:
    """Compose's `${VAR:-default}` with no variable set: every variable needs a default."""
    def sub(m: re.Match[str]) -> str:
        assert m.group("default") is not None, f"{value}: ${{{m.group('name')}}} has no default"
        return m.group("default")
    return _VAR.sub(sub, value)


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) of each short-syntax volume, sources interpolated."""
    out = []
    for v in service.get("volumes", []):
        assert isinstance(v, str), f"long-syntax volume not expected: {v}"
        parts = interpolate(v).split(":")
        out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    return out


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def secret_targets(service: dict[str, Any]) -> dict[str, str]:
    """target path -> secret name; a bare name or no target mounts at /run/secrets/NAME."""
    out = {}
    for s in service.get("secrets", []):
        name = s if isinstance(s, str) else s["source"]
        target = f"/run/secrets/{name}" if isinstance(s, str) else s.get(
            "target", f"/run/secrets/{name}")
        if not target.startswith("/"):
            target = f"/run/secrets/{target}"
        out[target] = name
    return out


def option(command: list[str], flag: str) -> str:
    return command[command.index(flag) + 1]


def flag_value(command: list[str], prefix: str) -> str:
    return next(c.split("=", 1)[1] for c in command if c.startswith(prefix + "="))


def memwatch_services(compose: dict[str, Any], sub: str) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items()
            if "build" in s and s["command"][0] == sub}


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load_spec(SPEC_PATH)


def load_rendered(rel: str) -> Any:
    return yaml.safe_load((RENDERED / rel).read_text())


# --- the Compose Specification -----------------------------------------------------------

def test_validates_against_the_compose_spec_schema(schema_validator: Any,
                                                   compose: dict[str, Any]) -> None:
    errors = sorted(schema_validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    assert set(compose["services"]) == {
        "prometheus", "alertmanager", "grafana", "node-exporter", "exporter-openclaw",
        "exporter-openclaw-core",
        "exporter-mem0", "exporter-clawmongo", "consolidator"}


@pytest.mark.parametrize(("path", "old", "new", "needle"), [
    (("services", "prometheus"), "image", "imgae", "imgae"),
    ((), "volumes", "volumess", "volumess"),
    (("services", "grafana", "healthcheck"), "interval", "intervall", "intervall"),
    (("services", "exporter-mem0"), "restart", "restartt", "restartt"),
])
def test_a_typo_fails_the_schema(schema_validator: Any, compose: dict[str, Any],
                                 path: tuple[str, ...], old: str, new: str,
                                 needle: str) -> None:
    broken = copy.deepcopy(compose)
    node = broken
    for key in path:
        node = node[key]
    node[new] = node.pop(old)
    messages = [e.message for e in schema_validator.iter_errors(broken)]
    assert any(needle in m for m in messages), messages


def test_a_wrong_type_fails_the_schema(schema_validator: Any, compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["prometheus"]["ports"] = "9090:9090"   # a list, not a string
    assert list(schema_validator.iter_errors(broken))


def test_compose_spec_package_parses_and_validates(compose_text: str) -> None:
    try:
        from compose_spec import PyOptions
    except ImportError as exc:  # pragma: no cover - the test extra installs it
        pytest.skip(f"PyPI compose-spec 0.2.1 is not installed ({exc}); "
                    "the JSON Schema tests still ran")
    compose_text = interpolate(compose_text)  # as `docker compose` does before parsing
    parsed = PyOptions(apply_merge=True).from_yaml(compose_text)
    parsed.validate()  # every network, volume and secret a service uses is defined
    assert sorted(parsed.service_names()) == sorted(yaml.safe_load(compose_text)["services"])
    with pytest.raises(ValueError, match="imgae"):
        PyOptions(apply_merge=True).from_yaml(
            compose_text.replace("image: prom/prometheus", "imgae: prom/prometheus"))
    undefined = PyOptions(apply_merge=True).from_yaml(
        compose_text.replace("secrets: [mem0_dsn]", "secrets: [mem0_dns]"))
    with pytest.raises(ValueError, match="mem0_dns"):
        undefined.validate()


# --- files: mounts and secrets -------------------------------------------------------------

def test_every_bind_mount_exists_in_the_repository(compose: dict[str, Any]) -> None:
    checked = 0
    for name, service in compose["services"].items():
        for source, _target, _mode in mounts(service):
            if not is_bind(source):
                continue
            if source.startswith("/"):
                assert source in HOST_PATHS, f"{name}: unexpected host path {source}"
                continue
            path = (COMPOSE_DIR / source).resolve()
            assert path.exists(), f"{name}: {source} does not exist (relative to compose/)"
            assert ROOT in path.parents, f"{name}: {source} is outside the repository"
            checked += 1
    assert checked >= 10


def test_every_secret_has_an_example_and_the_real_files_are_ignored(
        compose: dict[str, Any]) -> None:
    defined = compose["secrets"]
    for name, secret in defined.items():
        assert set(secret) == {"file"}, f"{name}: a file secret, nothing else"
        real = (COMPOSE_DIR / secret["file"]).resolve()
        assert real.parent == COMPOSE_DIR / "secrets"
        example = real.with_name(real.name + ".example")
        assert example.is_file(), f"{name}: {example.relative_to(ROOT)} missing"
        assert "CHANGE" in example.read_text(), f"{example}: a template, not a secret"
        ignored = subprocess.run(["git", "check-ignore", "-q", str(real)], cwd=ROOT)
        assert ignored.returncode == 0, f"{real} would be committed"
    used = {n for s in compose["services"].values() for n in secret_targets(s).values()}
    assert used == set(defined), "every defined secret is used and every used one defined"
    readme = (COMPOSE_DIR / "secrets" / "README.md").read_text()
    for name in defined:
        assert f"`{name}`" in readme, f"{name} not described in compose/secrets/README.md"


def _file_keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {v for k, v in node.items() if k.endswith("_file") and isinstance(v, str)}
        return found.union(*(_file_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_file_keys(v) for v in node))
    return set()


def test_alertmanager_secrets_are_mounted_where_its_config_reads_them(
        compose: dict[str, Any]) -> None:
    config = load_rendered("alertmanager/alertmanager.yml")
    read = _file_keys(config)
    assert len(read) == 3, read  # consolidator token, Slack URL, PagerDuty key
    assert read == set(secret_targets(compose["services"]["alertmanager"]))


def test_memwatch_secrets_are_mounted_where_the_spec_reads_them(
        compose: dict[str, Any], spec: Spec) -> None:
    exporters = memwatch_services(compose, "export")
    for name, service in exporters.items():
        store = spec.store(option(service["command"], "--store"))
        wanted = {str(getattr(store, k)) for k in ("dsn_file", "uri_file", "password_file")
                  if getattr(store, k, None) is not None}
        assert wanted == set(secret_targets(service)), name
    consolidator = compose["services"]["consolidator"]
    assert str(spec.consolidator.bearer_token_file) in secret_targets(consolidator)
    # Alertmanager sends the same token the consolidator checks.
    am = secret_targets(compose["services"]["alertmanager"])
    assert am[str(spec.routing.consolidator_bearer_token_file)] == \
        secret_targets(consolidator)[str(spec.consolidator.bearer_token_file)]
    grafana = compose["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"] in secret_targets(grafana)
    assert not any("PASSWORD" in k and not k.endswith("__FILE")
                   for k in grafana["environment"])


# --- state -----------------------------------------------------------------------------

def test_every_stateful_service_keeps_its_state_on_a_named_volume(
        compose: dict[str, Any], spec: Spec) -> None:
    services = compose["services"]
    state = dict(STATE)
    assert flag_value(services["prometheus"]["command"], "--storage.tsdb.path") == \
        state["prometheus"]
    assert flag_value(services["alertmanager"]["command"], "--storage.path") == \
        state["alertmanager"]
    assert spec.consolidator.storage.backend == "sqlite"
    state["consolidator"] = posixpath.dirname(spec.consolidator.storage.path)
    for name, path in state.items():
        named = {t: s for s, t, _ in mounts(services[name]) if not is_bind(s)}
        assert path in named, f"{name}: {path} is not on a named volume"
        assert named[path] in compose["volumes"], f"{name}: volume {named[path]} undeclared"
    used = {s for svc in services.values() for s, _, _ in mounts(svc) if not is_bind(s)}
    assert used == set(compose["volumes"])


# SQLite WAL directories: writable, for the -shm a reader needs while no writer has the
# database open, and only by an exporter that runs as the store's owner (one of another
# user would leave a -shm that blocks the writer).
WAL_DIRS = {("exporter-openclaw", "/data/openclaw"),
            ("exporter-openclaw-core", "/data/openclaw-agent")}
OWNER = "${OPENCLAW_UID:-1000}:${OPENCLAW_GID:-1000}"


def test_stores_are_mounted_read_only_and_configs_too(compose: dict[str, Any],
                                                      spec: Spec) -> None:
    for name, service in compose["services"].items():
        for source, target, mode in mounts(service):
            if not is_bind(source):
                continue
            if (name, target) in WAL_DIRS:
                assert "ro" not in mode.split(","), f"{name}: {target} needs its -shm"
                assert service.get("user") == OWNER, f"{name}: not the store's owner"
            else:
                assert "ro" in mode.split(","), f"{name}: {source} is mounted writable"
    openclaw = spec.store("openclaw")
    assert isinstance(openclaw, OpenclawMemStore)
    binds = {t for s, t, _ in mounts(compose["services"]["exporter-openclaw"]) if is_bind(s)}
    for path in (openclaw.path, openclaw.spool):
        assert path and posixpath.dirname(path) in binds, path
    core = spec.store("openclaw-core")
    assert isinstance(core, OpenclawMemoryCoreStore)
    binds = {t for s, t, _ in mounts(compose["services"]["exporter-openclaw-core"])
             if is_bind(s)}
    assert posixpath.dirname(core.path) in binds and core.workspace in binds


# --- consistency with the rendered tree -------------------------------------------------

def test_rendered_tree_has_no_drift() -> None:
    res = subprocess.run([sys.executable, "-m", "memwatch.generators", "check", "--spec",
                          "compose/monitoring.yaml", "--out", "compose/rendered"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    text = (RENDERED / "prometheus" / "prometheus.yml").read_text()
    # the spec named relative to --out (compose/rendered): the same bytes however it is given
    assert text.startswith("# generated by gen-monitoring from ../monitoring.yaml")


def _port(service: dict[str, Any], default: int) -> int:
    cmd = service.get("command", [])
    if "--listen" in cmd:
        return int(option(cmd, "--listen").rpartition(":")[2])
    return default


def test_scrape_jobs_match_the_root_tree_and_target_compose_services(
        compose: dict[str, Any], spec: Spec) -> None:
    services = compose["services"]
    ports = {"prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "node-exporter": 9100}
    config = load_rendered("prometheus/prometheus.yml")
    root = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: [t for sc in j["static_configs"] for t in sc["targets"]]
            for j in config["scrape_configs"]}
    # The root tree's jobs, same names, same order (so rules and dashboards carry over),
    # plus the consolidator's /metrics, which only the compose stack runs.
    assert list(jobs) == [j["job_name"] for j in root["scrape_configs"]] + ["consolidator"]
    for job, targets in jobs.items():
        for target in targets:
            host, _, port = target.rpartition(":")
            assert host in services, f"job {job}: {target} is not a compose service"
            assert int(port) == _port(services[host], ports.get(host, 0)), target
    exporters = memwatch_services(compose, "export")
    assert sorted(jobs["memwatch"]) == sorted(f"{n}:9187" for n in exporters)
    exported = sorted(option(s["command"], "--store") for s in exporters.values())
    assert exported == sorted(s.name for s in spec.stores), "one exporter per store"
    am = [t for a in config["alerting"]["alertmanagers"] for sc in a["static_configs"]
          for t in sc["targets"]]
    assert am == ["alertmanager:9093"]
    assert jobs["consolidator"] == [f"consolidator:{_port(services['consolidator'], 0)}"]


def test_exporter_and_consolidator_commands(compose: dict[str, Any], spec: Spec) -> None:
    for name, service in {**memwatch_services(compose, "export"),
                          **memwatch_services(compose, "consolidate")}.items():
        cmd = service["command"]
        assert option(cmd, "--spec") == SPEC_IN_CONTAINER, name
        assert ("./monitoring.yaml", SPEC_IN_CONTAINER, "ro") in mounts(service), name
        listen = "0.0.0.0:9188" if cmd[0] == "consolidate" else "0.0.0.0:9187"
        assert option(cmd, "--listen") == listen, name
        assert service["image"].startswith("memwatch:")
        assert service["build"] == {"context": "..", "dockerfile": "compose/Dockerfile"}
    assert spec.consolidator.listen == "0.0.0.0:9188"


def test_alertmanager_grafana_and_consolidator_addresses(compose: dict[str, Any],
                                                         spec: Spec) -> None:
    services = compose["services"]
    am = load_rendered("alertmanager/alertmanager.yml")
    hook = next(r for r in am["receivers"] if r["name"] == "consolidator")
    url = hook["webhook_configs"][0]["url"]
    assert url == f"http://consolidator:{_port(services['consolidator'], 0)}/webhook/alerts"
    ds = load_rendered("grafana/provisioning/datasources/memwatch.yml")
    assert ds["datasources"][0]["url"] == "http://prometheus:9090"
    assert spec.consolidator.prometheus_url == "http://prometheus:9090"


def _container_to_host(service: dict[str, Any], path: str) -> Path | None:
    """The host file behind a container path, through the service's bind mounts."""
    for source, target, _ in mounts(service):
        if is_bind(source) and (path == target or path.startswith(target + "/")):
            return (COMPOSE_DIR / source / path[len(target):].lstrip("/")).resolve()
    return None


def test_prometheus_rule_files_resolve_inside_the_container(compose: dict[str, Any]) -> None:
    prom = compose["services"]["prometheus"]
    config_path = flag_value(prom["command"], "--config.file")
    host = _container_to_host(prom, config_path)
    assert host == (RENDERED / "prometheus" / "prometheus.yml").resolve()
    config = yaml.safe_load(host.read_text())
    for rule_file in config["rule_files"]:  # relative to the config file's directory
        in_container = posixpath.normpath(posixpath.join(posixpath.dirname(config_path),
                                                         rule_file))
        rules = _container_to_host(prom, in_container)
        assert rules is not None and rules.is_file(), f"{rule_file} -> {in_container}"


def test_grafana_reads_the_rendered_provisioning_and_dashboards(
        compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    provider = load_rendered("grafana/provisioning/dashboards/memwatch.yml")
    dash_path = provider["providers"][0]["options"]["path"]
    dashboards = _container_to_host(grafana, dash_path)
    assert dashboards == (RENDERED / "dashboards").resolve()
    assert len(list(dashboards.glob("*.json"))) >= 2
    prov = _container_to_host(grafana, "/etc/grafana/provisioning/datasources/memwatch.yml")
    assert prov is not None and prov.is_file()


# --- images and health ---------------------------------------------------------------

def test_images_are_pinned(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        if "build" in service:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest" and re.search(r"\d+\.\d+", tag), \
            f"{name}: {image} is not pinned"
    wanted = {"prometheus": "prom/prometheus", "alertmanager": "prom/alertmanager",
              "grafana": "grafana/grafana"}
    for name, repo in wanted.items():
        assert compose["services"][name]["image"].startswith(repo + ":")


def test_every_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check["test"][0] == "CMD" and len(check["test"]) > 1, name
        assert "interval" in check and "retries" in check, name


def test_compose_file_path() -> None:
    assert COMPOSE_FILE.name == "docker-compose.yml" and COMPOSE_FILE.is_file()


def test_rendered_tree_passes_promtool_and_amtool() -> None:
    """promtool check/test rules, promtool check config, amtool check-config (installed by
    scripts/bootstrap.sh): the rule tests of three exporter targets in one job included."""
    res = subprocess.run([sys.executable, "-m", "memwatch.generators", "lint", "--out",
                          "compose/rendered"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count("\nok") + res.stdout.startswith("ok") >= 5, res.stdout
    assert "FAILED" not in res.stdout
    alerts = (RENDERED / "rules" / "alerts.yml").read_text()
    assert alerts.count("alert: MemwatchExporterDown") == 1  # one rule for the job
