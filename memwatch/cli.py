"""The `memwatch` command: export, spec, demo."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from memwatch import __version__
from memwatch.errors import SpecError, UnknownStoreError
from memwatch.spec import Spec, json_schema, load_exporter_spec, load_spec

log = logging.getLogger("memwatch")

# Exit codes: 2 for a bad spec or bad usage (click's own convention), 1 for runtime failure.
EXIT_SPEC = 2


def fail_spec(err: SpecError) -> NoReturn:
    for problem in err.problems:
        click.echo(f"error: {problem}", err=True)
    sys.exit(EXIT_SPEC)


def check_listen(ctx: click.Context, param: click.Parameter, value: str | None
                 ) -> str | None:
    """--listen checked as the server will read it: one line and exit 2, no traceback."""
    from memwatch.spec.types import parse_listen

    if value is not None:
        try:
            parse_listen(value)
        except ValueError as exc:
            click.echo(f"error: --listen {exc}", err=True)
            sys.exit(EXIT_SPEC)
    return value


def load_or_exit(path: Path) -> Spec:
    try:
        return load_spec(path)
    except SpecError as err:
        fail_spec(err)


@click.group()
@click.version_option(__version__, prog_name="memwatch")
def main() -> None:
    """Prometheus monitoring for the databases where AI agents keep their memory."""


@main.command()
@click.option("--spec", "spec_path", required=True, type=click.Path(path_type=Path),
              help="The memwatch YAML spec.")
@click.option("--store", "stores", multiple=True, metavar="NAME",
              help="Export only this store (repeatable); default: every store.")
@click.option("--listen", default=None, metavar="HOST:PORT", callback=check_listen,
              help="Listen address (default: the spec's exporter.listen, 127.0.0.1:9187).")
@click.option("--web-config", type=click.Path(path_type=Path), default=None,
              help="exporter-toolkit web config file: TLS and basic auth.")
@click.option("--web.enable-lifecycle", "lifecycle", is_flag=True,
              help="Reload the spec on POST /-/reload, as Prometheus does (SIGHUP always "
                   "reloads).")
@click.option("--log-format", type=click.Choice(["logfmt", "json"]), default="logfmt")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info")
def export(spec_path: Path, stores: tuple[str, ...], listen: str | None,
           web_config: Path | None, lifecycle: bool, log_format: str, log_level: str) -> None:
    """Serve /metrics for the spec's stores, collected at scrape time; SIGHUP reloads the
    spec and its secrets."""
    from memwatch import heap, logs
    from memwatch.exporter import build_exporter
    from memwatch.reload import Reloader
    from memwatch.server import serve
    from memwatch.webconfig import WebConfig, load_web_config

    logs.setup(log_format, log_level)
    try:
        spec = load_exporter_spec(spec_path)
    except SpecError as err:
        fail_spec(err)
    web_path = web_config or spec.exporter.web_config_file
    try:
        web = load_web_config(web_path) if web_path else WebConfig()
    except SpecError as err:
        fail_spec(err)
    try:
        # the reloader needs the collector that build_exporter makes: bound below
        exporter = build_exporter(spec, stores, web,
                                  (lambda: reloader.reload()) if lifecycle else None)
    except UnknownStoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    address = listen or spec.exporter.listen
    reloader = Reloader(spec_path, stores, exporter.collector, address)
    try:
        httpd = serve(exporter.app, address, web)
    except OSError as exc:
        click.echo(f"error: cannot listen on {address}: {exc.strerror}", err=True)
        sys.exit(1)
    scheme = "https" if web.tls_server_config else "http"
    # what was bound: the real host, and the real port for :0
    host, port = str(httpd.server_address[0]), httpd.server_address[1]
    bound = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    log.info("listening", extra={"address": f"{scheme}://{bound}/metrics",
                                 "stores": ",".join(r.name for r in exporter.collector.runners),
                                 "version": __version__})

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    def hangup(signum: int, frame: FrameType | None) -> None:
        # off the signal handler: the reload builds backends while scrapes go on
        threading.Thread(target=reloader.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, hangup)
    heap.trim()  # what importing and validating freed
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()
        exporter.close()


@main.group()
def spec() -> None:
    """Validate the spec or print its JSON Schema."""


@spec.command("schema")
def spec_schema() -> None:
    """Print the spec's JSON Schema (for editor completion)."""
    click.echo(json_schema(), nl=False)


