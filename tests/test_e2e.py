"""End to end: the demo's stack on free 127.0.0.1 ports (real Prometheus and Alertmanager
loaded with what gen-monitoring rendered), the store's rows deleted, the alert followed
through; and every dashboard panel's query answered with data by that Prometheus."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from memwatch.demo.run import DEMO_SPEC, Agent
from memwatch.demo.stack import Stack, free_port, wait_for
from memwatch.exporter import Exporter, build_exporter
from memwatch.generators.dashboards import (
    annotation_queries,
    concrete,
    during_incidents_only,
    panel_queries,
    sample_variables,
)
from memwatch.generators.model import Model
from memwatch.generators.output import Context, write_tree
from memwatch.generators.pipeline import render_all
from memwatch.server import serve, serve_in_thread
from memwatch.spec import Spec, load_spec
from memwatch.webconfig import WebConfig

pytestmark = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
    reason="Debian packages prometheus and prometheus-alertmanager are not installed")


@dataclass
class Demo:
    spec: Spec
    files: dict[str, str]
    agent: Agent
    exporter: Exporter
    stack: Stack


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    work = tmp_path_factory.mktemp("e2e")
    db, spool = work / "openclaw-mem.sqlite", work / "spool.jsonl"
    ports = {"exporter_port": free_port(), "alertmanager_port": free_port(),
             "prometheus_port": free_port(), "consolidator_port": free_port()}
    (work / "demo.yaml").write_text(DEMO_SPEC.format(db=db, spool=spool, workdir=work, **ports))
    spec = load_spec(work / "demo.yaml")
    files = render_all(spec, Context(spec_name="demo.yaml"))
    write_tree(work / "rendered", files)
    agent = Agent(db, spool)
    agent.capture(30)
    agent.harvest()
    agent.capture(5)  # a backlog left in the spool
    exporter = build_exporter(spec)
    httpd = serve(exporter.app, f"127.0.0.1:{ports['exporter_port']}", WebConfig())
    serve_in_thread(httpd)
    an_hour_of_history(work / "prometheus-data", f"http://127.0.0.1:{httpd.server_port}")
    stack = Stack(work / "rendered", work, ports["prometheus_port"], ports["alertmanager_port"],
                  work / "demo.yaml", ports["consolidator_port"])
    try:
        stack.start()
        yield Demo(spec, files, agent, exporter, stack)
    finally:
        stack.stop()
        httpd.shutdown()
        httpd.server_close()
        exporter.close()


HISTORY = "memwatch_store_size_bytes"  # what the growth recording rule compares an hour back


def an_hour_of_history(data_dir: Path, exporter: str) -> None:
    """The store's size as it was 70 to 45 minutes ago, written as a TSDB block into the
    Prometheus data directory before Prometheus starts (promtool's backfill): the growth
    panel reads memwatch:store_size_growth:ratio_1h, which compares with an hour ago."""
    with urllib.request.urlopen(f"{exporter}/metrics", timeout=10) as resp:
        size = next(line.split()[-1] for line in resp.read().decode().splitlines()
                    if line.startswith(f'{HISTORY}{{store="openclaw"}}'))
    now = int(time.time())
    samples = [f'{HISTORY}{{store="openclaw"}} {size} {t}'
               for t in range(now - 70 * 60, now - 45 * 60, 15)]
    source = data_dir.parent / "history.om"
    source.write_text(f"# TYPE {HISTORY} gauge\n" + "\n".join(samples) + "\n# EOF\n")
    data_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([shutil.which("promtool") or "promtool", "tsdb", "create-blocks-from",
                    "openmetrics", str(source), str(data_dir)],
                   check=True, capture_output=True, timeout=60)


def dashboard_variables(demo: Demo) -> dict[str, str]:
    return {**sample_variables(Model.of(demo.spec)), "store": "openclaw"}


def test_every_dashboard_panel_query_returns_data(demo: Demo) -> None:
    queries = panel_queries(demo.files)
    assert len(queries) >= 25
    # ALERTS exists only while an alert is active: checked during the incident, below
    calm = [q for q in queries if not during_incidents_only(q)]
    assert len(calm) == len(queries) - 1
    variables = dashboard_variables(demo)
    # wait until Prometheus has a few scrapes, so windowed and rate() queries have data
    wait_for("two scrapes of the exporter", lambda: demo.stack.query(
        'count_over_time(memwatch_up{store="openclaw"}[1m]) >= 3'), 60)
    empty = []
    for expr in calm:
        if not demo.stack.query(concrete(expr, variables)):
            empty.append(expr)
    assert empty == [], f"panels without data: {empty}"


def test_data_loss_reaches_the_consolidator_within_the_bound(demo: Demo) -> None:
    p, r = demo.spec.prometheus, demo.spec.routing
    wait_for("the count in Prometheus", lambda: demo.stack.query(
        'memwatch_store_memories{store="openclaw"} > 0'), 60)
    start = time.monotonic()
    demo.agent.lose_everything()
    alert = wait_for("MemoryCountZero in Alertmanager",
                     lambda: demo.stack.in_alertmanager("MemoryCountZero", "openclaw"), 60)
    stored = wait_for("MemoryCountZero at the consolidator",
                      lambda: demo.stack.stored("MemoryCountZero", "openclaw"), 60)
    took = time.monotonic() - start
    # a scrape to see the 0, an evaluation to start `for`, `for` itself, an evaluation to
    # fire, Alertmanager's group_wait before it notifies the webhook; plus slack for a
    # shared, noisy machine
    bound = p.scrape_interval + 2 * p.evaluation_interval + 3 + r.group_wait + 10
    assert took <= bound, f"{took:.1f}s > {bound:.1f}s"
    assert len(stored) == 1 and stored[0]["severity"] == "critical"
    assert stored[0]["fingerprint"] == alert["fingerprint"]
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["component"] == "memory-store"
    assert alert["annotations"]["runbook_url"].endswith("#memorycountzero")
    assert "0 memories" in alert["annotations"]["description"]
    firing = demo.stack.firing("MemoryCountDropped", "openclaw")
    assert firing is not None and float(firing["value"]) == 1.0


def test_alert_panels_and_annotations_answer_during_an_incident(demo: Demo) -> None:
    """The firing-alerts table and the alert annotations, while an alert fires (the data
    loss above; run alone, this test causes it)."""
    incident = [q for q in [*panel_queries(demo.files), *annotation_queries(demo.files)]
                if during_incidents_only(q)]
    assert len(incident) == 2  # the table and the overview's annotation
    demo.agent.lose_everything()
    wait_for("MemoryCountZero firing in Prometheus",
             lambda: demo.stack.firing("MemoryCountZero", "openclaw"), 60)
    variables = dashboard_variables(demo)
    for expr in incident:
        rows = wait_for(f"data for {expr}",
                        lambda e=expr: demo.stack.query(concrete(e, variables)), 15)
        names = {r["metric"]["alertname"] for r in rows}
        assert "MemoryCountZero" in names, (expr, names)
    (table,) = [q for q in incident if q.startswith("label_join")]
    rows = demo.stack.query(concrete(table, variables))
    assert {r["metric"]["runbook"] for r in rows} == {r["metric"]["alertname"] for r in rows}


def test_demo_once_from_the_command_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    res = subprocess.run([sys.executable, "-m", "memwatch.cli", "demo", "--once"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    for step in ("the agent captures memories", "memories growing, seen by Prometheus",
                 "the data loss reaches Prometheus", "the alert fires in Prometheus",
                 "Alertmanager has it", "the consolidator stored it", "the alert resolves",
                 "it recurs: a knowledge-base entry"):
        assert f"[ok] {step}" in res.stdout
    assert "every step observed" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr
    assert res.stderr == ""  # no server noise: their logs go to files


def _children(pid: int) -> set[int]:
    """The process's children, from /proc (every thread's list)."""
    out: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            out |= {int(c) for c in (task / "children").read_text().split()}
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_demo_stopped_by_a_signal_stops_its_servers_and_cleans_up(sig: int) -> None:
    """SIGTERM as clean as Ctrl-C: it left Prometheus, Alertmanager and the consolidator
    running, re-parented to PID 1, and its temporary directory behind (issue 12)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    proc = subprocess.Popen([sys.executable, "-m", "memwatch.cli", "demo"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 120
        for line in proc.stdout:  # the servers are up once the demo names its logs
            seen.append(line)
            if "(server logs:" in line or time.monotonic() > deadline:
                break
        assert "(server logs:" in seen[-1], "".join(seen)
        workdir = Path(seen[-1].split("(server logs: ")[1].rstrip(")\n")).parent
        servers = _children(proc.pid)
        assert len(servers) == 3, servers  # prometheus, alertmanager, the consolidator
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "stopping" in out, out + err
    assert "Traceback" not in out + err
    alive = {p for p in servers if Path(f"/proc/{p}").exists()
             and Path(f"/proc/{p}/stat").read_text().split()[2] != "Z"}
    assert alive == set()
    assert not workdir.exists()
