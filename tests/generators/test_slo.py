"""SLO burn-rate rules (rules/slo.yml): their exact expressions, the replay that places
their promtool checks, the rendered tests passing under promtool, and each test failing
once its rule is changed."""

from __future__ import annotations

import re
import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.generators import rules as rules_mod
from memwatch.generators import ruletests
from memwatch.generators.alerts import AlertRule, slo
from memwatch.generators.alerts.slo_scenarios import (
    HISTORY,
    STEP,
    _above,
    burn_of,
    newest,
    plans,
    replay,
)
from memwatch.generators.model import Model
from memwatch.generators.output import Context, to_yaml
from memwatch.spec import Spec, parse_spec

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool not installed (Debian package prometheus)")
SPEC = """
stores:
  - {name: mem0, preset: mem0-pgvector, dsn: 'env:X'}
  - {name: oc, preset: openclaw-mem}
slos:
  - store: mem0
    availability: {objective: 99.9}
    freshness: {objective: 99, lag: 15m}
  - {store: oc, window: 28d, availability: {objective: 99.5}}
"""
SEL = '{slo="availability",store="mem0"}'


def spec(text: str = SPEC) -> Spec:
    return parse_spec(textwrap.dedent(text), "s.yaml")


def slo_rules(s: Spec) -> list[AlertRule]:
    return [r for r in Model.of(s).rules if r.file == slo.FILE]


def by_key(rules: list[AlertRule]) -> dict[tuple[str, str, str], AlertRule]:
    return {(r.alert, r.labels["store"], r.labels["tier"]): r for r in rules}


# --- the rules ------------------------------------------------------------------------

def test_page_and_ticket_rules_of_an_slo() -> None:
    rules = by_key(slo_rules(spec()))
    assert sorted(rules) == [
        ("MemorySLOAvailabilityBurn", "mem0", "page"), ("MemorySLOAvailabilityBurn", "mem0",
                                                        "ticket"),
        ("MemorySLOAvailabilityBurn", "oc", "page"), ("MemorySLOAvailabilityBurn", "oc",
                                                      "ticket"),
        ("MemorySLOFreshnessBurn", "mem0", "page"), ("MemorySLOFreshnessBurn", "mem0",
                                                     "ticket")]
    page = rules[("MemorySLOAvailabilityBurn", "mem0", "page")]
    r = "memwatch:slo_sli_error:ratio_"
    assert page.expr == (
        f"({r}1h{SEL} / 0.001 > 14.4 and {r}5m{SEL} / 0.001 > 14.4) or "
        f"({r}6h{SEL} / 0.001 > 6 and {r}30m{SEL} / 0.001 > 6)")
    ticket = rules[("MemorySLOAvailabilityBurn", "mem0", "ticket")]
    assert ticket.expr == (
        f"({r}1d{SEL} / 0.001 > 3 and {r}2h{SEL} / 0.001 > 3) or "
        f"({r}3d{SEL} / 0.001 > 1 and {r}6h{SEL} / 0.001 > 1)")
    assert page.labels == {"severity": "critical", "component": "slo", "store": "mem0",
                           "tier": "page"}
    assert ticket.labels["severity"] == "warning" and page.for_s == 0
    assert page.group == "memwatch-slo-mem0" and page.file == "rules/slo.yml"
    oc = rules[("MemorySLOAvailabilityBurn", "oc", "page")]
    assert "/ 0.005 > 13.44 and" in oc.expr and "/ 0.005 > 5.6 and" in oc.expr
    assert page.annotations()["description"] == (
        "Store mem0 was unreachable (memwatch_up 0) for a larger share of the last hours "
        "than its availability objective (99.9% over 30d) allows: the error budget burns "
        "more than 14.4x as fast over 1h and 5m, or 6x over 6h and 30m; at that rate it is "
        "spent within 5d.")
    assert page.summary == ("Memory store mem0 burns its availability error budget too fast "
                            "(page)")
    fresh = rules[("MemorySLOFreshnessBurn", "mem0", "ticket")]
    assert "was without a memory newer than 15m" in fresh.annotations()["description"]


