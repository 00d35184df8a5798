"""`runbooks/memwatch.md`: what each alert this spec renders means and what to do.

Every alert's `runbook_url` is `alerts.runbook_url` + `#<alert name in lower case>`. Left
unset, that base is this file's path inside `--out` (spec.monitoring.DEFAULT_RUNBOOK_URL):
runbooks the user really has, beside the rules they explain, stating the thresholds, `for`
and severity this spec gives each store (not the catalogue's defaults). Served from where
the output directory lives (a repository's web view), it is what `alerts.runbook_url`
should name; `render` warns while it is unset (pipeline.warnings).

Each section: the solution (the spec's `runbook` override, else the catalogue's), the
override's steps, then every rule of the alert with its severity, `for` and expression.
"""

from __future__ import annotations

import re

from memwatch.catalogue import CATALOGUE
from memwatch.generators.alerts import AlertRule
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, go_duration
from memwatch.spec import Spec
from memwatch.spec.monitoring import DEFAULT_RUNBOOK_URL, Runbook

PATH = DEFAULT_RUNBOOK_URL
LABEL_REF = re.compile(r"\{\{ \$labels\.(\w+) \}\}")

INTRO = """\
# Runbooks

What each alert of this monitoring setup means and what to do. Every alert's `runbook_url`
links to its section here; the rules listed under it are the ones rendered, with their
severity, `for` and expression. memwatch's `docs/operations.md` explains every alert's
causes in more depth.
"""


def _advice(runbook: Runbook | None, solution: str) -> list[str]:
    """A runbook override (title, solution, steps), else the catalogue's solution."""
    lines: list[str] = []
    if runbook is not None and runbook.title:
        lines += [f"**{runbook.title}**", ""]
    lines += [(runbook.solution if runbook is not None and runbook.solution else solution)
              or "See memwatch's docs/operations.md.", ""]
    if runbook is not None and runbook.steps:
        lines += [f"{i}. {step}" for i, step in enumerate(runbook.steps, 1)] + [""]
    return lines


def _rule(rule: AlertRule, shared: set[str], section: Runbook | None, solution: str
          ) -> list[str]:
    own = {k: v for k, v in rule.labels.items() if k not in shared}
    where = ", ".join(f'{k}="{v}"' for k, v in sorted(own.items()))
    when = f", for {go_duration(rule.for_s)}" if rule.for_s else ", at once"
    summary = LABEL_REF.sub(r"`<\1>`", rule.summary)  # what the notification fills in
    lines = [f"- {f'`{where}`' if where else 'every target'}: {rule.labels['severity']}{when}: "
             f"{summary}",
             "", "  ```promql", *(f"  {line}" for line in rule.expr.splitlines()),
             "  ```", ""]
    if rule.runbook is not None and rule.runbook != section:
        lines += [f"  {line}" if line else "" for line in _advice(rule.runbook, solution)]
    return lines


def _section(spec: Spec, name: str, solution: str, rules: list[AlertRule]) -> list[str]:
    override = spec.alerts.rules.get(name)
    section = override.runbook if override is not None else None
    lines = [f'<a id="{name.lower()}"></a>', "", f"## {name}", "", *_advice(section, solution)]
    shared = {"severity", "component", *spec.alerts.extra_labels}  # not what tells rules apart
    for rule in rules:
        lines += _rule(rule, shared, section, solution)
    return lines


def render(model: Model, ctx: Context) -> Files:
    by_alert: dict[str, list[AlertRule]] = {}
    for rule in model.rules:
        by_alert.setdefault(rule.alert, []).append(rule)
    lines = [f"<!-- {ctx.header} -->", "", INTRO]
    for alert in CATALOGUE:
        if alert.name in by_alert:
            lines += _section(model.spec, alert.name, alert.solution, by_alert[alert.name])
    return {PATH: "\n".join(lines).rstrip("\n") + "\n"}
