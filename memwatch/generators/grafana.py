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

PanelKind = Literal["timeseries", "stat", "table"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    table: bool = False  # an instant query in table format: one row per series, now


@dataclass(frozen=True)
class Link:
    """A link to a page: on the dashboard's top bar, a panel's header, or a table cell
    (where `url` may use Grafana's data-link variables, e.g. ${__value.text})."""

    title: str
    url: str = ""
    tooltip: str = ""
    icon: str = "external link"
    tags: tuple[str, ...] = ()  # a link to the dashboards with these tags (no url)


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
class Column:
    """A table column: the field (a label of the series, or `Value #<refId>`) shown under
    `title`, in the order the panel lists its columns; fields not listed are not shown."""

    field: str
    title: str
    unit: str | None = None
    mappings: tuple[ValueText, ...] = ()
    link: Link | None = None
    steps: tuple[Step, ...] = ()  # the cell's background by value (with `mappings`: theirs)


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
    links: tuple[Link, ...] = ()
    columns: tuple[Column, ...] = ()  # table: the columns shown (the queries are merged)
    sort_by: str | None = None  # table: the column title sorted on, descending
    no_value: str | None = None  # shown instead of "No data"


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
    hidden: bool = False  # not shown above the dashboard (a row repeats over it)


@dataclass(frozen=True)
class Annotation:
    """Markers on every time series panel from a Prometheus query: one per series, from the
    time it appears until it is gone (e.g. ALERTS: an alert's firing time)."""

    name: str
    expr: str
    title: str  # Grafana's titleFormat: {{label}} placeholders
    text: str = ""
    tags: tuple[str, ...] = ()  # labels shown as the marker's tags
    color: str = "red"
    step: str = "30s"


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
    links: tuple[Link, ...] = ()
    annotations: tuple[Annotation, ...] = ()


def _ds() -> str:
    return f"${{{DATASOURCE_VAR}}}"


def _ds_ref() -> dict[str, str]:
    return {"type": DATASOURCE_TYPE, "uid": _ds()}


def refid(i: int) -> str:
    """The refId of a panel's i-th query (a table names its values `Value #<refId>`)."""
    return chr(ord("A") + i) if i < 26 else f"Q{i}"


def value_field(i: int, queries: int) -> str:
    """The field holding the value of a table panel's i-th query: `Value` alone, `Value
    #<refId>` beside others (so a merge keeps them apart)."""
    return "Value" if queries == 1 else f"Value #{refid(i)}"


def _targets(p: Panel) -> list[G.Target]:
    return [G.Target(expr=q.expr, legendFormat=q.legend, refId=refid(i), instant=q.table,
                     format="table" if q.table else "time_series")
            for i, q in enumerate(p.queries)]


def _thresholds(steps: tuple[Step, ...]) -> list[G.Threshold]:
    return [G.Threshold(s.color, i, 0.0 if s.value is None else float(s.value))
            for i, s in enumerate(steps)]


def _value_mapping(mappings: tuple[ValueText, ...]) -> dict[str, Any]:
    """A value mapping; a ValueText without a color leaves the cell's color alone."""
    return {"type": "value", "options": {
        m.value: {"text": m.text, **({"color": m.color} if m.color else {})}
        for m in mappings}}


def _mappings(p: Panel) -> list[G.StatValueMappings]:
    if not p.mappings:
        return []
    return [G.StatValueMappings(*[G.StatValueMappingItem(m.text, m.value, m.color)
                                  for m in p.mappings])]


def _defaults(p: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {k: v for k, v in (("min", p.min), ("max", p.max),
                                                  ("noValue", p.no_value)) if v is not None}
    return {"fieldConfig": {"defaults": defaults}} if defaults else {}


def link_json(link: Link) -> dict[str, Any]:
    """A link as Grafana's schema has it (DashboardLink: every key required)."""
    return {"title": link.title, "type": "dashboards" if link.tags else "link",
            "url": link.url, "tooltip": link.tooltip, "icon": link.icon,
            "tags": list(link.tags), "asDropdown": False, "includeVars": False,
            "keepTime": bool(link.tags), "targetBlank": not link.tags}


def _column_override(c: Column) -> dict[str, Any] | None:
    props: list[dict[str, Any]] = []
    if c.unit:
        props.append({"id": "unit", "value": c.unit})
    if c.mappings:
        props.append({"id": "mappings", "value": [_value_mapping(c.mappings)]})
    if c.steps:
        props.append({"id": "thresholds", "value": {"mode": "absolute", "steps": [
            {"color": s.color, "value": s.value} for s in c.steps]}})
    if c.steps or any(m.color for m in c.mappings):
        props.append({"id": "custom.cellOptions", "value": {"type": "color-background"}})
    if c.link:
        props.append({"id": "links", "value": [
            {"title": c.link.title, "url": c.link.url, "targetBlank": True}]})
    # organize renames the field first: overrides match the name it is shown under
    return {"matcher": {"id": "byName", "options": c.title},
            "properties": props} if props else None


def _table_transformations(p: Panel) -> list[dict[str, Any]]:
    shown = [c.field for c in p.columns]
    merge = [{"id": "merge", "options": {}}] if len(p.queries) > 1 else []
    return [*merge,
            {"id": "filterFieldsByName", "options": {"include": {"names": shown}}},
            {"id": "organize", "options": {
                "excludeByName": {}, "indexByName": {f: i for i, f in enumerate(shown)},
                "renameByName": {c.field: c.title for c in p.columns}}}]


def _table(p: Panel, common: dict[str, Any]) -> G.Panel:
    overrides = [o for o in map(_column_override, p.columns) if o is not None]
    sort = [G.TableSortByField(p.sort_by, True)] if p.sort_by else []
    return G.Table(unit=p.unit, transformations=_table_transformations(p),
                   overrides=overrides, sortBy=sort, **common)


def _panel(p: Panel, pid: int, pos: G.GridPos) -> G.Panel:
    common: dict[str, Any] = dict(
        title=p.title, description=p.description or None, dataSource=_ds(), id=pid,
        gridPos=pos, targets=_targets(p), thresholds=_thresholds(p.steps),
        links=[link_json(link) for link in p.links], extraJson=_defaults(p))
    if p.kind == "table":
        return _table(p, common)
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
                       multi=True, includeAll=True, default="$__all", refresh=2,
                       hide=2 if v.hidden else 0)
            for v in d.variables]
    return out


