"""Renderer stub: filled by its own change (PrometheusRule, ServiceMonitor, ConfigMaps)."""

from __future__ import annotations

from memwatch.generators.output import Context, Files
from memwatch.spec import Spec


def wrap(spec: Spec, ctx: Context, files: Files) -> Files:
    return dict(sorted(files.items()))
