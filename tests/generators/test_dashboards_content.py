"""What the dashboards show (issue 12): panels chosen by each store's capabilities, a
firing-alerts table and alert annotations, the recording rules' growth and ingestion lag,
a top-k namespace table, links to the runbooks and the consolidator, the PostgreSQL row."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from memwatch import metrics as M
from memwatch.capabilities import FEATURE_METRICS, Feature
from memwatch.catalogue import ALERT_NAMES
from memwatch.errors import SpecError
from memwatch.generators import dashboard_stores, dashboards, rules
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files
from memwatch.generators.pipeline import render_all
from memwatch.spec import load_spec
from tests.generators.test_dashboards import (
    EVERY_PRESET,
    EXAMPLE,
    FULL,
    ROOT,
    boards,
    exprs,
    panel,
    panels,
    render,
    row_panels,
    spec,
)

OVERVIEW = "dashboards/memwatch-overview.json"
RAM = "dashboards/memwatch-ram.json"

# The panels of each preset's row (openclaw-mem with its default spool, mem0-pgvector with
# an expected dimension, sql without namespace or timestamp).
PANELS_BY_PRESET = {
    "openclaw-mem": ["Database", "Memories", "Drop ratio", "Ingestion lag",
                     "Largest namespaces", "Store size", "Backlog", "Oldest backlog item",
                     "Vector dimension", "Embeddings by dimension", "Embeddings by model",
                     "Embedding coverage", "Duplicates"],
    "openclaw-memory-core": ["Database", "Memories", "Drop ratio", "Ingestion lag",
                             "Largest namespaces", "Store size", "Vector dimension",
                             "Embeddings by dimension", "Embeddings by model",
                             "Embedding coverage", "Markdown files against the index"],
    "mem0-history": ["Database", "Memories", "Drop ratio", "Ingestion lag", "Store size",
                     "History events"],
    "mem0-pgvector": ["Database", "Memories", "Drop ratio", "Ingestion lag",
                      "Largest namespaces", "Store size", "Vector dimension",
                      "Embeddings by dimension", "Embedding coverage", "Duplicates",
                      "Memory table", "Table recreations"],
    "sql": ["Database", "Memories", "Drop ratio", "Store size"],
    "files": ["Database", "Newest file age"],
    "clawmongo": ["Database", "Memories", "Drop ratio", "Ingestion lag", "Largest namespaces",
                  "Store size", "Backlog", "Oldest backlog item", "Search-index chunks"],
    "mem0-mongodb": ["Database", "Memories", "Drop ratio", "Ingestion lag",
                     "Largest namespaces", "Store size", "Embeddings by dimension",
                     "Embedding coverage", "Duplicates", "Memory table"],
    "orchestrator": ["Database", "Memories", "Drop ratio", "Ingestion lag", "Store size"],
    "mongo": ["Database", "Memories", "Drop ratio", "Store size"],
}


def overview(text: str) -> dict[str, Any]:
    return boards(render(spec(text)))[OVERVIEW]


def titles(board: dict[str, Any]) -> dict[str, list[str]]:
    return {row: [p["title"] for p in ps] for row, ps in row_panels(board).items()}


@pytest.fixture(scope="module")
def every() -> dict[str, Any]:
    return overview(EVERY_PRESET)


# --- panels by capability ----------------------------------------------------------------

def test_each_preset_gets_the_panels_its_features_fill(every: dict[str, Any]) -> None:
    rows = titles(every)
    by_preset = {m.group(1): ps for row, ps in rows.items()
                 if (m := re.fullmatch(r"\$\w+ \((.+)\)", row))}
    assert by_preset == PANELS_BY_PRESET
    assert "Backlog" not in by_preset["mem0-pgvector"]
    assert "Backlog" in by_preset["openclaw-mem"]


def test_a_store_row_reads_only_series_its_store_exports() -> None:
    """No empty panel: every series a row's queries read (directly, or through a recording
    rule) is one its stores' features promise (capabilities.FEATURE_METRICS), besides
    memwatch_up and what the store's own settings add."""
    model = Model.of(spec(EVERY_PRESET))
    sources = {r["record"]: set(re.findall(r"\bmemwatch_\w+", r["expr"]))
               for g in rules.recording_groups(model) for r in g["rules"]}
    for group in dashboard_stores.store_groups(model):
        watched = next(st for st in model.stores if st.name == group.stores[0])
        store, have = watched.store, watched.served
        allowed = {M.UP.name, *(m.series_name for f in have for m in FEATURE_METRICS[f])}
        allowed |= {M.BACKLOG_OLDEST.name} if Feature.BACKLOG in have else set()
        allowed |= {M.VECTOR_DIMENSION_EXPECTED.name} if getattr(
            store, "expected_dimension", None) else set()
        allowed |= {M.FILES_NEWEST.name} if store.files else set()
        read: set[str] = set()
        for q in (q.expr for p in group.panels for q in p.queries):
            read |= set(re.findall(r"(?<![:\w])memwatch_\w+", q))
            read |= {m for rule in re.findall(r"\bmemwatch:[\w:]+", q) for m in sources[rule]}
        assert read <= allowed, (group.preset, read - allowed)


