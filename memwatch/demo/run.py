"""The live demo: an openclaw-mem store fed by a simulated agent, scraped by memwatch.

It tells the story in the terminal: memories growing, the capture spool harvested, a data
loss (a capsule restore's `DELETE FROM observations`), and what the exporter reports.
"""

from __future__ import annotations

import json
import random
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
from prometheus_client.parser import text_string_to_metric_families

from memwatch.demo import openclaw_store as oc
from memwatch.exporter import build_exporter
from memwatch.server import serve, serve_in_thread
from memwatch.spec import parse_spec
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


def run_demo(once: bool, workdir: Path | None, listen: str) -> int:
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="memwatch-demo-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    db, spool = workdir / "openclaw-mem.sqlite", workdir / "openclaw-mem-observations.jsonl"
    for p in (db, spool):
        p.unlink(missing_ok=True)
    agent = Agent(db, spool)
    spec = parse_spec(
        f"stores:\n  - name: openclaw\n    preset: openclaw-mem\n    path: '{db}'\n"
        f"    spool: '{spool}'\n    timeout: 2s\n", "demo")
    exporter = build_exporter(spec)
    httpd = serve(exporter.app, listen, WebConfig())
    serve_in_thread(httpd)
    url = f"http://127.0.0.1:{httpd.server_port}/metrics"
    say = click.echo
    say(click.style("memwatch demo", bold=True) + f" - store {db}")
    say(f"  exporter: {url}   (try: curl -s {url} | grep ^memwatch_)")
    steps: dict[str, bool] = {}

    def step(name: str, check: Callable[[dict[str, float]], bool], detail: str) -> None:
        m = scrape(url)
        ok = check(m)
        steps[name] = ok
        mark = click.style("ok", fg="green") if ok else click.style("MISSING", fg="red")
        say(f"  [{mark}] {name}: {detail.format(**_view(m))}")

    try:
        agent.capture(40)
        step("capture spool seen as backlog", lambda m: m.get("memwatch_backlog,stage=spool")
             == 40, "{backlog} lines waiting in the spool")
        agent.harvest()
        step("harvest ingested the memories", lambda m: m.get("memwatch_store_memories") == 40
             and m.get("memwatch_backlog,stage=spool") == 0,
             "{memories} memories, {backlog} waiting, up={up}")
        agent.capture(25)
        agent.harvest()
        step("memories growing", lambda m: m.get("memwatch_store_memories") == 65,
             "{memories} memories in {namespaces} tool namespaces")
        agent.lose_everything()
        step("data loss detected", lambda m: m.get("memwatch_store_memories") == 0
             and m.get("memwatch_memories_drop_ratio") == 1.0,
             "{memories} memories, drop ratio {drop}")
        if not once:
            say("  the agent keeps writing; Ctrl-C stops the demo")
            while True:
                agent.capture(random.randint(1, 5))
                if random.random() < 0.5:
                    agent.harvest()
                time.sleep(2)
                m = scrape(url)
                v = _view(m)
                say(f"  {datetime.now().strftime('%H:%M:%S')} memories={v['memories']} "
                    f"backlog={v['backlog']} up={v['up']}")
    except KeyboardInterrupt:
        say("\n  stopping")
    finally:
        httpd.shutdown()
        httpd.server_close()
        exporter.close()
        if tmp is not None:
            tmp.cleanup()
    missing = [k for k, ok in steps.items() if not ok]
    if missing:
        say(f"demo: step(s) not observed: {', '.join(missing)}", err=True)
        return 1
    return 0


def _view(m: dict[str, float]) -> dict[str, str]:
    def fmt(v: float | None) -> str:
        return "-" if v is None else (str(int(v)) if float(v).is_integer() else f"{v:.2f}")
    return {
        "memories": fmt(m.get("memwatch_store_memories")),
        "backlog": fmt(m.get("memwatch_backlog,stage=spool")),
        "up": fmt(m.get("memwatch_up,backend=sqlite")),
        "drop": fmt(m.get("memwatch_memories_drop_ratio")),
        "namespaces": str(sum(1 for k in m if k.startswith("memwatch_memories,namespace="))),
    }
