"""The promtool scenarios that prove a rule: input series under which it fires exactly at
its threshold once `for` has passed (and is merely pending a minute before), and series just
below the threshold under which it stays silent."""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from memwatch.generators.alerts.rule import AlertRule, Check, Scenario, Series

STEP = 60  # seconds between samples in the scenarios (promtool `interval`)


def ceil_step(t: float, every: int = STEP) -> int:
    return int(math.ceil(t / every) * every)


def below(threshold: float) -> float:
    """A count just below the threshold."""
    return threshold - 1 if threshold >= 2 else threshold / 2


@dataclass(frozen=True)
class Timeline:
    """A condition that becomes true at `t_true`: the alert fires at `end`, after `for`."""

    t_true: int
    end: int
    every: int = STEP  # seconds between samples (and evaluations)

    @property
    def times(self) -> range:
        return range(0, self.end + self.every, self.every)

    def series(self, metric: str, labels: dict[str, str], value: Callable[[int], float]
               ) -> Series:
        return Series(metric, labels, tuple(map(float, map(value, self.times))))

    def step(self, metric: str, labels: dict[str, str], before: float, after: float,
             at: int | None = None) -> Series:
        """`before` until `at` (default t_true), `after` from then on."""
        at = self.t_true if at is None else at
        n, k = len(self.times), bisect_left(self.times, at)  # k samples before `at`
        return Series(metric, labels, (float(before),) * k + (float(after),) * (n - k))

    def const(self, metric: str, labels: dict[str, str], value: float) -> Series:
        return Series(metric, labels, (float(value),) * len(self.times))


def timeline(rule: AlertRule, t_true: float = 0, every: int = STEP) -> Timeline:
    t = ceil_step(t_true, every)
    return Timeline(t, t + ceil_step(rule.for_s, every) + every, every)


def prove(rule: AlertRule, by: dict[str, str], tl: Timeline, fire: tuple[Series, ...],
          value: float | None, silent: tuple[Series, ...],
          names: tuple[str, str] = ("fires at the threshold", "silent just below")) -> None:
    """Add the firing scenario (pending a minute before `for` has passed) and the silent
    one to the rule."""
    checks = [Check(tl.end, (rule.expected(by, value),))]
    if rule.for_s >= tl.every:
        checks.insert(0, Check(tl.end - 2 * tl.every, ()))  # still pending: `for` holds
    rule.scenarios += [Scenario(names[0], fire, tuple(checks), tl.every),
                       Scenario(names[1], silent, (Check(tl.end, ()),), tl.every)]


def level(rule: AlertRule, by: dict[str, str], fire: list[Series], value: float | None,
          silent: list[Series]) -> None:
    """Scenarios for a rule whose condition depends on current values only: each series
    holds its (single) value throughout."""
    tl = timeline(rule)

    def hold(series: list[Series]) -> tuple[Series, ...]:
        return tuple(tl.const(s.metric, s.labels, s.values[0]) for s in series)

    prove(rule, by, tl, hold(fire), value, hold(silent))


# Ages of hours or days are proved at 10-minute steps: promtool evaluates every rule of the
# file at every step, and a day and a half at 1-minute steps costs minutes of CPU.
LONG_AGE = 6 * 3600
COARSE_STEP = 600


def age(rule: AlertRule, by: dict[str, str], metric: str, labels: dict[str, str],
        limit: float) -> None:
    """Scenarios for `time() - <timestamp> >= limit`."""
    every = COARSE_STEP if limit >= LONG_AGE and rule.for_s >= COARSE_STEP else STEP
    tl = timeline(rule, limit, every)
    prove(rule, by, tl, (tl.const(metric, labels, 0.0),), float(tl.end),
          (tl.const(metric, labels, tl.end - limit + 1),),
          ("fires at the limit", "silent just below"))


def steps(rule: AlertRule, by: dict[str, str], metric: str, labels: dict[str, str],
          threshold: float, window: float) -> None:
    """Scenarios for `x - x offset window >= threshold`: x grows by `threshold` (or just
    below it) every window."""
    tl = timeline(rule, window)

    def grow(step: float) -> tuple[Series, ...]:
        return (tl.series(metric, labels, lambda t: step * (t // window)),)

    prove(rule, by, tl, grow(threshold), threshold, grow(below(threshold)))


def drop_to(base: float, threshold: float) -> tuple[float, float]:
    """(a count that lost exactly `threshold` of `base`, one that lost just less)."""
    after = math.floor(base * (1 - threshold))
    while (base - after) / base < threshold:
        after -= 1
    under = after + 1
    while (base - under) / base >= threshold:
        under += 1
    return float(after), float(under)
