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
from memwatch.generators.alerts.host import exporter_jobs, exporter_rules, ram_rules
from memwatch.generators.alerts.rule import (
    AlertRule,
    Check,
    Expected,
    GenerationError,
    Scenario,
    Series,
)
from memwatch.spec import Spec


def build_rules(spec: Spec) -> list[AlertRule]:
    return [*store_rules(spec), *anomaly_rules(spec), *exporter_rules(spec), *ram_rules(spec)]


__all__ = ["STORE_ALERTS", "AlertRule", "Check", "Expected", "GenerationError", "Scenario",
           "Series", "build_rules", "exporter_jobs"]
