"""`memwatch consolidate`: serves from the spec, stops cleanly on SIGTERM, keeps its data."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
from pathlib import Path

from tests.consolidator.payloads import alert, payload
from tests.consolidator.support import MEMWATCH, post_json, start_consolidate
from tests.generators.am_support import free_port


def test_consolidate_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    p = start_consolidate(tmp_path, free_port(), db)
    try:
        assert post_json(p.url, payload(alert("x1"), alert("x2")))[1]["stored"] == 2
    finally:
        p.proc.send_signal(signal.SIGTERM)
        rc = p.proc.wait(timeout=20)
    log = p.log.read_text()
    assert rc == 0, log
    assert "msg=listening" in log and "msg=stopped" in log
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT fingerprint FROM alerts ORDER BY 1").fetchall() == [
            ("x1",), ("x2",)]


def test_port_in_use_exits_1(tmp_path: Path) -> None:
    port = free_port()
    first = start_consolidate(tmp_path, port, tmp_path / "a.sqlite")
    try:
        proc = subprocess.run([str(MEMWATCH), "consolidate", "--spec", str(tmp_path / "spec.yaml"),
                               "--listen", f"127.0.0.1:{port}"], capture_output=True, text=True,
                              timeout=30, cwd=tmp_path)
        assert proc.returncode == 1
        assert f"cannot start on 127.0.0.1:{port}" in proc.stderr
    finally:
        first.proc.terminate()
        first.proc.wait(timeout=20)
