"""The live demo: an openclaw-mem store fed by a simulated agent, scraped by memwatch.

It tells the story in the terminal: memories growing, the capture spool harvested, a data
loss (a capsule restore's `DELETE FROM observations`), and what the exporter reports.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any
from wsgiref.simple_server import WSGIServer

import click
from prometheus_client.parser import text_string_to_metric_families

from memwatch.demo import openclaw_store as oc
from memwatch.demo.stack import Stack, StackError, free_port, wait_for
from memwatch.exporter import Exporter, build_exporter
from memwatch.generators.output import Context, write_tree
from memwatch.generators.pipeline import render_all
from memwatch.server import serve, serve_in_thread
from memwatch.spec import load_spec
from memwatch.spec.types import parse_listen
from memwatch.webconfig import WebConfig

TOOLS = ("web_search", "read_file", "exec", "memory_store", "browser")


class Agent:
    """Writes observations like openclaw-mem: captures go to the spool, harvest ingests."""

    def __init__(self, db: Path, spool: Path) -> None:
        self.conn = oc.create(db)
        self.spool = spool
        self.n = 0
        self.lock = threading.Lock()

    def capture(self, count: int) -> None:
        with self.lock, self.spool.open("a") as fh:
            for _ in range(count):
                self.n += 1
                fh.write(oc.spool_line(datetime.now(UTC), random.choice(TOOLS),
                                       f"observation {self.n}", self.n) + "\n")

    def harvest(self) -> int:
        """Rename the spool to .processing, ingest it, delete it (as `harvest` does)."""
        with self.lock:
            if not self.spool.exists():
                return 0
            stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
            processing = self.spool.with_name(f"{self.spool.name}.{stamp}.processing")
            self.spool.rename(processing)
        lines = processing.read_text().splitlines()
        self.conn.execute("BEGIN")
        for line in lines:
            rec = json.loads(line)
            oc.insert_observation(self.conn, rec["ts"], rec["tool_name"], rec["summary"],
                                  embedding=("text-embedding-3-small", 8))
        self.conn.execute("COMMIT")
        processing.unlink()
        return len(lines)

    def lose_everything(self) -> None:
        self.conn.execute("DELETE FROM observations")


def scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            key = s.name + "".join(f",{k}={v}" for k, v in sorted(s.labels.items())
                                   if k != "store")
            out[key] = s.value
    return out


DEMO_SPEC = """\
# the demo's spec: one openclaw-mem store, fast intervals so the story takes a minute
stores:
  - name: openclaw
    preset: openclaw-mem
    path: '{db}'
    spool: '{spool}'
    timeout: 2s
    alerts:
      MemoryCountZero: {{for: 3s}}
      MemoryCountDropped: {{for: 3s, window: 3m}}
exporter:
  listen: 127.0.0.1:{exporter_port}
alerts:
  ram: {{host: false}}
prometheus:
  scrape_interval: 1s
  evaluation_interval: 1s
  alertmanagers: ['127.0.0.1:{alertmanager_port}']
routing:
  group_wait: 1s
  group_interval: 2s
  consolidator_url: http://127.0.0.1:{consolidator_port}/webhook/alerts
consolidator:
  listen: 127.0.0.1:{consolidator_port}
  storage: {{backend: sqlite, path: '{workdir}/consolidator.sqlite'}}
  prometheus_url: http://127.0.0.1:{prometheus_port}
  pattern_min_days: 1   # a pattern is knowledge from its first day (the demo is short)
"""


class Story:
    """Runs the steps, printing each as it is observed; remembers which were missed."""

    def __init__(self) -> None:
        self.missing: list[str] = []

    def step(self, name: str, observe: Callable[[], str]) -> bool:
        try:
            detail = observe()
        except (TimeoutError, OSError, ValueError) as exc:
            self.missing.append(name)
            click.echo(f"  [{click.style('MISSING', fg='red')}] {name}: {exc}")
            return False
        click.echo(f"  [{click.style('ok', fg='green')}] {name}: {detail}")
        return True


@contextlib.contextmanager
def _stopped_like_ctrl_c() -> Iterator[None]:
    """SIGTERM and SIGHUP end the demo as Ctrl-C does: Python's default for them kills the
    process without running `finally`, which left Prometheus, Alertmanager and the
    consolidator running (re-parented to PID 1) and the temporary directory behind."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_demo(once: bool, workdir: Path | None, listen: str) -> int:
    with _stopped_like_ctrl_c():
        return _run_demo(once, workdir, listen)


