"""A consolidator served for real (uvicorn on a free 127.0.0.1 port) and an HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from memwatch.consolidator.app import create_app
from memwatch.consolidator.serve import bind, server_config
from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.storage.sqlite import SqliteRepository


@dataclass
class Address:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


@dataclass
class Served(Address):
    repo: SqliteRepository
    responder: Any = None


@contextlib.contextmanager
def consolidator(db: Path, responder_for: Callable[[SqliteRepository], Any] | None = None,
                 **options: Any) -> Iterator[Served]:
    repo = SqliteRepository(db)
    if responder_for is not None:
        options["responder"] = responder_for(repo)
    try:
        with served(repo, **options) as s:
            yield Served(s.host, s.port, repo, options.get("responder"))
    finally:
        repo.close()


@contextlib.contextmanager
def served(repo: Repository, **options: Any) -> Iterator[Address]:
    """`create_app(repo)` served on a free port (any backend; the caller closes `repo`)."""
    sock = bind("127.0.0.1:0")
    server = uvicorn.Server(server_config(create_app(repo, **options)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "consolidator did not start"
        time.sleep(0.01)
    try:
        yield Address("127.0.0.1", sock.getsockname()[1])
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def request(base: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None, *, chunked: bool = False,
            timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        if chunked:
            conn.request(method, path, body=iter([body or b""]), headers=headers or {},
                         encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def post_json(base: str, data: Any, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    status, _, raw = request(base, "POST", "/webhook/alerts", json.dumps(data).encode(),
                             headers)
    return status, json.loads(raw)


def metric(base: str, name: str, **labels: str) -> float:
    status, _, raw = request(base, "GET", "/metrics")
    assert status == 200
    want = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
                   if labels else "")
    for line in raw.decode().splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{want} not on /metrics")


MEMWATCH = Path(sys.executable).parent / "memwatch"
SPEC = """\
stores:
  - {name: main, preset: files, files: [{name: dumps, glob: /nonexistent/*.dump}]}
consolidator:
  storage: {path: %s}
"""


@dataclass
class Process:
    proc: subprocess.Popen[bytes]
    url: str
    log: Path


def start_consolidate(workdir: Path, port: int, db: Path) -> Process:
    """`memwatch consolidate` as a subprocess; returns once /health answers."""
    spec = workdir / "spec.yaml"
    spec.write_text(SPEC % json.dumps(str(db)), encoding="utf-8")
    log = workdir / f"consolidate-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(MEMWATCH), "consolidate", "--spec", str(spec),
                                 "--listen", f"127.0.0.1:{port}"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, log)
    return Process(proc, url, log)


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if request(url, "GET", "/health", timeout=1)[0] == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "consolidate did not start: " + log.read_text()
        time.sleep(0.05)
