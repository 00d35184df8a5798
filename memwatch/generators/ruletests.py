"""Renderer stub: being written."""

from __future__ import annotations

from memwatch.generators.output import Context, Files
from memwatch.spec import Spec


def render(spec: Spec, ctx: Context) -> Files:
    return {}
