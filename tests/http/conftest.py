"""Fixtures for the exporter's HTTP side: a real openclaw-mem SQLite store with a capture
spool, a self-signed certificate, bcrypt hashes, and the `memwatch` command."""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bcrypt
import pytest

from memwatch.demo import openclaw_store as oc
from tests.http.support import Store

T0 = datetime(2026, 11, 20, 7, 3, 41, tzinfo=UTC)
MODEL = ("text-embedding-3-small", 1536)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """Namespaces (tool_name), embeddings, an archived row, episodes, a spool backlog
    and a leftover `.processing` file."""
    db = tmp_path / "openclaw-mem.sqlite"
    conn = oc.create(db)
    tools = {"web_search": 4, "read_file": 2, "memory_store": 1}
    i = 0
    for tool, n in tools.items():
        for _ in range(n):
            ts = T0 + timedelta(minutes=i)
            text = oc.py_time(ts) if tool == "memory_store" else oc.js_time(ts)
            oc.insert_observation(conn, text, tool, f"obs {i}", embedding=MODEL)
            i += 1
    oc.insert_observation(conn, oc.js_time(T0), "exec", "archived", archived=True)
    oc.insert_episode(conn, "ev1", 1_700_000_000_000, "session")
    spool = tmp_path / "openclaw-mem-observations.jsonl"
    spool.write_text("".join(oc.spool_line(T0, "web_search", f"s{n}", n) + "\n"
                             for n in range(3)))
    processing = tmp_path / "openclaw-mem-observations.jsonl.20261120_070341.processing"
    processing.write_text(oc.spool_line(T0, "exec", "p", 9) + "\n")
    st = Store(db, spool, conn, active=sum(tools.values()), tools=dict(tools),
               spool_lines=3, processing_lines=1)
    try:
        yield st
    finally:
        conn.close()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (openssl: the `cryptography`
    package is not a dependency of the project)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=memwatch-test", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=30)
    return cert, key


@pytest.fixture(scope="session")
def prom_hash() -> str:
    """bcrypt hash of the password `s3cret-scrape` (cost 4: fast, still bcrypt)."""
    return bcrypt.hashpw(b"s3cret-scrape", bcrypt.gensalt(4)).decode()


@pytest.fixture
def memwatch_bin() -> Path:
    """The installed console script, next to the interpreter running the tests."""
    path = Path(sys.executable).parent / "memwatch"
    if not path.exists():
        pytest.skip(f"no memwatch console script at {path}: install the project first")
    return path


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`memwatch export` run in-process replaces the root logger's handlers: undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
