"""spec -> validated model -> a chain of small renderers -> one set of files (sloth-style)."""

from __future__ import annotations

from collections.abc import Callable

from memwatch.generators import alertmanager, dashboards, kubernetes, prometheus, rules, ruletests
from memwatch.generators.output import Context, Files
from memwatch.spec import Spec

Renderer = Callable[[Spec, Context], Files]

# Plain files for Prometheus, Alertmanager, Grafana; `kubernetes` wraps the same content.
FILE_RENDERERS: tuple[Renderer, ...] = (
    rules.render,
    ruletests.render,
    alertmanager.render,
    dashboards.render,
    prometheus.render,
)

# Top-level folders gen-monitoring owns in the output directory (for the drift check).
OWNED = ("rules", "alertmanager", "dashboards", "grafana", "prometheus", "kubernetes")


def render_all(spec: Spec, ctx: Context) -> Files:
    files: Files = {}
    for renderer in FILE_RENDERERS:
        for rel, text in renderer(spec, ctx).items():
            if rel in files:
                raise ValueError(f"two renderers produced {rel}")
            files[rel] = text
    if ctx.format == "kubernetes":
        return kubernetes.wrap(spec, ctx, files)
    return dict(sorted(files.items()))
