"""`alertmanager/alertmanager.yml`: the route tree, the inhibitions and the receivers.

The tree, in order (the first match wins unless a route says `continue`):

1. the consolidator (when `consolidator_url` is set): matches everything, `continue: true`,
   so every alert also reaches the consolidator's webhook;
2. the spec's routes (by severity, component, store... through `match`);
3. the default receiver.

Routes 1-3 carry one child per severity holding that severity's `repeat_interval` (the
cooldown); an alert with another severity uses its parent's. When the default receiver *is*
the consolidator, route 3 is left out: route 1 already delivers everything there once.
"""

from __future__ import annotations

from typing import Any

from memwatch.catalogue import SEVERITIES
from memwatch.generators.alertmanager_receivers import receivers
from memwatch.generators.model import Model
from memwatch.generators.output import Context, Files, go_duration, yaml_file
from memwatch.spec.monitoring import CONSOLIDATOR, Route, RoutingSection

PATH = "alertmanager/alertmanager.yml"

# When a store's database is down its counts, freshness and collections fail with it: only
# the cause is worth a notification.
SILENCED_BY_DATABASE_DOWN = ("MemoryCountZero", "MemoryCountDropped", "MemoryCountBelowBaseline",
                             "MemoryNamespaceLost", "MemoryIngestionStalled",
                             "MemoryLossUnexplained", "MemoryWritesNotStored",
                             "MemoryHistoryMismatch", "MemoryHarvestDropped",
                             "MemoryIndexEmpty", "MemoryFilesUnindexed",
                             "MemwatchCollectionsFailing", "MemorySLOAvailabilityBurn")

# A loss of the whole store is one page: the namespaces it took along, and the history it
# now disagrees with, are its consequences.
STORE_WIDE_LOSS = ("MemoryCountZero", "MemoryCountDropped", "MemoryTableRecreated")
SILENCED_BY_STORE_WIDE_LOSS = ("MemoryNamespaceLost", "MemoryHistoryMismatch")
# An emptied index is the one page for OpenClaw's builtin memory: its count at 0 says it too.
SILENCED_BY_EMPTY_INDEX = ("MemoryCountZero", "MemoryCountDropped", "MemoryNamespaceLost")
# Among the store-wide losses, the sharper one pages: a table recreated (reset()) says the
# store is empty, an empty store says it dropped.
SILENCED_BY_RECREATION = ("MemoryCountZero", "MemoryCountDropped")
SILENCED_BY_COUNT_ZERO = ("MemoryCountDropped", "MemoryCountBelowBaseline")

# A severity silences the lower ones of the same alert on the same object. `instance` and
# `process` keep a host (or process) at 95% from silencing another one at 80%; a label
# missing on both sides counts as equal, so store alerts compare by store and alertname.
SAME_ALERT = ["store", "alertname", "instance", "process"]


def matcher(label: str, value: str, op: str = "=") -> str:
    """One Alertmanager matcher, `label="value"`, the value quoted and escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{label}{op}"{escaped}"'


def _severity_children(routing: RoutingSection) -> list[dict[str, Any]]:
    return [{"matchers": [matcher("severity", sev)],
             "repeat_interval": go_duration(routing.repeat(sev))} for sev in SEVERITIES]


def _cooldown(routing: RoutingSection, severity: str | None) -> dict[str, Any]:
    """A route's cooldown: its severity's when it matches one, else one child per severity."""
    for sev in SEVERITIES:
        if sev == severity:
            return {"repeat_interval": go_duration(routing.repeat(sev))}
    return {"routes": _severity_children(routing)}


def _spec_route(routing: RoutingSection, route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"receiver": route.receiver}
    if route.match:
        out["matchers"] = [matcher(k, v) for k, v in route.match.items()]
    if route.continue_:
        out["continue"] = True
    if route.repeat_interval is not None:
        out["repeat_interval"] = go_duration(route.repeat_interval)
    else:
        out.update(_cooldown(routing, route.match.get("severity")))
    return out


def route_tree(routing: RoutingSection) -> dict[str, Any]:
    children: list[dict[str, Any]] = []
    if routing.consolidator_url:
        children.append({"receiver": CONSOLIDATOR, "continue": True,
                         **_cooldown(routing, None)})
    children += [_spec_route(routing, r) for r in routing.routes]
    if not (routing.consolidator_url and routing.default_receiver == CONSOLIDATOR):
        children.append({"receiver": routing.default_receiver, **_cooldown(routing, None)})
    return {
        "receiver": routing.default_receiver,
        "group_by": list(routing.group_by),
        "group_wait": go_duration(routing.group_wait),
        "group_interval": go_duration(routing.group_interval),
        "repeat_interval": go_duration(routing.repeat("warning")),
        "routes": children,
    }


def inhibit_rules() -> list[dict[str, Any]]:
    return [
        {"source_matchers": [matcher("alertname", "MemoryDatabaseDown")],
         "target_matchers": [matcher("alertname", "|".join(SILENCED_BY_DATABASE_DOWN), "=~")],
         "equal": ["store"]},
        {"source_matchers": [matcher("alertname", "|".join(STORE_WIDE_LOSS), "=~")],
         "target_matchers": [matcher("alertname", "|".join(SILENCED_BY_STORE_WIDE_LOSS),
                                     "=~")],
         "equal": ["store"]},
        {"source_matchers": [matcher("alertname", "MemoryIndexEmpty")],
         "target_matchers": [matcher("alertname", "|".join(SILENCED_BY_EMPTY_INDEX), "=~")],
         "equal": ["store"]},
        {"source_matchers": [matcher("alertname", "MemoryTableRecreated")],
         "target_matchers": [matcher("alertname", "|".join(SILENCED_BY_RECREATION), "=~")],
         "equal": ["store"]},
        {"source_matchers": [matcher("alertname", "MemoryCountZero")],
         "target_matchers": [matcher("alertname", "|".join(SILENCED_BY_COUNT_ZERO), "=~")],
         "equal": ["store"]},
        {"source_matchers": [matcher("severity", "critical")],
         "target_matchers": [matcher("severity", "warning|info", "=~")],
         "equal": SAME_ALERT},
        {"source_matchers": [matcher("severity", "warning")],
         "target_matchers": [matcher("severity", "info")],
         "equal": SAME_ALERT},
    ]


def routing_warnings(routing: RoutingSection) -> list[str]:
    """Nobody is paged when no receiver the routes use has an integration (any of a
    receiver's keys but its name; a webhook counts: memwatch cannot tell whom it reaches):
    alerts reach the consolidator at most."""
    used = {routing.default_receiver, *(route.receiver for route in routing.routes)}
    for r in routing.receivers:
        if r.name in used and any(getattr(r, key) for key in type(r).model_fields
                                  if key != "name"):
            return []
    where = "to the consolidator only" if routing.consolidator_url else "nowhere"
    return [f"routing: no receiver reaches a person: every alert goes {where}; define a "
            f"receiver with an integration (slack, email, pagerduty...) in "
            f"routing.receivers and name it in routing.default_receiver or routing.routes"]


def config(routing: RoutingSection) -> dict[str, Any]:
    return {"route": route_tree(routing), "inhibit_rules": inhibit_rules(),
            "receivers": receivers(routing)}


def render(model: Model, ctx: Context) -> Files:
    return {PATH: yaml_file(config(model.spec.routing), ctx)}
