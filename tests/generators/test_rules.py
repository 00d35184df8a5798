"""Rules and their promtool unit tests: each alert's test passes, and fails once the rule's
threshold (or `for`) is changed, so the tests can catch a wrong rule."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.generators.alerts import AlertRule, GenerationError, anomaly
from memwatch.generators.model import Model
from memwatch.generators.output import Context, go_duration, to_yaml
from memwatch.generators.rules import alert_groups, render
from memwatch.generators.ruletests import _scenario_test
from memwatch.spec import load_spec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = load_spec(ROOT / "examples" / "monitoring.yaml")
RULES = Model.of(EXAMPLE).rules
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool not installed (Debian package prometheus)")


def rule_id(r: AlertRule) -> str:
    extra = r.labels.get("store") or r.labels.get("process") or r.labels.get("instance", "")
    tier = r.labels.get("threshold", "")
    check = r.labels.get("check", "")
    return "-".join(x for x in (r.alert, extra, check, tier) if x)


def file_groups(rules: list[AlertRule], rule: AlertRule) -> list[dict[str, Any]]:
    """The groups of the rule file `rule` is written to (rules/anomaly.yml holds its own
    recording rules)."""
    groups = alert_groups([r for r in rules if r.file == rule.file])
    if rule.file == anomaly.FILE:
        groups.insert(0, {"name": "rec", "rules": anomaly.recording_rules()})
    return groups


def promtool_test(tmp: Path, groups: list[dict[str, Any]], rule: AlertRule
                  ) -> subprocess.CompletedProcess[str]:
    (tmp / "alerts.yml").write_text(to_yaml({"groups": groups}))
    tests = [_scenario_test(rule, sc) for sc in rule.scenarios]
    every = go_duration(rule.scenarios[0].interval)
    (tmp / "test.yml").write_text(to_yaml({"rule_files": ["alerts.yml"],
                                           "evaluation_interval": every, "tests": tests}))
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "test", "rules", "test.yml"], cwd=tmp,
                          capture_output=True, text=True, timeout=120)


def mutate(expr: str, for_: str | None) -> tuple[str, str | None]:
    """Move the rule's threshold (or lengthen `for` when the rule has none)."""
    m = re.search(r"(>=|<=|==|!=|<|>)\s*(-?[\d.e+]+)$", expr)
    if m is None:
        return expr, "30m" if for_ is None else f"{for_}10m"
    op, num = m.group(1), float(m.group(2))
    new = {">=": num * 1.1 + 1e-9 if num else 1.0, ">": num + 1, "<": num - 1,
           "<=": num - 1e12, "==": num + 1, "!=": num + 1}[op]
    return expr[:m.start(2)] + f"{new:g}" + expr[m.end(2):], for_


def test_every_catalogue_alert_is_rendered_for_the_example() -> None:
    from memwatch.catalogue import ALERT_NAMES
    rendered = {r.alert for r in RULES}
    # ProcessMemory* need a process in the spec; the example names none
    assert set(ALERT_NAMES) - rendered <= {"ProcessMemoryUsageHigh",
                                          "ProcessMemoryExhaustionPredicted"}
    assert all(r.scenarios for r in RULES)


@needs_promtool
@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_alert_unit_test_passes_and_catches_a_changed_rule(rule: AlertRule,
                                                           tmp_path: Path) -> None:
    groups = file_groups(RULES, rule)
    ok = promtool_test(tmp_path, groups, rule)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # change this rule only, keep its tests: promtool must now fail
    for group in groups:
        for entry in group["rules"]:
            if entry.get("alert") == rule.alert and entry["labels"] == dict(
                    sorted(rule.labels.items())):
                entry["expr"], new_for = mutate(entry["expr"], entry.get("for"))
                if new_for is not None:
                    entry["for"] = new_for
    bad = promtool_test(tmp_path, groups, rule)
    assert bad.returncode != 0, f"the test did not catch a changed rule:\n{bad.stdout}"


def test_process_ram_rules(tmp_path: Path) -> None:
    spec = parse_spec("""
stores: [{name: a, preset: openclaw-mem}]
alerts:
  ram:
    host: false
    processes:
      - {name: mem0-api, job: mem0, limit_bytes: 2147483648}
""")
    rules = [r for r in Model.of(spec).rules if r.alert.startswith("Process")]
    assert [r.alert for r in rules] == ["ProcessMemoryUsageHigh"] * 4 + [
        "ProcessMemoryExhaustionPredicted"]
    assert rules[0].expr == ('max by (instance, job) (process_resident_memory_bytes'
                             '{job="mem0"}) / 2147483648 >= 0.7')
    if PROMTOOL is None:
        pytest.skip("promtool not installed")
    groups = file_groups(Model.of(spec).rules, rules[0])
    for r in rules:
        res = promtool_test(tmp_path, groups, r)
        assert res.returncode == 0, res.stdout


