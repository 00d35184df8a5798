"""The MongoDB servers the tests talk to: the bundled wire emulator (CongoDB, started per
session on a free 127.0.0.1 port) or a real MongoDB given by MEMWATCH_TEST_MONGODB_URI; and
a TCP proxy that can cut or freeze the connection to either, for the outage tests."""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EMULATOR_DIR = ROOT / "tools" / "mongo-emulator"
SERVE = EMULATOR_DIR / "serve.mjs"
REAL_URI_ENV = "MEMWATCH_TEST_MONGODB_URI"


class EmulatorError(RuntimeError):
    pass


class Emulator:
    """`node tools/mongo-emulator/serve.mjs` on 127.0.0.1; in memory only, so a restart
    comes back empty. It exits by itself if this process dies (its stdin closes)."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.proc: subprocess.Popen[str] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept open while running
            "w+", prefix="mongo-emulator-", suffix=".log", delete=False)

    @staticmethod
    def check_installed() -> str | None:
        """None if the emulator can start, else what is missing."""
        if shutil.which("node") is None:
            return "node is not installed (scripts/bootstrap.sh installs Debian's nodejs)"
        if not (EMULATOR_DIR / "node_modules" / "@push.rocks" / "smartmongo").is_dir():
            return (f"the emulator is not installed in {EMULATOR_DIR}/node_modules "
                    "(run scripts/bootstrap.sh)")
        return None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, wait: float = 30.0) -> None:
        missing = self.check_installed()
        if missing:
            raise EmulatorError(missing)
        self.proc = subprocess.Popen(
            ["node", str(SERVE), "--host", "127.0.0.1", "--port", str(self.port),
             "--exit-on-stdin-eof"],
            cwd=EMULATOR_DIR, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True)
        assert self.proc.stdout is not None
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        deadline = time.monotonic() + wait
        line = ""
        while time.monotonic() < deadline and self.proc.poll() is None:
            if sel.select(timeout=0.1):
                line = self.proc.stdout.readline()
                break
        sel.close()
        if not line.startswith("ready mongodb://"):
            self.stop()
            self._log.seek(0)
            raise EmulatorError(f"the emulator did not start: {line!r} {self._log.read()}")
        self.port = int(line.strip().rsplit(":", 1)[1])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def restart(self) -> None:
        """Start again on the same port (the data is gone: the emulator is in memory)."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._log.close()
        with contextlib.suppress(OSError):
            os.unlink(self._log.name)


def real_uri() -> str | None:
    return os.environ.get(REAL_URI_ENV) or None


def proxied_uri(uri: str, port: int) -> str:
    """The same URI (credentials and options kept) through 127.0.0.1:port, connecting to
    that one host directly. Only plain single-host mongodb:// URIs can be proxied."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "mongodb" or "," in parts.netloc:
        raise ValueError("the outage tests proxy a plain single-host mongodb:// URI")
    creds = parts.netloc.rpartition("@")[0]
    netloc = f"{creds}@127.0.0.1:{port}" if creds else f"127.0.0.1:{port}"
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query)
             if k.lower() not in ("directconnection", "replicaset")]
    query.append(("directConnection", "true"))
    return urllib.parse.urlunsplit(("mongodb", netloc, parts.path or "/",
                                    urllib.parse.urlencode(query), ""))


def upstream_of(uri: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(uri)
    host = parts.hostname or "127.0.0.1"
    return host, parts.port or 27017


class TcpProxy:
    """Forwards 127.0.0.1:port to a MongoDB server. `stop()` closes the port and every
    connection (an outage), `start()` opens the same port again; `freeze()` keeps the
    connections open but forwards nothing (a hung server) until `thaw()`."""

    def __init__(self, upstream: tuple[str, int], port: int = 0) -> None:
        self.upstream = upstream
        self.port = port
        self._listener: socket.socket | None = None
        self._socks: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> None:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", self.port))
        lst.listen(64)
        self.port = lst.getsockname()[1]
        self._listener = lst
        threading.Thread(target=self._accept, args=(lst,), daemon=True).start()

    def _accept(self, lst: socket.socket) -> None:
        while True:
            try:
                client, _ = lst.accept()
            except OSError:
                return  # closed by stop()
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks |= {client, server}
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._drop(s)

    def _drop(self, s: socket.socket) -> None:
        with self._lock:
            self._socks.discard(s)
        with contextlib.suppress(OSError):
            s.shutdown(socket.SHUT_RDWR)
        s.close()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def stop(self) -> None:
        lst, self._listener = self._listener, None
        if lst is not None:
            with contextlib.suppress(OSError):
                lst.shutdown(socket.SHUT_RDWR)
            lst.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            self._drop(s)
        self._flowing.set()
