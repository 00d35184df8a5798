"""The `gen-monitoring` command group (the renderers arrive with the generator issue)."""

from __future__ import annotations

import click

from memwatch import __version__


@click.group()
@click.version_option(__version__, prog_name="gen-monitoring")
def main() -> None:
    """Render Prometheus rules, promtool tests, Alertmanager routing and Grafana dashboards
    from a memwatch spec."""
