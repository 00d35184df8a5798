"""`gen-monitoring lint --prometheus URL` against a real Prometheus (issue 14): series the
rules and panels read, queries parsed by that server's version, names taken by another
rule set loaded there."""

from __future__ import annotations

import shutil
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from memwatch.demo.stack import Process, free_port, http_json, wait_for
from memwatch.exporter import build_exporter
from memwatch.generators.lint import Report
from memwatch.generators.lint_live import LintError, lint_live, series_names
from memwatch.generators.output import Context, owned_files, write_tree
from memwatch.generators.pipeline import render_all
from memwatch.server import serve, serve_in_thread
from memwatch.webconfig import WebConfig
from tests.helpers import spec_from
from tests.http.support import Store

FOREIGN = """\
groups:
  - name: someone-else
    rules:
      - alert: MemwatchExporterDown
        expr: vector(0) > 1
"""


def test_series_names_from_promql() -> None:
    assert series_names('rate(a_total{x="y{z}"}[5m]) > on(store) group_left b') == {
        "a_total", "b"}
    assert series_names('sum by (store) (c) / ignoring(x) d offset 1d') == {"c", "d"}
    assert series_names('topk(10, e{store=~"$store"}) and f:g:h[$__rate_interval]') == {
        "e", "f:g:h"}
    assert series_names("histogram_quantile(0.9, 1e3 * vector(1))") == set()


@pytest.fixture
def served_prometheus(store: Store, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The rendered tree of a one-store spec, and a Prometheus scraping that store's
    exporter with the rendered rules plus someone else's rule file loaded."""
    binary = shutil.which("prometheus")
    if binary is None:
        reason = "prometheus not found (Debian package `prometheus`; scripts/bootstrap.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    stores = store.spec()
    exp = build_exporter(spec_from(stores))
    httpd = serve(exp.app, "127.0.0.1:0", WebConfig())
    serve_in_thread(httpd)
    spec = spec_from(stores + f"""
exporter: {{listen: '127.0.0.1:{httpd.server_port}'}}
alerts: {{ram: {{host: false}}}}
prometheus: {{scrape_interval: 1s, evaluation_interval: 1s, alertmanagers: []}}
""")
    out = tmp_path / "out"
    write_tree(out, render_all(spec, Context(spec_name="spec.yaml")))
    config = yaml.safe_load((out / "prometheus" / "prometheus.yml").read_text())
    (out / "prometheus" / "foreign.yml").write_text(FOREIGN)
    config["rule_files"].append("foreign.yml")
    (out / "prometheus" / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = Process("prometheus", [
        binary, f"--config.file={out / 'prometheus' / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        tmp_path / "prometheus.log")
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        # the integrity pass (embeddings, duplicates) is served from the second scrape on
        q = urllib.parse.urlencode({"query": "memwatch_duplicate_memories"})
        wait_for("the store scraped", lambda: http_json(
            f"{url}/api/v1/query?{q}")["data"]["result"], 60)
        yield url, out
    finally:
        proc.stop()
        httpd.shutdown()
        httpd.server_close()
        exp.close()


def test_against_a_live_prometheus(served_prometheus: tuple[str, Path]) -> None:
    url, out = served_prometheus
    def alerts() -> object:
        q = urllib.parse.urlencode({"query": "ALERTS"})
        return http_json(f"{url}/api/v1/query?{q}")["data"]["result"]

    before = alerts()
    report = Report()
    lint_live(out, owned_files(out), url, report)
    text = "\n".join(report.lines)
    assert not report.ok
    assert "ok       every rule parses on Prometheus 2." in text
    # ALERTS is read by the dashboards: absent is its healthy state, said so, never failed
    # (a rule of the store may be pending meanwhile, and then it exists)
    assert "ALERTS: not on the server" not in text
    if not before and not alerts():
        assert "ok       ALERTS: absent, as it should be: it exists only while an alert " \
               "is pending or firing" in text
    # every series read exists (scraped), is recorded by the rendered rules, or is ALERTS
    assert "ok       every series the rules and dashboards read exists on the server" in text
    failed = text.split("FAILED   ", 1)[1]
    assert failed.startswith("no rendered rule name is taken")  # the only failure
    assert "FAILED   no rendered rule name is taken by another rule set loaded on the " \
           "server\n         MemwatchExporterDown: already defined in " in text
    assert "foreign.yml: someone-else" in text


def test_missing_series_and_a_query_this_version_cannot_parse(
        served_prometheus: tuple[str, Path]) -> None:
    url, out = served_prometheus
    rules = out / "rules" / "alerts.yml"
    data = yaml.safe_load(rules.read_text())
    data["groups"][0]["rules"].append({"alert": "Mine", "expr": "no_such_series > 0"})
    data["groups"][0]["rules"].append({"alert": "New", "expr": "limitk(1, memwatch_up)"})
    rules.write_text(yaml.safe_dump(data))
    report = Report()
    lint_live(out, owned_files(out), url, report)
    text = "\n".join(report.lines)
    assert "FAILED   every rule parses on Prometheus" in text
    assert "rules/alerts.yml: " in text and "/New: " in text  # limitk: Prometheus 3 only
    assert "no_such_series: not on the server; read by rules/alerts.yml: " in text


def test_an_unreachable_server_is_a_lint_error(tmp_path: Path) -> None:
    with pytest.raises(LintError) as err:
        lint_live(tmp_path, [], f"http://127.0.0.1:{free_port()}", Report())
    assert "127.0.0.1" in str(err.value)


def test_the_command_line(served_prometheus: tuple[str, Path]) -> None:
    url, out = served_prometheus
    gen = [sys.executable, "-m", "memwatch.generators"]
    res = subprocess.run([*gen, "lint", "--out", str(out), "--prometheus", url,
                          "--live-only"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "MemwatchExporterDown: already defined in" in res.stdout
    res = subprocess.run([*gen, "lint", "--out", str(out), "--prometheus",
                          f"http://127.0.0.1:{free_port()}", "--live-only"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith("error: cannot lint against http://127.0.0.1:")
