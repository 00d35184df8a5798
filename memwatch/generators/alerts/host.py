"""Alerts beyond the stores: the exporter itself, host RAM and process RAM."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from memwatch.generators.alerts.rule import (
    AlertRule,
    Check,
    Expected,
    Scenario,
    Series,
    Settings,
    new_rule,
    pct,
    resolve,
)
from memwatch.generators.alerts.scenarios import STEP, ceil_step, level
from memwatch.generators.derived import Derived
from memwatch.generators.output import go_duration
from memwatch.spec import Spec


def exporter_rules(model: Derived) -> Iterator[AlertRule]:
    """One rule per exporter job (it fires per instance); its test uses the job's first
    target."""
    spec = model.spec
    s = resolve(spec, "MemwatchExporterDown")
    if not s.enabled:
        return
    for exporter in model.exporter_jobs:
        job = exporter.job
        by = {"instance": exporter.instance, "job": job}
        r = new_rule(spec, "MemwatchExporterDown", "memwatch-exporter", f'up{{job="{job}"}} == 0',
                     s, f"Prometheus cannot scrape the memwatch exporter (job {job}): no store "
                        "behind it is being watched.")
        level(r, by, [Series("up", by, (0.0,))], None, [Series("up", by, (1.0,))])
        yield r


def ram_rules(model: Derived) -> Iterator[AlertRule]:
    spec = model.spec
    ram = spec.alerts.ram
    if ram.host:
        yield from _host_ram(spec)
    horizon, window = ram.predict_horizon, go_duration(ram.predict_window)
    for proc in ram.processes:
        by = {"instance": f"{proc.name}:9100", "job": proc.job}
        group = f"memwatch-ram-{proc.name}"
        sel = f'{{job="{proc.job}"}}'
        if resolve(spec, "ProcessMemoryUsageHigh").enabled:
            limit = float(proc.limit_bytes)
            yield from _tiers(
                spec, "ProcessMemoryUsageHigh", group,
                f"max by (instance, job) (process_resident_memory_bytes{sel}) / "
                f"{proc.limit_bytes}", by, limit, _rss_series(by), _ratio_of_limit(limit),
                {"process": proc.name})
        s = resolve(spec, "ProcessMemoryExhaustionPredicted")
        if s.enabled:
            r = new_rule(
                spec, "ProcessMemoryExhaustionPredicted", group,
                f"predict_linear(process_resident_memory_bytes{sel}[{window}], {horizon:g}) "
                f">= {proc.limit_bytes}", s,
                f"At the rate of the last {window}, {proc.name} reaches its memory limit "
                f"within {go_duration(horizon)}.", None, {"process": proc.name})
            _predict(r, by, "process_resident_memory_bytes", horizon, falling=False,
                     limit=float(proc.limit_bytes))
            yield r


def _host_ram(spec: Spec) -> Iterator[AlertRule]:
    ram = spec.alerts.ram
    horizon, window = ram.predict_horizon, go_duration(ram.predict_window)
    job = ram.node_job
    by = {"instance": "node:9100", "job": job}
    if resolve(spec, "HostMemoryUsageHigh").enabled:
        total = 17_179_869_184.0
        usage = (f'1 - (node_memory_MemAvailable_bytes{{job="{job}"}} / '
                 f'node_memory_MemTotal_bytes{{job="{job}"}})')
        yield from _tiers(
            spec, "HostMemoryUsageHigh", "memwatch-ram-host", usage, by, total,
            lambda used: [Series("node_memory_MemAvailable_bytes", by, (total - used,)),
                          Series("node_memory_MemTotal_bytes", by, (total,))],
            lambda used: 1 - (total - used) / total, {})
    s = resolve(spec, "HostMemoryExhaustionPredicted")
    if s.enabled:
        r = new_rule(
            spec, "HostMemoryExhaustionPredicted", "memwatch-ram-host",
            f'predict_linear(node_memory_MemAvailable_bytes{{job="{job}"}}[{window}], '
            f"{horizon:g}) <= 0", s,
            f"At the rate of the last {window}, available memory on "
            f"{{{{ $labels.instance }}}} reaches zero within {go_duration(horizon)}.")
        _predict(r, by, "node_memory_MemAvailable_bytes", horizon, falling=True, limit=0.0)
        yield r


def _tiers(spec: Spec, alert: str, group: str, usage: str, by: dict[str, str], total: float,
           series: Callable[[float], list[Series]], ratio_of: Callable[[float], float],
           labels: dict[str, str]) -> list[AlertRule]:
    """One rule per RAM tier: same alertname, its own severity and `threshold` label.

    `series(used)` gives the input series for `used` bytes in use; `ratio_of(used)`
    computes the usage exactly as the rule's PromQL does (same IEEE doubles)."""
    s = resolve(spec, alert)
    tiers = spec.alerts.ram.tiers
    rules = [new_rule(spec, alert, group, f"{usage} >= {tier.ratio:g}",
                      Settings(True, tier.severity, s.for_s, tier.ratio, None, s.runbook),
                      "Memory usage is {value} (tier " + pct(tier.ratio) + ").", "ratio",
                      {**labels, "threshold": f"{tier.ratio * 100:g}"})
             for tier in tiers]
    end = ceil_step(s.for_s) + STEP
    n = end // STEP + 2

    def scenario(used: float) -> tuple[Series, ...]:
        return tuple(Series(x.metric, x.labels, x.values * n) for x in series(used))

    def firing(used: float) -> tuple[Expected, ...]:
        return tuple(rules[j].expected(by, ratio_of(used))
                     for j in range(len(tiers)) if ratio_of(used) >= tiers[j].ratio)

    for tier, r in zip(tiers, rules, strict=True):
        used = float(math.ceil(total * tier.ratio))
        while ratio_of(used) < tier.ratio:
            used += 1
        under = used - 1
        while ratio_of(under) >= tier.ratio:
            under -= 1
        checks = [Check(end, firing(used))]
        if s.for_s >= STEP:
            checks.insert(0, Check(end - 2 * STEP, ()))
        r.scenarios += [Scenario("fires at the tier", scenario(used), tuple(checks)),
                        Scenario("silent just below the tier", scenario(under),
                                 (Check(end, firing(under)),))]
    return rules


