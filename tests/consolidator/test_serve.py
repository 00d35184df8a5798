"""The served socket and /health: keep-alive answers are not held back by Nagle's
algorithm, and /health answers from the storage watch, also when the storage is gone."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn

from memwatch.consolidator.app import create_app
from memwatch.consolidator.serve import bind, server_config
from memwatch.consolidator.storage.sqlite import SqliteRepository
from tests.consolidator.support import consolidator, request


def test_listening_socket_is_tcp_so_asyncio_sets_nodelay() -> None:
    sock = bind("127.0.0.1:0")
    try:
        assert (sock.family, sock.type, sock.proto) == (
            socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    finally:
        sock.close()


def test_accepted_keep_alive_connection_has_tcp_nodelay(tmp_path: Path) -> None:
    repo = SqliteRepository(tmp_path / "c.sqlite")
    sock = bind("127.0.0.1:0")
    server = uvicorn.Server(server_config(create_app(repo)))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        conn = http.client.HTTPConnection("127.0.0.1", sock.getsockname()[1], timeout=10)
        for _ in range(2):  # the same connection, kept alive
            conn.request("GET", "/health")
            assert conn.getresponse().read()
        [accepted] = [c.transport.get_extra_info("socket")  # type: ignore[attr-defined]
                      for c in server.server_state.connections]
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        conn.close()
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
        repo.close()


def test_health_reports_a_storage_gone(tmp_path: Path) -> None:
    with consolidator(tmp_path / "c.sqlite") as c:
        status, _, raw = request(c.url, "GET", "/health")
        assert (status, json.loads(raw)["storage"]) == (200, True)
        c.repo._db.close()  # every query fails from now on, like a storage gone
        deadline = time.monotonic() + 10  # the watch pings every 0.5 s
        while (status := request(c.url, "GET", "/health")[0]) == 200:
            assert time.monotonic() < deadline, "/health still says the storage is up"
            time.sleep(0.1)
        status, _, raw = request(c.url, "GET", "/health")
        assert (status, json.loads(raw)) == (503, {"status": "degraded", "version": json.loads(
            raw)["version"], "storage": False})


def test_served_with_httptools_and_uvloop() -> None:
    """The C HTTP parser and event loop the consolidator depends on (docs/benchmarks.md):
    a missing one fails here rather than the server falling back to h11 or asyncio."""
    async def app(scope: Any, receive: Any, send: Any) -> None: ...

    config = server_config(app)
    assert (config.http, config.loop, config.access_log) == ("httptools", "uvloop", False)
    config.load()
    assert config.http_protocol_class.__module__ == "uvicorn.protocols.http.httptools_impl"
    factory = config.get_loop_factory()
    assert factory is not None and factory.__module__.startswith("uvloop")
