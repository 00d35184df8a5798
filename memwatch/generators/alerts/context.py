"""One store as the alert builders see it, and the table of builders keyed by alert.

A store alert is a catalogue entry (memwatch/catalogue.py) and one function registered
here with `@store_alert(name, *needs, unless=...)`: it runs for every store whose preset has the
features it needs and whose settings leave it enabled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from memwatch.capabilities import Capabilities, Feature
from memwatch.catalogue import BY_NAME
from memwatch.generators.alerts.rule import (
    EXPORTER_LABELS,
    AlertRule,
    GenerationError,
    Series,
    Settings,
    new_rule,
    resolve,
)
from memwatch.generators.alerts.scenarios import STEP
from memwatch.generators.derived import Derived, WatchedStore
from memwatch.generators.output import go_duration
from memwatch.spec import Spec, Store


@dataclass(frozen=True)
class StoreCtx:
    model: Derived
    watched: WatchedStore

    @property
    def spec(self) -> Spec:
        return self.model.spec

    @property
    def store(self) -> Store:
        return self.watched.store

    @property
    def caps(self) -> Capabilities:
        return self.watched.caps

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def group(self) -> str:
        return f"memwatch-store-{self.name}"

    @property
    def sel(self) -> str:
        return f'{{store="{self.name}"}}'

    @property
    def by(self) -> dict[str, str]:
        return {"store": self.name}

    @property
    def labels(self) -> dict[str, str]:
        """The labels the exporter's series carry in the scenarios."""
        return {**EXPORTER_LABELS, "store": self.name}

    @property
    def count(self) -> str:
        return f"max by (store) (memwatch_store_memories{self.sel})"

    def series(self, metric: str, value: float, **labels: str) -> Series:
        """A one-value series of this store's exporter (for `scenarios.level`)."""
        return Series(metric, {**self.labels, **labels}, (float(value),))

    def path(self, alert: str) -> str:
        return f"stores[{self.watched.index}].alerts.{alert}"

    def settings(self, alert: str) -> Settings:
        return resolve(self.spec, alert, self.store.alerts)

    def rule(self, alert: str, expr: str, st: Settings, description: str,
             value_format: str | None = None, **labels: str) -> AlertRule:
        return new_rule(self.spec, alert, self.group, expr, st, description, value_format,
                        {"store": self.name, **labels})

    def window(self, alert: str, st: Settings) -> float:
        """The alert's window, checked long enough for the alert to fire within it."""
        if st.span <= st.for_s + 2 * STEP:
            raise GenerationError(
                f"{self.path(alert)}: window ({go_duration(st.span)}) must be longer than for "
                f"({go_duration(st.for_s)}) plus 2m, or the alert cannot fire before the "
                "change leaves the window")
        return st.span


Build = Callable[[StoreCtx, Settings], Iterable[AlertRule]]


@dataclass(frozen=True)
class StoreAlert:
    name: str
    needs: frozenset[Feature]
    build: Build
    unless: frozenset[Feature] = frozenset()  # features of a store a sharper alert serves

    def applies(self, caps: Capabilities) -> bool:
        return caps.has(*self.needs) and not caps.features & self.unless


STORE_ALERTS: dict[str, StoreAlert] = {}


def store_alert(name: str, *needs: Feature, unless: tuple[Feature, ...] = ()
                ) -> Callable[[Build], Build]:
    """Register `build` as the builder of store alert `name` (a catalogue entry), for the
    stores with every feature of `needs` and none of `unless`."""
    if name not in BY_NAME:
        raise KeyError(f"{name} is not in the catalogue")

    def register(build: Build) -> Build:
        STORE_ALERTS[name] = StoreAlert(name, frozenset(needs), build, frozenset(unless))
        return build

    return register


def store_rules(model: Derived) -> list[AlertRule]:
    """Every store's alerts, per store in catalogue order."""
    out: list[AlertRule] = []
    order = [a for a in BY_NAME if a in STORE_ALERTS]
    shared = {name: resolve(model.spec, name) for name in order}  # for stores that keep them
    for watched in model.stores:
        ctx = StoreCtx(model, watched)
        for name in order:
            alert = STORE_ALERTS[name]
            st = ctx.settings(name) if name in watched.store.alerts else shared[name]
            if st.enabled and alert.applies(ctx.caps):
                out += alert.build(ctx, st)
    return out
