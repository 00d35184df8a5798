"""Dashboards and Grafana provisioning: Grafana's own schema, promtool on every query,
golden files, and the content the issue asks for."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from memwatch.generators import dashboards
from memwatch.generators.grafana import raw_json
from memwatch.generators.grafana_modern import SCHEMA_VERSION
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files
from memwatch.generators.rules import recording_groups
from memwatch.metrics import CONTRACT
from memwatch.spec import Spec, load_spec, parse_spec
from tests.generators.grafana_schema import (
    SchemaUnavailable,
    dashboard_schema,
    package_schema_version,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/monitoring.yaml"
CTX = Context(spec_name=EXAMPLE)
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# Stores, RAM processes with awkward job names, custom tiers and prefixes, exporter jobs.
FULL = """
    stores:
      - name: openclaw
        preset: openclaw-mem
    alerts:
      rules:
        MemoryIngestionStalled: {threshold: 7200}
      ram:
        node_job: node-exporter
        tiers:
          - {ratio: 0.6, severity: info}
          - {ratio: 0.85, severity: critical}
          - {ratio: 0.97, severity: critical}
        processes:
          - {name: mem0-api, job: 'mem0 "api"', limit_bytes: 2147483648}
          - {name: grafana, job: grafana, limit_bytes: 536870912}
    recording:
      drop_windows: [5m, 1h, 24h]
    dashboards:
      title_prefix: Agents
      uid_prefix: agents
      refresh: 1m
      time_from: now-24h
      datasource: Prom
      prometheus_url: https://prom.internal:9090
    prometheus:
      scrape_interval: 15s
      exporters:
        - {job: memwatch-sqlite, targets: ["a:9187"]}
        - {job: memwatch.pg, targets: ["b:9187"]}
"""
NO_RAM = """
    stores:
      - {name: s, preset: files, files: [{name: f, glob: /tmp/x}]}
    alerts:
      ram: {host: false}
"""
# Every preset, a PostgreSQL server row, no consolidator.
EVERY_PRESET = """
    stores:
      - {name: oc, preset: openclaw-mem}
      - {name: core, preset: openclaw-memory-core}
      - {name: hist, preset: mem0-history, path: /h.db}
      - {name: mem0, preset: mem0-pgvector, dsn: 'env:X', expected_dimension: 1536,
         history_store: hist}
      - {name: sql, preset: sql, backend: sqlite, path: /s.db, table: t}
      - {name: f, preset: files, files: [{name: d, glob: /x, max_age: 36h}]}
      - {name: cm, preset: clawmongo, uri: 'env:U'}
      - {name: m0m, preset: mem0-mongodb, uri: 'env:U'}
      - {name: orch, preset: orchestrator, uri: 'env:U'}
      - {name: mg, preset: mongo, uri: 'env:U', database: d, collection: c}
    alerts: {runbook_url: 'https://runbooks.example/memwatch.md'}
    routing:
      consolidator_url: null
      default_receiver: team
      receivers: [{name: team}]
    dashboards: {postgres_exporter_job: postgres}
"""


def spec(text: str) -> Spec:
    return parse_spec(textwrap.dedent(text), "test.yaml")


def render(s: Spec, ctx: Context = CTX) -> Files:
    return dashboards.render(Model.of(s), ctx)


def boards(files: Files) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {
        k: json.loads(v) for k, v in files.items() if k.startswith("dashboards/")}
    return out


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in board["panels"] if p["type"] != "row"]


def row_panels(board: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each row's title -> the panels under it (rows are expanded: the panels follow)."""
    out: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for p in board["panels"]:
        if p["type"] == "row":
            current = out.setdefault(p["title"], [])
        else:
            current.append(p)
    return out


def panel(board: dict[str, Any], title: str, row: str | None = None) -> dict[str, Any]:
    where = board["panels"] if row is None else row_panels(board)[row]
    found: list[dict[str, Any]] = [p for p in where if p.get("title") == title]
    assert len(found) == 1, (title, len(found))
    return found[0]


def exprs(p: dict[str, Any]) -> list[str]:
    return [t["expr"] for t in p["targets"]]


@pytest.fixture(scope="module")
def example_dashboard_files() -> Files:
    return render(load_spec(ROOT / EXAMPLE))


@pytest.fixture(scope="module")
def full_dashboard_files() -> Files:
    return render(spec(FULL))