def test_a_row_per_kind_of_store_repeats_over_its_own_stores() -> None:
    board = overview("""
        stores:
          - {name: a, preset: openclaw-mem}
          - {name: m1, preset: mem0-pgvector, dsn: 'env:X'}
          - {name: b.2, preset: openclaw-mem}
          - {name: m2, preset: mem0-pgvector, dsn: 'env:X'}
    """)
    rows = [(p["title"], p.get("repeat")) for p in board["panels"] if p["type"] == "row"]
    assert rows[2:4] == [("$openclaw_mem (openclaw-mem)", "openclaw_mem"),
                         ("$mem0_pgvector (mem0-pgvector)", "mem0_pgvector")]
    queries = {v["name"]: v["query"] for v in board["templating"]["list"]}
    assert queries["openclaw_mem"] == (
        r'label_values(memwatch_up{store=~"$store", store=~"a|b\\.2"}, store)')
    assert queries["mem0_pgvector"] == (
        'label_values(memwatch_up{store=~"$store", store=~"m1|m2"}, store)')
    mem0 = row_panels(board)["$mem0_pgvector (mem0-pgvector)"]
    assert all('store="$mem0_pgvector"' in e for p in mem0 for e in exprs(p)
               if "memwatch" in e)


def test_stores_of_one_preset_with_other_features_get_rows_of_their_own() -> None:
    board = overview("""
        stores:
          - {name: with-spool, preset: openclaw-mem}
          - {name: no-spool, preset: openclaw-mem, spool: null, integrity_interval: 0}
    """)
    rows = titles(board)
    assert "Backlog" in rows["$openclaw_mem (openclaw-mem)"]
    second = rows["$openclaw_mem_2 (openclaw-mem)"]
    # no spool: no backlog; integrity pass off: none of its series, no panel for them
    assert second == ["Database", "Memories", "Drop ratio", "Ingestion lag",
                      "Largest namespaces", "Store size", "Vector dimension"]
    assert dashboards.sample_variables(Model.of(spec("""
        stores:
          - {name: with-spool, preset: openclaw-mem}
          - {name: no-spool, preset: openclaw-mem, spool: null}
    """))) == {"store": "with-spool", "openclaw_mem": "with-spool",
              "openclaw_mem_2": "no-spool"}


def steps(p: dict[str, Any]) -> list[Any]:
    return [(s["color"], s["value"]) for s in p["fieldConfig"]["defaults"]["thresholds"]["steps"]]