@spec.command("check")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--spec", "spec_path", type=click.Path(path_type=Path), default=None,
              help="The spec (as every other command takes it; or give it as PATH).")
def spec_check(path: Path | None, spec_path: Path | None) -> None:
    """Validate a spec; exit 2 naming each bad key and its line."""
    if (path is None) == (spec_path is None):
        raise click.UsageError("give the spec once: `spec check --spec FILE` or "
                               "`spec check FILE`")
    path = path or spec_path
    assert path is not None
    parsed = load_or_exit(path)
    click.echo(f"{path}: ok ({len(parsed.stores)} stores: "
               f"{', '.join(s.name for s in parsed.stores)})")


@main.command()
@click.option("--once", is_flag=True, help="Run the story once and exit (0 if every step "
                                           "was observed).")
@click.option("--dir", "workdir", type=click.Path(path_type=Path), default=None,
              help="Where the example store lives (default: a temporary directory).")
@click.option("--listen", default="127.0.0.1:0", metavar="HOST:PORT", callback=check_listen,
              help="Exporter address (port 0 picks a free one).")
def demo(once: bool, workdir: Path | None, listen: str) -> None:
    """A live demo: an example openclaw-mem store, an agent writing to it, the exporter."""
    from memwatch.demo.run import run_demo

    sys.exit(run_demo(once=once, workdir=workdir, listen=listen))


@main.command()
@click.option("--spec", "spec_path", required=True, type=click.Path(path_type=Path),
              help="The memwatch YAML spec.")
@click.option("--listen", default=None, metavar="HOST:PORT", callback=check_listen,
              help="Listen address (default: the spec's consolidator.listen, 127.0.0.1:9188).")
@click.option("--log-format", type=click.Choice(["logfmt", "json"]), default="logfmt")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info")
def consolidate(spec_path: Path, listen: str | None, log_format: str, log_level: str) -> None:
    """Receive Alertmanager webhooks and keep the alert history (stops on SIGTERM; SIGHUP
    reloads the bearer token and the schedulers' settings)."""
    from memwatch import logs
    from memwatch.consolidator.serve import serve as serve_consolidator
    from memwatch.errors import SecretError

    logs.setup(log_format, log_level)
    spec = load_or_exit(spec_path)
    address = listen or spec.consolidator.listen
    try:
        serve_consolidator(spec, address, Path.cwd(), spec_path)
    except SecretError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_SPEC)
    except NotImplementedError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(EXIT_SPEC)
    except OSError as exc:
        click.echo(f"error: cannot start on {address}: {exc.strerror or exc}", err=True)
        sys.exit(1)


@main.command()
@click.option("--spec", "spec_path", required=True, type=click.Path(path_type=Path),
              help="The memwatch YAML spec.")
@click.option("--store", "stores", multiple=True, metavar="NAME",
              help="Check only this store (repeatable); default: every store.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text")
def doctor(spec_path: Path, stores: tuple[str, ...], fmt: str) -> None:
    """Check each store: OK, or what is wrong and how to fix it (exit 1 on any problem)."""
    from memwatch.doctor import render, run

    try:
        spec = load_exporter_spec(spec_path)
    except SpecError as err:
        fail_spec(err)
    try:
        findings = run(spec, stores)
    except UnknownStoreError as exc:
        raise click.BadParameter(str(exc), param_hint="--store") from None
    click.echo(render(findings, fmt), nl=False)
    sys.exit(1 if any(not f.ok for f in findings) else 0)


if __name__ == "__main__":
    main()
