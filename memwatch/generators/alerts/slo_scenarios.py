"""The promtool scenarios of the SLO burn-rate alerts, found by replaying the rules here.

An SLO alert fires on shares of bad evaluations over windows of minutes to days, so where
it fires depends on how many evaluations each window holds. `replay` computes, for a
sequence of good and bad evaluations, when each tier fires, exactly as promtool will: the
same windows, the same comparisons (in integers), the same `for`. The scenarios:

- an outage (the store down, or ingestion stalled) after 2 hours of good ones, over once
  the page fires: silent one evaluation before the page fires, the page firing at the
  first evaluation it does, still firing at the last before the short windows clear and
  resolved at the next;
- a slow burn, one bad evaluation in every period, the shortest period that never pages
  (replayed for 4 hours, till the slow page's 6-hour window is full): the ticket fires,
  checked at its first evaluation, and the page is still silent at the third bad one
  (its short windows hold one, its long windows the most yet); without such a period (any
  bad evaluation pages, e.g. 99.99%) the outage again, checked where the ticket starts;
- the longest blip that fires nothing, or only good evaluations when even one bad one
  fires.

The tests replay a Prometheus that has run only those hours: the long windows hold just
them. Checks fall only where Prometheus 2 (ranges closed at both ends) and 3 (open at the
start) agree, and never where a ratio is within 1e-9 of its threshold (float rounding).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from memwatch.generators.alerts.rule import (
    EXPORTER_LABELS,
    AlertRule,
    Check,
    Scenario,
    Series,
)
from memwatch.generators.output import go_duration
from memwatch.spec.slo import CLAUSES, TIERS, Freshness, Sli, StoreSlo, Target, Tier

STEP = 30  # seconds between samples and evaluations (the spec's default evaluation_interval)
HISTORY = 2 * 3600  # good evaluations before the trouble starts
OUTAGE_MAX = 12 * 3600
SLOW_BURN = 4 * 3600  # how long the slow burn is replayed: till the 6h window is full
BLIP_TAIL = 1800
RECOVERY = 3600  # after an outage: how long the replay waits for the alert to resolve
TIE = 10 ** 9  # a ratio within 1/TIE of its threshold is too close to call

Tri = bool | None
Fires = dict[Tier, list[Tri]]


@dataclass(frozen=True)
class Burn:
    """What the replay needs of an SLO: per tier, (long, short, error ratio threshold)
    for each clause, windows in steps; the alert's `for` in steps."""

    clauses: tuple[tuple[Tier, tuple[tuple[int, int, Fraction], ...]], ...]
    for_steps: int

    def tier(self, tier: Tier) -> tuple[tuple[int, int, Fraction], ...]:
        return dict(self.clauses)[tier]


def burn_of(slo: StoreSlo, target: Target, for_s: float) -> Burn:
    budget = Fraction(target.budget)
    return Burn(tuple((tier, tuple((c.long // STEP, c.short // STEP,
                                    Fraction(c.factor(slo.window)) * budget)
                                   for c in CLAUSES[tier])) for tier in TIERS),
                math.ceil(for_s / STEP))


def _above(bad: Sequence[bool], window: int, thr: Fraction, left_open: bool) -> list[Tri]:
    """Per evaluation: is the share of bad ones over the window above `thr`?"""
    prefix = [0]
    for b in bad:
        prefix.append(prefix[-1] + b)
    out: list[Tri] = []
    for i in range(len(bad)):
        lo = max(0, i - window + (1 if left_open else 0))
        count, bads = i - lo + 1, prefix[i + 1] - prefix[lo]
        x, y = bads * thr.denominator, thr.numerator * count  # bads/count vs thr
        out.append(None if abs(x - y) * TIE <= y else x > y)
    return out


def _and(*xs: Tri) -> Tri:
    return False if False in xs else (None if None in xs else True)


def _or(*xs: Tri) -> Tri:
    return True if True in xs else (None if None in xs else False)


