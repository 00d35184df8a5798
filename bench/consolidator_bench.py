#!/usr/bin/env python3
"""The consolidator under concurrency, two modes (docs/benchmarks.md shows the results).

    ./scripts/bootstrap.sh && .venv/bin/python bench/consolidator_bench.py load \
        [--backend sqlite|postgresql] [--alerts 100000] [--clients 100] [--duration 20]
    .venv/bin/python bench/consolidator_bench.py burst [--conns 100 1000] [--backend ...]

`load`: seeds --alerts alert occurrences (90 days of history, 10 stores, 10 alert names,
3 instances each, 95% resolved) through the repository itself, with the daily rows of
those days, then starts `memwatch consolidate` on that storage as its own process on a
free 127.0.0.1 port and, endpoint by endpoint, runs --clients keep-alive connections that
each send requests back to back for --duration seconds: GET /api/knowledge/summary,
POST /api/knowledge/query, GET /api/trends, GET /, GET /health, then POST /webhook/alerts
(one new alert a delivery), each endpoint on a freshly started server (so none measures
the backlog of another). Per endpoint: requests, success (a 200 within 10 s), p50, p99,
and the server's RSS after it (VmRSS) and its peak (VmHWM).

`burst`: for each connection count, that many keep-alive connections opened at once,
each posting --posts webhook deliveries.

SQLite storage lives in a temp dir; PostgreSQL is a database of its own in a PostgreSQL 16
cluster started from PyPI pgserver's binaries. Prints Markdown tables. Not run by the test
suite (nothing here is asserted).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import h11

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # tests.postgres; PYTHONPATH may give another memwatch

from memwatch.consolidator.daily import consolidate  # noqa: E402
from memwatch.consolidator.records import AlertRecord, iso  # noqa: E402
from memwatch.consolidator.storage.base import Repository  # noqa: E402

MEMWATCH = Path(sys.executable).parent / "memwatch"
STORES = [f"store-{i:02d}" for i in range(10)]
ALERTNAMES = ["MemoryCountZero", "MemoryCountDropped", "MemoryDatabaseDown",
              "MemoryIngestionStalled", "MemoryBacklogGrowing", "EmbeddingModelMixed",
              "MemoryStoreGrowingAbnormally", "MemwatchCollectionsFailing",
              "HostMemoryUsageHigh", "MemoryNamespaceLost"]
SEVERITIES = ["critical", "warning", "info"]
INSTANCES = ["a", "b", "c"]
DAYS = 90
SPEC = """stores:
%s
consolidator:
  storage: %s
  prometheus_url: null
  retention_days: 3650
  consolidation_hour_utc: 0
"""
QUERIES = [b'{"query": "restore backup"}', b'{"query": "ingestion stalled harvest"}',
           b'{"query": "memory count zero", "limit": 5}', b'{"query": "database down"}']


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def delivery(fp: str, store: str = "store-00", starts: str = "2026-11-01T10:00:00Z") -> bytes:
    """Alertmanager's webhook payload (version 4) with one firing alert."""
    return json.dumps({
        "version": "4", "status": "firing", "receiver": "consolidator",
        "groupKey": f"{{}}:{{store=\"{store}\"}}", "truncatedAlerts": 0, "groupLabels": {},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "MemoryCountZero",
                                                   "store": store, "severity": "critical"},
                    "annotations": {"summary": "x"}, "startsAt": starts,
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fp}],
    }).encode()


# -- seeding -------------------------------------------------------------------------------

def history(n: int, last_day: date, seed: int = 1) -> list[AlertRecord]:
    """n occurrences over the DAYS days up to last_day, in start order."""
    rnd = random.Random(seed)
    first = datetime.combine(last_day - timedelta(days=DAYS - 1), datetime.min.time(), UTC)
    span = DAYS * 86400 - 3 * 3600  # resolved before the last day ends
    out = []
    for i in range(n):
        name, store = rnd.choice(ALERTNAMES), rnd.choice(STORES)
        labels = {"alertname": name, "store": store, "instance": rnd.choice(INSTANCES),
                  "severity": SEVERITIES[ALERTNAMES.index(name) % 3]}
        fp = hashlib.sha1(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]
        starts = first + timedelta(seconds=rnd.randrange(span), microseconds=i % 1000)
        resolved = starts + timedelta(seconds=rnd.randrange(60, 7200)) \
            if rnd.random() < 0.95 else None
        out.append(AlertRecord(
            fingerprint=fp, starts_at=iso(starts), alertname=name, store=store,
            severity=labels["severity"], labels=labels,
            annotations={"summary": f"{name} on {store}"}, generator_url="",
            received_at=iso(starts), resolved_at=iso(resolved) if resolved else None))
    return sorted(out, key=lambda a: a.starts_at)


