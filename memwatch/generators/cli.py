"""The `gen-monitoring` command: render, check (drift), lint."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from memwatch import __version__
from memwatch.cli import EXIT_SPEC, load_or_exit
from memwatch.generators.alerts import GenerationError
from memwatch.generators.output import Context, Format, diff_tree, write_tree
from memwatch.generators.pipeline import OWNED, render_all

SPEC = click.option("--spec", "spec_path", required=True, type=click.Path(path_type=Path),
                    help="The memwatch YAML spec.")
OUT = click.option("--out", "out", required=True, type=click.Path(path_type=Path),
                   help="The output directory.")
FORMAT = click.option("--format", "fmt", type=click.Choice(["files", "kubernetes"]),
                      default="files", show_default=True,
                      help="Plain files, or Kubernetes objects (PrometheusRule, "
                           "ServiceMonitor, dashboard ConfigMaps).")


@contextmanager
def _gc_paused() -> Iterator[None]:
    """A render allocates a few million objects and frees few before it is done: the cyclic
    collector would walk them again and again (a third of the time) to find no garbage."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _render(spec_path: Path, fmt: Format) -> dict[str, str]:
    with _gc_paused():
        spec = load_or_exit(spec_path)
        try:
            return render_all(spec, Context(spec_name=spec_path.as_posix(), format=fmt))
        except GenerationError as err:
            click.echo(f"error: {spec_path}: {err}", err=True)
            sys.exit(EXIT_SPEC)


@click.group()
@click.version_option(__version__, prog_name="gen-monitoring")
def main() -> None:
    """Render Prometheus rules, promtool tests, Alertmanager routing, Grafana dashboards
    and the Prometheus config from a memwatch spec."""


@main.command()
@SPEC
@OUT
@FORMAT
def render(spec_path: Path, out: Path, fmt: Format) -> None:
    """Write every file the spec renders (all or nothing)."""
    start = time.perf_counter()
    files = _render(spec_path, fmt)
    write_tree(out, files)
    click.echo(f"rendered {len(files)} files into {out} in "
               f"{time.perf_counter() - start:.2f}s", err=True)


@main.command()
@SPEC
@OUT
@FORMAT
def check(spec_path: Path, out: Path, fmt: Format) -> None:
    """Exit 1 with a unified diff when OUT differs from what the spec renders."""
    files = _render(spec_path, fmt)
    diff = diff_tree(out, files, OWNED)
    if diff:
        click.echo(diff, nl=False)
        click.echo(f"error: {out} is out of date; run gen-monitoring render --spec "
                   f"{spec_path} --out {out}", err=True)
        sys.exit(1)
    click.echo(f"{out}: up to date ({len(files)} files)", err=True)


@main.command()
@OUT
def lint(out: Path) -> None:
    """promtool and amtool checks plus memwatch's own rule lint."""
    from memwatch.generators.lint import lint_tree

    report = lint_tree(out)
    for line in report.lines:
        click.echo(line)
    sys.exit(0 if report.ok else 1)