def replay(bad: Sequence[bool], burn: Burn, left_open: bool) -> Fires:
    """When each tier fires, evaluation by evaluation (None: too close to call)."""
    fires: Fires = {}
    for tier in TIERS:
        halves = [[_and(a, b) for a, b in zip(_above(bad, long, thr, left_open),
                                               _above(bad, short, thr, left_open),
                                               strict=True)]
                  for long, short, thr in burn.tier(tier)]
        expr = [_or(*xs) for xs in zip(*halves, strict=True)]
        m = burn.for_steps
        fires[tier] = [False if i < m else _and(*expr[i - m:i + 1]) for i in range(len(bad))]
    return fires


@dataclass(frozen=True)
class Plan:
    """A scenario: its bad evaluations and the checks (evaluation, tiers firing)."""

    name: str
    bad: tuple[bool, ...]
    checks: tuple[tuple[int, frozenset[Tier]], ...]


class _Both:
    """The replay under Prometheus 2's and 3's range selection."""

    def __init__(self, bad: Sequence[bool], burn: Burn) -> None:
        self.bad = tuple(bad)
        self.runs = (replay(bad, burn, False), replay(bad, burn, True))

    def agreed(self, i: int) -> frozenset[Tier] | None:
        sets = []
        for fires in self.runs:
            if any(fires[t][i] is None for t in TIERS):
                return None
            sets.append(frozenset(t for t in TIERS if fires[t][i]))
        return sets[0] if sets[0] == sets[1] else None

    def first(self, tier: Tier) -> int | None:
        """The first evaluation at which either replay fires `tier` (or cannot tell)."""
        n = len(self.bad)
        return next((i for i in range(n) if any(f[tier][i] is not False for f in self.runs)),
                    None)

    def around(self, tier: Tier) -> list[int] | None:
        """The last agreed evaluation before `tier` fires, the first agreed one firing it."""
        start = self.first(tier)
        if start is None:
            return None
        silent = next((i for i in range(start - 1, -1, -1) if self.agreed(i) is not None), None)
        fire = next((i for i in range(start, len(self.bad))
                     if tier in (self.agreed(i) or ())), None)
        return None if silent is None or fire is None else [silent, fire]

    def never(self, tier: Tier) -> bool:
        return all(f[tier][i] is False for f in self.runs for i in range(len(self.bad)))

    def plan(self, name: str, at: list[int]) -> Plan:
        checks = []
        for i in sorted(set(at)):
            agreed = self.agreed(i)
            assert agreed is not None, f"{name}: check at {i} not agreed"
            checks.append((i, agreed))
        return Plan(name, self.bad[:max(at) + 1], tuple(checks))


def _last_agreed(both: _Both, until: int | None = None) -> int:
    """The last evaluation (up to `until`) at which both replays agree."""
    start = len(both.bad) - 1 if until is None else until
    return next(i for i in range(start, -1, -1) if both.agreed(i) is not None)