def seed(repo: Repository, n: int, last_day: date) -> None:
    """The alerts in deliveries of 1,000, then the daily rows of every day (each day from
    the alerts that started on it or the day before: none lasts longer than 2 h)."""
    alerts = history(n, last_day)
    for i in range(0, len(alerts), 1000):
        repo.ingest(alerts[i:i + 1000])
    by_day: dict[str, list[AlertRecord]] = {}
    for a in alerts:
        by_day.setdefault(a.starts_at[:10], []).append(a)
    rows = []
    for k in range(DAYS):
        day = last_day - timedelta(days=DAYS - 1 - k)
        near = by_day.get(day.isoformat(), []) + by_day.get(
            (day - timedelta(days=1)).isoformat(), [])
        rows += consolidate(near, STORES, [day])
    repo.save_days(rows, sorted({r.day for r in rows}))


# -- the server ----------------------------------------------------------------------------

@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int

    def status(self, key: str) -> float:
        """A /proc/PID/status value in MiB (VmRSS, VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")


@contextlib.contextmanager
def server(tmp: Path, storage: str) -> Iterator[Server]:
    spec = Path(tmp) / "spec.yaml"
    stores = "\n".join(f"  - {{name: {s}, preset: files, files: [{{name: d, glob: /none/*}}]}}"
                       for s in STORES)
    spec.write_text(SPEC % (stores, storage))
    port = free_port()
    proc = subprocess.Popen([str(MEMWATCH), "consolidate", "--spec", str(spec),
                             "--listen", f"127.0.0.1:{port}", "--log-level", "warning"])
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.05)
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("consolidate did not start")
        yield Server(proc, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # still busy with the requests of gone clients
            proc.kill()
            proc.wait()


# -- the load: keep-alive clients on h11 ---------------------------------------------------

@dataclass
class Endpoint:
    name: str
    method: str
    path: str
    body: list[bytes] = field(default_factory=list)  # one of these, in turn


@dataclass
class Outcome:
    latencies: list[float] = field(default_factory=list)
    failures: int = 0


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   conn: h11.Connection, ep: Endpoint, body: bytes | None) -> int:
    headers = [("Host", "127.0.0.1")]
    if body is not None:
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    data = conn.send(h11.Request(method=ep.method, target=ep.path, headers=headers))
    if body is not None:
        data += conn.send(h11.Data(data=body))
    writer.write(data + conn.send(h11.EndOfMessage()))
    status = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            chunk = await reader.read(65536)
            conn.receive_data(chunk)
            if not chunk and conn.their_state is not h11.DONE:
                raise ConnectionError("closed")
        elif isinstance(event, h11.Response):
            status = event.status_code
        elif isinstance(event, h11.EndOfMessage):
            conn.start_next_cycle()
            return status


async def client(port: int, ep: Endpoint, until: float, n: int, out: Outcome) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    conn = h11.Connection(h11.CLIENT)
    k = 0
    while time.monotonic() < until:
        k += 1
        body = ep.body[k % len(ep.body)] if ep.body else None
        if ep.path == "/webhook/alerts":
            body = delivery(f"bench-{n}-{k}-{time.monotonic_ns()}", STORES[n % len(STORES)])
        t0 = time.perf_counter()
        try:
            status = await asyncio.wait_for(exchange(reader, writer, conn, ep, body), 10)
        except (OSError, TimeoutError, h11.ProtocolError):
            status = 0
        out.latencies.append(time.perf_counter() - t0)
        if status != 200:
            out.failures += 1
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            conn = h11.Connection(h11.CLIENT)
    writer.close()


async def load(port: int, ep: Endpoint, clients: int, duration: float) -> Outcome:
    out = Outcome()
    until = time.monotonic() + duration
    await asyncio.gather(*(client(port, ep, until, n, out) for n in range(clients)))
    return out


def endpoints() -> list[Endpoint]:
    return [Endpoint("knowledge summary", "GET", "/api/knowledge/summary"),
            Endpoint("knowledge query", "POST", "/api/knowledge/query", QUERIES),
            Endpoint("trends (30 days)", "GET", f"/api/trends?store={STORES[3]}&days=30"),
            Endpoint("page", "GET", "/?days=30"),
            Endpoint("health", "GET", "/health"),
            Endpoint("webhook (1 new alert)", "POST", "/webhook/alerts")]


def run_load(args: argparse.Namespace, dsn: str | None) -> None:
    today = datetime.now(UTC).date()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        if dsn:
            from memwatch.consolidator.storage.postgresql import PostgresRepository
            repo: Repository = PostgresRepository(dsn)
            os.environ["BENCH_DSN"] = dsn
            storage = "{backend: postgresql, dsn: 'env:BENCH_DSN'}"
        else:
            from memwatch.consolidator.storage.sqlite import SqliteRepository
            path = Path(tmp) / "c.sqlite"
            repo = SqliteRepository(path)
            storage = "{path: " + json.dumps(str(path)) + "}"
        seed(repo, args.alerts, today - timedelta(days=1))
        stored = repo.count_alerts()
        repo.close()
        print(f"seeded {stored} alerts in {time.perf_counter() - t0:.0f} s; "
              f"{args.clients} keep-alive clients, {args.duration:g} s per endpoint\n")
        print("| endpoint | requests | success | p50 (ms) | p99 (ms) | RSS after (MiB) "
              "| peak RSS (MiB) |")
        print("|---|--:|--:|--:|--:|--:|--:|")
        for ep in endpoints():
            if args.endpoints and ep.path.split("?")[0] not in args.endpoints:
                continue
            # a server of its own: no endpoint measures the backlog another one left
            with server(Path(tmp), storage) as srv:
                out = asyncio.run(load(srv.port, ep, args.clients, args.duration))
                rss, peak = srv.status("VmRSS"), srv.status("VmHWM")
            q = statistics.quantiles(out.latencies, n=100)
            total = len(out.latencies)
            print(f"| {ep.method} {ep.path} | {total} | {(total - out.failures) / total:.1%} "
                  f"| {q[49] * 1000:.1f} | {q[98] * 1000:.1f} | {rss:.0f} | {peak:.0f} |",
                  flush=True)


# -- burst: many webhook connections at once -------------------------------------------------

def run_burst(conns: int, posts: int, dsn: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        if dsn:
            os.environ["BENCH_DSN"] = dsn
        storage = ("{backend: postgresql, dsn: 'env:BENCH_DSN'}" if dsn else
                   "{path: " + json.dumps(str(Path(tmp) / "c.sqlite")) + "}")
        with server(Path(tmp), storage) as srv:
            latencies: list[float] = []
            failures = [0]
            lock = threading.Lock()
            start = threading.Barrier(conns + 1)

            def post(i: int) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
                mine, bad = [], 0
                start.wait()
                for n in range(posts):
                    t0 = time.perf_counter()
                    try:
                        conn.request("POST", "/webhook/alerts", delivery(f"c{i}-{n}"),
                                     {"Content-Type": "application/json"})
                        resp = conn.getresponse()
                        resp.read()
                        ok = resp.status == 200
                    except OSError:
                        ok = False
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
                    mine.append(time.perf_counter() - t0)
                    bad += not ok
                conn.close()
                with lock:
                    latencies.extend(mine)
                    failures[0] += bad

            threads = [threading.Thread(target=post, args=(i,)) for i in range(conns)]
            for t in threads:
                t.start()
            start.wait()
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
            c.request("GET", "/api/persistence/health")
            stored = json.loads(c.getresponse().read())["alerts"]
    total = conns * posts
    q = statistics.quantiles(latencies, n=100)
    return {"conns": conns, "requests": total, "accepted": (total - failures[0]) / total,
            "stored": stored, "rps": total / wall, "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000}


def burst(args: argparse.Namespace, dsn_for: Any) -> None:
    print("| connections | requests | accepted | stored | requests/s | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|---|---|")
    for i, conns in enumerate(args.conns):
        r = run_burst(conns, args.posts, dsn_for(i))
        print(f"| {r['conns']} | {r['requests']} | {r['accepted']:.1%} | {r['stored']} | "
              f"{r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["load", "burst"], nargs="?", default="load")
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per endpoint")
    ap.add_argument("--endpoints", nargs="*", help="only these paths (default: all)")
    ap.add_argument("--conns", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--posts", type=int, default=5, help="posts per connection (burst)")
    args = ap.parse_args()
    print(f"mode: {args.mode}, backend: {args.backend}, cpus: {os.cpu_count()}, "
          f"python {sys.version.split()[0]}\n")
    cluster = None
    if args.backend == "postgresql":
        from tests.postgres.cluster import APP_USER, PgCluster

        cluster = PgCluster()
        cluster.start()
        cluster.create_app_database()

    def dsn_for(i: int) -> str | None:
        if cluster is None:
            return None
        cluster.execute(f'CREATE DATABASE bench{i} OWNER "{APP_USER}"', dbname="postgres")
        return str(cluster.dsn(dbname=f"bench{i}"))

    try:
        if args.mode == "load":
            run_load(args, dsn_for(0))
        else:
            burst(args, dsn_for)
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
