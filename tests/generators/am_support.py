"""Helpers for the Alertmanager / Prometheus-config / Kubernetes generator tests: the tools
(amtool, promtool, a real Alertmanager on a free port) and a webhook that records posts."""

from __future__ import annotations

import contextlib
import http.server
import json
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from memwatch.spec import Spec, parse_spec

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "monitoring.yaml"
GEN_MONITORING = Path(sys.executable).parent / "gen-monitoring"

ONLY_STORES = """\
stores:
  - {name: alpha, preset: files, files: [{name: dumps, glob: /var/backups/alpha/*.dump}]}
  - {name: beta, preset: files, files: [{name: dumps, glob: /var/backups/beta/*.dump}]}
"""


def spec_of(text: str) -> Spec:
    return parse_spec(textwrap.dedent(text), "test-spec.yaml")


def example_spec() -> Spec:
    return parse_spec(EXAMPLE.read_text(encoding="utf-8"), "examples/monitoring.yaml")


def tool(name: str, package: str) -> str:
    found = shutil.which(name) or f"/usr/bin/{name}"
    if not Path(found).exists():
        reason = f"{name} not found (Debian package `{package}`; scripts/bootstrap.sh)"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return found


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=60)


def amtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(tool("amtool", "prometheus-alertmanager"), *args)


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(tool("promtool", "prometheus"), *args)


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def routes_test(config: Path, labels: dict[str, str], tree: bool = False) -> str:
    """Receivers (or, with tree, the matching route tree) amtool resolves for a label set."""
    args = ["config", "routes", "test", f"--config.file={config}"]
    args += ["--tree"] if tree else []
    proc = amtool(*args, *(f"{k}={v}" for k, v in labels.items()))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# --- a real Alertmanager ----------------------------------------------------------------

@dataclass
class Alertmanager:
    url: str
    log: Path

    def post(self, *alerts: dict[str, str]) -> None:
        body = json.dumps([{"labels": a} for a in alerts]).encode()
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.status == 200

    def alerts(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts", timeout=10) as resp:
            data: list[dict[str, Any]] = json.load(resp)
            return data

    def alert(self, **labels: str) -> dict[str, Any]:
        for a in self.alerts():
            if all(a["labels"].get(k) == v for k, v in labels.items()):
                return a
        raise AssertionError(f"no alert with {labels}")

    def wait_for(self, **labels: str) -> dict[str, Any]:
        deadline = time.monotonic() + 10
        while True:
            try:
                return self.alert(**labels)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


@contextlib.contextmanager
def run_alertmanager(config: Path, workdir: Path) -> Iterator[Alertmanager]:
    """Alertmanager on a free 127.0.0.1 port, no cluster listener; always stopped."""
    binary = tool("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    storage = workdir / "am-data"
    storage.mkdir()
    log = workdir / "alertmanager.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.path={storage}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=out, stderr=subprocess.STDOUT)
    am = Alertmanager(f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 15
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(f"{am.url}/-/ready", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "Alertmanager not ready: " + log.read_text()
            time.sleep(0.05)
        yield am
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --- a webhook that records what Alertmanager posts ----------------------------------------

@dataclass
class Webhook:
    url: str
    posts: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def alerts(self) -> list[tuple[str | None, dict[str, str]]]:
        """(Authorization header, labels) of every alert posted so far."""
        with self.lock:
            return [(headers.get("Authorization"), a["labels"])
                    for headers, body in self.posts for a in body["alerts"]]


@contextlib.contextmanager
def webhook() -> Iterator[Webhook]:
    hook = Webhook("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with hook.lock:
                hook.posts.append((dict(self.headers), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_port}/webhook/alerts"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))