def _annotation(a: Annotation) -> dict[str, Any]:
    """A Prometheus annotation as Grafana saves one: the query under `target`, the
    formatting beside it (Grafana's schema leaves both open to the datasource)."""
    return {"name": a.name, "datasource": _ds_ref(), "enable": True, "hide": False,
            "iconColor": a.color, "step": a.step, "titleFormat": a.title,
            "textFormat": a.text, "tagKeys": ",".join(a.tags), "useValueForTime": False,
            "target": {"expr": a.expr, "interval": a.step, "refId": "Anno"}}


def _grafanalib(d: Dashboard) -> G.Dashboard:
    return G.Dashboard(
        title=d.title, uid=d.uid, description=d.description, tags=list(d.tags),
        panels=_layout(d), templating=G.Templating(list=_variables(d)),
        time=G.Time(d.time_from, "now"), refresh=d.refresh, timezone="browser",
        links=[link_json(link) for link in d.links],
        annotations=G.Annotations(list=[_annotation(a) for a in d.annotations]),
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


def _all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [q for p in dashboard.get("panels", []) for q in (p, *p.get("panels", []))]


def targets(dashboard: dict[str, Any]) -> list[str]:
    """Every panel query of a dashboard JSON (collapsed rows included), in panel order."""
    return [t["expr"] for p in _all_panels(dashboard) for t in p.get("targets", [])
            if t.get("expr")]


def annotation_targets(dashboard: dict[str, Any]) -> list[str]:
    """Every annotation query of a dashboard JSON."""
    return [a["target"]["expr"] for a in dashboard.get("annotations", {}).get("list", [])
            if a.get("target", {}).get("expr")]
