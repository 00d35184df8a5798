"""The spec's `slos` section: availability and freshness objectives per store, and the
multiwindow, multi-burn-rate alerting they are rendered into (generators/alerts/slo.py).

An SLI here is a share of bad time, since the exporter's series are gauges: the share of
rule evaluations at which the store was down (`memwatch_up`) or its newest memory was older
than the freshness `lag`. The error budget is `1 - objective` of the SLO's window.

The alert windows and the share of the budget each may burn are the SRE workbook's (and
sloth's) for a 30-day window: a page when 2% of the budget burns within an hour (and the
last 5 minutes still burn that fast) or 5% within 6 hours (and the last 30 minutes); a
ticket when 10% burns within a day (2 hours) or within 3 days (6 hours). A burn-rate
factor is `share * window / long window`: 14.4, 6, 3 and 1 for 30 days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from memwatch.capabilities import Feature
from memwatch.spec.base import Model
from memwatch.spec.types import Seconds, StoreName

DAY = 86400
MIN_WINDOW, MAX_WINDOW, DEFAULT_WINDOW = 7 * DAY, 90 * DAY, 30 * DAY
Sli = Literal["availability", "freshness"]
Tier = Literal["page", "ticket"]
SLIS: tuple[Sli, ...] = ("availability", "freshness")
TIERS: tuple[Tier, ...] = ("page", "ticket")


@dataclass(frozen=True)
class Clause:
    """One half of a tier's alert: the error ratio over `long` and over `short` both burn
    faster than `share` of the budget in `long` allows."""

    long: int  # seconds
    short: int
    share: Decimal  # of the window's error budget, spent within `long`

    def factor(self, window: float) -> Decimal:
        """The burn rate that spends `share` of the budget within `long`, to 3 decimals."""
        exact = self.share * Decimal(int(window)) / Decimal(self.long)
        return exact.quantize(Decimal("0.001")).normalize()


CLAUSES: dict[Tier, tuple[Clause, Clause]] = {
    "page": (Clause(3600, 300, Decimal("0.02")), Clause(6 * 3600, 1800, Decimal("0.05"))),
    "ticket": (Clause(DAY, 2 * 3600, Decimal("0.1")), Clause(3 * DAY, 6 * 3600, Decimal("0.1"))),
}
# every window an error ratio is recorded for, besides the SLO's own window
RATIO_WINDOWS: tuple[int, ...] = tuple(sorted({w for pair in CLAUSES.values() for c in pair
                                               for w in (c.long, c.short)}))

_DAYS = re.compile(r"^\s*(\d+)\s*([dw])\s*$")


def _parse_window(value: Any) -> Any:
    """`30d`, `4w`, or seconds."""
    if isinstance(value, str) and (m := _DAYS.match(value)):
        return int(m.group(1)) * (7 if m.group(2) == "w" else 1) * DAY
    if isinstance(value, str):
        raise ValueError(f"{value!r} is not a window in days (e.g. 28d, 30d, 4w)")
    return value


Window = Annotated[float, BeforeValidator(_parse_window),
                   WithJsonSchema({"anyOf": [
                       {"type": "number", "minimum": MIN_WINDOW, "maximum": MAX_WINDOW},
                       {"type": "string", "pattern": r"^\d+[dw]$",
                        "description": "whole days or weeks, e.g. 28d, 30d, 4w"}]})]
Objective = Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)]


class Target(Model):
    objective: Objective = Field(
        description="Percent of the window that must be good, e.g. 99.9.")

    @property
    def budget(self) -> Decimal:
        """The error budget as a ratio, exact: 99.9 -> 0.001."""
        return (Decimal(100) - Decimal(repr(self.objective))) / Decimal(100)


class Availability(Target):
    """Good while the store's collections succeed (memwatch_up is 1)."""


class Freshness(Target):
    """Good while the store's newest memory is at most `lag` old."""

    lag: Annotated[Seconds, Field(ge=60, le=7 * DAY)] = Field(
        description="The ingestion lag still good (e.g. 15m): the time since the newest "
                    "memory (memwatch_newest_memory_timestamp_seconds).")


class StoreSlo(Model):
    """A store's objectives over one window."""

    store: StoreName = Field(description="A store of this spec.")
    window: Window = Field(DEFAULT_WINDOW, description="The SLO's window (the error "
                           "budget's period): 7d to 90d, whole days; default 30d.")
    availability: Availability | None = None
    freshness: Freshness | None = None

    @model_validator(mode="after")
    def _valid(self) -> StoreSlo:
        if self.window != int(self.window) or int(self.window) % DAY:
            raise ValueError("window: whole days (e.g. 30d)")
        if not MIN_WINDOW <= self.window <= MAX_WINDOW:
            raise ValueError(f"window: from 7d to 90d, not {int(self.window) // DAY}d")
        if self.availability is None and self.freshness is None:
            raise ValueError("give availability, freshness or both")
        for sli in SLIS:
            target = self.target(sli)
            if target is not None:
                _pages(sli, target, self.window)
        return self

    def target(self, sli: Sli) -> Target | None:
        return self.availability if sli == "availability" else self.freshness

    def targets(self) -> list[tuple[Sli, Target]]:
        return [(sli, t) for sli in SLIS if (t := self.target(sli)) is not None]


def _pages(sli: Sli, target: Target, window: float) -> None:
    """The page tier must be able to fire: some clause's burn rate below 100% errors."""
    if all(c.factor(window) * target.budget >= 1 for c in CLAUSES["page"]):
        least = min(c.factor(window) for c in CLAUSES["page"])
        floor = (1 - 1 / least) * 100
        raise ValueError(f"{sli}.objective: with a {int(window) // DAY}d window the page "
                         f"tier would need more than 100% errors; set an objective above "
                         f"{floor:.4g} (or a shorter window)")


def check_slos(slos: tuple[StoreSlo, ...], features: dict[str, frozenset[Feature]]) -> None:
    """Each SLO names a store of the spec, once; freshness only where it is exported."""
    seen: set[str] = set()
    for i, slo in enumerate(slos):
        if slo.store not in features:
            raise ValueError(f"slos[{i}].store: no store named {slo.store!r} in the spec")
        if slo.store in seen:
            raise ValueError(f"slos[{i}].store: {slo.store!r} has an SLO entry already "
                             "(one entry per store holds both objectives)")
        seen.add(slo.store)
        if slo.freshness is not None and Feature.FRESHNESS not in features[slo.store]:
            raise ValueError(f"slos[{i}].freshness: store {slo.store!r} exports no newest "
                             "memory time (its preset has no freshness; a sql or mongo "
                             "store needs `timestamp`)")


__all__ = ["CLAUSES", "RATIO_WINDOWS", "SLIS", "TIERS", "Availability", "Clause", "Freshness",
           "Sli", "StoreSlo", "Target", "Tier", "check_slos"]
