"""SLO burn-rate alerts and their recording rules, in `rules/slo.yml` (spec `slos`).

Per SLO (a store's availability or freshness objective) one recorded indicator says
whether this rule evaluation was bad (the store down, or its newest memory older than the
lag); its average over each alert window is that window's error ratio, and over the SLO's
window the budget spent. Two alerts use them, as the SRE workbook's multiwindow,
multi-burn-rate alerting and sloth do: `tier="page"` when the last hour and 5 minutes (or
6 hours and 30 minutes) burn the budget 14.4x (6x) faster than the objective allows,
`tier="ticket"` for 3x over a day and 2 hours or 1x over 3 days and 6 hours (factors for
a 30-day window; spec/slo.py scales them to others).

The recording rules travel with the alerts that need them (`SloRule.recording`): the
group holds them first, so rules.py writes them and a promtool test loading the file gets
them. Both tiers share one alert name; each store's SLOs are one group.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from memwatch.capabilities import Feature
from memwatch.catalogue import Severity
from memwatch.generators.alerts.context import StoreCtx, store_alert
from memwatch.generators.alerts.rule import AlertRule, Settings, new_rule
from memwatch.generators.alerts.slo_scenarios import add_scenarios
from memwatch.generators.output import go_duration
from memwatch.spec import Spec
from memwatch.spec.slo import (
    CLAUSES,
    RATIO_WINDOWS,
    TIERS,
    Freshness,
    Sli,
    StoreSlo,
    Target,
    Tier,
)

FILE = "rules/slo.yml"
ALERTS: dict[Sli, str] = {"availability": "MemorySLOAvailabilityBurn",
                          "freshness": "MemorySLOFreshnessBurn"}
BAD = "memwatch:slo_sli_error:bool"  # 1 when this evaluation was bad, else 0
BUDGET_REMAINING = "memwatch:slo_error_budget_remaining:ratio"
_LOWER: dict[Severity, Severity] = {"critical": "warning", "warning": "info", "info": "info"}


def ratio(window: float) -> str:
    """The recorded error ratio over `window` (the share of bad evaluations)."""
    return f"memwatch:slo_sli_error:ratio_{go_duration(window)}"


def selector(store: str, sli: Sli) -> str:
    return f'{{slo="{sli}",store="{store}"}}'


def group(store: str) -> str:
    return f"memwatch-slo-{store}"


def number(d: Decimal) -> str:
    """A Decimal as PromQL reads it, exactly: 0.001, 14.4, 6."""
    return format(d.normalize(), "f")


def sli_expr(store: str, sli: Sli, target: Target) -> str:
    """The instant indicator: 1 for a bad evaluation, 0 for a good one; none while the
    exporter serves no such series (its own outage counts neither way)."""
    sel = f'{{store="{store}"}}'
    if sli == "availability":
        return f"min by (store) (memwatch_up{sel}) < bool 1"
    assert isinstance(target, Freshness)
    return (f"time() - max by (store) (memwatch_newest_memory_timestamp_seconds{sel}) "
            f"> bool {target.lag:g}")


def recording_rules(slo: StoreSlo, sli: Sli, target: Target) -> list[dict[str, Any]]:
    """The indicator, its ratio over every alert window and the SLO's, the budget left."""
    sel = selector(slo.store, sli)
    # the SLO's labels on every rule (the series carry them anyway): each rule is then one
    # of its own to promtool, not a duplicate of another store's or SLO's
    labels = {"slo": sli, "store": slo.store}
    rules: list[dict[str, Any]] = [{"record": BAD, "expr": sli_expr(slo.store, sli, target),
                                    "labels": labels}]
    for window in (*RATIO_WINDOWS, slo.window):
        rules.append({"record": ratio(window),
                      "expr": f"avg_over_time({BAD}{sel}[{go_duration(window)}])",
                      "labels": labels})
    rules.append({"record": BUDGET_REMAINING,
                  "expr": f"1 - {ratio(slo.window)}{sel} / {number(target.budget)}",
                  "labels": labels})
    return rules