def _predict(r: AlertRule, by: dict[str, str], metric: str, horizon: float, falling: bool,
             limit: float) -> None:
    """predict_linear scenarios: a straight line reaching `limit` within the horizon."""
    rate = 1_000_000.0  # per STEP
    steps_h = horizon / STEP
    t_true = ceil_step(r.for_s) + 10 * STEP
    end = t_true + ceil_step(r.for_s) + STEP
    times = range(0, end + STEP, STEP)
    sign = -1.0 if falling else 1.0
    # fire: the prediction meets the limit at t_true; silent: a step's worth short at end
    start_fire = limit - sign * rate * (t_true / STEP + steps_h)
    start_silent = limit - sign * rate * (end / STEP + steps_h + 1)

    def series(start: float) -> tuple[Series, ...]:
        return (Series(metric, by, tuple(start + sign * rate * t / STEP for t in times)),)

    r.scenarios += [
        Scenario("fires when the line meets the limit within the horizon",
                 series(start_fire), (Check(end - 2 * STEP, ()),
                                      Check(end, (r.expected(by, None),)))),
        Scenario("silent when it meets it just after", series(start_silent),
                 (Check(end, ()),)),
    ]


def _rss_series(by: dict[str, str]) -> Callable[[float], list[Series]]:
    def series(used: float) -> list[Series]:
        return [Series("process_resident_memory_bytes", by, (used,))]
    return series


def _ratio_of_limit(limit: float) -> Callable[[float], float]:
    def ratio(used: float) -> float:
        return used / limit
    return ratio
