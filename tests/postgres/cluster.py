"""A throwaway PostgreSQL 16 + pgvector cluster for tests and benchmarks.

The binaries come from PyPI's `pgserver` 0.1.4 (`pgserver/pginstall/bin`: initdb, pg_ctl,
postgres, with the pgvector extension). We do not import `pgserver` (it prints a warning);
we only locate its files. initdb refuses to run as root, so when we are root every server
command runs as the unprivileged `postgres` user (`runuser -u postgres --`), on a data
directory it owns; if that user cannot read the binaries where they are installed (a venv
under /root), the install tree is copied to a temp dir it can read.

The server listens on 127.0.0.1 only, on a free port that stays the same across
stop()/start() (the outage tests need the DSN to keep working), plus a Unix socket in the
cluster's temp dir. Local (socket) connections are trusted, TCP ones need a scram-sha-256
password, so a DSN password is really checked.

    with PgCluster() as pg:
        pg.create_app_database()  # db mem0 with pgvector, login role memwatch (password)
        pg.execute("CREATE TABLE t (x int)")  # as the superuser, over the Unix socket
        dsn = pg.dsn()            # the password-protected application role over TCP
        with pg.down():           # stopped, then started again on the same port
            ...
        with pg.frozen():         # SIGSTOPped: accepts TCP, never answers
            ...

Usable from a pytest fixture or a benchmark script alike (no pytest imports here).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
APP_USER = "memwatch"
APP_PASSWORD = "S3cr3t-pw-xyz"
DBNAME = "mem0"


def pginstall_dir() -> Path:
    """Where pgserver's PostgreSQL lives, without importing pgserver."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("PyPI package pgserver (0.1.4) is not installed")
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    if not (root / "bin" / "initdb").exists():
        raise RuntimeError(f"no initdb under {root}")
    return root


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """initdb + pg_ctl in a temp dir; start(), stop(), freeze()/thaw(), close()."""

    def __init__(self, port: int | None = None, extra_settings: Sequence[str] = ()) -> None:
        self.as_root = os.geteuid() == 0
        self.tmp = Path(tempfile.mkdtemp(prefix="memwatch-pg-"))
        self.tmp.chmod(0o755)
        self.data = self.tmp / "data"
        self.sockdir = self.tmp / "sock"
        self.logfile = self.tmp / "server.log"
        self.port = port or free_port()
        self.extra_settings = list(extra_settings)
        self.running = False
        self._closed = False
        self._frozen: list[int] = []
        try:
            self.install = self._usable_install(pginstall_dir())
            self.bin = self.install / "bin"
            self._initdb()
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        atexit.register(self.close)  # a safety net should a fixture finaliser not run

    # -- set-up ---------------------------------------------------------------------
    def _as_server_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--", *argv] if self.as_root else argv

    def _run(self, argv: list[str], timeout: float = 60) -> str:
        proc = subprocess.run(self._as_server_user(argv), cwd=self.tmp, capture_output=True,
                              text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}):\n"
                               f"{proc.stdout}\n{proc.stderr}\n{self.server_log()}")
        return proc.stdout

    def _usable_install(self, install: Path) -> Path:
        """The install tree, or a copy of it the server user can read and execute."""
        if not self.as_root:
            return install
        probe = subprocess.run(  # runs (shared libraries found) and reads pgvector
            ["runuser", "-u", SUPERUSER, "--", "sh", "-c",
             '"$1/bin/initdb" --version && "$1/bin/postgres" --version && '
             'test -r "$1/share/postgresql/extension/vector.control" && '
             'test -r "$1/lib/postgresql/vector.so"', "sh", str(install)],
            cwd="/", capture_output=True, check=False)
        if probe.returncode == 0:
            return install
        # the binaries find their vendored libpq through RPATH $ORIGIN/../../../pgserver.libs:
        # keep that layout (site-packages/pgserver/pginstall next to pgserver.libs)
        site = self.tmp / "site"
        copy = site / "pgserver" / "pginstall"
        shutil.copytree(install, copy, symlinks=True)
        libs = install.parent.parent / "pgserver.libs"
        if libs.is_dir():
            shutil.copytree(libs, site / "pgserver.libs", symlinks=True)
        for path in [site, *site.rglob("*")]:
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(mode | (0o555 if path.is_dir() or mode & 0o100 else 0o444))
        return copy

    def _initdb(self) -> None:
        for d in (self.data, self.sockdir):
            d.mkdir(mode=0o700)
        pwfile = self.tmp / "superuser.pw"
        pwfile.write_text("superuser-only-for-setup\n")
        if self.as_root:
            for p in (self.tmp, self.data, self.sockdir, pwfile):
                shutil.chown(p, SUPERUSER, SUPERUSER)
        # C collation: ORDER BY text matches Python's sort; fsync off: a throwaway cluster
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                   "-E", "UTF8", "--no-locale", "--auth-local=trust",
                   "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"])
        pwfile.unlink()

    # -- life cycle -----------------------------------------------------------------
    def start(self) -> None:
        settings = [
            "listen_addresses=127.0.0.1", f"port={self.port}",
            f"unix_socket_directories={self.sockdir}",
            "fsync=off", "synchronous_commit=off", "full_page_writes=off",
            # no background ANALYZE: estimate-mode tests control reltuples themselves
            "autovacuum=off", "max_connections=50", "shared_buffers=64MB",
            *self.extra_settings,
        ]
        opts = " ".join(f"-c {s}" for s in settings)
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile),
                   "-w", "-t", "60", "-o", opts, "start"], timeout=90)
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        if not self.running:
            return
        self.thaw()
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                   "-t", "60", "stop"], timeout=90)
        self.running = False

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer...)."""
        pidfile = self.data / "postmaster.pid"
        if not pidfile.exists():
            return []
        master = int(pidfile.read_text().split("\n", 1)[0])
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(master)], capture_output=True,
                             text=True, check=False).stdout
        return [master, *(int(p) for p in out.split())]

    def freeze(self) -> None:
        """SIGSTOP the whole server: a host that hangs (accepts TCP, never answers)."""
        self._frozen = self.pids()
        for pid in self._frozen:
            os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self._frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self._frozen = []

    @contextlib.contextmanager
    def down(self, mode: str = "fast") -> Iterator[None]:
        """The server stopped for the block, started again (same port) afterwards."""
        self.stop(mode)
        try:
            yield
        finally:
            self.start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """Every server process stopped (SIGSTOP) for the block, continued afterwards."""
        self.freeze()
        try:
            yield
        finally:
            self.thaw()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.stop()
        except Exception:
            with contextlib.suppress(Exception):
                self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def server_log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- connections ----------------------------------------------------------------
    def dsn(self, user: str = APP_USER, password: str | None = APP_PASSWORD,
            dbname: str = DBNAME, port: int | None = None) -> str:
        """A TCP URL (scram-sha-256 checked), the form a user puts in a spec."""
        auth = f"{user}:{password}" if password is not None else user
        return f"postgresql://{auth}@127.0.0.1:{port or self.port}/{dbname}"

    def connect(self, dbname: str = DBNAME, autocommit: bool = True,
                **kwargs: Any) -> psycopg.Connection[Any]:
        """A superuser connection over the Unix socket (trusted), for set-up."""
        return psycopg.connect(host=str(self.sockdir), port=self.port, user=SUPERUSER,
                               dbname=dbname, autocommit=autocommit, **kwargs)

    @contextlib.contextmanager
    def session(self, dbname: str = DBNAME) -> Iterator[psycopg.Connection[Any]]:
        conn = self.connect(dbname)
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, sql: str, params: Sequence[Any] | None = None,
                dbname: str = DBNAME) -> list[tuple[Any, ...]]:
        with self.session(dbname) as conn, conn.cursor() as cur:
            cur.execute(sql, params)  # type: ignore[arg-type]
            return cur.fetchall() if cur.description else []

    def create_app_database(self, dbname: str = DBNAME, user: str = APP_USER,
                            password: str = APP_PASSWORD) -> None:
        """A database with pgvector and a login role that has a password.

        The role may read *and write* every table the superuser creates: the exporter's
        read-only session, not a missing privilege, is what must keep it from writing.
        """
        with self.session("postgres") as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(user), sql.Literal(password)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        with self.session(dbname) as conn:
            conn.execute("CREATE EXTENSION vector")
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(
                sql.Identifier(user)))
            conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, "
                                 "INSERT, UPDATE, DELETE ON TABLES TO {}").format(
                sql.Identifier(user)))

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1", dbname="postgres")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
