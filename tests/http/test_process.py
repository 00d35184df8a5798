"""`memwatch export` as a real process: it serves, logs in the chosen format, never logs a
secret, and stops cleanly on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import get
from tests.http.support import Store, parse, sample

SECRET = "Zq9-dsn-pw-4471"
LOGFMT_PAIR = re.compile(r'([A-Za-z_][A-Za-z0-9_.]*)=("(?:[^"\\]|\\.)*"|[^\s"=]+)')


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Proc:
    """A running exporter; a thread collects its stderr lines."""

    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self.popen = popen
        self.url = ""
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.popen.stderr is not None
        for line in self.popen.stderr:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()

    def read_until(self, pattern: str, timeout: float = 15) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in self.lines:
                    if m := re.search(pattern, line):
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or not self._reader.is_alive():
                    break
                self._changed.wait(min(left, 0.2))
        raise AssertionError(f"no stderr line matched {pattern!r}:\n" + "\n".join(self.lines))

    def wait(self, timeout: float = 5) -> int:
        code = self.popen.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self, timeout: float = 5) -> tuple[int, float]:
        start = time.monotonic()
        self.popen.send_signal(signal.SIGTERM)
        code = self.popen.wait(timeout=timeout)
        took = time.monotonic() - start
        self._reader.join(timeout=5)
        return code, took


@contextlib.contextmanager
def exporter(memwatch_bin: Path, spec: Path, *args: str) -> Iterator[Proc]:
    env = {**os.environ, "MW_TEST_DSN":
           f"postgresql://monitor:{SECRET}@127.0.0.1:{closed_port()}/mem0"}
    popen = subprocess.Popen(
        [str(memwatch_bin), "export", "--spec", str(spec), "--listen", "127.0.0.1:0", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env)
    proc = Proc(popen)
    try:
        proc.url = proc.read_until(r"(https?://127\.0\.0\.1:\d+)/metrics").group(1)
        assert not proc.url.endswith(":0")  # the log names the port it really bound
        yield proc
    finally:
        if popen.poll() is None:
            popen.kill()
            proc.wait()


def write_spec(store: Store, tmp_path: Path) -> Path:
    """The store with data, a missing SQLite file, and a PostgreSQL store whose DSN (with
    a password) points at a closed port: both fail, and log that they did."""
    path = tmp_path / "spec.yaml"
    path.write_text(store.spec() + (
        "  - name: gone\n    preset: openclaw-mem\n"
        f"    path: '{tmp_path / 'missing.sqlite'}'\n    spool: null\n"
        "  - name: pg\n    preset: mem0-pgvector\n    dsn: env:MW_TEST_DSN\n"
        "    connect_timeout: 1s\n    timeout: 2s\n"))
    return path


def scrape(proc: Proc) -> str:
    status, _, body = get(proc.url + "/metrics")
    assert status == 200
    assert SECRET not in body
    data = parse(body)
    assert sample(data, "memwatch_store_memories", store="oc") == 7
    assert sample(data, "memwatch_up", store="gone", backend="sqlite") == 0
    assert sample(data, "memwatch_up", store="pg", backend="postgresql") == 0
    assert sample(data, "memwatch_collection_errors_total", store="pg", reason="connect") == 1
    return body


def test_export_json_logs_and_sigterm(memwatch_bin: Path, store: Store,
                                      tmp_path: Path) -> None:
    with exporter(memwatch_bin, write_spec(store, tmp_path), "--log-format", "json") as proc:
        scrape(proc)
        proc.read_until(r'"store": "pg"')  # the failures were logged
        code, took = proc.stop()
    assert code == 0
    assert took < 3
    records = []
    for line in proc.lines:
        record = json.loads(line)  # every line is one JSON object
        assert {"ts", "level", "msg"} <= set(record), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])
        records.append(record)
    by_msg = {(r["msg"], r.get("store")): r for r in records}
    assert by_msg[("listening", None)]["level"] == "info"
    assert by_msg[("listening", None)]["stores"] == "oc,gone,pg"
    assert by_msg[("collection failed", "gone")]["reason"] == "missing"
    assert by_msg[("collection failed", "pg")]["reason"] == "connect"
    assert by_msg[("stopping", None)]["signal"] == "SIGTERM"
    assert SECRET not in "\n".join(proc.lines)


def test_export_logfmt_by_default(memwatch_bin: Path, store: Store, tmp_path: Path) -> None:
    with exporter(memwatch_bin, write_spec(store, tmp_path)) as proc:
        scrape(proc)
        proc.read_until(r"store=pg")
        code, _ = proc.stop()
    assert code == 0
    records = []
    for line in proc.lines:
        pairs = LOGFMT_PAIR.findall(line)
        # the pairs cover the whole line: nothing but key=value separated by spaces
        assert " ".join(f"{k}={v}" for k, v in pairs) == line, line
        record = {k: json.loads(v) if v.startswith('"') else v for k, v in pairs}
        assert {"ts", "level", "msg"} <= set(record), line
        records.append(record)
    assert any(r["msg"] == "listening" and r["level"] == "info" for r in records)
    failed = [r for r in records if r["msg"] == "collection failed"]
    assert {(r["store"], r["reason"]) for r in failed} == {("gone", "missing"), ("pg", "connect")}
    assert SECRET not in "\n".join(proc.lines)


def test_export_sigint_also_stops(memwatch_bin: Path, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(store.spec())
    with exporter(memwatch_bin, path) as proc:
        assert get(proc.url + "/health")[0] == 200
        proc.popen.send_signal(signal.SIGINT)
        assert proc.wait() == 0


def test_export_port_in_use_exits_1(memwatch_bin: Path, store: Store, tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(store.spec())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(memwatch_bin), "export", "--spec", str(path), "--listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=20)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


@pytest.mark.parametrize("fmt", ["json", "logfmt"])
def test_export_https_process(memwatch_bin: Path, store: Store, tmp_path: Path,
                              tls_cert: tuple[Path, Path], fmt: str) -> None:
    """TLS through the CLI flag; plain HTTP to the port leaves no traceback on stderr."""
    cert, key = tls_cert
    web = tmp_path / "web.yml"
    web.write_text(f"tls_server_config: {{cert_file: '{cert}', key_file: '{key}'}}\n")
    path = tmp_path / "spec.yaml"
    path.write_text(store.spec())
    with exporter(memwatch_bin, path, "--web-config", str(web), "--log-format", fmt) as proc:
        assert proc.url.startswith("https://")
        with pytest.raises(OSError):
            urllib.request.urlopen(proc.url.replace("https", "http") + "/metrics", timeout=5)
        ctx = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(proc.url + "/metrics", timeout=5, context=ctx) as resp:
            assert sample(parse(resp.read().decode()), "memwatch_up", store="oc",
                          backend="sqlite") == 1
        code, _ = proc.stop()
    assert code == 0
    assert not any("Traceback" in line for line in proc.lines), proc.lines
    if fmt == "json":
        for line in proc.lines:
            json.loads(line)


def test_the_log_names_the_address_really_bound(memwatch_bin: Path, store: Store,
                                                tmp_path: Path) -> None:
    """`--listen PORT` logged `http://:PORT/metrics` (issue 12): the log reads the socket."""
    with exporter(memwatch_bin, write_spec(store, tmp_path), "--listen", "0") as proc:
        assert re.fullmatch(r"http://127\.0\.0\.1:[1-9]\d*", proc.url)
        status, _, _ = get(proc.url + "/health")
        assert status == 200
        code, _ = proc.stop()
    assert code == 0
