"""Snapshots from a real Prometheus (backfilled with promtool, so the values are known);
a gap recorded, never a crash, when Prometheus is down."""

from __future__ import annotations

import contextlib
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from memwatch.consolidator.records import Snapshot
from memwatch.consolidator.scheduler import SnapshotScheduler
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.snapshots import take
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.generators.am_support import free_port, tool

# An hour ago, on a whole minute: inside the default 5m lookback of the queries below.
T0 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def openmetrics(t0: datetime) -> str:
    s = int(t0.timestamp())
    lines = ["# TYPE memwatch_store_memories gauge"]
    lines += [f'memwatch_store_memories{{store="main",instance="a"}} {v} {s + 60 * i}'
              for i, v in enumerate((100, 40))]
    lines += [f'memwatch_store_memories{{store="main",instance="b"}} 38 {s + 60}']
    lines += [f'memwatch_store_memories{{store="side",instance="a"}} 7 {s + 60}']
    lines += ["# TYPE memwatch_memories_drop_ratio gauge",
              f'memwatch_memories_drop_ratio{{store="main",instance="a"}} 0.6 {s + 60}',
              "# TYPE memwatch_up gauge",
              f'memwatch_up{{store="main",backend="sqlite",instance="a"}} 1 {s + 60}',
              f'memwatch_up{{store="main",backend="sqlite",instance="b"}} 0 {s + 60}',
              f'memwatch_up{{store="side",backend="sqlite",instance="a"}} 1 {s + 60}',
              "# TYPE memwatch_newest_memory_timestamp_seconds gauge",
              f'memwatch_newest_memory_timestamp_seconds{{store="main",instance="a"}} '
              f'{s - 30} {s + 60}',
              "# TYPE memwatch_backlog gauge",
              f'memwatch_backlog{{store="main",stage="spool",instance="a"}} 5 {s + 60}',
              f'memwatch_backlog{{store="main",stage="processing",instance="a"}} 2 {s + 60}',
              "# EOF"]
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def prometheus(workdir: Path, data: str) -> Iterator[str]:
    promtool = tool("promtool", "prometheus")
    binary = tool("prometheus", "prometheus")
    tsdb = workdir / "tsdb"
    tsdb.mkdir()
    source = workdir / "data.om"
    source.write_text(data, encoding="utf-8")
    made = subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(source),
                           str(tsdb)], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    config = workdir / "prometheus.yml"
    config.write_text("global: {}\n", encoding="utf-8")
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([binary, f"--config.file={config}",
                                 f"--storage.tsdb.path={tsdb}",
                                 "--storage.tsdb.retention.time=10y",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Prometheus not ready: " + log.read_text()
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_snapshot_values_from_real_prometheus(tmp_path: Path) -> None:
    with prometheus(tmp_path, openmetrics(T0)) as url:
        at = T0 + timedelta(seconds=90)
        snaps = {s.store: s for s in take(url, ["main", "side", "absent"], at)}
    when = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert snaps["main"] == Snapshot(
        store="main", at=when, count=40.0, drop_ratio=0.6, up=0.0,  # instance b is down
        newest_seconds=T0.timestamp() - 30, backlog=7.0)
    assert snaps["side"] == Snapshot(store="side", at=when, count=7.0, up=1.0)
    # a store Prometheus knows nothing of: a row with no values, not an error
    assert snaps["absent"] == Snapshot(store="absent", at=when)


def test_prometheus_down_records_a_gap_and_retries(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    metrics = ConsolidatorMetrics()
    dead = f"http://127.0.0.1:{free_port()}"
    clock = iter([T0, T0 + timedelta(hours=1)])
    sched = SnapshotScheduler(repo, dead, ["main"], 3600, metrics, clock=lambda: next(clock))
    first = sched.run_once()
    assert [(r.store, r.count) for r in first] == [("main", None)]
    assert first[0].error is not None and "unreachable" in first[0].error
    sched.run_once()  # the next one tries again: a second gap row, no crash
    assert [r.at for r in repo.snapshots("main")] == [
        T0.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        (T0 + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    assert metrics.registry.get_sample_value(
        "memwatch_consolidator_snapshot_failures_total") == 2
