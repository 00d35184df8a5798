"""The error-budget dashboard (dashboards/<uid_prefix>-slo.json): Grafana's own schema,
every query PromQL over the recorded series of rules/slo.yml, the panels' content, and the
numbers its queries give under promtool."""

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

from memwatch.generators import dashboard_slo, dashboards
from memwatch.generators import rules as rules_mod
from memwatch.generators.model import Model
from memwatch.generators.output import Context, to_yaml
from memwatch.spec import Spec, parse_spec
from tests.generators.grafana_schema import SchemaUnavailable, dashboard_schema
from tests.generators.test_slo import SPEC as SLO_SPEC

PROMTOOL = shutil.which("promtool")
CTX = Context("s.yaml")
SPEC = SLO_SPEC + "dashboards: {uid_prefix: agents, title_prefix: Agents}\n"


def spec(text: str = SPEC) -> Spec:
    return parse_spec(textwrap.dedent(text), "s.yaml")


def board(s: Spec | None = None) -> dict[str, Any]:
    files = dashboard_slo.render(Model.of(s or spec()), CTX)
    assert list(files) == ["dashboards/agents-slo.json"]
    out: dict[str, Any] = json.loads(files["dashboards/agents-slo.json"])
    return out


def rows(b: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for p in b["panels"]:
        if p["type"] == "row":
            current = out.setdefault(p["title"], [])
        else:
            current.append(p)
    return out


def test_validates_against_grafana_s_schema() -> None:
    """As tests/generators/test_dashboards.py validates the others: the generated schema,
    opened where Grafana's CUE leaves it open (annotation queries and targets)."""
    try:
        schema = copy.deepcopy(dashboard_schema())
    except SchemaUnavailable as exc:
        pytest.skip(str(exc))
    defs = schema["definitions"]
    defs["AnnotationQuery"]["additionalProperties"] = True
    defs["AnnotationTarget"]["additionalProperties"] = True
    del defs["AnnotationTarget"]["required"]
    validator = jsonschema.validators.validator_for(schema)(schema)
    b = board()
    assert [e.message for e in validator.iter_errors(b)] == []
    del b["panels"][1]["gridPos"]["h"]  # the check can fail
    assert list(validator.iter_errors(b))


def test_rows_panels_and_settings() -> None:
    b = board()
    assert (b["uid"], b["title"], b["description"]) == ("agents-slo", "Agents SLOs", CTX.header)
    assert b["time"] == {"from": "now-30d", "to": "now"} and "memwatch" in b["tags"]
    by_row = rows(b)
    assert list(by_row) == ["mem0: availability, 99.9% over 30d",
                            "mem0: freshness (lag 15m), 99% over 30d",
                            "oc: availability, 99.5% over 28d"]
    first = by_row["mem0: availability, 99.9% over 30d"]
    assert [p["title"] for p in first] == ["Error budget left", "SLI over 30d",
                                          "Error budget left over time", "Burn rate", "SLI"]
    sel = '{slo="availability",store="mem0"}'
    assert [t["expr"] for t in first[0]["targets"]] == [
        f"memwatch:slo_error_budget_remaining:ratio{sel}"]
    assert [t["expr"] for t in first[1]["targets"]] == [
        f"1 - memwatch:slo_sli_error:ratio_30d{sel}"]
    assert [(t["expr"], t["legendFormat"]) for t in first[3]["targets"]] == [
        (f"memwatch:slo_sli_error:ratio_{w}{sel} / 0.001", w) for w in ("1h", "6h", "1d")]
    steps = first[3]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in steps] == [
        ("green", None), ("yellow", 1), ("orange", 3), ("red", 6), ("dark-red", 14.4)]
    sli = first[1]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [(s["color"], s["value"]) for s in sli] == [("red", None), ("green", 0.999)]
    oc = by_row["oc: availability, 99.5% over 28d"]
    assert oc[3]["fieldConfig"]["defaults"]["thresholds"]["steps"][2:] == [
        {"color": "orange", "value": 2.8}, {"color": "red", "value": 5.6},
        {"color": "dark-red", "value": 13.44}]
    assert b["annotations"]["list"][0]["target"]["expr"] == (
        'ALERTS{alertstate="firing", '
        'alertname=~"MemorySLOAvailabilityBurn|MemorySLOFreshnessBurn"}')


def test_no_slos_no_dashboard() -> None:
    without = Model.of(spec("stores: [{name: oc, preset: openclaw-mem}]"))
    assert dashboard_slo.render(without, CTX) == {}


def test_queries_read_only_the_recorded_series(tmp_path: Path) -> None:
    s = spec()
    files = dashboard_slo.render(Model.of(s), CTX)
    queries = dashboards.panel_queries(files)
    groups = yaml.safe_load(rules_mod.render(Model.of(s), CTX)["rules/slo.yml"])["groups"]
    recorded = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    used = {n for q in queries for n in re.findall(r"\bmemwatch:[\w:]+", q)}
    assert used and used <= recorded, used - recorded
    assert not re.findall(r"(?<![:\w])memwatch_\w+", " ".join(queries))
    if PROMTOOL is None:
        pytest.skip("promtool not installed")
    path = tmp_path / "queries.yml"
    path.write_text(to_yaml({"groups": [{"name": "q", "rules": [
        {"record": f"q:{i}", "expr": q} for i, q in enumerate(
            [*queries, *dashboards.annotation_queries(files)])]}]}))
    res = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"SUCCESS: {len(queries) + 1} rules found" in res.stdout


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")
def test_the_panels_numbers_under_promtool(tmp_path: Path) -> None:
    """99% over 7d, up for 10 evaluations then down for 10: half the time was bad, the
    budget (1%) is overspent 49 times, the burn rate is 50."""
    s = spec("""
stores: [{name: a, preset: openclaw-mem}]
slos: [{store: a, window: 7d, availability: {objective: 99}}]
""")
    (tmp_path / "slo.yml").write_text(rules_mod.render(Model.of(s), CTX)["rules/slo.yml"])
    panels = {p["title"]: p for p in rows(board_of(s))["a: availability, 99% over 7d"]}
    labels = '{slo="availability",store="a"}'
    budget = '{__name__="memwatch:slo_error_budget_remaining:ratio",slo="availability",store="a"}'
    expected = [("Error budget left", 0, budget, -49), ("SLI over 7d", 0, labels, 0.5),
                ("Error budget left over time", 0, budget, -49), ("Burn rate", 0, labels, 50),
                ("SLI", 1, labels, 0.5)]  # the 1h ones: the 5m window holds 10 bad of 11
    tests = [{"expr": panels[title]["targets"][i]["expr"], "eval_time": "9m30s",
              "exp_samples": [{"labels": lab, "value": value}]}
             for title, i, lab, value in expected]
    (tmp_path / "test.yml").write_text(to_yaml({
        "rule_files": ["slo.yml"], "evaluation_interval": "30s",
        "tests": [{"interval": "30s", "input_series": [
            {"series": 'memwatch_up{backend="sqlite",job="memwatch",store="a"}',
             "values": "1x9 0x9"}], "promql_expr_test": tests}]}))
    res = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    (tmp_path / "test.yml").write_text((tmp_path / "test.yml").read_text().replace(
        "value: 50", "value: 49", 1))  # the check can fail
    res = subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode != 0


def board_of(s: Spec) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(next(iter(dashboard_slo.render(Model.of(s), CTX).values())))
    return out