@dataclass
class Demo:
    """One run's parts: the store's files, the tree gen-monitoring rendered, the simulated
    agent, the exporter serving the store and the monitoring stack loaded with the tree."""

    workdir: Path
    db: Path
    rendered: Path
    agent: Agent
    exporter: Exporter
    httpd: WSGIServer
    stack: Stack

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}/metrics"

    def memories(self, expected: float) -> Callable[[], str | None]:
        """A probe: the store's count in Prometheus once it is `expected`."""
        def probe() -> str | None:  # a string: "0" is an observation, not a miss
            result = self.stack.query('memwatch_store_memories{store="openclaw"}')
            v = float(result[0]["value"][1]) if result else None
            return f"{v:.0f}" if v == expected else None
        return probe

    def stored(self) -> list[dict[str, Any]]:
        """The consolidator's history of MemoryCountZero on the demo's store."""
        return self.stack.stored("MemoryCountZero", "openclaw")

    def resolved(self) -> str | None:
        return next((a["resolved_at"] for a in self.stored() if a["resolved_at"]), None)


def _run_demo(once: bool, workdir: Path | None, listen: str) -> int:
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="memwatch-demo-")
        workdir = Path(tmp.name)
    demo = _set_up(workdir, listen)
    story = Story()
    try:
        _start(demo)
        _growth(demo, story)
        _loss_alerted(demo, story)
        _recurrence(demo, story)
        if not once:
            _keep_writing(demo)
    except KeyboardInterrupt:
        click.echo("\n  stopping")
    except StackError as exc:
        story.missing.append("the monitoring stack")
        click.echo(f"demo: {exc}", err=True)
    finally:
        _stop(demo)
        if tmp is not None:
            tmp.cleanup()
    if story.missing:
        click.echo(f"demo: step(s) not observed: {', '.join(story.missing)}", err=True)
        return 1
    click.echo(click.style("every step observed", fg="green"))
    return 0


def _set_up(workdir: Path, listen: str) -> Demo:
    """A fresh store, the demo's spec and its rendered tree, the exporter serving."""
    workdir.mkdir(parents=True, exist_ok=True)
    db, spool = workdir / "openclaw-mem.sqlite", workdir / "openclaw-mem-observations.jsonl"
    for p in (db, spool):
        p.unlink(missing_ok=True)
    ports = {"exporter_port": parse_listen(listen)[1] or free_port(),
             "alertmanager_port": free_port(), "prometheus_port": free_port(),
             "consolidator_port": free_port()}
    spec_path = workdir / "demo.yaml"
    spec_path.write_text(DEMO_SPEC.format(db=db, spool=spool, workdir=workdir, **ports))
    spec = load_spec(spec_path)
    rendered = workdir / "rendered"
    write_tree(rendered, render_all(spec, Context(spec_name="demo.yaml")))
    agent = Agent(db, spool)
    exporter = build_exporter(spec)
    httpd = serve(exporter.app, f"127.0.0.1:{ports['exporter_port']}", WebConfig())
    serve_in_thread(httpd)
    stack = Stack(rendered, workdir, ports["prometheus_port"], ports["alertmanager_port"],
                  spec_path, ports["consolidator_port"])
    return Demo(workdir, db, rendered, agent, exporter, httpd, stack)


def _start(demo: Demo) -> None:
    """Start Prometheus, Alertmanager and the consolidator; say where each is."""
    say, stack = click.echo, demo.stack
    say(click.style("memwatch demo", bold=True) + f": an openclaw-mem store at {demo.db}")
    stack.start()
    say(f"  exporter      {demo.url}")
    say(f"  prometheus    {stack.prometheus_url}   (rules rendered by gen-monitoring "
        f"into {demo.rendered})")
    say(f"  alertmanager  {stack.alertmanager_url}")
    say(f"  consolidator  {stack.consolidator_url}   (its page: {stack.consolidator_url}/)")
    say(f"  (server logs: {demo.workdir / 'logs'})")


def _growth(demo: Demo, story: Story) -> None:
    """The agent captures and harvests memories; the exporter and Prometheus see them."""
    agent, url = demo.agent, demo.url
    agent.capture(40)
    story.step("the agent captures memories", lambda: (
        f"{scrape(url).get('memwatch_backlog,stage=spool', 0):.0f} lines waiting in "
        "the capture spool"))
    agent.harvest()
    agent.capture(25)
    agent.harvest()
    story.step("memories growing, seen by Prometheus", lambda: (
        f"memwatch_store_memories = {wait_for('65 in Prometheus', demo.memories(65), 60)}"
        f" in {sum(1 for k in scrape(url) if k.startswith('memwatch_memories,'))} tool "
        "namespaces"))