def tier_expr(slo: StoreSlo, sli: Sli, target: Target, tier: Tier) -> str:
    """Either clause of the tier: its long and its short window both burn faster than its
    factor (burn rate = error ratio / budget)."""
    sel, budget = selector(slo.store, sli), number(target.budget)
    clauses = []
    for c in CLAUSES[tier]:
        f = number(c.factor(slo.window))
        clauses.append(f"({ratio(c.long)}{sel} / {budget} > {f} and "
                       f"{ratio(c.short)}{sel} / {budget} > {f})")
    return " or ".join(clauses)


@dataclass
class SloRule(AlertRule):
    """A burn-rate alert and the recording rules it reads (written before it)."""

    recording: list[dict[str, Any]] = field(default_factory=list)


_BAD_TIME = {"availability": "unreachable (memwatch_up 0)",
             "freshness": "without a memory newer than {lag}"}


def _description(slo: StoreSlo, sli: Sli, target: Target, tier: Tier) -> str:
    first, second = CLAUSES[tier]
    f1, f2 = first.factor(slo.window), second.factor(slo.window)
    lasts = round(slo.window / float(min(f1, f2)) / 60) * 60
    lag = target.lag if isinstance(target, Freshness) else 0.0
    bad = _BAD_TIME[sli].format(lag=go_duration(lag))
    w = go_duration
    return (f"Store {slo.store} was {bad} for a larger share of the last hours than its "
            f"{sli} objective ({target.objective:g}% over {w(slo.window)}) allows: the error "
            f"budget burns more than {number(f1)}x as fast over {w(first.long)} and "
            f"{w(first.short)}, or {number(f2)}x over {w(second.long)} and {w(second.short)}; "
            f"at that rate it is spent within {w(lasts)}.")


def build(spec: Spec, slo: StoreSlo, sli: Sli, st: Settings, backend: str) -> list[AlertRule]:
    target = slo.target(sli)
    assert target is not None
    recording = recording_rules(slo, sli, target)
    rules: dict[Tier, SloRule] = {}
    for tier in TIERS:
        severity = st.severity if tier == "page" else _LOWER[st.severity]
        base = new_rule(spec, ALERTS[sli], group(slo.store), tier_expr(slo, sli, target, tier),
                        st, _description(slo, sli, target, tier), None,
                        {"store": slo.store, "tier": tier})
        base.labels["severity"] = severity
        rules[tier] = SloRule(**vars(base), recording=recording)
        rules[tier].file = FILE
    add_scenarios(rules, slo, sli, target, st.for_s, backend)
    return list(rules.values())


def _slo(spec: Spec, store: str) -> StoreSlo | None:
    return next((s for s in spec.slos if s.store == store), None)


@store_alert("MemorySLOAvailabilityBurn")
def availability_burn(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    slo = _slo(c.spec, c.name)
    if slo is not None and slo.availability is not None:
        yield from build(c.spec, slo, "availability", st, c.caps.backend)


@store_alert("MemorySLOFreshnessBurn", Feature.FRESHNESS)
def freshness_burn(c: StoreCtx, st: Settings) -> Iterator[AlertRule]:
    slo = _slo(c.spec, c.name)
    if slo is not None and slo.freshness is not None:
        yield from build(c.spec, slo, "freshness", st, c.caps.backend)


def recording_only(spec: Spec, rules: list[AlertRule]) -> list[dict[str, Any]]:
    """The recording rules of the SLOs whose alerts the spec turned off (the dashboard
    still reads them), one group per store."""
    alerted = {(r.labels["store"], sli) for r in rules for sli, name in ALERTS.items()
               if r.alert == name}
    groups: dict[str, list[dict[str, Any]]] = {}
    for slo in spec.slos:
        for sli, target in slo.targets():
            if (slo.store, sli) not in alerted:
                groups.setdefault(group(slo.store), []).extend(
                    recording_rules(slo, sli, target))
    # named apart from the store's alert group, which may hold its other SLO
    return [{"name": f"{name}-recording", "rules": entries} for name, entries in groups.items()]


__all__ = ["ALERTS", "BAD", "BUDGET_REMAINING", "FILE", "SloRule", "group", "number", "ratio",
           "recording_only", "recording_rules", "selector", "tier_expr"]
