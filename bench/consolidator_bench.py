#!/usr/bin/env python3
"""The consolidator's webhook under concurrency: throughput, p50/p99 latency, share accepted.

    ./scripts/bootstrap.sh && .venv/bin/python bench/consolidator_bench.py \
        [--conns 100 1000] [--backend sqlite|postgresql]

For each connection count: starts `memwatch consolidate` (SQLite storage in a temp dir, or
a database of its own in a PostgreSQL 16 cluster started from PyPI pgserver's binaries) as
its own process on a free 127.0.0.1 port, opens that many keep-alive connections at once
(one thread each), and has every connection post --posts webhook deliveries (one new alert
each, Alertmanager's payload shape), measuring each request. Prints a Markdown table for
docs/benchmarks.md. Not run by the test suite.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MEMWATCH = Path(sys.executable).parent / "memwatch"
SPEC = """stores:
  - {name: main, preset: files, files: [{name: d, glob: /nonexistent/*}]}
consolidator:
  storage: %s
  prometheus_url: null
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(fp: str) -> bytes:
    return json.dumps({
        "version": "4", "status": "firing", "receiver": "consolidator",
        "groupKey": "{}:{store=\"main\"}", "truncatedAlerts": 0, "groupLabels": {},
        "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
        "alerts": [{"status": "firing", "labels": {"alertname": "MemoryCountZero",
                                                   "store": "main", "severity": "critical"},
                    "annotations": {"summary": "x"}, "startsAt": "2026-11-01T10:00:00Z",
                    "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": fp}],
    }).encode()


def run(conns: int, posts: int, dsn: str | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "spec.yaml"
        storage = ("{backend: postgresql, dsn: 'env:BENCH_DSN'}" if dsn else
                   "{path: " + json.dumps(str(Path(tmp) / "c.sqlite")) + "}")
        spec.write_text(SPEC % storage)
        if dsn:
            os.environ["BENCH_DSN"] = dsn
        port = free_port()
        proc = subprocess.Popen([str(MEMWATCH), "consolidate", "--spec", str(spec),
                                 "--listen", f"127.0.0.1:{port}", "--log-level", "warning"])
        try:
            deadline = time.monotonic() + 20
            while True:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                    c.request("GET", "/health")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    time.sleep(0.05)
                if time.monotonic() > deadline:
                    raise SystemExit("consolidate did not start")
            latencies: list[float] = []
            failures = [0]
            lock = threading.Lock()
            start = threading.Barrier(conns + 1)

            def client(i: int) -> None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                mine: list[float] = []
                bad = 0
                start.wait()
                for n in range(posts):
                    t0 = time.perf_counter()
                    try:
                        conn.request("POST", "/webhook/alerts", body(f"c{i}-{n}"),
                                     {"Content-Type": "application/json"})
                        resp = conn.getresponse()
                        resp.read()
                        ok = resp.status == 200
                    except OSError:
                        ok = False
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    mine.append(time.perf_counter() - t0)
                    bad += not ok
                conn.close()
                with lock:
                    latencies.extend(mine)
                    failures[0] += bad

            threads = [threading.Thread(target=client, args=(i,)) for i in range(conns)]
            for t in threads:
                t.start()
            start.wait()
            t0 = time.perf_counter()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            total = conns * posts
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/api/persistence/health")
            stored = json.loads(c.getresponse().read())["alerts"]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    q = statistics.quantiles(latencies, n=100)
    return {"conns": conns, "requests": total, "accepted": (total - failures[0]) / total,
            "stored": stored, "rps": total / wall, "p50_ms": q[49] * 1000,
            "p99_ms": q[98] * 1000}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--conns", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--posts", type=int, default=5, help="posts per connection")
    ap.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    print(f"backend: {args.backend}, cpus: {os.cpu_count()}, python {sys.version.split()[0]}\n")
    print("| connections | requests | accepted | stored | requests/s | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|---|---|---|")
    cluster = None
    if args.backend == "postgresql":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from tests.postgres.cluster import APP_USER, PgCluster

        cluster = PgCluster()
        cluster.start()
        cluster.create_app_database()
    try:
        for i, conns in enumerate(args.conns):
            dsn = None
            if cluster is not None:
                cluster.execute(f'CREATE DATABASE bench{i} OWNER "{APP_USER}"',
                                dbname="postgres")
                dsn = cluster.dsn(dbname=f"bench{i}")
            r = run(conns, args.posts, dsn)
            print(f"| {r['conns']} | {r['requests']} | {r['accepted']:.1%} | {r['stored']} | "
                  f"{r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |", flush=True)
    finally:
        if cluster is not None:
            cluster.close()


if __name__ == "__main__":
    main()
