"""Run the consolidator: open its storage, bind the socket, serve until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import socket
import threading
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from memwatch.consolidator.app import create_app
from memwatch.consolidator.knowledge import KnowledgeBase
from memwatch.consolidator.reload import BearerToken, ConsolidatorReloader, read_token
from memwatch.consolidator.responses import Responder
from memwatch.consolidator.scheduler import DailyScheduler, SnapshotScheduler
from memwatch.consolidator.self_metrics import ConsolidatorMetrics
from memwatch.consolidator.storage.base import Repository
from memwatch.consolidator.storage.registry import open_repository
from memwatch.spec import Spec
from memwatch.spec.types import parse_listen

log = logging.getLogger("memwatch.consolidator")


def bind(address: str) -> socket.socket:
    host, port = parse_listen(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets whose proto says TCP
    # (accepted ones inherit it); without it Nagle's algorithm against the client's delayed
    # ACK holds every answer on a keep-alive connection ~40 ms. (uvloop, which serves, sets
    # it on every TCP connection; this keeps a plain asyncio loop right too.)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def server_config(app: Any, **options: Any) -> uvicorn.Config:
    """The uvicorn configuration the consolidator is served with (tests use it too).

    httptools (the C HTTP/1.1 parser of Node's llhttp) and uvloop (libuv's event loop) are
    dependencies: under 100 keep-alive clients they halve the server's CPU per request
    against h11's pure-Python parser and asyncio's loop (docs/benchmarks.md). Where one is
    not installed (uvloop has no Windows build) uvicorn's own h11 or asyncio serves. Access
    logging stays off: every line would cost as much as parsing the request."""
    http = "httptools" if find_spec("httptools") else "h11"
    loop = "uvloop" if find_spec("uvloop") else "asyncio"
    return uvicorn.Config(app, http=http, loop=loop, log_config=None, access_log=False,
                          **options)


class _NoColor(logging.Filter):
    """uvicorn adds an ANSI-coloured copy of its messages; structured logs do not want it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def _on_signals(server: uvicorn.Server, reloader: ConsolidatorReloader | None) -> None:
    """SIGTERM and SIGINT stop the server; SIGHUP reloads the spec section (off the
    handler: the reload reads files while requests go on)."""
    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        server.should_exit = True

    def hangup(signum: int, frame: FrameType | None) -> None:
        if reloader is not None:
            threading.Thread(target=reloader.reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, hangup)


@dataclass(frozen=True)
class Services:
    """What runs beside the HTTP server: started once it serves, stopped before the
    storage is closed."""

    daily: DailyScheduler
    snapshots: SnapshotScheduler | None
    responder: Responder | None

    def start(self) -> None:
        self.daily.start()
        if self.snapshots:
            self.snapshots.start()
        if self.responder:
            self.responder.start()

    def stop(self) -> None:
        self.daily.stop()
        if self.snapshots:
            self.snapshots.stop()
        if self.responder:
            self.responder.stop()


def services_for(spec: Spec, base: Path, repo: Repository, metrics: ConsolidatorMetrics,
                 kb: KnowledgeBase) -> Services:
    """The schedulers and the responder the spec's consolidator section asks for."""
    section = spec.consolidator
    stores = [s.name for s in spec.stores]
    reports = None
    if section.reports_dir is not None:
        folder = Path(section.reports_dir).expanduser()
        reports = (kb, folder if folder.is_absolute() else base / folder)
    return Services(
        daily=DailyScheduler(repo, stores, section.consolidation_hour_utc, metrics,
                             reports=reports, retention_days=section.retention_days),
        snapshots=SnapshotScheduler(repo, section.prometheus_url, stores,
                                    section.snapshot_interval, metrics)
        if section.prometheus_url else None,
        responder=Responder(section.responses, repo, metrics)
        if section.responses_enabled and section.responses else None)


def run_until_stopped(server: uvicorn.Server, sock: socket.socket, services: Services
                      ) -> None:
    """Serve on `sock` in a worker thread, with `services` running, until a signal stops the
    server; raises OSError if the server stopped on its own."""
    host, port = sock.getsockname()[:2]
    log.info("listening", extra={"address": f"http://{host}:{port}/webhook/alerts"})
    worker = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn")
    worker.start()
    services.start()
    try:
        while worker.is_alive():
            worker.join(0.5)  # wakes the main thread so Python runs the signal handlers
    finally:
        services.stop()
    if not server.should_exit:
        raise OSError("the HTTP server stopped on its own (see the log above)")


def serve(spec: Spec, address: str, base: Path, spec_path: Path | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then finish in-flight requests and close the storage.

    uvicorn runs in a worker thread so that the signal handlers are ours: uvicorn's own
    re-raise the signal after shutdown, which would end the process before the storage is
    closed and with a signal status instead of 0."""
    section = spec.consolidator
    token = BearerToken(read_token(section))
    sock = bind(address)
    repo = open_repository(section.storage, base)
    logging.getLogger("uvicorn.error").addFilter(_NoColor())
    try:
        metrics, kb = ConsolidatorMetrics(), KnowledgeBase.from_spec(spec)
        services = services_for(spec, base, repo, metrics, kb)
        app = create_app(repo, max_body_bytes=section.max_body_bytes, bearer_token=token,
                         knowledge=kb, metrics=metrics, responder=services.responder)
        server = uvicorn.Server(server_config(app, timeout_graceful_shutdown=10,
                                             backlog=2048))
        _on_signals(server, None if spec_path is None else ConsolidatorReloader(
            spec_path, spec, token, services.daily, services.snapshots, metrics))
        run_until_stopped(server, sock, services)
    finally:
        repo.close()
        sock.close()
        log.info("stopped")