def test_recording_rules_come_first_once_per_slo() -> None:
    files = rules_mod.render(Model.of(spec()), Context("s.yaml"))
    groups = yaml.safe_load(files["rules/slo.yml"])["groups"]
    assert [g["name"] for g in groups] == ["memwatch-slo-mem0", "memwatch-slo-oc"]
    entries = groups[0]["rules"]
    kinds = [e.get("record") or e["alert"] for e in entries]
    windows = ["5m", "30m", "1h", "2h", "6h", "1d", "3d", "30d"]
    per_slo = ["memwatch:slo_sli_error:bool",
               *[f"memwatch:slo_sli_error:ratio_{w}" for w in windows],
               "memwatch:slo_error_budget_remaining:ratio"]
    assert kinds == [*per_slo, "MemorySLOAvailabilityBurn", "MemorySLOAvailabilityBurn",
                     *per_slo, "MemorySLOFreshnessBurn", "MemorySLOFreshnessBurn"]
    assert entries[0] == {"record": "memwatch:slo_sli_error:bool",
                          "expr": 'min by (store) (memwatch_up{store="mem0"}) < bool 1',
                          "labels": {"slo": "availability", "store": "mem0"}}
    assert [e["expr"] for e in entries[1:9]] == [
        f"avg_over_time(memwatch:slo_sli_error:bool{SEL}[{w}])" for w in windows]
    assert entries[9]["expr"] == f"1 - memwatch:slo_sli_error:ratio_30d{SEL} / 0.001"
    # each rule carries its SLO's labels: availability's and freshness's ratios of one store
    # are two rules to promtool, not a duplicate ("Might cause inconsistency")
    assert {str(e["labels"]) for e in entries if "record" in e} == {
        str({"slo": "availability", "store": "mem0"}), str({"slo": "freshness", "store": "mem0"})}
    assert entries[12]["expr"] == (
        'time() - max by (store) (memwatch_newest_memory_timestamp_seconds{store="mem0"}) '
        "> bool 900")
    assert "memwatch:slo_sli_error:ratio_28d" in str(groups[1])


def test_no_slos_no_file_and_no_rules() -> None:
    s = spec("stores: [{name: oc, preset: openclaw-mem}]")
    assert "rules/slo.yml" not in rules_mod.render(Model.of(s), Context("s.yaml"))
    assert slo_rules(s) == []


def test_overrides_severity_and_disabling_keeps_the_recording() -> None:
    s = spec(SPEC + """
alerts:
  rules:
    MemorySLOAvailabilityBurn: {severity: warning}
    MemorySLOFreshnessBurn: {enabled: false}
""")
    rules = by_key(slo_rules(s))
    assert rules[("MemorySLOAvailabilityBurn", "mem0", "page")].labels["severity"] == "warning"
    assert rules[("MemorySLOAvailabilityBurn", "mem0", "ticket")].labels["severity"] == "info"
    assert not any(k[0] == "MemorySLOFreshnessBurn" for k in rules)
    files = rules_mod.render(Model.of(s), Context("s.yaml"))
    groups = yaml.safe_load(files["rules/slo.yml"])["groups"]
    names = [g["name"] for g in groups]
    assert names == ["memwatch-slo-mem0", "memwatch-slo-oc", "memwatch-slo-mem0-recording"]
    assert all("record" in e for e in groups[2]["rules"]) and len(groups[2]["rules"]) == 10
    assert 'slo="freshness"' in groups[2]["rules"][1]["expr"]


# --- the replay -------------------------------------------------------------------------

def test_range_selection_of_prometheus_2_and_3() -> None:
    from fractions import Fraction
    bad = [False, False, True]
    # a 2-step window at the third evaluation: 3 samples [t-1m, t], or 2 in (t-1m, t]
    assert _above(bad, 2, Fraction(1, 3), left_open=False)[2] is None  # 1/3: a tie
    assert _above(bad, 2, Fraction(1, 3), left_open=True)[2] is True  # 1/2
    assert _above(bad, 2, Fraction(2, 5), left_open=False) == [False, False, False]


