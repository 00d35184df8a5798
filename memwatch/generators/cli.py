"""The `gen-monitoring` command: render, check (drift), lint, init (a starter spec)."""

from __future__ import annotations

import gc
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import click

from memwatch import __version__
from memwatch.cli import EXIT_SPEC, load_or_exit
from memwatch.errors import MemwatchError
from memwatch.generators.output import (
    Context,
    Format,
    ManifestError,
    diff_tree,
    owned_files,
    spec_name,
    write_tree,
)
from memwatch.generators.pipeline import render_all, warnings
from memwatch.spec import Spec, presets

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


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_SPEC)


def _render(spec_path: Path, out: Path, fmt: Format) -> tuple[Spec, dict[str, str]]:
    with _gc_paused():
        spec = load_or_exit(spec_path)
        try:
            return spec, render_all(spec, Context(spec_name=spec_name(spec_path, out),
                                                  format=fmt))
        except MemwatchError as err:  # GenerationError, OutputConflict
            _fail(f"{spec_path}: {err}")


@click.group()
@click.version_option(__version__, prog_name="gen-monitoring")
def main() -> None:
    """Render Prometheus rules, promtool tests, Alertmanager routing, Grafana dashboards,
    the Prometheus config and runbooks from a memwatch spec."""


@main.command()
@SPEC
@OUT
@FORMAT
def render(spec_path: Path, out: Path, fmt: Format) -> None:
    """Write every file the spec renders (all or nothing), and remove the files an earlier
    render wrote that the spec no longer renders (those its manifest lists, no other)."""
    start = time.perf_counter()
    spec, files = _render(spec_path, out, fmt)
    try:
        write_tree(out, files)
    except ManifestError as err:
        _fail(str(err))
    except OSError as exc:
        _fail(f"cannot write {exc.filename or out}: {exc.strerror or exc}")
    for warning in warnings(spec):
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"rendered {len(files)} files into {out} in "
               f"{time.perf_counter() - start:.2f}s", err=True)


@main.command()
@SPEC
@OUT
@FORMAT
def check(spec_path: Path, out: Path, fmt: Format) -> None:
    """Exit 1 with a unified diff when OUT differs from what the spec renders (a file an
    earlier render wrote and this one would remove included)."""
    _, files = _render(spec_path, out, fmt)
    try:
        diff = diff_tree(out, files)
    except ManifestError as err:
        _fail(str(err))
    if diff:
        click.echo(diff, nl=False)
        click.echo(f"error: {out} is out of date; run gen-monitoring render --spec "
                   f"{spec_path} --out {out}", err=True)
        sys.exit(1)
    click.echo(f"{out}: up to date ({len(files)} files)", err=True)


@main.command()
@OUT
@click.option("--prometheus", "prometheus_url", default=None, metavar="URL",
              help="Also check against this live Prometheus: every series read exists, every "
                   "query parses on its version, no rule name is taken there.")
@click.option("--live-only", is_flag=True,
              help="With --prometheus: only the checks against it (no promtool, amtool).")
def lint(out: Path, prometheus_url: str | None, live_only: bool) -> None:
    """promtool and amtool checks plus memwatch's own rule lint, on the files render wrote;
    exit 1 on a problem, 2 when the lint cannot run."""
    from memwatch.generators.lint import Report, lint_tree
    from memwatch.generators.lint_live import LintError, lint_live

    if live_only and prometheus_url is None:
        _fail("--live-only needs --prometheus URL")
    try:
        report = Report() if live_only else lint_tree(out)
        if prometheus_url is not None:
            lint_live(out, owned_files(out), prometheus_url, report)
    except ManifestError as err:
        _fail(str(err))
    except LintError as err:
        _fail(f"cannot lint against {err}")
    for line in report.lines:
        click.echo(line)
    sys.exit(0 if report.ok else 1)


@main.command()
@click.option("--preset", "presets", multiple=True, metavar="PRESET",
              help=f"A store of this preset (repeatable): {', '.join(presets())}.")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Write the spec to this file (default: stdout).")
@click.option("--force", is_flag=True, help="Overwrite --out if it exists.")
def init(presets: tuple[str, ...], out: Path | None, force: bool) -> None:
    """Write a commented starter spec: one store per --preset, placeholders to replace."""
    from memwatch.generators.starter import UnknownPreset, starter_spec

    try:
        text = starter_spec(presets)
    except UnknownPreset as err:
        _fail(str(err))
    if out is None:
        click.echo(text, nl=False)
        return
    if out.exists() and not force:
        _fail(f"{out} exists; add --force to overwrite it")
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    click.echo(f"wrote {out}; replace its placeholders, then: memwatch spec check {out}",
               err=True)
