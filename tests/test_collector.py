"""The runner around every backend: timeouts, shared in-flight collections, the namespace
cap, recreation counting. A Python backend stands in where the behaviour under test is the
runner's own (a driver call that ignores cancellation); the stores themselves are tested
for real in test_sqlite.py and tests/postgres/."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from memwatch.backends.base import Backend, Observation, cap_namespaces
from memwatch.backends.files import FilesChecker
from memwatch.collector import MemwatchCollector, StoreRunner
from memwatch.spec import FilesCheck, FilesStore
from tests.helpers import Scrape, exporter_for


class Scripted(Backend):
    """Returns scripted observations; can hang past the timeout ignoring cancel()."""

    kind = "test"
    tracks_identity = True

    def __init__(self) -> None:
        self.hang = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        self.cancels = 0
        self.memories = 10.0
        self.identity = "1"

    def collect(self) -> Observation:
        self.calls += 1
        if self.hang.is_set():
            self.release.wait(10)
        return Observation(memories=self.memories, identity=self.identity)

    def cancel(self) -> None:
        self.cancels += 1


def make(backend: Backend, timeout: float = 0.3, min_interval: float = 0) -> tuple[
        CollectorRegistry, StoreRunner]:
    store = FilesStore(name="s", preset="files", timeout=timeout, min_interval=min_interval,
                       files=(FilesCheck(name="x", glob="/nonexistent/*"),))
    runner = StoreRunner(store, backend, FilesChecker(()))
    reg = CollectorRegistry()
    reg.register(MemwatchCollector([runner]))
    return reg, runner


def get(reg: CollectorRegistry, name: str, **labels: str) -> float | None:
    return reg.get_sample_value(name, {"store": "s", **labels})


def test_hung_backend_answers_within_timeout_and_does_not_pile_up() -> None:
    backend = Scripted()
    reg, runner = make(backend)
    assert get(reg, "memwatch_up", backend="test") == 1
    backend.hang.set()
    for expected_timeouts in (1, 2, 3):
        start = time.monotonic()
        assert get(reg, "memwatch_up", backend="test") == 0
        assert time.monotonic() - start < 0.3 + 1.0
        assert get(reg, "memwatch_collection_errors_total", reason="timeout") == \
            expected_timeouts * 2  # each get() is a scrape that times out
    assert backend.calls == 2  # the stuck call is not queued behind again and again
    assert backend.cancels >= 1
    backend.hang.clear()
    backend.release.set()
    time.sleep(0.05)
    assert get(reg, "memwatch_up", backend="test") == 1  # recovers on the next scrape
    runner.close()


def test_concurrent_scrapes_share_one_collection() -> None:
    backend = Scripted()
    backend.hang.set()
    reg, runner = make(backend, timeout=2)
    results: list[float | None] = []

    def scrape() -> None:
        results.append(get(reg, "memwatch_up", backend="test"))

    threads = [threading.Thread(target=scrape) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    backend.release.set()
    for t in threads:
        t.join()
    assert results == [1, 1, 1, 1]
    assert backend.calls == 1
    runner.close()


def test_min_interval_serves_cached_result() -> None:
    backend = Scripted()
    reg, runner = make(backend, min_interval=60)
    assert get(reg, "memwatch_store_memories") == 10
    backend.memories = 20
    assert get(reg, "memwatch_store_memories") == 10
    assert backend.calls == 1
    runner.close()


def test_recreation_counted_when_identity_changes() -> None:
    backend = Scripted()
    reg, runner = make(backend)
    assert get(reg, "memwatch_table_recreations_total") == 0
    backend.identity, backend.memories = "2", 0
    assert get(reg, "memwatch_table_recreations_total") == 1
    assert get(reg, "memwatch_table_recreations_total") == 1
    runner.close()


@pytest.mark.parametrize(("top", "total", "cap", "want"), [
    ([("a", 5), ("b", 3), ("c", 2)], 10, 5, {"a": 5, "b": 3, "c": 2}),
    ([("a", 5), ("b", 3), ("c", 2)], 10, 2, {"a": 5, "b": 3, "__other__": 2}),
    ([("a", 5), ("b", 3)], 12, 2, {"a": 5, "b": 3, "__other__": 4}),  # db returned top 2
    ([(None, 4), ("a", 4)], 8, 5, {"__none__": 4, "a": 4}),
    ([], 0, 3, {}),
])
def test_cap_namespaces(top: list[tuple[str | None, float]], total: float, cap: int,
                        want: dict[str, float]) -> None:
    assert cap_namespaces(top, total, cap) == want


def test_files_preset_backup_folder(tmp_path: Path) -> None:
    (tmp_path / "old.dump").write_bytes(b"x" * 100)
    (tmp_path / "new.dump").write_bytes(b"y" * 50)
    (tmp_path / "ignored.txt").write_text("z")
    import os
    os.utime(tmp_path / "old.dump", (1_700_000_000, 1_700_000_000))
    os.utime(tmp_path / "new.dump", (1_700_086_400, 1_700_086_400))
    with exporter_for(f"""
            stores:
              - name: backups
                preset: files
                files:
                  - {{name: dumps, glob: '{tmp_path}/*.dump'}}
                  - {{name: none, glob: '{tmp_path}/*.gz'}}
            """) as exp:
        got = Scrape(exp)
    assert got("memwatch_up", store="backups", backend="files") == 1
    assert got("memwatch_files", store="backups", check="dumps") == 2
    assert got("memwatch_files_size_bytes", store="backups", check="dumps") == 150
    assert got("memwatch_files_newest_timestamp_seconds", store="backups",
               check="dumps") == 1_700_086_400
    assert got("memwatch_files", store="backups", check="none") == 0
    assert got("memwatch_files_newest_timestamp_seconds", store="backups", check="none") is None
    assert got("memwatch_store_memories", store="backups") is None


def test_only_needed_drivers_are_imported(tmp_path: Path) -> None:
    """A SQLite-only spec never imports psycopg or pymongo (checked in a fresh interpreter)."""
    import subprocess
    import sys
    code = (
        "import sys\n"
        "from memwatch.exporter import build_exporter\n"
        "from memwatch.spec import parse_spec\n"
        f"s = parse_spec(\"stores: [{{name: a, preset: openclaw-mem, path: '{tmp_path}/x'}}]\")\n"
        "e = build_exporter(s); e.registry.collect(); list(e.registry.collect())\n"
        "print(sorted(m for m in ('psycopg', 'pymongo', 'grafanalib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