def test_replay_of_a_999_outage() -> None:
    """99.9% over 30d at 30s: one bad evaluation in 2h01m tickets (1/241 > 3 x 0.001), the
    second pages (2/122 > 14.4 x 0.001 over the last hour)."""
    s = spec()
    target = s.slos[0].availability
    assert target is not None
    burn = burn_of(s.slos[0], target, 0)
    good = HISTORY // STEP
    fires = replay([False] * good + [True] * 3, burn, left_open=False)
    assert fires["ticket"][good - 1:] == [False, True, True, True]
    assert fires["page"][good - 1:] == [False, False, True, True]
    page = plans(burn, "availability")["page"][0]
    # over after those two: the slow page's 30m window holds the second bad one till 60
    # evaluations later under Prometheus 2, 59 under 3; the checks skip where they differ
    last_bad = good + 1
    assert replay(page.bad + (False,) * 2, burn, False)["page"][last_bad + 60] is True
    assert replay(page.bad + (False,) * 2, burn, True)["page"][last_bad + 60] is False
    assert page.checks == ((good, frozenset({"ticket"})),
                           (good + 1, frozenset({"page", "ticket"})),
                           (last_bad + 59, frozenset({"page", "ticket"})),
                           (last_bad + 61, frozenset({"ticket"})))


def test_stalled_ingestion_series() -> None:
    """The newest memory stops moving 100s + a step before the first bad evaluation and
    moves again once it is over."""
    bad = [False, False, False, True, True, False]
    values = newest(bad, 100)
    assert values == (-40.0, -40.0, -40.0, -40.0, -40.0, 150.0)
    lag = [i * STEP - v for i, v in enumerate(values)]
    assert [x > 100 for x in lag] == bad


# --- promtool ---------------------------------------------------------------------------

def write_tree(tmp: Path, s: Spec, groups: list[dict[str, Any]] | None = None) -> list[str]:
    ctx = Context("s.yaml")
    files = {**rules_mod.render(Model.of(s), ctx), **ruletests.render(Model.of(s), ctx)}
    for rel, text in files.items():
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp / rel).write_text(text)
    if groups is not None:
        (tmp / slo.FILE).write_text(to_yaml({"groups": groups}))
    return sorted(rel for rel in files if rel.startswith("rules/tests/slo-"))


def promtool(tmp: Path, tests: list[str]) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, "test", "rules", *tests], cwd=tmp, capture_output=True,
                          text=True, timeout=300)


@needs_promtool
def test_rendered_slo_tests_pass(tmp_path: Path) -> None:
    tests = write_tree(tmp_path, spec())
    assert tests == ["rules/tests/slo-mem0-30s.yml", "rules/tests/slo-oc-30s.yml"]
    res = promtool(tmp_path, tests)
    assert res.returncode == 0, res.stdout + res.stderr
    names = [t["name"] for t in yaml.safe_load((tmp_path / tests[0]).read_text())["tests"]]
    assert len(names) == 6
    assert names[1] == ("MemorySLOAvailabilityBurn mem0: ticket: down one evaluation in "
                        "every 1h23m30s from 2h on: a ticket, never a page")


def of_sli(entry: dict[str, Any], sli: str) -> bool:
    return entry.get("labels", {}).get("slo") == sli or f'slo="{sli}"' in entry["expr"]


def mutated(s: Spec, rule: AlertRule | None, change: tuple[str, str], sli: str = ""
            ) -> list[dict[str, Any]]:
    """rules/slo.yml with `change` applied to one alert rule's expr (or, without a rule, to
    the SLI's recording rules), or `for` set when the change is ('for', duration)."""
    groups = yaml.safe_load(rules_mod.render(Model.of(s), Context("s.yaml"))[slo.FILE])["groups"]
    hits = 0
    for g in groups:
        for e in g["rules"]:
            if rule is None and "record" in e and change[0] in e["expr"] and of_sli(e, sli):
                e["expr"], hits = e["expr"].replace(*change), hits + 1
            elif rule is not None and e.get("alert") == rule.alert and \
                    e["labels"] == dict(sorted(rule.labels.items())):
                if change[0] == "for":
                    e["for"] = change[1]
                else:
                    assert change[0] in e["expr"], (change, e["expr"])
                    e["expr"] = e["expr"].replace(*change)
                hits += 1
    assert hits, change
    return groups