def as_grafana_reads_it(schema: dict[str, Any]) -> dict[str, Any]:
    """The generated schema, open where Grafana's own is.

    ts-json-schema-generator closes every interface, but Grafana's CUE source
    (kinds/dashboard/dashboard_kind.cue) leaves two open with `...`: #AnnotationQuery
    ("unless datasources have migrated to the target+mapping, they just spread their query
    into the base object") and #AnnotationTarget ("datasource will stick their raw
    DataQuery here"; its limit/matchAny/tags/type are "only required/valid for the grafana
    datasource"). A Prometheus annotation (expr, titleFormat, tagKeys) needs both.
    """
    out = copy.deepcopy(schema)
    defs = out["definitions"]
    defs["AnnotationQuery"]["additionalProperties"] = True
    defs["AnnotationTarget"]["additionalProperties"] = True
    del defs["AnnotationTarget"]["required"]
    return out


def validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="session")
def generated_schema() -> dict[str, Any]:
    try:
        return dashboard_schema()
    except SchemaUnavailable as exc:
        print(f"SKIP: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def grafana_dashboard_validator(generated_schema: dict[str, Any]
                                ) -> jsonschema.protocols.Validator:
    return validator(as_grafana_reads_it(generated_schema))


def schema_errors(validator: jsonschema.protocols.Validator, doc: Any) -> list[str]:
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in validator.iter_errors(doc))


# --- Grafana's dashboard schema ------------------------------------------------------

@pytest.mark.parametrize("which", ["example", "full", "no_ram", "every_preset"])
def test_every_dashboard_validates_against_grafana_schema(
        which: str, grafana_dashboard_validator: jsonschema.protocols.Validator,
        example_dashboard_files: Files, full_dashboard_files: Files) -> None:
    files = {"example": example_dashboard_files, "full": full_dashboard_files,
             "no_ram": render(spec(NO_RAM)), "every_preset": render(spec(EVERY_PRESET))}[which]
    rendered = boards(files)
    assert rendered
    for name, board in rendered.items():
        assert schema_errors(grafana_dashboard_validator, board) == [], name


def test_schema_rejects_grafanalib_raw_output(
        grafana_dashboard_validator: jsonschema.protocols.Validator) -> None:
    """The check can fail: grafanalib's own JSON (before modernizing) is rejected."""
    raw = raw_json(dashboards.overview(Model.of(load_spec(ROOT / EXAMPLE)), CTX))
    assert raw["schemaVersion"] == 12
    errors = "\n".join(schema_errors(grafana_dashboard_validator, raw))
    for legacy in ("rows", "style", "hideControls", "sharedCrosshair"):
        assert f"'{legacy}'" in errors, errors


@pytest.mark.parametrize("breakage", ["string datasource", "panel without gridPos height",
                                      "threshold op", "unknown variable type"])