def test_thresholds_are_the_stores_own_when_its_row_is_its_alone() -> None:
    board = overview("""
        stores:
          - name: a
            preset: mem0-pgvector
            dsn: 'env:X'
            expected_dimension: 768
            max_staleness: 2h
            baseline: 500
            alerts: {MemoriesWithoutEmbedding: {threshold: 0.2}}
    """)
    row = "$mem0_pgvector (mem0-pgvector)"
    dim = panel(board, "Vector dimension", row)
    assert exprs(dim) == ['memwatch_vector_dimension{store="$mem0_pgvector"}',
                          'memwatch_vector_dimension_expected{store="$mem0_pgvector"}']
    assert steps(dim) == [("red", None), ("green", 768), ("red", 769)]
    assert steps(panel(board, "Ingestion lag", row)) == [("green", None), ("orange", 7200)]
    assert steps(panel(board, "Embedding coverage", row)) == [("red", None), ("green", 0.8)]
    assert ("yellow", 500) in steps(panel(board, "Memories", row))


def test_stores_sharing_a_row_but_not_settings_get_the_alerts_sections() -> None:
    board = overview("""
        stores:
          - {name: a, preset: mem0-pgvector, dsn: 'env:X', expected_dimension: 768,
             max_staleness: 2h}
          - {name: b, preset: mem0-pgvector, dsn: 'env:X', expected_dimension: 1536}
        alerts:
          rules: {MemoryIngestionStalled: {threshold: 5400}}
    """)
    rows = titles(board)
    assert len([r for r in rows if r.startswith("$mem0_pgvector")]) == 1
    row = "$mem0_pgvector (mem0-pgvector)"
    assert steps(panel(board, "Ingestion lag", row)) == [("green", None), ("orange", 5400)]
    dim = panel(board, "Vector dimension", row)
    assert len(exprs(dim)) == 2 and steps(dim) == [("blue", None)]


# --- the overview's rows and their panels ---------------------------------------------

@pytest.fixture(scope="module")
def example_files() -> Files:
    return render(load_spec(ROOT / EXAMPLE))


@pytest.fixture(scope="module")
def full_files() -> Files:
    return render(spec(FULL))


def test_overview_store_variables_and_a_row_per_kind_of_store(
        example_files: Files) -> None:
    board = boards(example_files)["dashboards/memwatch-overview.json"]
    store, *groups = board["templating"]["list"][1:]
    assert store["name"] == "store" and store["query"] == "label_values(memwatch_up, store)"
    assert store["multi"] and store["includeAll"] and store["hide"] == 0
    assert store["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert [(g["name"], g["query"], g["hide"]) for g in groups] == [
        (v, f'label_values(memwatch_up{{store=~"$store", store=~"{s}"}}, store)', 2)
        for v, s in (("openclaw_mem", "openclaw"), ("openclaw_memory_core", "openclaw-core"),
                     ("mem0_pgvector", "mem0"), ("mem0_history", "mem0-history"),
                     ("clawmongo", "clawmongo"), ("sql", "notes"), ("files", "backups"))]
    assert all(g["multi"] and g["includeAll"] for g in groups)
    rows = [p for p in board["panels"] if p["type"] == "row"]
    assert [(r["title"], r.get("repeat")) for r in rows] == [
        ("Alerts", None), ("Stores", None),
        *((f"${g['name']} ({g['label'].removesuffix(' stores')})", g["name"]) for g in groups),
        ("Exporter", None)]


ROW = "$openclaw_mem (openclaw-mem)"


