"""`dashboards/<uid_prefix>-slo.json`: the error budgets of the spec's SLOs (spec `slos`).

One row per SLO (a store's availability or freshness objective): the budget left over the
SLO's window, the SLI over it, the budget left over time, the burn rate over 1h, 6h and 1d
against the alert tiers' factors, and the SLI over 5m and 1h against the objective. Every
query reads the recording rules of rules/slo.yml (generators/alerts/slo.py). Built with the
dashboards' own model (grafana.py) and written the same way; no file without SLOs.
"""

from __future__ import annotations

from decimal import Decimal

from memwatch.generators.alerts.slo import ALERTS, BUDGET_REMAINING, number, ratio, selector
from memwatch.generators.dashboard_rows import alerts_annotation, links
from memwatch.generators.dashboard_stores import runbooks
from memwatch.generators.grafana import Dashboard, Panel, Query, Row, Step, dashboard_json
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, go_duration, json_file
from memwatch.spec import Spec
from memwatch.spec.slo import CLAUSES, Freshness, Sli, StoreSlo, Target

BURN_WINDOWS = (3600, 6 * 3600, 86400)
_BUDGET_STEPS = (Step("red"), Step("orange", 0), Step("green", 0.25))


def _title(slo: StoreSlo, target: Target, sli: Sli) -> str:
    lag = f" (lag {go_duration(target.lag)})" if isinstance(target, Freshness) else ""
    return f"{slo.store}: {sli}{lag}, {target.objective:g}% over {go_duration(slo.window)}"


def _burn_steps(slo: StoreSlo) -> tuple[Step, ...]:
    """The lines a burn rate is read against: 1 (the budget lasts the window), the ticket's
    fast factor, the page's slow and fast ones."""
    ticket, page = CLAUSES["ticket"][0], CLAUSES["page"]
    return (Step("green"), Step("yellow", 1.0),
            Step("orange", float(ticket.factor(slo.window))),
            Step("red", float(page[1].factor(slo.window))),
            Step("dark-red", float(page[0].factor(slo.window))))


def _panels(spec: Spec, slo: StoreSlo, sli: Sli, target: Target) -> tuple[Panel, ...]:
    sel, budget, w = selector(slo.store, sli), number(target.budget), go_duration(slo.window)
    objective = float(Decimal(repr(target.objective)) / 100)
    left = Query(f"{BUDGET_REMAINING}{sel}", "budget left")
    sli_steps = (Step("red"), Step("green", objective))
    return (
        Panel("stat", "Error budget left", (left,), unit="percentunit", steps=_BUDGET_STEPS,
              width=4, height=6, description=f"The share of the {w} error budget ({budget} "
              "of the time may be bad) not yet spent; below 0 the objective is missed."),
        Panel("stat", f"SLI over {w}", (Query(f"1 - {ratio(slo.window)}{sel}", "SLI"),),
              unit="percentunit", steps=sli_steps, width=4, height=6,
              description=f"The share of good evaluations over {w}; the objective is "
                          f"{target.objective:g}%."),
        Panel("timeseries", "Error budget left over time", (left,), unit="percentunit",
              steps=_BUDGET_STEPS, threshold_lines=True, max=1, width=16, height=6,
              links=runbooks(spec, ALERTS[sli]),
              description=f"What was left of the budget of the {w} before each moment."),
        Panel("timeseries", "Burn rate", tuple(
            Query(f"{ratio(x)}{sel} / {budget}", go_duration(x)) for x in BURN_WINDOWS),
            min=0, steps=_burn_steps(slo), threshold_lines=True, width=12, height=8,
            links=runbooks(spec, ALERTS[sli]),
            description="The error ratio over the window against the budget: 1 spends it "
                        "exactly in the SLO's window. The lines: the ticket's and the "
                        "page's factors (their short windows must burn as fast too)."),
        Panel("timeseries", "SLI", tuple(
            Query(f"1 - {ratio(x)}{sel}", go_duration(x)) for x in (300, 3600)),
            unit="percentunit", max=1, steps=sli_steps, threshold_lines=True, width=12,
            height=8, description="The share of good evaluations over the last 5m and 1h; "
                                  "the line is the objective."),
    )


def slo_dashboard(spec: Spec, ctx: Context) -> Dashboard | None:
    """The error-budget dashboard; None when the spec declares no SLO."""
    if not spec.slos:
        return None
    d = spec.dashboards
    rows = tuple(Row(_title(slo, target, sli), _panels(spec, slo, sli, target))
                 for slo in spec.slos for sli, target in slo.targets())
    longest = max(slo.window for slo in spec.slos)
    alerts = "|".join(sorted(ALERTS.values()))
    return Dashboard(
        uid=f"{d.uid_prefix}-slo", title=f"{d.title_prefix} SLOs", description=ctx.header,
        datasource_default=d.datasource, tags=("memwatch",), refresh=d.refresh,
        time_from=f"now-{go_duration(longest)}", rows=rows, links=links(spec),
        annotations=(alerts_annotation(spec, f'alertname=~"{alerts}"', ("store", "tier")),))


def render(model: Model, ctx: Context) -> Files:
    board = slo_dashboard(model.spec, ctx)
    return {} if board is None else {f"dashboards/{board.uid}.json":
                                     json_file(dashboard_json(board))}


__all__ = ["render", "slo_dashboard"]
