"""spec -> validated model -> a chain of small renderers -> one set of files (sloth-style)."""

from __future__ import annotations

from collections.abc import Callable

from memwatch.generators import (
    alertmanager,
    dashboard_slo,
    dashboards,
    kubernetes,
    prometheus,
    rules,
    ruletests,
    runbooks,
)
from memwatch.generators.model import Model
from memwatch.generators.output import MANIFEST, Context, Files, OutputConflict, manifest_file
from memwatch.spec import Spec

Renderer = Callable[[Model, Context], Files]

# Plain files for Prometheus, Alertmanager, Grafana; `kubernetes` wraps the same content.
FILE_RENDERERS: tuple[Renderer, ...] = (
    rules.render,
    ruletests.render,
    alertmanager.render,
    dashboards.render,
    dashboard_slo.render,
    prometheus.render,
    runbooks.render,
)


def render_all(spec: Spec, ctx: Context) -> Files:
    """Every file of the output directory, the manifest listing them included."""
    model = Model.of(spec)
    files: Files = {}
    for renderer in FILE_RENDERERS:
        for rel, text in renderer(model, ctx).items():
            if rel in files:
                raise OutputConflict(f"two renderers produced {rel}")
            files[rel] = text
    if ctx.format == "kubernetes":
        files = kubernetes.wrap(model, ctx, files)
    files[MANIFEST] = manifest_file(files, ctx)
    return dict(sorted(files.items()))


def warnings(spec: Spec) -> list[str]:
    """What renders but will not serve the user well: one line each, for stderr."""
    out = alertmanager.routing_warnings(spec.routing)
    if "runbook_url" not in spec.alerts.model_fields_set:
        out.append(f"alerts.runbook_url is not set: alerts link to {runbooks.PATH}#<alert>, "
                   f"the runbooks rendered into --out, which no notification can open; set "
                   f"it to the URL that file is served at (your repository's web view of it)")
    return out
