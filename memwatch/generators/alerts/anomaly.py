"""Growth and loss against the store's own history, in `rules/anomaly.yml`.

The fixed-threshold alerts cannot tell a store that is quiet at night from one that broke,
nor a noon burst from a runaway writer. These compare the last hour's change with the same
hour of the last 7 days (a z-score over recording rules) and, for growth, with the same hour
a week ago. They arm by themselves once 7 days of the recorded change exist: before that the
average has no value and nothing fires.

One rule per alert covers every store with the same settings; a store that overrides the
alert gets a rule of its own. Their tests replay 8 days of history at 5-minute steps, so the
file holds its own recording rules and nothing else (promtool evaluates every rule of the
files it loads at every step).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from memwatch.capabilities import Feature
from memwatch.generators.alerts.rule import (
    EXPORTER_LABELS,
    AlertRule,
    GenerationError,
    Series,
    Settings,
    new_rule,
    resolve,
)
from memwatch.generators.alerts.scenarios import Timeline, prove
from memwatch.generators.derived import Derived
from memwatch.spec import Spec

FILE = "rules/anomaly.yml"
GROUP = "memwatch-anomaly"
DAYS = 7
FACTOR = 3  # growth must also reach this multiple of the same hour a week ago
STEP = 300  # the tests' sample and evaluation interval
MAX_FOR = 6 * 3600
DELTA = "memwatch:memories_growth:delta_1h"
AVG = "memwatch:memories_growth:avg_same_hour_7d"
STDDEV = "memwatch:memories_growth:stddev_same_hour_7d"
ZSCORE = "memwatch:memories_growth:zscore_1h"


def _days(expr: str) -> list[str]:
    return [f"{expr.replace('{d}', str(d))}" for d in range(1, DAYS + 1)]


def recording_rules() -> list[dict[str, str]]:
    past = _days(f"{DELTA} offset {{d}}d")
    squares = _days(f"({DELTA} offset {{d}}d - {AVG}) ^ 2")
    return [
        {"record": DELTA, "expr": "max by (store) (memwatch_store_memories) - max by (store) "
                                  "(memwatch_store_memories offset 1h)"},
        {"record": AVG, "expr": f"({' + '.join(past)}) / {DAYS}"},
        {"record": STDDEV, "expr": f"sqrt(({' + '.join(squares)}) / {DAYS})"},
        # a store that changes exactly alike every day has no spread: 1 memory stands in
        {"record": ZSCORE, "expr": f"({DELTA} - {AVG}) / clamp_min({STDDEV}, 1)"},
    ]


def anomaly_rules(model: Derived) -> Iterator[AlertRule]:
    spec = model.spec
    stores = [w.store for w in model.stores if w.caps.has(Feature.COUNT)]
    for alert in ("MemoryGrowthUnusual", "MemoryLossUnusual"):
        shared = resolve(spec, alert)
        together = [s.name for s in stores if resolve(spec, alert, s.alerts) == shared]
        if together and shared.enabled:
            yield _rule(spec, alert, shared, together, own=False)
        for s in stores:
            st = resolve(spec, alert, s.alerts)
            if s.name not in together and st.enabled:
                yield _rule(spec, alert, st, [s.name], own=True)


def _rule(spec: Spec, alert: str, st: Settings, stores: list[str], own: bool) -> AlertRule:
    if st.for_s > MAX_FOR:
        where = f"stores.{stores[0]}.alerts" if own else "alerts.rules"
        raise GenerationError(f"{where}.{alert}.for: at most {MAX_FOR // 3600}h (the "
                              "hour it compares is gone from its window after that)")
    sel = f'{{store=~"{"|".join(stores)}"}}'
    minimum = st.min_count or 0.0
    if alert == "MemoryGrowthUnusual":
        cond = (f"{DELTA}{sel} >= {minimum:g} and {DELTA}{sel} >= {FACTOR} * "
                f"{DELTA}{sel} offset 1w")
        expr = f"({ZSCORE}{sel} and {cond}) >= {st.limit:g}"
        what = (f"grew {{value}} standard deviations above the same hour of the last "
                f"{DAYS} days, and {FACTOR}x or more the same hour a week ago")
    else:
        expr = f"({ZSCORE}{sel} and {DELTA}{sel} <= -{minimum:g}) <= -{st.limit:g}"
        what = (f"changed {{value}} standard deviations from the same hour of the last "
                f"{DAYS} days, losing memories")
    r = new_rule(spec, alert, GROUP, expr, st,
                 f"In the last hour memory store {{{{ $labels.store }}}} {what}.", "stddev",
                 {"store": stores[0]} if own else {})
    r.file = FILE
    _scenarios(r, stores[0], st, growth=alert == "MemoryGrowthUnusual")
    return r


def _scenarios(r: AlertRule, store: str, st: Settings, growth: bool) -> None:
    """8 days at 5-minute steps: memories arrive mornings and evenings, none at night; at
    noon each day a batch lands every hour, 180 to 1020 a batch over the last 7 days (mean
    600, spread known; a week ago the least). On day 8 the batch grows (or, for a loss,
    removes) just across the threshold, or just short of it."""
    mean, dev = 600.0, 420.0
    week = [mean - dev, mean, mean + dev, mean, mean - dev, mean + dev, mean]  # 7d..1d ago
    sign = 1 if growth else -1
    bound = mean + sign * st.limit * _promql_sigma(week)
    fire = float(math.ceil(bound) if growth else math.floor(bound))
    under = fire - sign
    noon = DAYS * 86400 + 12 * 3600
    tl = Timeline(noon + STEP, noon + STEP + int(math.ceil(r.for_s / STEP) * STEP) + STEP,
                  STEP)
    labels = {**EXPORTER_LABELS, "store": store}

    def series(today: float) -> tuple[Series, ...]:
        return (Series("memwatch_store_memories", labels, _history([*week, today], tl.end)),)

    z = (fire - _promql_mean(week)) / max(_promql_sigma(week), 1.0)
    prove(r, {"store": store}, tl, series(fire), z, series(under))


def _history(batches: list[float], end: int) -> tuple[float, ...]:
    """The count at every step: 60 memories an hour from 6 to 10 h and from 20 to 23 h,
    none at night; from noon to 19 h, day d's batch lands at the first step of every hour,
    so every hour-long window from the first batch on holds exactly one."""
    count, out = 10_000.0, []
    for t in range(0, end + STEP, STEP):
        day, second = divmod(t, 86400)
        if 6 * 3600 < second <= 10 * 3600 or 20 * 3600 < second <= 23 * 3600:
            count += 60 * STEP / 3600
        elif 12 * 3600 < second <= 12 * 3600 + MAX_FOR + 3600 and \
                (second - 12 * 3600 - STEP) % 3600 == 0:
            count += batches[day]
        out.append(count)
    return tuple(out)


def _promql_mean(week: list[float]) -> float:
    """The recording rule's average, summed in its order (offset 1d first)."""
    total = 0.0
    for g in reversed(week):
        total += g
    return total / DAYS


def _promql_sigma(week: list[float]) -> float:
    mean = _promql_mean(week)
    total = 0.0
    for g in reversed(week):
        total += (g - mean) ** 2
    return math.sqrt(total / DAYS)


__all__ = ["FILE", "GROUP", "anomaly_rules", "recording_rules"]
