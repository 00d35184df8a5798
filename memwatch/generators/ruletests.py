"""rules/tests/*.yml: a `promtool test rules` file per rule group, every alert proved to
fire at its threshold after its `for` and to stay silent just below it."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from memwatch.generators.alerts import AlertRule, Scenario, Series
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, OutputConflict, go_duration, yaml_file

TESTS_DIR = "rules/tests"


@lru_cache(maxsize=4096)  # stores of a preset share their scenarios' values
def notation(values: tuple[float, ...]) -> str:
    """promtool's expanding notation: runs of equal steps as 'a+bxN'."""
    out: list[str] = []
    i = 0
    while i < len(values):
        j = i + 1
        step = values[j] - values[i] if j < len(values) else 0.0
        while j + 1 < len(values) and values[j + 1] - values[j] == step:
            j += 1
        if j == i + 1 and j < len(values) and step != 0:
            out.append(_num(values[i]))  # a lone value
            i += 1
            continue
        n = j - i
        if j >= len(values):
            out.append(_num(values[i]))
            i = j
            continue
        if step == 0:
            out.append(f"{_num(values[i])}x{n}")
        else:
            sign = "+" if step > 0 else "-"
            out.append(f"{_num(values[i])}{sign}{_num(abs(step))}x{n}")
        i = j + 1
    return " ".join(out)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(v)


def _scenario_test(rule: AlertRule, sc: Scenario) -> dict[str, Any]:
    def series(s: Series) -> dict[str, str]:
        return {"series": s.selector, "values": notation(s.values)}

    checks = []
    for check in sc.checks:
        alerts = []
        for exp in check.alerts:
            alerts.append({"exp_labels": dict(sorted(exp.labels.items())),
                           "exp_annotations": exp.annotations})
        checks.append({"eval_time": go_duration(check.at), "alertname": rule.alert,
                       "exp_alerts": alerts})
    store = rule.labels.get("store") or rule.labels.get("process") or ""
    tier = f" {rule.labels['threshold']}%" if "threshold" in rule.labels else ""
    return {
        "name": f"{rule.alert}{tier}{' ' + store if store else ''}: {sc.name}",
        "interval": go_duration(sc.interval),
        "input_series": [series(s) for s in sc.series],
        "alert_rule_test": checks,
    }


def test_file_name(group: str, interval: int = 60) -> str:
    """`rules/tests/<group>.yml`; scenarios at another interval get a file of their own
    (`<group>-10m.yml`): the evaluation interval is the file's."""
    suffix = "" if interval == 60 else f"-{go_duration(interval)}"
    return f"{TESTS_DIR}/{group.removeprefix('memwatch-')}{suffix}.yml"


@dataclass
class _TestFile:
    rule_file: str
    interval: int
    tests: list[dict[str, Any]] = field(default_factory=list)


def render(model: Model, ctx: Context) -> Files:
    """One test file per rule group and scenario interval, loading the rule file the group
    is written to (the anomaly group's has its own recording rules)."""
    files: dict[str, _TestFile] = {}
    for rule in model.rules:
        for sc in rule.scenarios:
            f = files.setdefault(test_file_name(rule.group, sc.interval),
                                 _TestFile(rule.file, sc.interval))
            if f.rule_file != rule.file:
                raise OutputConflict(f"group {rule.group}: its rules in two rule files")
            f.tests.append(_scenario_test(rule, sc))
    return {
        name: yaml_file({
            "rule_files": [f"../{PurePosixPath(f.rule_file).name}"],
            "evaluation_interval": go_duration(f.interval),
            "tests": f.tests,
        }, ctx)
        for name, f in files.items()
    }