def test_rule_labels_and_annotations() -> None:
    by_key = {rule_id(r): r for r in RULES}
    zero = by_key["MemoryCountZero-mem0"]
    assert zero.expr == 'max by (store) (memwatch_store_memories{store="mem0"}) == 0'
    assert zero.for_s == 120 and zero.labels == {"severity": "critical",
                                                "component": "memory-store", "store": "mem0"}
    dropped = by_key["MemoryCountDropped-mem0"]
    assert dropped.expr.endswith(">= 0.5") and dropped.for_s == 300
    assert "{{ $value | humanizePercentage }}" in dropped.annotations()["description"]
    assert dropped.annotations()["runbook_url"] == "runbooks/memwatch.md#memorycountdropped"
    down = by_key["MemoryDatabaseDown-mem0"]
    assert down.for_s == 60 and down.labels["component"] == "database"
    stalled = by_key["MemoryIngestionStalled-openclaw"]
    assert stalled.expr.endswith(">= 3600")
    tiers = sorted((r.labels["threshold"], r.labels["severity"]) for r in RULES
                   if r.alert == "HostMemoryUsageHigh")
    assert tiers == [("70", "info"), ("80", "warning"), ("90", "critical"),
                     ("95", "critical")]
    predicted = by_key["HostMemoryExhaustionPredicted"]
    assert "predict_linear(node_memory_MemAvailable_bytes{job=\"node\"}[30m], 900)" in \
        predicted.expr
    # the mem0 store is linked to its history: unexplained loss is watched
    assert "MemoryLossUnexplained-mem0" in by_key
    assert 'memwatch_history_events{event="DELETE",store="mem0-history"}' in \
        by_key["MemoryLossUnexplained-mem0"].expr


def test_overrides_per_alert_and_per_store() -> None:
    spec = parse_spec("""
stores:
  - name: a
    preset: openclaw-mem
    baseline: 500
    max_staleness: 2h
    alerts:
      MemoryCountDropped: {threshold: 0.25, for: 1m}
  - {name: b, preset: openclaw-mem}
alerts:
  rules:
    MemoryCountDropped: {threshold: 0.3, severity: critical}
    MemoryCountZero: {enabled: false}
""")
    rules = {rule_id(r): r for r in Model.of(spec).rules}
    assert rules["MemoryCountDropped-a"].expr.endswith(">= 0.25")
    assert rules["MemoryCountDropped-a"].for_s == 60
    assert rules["MemoryCountDropped-a"].labels["severity"] == "critical"
    assert rules["MemoryCountDropped-b"].expr.endswith(">= 0.3")
    assert not any(k.startswith("MemoryCountZero") for k in rules)
    assert rules["MemoryCountBelowBaseline-a"].expr.endswith("< 500")
    assert "MemoryCountBelowBaseline-b" not in rules
    assert rules["MemoryIngestionStalled-a"].expr.endswith(">= 7200")


def test_window_shorter_than_for_is_refused() -> None:
    spec = parse_spec("""
stores: [{name: a, preset: openclaw-mem}]
alerts:
  rules:
    MemoryCountDropped: {window: 5m, for: 5m}
""")
    with pytest.raises(GenerationError, match="MemoryCountDropped: window \\(5m\\) must be "
                                              "longer than for \\(5m\\)"):
        _ = Model.of(spec).rules


def test_mem0_compat_recording_rules() -> None:
    spec = parse_spec("""
stores:
  - {name: m, preset: mem0-pgvector, dsn: env:X}
  - {name: o, preset: openclaw-mem}
recording: {mem0_compat: true}
""")
    files = render(Model.of(spec), Context("s.yaml"))
    groups = yaml.safe_load(files["rules/recording.yml"])["groups"]
    compat = {r["record"]: r["expr"] for r in groups[1]["rules"]}
    assert set(compat) == {"mem0_memory_total", "mem0_memory_count",
                           "mem0_memory_drop_percentage", "mem0_database_up"}
    assert compat["mem0_memory_total"] == 'max by (store) (memwatch_store_memories{store=~"m"})'
    assert compat["mem0_memory_drop_percentage"].startswith("100 * ")
