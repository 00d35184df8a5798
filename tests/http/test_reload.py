"""Reloading the spec without a restart (issue 14): SIGHUP, and `POST /-/reload` with
--web.enable-lifecycle; an invalid spec keeps the running one and says so in
memwatch_config_last_reload_successful; an unchanged store keeps its runner (its counters
go on), a changed secret makes a new one."""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import get
from tests.http.support import Store, parse, sample
from tests.http.test_process import Proc, closed_port

RELOADED = "memwatch_config_last_reload_success_timestamp_seconds"


def files_store(name: str, tmp_path: Path) -> str:
    return (f"  - name: {name}\n    preset: files\n"
            f"    files: [{{name: d, glob: '{tmp_path}/*.{name}'}}]\n")


def gone_store(tmp_path: Path) -> str:  # fails every scrape: its error counter counts them
    return (f"  - name: gone\n    preset: openclaw-mem\n"
            f"    path: '{tmp_path / 'missing.sqlite'}'\n    spool: null\n")


@pytest.fixture
def spec_file(tmp_path: Path, store: Store) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(store.spec() + gone_store(tmp_path) + files_store("backups", tmp_path))
    return path


def start(memwatch_bin: Path, spec: Path, *args: str) -> Proc:
    popen = subprocess.Popen(
        [str(memwatch_bin), "export", "--spec", str(spec), "--listen", "127.0.0.1:0", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = Proc(popen)
    proc.url = proc.read_until(r"(https?://127\.0\.0\.1:\d+)/metrics").group(1)
    return proc


@pytest.fixture
def running(memwatch_bin: Path, spec_file: Path, request: pytest.FixtureRequest
            ) -> Iterator[Proc]:
    proc = start(memwatch_bin, spec_file, *getattr(request, "param", ()))
    try:
        yield proc
    finally:
        if proc.popen.poll() is None:
            proc.popen.kill()
            proc.wait()


def scrape(proc: Proc) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    status, _, body = get(proc.url + "/metrics")
    assert status == 200
    return parse(body)


def stores(data: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> set[str]:
    return {dict(labels)["store"] for name, labels in data if name == "memwatch_up"}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def until(proc: Proc, check: object, what: str) -> tuple[Samples, int]:
    """The first scrape that passes `check`, and how many scrapes it took."""
    deadline, scrapes = time.monotonic() + 20, 0
    while True:
        data = scrape(proc)
        scrapes += 1
        if check(data):  # type: ignore[operator]
            return data, scrapes
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def post(url: str, method: str = "POST") -> tuple[int, str]:
    req = urllib.request.Request(url, data=b"", method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def test_sighup_applies_a_new_spec_and_keeps_unchanged_stores(
        running: Proc, spec_file: Path, store: Store, tmp_path: Path) -> None:
    first = scrape(running)
    assert stores(first) == {"oc", "gone", "backups"}
    assert sample(first, "memwatch_config_last_reload_successful") == 1
    started = sample(first, RELOADED)
    assert started is not None and abs(started - time.time()) < 60
    errors = sample(first, "memwatch_collection_errors_total", store="gone", reason="missing")
    assert errors == 1
    # backups goes, logs comes, oc and gone stay as they were
    spec_file.write_text(store.spec() + gone_store(tmp_path) + files_store("logs", tmp_path))
    running.popen.send_signal(signal.SIGHUP)
    after, scrapes = until(running, lambda d: stores(d) == {"oc", "gone", "logs"},
                           "the new stores")
    running.read_until(r"msg=reloaded")
    assert sample(after, "memwatch_config_last_reload_successful") == 1
    assert (sample(after, RELOADED) or 0) > started
    # gone kept its runner: its counter went on, one a scrape since the start
    assert sample(after, "memwatch_collection_errors_total", store="gone",
                  reason="missing") == 1 + scrapes
    assert sample(after, "memwatch_store_memories", store="oc") == store.active


def test_an_invalid_spec_keeps_the_running_one(running: Proc, spec_file: Path) -> None:
    before = scrape(running)
    spec_file.write_text("stores:\n  - name: x\n    preset: openclaw-memm\n")
    running.popen.send_signal(signal.SIGHUP)
    running.read_until(r"reload failed")
    after, _ = until(running,
                     lambda d: sample(d, "memwatch_config_last_reload_successful") == 0,
                     "the failed reload")
    assert stores(after) == stores(before) == {"oc", "gone", "backups"}
    assert sample(after, RELOADED) == sample(before, RELOADED)
    line = running.read_until(r"reload failed.*").group(0)
    assert "preset: unknown preset 'openclaw-memm'" in line
    assert running.popen.poll() is None  # still serving


def test_the_lifecycle_api_is_off_unless_enabled(running: Proc) -> None:
    assert post(running.url + "/-/reload") == (
        403, "Lifecycle API is not enabled (--web.enable-lifecycle).\n")


@pytest.mark.parametrize("running", [("--web.enable-lifecycle",)], indirect=True)
def test_post_reload_with_the_lifecycle_api(running: Proc, spec_file: Path, store: Store,
                                            tmp_path: Path) -> None:
    assert post(running.url + "/-/reload", "GET")[0] == 405
    spec_file.write_text(store.spec())
    assert post(running.url + "/-/reload") == (200, "reloaded\n")
    assert stores(scrape(running)) == {"oc"}
    spec_file.write_text("stores: [")
    status, body = post(running.url + "/-/reload", "PUT")
    assert status == 500
    assert body.startswith("failed to reload the spec; the running one stays:\n")
    assert f"{spec_file}:2: not valid YAML" in body
    data = scrape(running)
    assert stores(data) == {"oc"}
    assert sample(data, "memwatch_config_last_reload_successful") == 0


def test_a_changed_secret_file_makes_the_store_new(memwatch_bin: Path, tmp_path: Path,
                                                  ) -> None:
    """The DSN in a file: after the file changes, the store connects with the new one."""
    dsn = tmp_path / "dsn"
    dsn.write_text(f"postgresql://monitor:pw@127.0.0.1:{closed_port()}/mem0")
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"stores:\n  - name: pg\n    preset: mem0-pgvector\n    dsn_file: '{dsn}'\n"
                    "    connect_timeout: 1s\n    timeout: 2s\n")
    proc = start(memwatch_bin, spec)
    try:
        assert sample(scrape(proc), "memwatch_collection_errors_total", store="pg",
                      reason="connect") == 1
        dsn.write_text("postgresql://monitor:pw@127.0.0.1:notaport/mem0")
        proc.popen.send_signal(signal.SIGHUP)
        proc.read_until(r"msg=reloaded")
        data = scrape(proc)
        # a new runner read the new file: a config error, counted from 0
        assert sample(data, "memwatch_collection_errors_total", store="pg",
                      reason="config") == 1
        assert sample(data, "memwatch_collection_errors_total", store="pg",
                      reason="connect") == 0
    finally:
        proc.popen.kill()
        proc.wait()
