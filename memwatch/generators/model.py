"""The model every renderer reads: the spec, what gen-monitoring derives from it
(`derived.Derived`: each store's capabilities, the exporter jobs) and the alert rules, each
built once per render.

pipeline.render_all builds one Model and hands it to every renderer, so a fact derived from
the spec has one derivation: the Prometheus scrape config, the MemwatchExporterDown rules,
the dashboards and the Kubernetes objects all read the same `exporter_jobs`.
"""

from __future__ import annotations

from functools import cached_property

from memwatch.generators.alerts import AlertRule, build_rules
from memwatch.generators.derived import Derived


class Model(Derived):
    """`Derived` and the alert rules built from it."""

    @cached_property
    def rules(self) -> list[AlertRule]:
        """Every alert rule, with its scenarios: rules.py, ruletests.py and runbooks.py
        write them."""
        return build_rules(self)