def test_schema_catches_single_mistakes(
        breakage: str, grafana_dashboard_validator: jsonschema.protocols.Validator,
        example_dashboard_files: Files) -> None:
    board = boards(example_dashboard_files)["dashboards/memwatch-overview.json"]
    p = panels(board)[0]
    if breakage == "string datasource":
        p["datasource"] = "${datasource}"
    elif breakage == "panel without gridPos height":
        del p["gridPos"]["h"]
    elif breakage == "threshold op":
        p["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["op"] = "gt"
    else:
        board["templating"]["list"][0]["type"] = "datasources"
    assert schema_errors(grafana_dashboard_validator, board)


def test_schema_opened_only_where_grafana_leaves_it_open(
        generated_schema: dict[str, Any],
        grafana_dashboard_validator: jsonschema.protocols.Validator,
        example_dashboard_files: Files) -> None:
    """The generated schema refuses the alert annotations only (Grafana's CUE takes them);
    opened, it still refuses an annotation without a name and a panel with a stray key."""
    board = boards(example_dashboard_files)["dashboards/memwatch-overview.json"]
    closed = schema_errors(validator(generated_schema), board)
    assert closed and all(e.startswith("annotations/list/0") for e in closed), closed
    assert schema_errors(grafana_dashboard_validator, board) == []
    del board["annotations"]["list"][0]["name"]
    panels(board)[0]["stray"] = 1
    errors = schema_errors(grafana_dashboard_validator, board)
    assert any(e.startswith("annotations/list/0: 'name' is a required property")
               for e in errors), errors
    # a panel is a Panel or a RowPanel: the stray key makes it neither
    assert [e for e in errors if not e.startswith("annotations/")] == [
        f"panels/1: {panels(board)[0]!r} is not valid under any of the given schemas"]


def test_schema_version_is_the_packages(
        grafana_dashboard_validator: jsonschema.protocols.Validator) -> None:
    assert package_schema_version() == SCHEMA_VERSION


# --- every query is PromQL -------------------------------------------------------------

def promtool() -> str:
    if not Path(PROMTOOL).exists():
        reason = "promtool not found (Debian package `prometheus`; scripts/bootstrap.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return PROMTOOL


def check_as_rules(queries: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Each query as a recording rule: `promtool check rules` parses every expr."""
    rules = [{"record": f"dashboard:query_{i}", "expr": q} for i, q in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    return subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60)


def concrete_queries(files: Files, s: Spec) -> list[str]:
    variables = dashboards.sample_variables(Model.of(s))
    return [dashboards.concrete(q, variables)
            for q in [*dashboards.panel_queries(files), *dashboards.annotation_queries(files)]]


@pytest.mark.parametrize("which", ["example", "full", "every_preset"])
def test_every_panel_query_is_valid_promql(which: str, tmp_path: Path,
                                           example_dashboard_files: Files,
                                           full_dashboard_files: Files) -> None:
    s = {"example": load_spec(ROOT / EXAMPLE), "full": spec(FULL),
         "every_preset": spec(EVERY_PRESET)}[which]
    files = {"example": example_dashboard_files, "full": full_dashboard_files}.get(
        which) or render(s)
    queries = concrete_queries(files, s)
    assert len(queries) >= {"example": 60, "full": 20, "every_preset": 70}[which]
    assert not [q for q in queries if "$" in q]
    proc = check_as_rules(queries, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_promtool_catches_a_broken_query(tmp_path: Path, example_dashboard_files: Files) -> None:
    queries = [*concrete_queries(example_dashboard_files, load_spec(ROOT / EXAMPLE)),
               "sum by (store) (rate(memwatch_collection_errors_total[5m])"]
    proc = check_as_rules(queries, tmp_path)
    assert proc.returncode != 0
    assert "unclosed left parenthesis" in proc.stdout + proc.stderr


@pytest.mark.parametrize("which", ["full", "every_preset"])
def test_queries_use_only_contract_metrics_and_recorded_rules(
        which: str, full_dashboard_files: Files) -> None:
    s = spec(FULL) if which == "full" else spec(EVERY_PRESET)
    files = full_dashboard_files if which == "full" else render(s)
    queries = dashboards.panel_queries(files)
    known = {m.series_name for m in CONTRACT}
    used = {n for q in queries for n in re.findall(r"(?<![:\w])memwatch_\w+", q)}
    assert used and used <= known, used - known
    recorded = {r["record"] for g in recording_groups(Model.of(s)) for r in g["rules"]}
    rules_used = {n for q in queries for n in re.findall(r"\bmemwatch:[\w:]+", q)}
    assert {"memwatch:ingestion_lag:seconds", "memwatch:store_size_growth:ratio_1h",
            "memwatch:backlog:max", "memwatch:memories_namespace:max"} <= rules_used
    assert rules_used <= recorded, rules_used - recorded


def test_concrete_fills_variables_and_refuses_unknown() -> None:
    q = 'rate(x{store="$store"}[$__rate_interval]) + y{a="${store}"}'
    assert dashboards.concrete(q, {"store": "s1"}) == 'rate(x{store="s1"}[5m]) + y{a="s1"}'
    with pytest.raises(KeyError):
        dashboards.concrete('x{a="$nope"}', {})


def test_panel_queries_are_distinct_and_ordered(example_dashboard_files: Files) -> None:
    queries = dashboards.panel_queries(example_dashboard_files)
    assert len(queries) == len(set(queries))
    assert queries[:2] == [
        'label_join(ALERTS{alertstate="firing"}, "runbook", "", "alertname")',
        'memwatch_up{store=~"$store"}']
    assert dashboards.annotation_queries(example_dashboard_files) == [
        'ALERTS{alertstate="firing", store=~"$store"}',
        'ALERTS{alertstate="firing", alertname=~"HostMemoryUsageHigh|'
        'HostMemoryExhaustionPredicted|ProcessMemoryUsageHigh|'
        'ProcessMemoryExhaustionPredicted"}']


# --- golden files and determinism --------------------------------------------------------

def test_committed_files_match_the_example_spec(example_dashboard_files: Files) -> None:
    stale = [rel for rel, text in example_dashboard_files.items()
             if not (ROOT / rel).is_file() or (ROOT / rel).read_text(encoding="utf-8") != text]
    assert not stale, (f"out of date: {stale}; run gen-monitoring render --spec {EXAMPLE} "
                       "--out .")


def test_output_is_byte_identical_across_renders(full_dashboard_files: Files) -> None:
    assert render(spec(FULL)) == full_dashboard_files
    assert render(load_spec(ROOT / EXAMPLE)) == render(load_spec(ROOT / EXAMPLE))


# --- content ---------------------------------------------------------------------------

def test_files_and_uids(example_dashboard_files: Files, full_dashboard_files: Files) -> None:
    assert sorted(example_dashboard_files) == [
        "dashboards/memwatch-overview.json", "dashboards/memwatch-ram.json",
        "grafana/provisioning/dashboards/memwatch.yml",
        "grafana/provisioning/datasources/memwatch.yml"]
    full = boards(full_dashboard_files)
    assert sorted(full) == ["dashboards/agents-overview.json", "dashboards/agents-ram.json"]
    assert [b["uid"] for b in full.values()] == ["agents-overview", "agents-ram"]
    assert [b["title"] for b in full.values()] == ["Agents overview", "Agents RAM pressure"]


def test_header_refresh_time_and_datasource_variable(full_dashboard_files: Files) -> None:
    for board in boards(full_dashboard_files).values():
        assert board["description"] == CTX.header
        assert board["refresh"] == "1m"
        assert board["time"] == {"from": "now-24h", "to": "now"}
        ds = board["templating"]["list"][0]
        assert (ds["name"], ds["type"], ds["query"]) == ("datasource", "datasource",
                                                         "prometheus")
        assert ds["current"]["value"] == "Prom"
        for p in board["panels"]:
            if p["type"] != "row":
                assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
                assert p["targets"]


def test_no_legacy_keys(example_dashboard_files: Files) -> None:
    for board in boards(example_dashboard_files).values():
        assert board["schemaVersion"] == SCHEMA_VERSION
        assert not {"rows", "style", "hideControls", "sharedCrosshair"} & set(board)
        text = json.dumps(board)
        assert '"span"' not in text and "null" not in text.replace('"value": null', "")


def test_layout_ids_unique_and_grid_not_overlapping(full_dashboard_files: Files) -> None:
    for board in boards(full_dashboard_files).values():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        cells: set[tuple[int, int]] = set()
        for p in board["panels"]:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24
            mine = {(x, y) for x in range(g["x"], g["x"] + g["w"])
                    for y in range(g["y"], g["y"] + g["h"])}
            assert not cells & mine, p["title"]
            cells |= mine


def test_ram_dashboard(example_dashboard_files: Files) -> None:
    board = boards(example_dashboard_files)["dashboards/memwatch-ram.json"]
    used = panel(board, "Host RAM used")
    assert exprs(used) == [
        '1 - node_memory_MemAvailable_bytes{job="node"} / node_memory_MemTotal_bytes{job="node"}']
    steps = used["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [{"color": "green", "value": None}, {"color": "yellow", "value": 0.7},
                     {"color": "orange", "value": 0.8}, {"color": "red", "value": 0.9},
                     {"color": "dark-red", "value": 0.95}]
    assert used["fieldConfig"]["defaults"]["unit"] == "percentunit"
    forecast = panel(board, "Available RAM and its forecast in 15m")
    assert exprs(forecast)[1] == (
        'predict_linear(node_memory_MemAvailable_bytes{job="node"}[30m], 900)')
    assert not [p for p in board["panels"] if p.get("title") == "Processes"]


def test_ram_dashboard_processes_and_tiers(full_dashboard_files: Files) -> None:
    board = boards(full_dashboard_files)["dashboards/agents-ram.json"]
    used = panel(board, "Host RAM used")
    assert [s["value"] for s in used["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        None, 0.6, 0.85, 0.97]
    assert 'job="node-exporter"' in exprs(used)[0]
    proc = panel(board, "Process RAM used of its limit")
    assert exprs(proc) == [
        'process_resident_memory_bytes{job="mem0 \\"api\\""} / 2147483648',
        'process_resident_memory_bytes{job="grafana"} / 536870912']
    assert [t["legendFormat"] for t in proc["targets"]] == [
        "mem0-api {{instance}}", "grafana {{instance}}"]


def test_ram_dashboard_left_out_when_nothing_is_watched() -> None:
    files = render(spec(NO_RAM))
    assert "dashboards/memwatch-ram.json" not in files
    assert "dashboards/memwatch-overview.json" in files


def test_provisioning(example_dashboard_files: Files, full_dashboard_files: Files) -> None:
    for files in (example_dashboard_files, full_dashboard_files):
        for rel in ("grafana/provisioning/datasources/memwatch.yml",
                    "grafana/provisioning/dashboards/memwatch.yml"):
            assert files[rel].startswith(f"# {CTX.header}\n")
    ds = yaml.safe_load(full_dashboard_files["grafana/provisioning/datasources/memwatch.yml"])
    (source,) = ds["datasources"]
    assert source["name"] == "Prom"  # what the datasource variable defaults to
    assert (source["uid"], source["type"], source["url"]) == (
        "agents-prometheus", "prometheus", "https://prom.internal:9090")
    assert source["jsonData"]["timeInterval"] == "15s"
    default = yaml.safe_load(example_dashboard_files[
        "grafana/provisioning/datasources/memwatch.yml"])["datasources"][0]
    assert default["url"] == "http://prometheus:9090"
    prov = yaml.safe_load(example_dashboard_files["grafana/provisioning/dashboards/memwatch.yml"])
    (provider,) = prov["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == dashboards.DASHBOARDS_PATH
    assert provider["allowUiUpdates"] is False