def outage(burn: Burn, tier: Tier, noun: str) -> Plan:
    """Trouble from HISTORY on until `tier` fires, then none: silent before, firing at its
    first evaluation, and (when it resolves within RECOVERY) still firing at its last and
    resolved at the next, which the short windows decide."""
    good = HISTORY // STEP
    at = _Both([False] * good + [True] * (OUTAGE_MAX // STEP), burn).around(tier)
    assert at is not None, "the spec refuses SLOs whose page cannot fire"
    both = _Both([False] * good + [True] * (at[1] - good + 1) + [False] * (RECOVERY // STEP),
                 burn)
    w = go_duration
    span = (f"at {w(HISTORY)} only" if at[1] == good else
            f"from {w(HISTORY)} to {w(at[1] * STEP)}")
    name = f"{tier}: {noun} {span}, after {w(HISTORY)} good: the {tier} fires at {w(at[1] * STEP)}"
    stop = next((i for i in range(at[1] + 1, len(both.bad))
                 if any(f[tier][i] is not True for f in both.runs)), None)
    if stop is not None:
        last = next((i for i in range(stop - 1, at[1] - 1, -1)
                     if tier in (both.agreed(i) or ())), None)
        gone = next((i for i in range(stop, len(both.bad))
                     if (a := both.agreed(i)) is not None and tier not in a), None)
        if last is not None and gone is not None:
            return both.plan(f"{name}, resolves at {w(gone * STEP)}", [*at, last, gone])
    return both.plan(name, at)


def slow_burn(burn: Burn, noun: str) -> Plan | None:
    """One bad evaluation in every period: the shortest period that never pages, if the
    ticket fires under it."""
    thresholds = [thr for _, _, thr in burn.tier("page") if thr < 1]
    period = max(2, math.ceil(1 / min(thresholds)))
    good = HISTORY // STEP
    for _ in range(40):
        bad = [False] * good + [i % period == 0 for i in range(SLOW_BURN // STEP)]
        both = _Both(bad, burn)
        if both.never("page"):
            at = both.around("ticket")
            if at is None:
                return None
            w = go_duration
            third = [i for i, b in enumerate(bad) if b][:3][-1]  # the page's likeliest
            return both.plan(f"ticket: {noun} one evaluation in every {w(period * STEP)} "
                             f"from {w(HISTORY)} on: a ticket, never a page",
                             [*at, _last_agreed(both, third)])
        period += max(1, period // 10)
    return None


def quiet(burn: Burn, noun: str) -> Plan:
    """The longest blip after the good hours that fires nothing (or none at all)."""
    good, tail = HISTORY // STEP, BLIP_TAIL // STEP
    best: _Both | None = None
    k = 1
    while k <= tail:
        both = _Both([False] * good + [True] * k + [False] * tail, burn)
        if not all(both.never(t) for t in TIERS):
            break
        best, k = both, k + 1
    w = go_duration
    if best is None:  # a short replay: nothing can be bad
        best = _Both([False] * tail, burn)
        return best.plan("silent: every evaluation good", [_last_agreed(best)])
    blip = (k - 1) * STEP
    return best.plan(f"silent: {noun} for {w(blip)} after {w(HISTORY)} good, within budget",
                     [good + k - 2, _last_agreed(best)])


@lru_cache(maxsize=256)  # SLOs alike share their scenarios
def plans(burn: Burn, sli: Sli) -> dict[Tier, tuple[Plan, ...]]:
    noun = "down" if sli == "availability" else "stale"
    page = outage(burn, "page", "down" if sli == "availability" else "ingestion stalled")
    ticket = slow_burn(burn, noun) or outage(burn, "ticket", noun)
    return {"page": (page,), "ticket": (ticket, quiet(burn, noun))}


def newest(bad: Sequence[bool], lag: float) -> tuple[float, ...]:
    """memwatch_newest_memory_timestamp_seconds for these bad evaluations: it stops moving
    while ingestion stalls, so the lag grows a step each evaluation; bad once past `lag`,
    back to 0 when a memory arrives."""
    ages = [0.0] * len(bad)
    for i, b in enumerate(bad):
        if b:
            ages[i] = ages[i - 1] + STEP if i and bad[i - 1] else lag + STEP
    for i in range(len(bad) - 2, -1, -1):
        if not bad[i]:
            ages[i] = max(0.0, ages[i + 1] - STEP)
    return tuple(float(i * STEP) - a for i, a in enumerate(ages))


def series(plan: Plan, store: str, sli: Sli, target: Target, backend: str) -> Series:
    labels = {**EXPORTER_LABELS, "store": store}
    if isinstance(target, Freshness):
        return Series("memwatch_newest_memory_timestamp_seconds", labels,
                      newest(plan.bad, target.lag))
    return Series("memwatch_up", {**labels, "backend": backend},
                  tuple(0.0 if b else 1.0 for b in plan.bad))


def add_scenarios(rules: Mapping[Tier, AlertRule], slo: StoreSlo, sli: Sli, target: Target,
                  for_s: float, backend: str) -> None:
    """Each tier's scenarios onto its rule; a check expects every tier firing then (the
    tiers share the alert's name)."""
    by = {"store": slo.store, "slo": sli}
    for tier, tier_plans in plans(burn_of(slo, target, for_s), sli).items():
        for p in tier_plans:
            checks = tuple(Check(i * STEP, tuple(rules[t].expected(by, None)
                                                 for t in TIERS if t in firing))
                           for i, firing in p.checks)
            scenario = Scenario(p.name, (series(p, slo.store, sli, target, backend),), checks,
                                STEP)
            rules[tier].scenarios.append(scenario)
