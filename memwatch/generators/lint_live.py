"""`gen-monitoring lint --prometheus URL`: the rendered rules and dashboards against a live
Prometheus, in the manner of pint's `promql/series` check.

- every rule's query parses on that server's version (its own parser: `format_query`,
  or an instant query where that endpoint is missing);
- every series a rule or a dashboard panel reads exists there, is recorded by the rendered
  rules themselves, or is one that appears only during incidents (said which, not failed);
- no rendered alert or recording rule takes a name that a group of another rule set
  already loaded there holds.

Series names are read from PromQL with a small tokenizer: strings, label matchers, ranges,
grouping clauses, numbers and durations are removed; an identifier followed by `(` is a
function or an aggregation; what is left names a series.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from memwatch.errors import MemwatchError
from memwatch.generators.lint import Report

TIMEOUT_SECONDS = 10.0
# Series that exist only while something is wrong: absent is their healthy state.
INCIDENT_ONLY: dict[str, str] = {
    "ALERTS": "only while an alert is pending or firing",
    "ALERTS_FOR_STATE": "only while an alert is pending or firing",
    "memwatch_backlog_oldest_timestamp_seconds": "only while an item waits in a backlog",
}
_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")  # Grafana's
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENT = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "atan2", "inf", "nan",
                       "by", "without", "on", "ignoring", "group_left", "group_right",
                       "start", "end", "Inf", "NaN"})


class LintError(MemwatchError):
    """The server cannot be asked (unreachable, not Prometheus): the lint cannot run."""


def series_names(expr: str) -> set[str]:
    """The series a PromQL expression reads."""
    text = _VARIABLE.sub("1", expr)
    text = _STRING.sub('""', text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    return {m.group(1) for m in _IDENT.finditer(text)
            if m.group(2) is None and m.group(1) not in _KEYWORDS}


@dataclass(frozen=True)
class Query:
    expr: str
    where: str  # `rules/alerts.yml: group/alert` or `dashboards/x.json: panel title`
    rule: bool


def rule_queries(out: Path, files: Iterable[str]) -> tuple[list[Query], dict[str, str]]:
    """The rendered rules' queries, and the names they define with their group's name."""
    queries, defined = [], {}
    for rel in sorted(f for f in files if f.startswith("rules/") and "/tests/" not in f
                      and f.endswith(".yml")):
        data = yaml.safe_load((out / rel).read_text(encoding="utf-8")) or {}
        for group in data.get("groups", []):
            for rule in group.get("rules", []):
                name = rule.get("alert") or rule.get("record")
                defined[name] = group["name"]
                queries.append(Query(str(rule["expr"]), f"{rel}: {group['name']}/{name}",
                                     True))
    return queries, defined


def panel_queries(out: Path, files: Iterable[str]) -> list[Query]:
    """Every `expr` of the rendered dashboards, with its panel's title."""
    queries = []
    for rel in sorted(f for f in files if f.startswith("dashboards/") and f.endswith(".json")):
        data = json.loads((out / rel).read_text(encoding="utf-8"))
        queries += [Query(expr, f"{rel}: {title}", False) for title, expr in _exprs(data, "")]
    return queries


def _exprs(node: Any, title: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        title = str(node.get("title", title))
        if isinstance(node.get("expr"), str) and node["expr"]:
            yield title, node["expr"]
        for key, value in node.items():
            if key != "expr":
                yield from _exprs(value, title)
    elif isinstance(node, list):
        for item in node:
            yield from _exprs(item, title)


class Prometheus:
    """The few API calls the lint needs, each bounded by TIMEOUT_SECONDS."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(f"{self.url}{path}{query}",
                                        timeout=TIMEOUT_SECONDS) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as err:
            body = _json_or_none(err)
            if body is None:
                raise LintError(f"{self.url}{path}: HTTP {err.code}") from None
        except (OSError, ValueError) as exc:
            raise LintError(f"{self.url}: {exc}") from None
        return body

    def parse_error(self, expr: str) -> str | None:
        """None when the server's parser takes `expr`, else its error."""
        body = self.get("/api/v1/format_query", query=expr)
        if body.get("status") == "success":
            return None
        if body.get("errorType") == "bad_data":
            return str(body.get("error"))
        # no format_query (before 2.33): an instant query parses it as well
        body = self.get("/api/v1/query", query=expr)
        return None if body.get("status") == "success" else str(body.get("error"))


def _json_or_none(err: urllib.error.HTTPError) -> Any:
    try:
        data = json.load(err)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "status" in data else None


def lint_live(out: Path, files: Iterable[str], url: str, report: Report) -> None:
    """The checks above, added to `report`; LintError when the server cannot be asked."""
    prom = Prometheus(url)
    info = prom.get("/api/v1/status/buildinfo")
    if info.get("status") != "success":
        raise LintError(f"{url}: not a Prometheus API (no build info)")
    version = info["data"].get("version", "?")
    files = list(files)
    rules, defined = rule_queries(out, files)
    queries = rules + panel_queries(out, files)
    _check_parse(report, prom, rules, version)
    _check_series(report, prom, queries, defined)
    _check_names(report, prom, defined)


def _check_parse(report: Report, prom: Prometheus, rules: list[Query], version: str) -> None:
    errors = [f"{q.where}: {err}" for q in rules if (err := prom.parse_error(q.expr))]
    what = f"every rule parses on Prometheus {version} ({len(rules)} rules)"
    if errors:
        report.failed(what, "\n".join(errors))
    else:
        report.passed(what)


def _check_series(report: Report, prom: Prometheus, queries: list[Query],
                  defined: dict[str, str]) -> None:
    body = prom.get("/api/v1/label/__name__/values")
    present = set(body.get("data") or [])
    missing: dict[str, list[str]] = {}
    for q in queries:
        for name in series_names(q.expr) - present - set(defined):
            missing.setdefault(name, []).append(q.where)
    for name in sorted(set(missing) & set(INCIDENT_ONLY)):
        report.passed(f"{name}: absent, as it should be: it exists {INCIDENT_ONLY[name]} "
                      f"(read by {len(missing.pop(name))} queries)")
    what = (f"every series the rules and dashboards read exists on the server "
            f"({len(queries)} queries)")
    if missing:
        report.failed(what, "\n".join(
            f"{name}: not on the server; read by {', '.join(sorted(set(where))[:3])}"
            + (f" and {len(set(where)) - 3} more" if len(set(where)) > 3 else "")
            for name, where in sorted(missing.items())))
    else:
        report.passed(what)


def _check_names(report: Report, prom: Prometheus, defined: dict[str, str]) -> None:
    body = prom.get("/api/v1/rules")
    ours = set(defined.values())
    taken = {}
    for group in (body.get("data") or {}).get("groups", []):
        if group.get("name") in ours:
            continue  # this rule set, already loaded
        for rule in group.get("rules", []):
            if rule.get("name") in defined:
                taken[rule["name"]] = f"{group.get('file')}: {group.get('name')}"
    what = "no rendered rule name is taken by another rule set loaded on the server"
    if taken:
        report.failed(what, "\n".join(f"{name}: already defined in {where}"
                                      for name, where in sorted(taken.items())))
    else:
        report.passed(what)
