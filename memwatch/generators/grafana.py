"""Our dashboard model: small dataclasses that describe panels, turned into Grafana JSON.

grafanalib (frozen since 2024-01, emitting schemaVersion 12 JSON) is used here and nowhere
else: `raw_json` feeds our model through it, `grafana_modern.modernize` turns its output into
current Grafana JSON. Replacing grafanalib means rewriting this module only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import grafanalib.core as G
from grafanalib._gen import DashboardEncoder

from memwatch.generators.grafana_modern import modernize

GRID_WIDTH = 24
DATASOURCE_TYPE = "prometheus"
DATASOURCE_VAR = "datasource"

PanelKind = Literal["timeseries", "stat"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Step:
    """A threshold step: values >= `value` get `color`; the base step has no value."""

    color: str
    value: float | None = None


@dataclass(frozen=True)
class ValueText:
    """A value mapping: show `text` in `color` for `value` (e.g. 1 -> UP, green)."""

    value: str
    text: str
    color: str


@dataclass(frozen=True)
class Panel:
    kind: PanelKind
    title: str
    queries: tuple[Query, ...]
    description: str = ""
    unit: str = "short"
    steps: tuple[Step, ...] = (Step("green"),)
    threshold_lines: bool = False  # timeseries: draw the non-base steps as lines
    mappings: tuple[ValueText, ...] = ()
    min: float | None = None
    max: float | None = None
    width: int = 8
    height: int = 7


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]
    repeat: str | None = None  # a variable: Grafana draws one copy of the row per value


@dataclass(frozen=True)
class QueryVariable:
    """A multi-value variable filled from the datasource, `All` selected by default."""

    name: str
    label: str
    query: str  # e.g. label_values(memwatch_up, store)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    datasource_default: str  # the datasource variable's default (a datasource name)
    variables: tuple[QueryVariable, ...] = ()
    tags: tuple[str, ...] = ()
    refresh: str = "30s"
    time_from: str = "now-6h"


def _ds() -> str:
    return f"${{{DATASOURCE_VAR}}}"


def _refid(i: int) -> str:
    return chr(ord("A") + i) if i < 26 else f"Q{i}"


def _targets(p: Panel) -> list[G.Target]:
    return [G.Target(expr=q.expr, legendFormat=q.legend, refId=_refid(i))
            for i, q in enumerate(p.queries)]


def _thresholds(p: Panel) -> list[G.Threshold]:
    return [G.Threshold(s.color, i, 0.0 if s.value is None else float(s.value))
            for i, s in enumerate(p.steps)]


def _mappings(p: Panel) -> list[G.StatValueMappings]:
    if not p.mappings:
        return []
    return [G.StatValueMappings(*[G.StatValueMappingItem(m.text, m.value, m.color)
                                  for m in p.mappings])]


def _limits(p: Panel) -> dict[str, Any]:
    limits = {k: v for k, v in (("min", p.min), ("max", p.max)) if v is not None}
    return {"fieldConfig": {"defaults": limits}} if limits else {}


def _panel(p: Panel, pid: int, pos: G.GridPos) -> G.Panel:
    common: dict[str, Any] = dict(
        title=p.title, description=p.description or None, dataSource=_ds(), id=pid,
        gridPos=pos, targets=_targets(p), thresholds=_thresholds(p), extraJson=_limits(p))
    if p.kind == "stat":
        return G.Stat(
            # noValue: grafanalib's "none" would print that word instead of "No data"
            format=p.unit, mappings=_mappings(p), reduceCalc="lastNotNull", noValue=None,
            graphMode="none" if p.mappings else "area", colorMode="background",
            **common)
    return G.TimeSeries(
        unit=p.unit, mappings=_mappings(p), legendDisplayMode="list",
        thresholdsStyleMode="line" if p.threshold_lines else "off",
        tooltipMode="multi", **common)


def _layout(d: Dashboard) -> list[G.Panel]:
    """Rows stacked top to bottom; a row's panels flow left to right, wrapping at 24."""
    out: list[G.Panel] = []
    y = 0
    for row in d.rows:
        out.append(G.RowPanel(
            title=row.title, id=len(out) + 1, gridPos=G.GridPos(h=1, w=GRID_WIDTH, x=0, y=y),
            repeat=G.Repeat(variable=row.repeat)))
        y += 1
        x, line_h = 0, 0
        for p in row.panels:
            if x + p.width > GRID_WIDTH:
                x, y, line_h = 0, y + line_h, 0
            out.append(_panel(p, len(out) + 1, G.GridPos(h=p.height, w=p.width, x=x, y=y)))
            x += p.width
            line_h = max(line_h, p.height)
        y += line_h
    return out


def _variables(d: Dashboard) -> list[G.Template]:
    out = [G.Template(name=DATASOURCE_VAR, label="Data source", type="datasource",
                      query=DATASOURCE_TYPE, default=d.datasource_default)]
    out += [G.Template(name=v.name, label=v.label, query=v.query, dataSource=_ds(),
                       multi=True, includeAll=True, default="$__all", refresh=2)
            for v in d.variables]
    return out


def _grafanalib(d: Dashboard) -> G.Dashboard:
    return G.Dashboard(
        title=d.title, uid=d.uid, description=d.description, tags=list(d.tags),
        panels=_layout(d), templating=G.Templating(list=_variables(d)),
        time=G.Time(d.time_from, "now"), refresh=d.refresh, timezone="browser",
        graphTooltip=1)  # shared crosshair: line up a drop with a database outage


def raw_json(d: Dashboard) -> dict[str, Any]:
    """grafanalib's JSON as it comes (schemaVersion 12, legacy keys)."""
    data: dict[str, Any] = json.loads(json.dumps(_grafanalib(d).to_json_data(),
                                                 cls=DashboardEncoder))
    return data


def dashboard_json(d: Dashboard) -> dict[str, Any]:
    """Current Grafana dashboard JSON for `d`."""
    out = modernize(raw_json(d), DATASOURCE_TYPE)
    for var in out["templating"]["list"]:
        if var.get("includeAll"):  # grafanalib's current would display the raw "$__all"
            var["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return out


def targets(dashboard: dict[str, Any]) -> list[str]:
    """Every panel query of a dashboard JSON (collapsed rows included), in panel order."""
    panels = [q for p in dashboard.get("panels", []) for q in (p, *p.get("panels", []))]
    return [t["expr"] for p in panels for t in p.get("targets", []) if t.get("expr")]
