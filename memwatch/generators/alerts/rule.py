"""An alert rule as gen-monitoring renders it, with the settings the spec resolves for it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from memwatch.catalogue import BY_NAME, Severity
from memwatch.errors import MemwatchError
from memwatch.generators.humanize import FORMATS
from memwatch.spec import Spec
from memwatch.spec.monitoring import AlertOverride, Runbook

# The labels of the exporter's series in the scenarios (each adds its store).
EXPORTER_LABELS: dict[str, str] = {"instance": "memwatch:9187", "job": "memwatch"}
_LABEL_REF = re.compile(r"\{\{ \$labels\.(\w+) \}\}")  # in an annotation template


class GenerationError(MemwatchError):
    """The spec is valid alone but asks for rules that cannot work; names the key."""


@dataclass(frozen=True)
class Series:
    metric: str
    labels: dict[str, str]
    values: tuple[float, ...]  # one sample per STEP from t=0

    @property
    def selector(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}"


@dataclass(frozen=True)
class Expected:
    labels: dict[str, str]
    annotations: dict[str, str]  # as they expand when the alert fires


@dataclass(frozen=True)
class Check:
    at: int  # seconds
    alerts: tuple[Expected, ...]


@dataclass(frozen=True)
class Scenario:
    name: str
    series: tuple[Series, ...]
    checks: tuple[Check, ...]
    interval: int = 60  # seconds between the series' samples, and between evaluations


@dataclass
class AlertRule:
    alert: str
    group: str
    expr: str
    for_s: float
    labels: dict[str, str]
    summary: str
    description: str  # with {value} where the formatted $value goes
    value_format: str | None
    runbook_url: str
    scenarios: list[Scenario] = field(default_factory=list)
    runbook: Runbook | None = None
    file: str = "rules/alerts.yml"  # the rule file it is written to

    def annotations(self, value: float | None = None) -> dict[str, str]:
        """The rule's annotations, or (with a value) the text they expand to."""
        if self.value_format is None:
            desc = self.description
        elif value is None:
            desc = self.description.replace("{value}", FORMATS[self.value_format][0])
        else:
            desc = self.description.replace("{value}", FORMATS[self.value_format][1](value))
        return {"summary": self.summary, "description": desc, "runbook_url": self.runbook_url}

    def expected(self, by: dict[str, str], value: float | None) -> Expected:
        """The alert as promtool must see it fire with `value`, for the series `by`."""
        labels = {**by, **self.labels}

        def expand(text: str) -> str:
            if "{{ $labels." not in text:
                return text
            return _LABEL_REF.sub(lambda m: labels.get(m.group(1), ""), text)

        return Expected(labels, {k: expand(v) for k, v in self.annotations(value).items()})


@dataclass(frozen=True)
class Settings:
    """An alert's settings after the spec's overrides: catalogue, then `alerts.rules`,
    then the store's own `alerts`."""

    enabled: bool
    severity: Severity
    for_s: float
    threshold: float | None
    window: float | None
    runbook: Runbook | None
    min_count: float | None = None

    @property
    def limit(self) -> float:
        assert self.threshold is not None, "the catalogue gives this alert a threshold"
        return self.threshold

    @property
    def span(self) -> float:
        assert self.window is not None, "the catalogue gives this alert a window"
        return self.window


def resolve(spec: Spec, name: str, store_overrides: dict[str, AlertOverride] | None = None
            ) -> Settings:
    base = BY_NAME[name]
    s = Settings(base.enabled, base.severity, base.for_seconds, base.threshold, base.window_seconds,
                 None, base.min_count)
    for ov in (spec.alerts.rules.get(name), (store_overrides or {}).get(name)):
        if ov is None:
            continue
        s = Settings(
            s.enabled if ov.enabled is None else ov.enabled, ov.severity or s.severity,
            s.for_s if ov.for_ is None else ov.for_,
            s.threshold if ov.threshold is None else ov.threshold,
            s.window if ov.window is None else ov.window,
            ov.runbook or s.runbook,
            s.min_count if ov.min_count is None else ov.min_count)
    return s


def pct(r: float) -> str:
    return f"{r * 100:g}%"


def new_rule(spec: Spec, alert: str, group: str, expr: str, st: Settings, description: str,
             value_format: str | None = None, labels: dict[str, str] | None = None
             ) -> AlertRule:
    """A rule with the catalogue's summary and component, the spec's extra labels and
    runbook link; `labels` are the ones that identify it (store, check, process...)."""
    d = BY_NAME[alert]
    own = labels or {}
    fields = {"threshold_pct": pct(st.threshold) if st.threshold is not None else "",
              "instance": "{{ $labels.instance }}", "store": "{{ $labels.store }}", **own}
    return AlertRule(
        alert=alert, group=group, expr=expr, for_s=st.for_s,
        labels={**spec.alerts.extra_labels, "severity": st.severity,
                "component": d.component, **own},
        summary=d.summary.format(**fields), description=description,
        value_format=value_format,
        runbook_url=f"{spec.alerts.runbook_url}#{alert.lower()}", runbook=st.runbook)
