"""A local monitoring stack for the demo and the end-to-end test: real Prometheus and
Alertmanager (Debian's binaries) loaded with what gen-monitoring rendered, on free
127.0.0.1 ports, their output in log files, stopped by the code that started them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from memwatch.errors import MemwatchError

T = TypeVar("T")

PROMETHEUS_BINARIES = ("prometheus",)
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


class StackError(MemwatchError):
    """A part of the stack could not start; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_binary(names: Sequence[str], package: str) -> str:
    for name in names:
        if path := shutil.which(name):
            return path
    raise StackError(f"{names[0]} not found: apt-get install {package} "
                     "(scripts/bootstrap.sh does)")


def http_json(url: str, data: Any = None, timeout: float = 5.0) -> Any:
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        text = resp.read().decode()
    return json.loads(text) if text else None


def wait_for(what: str, probe: Callable[[], T | None], timeout: float,
             interval: float = 0.25) -> T:
    """Poll `probe` until it returns something other than None/False, or fail naming it."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = probe()
            if got:
                return got
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last = exc
        time.sleep(interval)
    raise TimeoutError(f"{what}: not observed within {timeout:.0f}s"
                       + (f" (last error: {last})" if last else ""))


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    env: dict[str, str] | None = None  # added to this process's environment

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        fh = self.log.open("wb")
        env = {**os.environ, **self.env} if self.env else None
        self.proc = subprocess.Popen(self.argv, stdout=fh, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)
        fh.close()

    def check(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise StackError(f"{self.name} exited with {self.proc.returncode}; its log "
                             f"({self.log}) ends:\n{tail}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


@dataclass
class Stack:
    """Prometheus and Alertmanager serving the rendered tree in `rendered`."""

    rendered: Path
    workdir: Path
    prometheus_port: int
    alertmanager_port: int
    # the consolidator (`memwatch consolidate --spec`), Alertmanager's webhook receiver
    spec_path: Path | None = None
    consolidator_port: int | None = None
    processes: list[Process] = field(default_factory=list)

    @property
    def consolidator_url(self) -> str:
        return f"http://127.0.0.1:{self.consolidator_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"

    @property
    def alertmanager_url(self) -> str:
        return f"http://127.0.0.1:{self.alertmanager_port}"

    def start(self) -> None:
        am = Process("alertmanager", [
            find_binary(ALERTMANAGER_BINARIES, "prometheus-alertmanager"),
            f"--config.file={self.rendered / 'alertmanager' / 'alertmanager.yml'}",
            f"--storage.path={self.workdir / 'alertmanager-data'}",
            f"--web.listen-address=127.0.0.1:{self.alertmanager_port}",
            "--cluster.listen-address=",  # else it binds *:9094 for clustering
            "--log.level=warn",
        ], self.workdir / "logs" / "alertmanager.log")
        prom = Process("prometheus", [
            find_binary(PROMETHEUS_BINARIES, "prometheus"),
            f"--config.file={self.rendered / 'prometheus' / 'prometheus.yml'}",
            f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{self.prometheus_port}",
            "--log.level=warn",
        ], self.workdir / "logs" / "prometheus.log")
        parts = [(am, f"{self.alertmanager_url}/-/ready"),
                 (prom, f"{self.prometheus_url}/-/ready")]
        if self.spec_path is not None and self.consolidator_port is not None:
            cons = Process("consolidator", [
                sys.executable, "-m", "memwatch.cli", "consolidate", "--spec",
                str(self.spec_path), "--listen", f"127.0.0.1:{self.consolidator_port}",
            ], self.workdir / "logs" / "consolidator.log")
            parts.insert(0, (cons, f"{self.consolidator_url}/health"))
        for p, _ in parts:
            p.start()
            self.processes.append(p)
        for p, url in parts:
            def ready(p: Process = p, url: str = url) -> bool:
                p.check()
                with urllib.request.urlopen(url, timeout=2) as resp:
                    return bool(resp.status == 200)
            wait_for(f"{p.name} ready at {url}", ready, 60)

    def stop(self) -> None:
        for p in reversed(self.processes):
            p.stop()

    def check(self) -> None:
        for p in self.processes:
            p.check()

    # -- what the story observes ---------------------------------------------------------
    def firing(self, alertname: str, store: str) -> dict[str, Any] | None:
        data = http_json(f"{self.prometheus_url}/api/v1/alerts")
        for a in data["data"]["alerts"]:
            if (a["labels"].get("alertname") == alertname
                    and a["labels"].get("store") == store and a["state"] == "firing"):
                return dict(a)
        return None

    def in_alertmanager(self, alertname: str, store: str) -> dict[str, Any] | None:
        for a in http_json(f"{self.alertmanager_url}/api/v2/alerts"):
            if (a["labels"].get("alertname") == alertname
                    and a["labels"].get("store") == store):
                return dict(a)
        return None

    def stored(self, alertname: str, store: str) -> list[dict[str, Any]]:
        """The consolidator's stored occurrences of an alert."""
        data = http_json(f"{self.consolidator_url}/api/persistence/export")
        return [a for a in data["alerts"]
                if a["alertname"] == alertname and a["store"] == store]

    def knowledge(self, alertname: str, store: str) -> dict[str, Any] | None:
        data = http_json(f"{self.consolidator_url}/api/knowledge/export")
        for e in data["entries"]:
            if e["alertname"] == alertname and e["store"] == store:
                return dict(e)
        return None

    def query(self, expr: str) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr})
        data = http_json(f"{self.prometheus_url}/api/v1/query?{q}")
        if data.get("status") != "success":
            raise ValueError(f"query failed: {expr}: {data}")
        return list(data["data"]["result"])


@contextlib.contextmanager
def running(rendered: Path, workdir: Path, prometheus_port: int, alertmanager_port: int
            ) -> Iterator[Stack]:
    stack = Stack(rendered, workdir, prometheus_port, alertmanager_port)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()



