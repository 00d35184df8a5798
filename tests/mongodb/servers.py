"""The MongoDB servers the tests talk to: the bundled wire emulator (CongoDB, in memory) and
SecantusDB (a MongoDB-wire server over WiredTiger, with users and `maxTimeMS`), each started
per session on a free 127.0.0.1 port, or a real MongoDB given by MEMWATCH_TEST_MONGODB_URI;
and a TCP proxy that can cut or freeze the connection to any of them, for the outage tests."""

from __future__ import annotations

import contextlib
import os
import secrets
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
SECANTUS_DIR = ROOT / "tools" / "secantus"
SECANTUS_VENV = SECANTUS_DIR / ".venv"
SECANTUSD = SECANTUS_VENV / "bin" / "secantusd-py"
SECANTUS_READY = "secantus listening on "
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


class SecantusError(RuntimeError):
    pass


class Secantus:
    """`secantusd-py` (PyPI secantusdb, GPL-2.0, installed by scripts/bootstrap.sh into
    tools/secantus/.venv, never into memwatch's venv) on 127.0.0.1: a MongoDB-wire server over
    WiredTiger with SCRAM-SHA-256 users and roles, `maxTimeMS`, unique and TTL indexes.

    Its data lives in a temporary directory of its own, so a restart (on the same port) keeps
    it. With `auth` (the default) the first start provisions ADMIN_USER (role `root`) on a
    server without `--auth` (SecantusDB has no localhost exception: users are created before
    access control is on), stops it and starts it again with `--auth`; `uri` carries that
    user's credentials. The server reads no secantusd.toml from the working directory or home
    (`--config` names an empty one), and gets SIGTERM if this process dies (`setpriv
    --pdeathsig`, util-linux), so a killed test run leaves no server behind."""

    ADMIN_USER = "memwatch-admin"

    def __init__(self, port: int = 0, auth: bool = True) -> None:
        self.port = port
        self.auth = auth
        self.password = secrets.token_hex(16)  # hex: nothing to escape in a URI
        self.proc: subprocess.Popen[bytes] | None = None
        self.dir = Path(tempfile.mkdtemp(prefix="secantus-"))
        self.storage = self.dir / "data"
        self.config = self.dir / "secantusd.toml"
        self.config.write_text("# empty: flags only, no secantusd.toml discovered\n")
        self.log_path = self.dir / "secantusd.log"
        self._provisioned = not auth
        self._listening = 0  # the port of the running process (provisioning has its own)

    @staticmethod
    def check_installed() -> str | None:
        """None if SecantusDB can start, else what is missing and how to install it."""
        if not os.access(SECANTUSD, os.X_OK):
            return (f"SecantusDB is not installed ({SECANTUSD} is missing): run "
                    "scripts/bootstrap.sh, which installs secantusdb from "
                    f"{SECANTUS_DIR.relative_to(ROOT)}/requirements.txt into "
                    f"{SECANTUS_VENV.relative_to(ROOT)}")
        return None

    @property
    def uri(self) -> str:
        creds = f"{self.ADMIN_USER}:{self.password}@" if self.auth else ""
        query = "directConnection=true" + ("&authSource=admin" if self.auth else "")
        return f"mongodb://{creds}127.0.0.1:{self.port}/?{query}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, wait: float = 30.0) -> None:
        missing = self.check_installed()
        if missing:
            raise SecantusError(missing)
        if not self._provisioned:
            self._provision(wait)
        self.port = self._spawn(self.port, self.auth, wait)

    def _provision(self, wait: float) -> None:
        from pymongo import MongoClient  # the tests' pymongo, not SecantusDB's
        from pymongo.errors import PyMongoError

        port = self._spawn(0, False, wait)  # any free port: this one is thrown away
        try:
            client: MongoClient[dict[str, object]] = MongoClient(
                f"mongodb://127.0.0.1:{port}/?directConnection=true",
                serverSelectionTimeoutMS=10_000)
            try:
                client["admin"].command("createUser", self.ADMIN_USER, pwd=self.password,
                                        roles=["root"])
            finally:
                client.close()
        except PyMongoError as exc:
            self.stop()
            raise SecantusError(f"cannot create {self.ADMIN_USER}: {exc}\n{self.log()}"
                                ) from exc
        self.stop()
        self._provisioned = True

    def _spawn(self, port: int, auth: bool, wait: float) -> int:
        """Starts the server, waits (at most `wait` s) for its readiness line in the log,
        returns the port it listens on."""
        args = [str(SECANTUSD), "--host", "127.0.0.1", "--port", str(port),
                "--storage-path", str(self.storage), "--config", str(self.config),
                "--log-level", "INFO", "--cache-size", "256M"]  # WiredTiger's, 1G by default
        if auth:
            args.append("--auth")
        if setpriv := shutil.which("setpriv"):
            args = [setpriv, "--pdeathsig", "TERM", "--", *args]
        with open(self.log_path, "ab") as log:
            offset = log.tell()
            self.proc = subprocess.Popen(args, cwd=self.dir, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read().decode(errors="replace")
            for line in text.splitlines():
                _, sep, address = line.partition(SECANTUS_READY)
                if sep and address.strip().rsplit(":", 1)[-1].isdigit():
                    self._listening = int(address.strip().rsplit(":", 1)[1])
                    return self._listening
            time.sleep(0.05)
        self.stop()
        raise SecantusError(f"SecantusDB did not start within {wait:.0f} s: {self.log()}")

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited after `timeout`.

        On SIGTERM SecantusDB closes its listening socket and waits up to 2 s for its accept
        thread, which a closed socket does not wake (a thread blocked in accept() keeps the
        socket listening), then closes its connections and WiredTiger. So while it has not
        exited, a connection every 0.1 s wakes that thread: it stops in 0.3 s, not 2.3 s."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                proc.wait(timeout=0.1)
                return
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError), socket.create_connection(
                        ("127.0.0.1", self._listening), timeout=0.1):
                    pass
        proc.kill()
        proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop and start again on the same port, with the same data and users."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def stop_process(pid: int, wait: float = 5.0) -> None:
    """SIGSTOP, returning once every thread of the process has stopped: a process stops
    thread by thread, and on a busy machine one not yet stopped can still answer a request
    sent right after the signal (seen on SecantusDB, whose connections have a thread each)."""
    os.kill(pid, signal.SIGSTOP)
    tasks = Path(f"/proc/{pid}/task")
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        states = []
        for stat in tasks.glob("*/stat"):
            with contextlib.suppress(OSError):  # a thread that has just exited
                states.append(stat.read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.01)
    raise RuntimeError(f"process {pid} did not stop within {wait:.0f} s after SIGSTOP")


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
