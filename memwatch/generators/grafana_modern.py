"""Turn grafanalib 0.7.1's dashboard JSON into current Grafana JSON.

grafanalib emits schemaVersion 12 with keys Grafana dropped long ago (`rows`, `style`,
`hideControls`, `sharedCrosshair`, panel `span`/`height`), string datasources, nulls, and
threshold steps with the old graph panel's fields. Grafana's own dashboard schema
(@grafana/schema, checked in tests/generators/test_dashboards.py) rejects those.
"""

from __future__ import annotations

from typing import Any

# @grafana/schema 13.x's defaultDashboard.schemaVersion; a test holds it to the package.
SCHEMA_VERSION = 42

_DASHBOARD_LEGACY = ("rows", "style", "hideControls", "sharedCrosshair", "__inputs")
_PANEL_LEGACY = ("editable", "error", "height", "span", "minSpan", "maxDataPoints")
_ROW_KEYS = ("collapsed", "datasource", "gridPos", "id", "panels", "repeat", "title", "type")
_TARGET_LEGACY = ("query", "target", "metric", "step", "intervalFactor", "hide")
# grafanalib's Table: the old table panel's keys; its value mappings live in fieldConfig
_TABLE_LEGACY = ("color", "columns", "fontSize", "mappings")
_VARIABLE_LEGACY = ("auto", "auto_count", "auto_min", "useTags", "tagsQuery", "tagValuesQuery")
_TIMEPICKER_LEGACY = ("time_options",)


def _drop_nulls(obj: Any) -> Any:
    """grafanalib writes every unset attribute as null; the schema wants them absent."""
    if isinstance(obj, dict):
        return {k: _drop_nulls(v) for k, v in obj.items() if v is not None}
    if isinstance(obj, list):
        return [_drop_nulls(v) for v in obj]
    return obj


def _ref(ds: Any, ds_type: str) -> Any:
    """A datasource name or `${var}` string becomes a {type, uid} reference."""
    return {"type": ds_type, "uid": ds} if isinstance(ds, str) else ds


def _without(d: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in keys}


def _steps(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The base step's value is null (grafanalib writes the string "null"); op, line, yaxis
    # and index belonged to the old graph panel.
    return [{"color": s["color"], "value": None if i == 0 else _number(s["value"])}
            for i, s in enumerate(steps)]


def _number(x: Any) -> Any:
    """1.0 -> 1: grafanalib's float-only thresholds otherwise read 1.0 in the JSON."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def _target(t: dict[str, Any], ds_type: str) -> dict[str, Any]:
    out = _without(t, _TARGET_LEGACY)
    if "datasource" in out:
        out["datasource"] = _ref(out["datasource"], ds_type)
    if not out.get("interval"):
        out.pop("interval", None)
    if out.get("format") == "time_series":  # the default: only a table says its format
        del out["format"]
    out["editorMode"] = "code"
    out["range"] = not out.get("instant", False)
    return out


def _panel(p: dict[str, Any], ds_type: str) -> dict[str, Any]:
    if p.get("type") == "row":
        row = {k: v for k, v in p.items() if k in _ROW_KEYS}
        row["panels"] = [_panel(c, ds_type) for c in row.get("panels", [])]
        return row
    out = _without(p, _PANEL_LEGACY + (_TABLE_LEGACY if p.get("type") == "table" else ()))
    if "datasource" in out:
        out["datasource"] = _ref(out["datasource"], ds_type)
    out["targets"] = [_target(t, ds_type) for t in out.get("targets", [])]
    defaults = out.setdefault("fieldConfig", {}).setdefault("defaults", {})
    out["fieldConfig"].setdefault("overrides", [])
    defaults.get("custom", {}).pop("displayMode", None)  # the table's, now cellOptions
    thresholds = defaults.get("thresholds")
    if thresholds:
        thresholds["steps"] = _steps(thresholds.get("steps") or [])
    for prop in (p for o in out["fieldConfig"]["overrides"] for p in o["properties"]):
        if prop["id"] == "thresholds":  # a column's: its base step lost its null too
            prop["value"]["steps"] = _steps(prop["value"]["steps"])
    for mapping in defaults.get("mappings", []):
        for result in mapping.get("options", {}).values():
            result.pop("index", None)
    return out


def _variable(v: dict[str, Any], ds_type: str) -> dict[str, Any]:
    out = _without(v, _VARIABLE_LEGACY)
    if "datasource" in out:
        out["datasource"] = _ref(out["datasource"], ds_type)
    if isinstance(out.get("current"), dict):
        out["current"] = _without(out["current"], ("tags",))
    return out


def modernize(raw: dict[str, Any], ds_type: str) -> dict[str, Any]:
    """Current Grafana dashboard JSON from grafanalib's; datasources become `ds_type` refs."""
    d = _without(_drop_nulls(raw), _DASHBOARD_LEGACY)
    d["schemaVersion"] = SCHEMA_VERSION
    d["panels"] = [_panel(p, ds_type) for p in d.get("panels", [])]
    templating = d.setdefault("templating", {})
    templating["list"] = [_variable(v, ds_type) for v in templating.get("list", [])]
    if isinstance(d.get("timepicker"), dict):
        d["timepicker"] = _without(d["timepicker"], _TIMEPICKER_LEGACY)
    return d