def _loss_alerted(demo: Demo, story: Story) -> None:
    """A data loss, followed from the exporter through Prometheus and Alertmanager to the
    consolidator's history."""
    stack = demo.stack
    demo.agent.lose_everything()
    click.echo("  ... a capsule restore runs DELETE FROM observations")
    story.step("the data loss reaches Prometheus", lambda: (
        f"memwatch_store_memories = {wait_for('the count at 0', demo.memories(0), 60)}"))
    story.step("the alert fires in Prometheus", lambda: (
        "MemoryCountZero is " + wait_for(
            "MemoryCountZero firing", lambda: stack.firing("MemoryCountZero", "openclaw"),
            60)["state"]))
    story.step("Alertmanager has it", lambda: (
        "MemoryCountZero, severity " + wait_for(
            "MemoryCountZero in Alertmanager",
            lambda: stack.in_alertmanager("MemoryCountZero", "openclaw"),
            60)["labels"]["severity"] + ", routed to the consolidator"))
    story.step("the consolidator stored it", lambda: (
        f"{len(wait_for('MemoryCountZero stored', demo.stored, 60))} occurrence of "
        "MemoryCountZero on openclaw in its history"))


def _recurrence(demo: Demo, story: Story) -> None:
    """A restore resolves the alert; the loss happens again and becomes knowledge."""
    agent = demo.agent
    agent.capture(10)
    agent.harvest()
    click.echo("  ... the store is restored from a backup; then the loss happens again")
    story.step("the alert resolves", lambda: "resolved at " + str(wait_for(
        "the resolution stored", demo.resolved, 60)))
    agent.lose_everything()
    story.step("it recurs: a knowledge-base entry", lambda: _entry(wait_for(
        "a knowledge-base entry seen twice", lambda: _twice(demo.stack.knowledge(
            "MemoryCountZero", "openclaw")), 90)))


def _keep_writing(demo: Demo) -> None:
    """The agent goes on writing, a line of what the exporter sees every 2 s, until Ctrl-C."""
    click.echo("  the agent keeps writing; Ctrl-C stops the demo")
    while True:
        demo.agent.capture(random.randint(1, 5))
        if random.random() < 0.5:
            demo.agent.harvest()
        time.sleep(2)
        demo.stack.check()
        v = _view(scrape(demo.url))
        click.echo(f"  {datetime.now().strftime('%H:%M:%S')} memories={v['memories']} "
                   f"backlog={v['backlog']} up={v['up']} firing={_firing(demo.stack)}")


def _stop(demo: Demo) -> None:
    demo.stack.stop()
    demo.httpd.shutdown()
    demo.httpd.server_close()
    demo.exporter.close()


def _firing(stack: Stack) -> str:
    """The alerts firing in Prometheus now, by name and store, or `none`."""
    try:
        series = stack.query('ALERTS{alertstate="firing"}')
    except (OSError, ValueError):  # Prometheus busy or restarting: the next tick says
        return "?"
    names = sorted({f"{s['metric'].get('alertname')}({s['metric'].get('store', '')})"
                    for s in series})
    return ",".join(names) or "none"


def _twice(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    return entry if entry and entry["occurrences"] >= 2 else None


def _entry(entry: dict[str, Any]) -> str:
    return (f"\"{entry['title']}\" ({entry['category']}, {entry['severity']}), seen "
            f"{entry['occurrences']} times; solution: {entry['solution']}")


def _view(scraped: dict[str, float]) -> dict[str, str]:
    def fmt(v: float | None) -> str:
        return "-" if v is None else (str(int(v)) if float(v).is_integer() else f"{v:.2f}")
    return {
        "memories": fmt(scraped.get("memwatch_store_memories")),
        "backlog": fmt(scraped.get("memwatch_backlog,stage=spool")),
        "up": fmt(scraped.get("memwatch_up,backend=sqlite")),
        "drop": fmt(scraped.get("memwatch_memories_drop_ratio")),
        "namespaces": str(sum(1 for k in scraped if k.startswith("memwatch_memories,namespace="))),
    }
