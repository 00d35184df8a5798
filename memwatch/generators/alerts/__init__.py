"""Every alert rule the spec asks for, with the scenarios that prove it.

Each rule carries its own promtool scenarios (scenarios.py): input series that make it fire
exactly at its threshold once `for` has passed (and be merely pending a minute before), and
series just below the threshold under which it stays silent. rules.py writes the rules and
ruletests.py the tests from the same objects, so a rule and its proof cannot drift apart.

A store alert is a catalogue entry and one function registered with `@store_alert` in the
module of its kind (count, ingest, embeddings, storage); host.py holds the exporter and RAM
alerts.
"""

from __future__ import annotations

from memwatch.generators.alerts import (  # noqa: F401 - each registers its alerts
    consistency,
    count,
    embeddings,
    index,
    ingest,
    integrity,
    slo,
    storage,
)
from memwatch.generators.alerts.anomaly import anomaly_rules
from memwatch.generators.alerts.context import STORE_ALERTS, store_rules
from memwatch.generators.alerts.host import exporter_rules, ram_rules
from memwatch.generators.alerts.rule import (
    AlertRule,
    Check,
    Expected,
    GenerationError,
    Scenario,
    Series,
)
from memwatch.generators.derived import Derived


def build_rules(model: Derived) -> list[AlertRule]:
    """Every alert rule; read them as `Model.rules`, built once per render."""
    return [*store_rules(model), *anomaly_rules(model), *exporter_rules(model),
            *ram_rules(model)]


__all__ = ["STORE_ALERTS", "AlertRule", "Check", "Expected", "GenerationError", "Scenario",
           "Series", "build_rules"]