def test_overview_panels(example_files: Files) -> None:
    board = boards(example_files)["dashboards/memwatch-overview.json"]
    s = 'store="$openclaw_mem"'
    count = panel(board, "Memories", ROW)
    assert exprs(count) == [f"memwatch_store_memories{{{s}}}"]
    assert count["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"] == {"mode": "line"}
    assert {"color": "red", "value": 0} in count["fieldConfig"]["defaults"]["thresholds"][
        "steps"]

    drop = panel(board, "Drop ratio", ROW)
    assert drop["type"] == "stat"
    d = drop["fieldConfig"]["defaults"]
    assert d["unit"] == "percentunit"
    assert [s["value"] for s in d["thresholds"]["steps"]] == [None, 0.25, 0.5]
    assert exprs(drop)[0] == f"memwatch_memories_drop_ratio{{{s}}}"
    assert exprs(drop)[1] == (
        f"(max_over_time(memwatch_store_memories{{{s}}}[10m]) - "
        f"memwatch_store_memories{{{s}}}) / "
        f"clamp_min(max_over_time(memwatch_store_memories{{{s}}}[10m]), 1)")
    assert "[1h]" in exprs(drop)[2]

    for title, row in (("Database", ROW), ("Database status", "Stores"),
                       ("Exporter targets", "Exporter")):
        status = panel(board, title, row)
        (mapping,) = status["fieldConfig"]["defaults"]["mappings"]
        assert mapping == {"type": "value", "options": {
            "1": {"text": "UP", "color": "green"}, "0": {"text": "DOWN", "color": "red"}}}
    assert exprs(panel(board, "Exporter targets")) == ['up{job=~"memwatch"}']

    lag = panel(board, "Ingestion lag", ROW)
    assert exprs(lag) == [f"memwatch:ingestion_lag:seconds{{{s}}}"]
    assert lag["fieldConfig"]["defaults"]["unit"] == "s"
    assert lag["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 3600
    assert exprs(panel(board, "Backlog", ROW)) == [f"memwatch:backlog:max{{{s}}}"]
    assert panel(board, "Backlog", ROW)["targets"][0]["legendFormat"] == "{{stage}}"
    size = panel(board, "Store size", ROW)
    assert size["fieldConfig"]["defaults"]["unit"] == "bytes"
    assert exprs(panel(board, "Collection errors")) == [
        'sum by (store, reason) (rate(memwatch_collection_errors_total{store=~"$store"}'
        '[$__rate_interval]))']
    assert exprs(panel(board, "Collection duration")) == [
        'memwatch_collection_duration_seconds{store=~"$store"}']


def test_overview_follows_spec(full_files: Files) -> None:
    board = boards(full_files)["dashboards/agents-overview.json"]
    assert exprs(panel(board, "Exporter targets")) == [r'up{job=~"memwatch-sqlite|memwatch\\.pg"}']
    drop = exprs(panel(board, "Drop ratio"))
    assert [w for q in drop[1:] for w in re.findall(r"\[(\w+)\]", q)[:1]] == ["5m", "1h", "1d"]
    lag = panel(board, "Ingestion lag", ROW)
    assert lag["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 7200
    # one store: its row's variable lists every store the `store` variable selects
    var = board["templating"]["list"][2]
    assert var["query"] == 'label_values(memwatch_up{store=~"$store"}, store)'


# --- alerts: the table, the annotations, the runbooks ----------------------------------

def test_firing_alerts_table_links_each_alerts_runbook(every: dict[str, Any]) -> None:
    table = panel(every, "Firing alerts", "Alerts")
    assert table["type"] == "table"
    (target,) = table["targets"]
    assert target["expr"] == 'label_join(ALERTS{alertstate="firing"}, "runbook", "", "alertname")'
    assert (target["format"], target["instant"]) == ("table", True)
    organize = table["transformations"][-1]["options"]
    order = sorted(organize["indexByName"], key=organize["indexByName"].get)
    assert [organize["renameByName"][f] for f in order] == [
        "Alert", "Severity", "Store", "Component", "Instance", "Process", "Check", "Runbook"]
    overrides = {o["matcher"]["options"]: {p["id"]: p["value"] for p in o["properties"]}
                 for o in table["fieldConfig"]["overrides"]}
    (link,) = overrides["Runbook"]["links"]
    base = "https://runbooks.example/memwatch.md"
    assert link["url"] == base + "#${__value.text}"
    anchors = {k: v["text"] for k, v in overrides["Runbook"]["mappings"][0]["options"].items()}
    assert set(anchors) == set(ALERT_NAMES)
    # the link a firing alert's row opens is the runbook_url its rule carries
    s = spec(EVERY_PRESET)
    doc = yaml.safe_load(rules.render(Model.of(s), Context("t.yaml"))[rules.ALERTS_FILE])
    for rule in (r for g in doc["groups"] for r in g["rules"]):
        assert f"{base}#{anchors[rule['alert']]}" == rule["annotations"]["runbook_url"]
    assert overrides["Severity"]["mappings"][0]["options"]["critical"]["color"] == "red"
    assert table["fieldConfig"]["defaults"]["noValue"] == "No alert is firing"


def test_every_panel_runbook_link_is_its_alerts() -> None:
    s = spec(EVERY_PRESET)
    files = render_all(s, Context("t.yaml"))
    urls = {r["alert"]: r["annotations"]["runbook_url"]
            for f in (rules.ALERTS_FILE, "rules/anomaly.yml")
            for g in yaml.safe_load(files[f])["groups"] for r in g["rules"] if "alert" in r}
    links = [link for b in boards(files).values() for p in b["panels"]
             for link in p.get("links", [])]
    assert len(links) > 20
    for link in links:
        alert = link["title"].removeprefix("Runbook: ")
        assert link["url"] == urls[alert], alert
        assert link["targetBlank"] and link["type"] == "link"


def test_alert_annotations_on_every_dashboard() -> None:
    files = render(spec("""
        stores: [{name: a, preset: openclaw-mem}]
        prometheus: {evaluation_interval: 15s}
    """))
    over, ram = (boards(files)[f]["annotations"]["list"] for f in (OVERVIEW, RAM))
    (a,) = over
    assert a["target"] == {"expr": 'ALERTS{alertstate="firing", store=~"$store"}',
                           "interval": "15s", "refId": "Anno"}
    assert (a["titleFormat"], a["textFormat"], a["tagKeys"]) == (
        "{{alertname}}", "{{severity}}: {{store}}", "severity,store")
    assert a["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert a["enable"] and a["step"] == "15s"
    (r,) = ram
    assert re.fullmatch(r'ALERTS\{alertstate="firing", alertname=~"(Host|Process)\w+'
                        r'(\|(Host|Process)\w+){3}"\}', r["target"]["expr"])
    assert dashboards.during_incidents_only(a["target"]["expr"])
    assert not dashboards.during_incidents_only("memwatch_up")


# --- the recording rules, the namespaces ----------------------------------------------

def test_growth_and_ingestion_lag_come_from_the_recording_rules(every: dict[str, Any]) -> None:
    assert exprs(panel(every, "Ingestion lag", "Stores")) == [
        'memwatch:ingestion_lag:seconds{store=~"$store"}']
    growth = panel(every, "Size growth in 1h", "Stores")
    assert exprs(growth) == ['memwatch:store_size_growth:ratio_1h{store=~"$store"}']
    assert growth["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert exprs(panel(every, "Oldest backlog item", "$clawmongo (clawmongo)")) == [
        'memwatch:backlog_age:seconds{store="$clawmongo"}']


def test_growth_and_lag_left_out_when_no_store_has_them() -> None:
    board = overview("stores: [{name: f, preset: files, files: [{name: d, glob: /x}]}]")
    assert titles(board)["Stores"] == ["Database status", "Memories by store"]


def test_namespaces_are_a_top_k_table_not_a_line_each() -> None:
    board = overview("""
        stores: [{name: a, preset: mem0-pgvector, dsn: 'env:X'}]
        dashboards: {top_namespaces: 7}
    """)
    table = panel(board, "Largest namespaces")

    def ns(rule: str) -> str:
        return f'max by (store, namespace) ({rule}{{store="$mem0_pgvector"}})'

    top = f"topk(7, {ns('memwatch:memories_namespace:max')})"
    assert exprs(table) == [
        top,
        f"{ns('memwatch:memories_namespace_drop:ratio_10m')} and on (store, namespace) {top}",
        f"{ns('memwatch:memories_namespace_drop:ratio_1h')} and on (store, namespace) {top}"]
    assert all(t["format"] == "table" and t["instant"] for t in table["targets"])
    ids = [t["id"] for t in table["transformations"]]
    assert ids == ["merge", "filterFieldsByName", "organize"]
    assert table["transformations"][2]["options"]["renameByName"] == {
        "namespace": "Namespace", "Value #A": "Memories", "Value #B": "Lost in 10m",
        "Value #C": "Lost in 1h"}
    assert table["options"]["sortBy"] == [{"displayName": "Memories", "desc": True}]
    # no panel draws memwatch_memories{namespace} a line each any more
    assert not [e for p in panels(board) for e in exprs(p) if "memwatch_memories{" in e]


def test_namespace_table_without_drop_windows_reads_the_lone_value() -> None:
    """One query: Grafana names its value `Value`, not `Value #A`, and nothing merges."""
    table = panel(overview("""
        stores: [{name: a, preset: openclaw-mem}]
        recording: {drop_windows: []}
    """), "Largest namespaces")
    assert len(table["targets"]) == 1
    assert [t["id"] for t in table["transformations"]] == ["filterFieldsByName", "organize"]
    assert table["transformations"][1]["options"]["renameByName"] == {
        "namespace": "Namespace", "Value": "Memories"}


# --- links, the PostgreSQL row, the spec -----------------------------------------------

def test_links_to_runbooks_consolidator_and_the_other_dashboards() -> None:
    default = overview("""
        stores: [{name: a, preset: openclaw-mem}]
        alerts: {runbook_url: 'https://git.example/ops/runbooks/memwatch.md'}
    """)
    assert [(x["title"], x["url"]) for x in default["links"]] == [
        ("Runbooks", "https://git.example/ops/runbooks/memwatch.md"),
        ("Consolidator", "http://127.0.0.1:9188/"), ("memwatch dashboards", "")]
    assert default["links"][2]["type"] == "dashboards"
    assert default["links"][2]["tags"] == ["memwatch"]
    own = overview("""
        stores: [{name: a, preset: openclaw-mem}]
        alerts: {runbook_url: 'https://wiki.example/memwatch'}
        routing: {consolidator_url: 'http://consolidator:9188/webhook/alerts'}
        dashboards: {consolidator_url: 'https://memwatch.example/'}
    """)
    assert [x["url"] for x in own["links"][:2]] == ["https://wiki.example/memwatch",
                                                    "https://memwatch.example/"]
    derived = overview("""
        stores: [{name: a, preset: openclaw-mem}]
        routing: {consolidator_url: 'https://am:s3cret@cons.internal:8443/hooks/am'}
    """)
    assert derived["links"][0]["url"] == "https://cons.internal:8443/"
    assert "s3cret" not in str(derived)


def test_no_runbook_links_while_runbook_url_is_not_a_web_address() -> None:
    """Unset, alerts.runbook_url is the runbooks file inside the output directory (render
    warns): Grafana would resolve it against its own address, so no link is drawn."""
    board = overview("stores: [{name: a, preset: mem0-pgvector, dsn: 'env:X'}]")
    assert [x["title"] for x in board["links"]] == ["Consolidator", "memwatch dashboards"]
    assert not [p for p in panels(board) if p.get("links")]
    table = panel(board, "Firing alerts")
    assert "runbook" not in table["transformations"][-1]["options"]["renameByName"]


def test_postgres_row_only_when_the_spec_names_its_job(every: dict[str, Any]) -> None:
    assert not [r for r in titles(overview("stores: [{name: a, preset: openclaw-mem}]"))
                if r.startswith("PostgreSQL")]
    row = row_panels(every)["PostgreSQL server (postgres)"]
    queries = [e for p in row for e in exprs(p)]
    assert len(queries) == 9
    assert all('job="postgres"' in e for e in queries)
    assert exprs(panel(every, "PostgreSQL")) == ['pg_up{job="postgres"}']
    assert list(titles(every))[-2:] == ["PostgreSQL server (postgres)", "Exporter"]


@pytest.mark.parametrize(("dashboards_yaml", "message"), [
    ("{postgres_exporter_job: ''}", "dashboards.postgres_exporter_job"),
    ("{consolidator_url: 'consolidator:9188'}", "dashboards.consolidator_url"),
    ("{top_namespaces: 0}", "dashboards.top_namespaces"),
])
def test_spec_refuses_bad_dashboard_keys(dashboards_yaml: str, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        spec(f"stores: [{{name: a, preset: openclaw-mem}}]\ndashboards: {dashboards_yaml}\n")