def rule_tests(tmp: Path, rule: AlertRule) -> list[str]:
    """A test file with only `rule`'s scenarios (the file its group writes, filtered)."""
    path = tmp / ruletests.test_file_name(rule.group, STEP)
    doc = yaml.safe_load(path.read_text())
    doc["tests"] = [ruletests._scenario_test(rule, sc) for sc in rule.scenarios]
    path.write_text(to_yaml(doc))
    return [str(path.relative_to(tmp))]


@needs_promtool
@pytest.mark.parametrize("change", ["for", "budget", "other tier"])
@pytest.mark.parametrize("which", [("MemorySLOAvailabilityBurn", "mem0", "page"),
                                   ("MemorySLOAvailabilityBurn", "mem0", "ticket"),
                                   ("MemorySLOFreshnessBurn", "mem0", "page"),
                                   ("MemorySLOFreshnessBurn", "mem0", "ticket")])
def test_each_rule_s_tests_catch_a_changed_rule(which: tuple[str, str, str], change: str,
                                                tmp_path: Path) -> None:
    """`for` lengthened (the mutation tests/generators/test_rules.py makes), the budget of
    an objective ten times looser (99% for 99.9%), the other tier's expression. A factor
    alone moved by a few percent is not caught: 2 hours of history at 30s hold 241
    evaluations, so one bad evaluation is already 4x the 99.9% ticket's 1x; the factors
    themselves are asserted where they are computed (tests/test_spec_slo.py)."""
    s = spec()
    rules = by_key(slo_rules(s))
    rule = rules[which]
    other = rules[(which[0], which[1], "ticket" if which[2] == "page" else "page")]
    budget = "0.001" if which[0] == "MemorySLOAvailabilityBurn" else "0.01"
    edit = {"for": ("for", "5m"), "budget": (f"/ {budget} >", f"/ ({budget} * 10) >"),
            "other tier": (rule.expr, other.expr)}[change]
    write_tree(tmp_path, s, mutated(s, rule, edit))
    res = promtool(tmp_path, rule_tests(tmp_path, rule))
    assert res.returncode != 0, f"{change} of {which} went unnoticed:\n{res.stdout}"


@needs_promtool
@pytest.mark.parametrize(("sli", "change"), [
    ("availability", ("< bool 1", "< bool 0")),  # never bad
    ("availability", ("[30m])", "[15m])")),  # the slow page resolves sooner
    ("availability", ("[1h])", "[30m])")),
    ("availability", ("[6h])", "[3h])")),
    ("freshness", ("> bool 900", "> bool 1800")),  # a longer lag
    ("freshness", ("> bool 900", "> bool 600")),  # a shorter one
    ("freshness", ("[1h])", "[30m])")),
])
def test_the_tests_catch_a_changed_recording_rule(sli: str, change: tuple[str, str],
                                                  tmp_path: Path) -> None:
    """The indicator, the lag and the windows the scenarios' hours reach. The day-long
    windows (1d, 3d) hold only those hours in a replay, and the 5m one never decides alone
    here (the slow page's 30m outlasts it): their expressions are asserted above."""
    s = spec("""
stores: [{name: mem0, preset: mem0-pgvector, dsn: 'env:X'}]
slos:
  - store: mem0
    availability: {objective: 99.9}
    freshness: {objective: 99, lag: 15m}
""")
    tests = write_tree(tmp_path, s, mutated(s, None, change, sli))
    res = promtool(tmp_path, tests)
    assert res.returncode != 0, f"{change} went unnoticed:\n{res.stdout}"
    assert re.search(rf"MemorySLO{sli.capitalize()}Burn", res.stdout + res.stderr)
